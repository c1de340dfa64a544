//! The change a worker writes to an item: the one shape every scheduler decision is applied as.

use super::{ItemRecord, ItemStatus, WaitingFor};

/// An item's new worker-owned fields, written under the worker's lease epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemUpdate {
    /// The new status.
    pub status: ItemStatus,
    /// Why, in words.
    pub reason: String,
    /// Not before this time, for `waiting`.
    pub next_attempt_at: Option<i64>,
    /// What a `waiting` item waits for.
    pub waiting_for: Option<WaitingFor>,
    /// Launch failures so far.
    pub launch_failures: u32,
    /// Delivery retries of the current iteration so far.
    pub delivery_retries: u32,
    /// The semantic iteration.
    pub iteration: u32,
    /// Its task record.
    pub task_id: Option<String>,
    /// Its current agent.
    pub agent_id: Option<String>,
    /// Since when its running agent has shown no sign of life, when judged stalled.
    pub stalled_since: Option<i64>,
}

impl ItemUpdate {
    /// An update that keeps everything of `item` but its status, reason and retry time.
    pub fn of(item: &ItemRecord, status: ItemStatus, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            next_attempt_at: None,
            waiting_for: None,
            launch_failures: item.launch_failures,
            delivery_retries: item.delivery_retries,
            iteration: item.iteration,
            task_id: item.task_id.clone(),
            agent_id: item.agent_id.clone(),
            // Any change of the item but the stall watch's own is news of it.
            stalled_since: None,
        }
    }

    /// This update as a wait until `at` for `what`.
    #[must_use]
    pub fn waiting(self, what: WaitingFor, at: i64) -> Self {
        Self { next_attempt_at: Some(at), waiting_for: Some(what), ..self }
    }
}
