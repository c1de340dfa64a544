//! Request and response bodies of the daemon's HTTP API, and of the CLI's `--json` output.
//!
//! Routes (see `docs/http-api.md`):
//!
//! | route | body |
//! |---|---|
//! | `GET /healthz` | `ok\n` (text) |
//! | `GET /api/state` | [`StateResponse`] |
//! | `GET /api/node/snapshot` | [`crate::NodeSnapshot`] |
//! | `GET /api/events` | server-sent [`crate::Event`]s |
//! | `GET/POST /api/tasks…` | the tasks resource ([`tasks`]) |
//!
//! Every error response carries an [`ErrorBody`].

pub mod agents;
pub mod node;
pub mod repos;
pub mod tasks;

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::agent::AgentView;
use crate::queue::graph::Diagnostic;
use crate::queue::wire::QueueView;
use crate::task::TaskRecord;
use crate::{Event, NodeSnapshot, Repository, RepositoryList};

/// How many closed tasks [`StateResponse::tasks`] holds at most: the most recently updated ones.
/// Older closed tasks are reached by paging `GET /api/tasks`.
pub const STATE_CLOSED_TASKS: usize = 100;

/// Everything the dashboard needs to render its first frame, bounded however long the history:
/// the queue's tabs with the runs that are unfinished or shown by a tab ([`QueueView::keeps`]),
/// the unfinished tasks with the [`STATE_CLOSED_TASKS`] most recently updated closed ones
/// ([`bound_tasks`]), and every agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StateResponse {
    /// The daemon's build id, `<version>.<commits> <hash>[-dirty]`; a change means "reload".
    pub build_id: String,
    /// When this state was assembled, Unix seconds.
    pub generated_at: i64,
    /// Registered repositories.
    pub repositories: RepositoryList,
    /// The latest node snapshot.
    pub node: NodeSnapshot,
    /// The queue: tabs, and the unfinished or shown runs with their items.
    #[serde(default)]
    pub queue: QueueView,
    /// Every unfinished task and the most recently updated closed ones, in [`task_order`].
    #[serde(default)]
    pub tasks: Vec<TaskRecord>,
    /// Every agent with its state, oldest first ([`AgentView::order`]).
    #[serde(default)]
    pub agents: Vec<AgentView>,
    /// Whether the daemon refuses writes without its write token (`X-QCOLD-Write-Token`), so a
    /// client without one knows to stay read-only. Never the token itself.
    #[serde(default)]
    pub writes_need_token: bool,
}

impl StateResponse {
    /// Applies a pushed event, so a client holding the state stays current without refetching.
    /// Upserts keep the order a fresh state has, and a task event keeps the closed-task bound,
    /// so a state patched by every event equals the state read afresh.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::State(state) => *self = *state,
            Event::Repositories(list) => self.repositories = list,
            Event::Node(node) => {
                self.generated_at = self.generated_at.max(node.heartbeat.sampled_at);
                self.node = *node;
            }
            Event::Tabs(tabs) => self.queue.set_tabs(tabs),
            Event::Run(run) => self.queue.upsert_run(*run),
            Event::RunRemoved { run_id } => self.queue.remove_run(&run_id),
            Event::Item(item) => self.queue.upsert_item(*item),
            Event::ItemRemoved { run_id, item_id } => self.queue.remove_item(&run_id, &item_id),
            Event::Task(task) => {
                self.tasks.retain(|t| t.id != task.id);
                self.tasks.push(*task);
                bound_tasks(&mut self.tasks);
            }
            Event::TaskRemoved { task_id } => self.tasks.retain(|t| t.id != task_id),
            Event::Agent(agent) => {
                self.agents.retain(|a| a.agent.id != agent.agent.id);
                let at = self.agents.partition_point(|a| a.order(&agent) == Ordering::Less);
                self.agents.insert(at, *agent);
            }
            Event::AgentRemoved { agent_id } => self.agents.retain(|a| a.agent.id != agent_id),
        }
    }
}

/// The order of [`StateResponse::tasks`]: most recently updated first; ties by id, descending.
pub fn task_order(a: &TaskRecord, b: &TaskRecord) -> Ordering {
    (b.updated_at, &b.id).cmp(&(a.updated_at, &a.id))
}

/// Bounds tasks the way [`StateResponse::tasks`] holds them: every unfinished task, plus the
/// [`STATE_CLOSED_TASKS`] most recently updated closed ones (`closed:*`), in [`task_order`].
pub fn bound_tasks(tasks: &mut Vec<TaskRecord>) {
    tasks.sort_by(task_order);
    let mut closed = 0;
    tasks.retain(|t| {
        if !t.status.is_terminal() {
            return true;
        }
        closed += 1;
        closed <= STATE_CLOSED_TASKS
    });
}

/// The body of every error response, whichever route or check refused the request.
///
/// ```
/// use qcold_core::api::{ErrorBody, ErrorKind};
///
/// let body: ErrorBody = serde_json::from_str(
///     r#"{"error":"repo: no such repository","kind":"bad-request","field":"repo"}"#,
/// ).unwrap();
/// assert_eq!((body.kind, body.field.as_deref()), (ErrorKind::BadRequest, Some("repo")));
/// assert!(body.diagnostics.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// What went wrong, lowercase, without a trailing period.
    pub error: String,
    /// The class of the refusal; stable, so clients can branch on it.
    #[serde(default)]
    pub kind: ErrorKind,
    /// The request field (a JSON path such as `package.items[2].slug`, or a query parameter)
    /// that was wrong, when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A queue package's typed diagnostics, when a package was refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
}

impl ErrorBody {
    /// A body with only a message and its kind.
    pub fn new(kind: ErrorKind, error: impl Into<String>) -> Self {
        Self { error: error.into(), kind, field: None, diagnostics: Vec::new() }
    }
}

/// Why a request was refused; each kind has one HTTP status ([`ErrorKind::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request is malformed or names something invalid (400).
    #[default]
    BadRequest,
    /// The write token is missing or wrong (401).
    Unauthorized,
    /// The request comes from a foreign origin or site (403).
    Forbidden,
    /// No such route or resource (404).
    NotFound,
    /// The route exists but not for this method (405).
    MethodNotAllowed,
    /// The command does not fit the current state (409).
    Conflict,
    /// The body exceeds the daemon's limit (413).
    PayloadTooLarge,
    /// A mutating request whose body is not `application/json` (415).
    UnsupportedMediaType,
    /// The `Host` header names neither the daemon nor an allowed host (421).
    MisdirectedRequest,
    /// Something broke inside the daemon; the details are in its log (500).
    Internal,
    /// A dependency of the request (git, tmux) did not answer in time (504).
    Timeout,
    /// The state store was held by another writer past the busy timeout; nothing was changed,
    /// and the request may be sent again after the `Retry-After` seconds (503).
    StoreBusy,
    /// The disk holding the state dir (or a worktree) is full; nothing more can be stored until
    /// space is freed (507).
    DiskFull,
}

impl ErrorKind {
    /// The HTTP status code the daemon answers with.
    pub const fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::MisdirectedRequest => 421,
            ErrorKind::Internal => 500,
            ErrorKind::Timeout => 504,
            ErrorKind::StoreBusy => 503,
            ErrorKind::DiskFull => 507,
        }
    }
}

/// One changed path of a checkout, as `git status --porcelain` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DirtyFile {
    /// The two-letter porcelain code, e.g. ` M`, `??`, `A `.
    pub code: String,
    /// The path relative to the checkout root.
    pub path: String,
}

/// The body of `qcold status --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StatusReport {
    /// The active repository, if one is set.
    pub repository: Option<Repository>,
    /// The primary checkout's current branch; `None` on a detached HEAD.
    #[serde(default)]
    pub branch: Option<String>,
    /// Uncommitted changes of the primary checkout.
    #[serde(default)]
    pub dirty_files: Vec<DirtyFile>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A state holding `queue`, with the frozen node snapshot fixture.
    pub(crate) fn state_with(queue: QueueView) -> StateResponse {
        let node = serde_json::from_str(include_str!("../tests/fixtures/node-snapshot-v1.json")).unwrap();
        StateResponse {
            build_id: "b".into(),
            generated_at: 1,
            repositories: RepositoryList::default(),
            node,
            queue,
            tasks: Vec::new(),
            agents: Vec::new(),
            writes_need_token: false,
        }
    }
}
