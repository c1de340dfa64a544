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
pub mod lease;
pub mod package;
pub mod plan;
pub mod reconcile;

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a run orders its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
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
}

impl fmt::Display for ItemStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
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
        };
        f.write_str(text)
    }
}
