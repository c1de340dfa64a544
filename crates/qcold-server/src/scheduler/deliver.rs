//! Delivery retries: an item whose task's closeout failed for the infrastructure — a lock, the
//! network, the remote — has its work committed on the task branch, so the scheduler closes the
//! task out again itself, without a new agent, when the retry is due.
//!
//! The closeout runs on the scheduler's own store connection in short writes (never one
//! transaction around git) and never waits for the repository's delivery lock: while another
//! process delivers, the retry waits again without spending its budget. What the closeout's
//! result means — success, the next retry, a failed iteration — is judged like any other
//! evidence, by [`qcold_core::queue::reconcile`].

use qcold_core::queue::reconcile::{Action, reconcile};
use qcold_core::queue::wire::Run;
use qcold_core::queue::{ItemRecord, ItemStatus, RunStatus, WaitingFor};

use super::Scheduler;
use crate::store::{ItemUpdate, Store};
use crate::taskflow::{self, TaskError};

impl Scheduler {
    /// Runs the due delivery retry of a waiting item, then judges what its task says now.
    pub(super) fn redeliver(
        &mut self,
        store: &mut Store,
        run: &Run,
        item: &ItemRecord,
        now: i64,
    ) -> anyhow::Result<()> {
        // A stopping run stops waiting items itself; a retry not due yet waits.
        if run.status != RunStatus::Running || item.next_attempt_at.is_some_and(|at| at > now) {
            return Ok(());
        }
        let Some(task_id) = item.task_id.clone() else { return Ok(()) };
        let Some(epoch) = self.lease(store, item, now)? else { return Ok(()) };
        let (_, _, evidence) = Self::evidence(store, item)?;
        let delays = self.config.queue.budgets.delivery_delays_secs.clone();
        let retries = delays.len();
        let retry = item.delivery_retries;
        // In flight while it runs: a daemon killed meanwhile finds it running, judges its task
        // again and spends the next retry, so a retry that kills its daemon cannot loop.
        let Action::Redeliver { failure } = reconcile(&evidence).action else {
            // The task moved on by other hands (closed by the operator, reopened): judge that.
            let update = ItemUpdate::of(item, ItemStatus::Running, format!("its task {task_id} moved on"));
            self.write(store, item, epoch, &update, now)?;
            return self.judge_running(store, run, item);
        };
        let reason = format!("delivery retry {retry} of {retries}: closing out {task_id} again after: {failure}");
        let running = ItemUpdate::of(item, ItemStatus::Running, reason);
        self.write(store, item, epoch, &running, now)?;
        let message = format!("{}: work left in the worktree after its delivery failed", item.slug);
        match taskflow::redeliver(&self.config, store, &task_id, &message, crate::unix_now, &mut |_| {}) {
            Ok(closed) => match closed.failure {
                None => tracing::info!("delivery retry {retry} of {task_id} delivered it"),
                Some((phase, error)) => {
                    tracing::info!("delivery retry {retry} of {task_id} failed at {phase}: {error}");
                }
            },
            Err(TaskError::RepoBusy { repo, holder }) => {
                // Nothing was attempted: wait again, the same retry, without spending budget.
                let delay = delays.first().copied().unwrap_or(0);
                let reason = format!(
                    "delivery retry {retry} of {retries} waits for the delivery lock of repository {repo}, held by {holder}; after: {failure}"
                );
                let update = ItemUpdate {
                    next_attempt_at: Some(crate::unix_now() + delay),
                    waiting_for: Some(WaitingFor::DeliveryRetry),
                    ..ItemUpdate::of(item, ItemStatus::Waiting, reason)
                };
                let current = ItemRecord { status: ItemStatus::Running, ..item.clone() };
                self.write(store, &current, epoch, &update, now)?;
                return Ok(());
            }
            // The task's record says what happened; the judgement below reads it.
            Err(err) => tracing::warn!("delivery retry {retry} of {task_id} could not run: {err}"),
        }
        self.judge_running(store, run, item)
    }

    /// Judges an item just written as running: success, the next retry, a failed iteration.
    fn judge_running(&mut self, store: &mut Store, run: &Run, item: &ItemRecord) -> anyhow::Result<()> {
        let now = crate::unix_now();
        let current = store.item(&item.run_id, &item.id)?.unwrap_or_else(|| item.clone());
        let current = ItemRecord { attempts: item.attempts.clone(), ..current };
        self.judge(store, run, &current, now)
    }
}
