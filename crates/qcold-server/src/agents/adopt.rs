//! Adopting an agent a dead daemon started but never recorded.
//!
//! A terminal agent leaves two recognisable traces before its record exists: its tmux session,
//! named after its id, and the files of its wrapper (its pid as soon as it runs, its exit code
//! when it ends). A launch re-driven after a crash looks for them, so it records the agent that
//! is already working instead of starting a second one.

use std::path::Path;

use qcold_core::AgentId;
use qcold_core::agent::{self, AgentRecord, Terminal};
use qcold_core::queue::launch::AgentTrace;

use super::tmux::Tmux;
use super::{AgentError, StartRequest, await_exec, prepare, wrapper};
use crate::Config;
use crate::store::Store;

/// What the agent `id` left behind. `since` is when its launch began: an exit file older than
/// that belongs to an earlier agent that had the same id.
pub fn trace(config: &Config, store: &Store, id: &AgentId, since: i64) -> Result<AgentTrace, AgentError> {
    if store.agent_exists(id)? {
        return Ok(AgentTrace::Recorded);
    }
    if Tmux::new(&config.state_dir).has_session(&agent::session_name(id)) {
        return Ok(AgentTrace::Session);
    }
    let exit_file = exit_file(config, id);
    match std::fs::metadata(&exit_file).and_then(|m| m.modified()) {
        Ok(modified) => {
            let written = modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let fresh = i64::try_from(written).unwrap_or(i64::MAX) >= since;
            Ok(if fresh { AgentTrace::Exited } else { AgentTrace::Stale })
        }
        Err(_) => Ok(AgentTrace::None),
    }
}

/// The exit file of agent `id`.
pub fn exit_file(config: &Config, id: &AgentId) -> std::path::PathBuf {
    config.state_dir.join("agents").join(id.as_str()).join("exit-code")
}

/// Removes the exit and pid files an earlier agent with this id left; the next start is then
/// judged by its own (every start calls it).
pub fn clear_stale(config: &Config, id: &AgentId) -> Result<(), AgentError> {
    let file = exit_file(config, id);
    for path in [wrapper::pid_file(&file), wrapper::screen_file(&file), file] {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!("agent {id}: removed {} left by an earlier agent with this id", path.display()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(AgentError::Io { what: format!("cannot remove {}", path.display()), source }),
        }
    }
    Ok(())
}

/// Records the terminal agent `request.id` from its traces: a live session becomes a running
/// agent, an exit file an exited one. `Ok(None)` when it left no trace (it never started). An
/// agent already recorded is returned as it is.
pub fn adopt(
    config: &Config,
    store: &mut Store,
    qcold: &Path,
    request: &StartRequest,
    started_at: i64,
    now: i64,
) -> Result<Option<AgentRecord>, AgentError> {
    let id = request.id.clone().ok_or(AgentError::EmptyCommand)?;
    if let Some(existing) = store.agent(&id)? {
        return Ok(Some(existing));
    }
    let prepared = prepare(config, qcold, request, id.clone(), false)?;
    let exit_file = prepared.exit_file.to_string_lossy().into_owned();
    let session = agent::session_name(&id);
    let tmux = Tmux::new(&config.state_dir);
    let (pid, exited) = match tmux.pane_pid(&session) {
        Some(pid) => {
            await_exec(pid, &exit_file);
            (pid, None)
        }
        None => match wrapper::recorded(&prepared.exit_file) {
            // A wrapper of an older build records no pid; its process tree is gone anyway (it
            // wrote its exit code), so the record names no process: `u32::MAX` is none.
            Some(code) => (wrapper::recorded_pid(&prepared.exit_file).unwrap_or(u32::MAX), Some((now, code))),
            None => return Ok(None),
        },
    };
    let how = if exited.is_some() { "it ended while no daemon watched" } else { "its session is alive" };
    tracing::info!("adopting agent {id}: {how}");
    let record = record(request, &prepared, &session, pid, started_at, exited);
    store.insert_agent(&record)?;
    Ok(Some(record))
}

fn record(
    request: &StartRequest,
    prepared: &super::Prepared,
    session: &str,
    pid: u32,
    started_at: i64,
    exited: Option<(i64, i32)>,
) -> AgentRecord {
    AgentRecord {
        id: prepared.id.clone(),
        track: request.track.clone(),
        name: request.name.clone(),
        scope: None,
        argv: request.argv.clone(),
        cwd: prepared.cwd.to_string_lossy().into_owned(),
        pid,
        pgid: pid,
        terminal: Some(Terminal { target: format!("{session}:0.0"), session: session.to_owned() }),
        stdout_log: prepared.log.as_ref().map(|p| p.to_string_lossy().into_owned()),
        stderr_log: None,
        exit_file: prepared.exit_file.to_string_lossy().into_owned(),
        started_at,
        exited_at: exited.map(|(at, _)| at),
        exit_code: exited.map(|(_, code)| code),
    }
}
