//! The `managed` and `queue` blocks: what work this node runs.

use serde::{Deserialize, Serialize};

use super::{BlockStatus, Issue, worst};

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
}
