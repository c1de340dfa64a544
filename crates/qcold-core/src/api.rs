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

use serde::{Deserialize, Serialize};

use crate::queue::graph::Diagnostic;
use crate::queue::wire::QueueView;
use crate::{Event, NodeSnapshot, Repository, RepositoryList};

/// Everything the dashboard needs to render its first frame.
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
    /// The queue: tabs, runs and items.
    #[serde(default)]
    pub queue: QueueView,
}

impl StateResponse {
    /// Applies a pushed event, so a client holding the state stays current without refetching.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::State(state) => *self = *state,
            Event::Repositories(list) => self.repositories = list,
            Event::Queue(queue) => self.queue = *queue,
            Event::Node(node) => {
                self.generated_at = self.generated_at.max(node.heartbeat.sampled_at);
                self.node = *node;
            }
        }
    }
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
