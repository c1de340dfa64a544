//! The queue's HTTP contract: the requests of `POST /api/queue/*`, their answer, and the view
//! `GET /api/queue` serves and `/api/events` keeps current with deltas.

use serde::{Deserialize, Serialize};

use super::graph::Diagnostic;
use super::package::Package;
use super::{ExecutionMode, ItemRecord, RunStatus, TaskClass};
use crate::{ItemId, RepoId, RunId, TabId};

/// A queue tab: a named slot that shows one run. Exactly one tab is active; `default` always exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Tab {
    /// Its id.
    pub id: TabId,
    /// Its label.
    pub label: String,
    /// The run it shows.
    #[serde(default)]
    pub run_id: Option<RunId>,
    /// Whether it is the active tab (where `queue run` puts a new run by default).
    pub active: bool,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// A run with its items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Run {
    /// Its id.
    pub id: RunId,
    /// The repository its tasks open in.
    pub repo: RepoId,
    /// Sequence or graph.
    pub mode: ExecutionMode,
    /// The agent command for items that name none; `None` takes the first ready one.
    #[serde(default)]
    pub agent: Option<String>,
    /// Its status.
    pub status: RunStatus,
    /// Why, in words (never read by any decision).
    pub reason: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
    /// Its items, in position order.
    pub items: Vec<ItemRecord>,
}

/// A run without its items: the payload of the `run` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunSummary {
    /// Its id.
    pub id: RunId,
    /// The repository its tasks open in.
    pub repo: RepoId,
    /// Sequence or graph.
    pub mode: ExecutionMode,
    /// The agent command for items that name none.
    #[serde(default)]
    pub agent: Option<String>,
    /// Its status.
    pub status: RunStatus,
    /// Why, in words (never read by any decision).
    pub reason: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

impl Run {
    /// The run without its items.
    pub fn summary(&self) -> RunSummary {
        RunSummary {
            id: self.id.clone(),
            repo: self.repo.clone(),
            mode: self.mode,
            agent: self.agent.clone(),
            status: self.status,
            reason: self.reason.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

impl ItemRecord {
    /// Whether `other` is this item with at most its lease expiry moved, which is all a lease
    /// heartbeat changes (every few seconds while work runs). Such a change is not news for the
    /// clients of `/api/events`; the next real change carries the current expiry.
    pub fn same_beyond_heartbeat(&self, other: &ItemRecord) -> bool {
        if self.lease.expires_at == other.lease.expires_at {
            return self == other;
        }
        let mut moved = other.clone();
        moved.lease.expires_at = self.lease.expires_at;
        *self == moved
    }
}

/// How many finished runs no tab shows the queue view keeps, newest first ([`QueueView`]).
pub const RECENT_FINISHED_RUNS: u32 = 10;

/// Everything `GET /api/queue` serves and `StateResponse::queue` holds: every tab, and the runs
/// that are unfinished ([`RunStatus::is_finished`] is false), shown by a tab, or among the
/// [`RECENT_FINISHED_RUNS`] most recently finished (by `updated_at`): a run whose tab a new run
/// took stays listed with its outcome. Older finished runs no tab shows are left out; they stay
/// in the store until `queue clear` removes them.
///
/// Runs are ordered by creation time, then id; a run's items by position. The mutators below
/// keep that order, so a view patched by events equals the view read afresh.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueView {
    /// The tabs, oldest first.
    pub tabs: Vec<Tab>,
    /// The runs, oldest first.
    pub runs: Vec<Run>,
}

impl QueueView {
    /// A run by id.
    pub fn run(&self, id: &RunId) -> Option<&Run> {
        self.runs.iter().find(|r| &r.id == id)
    }

    /// Whether `other` differs from this view in more than lease expiry times (see
    /// [`ItemRecord::same_beyond_heartbeat`]): exactly when [`crate::delta::queue`] has events
    /// for the change.
    pub fn differs_beyond_heartbeats(&self, other: &QueueView) -> bool {
        !crate::delta::queue(self, other).is_empty()
    }

    /// Replaces the tabs.
    pub fn set_tabs(&mut self, tabs: Vec<Tab>) {
        self.tabs = tabs;
    }

    /// Inserts a run (without items) or updates its summary, keeping its items.
    pub fn upsert_run(&mut self, summary: RunSummary) {
        let items = match self.runs.iter().position(|r| r.id == summary.id) {
            Some(at) => self.runs.remove(at).items,
            None => Vec::new(),
        };
        let run = Run {
            id: summary.id,
            repo: summary.repo,
            mode: summary.mode,
            agent: summary.agent,
            status: summary.status,
            reason: summary.reason,
            created_at: summary.created_at,
            updated_at: summary.updated_at,
            items,
        };
        let at = self.runs.partition_point(|r| (r.created_at, &r.id) < (run.created_at, &run.id));
        self.runs.insert(at, run);
    }

    /// Removes a run with its items; nothing happens for a run the view does not hold.
    pub fn remove_run(&mut self, id: &RunId) {
        self.runs.retain(|r| &r.id != id);
    }

    /// Inserts or replaces an item of a run in the view, in position order. An item of a run the
    /// view does not hold is ignored: the run's own event comes first.
    pub fn upsert_item(&mut self, item: ItemRecord) {
        let Some(run) = self.runs.iter_mut().find(|r| r.id == item.run_id) else { return };
        run.items.retain(|i| i.id != item.id);
        let at = run.items.partition_point(|i| (i.position, &i.id) < (item.position, &item.id));
        run.items.insert(at, item);
    }

    /// Removes an item; nothing happens for an item the view does not hold.
    pub fn remove_item(&mut self, run: &RunId, item: &ItemId) {
        if let Some(run) = self.runs.iter_mut().find(|r| &r.id == run) {
            run.items.retain(|i| &i.id != item);
        }
    }
}

/// `POST /api/queue/run`: a new run from a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The package.
    pub package: Package,
    /// The repository; falls back to the package's, then the active one.
    #[serde(default)]
    pub repo: Option<RepoId>,
    /// The agent command; falls back to the package's.
    #[serde(default)]
    pub agent: Option<String>,
    /// The mode, overriding the package's.
    #[serde(default)]
    pub execution_mode: Option<ExecutionMode>,
    /// The tab to show it in; the active tab by default.
    #[serde(default)]
    pub tab_id: Option<TabId>,
}

/// `POST /api/queue/append`: more items for an existing run (the active tab's by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AppendRequest {
    /// The run.
    #[serde(default)]
    pub run_id: Option<RunId>,
    /// The new items (and their dependencies, which may name existing items).
    pub package: Package,
}

/// `POST /api/queue/update`: changes to an item that has not started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// The run.
    pub run_id: RunId,
    /// The item.
    pub item_id: ItemId,
    /// A new prompt.
    #[serde(default)]
    pub prompt: Option<String>,
    /// A new class.
    #[serde(default)]
    pub task_class: Option<TaskClass>,
    /// A new agent command.
    #[serde(default)]
    pub agent: Option<String>,
}

/// `POST /api/queue/remove`: an item that has not started, or has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RemoveRequest {
    /// The run.
    pub run_id: RunId,
    /// The item.
    pub item_id: ItemId,
}

/// `POST /api/queue/stop`: a run (the active tab's by default), and whether its agents in flight
/// are stopped too.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// The run.
    #[serde(default)]
    pub run_id: Option<RunId>,
    /// Also stop the agents of its items in flight; their items end as `stopped` with their
    /// worktrees kept, and `continue` starts them again. Without it they finish their iteration.
    #[serde(default)]
    pub kill: bool,
}

/// `POST /api/queue/continue` and `/clear`: a run, the active tab's by default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunSelector {
    /// The run.
    #[serde(default)]
    pub run_id: Option<RunId>,
}

/// `POST /api/queue/tab/create`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TabCreate {
    /// Its label, at most 48 characters; "Queue N" by default.
    #[serde(default)]
    pub label: Option<String>,
}

/// `POST /api/queue/tab/switch` and `/tab/delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TabSelector {
    /// The tab.
    pub tab_id: TabId,
}

/// The answer to every `POST /api/queue/*`, success or failure: what happened, which run or tab
/// it concerned, and the package diagnostics (warnings on success, errors on a refusal).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueAnswer {
    /// Whether the change was made.
    pub ok: bool,
    /// What happened, or why not.
    pub message: String,
    /// The run concerned.
    #[serde(default)]
    pub run_id: Option<RunId>,
    /// The tab concerned.
    #[serde(default)]
    pub tab_id: Option<TabId>,
    /// Package diagnostics.
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::graph::normalize;
    use crate::queue::package::parse_json;
    use crate::queue::{ItemStatus, lease::Lease};

    #[test]
    fn heartbeats_alone_are_no_news() {
        let package = parse_json(r#"{"items": [{"id": "a", "prompt": "p"}]}"#).unwrap();
        let item = normalize(&package, 1).unwrap().items.remove(0);
        let record = ItemRecord {
            run_id: "run-1".parse().unwrap(),
            id: item.id,
            position: 1,
            slug: item.slug,
            prompt: item.prompt,
            depends_on: Vec::new(),
            wave_index: 0,
            task_class: TaskClass::Mid,
            agent: None,
            status: ItemStatus::Running,
            reason: String::new(),
            next_attempt_at: None,
            waiting_for: None,
            stalled_since: None,
            launch_failures: 0,
            delivery_retries: 0,
            iteration: 1,
            task_id: None,
            agent_id: None,
            lease: Lease { owner: Some("daemon-1-1".into()), epoch: 1, expires_at: 120 },
            updated_at: 1,
            attempts: Vec::new(),
        };
        let run = Run {
            id: "run-1".parse().unwrap(),
            repo: "web".parse().unwrap(),
            mode: ExecutionMode::Sequence,
            agent: None,
            status: RunStatus::Running,
            reason: String::new(),
            created_at: 1,
            updated_at: 1,
            items: vec![record],
        };
        let before = QueueView { tabs: Vec::new(), runs: vec![run] };
        let mut heartbeat = before.clone();
        heartbeat.runs[0].items[0].lease.expires_at = 125;
        assert!(!before.differs_beyond_heartbeats(&heartbeat));
        let mut ended = heartbeat.clone();
        ended.runs[0].items[0].status = ItemStatus::Success;
        assert!(before.differs_beyond_heartbeats(&ended));
        let mut taken_over = heartbeat;
        taken_over.runs[0].items[0].lease.owner = Some("daemon-2-2".into());
        assert!(before.differs_beyond_heartbeats(&taken_over), "a new owner is news");
    }
}
