//! The queue's vocabulary and its pure decisions.
//!
//! An operator hands over a *package* of prompts ([`package`]); it is normalised into a run of
//! items with resolved dependencies and wave indexes ([`graph`]), checked against unfinished work
//! ([`dedupe`]), and scheduled: which items are ready ([`plan`]) and which of those the host can
//! take now ([`admission`]). Everything here is a function of its inputs, table-tested; the daemon
//! gathers the inputs and applies the results.

pub mod admission;
pub mod budget;
pub mod dedupe;
pub mod graph;
pub mod launch;
pub mod lease;
pub mod package;
pub mod plan;
pub mod reconcile;
pub mod stall;
pub mod update;
pub mod wire;

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a run orders its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionMode {
    /// One item at a time, in position order; dependencies are ignored.
    #[default]
    Sequence,
    /// Every item whose dependencies all succeeded may run.
    Graph,
}

/// How much an item is expected to load the host; admission reserves accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum TaskClass {
    /// Small edits.
    Cheap,
    /// The usual task.
    #[default]
    Mid,
    /// Builds, large test suites.
    Heavy,
}

/// Where a queue item is. `success`, `failed` and `blocked` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ItemStatus {
    /// Not started; waiting for its turn or its dependencies.
    Pending,
    /// Admitted; a worker is about to start it.
    Admitted,
    /// Its task and agent are being started.
    Starting,
    /// Its agent works on it.
    Running,
    /// Waiting for a retry or for admission; always has a reason and a `next_attempt_at`.
    Waiting,
    /// Stopped by the operator; `continue` resumes it.
    Stopped,
    /// Its task is paused.
    Paused,
    /// Its task closed successfully.
    Success,
    /// It failed, its budgets exhausted or its task failed for good.
    Failed,
    /// Its task closed as blocked.
    Blocked,
}

impl ItemStatus {
    /// Whether the status never changes again.
    pub const fn is_terminal(self) -> bool {
        matches!(self, ItemStatus::Success | ItemStatus::Failed | ItemStatus::Blocked)
    }

    /// Whether a worker is launching or running the item: it holds a reservation and a lease.
    pub const fn is_in_flight(self) -> bool {
        matches!(self, ItemStatus::Admitted | ItemStatus::Starting | ItemStatus::Running)
    }
}

impl ExecutionMode {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionMode::Sequence => "sequence",
            ExecutionMode::Graph => "graph",
        }
    }
}

impl TaskClass {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskClass::Cheap => "cheap",
            TaskClass::Mid => "mid",
            TaskClass::Heavy => "heavy",
        }
    }
}

/// What a `waiting` item waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum WaitingFor {
    /// Host capacity; woken early when an item in flight ends.
    Admission,
    /// Admission that can never fit this host as configured (the reason names the setting):
    /// nothing that ends makes room, so it is not woken early; a changed setting takes a daemon
    /// restart.
    NeverFits,
    /// The next launch retry after the executor could not be started.
    LaunchRetry,
    /// Another process holds the repository's lock (a delivery, another open); retried soon,
    /// without spending a launch retry.
    Repository,
    /// The back-off before the next semantic iteration, after the task failed.
    RecoveryBackoff,
    /// The next delivery retry: the work is committed, but a lock, the network or the remote
    /// stopped its rebase, fast-forward or push. The scheduler runs the closeout again itself;
    /// such an item is never launched.
    DeliveryRetry,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Items are being scheduled.
    Running,
    /// A stop was requested; running items finish their current step.
    Stopping,
    /// Stopped by the operator; `continue` resumes it.
    Stopped,
    /// Every item succeeded.
    Success,
    /// An item failed or was blocked.
    Failed,
}

impl RunStatus {
    /// Whether the run is over (success or failed). A stopped run is not: `continue` resumes it.
    /// A finished run stays in the queue view only while a tab shows it.
    pub const fn is_finished(self) -> bool {
        matches!(self, RunStatus::Success | RunStatus::Failed)
    }

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Stopping => "stopping",
            RunStatus::Stopped => "stopped",
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
        }
    }
}

impl ItemStatus {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Pending => "pending",
            ItemStatus::Admitted => "admitted",
            ItemStatus::Starting => "starting",
            ItemStatus::Running => "running",
            ItemStatus::Waiting => "waiting",
            ItemStatus::Stopped => "stopped",
            ItemStatus::Paused => "paused",
            ItemStatus::Success => "success",
            ItemStatus::Failed => "failed",
            ItemStatus::Blocked => "blocked",
        }
    }
}

impl fmt::Display for ItemStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored queue item: the row of the queue store and of `GET /api/queue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ItemRecord {
    /// Its run.
    pub run_id: crate::RunId,
    /// Its id.
    pub id: crate::ItemId,
    /// Its position in the run, from 1.
    pub position: u32,
    /// Its task slug.
    pub slug: crate::TaskSlug,
    /// Its prompt.
    pub prompt: String,
    /// Resolved dependencies.
    pub depends_on: Vec<crate::ItemId>,
    /// Canonical wave index.
    pub wave_index: u32,
    /// Load class.
    pub task_class: TaskClass,
    /// Agent command, if chosen for it.
    #[serde(default)]
    pub agent: Option<String>,
    /// Its status.
    pub status: ItemStatus,
    /// Why it is in that status, in words (never read by any decision).
    pub reason: String,
    /// Not before this time, Unix seconds, while waiting.
    #[serde(default)]
    pub next_attempt_at: Option<i64>,
    /// What it waits for, while waiting.
    #[serde(default)]
    pub waiting_for: Option<WaitingFor>,
    /// While running: since when its agent has shown no sign of life (output, commit, store
    /// write), once the stall watch judged it stalled; `None` while it is active.
    #[serde(default)]
    pub stalled_since: Option<i64>,
    /// Launch failures so far.
    pub launch_failures: u32,
    /// Delivery retries of the current iteration so far.
    #[serde(default)]
    pub delivery_retries: u32,
    /// The semantic iteration (from 1) once started.
    pub iteration: u32,
    /// Its task record, once opened.
    #[serde(default)]
    pub task_id: Option<String>,
    /// Its current agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Its worker lease.
    pub lease: lease::Lease,
    /// Last change, Unix seconds.
    pub updated_at: i64,
    /// Its semantic iterations so far, oldest first.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
}

/// One semantic iteration of an item: a row of the attempt ledger. A recovery packet lists the
/// earlier rows, so the next agent knows what was tried and how it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Attempt {
    /// The iteration, from 1 (counted over the item's whole life, across `continue`s).
    pub iteration: u32,
    /// The agent command that ran it.
    pub agent_command: String,
    /// The agent that ran it.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Its tmux target.
    #[serde(default)]
    pub terminal: Option<String>,
    /// The packet it was given.
    #[serde(default)]
    pub packet: Option<String>,
    /// The end of its terminal, captured when it ended.
    #[serde(default)]
    pub log: Option<String>,
    /// Its task record.
    #[serde(default)]
    pub task_id: Option<String>,
    /// The evidence bundle its task left, if one.
    #[serde(default)]
    pub bundle: Option<String>,
    /// How it failed; `None` while running or after a success.
    #[serde(default)]
    pub failure: Option<String>,
    /// When it started, Unix seconds.
    pub started_at: i64,
    /// When it ended, Unix seconds.
    #[serde(default)]
    pub finished_at: Option<i64>,
}
