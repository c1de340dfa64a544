//! Agent commands: registration, readiness probes with a cache, and choosing the first ready one.
//!
//! A probe runs the command's probe argv (default `<program> --version`) with stdin closed and a
//! timeout; exit 0 means ready. Results are cached in the store for [`READINESS_TTL_SECS`]. A
//! missing result is probed when asked for (several commands in parallel); an expired one is
//! served at once and refreshed in the background by the caller; `force` probes everything now.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use qcold_core::CommandName;
use qcold_core::agent::command::{self, AgentCommand, CommandError, NoneReady, READINESS_TTL_SECS, Readiness, Source};

use crate::deadline::{self, Ended};
use crate::store::{Store, StoreError};

/// How long a readiness probe may run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

pub use qcold_core::agent::command::CommandStatus;

/// Why a command could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum CommandsError {
    /// The argv is unusable.
    #[error(transparent)]
    Argv(#[from] CommandError),
    /// The probe line does not split into words.
    #[error("the probe {0:?} cannot be split into arguments")]
    BadProbe(String),
    /// No such registered command.
    #[error("no agent command {0:?} is registered")]
    Unknown(String),
    /// A store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// None is ready.
    #[error(transparent)]
    NoneReady(#[from] NoneReady),
}

/// Registers (or replaces) a command.
pub fn add(
    store: &mut Store,
    name: CommandName,
    argv: Vec<String>,
    stdin: bool,
    probe: Option<&str>,
    now: i64,
) -> Result<AgentCommand, CommandsError> {
    command::check_argv(&argv)?;
    let probe = match probe {
        Some(line) => {
            let words = shell_words::split(line).map_err(|_| CommandsError::BadProbe(line.to_owned()))?;
            if words.is_empty() {
                return Err(CommandsError::BadProbe(line.to_owned()));
            }
            Some(words)
        }
        None => None,
    };
    let command = AgentCommand { name, argv, stdin, probe, source: Source::Registered };
    store.upsert_agent_command(&command, now)?;
    Ok(command)
}

/// Forgets a registered command.
pub fn remove(store: &mut Store, name: &CommandName) -> Result<(), CommandsError> {
    if store.remove_agent_command(name)? { Ok(()) } else { Err(CommandsError::Unknown(name.to_string())) }
}

/// Registered commands, plus `codex` and `claude` when they are on PATH and not registered.
pub fn all(store: &Store) -> Result<Vec<AgentCommand>, CommandsError> {
    let mut commands = store.agent_commands()?;
    let defaults = [("codex", vec!["codex", "exec", "{packet}"]), ("claude", vec!["claude", "-p", "{packet}"])];
    for (name, argv) in defaults {
        if commands.iter().any(|c| c.name.as_str() == name) || !super::on_path(name) {
            continue;
        }
        let Ok(name) = CommandName::new(name) else { continue };
        commands.push(AgentCommand {
            name,
            argv: argv.into_iter().map(str::to_owned).collect(),
            stdin: false,
            probe: None,
            source: Source::Default,
        });
    }
    commands.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(commands)
}

/// What [`statuses`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statuses {
    /// Every command with its readiness.
    pub list: Vec<CommandStatus>,
    /// Commands whose result was served from an expired cache entry; the caller refreshes them
    /// in the background ([`refresh`]) so nobody waits for a probe that has an answer already.
    pub stale: Vec<CommandName>,
}

/// Every command with its readiness. Commands never probed are probed now (in parallel);
/// expired results are served as they are and listed in [`Statuses::stale`]; `force` probes all.
pub fn statuses(store: &mut Store, force: bool, now: i64) -> Result<Statuses, CommandsError> {
    let mut list = Vec::new();
    let mut unknown = Vec::new();
    let mut stale = Vec::new();
    for command in all(store)? {
        match store.readiness(&command.name)? {
            Some(r) if !force => {
                if !r.is_fresh(now, READINESS_TTL_SECS) {
                    stale.push(command.name.clone());
                }
                list.push(CommandStatus { command, readiness: r });
            }
            _ => unknown.push(command),
        }
    }
    list.extend(probe_all(store, unknown, now)?);
    list.sort_by(|a, b| a.command.name.cmp(&b.command.name));
    Ok(Statuses { list, stale })
}

/// Probes the named commands now and caches the results.
pub fn refresh(store: &mut Store, names: &[CommandName], now: i64) -> Result<Vec<CommandStatus>, CommandsError> {
    let commands = all(store)?.into_iter().filter(|c| names.contains(&c.name)).collect();
    probe_all(store, commands, now)
}

fn probe_all(store: &mut Store, commands: Vec<AgentCommand>, now: i64) -> Result<Vec<CommandStatus>, CommandsError> {
    let probed: Vec<CommandStatus> = std::thread::scope(|scope| {
        let handles: Vec<_> = commands
            .into_iter()
            .map(|command| {
                scope.spawn(move || {
                    let readiness = probe(&command.probe_argv(), now);
                    CommandStatus { command, readiness }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for status in &probed {
        store.set_readiness(&status.command.name, &status.readiness)?;
    }
    Ok(probed)
}

/// The first of `wanted` that is ready by the known results (see [`statuses`]).
pub fn choose(statuses: &Statuses, wanted: &[CommandName]) -> Result<AgentCommand, CommandsError> {
    let find = |name: &CommandName| statuses.list.iter().find(|s| &s.command.name == name);
    let chosen = command::choose(wanted, &|name| find(name).map(|s| s.readiness.clone()))?;
    find(chosen).map(|s| s.command.clone()).ok_or_else(|| CommandsError::Unknown(chosen.to_string()))
}

/// The agent start request that runs `command` on a packet: placeholders filled in (`{packet}`
/// by the wrapper, from the packet file), standard input the packet file with `stdin`,
/// otherwise `/dev/null`.
pub fn invocation(
    command: &AgentCommand,
    packet_file: &Path,
    cwd: &Path,
    track: &str,
    terminal: bool,
) -> super::StartRequest {
    let rendered = command::render(&command.argv, &packet_file.to_string_lossy(), &cwd.to_string_lossy());
    super::StartRequest {
        track: track.to_owned(),
        id: None,
        name: Some(command.name.to_string()),
        cwd: cwd.to_owned(),
        terminal,
        env: Vec::new(),
        stdin: Some(if command.stdin { packet_file.to_owned() } else { "/dev/null".into() }),
        argv: rendered.argv,
        arg_files: rendered.packet_args.into_iter().map(|i| (i, packet_file.to_owned())).collect(),
    }
}

/// Runs a probe and turns its outcome into a readiness result.
pub fn probe(argv: &[String], now: i64) -> Readiness {
    let failed = |reason: String| Readiness { ready: false, reason, checked_at: now };
    let Some((program, args)) = argv.split_first() else { return failed("empty probe".into()) };
    // Output goes to a file, not a pipe: a probe that leaves a child holding a pipe open must not
    // block the read past the timeout.
    let captured = tempfile::NamedTempFile::new()
        .and_then(|out| Ok((out.as_file().try_clone()?, out.as_file().try_clone()?, out)));
    let Ok((stdout, stderr, out)) = captured else {
        return failed("cannot create a file for the probe's output".into());
    };
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    let ended = deadline::run(&mut cmd, PROBE_TIMEOUT);
    let output = std::fs::read_to_string(out.path()).unwrap_or_default();
    let first_line =
        output.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").chars().take(200).collect::<String>();
    match ended {
        Ok(Ended::Exited(status)) if status.success() => Readiness { ready: true, reason: first_line, checked_at: now },
        Ok(Ended::Exited(status)) => failed(match status.code() {
            Some(code) if first_line.is_empty() => format!("probe exited {code}"),
            Some(code) => format!("probe exited {code}: {first_line}"),
            None => "probe was killed by a signal".into(),
        }),
        Ok(Ended::TimedOut) => failed(format!("probe timed out after {}s", PROBE_TIMEOUT.as_secs())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => failed(format!("{program} not found")),
        Err(e) => failed(format!("cannot run {program}: {e}")),
    }
}
