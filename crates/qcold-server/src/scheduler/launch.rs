//! Admission and launch: which ready items start now, and driving one's launch to its end.
//!
//! A launch is the recorded state machine of [`qcold_core::queue::launch`]: the worker gathers
//! what the item's open ledger row, its task and its agent left behind, asks
//! [`next_step`](launch::next_step) for the first effect not yet confirmed, applies it
//! ([`super::steps`]), and repeats until the item runs. A launch re-driven after a crash at any
//! point therefore resumes where the dead one stopped: one task, one agent start and one ledger
//! row per iteration.

use std::path::Path;

use qcold_core::AgentId;
use qcold_core::TaskStatus;
use qcold_core::queue::admission::{self, Decision, HostSample};
use qcold_core::queue::budget::LaunchFailure;
use qcold_core::queue::launch::{self, AgentTrace, LaunchEvidence, Step, TaskTrace};
use qcold_core::queue::plan;
use qcold_core::queue::wire::Run;
use qcold_core::queue::{Attempt, ItemRecord, ItemStatus, RunStatus, TaskClass, WaitingFor};

use super::steps::Failure;
use super::{Scheduler, settle};
use crate::agents::adopt;
use crate::store::{ItemUpdate, Store};

/// More steps than any launch takes (the longest path has six); reaching it is a bug, reported
/// rather than looped on.
const MAX_STEPS: usize = 12;

/// The agent id of ledger row `row`: `q-<run>-<item>-<row>`, deterministic so a re-driven launch
/// finds it. An item id too long for an agent id is replaced by a stable hash of it.
pub(super) fn agent_id(run: &Run, item: &ItemRecord, row: u32) -> Result<AgentId, qcold_core::IdError> {
    let plain = format!("q-{}-{}-{row}", run.id, item.id);
    if plain.len() <= qcold_core::IdKind::Agent.max_len() {
        return AgentId::new(plain);
    }
    // FNV-1a: stable across builds and platforms, which std's hasher does not promise.
    let hash = item
        .id
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    AgentId::new(format!("q-{}-{hash:016x}-{row}", run.id))
}

impl Scheduler {
    /// Admits ready items of the running ones of `runs` (the live runs as the store holds them
    /// now), oldest run first, and launches the admitted ones. With `reconsider`, items waiting
    /// for admission are candidates whatever their retry time: capacity was given back.
    pub(super) fn launch_ready(
        &mut self,
        store: &mut Store,
        runs: &[Run],
        host: HostSample,
        reconsider: bool,
        now: i64,
    ) -> anyhow::Result<()> {
        let mut candidates = Vec::new();
        for run in runs.iter().filter(|r| r.status == RunStatus::Running) {
            let facts: Vec<_> = run
                .items
                .iter()
                .map(|i| {
                    let mut facts = settle::facts(i, now);
                    if reconsider && matches!(i.waiting_for, Some(WaitingFor::Admission | WaitingFor::NeverFits)) {
                        facts.next_attempt_at = None;
                    }
                    facts
                })
                .collect();
            let by_id = settle::by_id(run);
            candidates.extend(
                plan::ready(run.mode, &facts, now)
                    .iter()
                    .filter_map(|id| by_id.get(id))
                    .filter(|item| !self.launches.busy(item))
                    .map(|item| (run, *item)),
            );
        }
        if candidates.is_empty() {
            return Ok(());
        }
        let live: Vec<TaskClass> = store
            .items_in(&[ItemStatus::Admitted, ItemStatus::Starting, ItemStatus::Running])?
            .iter()
            .map(|i| i.task_class)
            .collect();
        let policy = self.config.queue.admission;
        let sample = HostSample {
            reserved_tasks: u32::try_from(live.len()).unwrap_or(u32::MAX),
            reserved_heavy: u32::try_from(live.iter().filter(|c| **c == TaskClass::Heavy).count()).unwrap_or(u32::MAX),
            ..host
        };
        store.record_host_sample(&sample, policy.history_secs)?;
        let history = store.host_samples(now - policy.history_secs)?;
        // Decisions come back in candidate order; ids only label them (they are unique per run).
        let classes: Vec<(qcold_core::ItemId, TaskClass)> =
            candidates.iter().map(|(_, item)| (item.id.clone(), item.task_class)).collect();
        let decisions = admission::admit(policy, &sample, &history, &live, &classes, now);
        let mut stuck: Option<anyhow::Error> = None;
        let mut refusals = Vec::new();
        for ((run, item), (_, decision)) in candidates.into_iter().zip(decisions) {
            match decision {
                Decision::Admit => {
                    let Some(epoch) = self.lease(store, item, now)? else { continue };
                    self.write(store, item, epoch, &ItemUpdate::of(item, ItemStatus::Admitted, "admitted"), now)?;
                    // The launch reads the item afresh; the pass goes on to the next one.
                    if let Err(err) = self.hand_over(run, item, epoch, now) {
                        // Left admitted for the next pass to re-drive; the other admitted items go on.
                        tracing::warn!("{}/{}: cannot start its launch: {err:#}", item.run_id, item.id);
                        stuck.get_or_insert(err);
                    }
                }
                Decision::Wait { reason, retry_at, never } => {
                    let waiting_for = if never { WaitingFor::NeverFits } else { WaitingFor::Admission };
                    let reason = format!("waiting for admission: {reason}");
                    // Refused again for the same reason before its timer ran out (capacity was
                    // freed, and another item took it): its row already says so.
                    if item.status == ItemStatus::Waiting
                        && item.waiting_for == Some(waiting_for)
                        && item.reason == reason
                        && item.next_attempt_at.is_some_and(|at| at > now)
                    {
                        continue;
                    }
                    let update = ItemUpdate {
                        next_attempt_at: Some(retry_at),
                        waiting_for: Some(waiting_for),
                        ..ItemUpdate::of(item, ItemStatus::Waiting, reason)
                    };
                    // Unleased: the current epoch fences the write against a concurrent grant.
                    refusals.push((item.run_id.clone(), item.id.clone(), item.lease.epoch, update));
                }
            }
        }
        store.update_items_unleased(&refusals, now)?;
        stuck.map_or(Ok(()), Err)
    }

    /// Launches (or re-drives the launch of) an item whose lease is held with `epoch`: applies
    /// the steps [`launch::next_step`] names until the item runs. A failure to start is a launch
    /// failure (its own budget), never an iteration; a store or tmux error leaves the item as it
    /// is, and the next pass re-drives it from what exists.
    pub(super) fn launch(
        &mut self,
        store: &mut Store,
        run: &Run,
        item: &ItemRecord,
        epoch: u64,
        now: i64,
    ) -> anyhow::Result<()> {
        crate::fault::point(&self.config, crate::fault::AFTER_LEASE);
        let mut item = reread(store, item)?;
        let mut evidence = self.launch_evidence(store, &item)?;
        for _ in 0..MAX_STEPS {
            let step = launch::next_step(&evidence);
            tracing::debug!("launch of {}/{}: {step:?} after {evidence:?}", item.run_id, item.id);
            let applied = match &step {
                Step::BeginRow => self.begin_row(store, run, &item, epoch, now),
                Step::OpenTask => self.open_step(store, run, &item, epoch, now),
                Step::WritePacket => self.write_packet(store, run, &item),
                Step::ClearStaleExit => self.clear_stale_exit(&item),
                Step::StartAgent => self.start_step(store, run, &item, now),
                Step::AdoptAgent => self.adopt_step(store, run, &item, now),
                Step::Run => return self.mark_running(store, &item, epoch, now),
                Step::Judge => {
                    self.mark_running(store, &item, epoch, now)?;
                    let item = reread(store, &item)?;
                    return self.judge(store, run, &item, now);
                }
                Step::Abandon { reason } => {
                    return self.launch_failed(store, &item, epoch, reason, LaunchFailure::Passing, now);
                }
            };
            match applied {
                Ok(()) => {}
                Err(Failure::Launch(reason)) => {
                    return self.launch_failed(store, &item, epoch, &reason, LaunchFailure::Passing, now);
                }
                Err(Failure::Permanent(reason)) => {
                    return self.launch_failed(store, &item, epoch, &reason, LaunchFailure::Permanent, now);
                }
                Err(Failure::RepositoryBusy(holder)) => return self.repository_busy(store, &item, epoch, &holder, now),
                Err(Failure::Retry(err)) => return Err(err),
            }
            evidence = evidence.after(&step);
            item = reread(store, &item)?;
        }
        anyhow::bail!("the launch of {}/{} did not settle in {MAX_STEPS} steps ({evidence:?})", item.run_id, item.id)
    }

    /// What the item's open ledger row, its task and its agent left behind.
    fn launch_evidence(&self, store: &Store, item: &ItemRecord) -> anyhow::Result<LaunchEvidence> {
        let Some(row) = open_attempt(item) else {
            return Ok(LaunchEvidence {
                row: false,
                task: TaskTrace::Unrecorded,
                packet: false,
                agent: AgentTrace::None,
            });
        };
        let task = match row.task_id.as_deref() {
            None => TaskTrace::Unrecorded,
            Some(id) => match store.task(id)? {
                Some(task) if task.status == TaskStatus::Open && Path::new(&task.worktree).is_dir() => TaskTrace::Open,
                Some(task) if task.status == TaskStatus::Open => TaskTrace::Missing,
                Some(task) => TaskTrace::MovedOn { status: task.status },
                None => TaskTrace::Missing,
            },
        };
        let packet = row.packet.as_deref().is_some_and(|p| Path::new(p).is_file());
        let agent = self.row_trace(store, row)?;
        Ok(LaunchEvidence { row: true, task, packet, agent })
    }

    /// What the agent of ledger row `row` left behind.
    fn row_trace(&self, store: &Store, row: &Attempt) -> anyhow::Result<AgentTrace> {
        Ok(match row.agent_id.as_deref() {
            Some(id) => adopt::trace(&self.config, store, &AgentId::new(id)?, row.started_at)?,
            None => AgentTrace::None,
        })
    }

    /// Records a launch failure: the item waits for its next launch retry, or fails when the
    /// budget is spent or the failure is permanent. The open row is forgotten only when its agent left no trace at all; a
    /// row whose agent may be alive is kept, and the next pass adopts the agent.
    pub(super) fn launch_failed(
        &mut self,
        store: &mut Store,
        item: &ItemRecord,
        epoch: u64,
        failure: &str,
        kind: LaunchFailure,
        now: i64,
    ) -> anyhow::Result<()> {
        tracing::warn!("launch of {}/{} failed ({kind:?}): {failure}", item.run_id, item.id);
        let update = self.launch_failure_update(item, failure, kind, now);
        self.end_launch(store, item, epoch, update, now)
    }

    /// Another process holds the repository's lock: the launch waits a little and tries again,
    /// without spending a launch retry.
    fn repository_busy(
        &mut self,
        store: &mut Store,
        item: &ItemRecord,
        epoch: u64,
        holder: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        let retry = now + self.config.queue.repository_retry_secs;
        let update = ItemUpdate::of(item, ItemStatus::Waiting, format!("waiting for the repository: {holder}"))
            .waiting(WaitingFor::Repository, retry);
        self.end_launch(store, item, epoch, update, now)
    }

    /// Ends a launch that did not start its agent with `update`, forgetting the open row (and
    /// the iteration it began) when its agent left no trace.
    fn end_launch(
        &mut self,
        store: &mut Store,
        item: &ItemRecord,
        epoch: u64,
        mut update: ItemUpdate,
        now: i64,
    ) -> anyhow::Result<()> {
        let Some(row) = open_attempt(item) else {
            self.write(store, item, epoch, &update, now)?;
            return Ok(());
        };
        let trace = self.row_trace(store, row)?;
        if !matches!(trace, AgentTrace::None | AgentTrace::Stale) {
            anyhow::bail!(
                "the launch of {}/{} failed after its agent started ({trace:?}); it is adopted next pass",
                item.run_id,
                item.id
            );
        }
        // The row began this iteration; forgetting it gives the iteration back.
        update.iteration = item.iteration.saturating_sub(1);
        store.abandon_attempt(&item.run_id, &item.id, epoch, row.iteration, &update, now)?;
        if item.status.is_in_flight() && !update.status.is_in_flight() {
            self.freed = true;
        }
        if !update.status.is_in_flight() {
            self.release(store, item, epoch)?;
        }
        Ok(())
    }

    /// The launch is complete (or its task moved on): the item runs with the row's agent.
    fn mark_running(&mut self, store: &mut Store, item: &ItemRecord, epoch: u64, now: i64) -> anyhow::Result<()> {
        let row =
            open_attempt(item).ok_or_else(|| anyhow::anyhow!("{}/{} has no open ledger row", item.run_id, item.id))?;
        let agent_id = match row.agent_id.as_deref() {
            Some(id) if store.agent_exists(&AgentId::new(id)?)? => Some(id.to_owned()),
            _ => None,
        };
        crate::fault::point(&self.config, crate::fault::AFTER_AGENT_RECORD);
        tracing::info!(
            "{}/{} iteration {} launched: agent {}, task {}",
            item.run_id,
            item.id,
            item.iteration,
            agent_id.as_deref().unwrap_or("(none: its task moved on)"),
            row.task_id.as_deref().unwrap_or("(none)")
        );
        let reason = match &agent_id {
            Some(agent) => format!("agent {agent} works on it (iteration {})", item.iteration),
            None => format!("its task moved on while no daemon watched (iteration {})", item.iteration),
        };
        let update = ItemUpdate {
            agent_id,
            task_id: row.task_id.clone().or_else(|| item.task_id.clone()),
            ..ItemUpdate::of(item, ItemStatus::Running, reason)
        };
        self.write(store, item, epoch, &update, now)?;
        Ok(())
    }
}

/// The item as stored now, with its ledger.
fn reread(store: &Store, item: &ItemRecord) -> anyhow::Result<ItemRecord> {
    let mut fresh = store
        .item(&item.run_id, &item.id)?
        .ok_or_else(|| anyhow::anyhow!("item {}/{} disappeared during its launch", item.run_id, item.id))?;
    fresh.attempts = store.item_attempts(&item.run_id, &item.id)?;
    Ok(fresh)
}

/// The ledger row of the iteration being launched or run: the last one, while it is open.
pub(super) fn open_attempt(item: &ItemRecord) -> Option<&Attempt> {
    item.attempts.last().filter(|a| a.finished_at.is_none())
}
