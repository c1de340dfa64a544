//! The `managed` and `queue` blocks: what work this node runs.

use serde::{Deserialize, Serialize};

use super::{BlockStatus, Issue, worst};
use crate::queue::ItemStatus;
use crate::queue::wire::{QueueView, Run};

/// An agent process the node manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ManagedAgent {
    /// The agent id.
    pub id: String,
    /// The track (grouping) it was started under.
    pub track: String,
    /// Its process id.
    pub pid: u32,
    /// Whether the process is still alive.
    pub running: bool,
    /// Start time, Unix seconds.
    pub started_at: i64,
    /// The command line.
    #[serde(default)]
    pub command: Vec<String>,
}

/// A terminal session an agent runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ManagedSession {
    /// The agent that owns it.
    pub agent_id: String,
    /// The tmux session name.
    pub session: String,
    /// The tmux target, `session:window.pane`.
    pub target: String,
}

/// Managed agents and sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Managed {
    /// `stale` when an exited agent is still registered, `partial` on load errors.
    pub status: BlockStatus,
    /// The registered agents.
    #[serde(default)]
    pub agents: Vec<ManagedAgent>,
    /// Their terminal sessions.
    #[serde(default)]
    pub sessions: Vec<ManagedSession>,
    /// Why the block is not fresh.
    #[serde(default)]
    pub issues: Vec<Issue>,
}

impl Managed {
    /// Builds the block; `load_issues` are errors met while loading it.
    pub fn new(agents: Vec<ManagedAgent>, sessions: Vec<ManagedSession>, mut issues: Vec<Issue>) -> Self {
        let exited = agents.iter().filter(|a| !a.running).count();
        if exited > 0 {
            issues.push(Issue::new(
                "managed",
                BlockStatus::Stale,
                format!("{exited} exited agent(s) still registered; `qcold agent prune` removes them"),
            ));
        }
        let status = worst(issues.iter().map(|i| i.status));
        Self { status, agents, sessions, issues }
    }
}

/// Item counts of the active run, by coarse state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueCounts {
    /// All items.
    pub total: u32,
    /// Not started yet.
    pub pending: u32,
    /// Admitted, starting or running.
    pub running: u32,
    /// Waiting for a retry or for admission.
    pub waiting: u32,
    /// Finished successfully.
    pub succeeded: u32,
    /// Failed or blocked.
    pub failed: u32,
}

/// The run the active tab shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueRunSummary {
    /// The run id.
    pub id: String,
    /// The run's status.
    pub status: String,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

/// A queue tab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueTabSummary {
    /// The tab id.
    pub id: String,
    /// Its label.
    pub label: String,
    /// Whether it is the active tab.
    pub active: bool,
    /// The run it holds, if any.
    #[serde(default)]
    pub run_id: Option<String>,
}

/// Queue visibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueBlock {
    /// `partial` on load errors, `stale` when an active row has not moved for too long.
    pub status: BlockStatus,
    /// Item counts of the active run.
    #[serde(default)]
    pub counts: QueueCounts,
    /// The active run.
    #[serde(default)]
    pub active_run: Option<QueueRunSummary>,
    /// Ids of the items being worked on now.
    #[serde(default)]
    pub active_items: Vec<String>,
    /// The tabs.
    #[serde(default)]
    pub tabs: Vec<QueueTabSummary>,
    /// Why the block is not fresh.
    #[serde(default)]
    pub issues: Vec<Issue>,
}

impl QueueBlock {
    /// Builds the block; its status is the worst of `issues`.
    pub fn new(
        counts: QueueCounts,
        active_run: Option<QueueRunSummary>,
        active_items: Vec<String>,
        tabs: Vec<QueueTabSummary>,
        issues: Vec<Issue>,
    ) -> Self {
        let status = worst(issues.iter().map(|i| i.status));
        Self { status, counts, active_run, active_items, tabs, issues }
    }

    /// The block for a queue: every tab, and the active run — the active tab's run, or, when
    /// that tab holds none, the newest run — with its item counts and the items in flight.
    pub fn of(view: &QueueView) -> Self {
        let tabs = view
            .tabs
            .iter()
            .map(|t| QueueTabSummary {
                id: t.id.to_string(),
                label: t.label.clone(),
                active: t.active,
                run_id: t.run_id.as_ref().map(ToString::to_string),
            })
            .collect();
        let shown = view.tabs.iter().find(|t| t.active).and_then(|t| t.run_id.as_ref()).and_then(|id| view.run(id));
        let Some(run) = shown.or_else(|| view.runs.last()) else {
            return Self::new(QueueCounts::default(), None, Vec::new(), tabs, Vec::new());
        };
        let active_items = run.items.iter().filter(|i| i.status.is_in_flight()).map(|i| i.id.to_string()).collect();
        let summary = QueueRunSummary {
            id: run.id.to_string(),
            status: run.status.as_str().to_owned(),
            updated_at: run.updated_at,
        };
        Self::new(QueueCounts::of(run), Some(summary), active_items, tabs, Vec::new())
    }
}

impl QueueCounts {
    /// A run's items by coarse state: stopped and paused items count as pending (they go on
    /// when the run is continued), blocked ones as failed.
    pub fn of(run: &Run) -> Self {
        let mut counts = Self::default();
        for item in &run.items {
            counts.total += 1;
            let bucket = match item.status {
                ItemStatus::Pending | ItemStatus::Stopped | ItemStatus::Paused => &mut counts.pending,
                ItemStatus::Admitted | ItemStatus::Starting | ItemStatus::Running => &mut counts.running,
                ItemStatus::Waiting => &mut counts.waiting,
                ItemStatus::Success => &mut counts.succeeded,
                ItemStatus::Failed | ItemStatus::Blocked => &mut counts.failed,
            };
            *bucket += 1;
        }
        counts
    }
}
