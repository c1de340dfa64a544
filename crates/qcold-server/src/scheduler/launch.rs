//! Admission and launch: which ready items start now, and starting one — open (or resume) its
//! task, write its packet, start its agent command in a tmux terminal in the worktree.
//!
//! A launch is re-entrant: the attempt's ledger row and its deterministic agent id are written
//! before the agent starts, so a launch re-driven after a daemon crash adopts the agent the dead
//! launch started instead of starting a second one.

use std::path::Path;

use qcold_core::agent::AgentRecord;
use qcold_core::queue::admission::{self, Decision, HostSample};
use qcold_core::queue::plan;
use qcold_core::queue::wire::Run;
use qcold_core::queue::{Attempt as Ledger, ItemRecord, ItemStatus, RunStatus, TaskClass, WaitingFor};
use qcold_core::task::TaskRecord;
use qcold_core::{AgentId, CommandName, TaskStatus};

use super::{Scheduler, packet, settle};
use crate::agents::{self, commands};
use crate::store::{ItemUpdate, Store};
use crate::taskflow::{self, OpenRequest, Opened};

/// One iteration about to start.
struct Attempt<'a> {
    run: &'a Run,
    item: &'a ItemRecord,
    task: &'a TaskRecord,
    /// Its ledger row.
    row: u32,
    /// Its semantic iteration within the current budget.
    iteration: u32,
    agent_id: AgentId,
}

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
    /// Admits ready items of running runs, oldest run first, and launches the admitted ones.
    pub(super) fn launch_ready(&mut self, store: &mut Store, host: HostSample, now: i64) -> anyhow::Result<()> {
        let runs: Vec<Run> = store.live_runs()?.into_iter().filter(|r| r.status == RunStatus::Running).collect();
        let mut candidates = Vec::new();
        for run in &runs {
            let facts: Vec<_> = run.items.iter().map(|i| settle::facts(i, now)).collect();
            for id in plan::ready(run.mode, &facts, now) {
                if let Some(item) = run.items.iter().find(|i| i.id == id) {
                    candidates.push((run, item));
                }
            }
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
        for ((run, item), (_, decision)) in candidates.into_iter().zip(decisions) {
            match decision {
                Decision::Admit => {
                    let Some(epoch) = self.lease(store, item, now)? else { continue };
                    self.write(store, item, epoch, &ItemUpdate::of(item, ItemStatus::Admitted, "admitted"), now)?;
                    let admitted = store.item(&item.run_id, &item.id)?.unwrap_or_else(|| item.clone());
                    let admitted = ItemRecord { attempts: item.attempts.clone(), ..admitted };
                    self.launch(store, run, &admitted, epoch, now)?;
                }
                Decision::Wait { reason, retry_at } => {
                    let update = ItemUpdate {
                        next_attempt_at: Some(retry_at),
                        waiting_for: Some(WaitingFor::Admission),
                        ..ItemUpdate::of(item, ItemStatus::Waiting, format!("waiting for admission: {reason}"))
                    };
                    // Unleased: the current epoch fences the write against a concurrent grant.
                    match store.update_item(&item.run_id, &item.id, item.lease.epoch, &update, now) {
                        Ok(()) | Err(crate::store::StoreError::Fenced { .. }) => {}
                        Err(err) => return Err(err.into()),
                    }
                }
            }
        }
        Ok(())
    }

    /// Launches (or re-drives the launch of) an item whose lease is held with `epoch`. A failure
    /// to start is a launch failure (its own budget); it never counts as an iteration.
    pub(super) fn launch(
        &mut self,
        store: &mut Store,
        run: &Run,
        item: &ItemRecord,
        epoch: u64,
        now: i64,
    ) -> anyhow::Result<()> {
        let starting = ItemUpdate::of(item, ItemStatus::Starting, "opening its task");
        self.write(store, item, epoch, &starting, now)?;
        let task = match self.open_task(store, run, item, now) {
            Ok(task) => task,
            Err(failure) => return self.launch_failed(store, item, epoch, None, &failure, now),
        };
        let mut current = ItemUpdate {
            task_id: Some(task.id.clone()),
            ..ItemUpdate::of(item, ItemStatus::Starting, "starting its agent")
        };
        self.write(store, item, epoch, &current, now)?;

        // Re-drive the open ledger row if a dead launch left one; otherwise start the next.
        let (row, iteration) = match super::reconcile::open_row(item) {
            Some(row) => (row, item.iteration.max(1)),
            None => (item.attempts.last().map_or(1, |a| a.iteration + 1), item.iteration + 1),
        };
        let agent_id = agent_id(run, item, row)?;
        let adopted = store.agent(&agent_id)?;
        let attempt = Attempt { run, item, task: &task, row, iteration, agent_id };
        let agent = match adopted {
            Some(agent) => agent,
            None => match self.start_agent(store, &attempt, now) {
                Ok(agent) => agent,
                Err((row, failure)) => return self.launch_failed(store, item, epoch, row, &failure, now),
            },
        };
        current.status = ItemStatus::Running;
        current.reason = format!("agent {} works on it (iteration {iteration})", agent.id);
        current.iteration = iteration;
        current.agent_id = Some(agent.id.to_string());
        self.write(store, item, epoch, &current, now)?;
        Ok(())
    }

    /// Chooses the agent command, writes the packet, records the ledger row (before the start, so
    /// a re-driven launch finds it) and starts the agent. A failure names the row to forget, if
    /// one was written.
    fn start_agent(&self, store: &mut Store, a: &Attempt<'_>, now: i64) -> Result<AgentRecord, (Option<u32>, String)> {
        let command = self.agent_command(store, a.run, a.item, now).map_err(|failure| (None, failure))?;
        let dir = packet::dir(&self.config, &a.run.id, &a.item.id);
        let packet_file = dir.join(format!("packet-{}.md", a.row));
        let max = self.config.queue.budgets.max_iterations;
        let text = packet::render(a.run, a.item, a.task, a.iteration, max, &a.item.attempts);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&packet_file, &text))
            .map_err(|err| (None, format!("cannot write the packet {}: {err}", packet_file.display())))?;
        let row = Ledger {
            iteration: a.row,
            agent_command: command.name.to_string(),
            agent_id: Some(a.agent_id.to_string()),
            terminal: Some(format!("{}:0.0", qcold_core::agent::session_name(&a.agent_id))),
            packet: Some(packet_file.to_string_lossy().into_owned()),
            task_id: Some(a.task.id.clone()),
            log: None,
            bundle: None,
            failure: None,
            started_at: now,
            finished_at: None,
        };
        store.insert_attempt(&a.run.id, &a.item.id, &row).map_err(|e| (None, e.to_string()))?;
        let worktree = Path::new(&a.task.worktree);
        let track = format!("queue-{}", a.run.id);
        let mut request = commands::invocation(&command, &text, &packet_file, worktree, &track, true);
        request.id = Some(a.agent_id.clone());
        request.name = Some(format!("{} {}", a.task.repo, a.item.slug));
        request.env = self.agent_env(a.task, &packet_file);
        agents::start(&self.config, store, &self.qcold, &request, now)
            .map_err(|err| (Some(a.row), format!("cannot start agent command {}: {err}", command.name)))
    }

    /// Records a launch failure: the unstarted ledger row is dropped, the item waits for its
    /// next launch retry or fails when the budget is spent.
    fn launch_failed(
        &mut self,
        store: &mut Store,
        item: &ItemRecord,
        epoch: u64,
        row: Option<u32>,
        failure: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        tracing::warn!("launch of {}/{} failed: {failure}", item.run_id, item.id);
        if let Some(row) = row {
            store.delete_attempt(&item.run_id, &item.id, row)?;
        }
        let current = store.item(&item.run_id, &item.id)?.unwrap_or_else(|| item.clone());
        let update = self.launch_failure_update(&current, failure, now);
        self.write(store, item, epoch, &update, now)?;
        Ok(())
    }

    /// The item's task: the open one it already has, a paused or failed-closeout one resumed,
    /// else a new one.
    fn open_task(&self, store: &mut Store, run: &Run, item: &ItemRecord, now: i64) -> Result<TaskRecord, String> {
        if let Some(task) = item.task_id.as_deref().and_then(|id| store.task(id).ok().flatten())
            && task.status == TaskStatus::Open
            && Path::new(&task.worktree).is_dir()
        {
            return Ok(task);
        }
        let request = OpenRequest {
            repo: Some(run.repo.clone()),
            slug: item.slug.clone(),
            profile: None,
            prompt: Some(item.prompt.clone()),
        };
        match taskflow::open(&self.config, store, &request, now) {
            Ok(Opened::Created(task) | Opened::Resumed(task)) => Ok(task),
            Err(taskflow::TaskError::AlreadyOpen { id, .. }) => {
                store.task(&id).ok().flatten().ok_or_else(|| format!("task {id} is open but cannot be read"))
            }
            Err(err) => Err(format!("cannot open task {}: {err}", item.slug)),
        }
    }

    /// The item's agent command: its own, the run's, else the first ready one.
    fn agent_command(
        &self,
        store: &mut Store,
        run: &Run,
        item: &ItemRecord,
        now: i64,
    ) -> Result<qcold_core::agent::command::AgentCommand, String> {
        let statuses = commands::statuses(store, false, now).map_err(|e| e.to_string())?;
        let wanted: Vec<CommandName> = match item.agent.as_deref().or(run.agent.as_deref()) {
            Some(name) => vec![CommandName::new(name.to_owned()).map_err(|e| e.to_string())?],
            None => statuses.list.iter().map(|s| s.command.name.clone()).collect(),
        };
        let chosen = commands::choose(&statuses, &wanted);
        if chosen.is_err() && !statuses.stale.is_empty() {
            // An expired "not ready" may be out of date: look again before counting a failure.
            let _ = commands::refresh(store, &statuses.stale, now);
        }
        chosen.map_err(|e| e.to_string())
    }

    /// The agent's environment: where its task and packet are, and the qcold that runs it.
    fn agent_env(&self, task: &TaskRecord, packet_file: &Path) -> Vec<(String, String)> {
        let bin_dir = self.qcold.parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
        let path = match &self.config.path_env {
            Some(path) if !path.is_empty() => format!("{bin_dir}:{path}"),
            _ => bin_dir,
        };
        vec![
            ("QCOLD_TASK_SLUG".into(), task.slug.to_string()),
            ("QCOLD_TASK_WORKTREE".into(), task.worktree.clone()),
            ("QCOLD_PACKET_FILE".into(), packet_file.to_string_lossy().into_owned()),
            ("QCOLD_BIN".into(), self.qcold.to_string_lossy().into_owned()),
            ("QCOLD_STATE_DIR".into(), self.config.state_dir.to_string_lossy().into_owned()),
            ("PATH".into(), path),
        ]
    }
}
