//! Ending an iteration in flight by stopping its agent: the operator's `queue stop --kill`, and a
//! stalled agent under the `stop` stall policy.
//!
//! The agent's whole process tree and terminal go ([`agents::stop`], which may take seconds: it
//! runs on the scheduler's own store connection, never under the shared one), its ledger row is
//! finished with the failure, and the task with its worktree is left as it is, so no work is lost
//! and the next iteration continues in the same worktree.

use qcold_core::AgentId;
use qcold_core::queue::wire::Run;
use qcold_core::queue::{ItemRecord, ItemStatus, RunStatus};

use super::Scheduler;
use super::reconcile::open_row;
use crate::agents;
use crate::store::{AttemptEnd, ItemUpdate, Store};

/// The reason and ledger failure of an item whose agent the operator killed.
pub(super) const KILLED: &str = "stopped by the operator (--kill)";

impl Scheduler {
    /// Whether the operator asked for this run's agents in flight to be stopped.
    pub(super) fn kill_wanted(store: &Store, run: &Run) -> anyhow::Result<bool> {
        Ok(run.status == RunStatus::Stopping && store.run_kill_requested(&run.id)?)
    }

    /// Stops the agent of an item in flight of a run being killed; the item ends `stopped`.
    pub(super) fn kill(&mut self, store: &mut Store, run: &Run, item: &ItemRecord, now: i64) -> anyhow::Result<()> {
        let Some(epoch) = self.lease(store, item, now)? else { return Ok(()) };
        if !self.halt(store, run, item, KILLED, now)? {
            return Ok(());
        }
        let update = ItemUpdate { agent_id: None, ..ItemUpdate::of(item, ItemStatus::Stopped, KILLED) };
        self.write(store, item, epoch, &update, now)?;
        Ok(())
    }

    /// Stops the item's agent and finishes its ledger row with `failure`; `false` when the agent
    /// could not be stopped (something survived), so the item is left to the next pass.
    pub(super) fn halt(
        &mut self,
        store: &mut Store,
        run: &Run,
        item: &ItemRecord,
        failure: &str,
        now: i64,
    ) -> anyhow::Result<bool> {
        let agent = match item.agent_id.as_deref().map(AgentId::new).transpose()? {
            Some(id) => store.agent(&id)?,
            None => None,
        };
        let mut log = None;
        if let Some(agent) = &agent {
            // The terminal's last screen, before the stop takes the terminal with it.
            log = self.capture(run, item, agent);
            if let Err(err) = agents::stop(&self.config, store, agent.id.as_str(), now) {
                tracing::warn!("cannot stop agent {} of {}/{}: {err}", agent.id, item.run_id, item.id);
                return Ok(false);
            }
        }
        if let Some(row) = open_row(item) {
            let end = AttemptEnd { failure: Some(failure.to_owned()), log, bundle: None };
            store.finish_attempt(&item.run_id, &item.id, row, &end, now)?;
        }
        Ok(true)
    }
}
