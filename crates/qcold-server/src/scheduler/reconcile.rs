//! Reconciling items in flight: gather the evidence (task record, agent), ask
//! [`qcold_core::queue::reconcile`], apply the verdict with the budgets — a failed iteration
//! waits out its recovery back-off, a delivery the infrastructure failed waits for its delivery
//! retry ([`super::deliver`]).

use qcold_core::AgentId;
use qcold_core::TaskStatus;
use qcold_core::agent::{AgentRecord, AgentState};
use qcold_core::queue::budget::{self, LaunchFailure, Next};
use qcold_core::queue::reconcile::{Action, AgentEvidence, CloseoutEvidence, Evidence, reconcile};
use qcold_core::queue::wire::Run;
use qcold_core::queue::{ItemRecord, ItemStatus, RunStatus, WaitingFor};
use qcold_core::task::{EventKind, TaskRecord};

use super::Scheduler;
use crate::agents;
use crate::store::{AttemptEnd, ItemUpdate, Store};
use crate::taskflow;

impl Scheduler {
    /// Reconciles one item. Items a launch left half done (`admitted`, `starting` without a
    /// live worker: the daemon died mid-launch) are launched again, which adopts an agent the
    /// dead launch already started instead of starting a second one.
    pub(super) fn reconcile(
        &mut self,
        store: &mut Store,
        run: &Run,
        item: &ItemRecord,
        now: i64,
    ) -> anyhow::Result<()> {
        // An item whose launch is in flight is the launch's until it reports back.
        if self.launches.busy(item) {
            return Ok(());
        }
        match item.status {
            ItemStatus::Admitted | ItemStatus::Starting => {
                if let Some(epoch) = self.lease(store, item, now)? {
                    self.hand_over(run, item, epoch, now)?;
                }
                Ok(())
            }
            ItemStatus::Running | ItemStatus::Paused if Self::kill_wanted(store, run)? => {
                self.kill(store, run, item, now)
            }
            ItemStatus::Running | ItemStatus::Paused => self.judge(store, run, item, now),
            ItemStatus::Waiting if item.waiting_for == Some(WaitingFor::DeliveryRetry) => {
                self.redeliver(store, run, item, now)
            }
            _ => Ok(()),
        }
    }

    /// The item's task and agent, and the evidence they make.
    pub(super) fn evidence(
        store: &Store,
        item: &ItemRecord,
    ) -> anyhow::Result<(Option<TaskRecord>, Option<AgentRecord>, Evidence)> {
        let task = item.task_id.as_deref().map(|id| store.task(id)).transpose()?.flatten();
        let agent = match item.agent_id.as_deref().map(AgentId::new).transpose()? {
            Some(id) => store.agent(&id)?,
            None => None,
        };
        let closeout = task
            .as_ref()
            .filter(|t| t.status == TaskStatus::FailedCloseout)
            .and_then(|t| t.failed_phase.map(|phase| CloseoutEvidence { phase, failure: t.closeout_failure.clone() }));
        let agent_evidence = match agent.as_ref().map(|a| agents::view(a.clone()).state) {
            None => AgentEvidence::None,
            Some(AgentState::Running) => AgentEvidence::Alive,
            Some(AgentState::Exited { code }) => AgentEvidence::Exited { code },
            Some(AgentState::Vanished) => AgentEvidence::Vanished,
        };
        // Only an open task whose agent ended is asked (two git reads, at the end of an
        // iteration): did a closeout deliver it and die before recording so?
        let delivered = agent_evidence != AgentEvidence::Alive
            && task.as_ref().is_some_and(|t| t.status == TaskStatus::Open && taskflow::is_delivered(t));
        let evidence = Evidence {
            item: item.status,
            task: task.as_ref().map(|t| t.status),
            agent: agent_evidence,
            launching: false,
            closeout,
            delivered,
        };
        Ok((task, agent, evidence))
    }

    pub(super) fn judge(&mut self, store: &mut Store, run: &Run, item: &ItemRecord, now: i64) -> anyhow::Result<()> {
        let (task, agent, evidence) = Self::evidence(store, item)?;
        let verdict = reconcile(&evidence);
        if verdict.action == Action::None {
            // Hold the lease of work in flight, so a second daemon keeps its hands off.
            let epoch = self.lease(store, item, now)?;
            if let Some(epoch) = epoch
                && item.status == ItemStatus::Running
                && evidence.agent == AgentEvidence::Alive
            {
                if let (Some(task), Some(agent)) = (&task, &agent)
                    && task.status.is_terminal()
                {
                    // Its task closed; the agent only finishes its turn. One that lingers past the
                    // grace is stopped, so the iteration (and its worktree) can end.
                    if task.closed_at.is_some_and(|at| now - at > AFTER_CLOSEOUT_GRACE_SECS) {
                        tracing::info!(
                            "{}/{}: agent {} lingers after its closeout; stopping it",
                            item.run_id,
                            item.id,
                            agent.id
                        );
                        agents::stop(&self.config, store, agent.id.as_str(), now)?;
                    }
                    return Ok(());
                }
                self.watch_stall(store, run, item, task.as_ref(), agent.as_ref(), epoch, now)?;
            }
            return Ok(());
        }
        let Some(epoch) = self.lease(store, item, now)? else { return Ok(()) };
        // The evidence this iteration's task left: bundles made since the iteration started.
        let since = item.attempts.last().filter(|a| a.finished_at.is_none()).map_or(i64::MAX, |a| a.started_at);
        let bundle = match &task {
            Some(t) => store.task_bundles(&t.id)?.into_iter().rfind(|b| b.created_at >= since).map(|b| b.path),
            None => None,
        };
        let held = matches!(run.status, RunStatus::Stopping | RunStatus::Stopped);
        let budgets = &self.config.queue.budgets;
        // The agent's own words at its closeout (`--reason`, `--message`) travel with the verdict:
        // into the item's reason, the ledger row, and so the next packet.
        let words = match &task {
            Some(t) if matches!(t.status, TaskStatus::ClosedBlocked | TaskStatus::ClosedFailed) => {
                closeout_words(store, t)?
            }
            _ => None,
        };
        let said = |text: &str| match &words {
            Some(words) => format!("{text}: {words}"),
            None => text.to_owned(),
        };
        let (update, failure) = match verdict.action {
            Action::None => return Ok(()),
            Action::SetStatus => {
                let reason = match verdict.status {
                    ItemStatus::Success => "its task closed successfully".to_owned(),
                    ItemStatus::Blocked => said("its task closed as blocked"),
                    ItemStatus::Paused => "its task is paused; `qcold task open` resumes it".to_owned(),
                    status => item_reason(item, status),
                };
                let failure = (verdict.status == ItemStatus::Blocked).then(|| said("the task closed as blocked"));
                (ItemUpdate::of(item, verdict.status, reason), failure)
            }
            Action::Recover { failure } => {
                let failure = if task.as_ref().is_some_and(|t| t.status == TaskStatus::ClosedFailed) {
                    said(&failure)
                } else {
                    failure
                };
                (self.recovery_update(item, held, &failure, now), Some(failure))
            }
            Action::Redeliver { failure } => {
                let failures = item.delivery_retries + 1;
                match budget::after_delivery_failure(budgets, failures, now, &failure) {
                    _ if held => {
                        let mut update = ItemUpdate::of(
                            item,
                            ItemStatus::Stopped,
                            format!("stopped by the operator before its delivery was retried after: {failure}"),
                        );
                        update.agent_id = None;
                        (update, Some(failure))
                    }
                    Next::RetryAt { at, retry } => {
                        let reason = format!(
                            "delivery retry {retry} of {} in {} s after: {failure}",
                            budgets.delivery_delays_secs.len(),
                            at - now
                        );
                        let update = ItemUpdate {
                            next_attempt_at: Some(at),
                            waiting_for: Some(WaitingFor::DeliveryRetry),
                            delivery_retries: retry,
                            ..ItemUpdate::of(item, ItemStatus::Waiting, reason)
                        };
                        (update, None)
                    }
                    // Spent: the failure costs an iteration after all.
                    Next::Exhausted { reason } => (self.recovery_update(item, held, &reason, now), Some(reason)),
                    Next::Iterate { .. } => (self.recovery_update(item, held, &failure, now), Some(failure)),
                }
            }
            Action::Relaunch { failure } => {
                let mut update = self.launch_failure_update(item, &failure, LaunchFailure::Passing, now);
                update.agent_id = None;
                (update, Some(failure))
            }
        };
        // A delivery retry continues the iteration: its ledger row stays open.
        tracing::info!(
            "{}/{}: {} → {} ({}){}",
            item.run_id,
            item.id,
            item.status,
            update.status,
            update.reason,
            failure.as_deref().map(|f| format!("; failure: {f}")).unwrap_or_default()
        );
        let ended = !matches!(update.status, ItemStatus::Running | ItemStatus::Paused)
            && update.waiting_for != Some(WaitingFor::DeliveryRetry);
        // A queue agent's closeout left its worktree for now, when the agent is gone: it and its
        // branch are removed before the iteration is recorded as ended, so a daemon killed in
        // between (even between the two) removes what is left next time. While another process
        // holds the repository's lock the item waits a moment.
        if ended
            && let Some(task) = task.as_ref().filter(|t| t.status.is_terminal() && taskflow::has_leftovers(t))
            && !taskflow::cleanup(&self.config, task)
        {
            tracing::info!("{}: its worktree is removed once the repository is free", task.id);
            self.cleanup_waiting = true;
            return Ok(());
        }
        if ended && let Some(row) = open_row(item) {
            // The terminal's last screen, while it still exists (one tmux call, at the end only).
            let log = agent.as_ref().and_then(|a| self.capture(run, item, a));
            let end = AttemptEnd { failure, log, bundle };
            store.finish_attempt(&item.run_id, &item.id, row, &end, now)?;
        }
        self.write(store, item, epoch, &update, now)?;
        Ok(())
    }

    /// The update after a failed iteration: wait out the recovery back-off before the next one,
    /// stop when the operator stops the run, fail when the semantic budget is spent.
    pub(super) fn recovery_update(&self, item: &ItemRecord, held: bool, failure: &str, now: i64) -> ItemUpdate {
        let budgets = &self.config.queue.budgets;
        let mut update = match budget::after_semantic_failure(budgets, item.iteration, now, failure) {
            Next::Exhausted { reason } => ItemUpdate::of(item, ItemStatus::Failed, reason),
            Next::Iterate { iteration, .. } | Next::RetryAt { retry: iteration, .. } if held => ItemUpdate::of(
                item,
                ItemStatus::Stopped,
                format!("stopped by the operator; iteration {iteration} will recover from: {failure}"),
            ),
            Next::Iterate { iteration, at } | Next::RetryAt { retry: iteration, at } => ItemUpdate {
                next_attempt_at: Some(at),
                waiting_for: Some(WaitingFor::RecoveryBackoff),
                ..ItemUpdate::of(
                    item,
                    ItemStatus::Waiting,
                    format!(
                        "recovery iteration {iteration} of {} in {} s after: {failure}",
                        budgets.max_iterations,
                        at - now
                    ),
                )
            },
        };
        update.agent_id = None;
        update.delivery_retries = 0;
        update
    }

    /// The update after a launch failure: wait for the next retry, or fail when the budget is
    /// spent or the failure is permanent.
    pub(super) fn launch_failure_update(
        &self,
        item: &ItemRecord,
        failure: &str,
        kind: LaunchFailure,
        now: i64,
    ) -> ItemUpdate {
        let failures = item.launch_failures + 1;
        let budgets = &self.config.queue.budgets;
        let mut update = match budget::after_launch_failure(budgets, failures, now, failure, kind) {
            Next::RetryAt { at, retry } => {
                let reason = format!("launch retry {retry} of {} after: {failure}", budgets.launch_delays_secs.len());
                ItemUpdate {
                    next_attempt_at: Some(at),
                    waiting_for: Some(WaitingFor::LaunchRetry),
                    ..ItemUpdate::of(item, ItemStatus::Waiting, reason)
                }
            }
            Next::Exhausted { reason } => ItemUpdate::of(item, ItemStatus::Failed, reason),
            Next::Iterate { .. } => ItemUpdate::of(item, ItemStatus::Failed, failure.to_owned()),
        };
        update.launch_failures = failures;
        update
    }

    /// The log of an iteration's agent: the one its wrapper wrote from the first byte, else the
    /// end of its terminal saved next to its packet; `None` when neither is left.
    pub(super) fn capture(
        &self,
        run: &Run,
        item: &ItemRecord,
        agent: &qcold_core::agent::AgentRecord,
    ) -> Option<String> {
        if let Some(log) = agent.stdout_log.as_deref().filter(|l| std::fs::metadata(l).is_ok_and(|m| m.len() > 0)) {
            return Some(log.to_owned());
        }
        let text = agents::tail(&self.config, agent, 200).ok()?;
        let path = super::packet::attempt_log(&self.config, &run.id, &item.id, agent.id.as_str());
        std::fs::write(&path, text).ok()?;
        Some(path.to_string_lossy().into_owned())
    }
}

/// How long an agent may go on after its task closed before it is stopped (its turn ends).
const AFTER_CLOSEOUT_GRACE_SECS: i64 = 60;

/// What the agent said when it closed its task out: the text of the task's last closeout event
/// (`blocked: <reason>` → `<reason>`); `None` when it said nothing.
fn closeout_words(store: &Store, task: &TaskRecord) -> anyhow::Result<Option<String>> {
    let events = store.task_events(&task.id)?;
    let Some(last) = events.iter().rfind(|e| e.kind == EventKind::Closeout) else { return Ok(None) };
    let text = last.message.split_once(": ").map_or(last.message.as_str(), |(_, words)| words).trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// The number of the ledger row of the iteration in flight ([`super::launch::open_attempt`]).
pub(super) fn open_row(item: &ItemRecord) -> Option<u32> {
    super::launch::open_attempt(item).map(|a| a.iteration)
}

fn item_reason(item: &ItemRecord, status: ItemStatus) -> String {
    match (status, &item.agent_id) {
        (ItemStatus::Running, Some(agent)) => format!("agent {agent} works on it"),
        (status, _) => format!("{status}"),
    }
}
