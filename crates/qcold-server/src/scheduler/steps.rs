//! The effects of a launch, one function per [`Step`](qcold_core::queue::launch::Step). Each is
//! recognisable afterwards (the launch's evidence finds it) and harmless to repeat, so a launch
//! re-driven after a crash between any two of them resumes instead of starting over.

use std::path::Path;

use qcold_core::agent::command::AgentCommand;
use qcold_core::queue::wire::Run;
use qcold_core::queue::{Attempt, ItemRecord, ItemStatus};
use qcold_core::task::TaskRecord;
use qcold_core::{AgentId, CommandName, TaskStatus};

use super::launch::{agent_id, open_attempt};
use super::{Scheduler, packet};
use crate::agents::{self, StartRequest, adopt, commands};
use crate::store::{ItemUpdate, Store};
use crate::taskflow::{self, OpenRequest, Opened};

/// Why a step did not take effect.
#[derive(Debug)]
pub(super) enum Failure {
    /// The launch cannot go on (no agent command, the task cannot be opened, the agent cannot be
    /// started): a launch failure, with its retry budget.
    Launch(String),
    /// The launch cannot go on, and trying again would fail the same way (the agent's program
    /// is missing or not executable, the packet does not fit its argv): the item fails at once.
    Permanent(String),
    /// Another process holds the repository's lock; try again soon, spending nothing.
    RepositoryBusy(String),
    /// Something passing failed (the store, tmux); the item stays as it is and the next pass
    /// re-drives the launch from what exists.
    Retry(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(err: E) -> Self {
        Failure::Retry(err.into())
    }
}

type Applied = Result<(), Failure>;

impl Scheduler {
    /// Chooses the agent command and writes the iteration's ledger row — its agent id and
    /// packet path — with the item's new iteration, in one transaction.
    pub(super) fn begin_row(
        &mut self,
        store: &mut Store,
        run: &Run,
        item: &ItemRecord,
        epoch: u64,
        now: i64,
    ) -> Applied {
        let command = self.agent_command(store, run, item, now).map_err(Failure::Launch)?;
        let row = item.attempts.last().map_or(1, |a| a.iteration + 1);
        let iteration = item.iteration + 1;
        let agent_id = agent_id(run, item, row)?;
        let packet_file = packet::dir(&self.config, &run.id, &item.id).join(format!("packet-{row}.md"));
        let attempt = Attempt {
            iteration: row,
            agent_command: command.name.to_string(),
            agent_id: Some(agent_id.to_string()),
            terminal: Some(format!("{}:0.0", qcold_core::agent::session_name(&agent_id))),
            packet: Some(packet_file.to_string_lossy().into_owned()),
            task_id: None,
            log: None,
            bundle: None,
            failure: None,
            started_at: now,
            finished_at: None,
        };
        let update = ItemUpdate {
            iteration,
            agent_id: None,
            ..ItemUpdate::of(item, ItemStatus::Starting, format!("iteration {iteration}: opening its task"))
        };
        store.begin_attempt(&item.run_id, &item.id, epoch, &attempt, &update, now)?;
        crate::fault::point(&self.config, crate::fault::AFTER_ROW);
        Ok(())
    }

    /// Opens the iteration's task — or adopts the one a dead launch opened, or resumes a paused
    /// one — and records it on the row and the item.
    pub(super) fn open_step(
        &mut self,
        store: &mut Store,
        run: &Run,
        item: &ItemRecord,
        epoch: u64,
        now: i64,
    ) -> Applied {
        let row = open_attempt(item).ok_or_else(|| anyhow::anyhow!("no open ledger row"))?.iteration;
        let task = self.open_task(store, run, item, now)?;
        let update = ItemUpdate {
            task_id: Some(task.id.clone()),
            ..ItemUpdate::of(item, ItemStatus::Starting, format!("iteration {}: starting its agent", item.iteration))
        };
        store.record_attempt_task(&item.run_id, &item.id, epoch, row, &update, now)?;
        Ok(())
    }

    /// Writes the iteration's packet (whole or not at all: a crash never leaves half of one).
    pub(super) fn write_packet(&mut self, store: &mut Store, run: &Run, item: &ItemRecord) -> Applied {
        let (row, task) = row_task(store, item)?;
        let max = self.config.queue.budgets.max_iterations;
        let text = packet::render(&self.qcold, run, item, &task, item.iteration, max, &item.attempts);
        let file = Path::new(row.packet.as_deref().ok_or_else(|| anyhow::anyhow!("the row names no packet"))?);
        let tmp = file.with_extension("md.tmp");
        file.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, &text))
            .and_then(|()| std::fs::rename(&tmp, file))
            .map_err(|err| Failure::Launch(format!("cannot write the packet {}: {err}", file.display())))?;
        crate::fault::point(&self.config, crate::fault::AFTER_PACKET);
        Ok(())
    }

    /// Removes the exit file an earlier agent with the row's id left.
    pub(super) fn clear_stale_exit(&mut self, item: &ItemRecord) -> Applied {
        let row = open_attempt(item).ok_or_else(|| anyhow::anyhow!("no open ledger row"))?;
        let id = AgentId::new(row.agent_id.clone().unwrap_or_default())?;
        adopt::clear_stale(&self.config, &id)?;
        Ok(())
    }

    /// Starts the row's agent in a tmux terminal in the task's worktree.
    pub(super) fn start_step(&mut self, store: &mut Store, run: &Run, item: &ItemRecord, now: i64) -> Applied {
        let (row, task) = row_task(store, item)?;
        let command = commands::all(store)?
            .into_iter()
            .find(|c| c.name.as_str() == row.agent_command)
            .ok_or_else(|| Failure::Launch(format!("agent command {} was removed", row.agent_command)))?;
        let env = commands::environment(store, &command)?;
        let request = self.agent_request(run, item, &row, &task, &command, &env)?;
        agents::start(&self.config, store, &self.qcold, &request, now).map_err(|err| {
            let reason = format!("cannot start agent command {}: {err}", command.name);
            if err.is_permanent() { Failure::Permanent(reason) } else { Failure::Launch(reason) }
        })?;
        Ok(())
    }

    /// Records the agent a dead launch started: its live session or its exit file.
    pub(super) fn adopt_step(&mut self, store: &mut Store, run: &Run, item: &ItemRecord, now: i64) -> Applied {
        let (row, task) = row_task(store, item)?;
        let command = commands::all(store)?.into_iter().find(|c| c.name.as_str() == row.agent_command);
        let request = match &command {
            Some(command) => {
                let env = commands::environment(store, command)?;
                self.agent_request(run, item, &row, &task, command, &env)?
            }
            // The command was removed since; the record keeps its name as its command line.
            None => StartRequest {
                track: format!("queue-{}", run.id),
                id: None,
                name: None,
                cwd: task.worktree.clone().into(),
                terminal: true,
                env: Vec::new(),
                stdin: None,
                argv: vec![row.agent_command.clone()],
                arg_files: Vec::new(),
                log: None,
                render: Default::default(),
            },
        };
        let request = StartRequest { id: Some(AgentId::new(row.agent_id.clone().unwrap_or_default())?), ..request };
        match adopt::adopt(&self.config, store, &self.qcold, &request, row.started_at, now)? {
            Some(agent) => {
                tracing::info!("{}/{}: adopted agent {} a dead launch started", item.run_id, item.id, agent.id);
                Ok(())
            }
            None => Err(Failure::Retry(anyhow::anyhow!("agent {:?} left no trace to adopt after all", row.agent_id))),
        }
    }

    /// The start request of the row's agent: deterministic, so a start and an adoption of the
    /// same row describe the same agent.
    fn agent_request(
        &self,
        run: &Run,
        item: &ItemRecord,
        row: &Attempt,
        task: &TaskRecord,
        command: &AgentCommand,
        command_env: &[(String, String)],
    ) -> Result<StartRequest, Failure> {
        let packet_file = Path::new(row.packet.as_deref().ok_or_else(|| anyhow::anyhow!("the row names no packet"))?);
        let worktree = Path::new(&task.worktree);
        let track = format!("queue-{}", run.id);
        let mut request = commands::invocation(command, packet_file, worktree, &track, true);
        request.id = Some(AgentId::new(row.agent_id.clone().unwrap_or_default())?);
        request.name = Some(format!("{} {}", task.repo, item.slug));
        request.env = self.agent_env(task, packet_file, command_env, row.agent_id.as_deref().unwrap_or_default());
        // The iteration's evidence lives with its packet, beyond the agent's own directory.
        request.log = Some(super::packet::attempt_log(
            &self.config,
            &run.id,
            &item.id,
            row.agent_id.as_deref().unwrap_or_default(),
        ));
        Ok(request)
    }

    /// The item's task: the open one it already has, a paused or failed-closeout one resumed,
    /// else a new one. An open task with the item's slug is the one a dead launch opened (slugs
    /// of unfinished work are unique).
    fn open_task(&self, store: &mut Store, run: &Run, item: &ItemRecord, now: i64) -> Result<TaskRecord, Failure> {
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
            Err(taskflow::TaskError::RepoBusy { holder, .. }) => Err(Failure::RepositoryBusy(holder)),
            Err(taskflow::TaskError::AlreadyOpen { id, .. }) => {
                store.task(&id)?.ok_or_else(|| Failure::Launch(format!("task {id} is open but cannot be read")))
            }
            Err(err) => Err(Failure::Launch(format!("cannot open task {}: {err}", item.slug))),
        }
    }

    /// The item's agent command: its own, the run's, else the first ready one.
    fn agent_command(&self, store: &mut Store, run: &Run, item: &ItemRecord, now: i64) -> Result<AgentCommand, String> {
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

    /// The agent's environment: the command's own, then where its task and packet are and the
    /// qcold that runs it (last, so they win). PATH is qcold's directory in front of the
    /// command's PATH, else the daemon's.
    fn agent_env(
        &self,
        task: &TaskRecord,
        packet_file: &Path,
        command_env: &[(String, String)],
        agent_id: &str,
    ) -> Vec<(String, String)> {
        let bin_dir = self.qcold.parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
        let own_path = command_env.iter().rev().find(|(k, _)| k == "PATH").map(|(_, v)| v);
        let path = match own_path.or(self.config.path_env.as_ref()) {
            Some(path) if !path.is_empty() => format!("{bin_dir}:{path}"),
            _ => bin_dir,
        };
        let own = command_env.iter().filter(|(k, _)| k != "PATH").cloned();
        own.chain([
            ("QCOLD_TASK_SLUG".into(), task.slug.to_string()),
            ("QCOLD_TASK_WORKTREE".into(), task.worktree.clone()),
            ("QCOLD_PACKET_FILE".into(), packet_file.to_string_lossy().into_owned()),
            ("QCOLD_BIN".into(), self.qcold.to_string_lossy().into_owned()),
            ("QCOLD_STATE_DIR".into(), self.config.state_dir.to_string_lossy().into_owned()),
            ("PATH".into(), path),
            // Its closeout leaves the worktree it stands in for the daemon to remove.
            ("QCOLD_QUEUE_AGENT".into(), agent_id.to_owned()),
        ])
        .collect()
    }
}

/// The open row and the task it records.
fn row_task(store: &Store, item: &ItemRecord) -> Result<(Attempt, TaskRecord), Failure> {
    let row = open_attempt(item).ok_or_else(|| anyhow::anyhow!("no open ledger row"))?.clone();
    let id = row.task_id.as_deref().ok_or_else(|| anyhow::anyhow!("the row records no task"))?;
    let task = store.task(id)?.ok_or_else(|| Failure::Launch(format!("task {id} disappeared")))?;
    Ok((row, task))
}
