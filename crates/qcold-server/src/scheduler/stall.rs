//! The stall watch's evidence: for a running item whose recheck time is due, one cheap look —
//! the terminal's last output (`#{window_activity}`), the task branch's newest commit, the task's
//! last store write — judged by [`qcold_core::queue::stall`], then re-armed.
//!
//! Nothing is polled: each item carries a recheck time (its last activity plus the window), the
//! earliest of which the scheduler folds into its wake time; a pass before that time costs a map
//! lookup. Under the `warn` policy a stall only changes the item's reason (and a later sign of
//! life changes it back); under `stop` the agent is stopped and the iteration ends as failed,
//! with the normal recovery budget.

use std::collections::HashMap;
use std::path::Path;

use qcold_core::agent::AgentRecord;
use qcold_core::queue::RunStatus;
use qcold_core::queue::stall::{self, Activity, Verdict};
use qcold_core::queue::wire::Run;
use qcold_core::queue::{ItemRecord, ItemStatus};
use qcold_core::task::TaskRecord;
use qcold_core::{ItemId, RunId};

use super::Scheduler;
use super::reconcile::open_row;
use crate::agents::tmux::Tmux;
use crate::git;
use crate::store::{ItemUpdate, Store};

/// What the watch remembers of one item's iteration in flight.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The ledger row (iteration) this is about; a new iteration starts afresh.
    row: u32,
    /// When to look again.
    recheck_at: i64,
    /// Whether the item's reason currently says it stalled.
    warned: bool,
}

/// The recheck times of running items; rebuilt by looking once after a restart.
#[derive(Debug, Default)]
pub(super) struct Watch {
    items: HashMap<(RunId, ItemId), Entry>,
}

impl Watch {
    /// The earliest recheck time after `now`, for the scheduler's wake time.
    pub(super) fn next_recheck(&self, now: i64) -> Option<i64> {
        self.items.values().map(|e| e.recheck_at).filter(|at| *at > now).min()
    }

    /// Forgets items that are no longer running.
    pub(super) fn retain_running(&mut self, runs: &[Run]) {
        self.items.retain(|(run, item), _| {
            runs.iter()
                .filter(|r| &r.id == run)
                .flat_map(|r| &r.items)
                .any(|i| &i.id == item && i.status == ItemStatus::Running)
        });
    }
}

impl Scheduler {
    /// Looks at a running item whose agent is alive when its recheck time is due, and acts on a
    /// stall by the policy. `epoch` is the held lease.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn watch_stall(
        &mut self,
        store: &mut Store,
        run: &Run,
        item: &ItemRecord,
        task: Option<&TaskRecord>,
        agent: Option<&AgentRecord>,
        epoch: u64,
        now: i64,
    ) -> anyhow::Result<()> {
        let settings = self.config.queue.stall;
        let key = (item.run_id.clone(), item.id.clone());
        let (Some(row), Some(agent)) = (open_row(item), agent) else { return Ok(()) };
        let entry = self.stall.items.get(&key).copied().filter(|e| e.row == row);
        if entry.is_some_and(|e| now < e.recheck_at) {
            return Ok(());
        }
        let warned = entry.is_some_and(|e| e.warned);
        let activity = self.activity(store, item, task, agent, now)?;
        let running = |reason: String| ItemUpdate::of(item, ItemStatus::Running, reason);
        match stall::judge(settings, &activity, now) {
            Verdict::Off => {
                self.stall.items.remove(&key);
            }
            Verdict::Active { recheck_at } => {
                if warned {
                    let reason = format!("agent {} works on it (iteration {})", agent.id, item.iteration);
                    self.write(store, item, epoch, &running(reason), now)?;
                }
                self.stall.items.insert(key, Entry { row, recheck_at, warned: false });
            }
            Verdict::Stalled { reason, stop: false, idle_secs } => {
                let reason = format!("{reason}; agent {} is still running", agent.id);
                if reason != item.reason || item.stalled_since.is_none() {
                    let update = ItemUpdate { stalled_since: Some(now - idle_secs), ..running(reason) };
                    self.write(store, item, epoch, &update, now)?;
                }
                // Look again soon enough to notice the agent coming back, and to keep the
                // reason's idle time roughly current.
                let recheck_at = now + settings.window_secs.clamp(1, 60);
                self.stall.items.insert(key, Entry { row, recheck_at, warned: true });
            }
            Verdict::Stalled { reason, stop: true, .. } => {
                let failure = format!("stalled: {reason}");
                tracing::warn!("{}/{} {failure}; stopping agent {}", item.run_id, item.id, agent.id);
                if self.halt(store, run, item, &failure, now)? {
                    let held = matches!(run.status, RunStatus::Stopping | RunStatus::Stopped);
                    let update = self.recovery_update(item, held, &failure, now);
                    self.write(store, item, epoch, &update, now)?;
                    self.stall.items.remove(&key);
                }
            }
        }
        Ok(())
    }

    /// The last signs of life of the item's iteration: one tmux call, one git call, one read.
    fn activity(
        &self,
        store: &Store,
        item: &ItemRecord,
        task: Option<&TaskRecord>,
        agent: &AgentRecord,
        now: i64,
    ) -> anyhow::Result<Activity> {
        let started_at = item.attempts.last().map_or(now, |a| a.started_at).max(agent.started_at);
        let output_at = agent
            .terminal
            .as_ref()
            .and_then(|terminal| Tmux::new(&self.config.state_dir).window_activity(&terminal.session));
        let (commit_at, store_at) = match task {
            Some(task) => {
                let commit = git::commit_time(Path::new(&task.worktree), &task.branch).unwrap_or_else(|err| {
                    tracing::debug!("no commit time for {}: {err}", task.id);
                    None
                });
                let last_event = store.task_events(&task.id)?.iter().map(|e| e.at).max();
                (commit, Some(last_event.map_or(task.updated_at, |at| at.max(task.updated_at))))
            }
            None => (None, None),
        };
        Ok(Activity { started_at, output_at, commit_at, store_at })
    }
}
