//! Agent commands: registration, readiness probes with a cache, and choosing the first ready one.
//!
//! A probe (see [`super::probe`]) runs the command's probe argv, or a preset's checks, or only
//! looks for its program; it never runs an operator's agent. Results are cached in the store for [`READINESS_TTL_SECS`]. A
//! missing result is probed when asked for (several commands in parallel); an expired one is
//! served at once and refreshed in the background by the caller; `force` probes everything now.

use std::path::Path;

use qcold_core::CommandName;
use qcold_core::agent::command::{self, AgentCommand, CommandError, Input, NoneReady, READINESS_TTL_SECS, Source};
use qcold_core::agent::env::{self, EnvError};
use qcold_core::agent::preset::Preset;
use qcold_core::api::agents::AddCommandRequest;

use crate::store::{Store, StoreError};

pub use qcold_core::agent::command::CommandStatus;

/// Why a command could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum CommandsError {
    /// The argv is unusable.
    #[error(transparent)]
    Argv(#[from] CommandError),
    /// Both a preset and an argv (or `--stdin`, `--interactive`).
    #[error("give a preset or an argv (with --stdin or --interactive), not both")]
    PresetAndArgv,
    /// The packet on stdin, and stdin the terminal.
    #[error("--stdin feeds the packet on standard input and --interactive makes it the terminal: choose one")]
    StdinAndInteractive,
    /// A variable the command cannot set.
    #[error(transparent)]
    Env(#[from] EnvError),
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

/// Registers (or replaces) a command: its own argv, or a preset's; its environment is stored
/// with it and only the keys are answered.
pub fn add(store: &mut Store, request: AddCommandRequest, now: i64) -> Result<AgentCommand, CommandsError> {
    let probe = match request.probe.as_deref() {
        Some(line) => {
            let words = shell_words::split(line).map_err(|_| CommandsError::BadProbe(line.to_owned()))?;
            if words.is_empty() {
                return Err(CommandsError::BadProbe(line.to_owned()));
            }
            Some(words)
        }
        None => None,
    };
    let mut command = match request.preset {
        Some(_) if !request.argv.is_empty() || request.stdin || request.interactive => {
            return Err(CommandsError::PresetAndArgv);
        }
        None if request.stdin && request.interactive => return Err(CommandsError::StdinAndInteractive),
        Some(preset) => preset.command(request.name, Source::Registered),
        None => {
            command::check_argv(&request.argv)?;
            AgentCommand {
                name: request.name,
                argv: request.argv,
                stdin: request.stdin,
                interactive: request.interactive,
                probe: None,
                source: Source::Registered,
                preset: None,
                env: Vec::new(),
            }
        }
    };
    command.probe = probe;
    for key in request.env.keys() {
        env::check_key(key)?;
    }
    let own: Vec<(String, String)> = request.env.into_iter().collect();
    command.env.retain(|k| !own.iter().any(|(o, _)| o == k));
    command.env.extend(own.iter().map(|(k, _)| k.clone()));
    store.upsert_agent_command(&command, &own, now)?;
    Ok(command)
}

/// The environment `command`'s agents (and its probe) get on top of the daemon's: its preset's,
/// then its own (which wins).
pub fn environment(store: &Store, command: &AgentCommand) -> Result<Vec<(String, String)>, CommandsError> {
    let mut env = command.preset.map(Preset::env).unwrap_or_default();
    if command.source == Source::Registered {
        env.extend(store.agent_command_env(&command.name)?);
    }
    Ok(env)
}

/// Forgets a registered command.
pub fn remove(store: &mut Store, name: &CommandName) -> Result<(), CommandsError> {
    if store.remove_agent_command(name)? { Ok(()) } else { Err(CommandsError::Unknown(name.to_string())) }
}

/// Registered commands, plus each preset whose program is on PATH and whose name is not
/// registered, offered exactly as `agent command add NAME --preset NAME` would define it.
pub fn all(store: &Store) -> Result<Vec<AgentCommand>, CommandsError> {
    let mut commands = store.agent_commands()?;
    for preset in Preset::ALL {
        if commands.iter().any(|c| c.name.as_str() == preset.name()) || !super::on_path(preset.spec().program) {
            continue;
        }
        let Ok(name) = CommandName::new(preset.name()) else { continue };
        commands.push(preset.command(name, Source::Default));
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
    let mark = super::probe::environment_mark();
    for command in all(store)? {
        match store.readiness(&command.name, &mark)? {
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
    let commands = commands
        .into_iter()
        .map(|command| Ok((environment(store, &command)?, command)))
        .collect::<Result<Vec<_>, CommandsError>>()?;
    let probed: Vec<CommandStatus> = std::thread::scope(|scope| {
        let handles: Vec<_> = commands
            .into_iter()
            .map(|(env, command)| {
                scope.spawn(move || {
                    let readiness = super::probe::check(&command, &env, now);
                    CommandStatus { command, readiness }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mark = super::probe::environment_mark();
    for status in &probed {
        store.set_readiness(&status.command.name, &mark, &status.readiness)?;
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
/// by the wrapper, from the packet file), standard input the packet file with `stdin`, the
/// terminal for an `interactive` command, otherwise `/dev/null`.
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
        stdin: match command.input() {
            Input::Packet => Some(packet_file.to_owned()),
            Input::Terminal => None,
            Input::Empty => Some("/dev/null".into()),
        },
        argv: rendered.argv,
        arg_files: rendered.packet_args.into_iter().map(|i| (i, packet_file.to_owned())).collect(),
        log: None,
        render: command.preset.map(|p| p.spec().render).unwrap_or_default(),
    }
}
