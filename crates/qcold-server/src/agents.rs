//! Managed agents: start a command as a detached process group or in a tmux terminal, list them
//! with states derived from evidence, drive their terminals, stop whole process trees, prune.
//!
//! Every agent's root is the wrapper ([`wrapper`]), which records the exit code in a file. An
//! agent's state comes from that file and the process table ([`procs`]), never from screen text.

pub mod adopt;
pub mod commands;
pub mod probe;
pub mod procs;
pub mod tee;
pub mod terminal;
pub mod tmux;
pub mod wrapper;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qcold_core::AgentId;
use qcold_core::agent::stream::Render;
use qcold_core::agent::{self, AgentRecord, AgentState, Key, SelectError, Terminal};
use qcold_core::ids::{base36, numbered};

use crate::Config;
use crate::store::{Store, StoreError};
use tmux::{Tmux, TmuxError};

/// An agent with its derived state; the wire type lives in qcold-core.
pub use qcold_core::agent::AgentView;

/// Why an agent operation was refused or failed. Refusals start nothing.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No command was given.
    #[error("no command given; put it after `--`")]
    EmptyCommand,
    /// The track is unusable.
    #[error("track {0:?} must be non-empty and hold no whitespace or control characters")]
    BadTrack(String),
    /// The working directory does not exist.
    #[error("working directory {0} does not exist or is not a directory")]
    BadCwd(PathBuf),
    /// The program cannot be found.
    #[error("command not found: {0}")]
    NotFound(String),
    /// An argument would be longer than the OS passes to a program once its file is filled in.
    #[error("{path}: {source}")]
    TooLong {
        /// The file that fills the argument.
        path: PathBuf,
        /// By how much.
        source: qcold_core::agent::command::TooLong,
    },
    /// The id is taken.
    #[error("an agent with id {0} already exists; pick another --id or `qcold agent prune` it")]
    IdTaken(String),
    /// The selector matched no single agent.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The agent has no terminal.
    #[error("agent {0} runs without a terminal; start it with --terminal to type into it or attach to it")]
    NoTerminal(String),
    /// The agent's command does not read its terminal: typed text would not reach it.
    #[error(
        "agent {id} reads its standard input from {input}, not its terminal: typed text would not reach it \
         (its command takes the packet on stdin or runs non-interactively); keys such as Ctrl-C still work"
    )]
    NotReading {
        /// The agent.
        id: String,
        /// What its standard input is.
        input: String,
    },
    /// The agent's terminal is gone.
    #[error("agent {0}'s terminal has ended")]
    TerminalGone(String),
    /// Text to send is empty.
    #[error("nothing to send: the text is empty")]
    EmptyText,
    /// Processes survived the stop.
    #[error("agent {id}: {count} process(es) survived SIGKILL: {pids:?}")]
    Survivors {
        /// The agent.
        id: String,
        /// How many.
        count: usize,
        /// Which.
        pids: Vec<u32>,
    },
    /// A tmux failure.
    #[error(transparent)]
    Tmux(#[from] TmuxError),
    /// A store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file or process could not be handled.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The IO error.
        source: std::io::Error,
    },
}

impl AgentError {
    /// Whether starting the same request again would fail the same way: the program is
    /// missing or not executable, or an argument cannot be passed; a queue does not retry these.
    pub fn is_permanent(&self) -> bool {
        matches!(self, AgentError::NotFound(_) | AgentError::TooLong { .. } | AgentError::EmptyCommand)
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AgentError {
    let what = what.into();
    move |source| AgentError::Io { what, source }
}

/// What `qcold agent start` asks for.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// The track (grouping).
    pub track: String,
    /// The id; generated when `None`.
    pub id: Option<AgentId>,
    /// A display name.
    pub name: Option<String>,
    /// The working directory.
    pub cwd: PathBuf,
    /// Run in a tmux terminal rather than as a detached process group.
    pub terminal: bool,
    /// Extra environment for the command.
    pub env: Vec<(String, String)>,
    /// Standard input: this file (`/dev/null` for none); `None` keeps the default (empty for
    /// detached agents, the terminal for terminal agents).
    pub stdin: Option<PathBuf>,
    /// The command.
    pub argv: Vec<String>,
    /// `(index, file)`: the wrapper fills each `{packet}` in argument `index` of `argv` with the
    /// file's contents before it runs the command (`agent-run --arg-file`), so long text never
    /// passes through tmux's command line, and the record keeps the short form.
    pub arg_files: Vec<(usize, PathBuf)>,
    /// Where a terminal agent that does not read its terminal (`stdin` given) logs its whole
    /// output; `None` means `terminal.log` in the agent's directory.
    pub log: Option<PathBuf>,
    /// How its standard output is shown.
    pub render: Render,
}

/// An agent about to be started or adopted: its checked request, id and files.
struct Prepared {
    id: AgentId,
    cwd: PathBuf,
    dir: PathBuf,
    exit_file: PathBuf,
    /// Where the wrapper writes the command's environment for it to read, when it has one.
    env_file: Option<PathBuf>,
    /// Where its output is logged, when it is.
    log: Option<PathBuf>,
    /// The wrapper's command line around the request's command.
    wrapped: Vec<String>,
}

/// Checks a request and builds its wrapper command line; `id` is the agent's. The working
/// directory must exist for a start; an adoption takes it as recorded (an agent that closed its
/// task out while no daemon watched has had its worktree removed).
fn prepare(
    config: &Config,
    qcold: &Path,
    request: &StartRequest,
    id: AgentId,
    starting: bool,
) -> Result<Prepared, AgentError> {
    let cwd = match request.cwd.canonicalize().ok().filter(|p| p.is_dir()) {
        Some(cwd) => cwd,
        None if !starting => request.cwd.clone(),
        None => return Err(AgentError::BadCwd(request.cwd.clone())),
    };
    let dir = config.state_dir.join("agents").join(id.as_str());
    let exit_file = dir.join("exit-code");
    let mut wrapped = vec![
        qcold.to_string_lossy().into_owned(),
        "agent-run".into(),
        "--exit-file".into(),
        exit_file.to_string_lossy().into_owned(),
    ];
    let mut flag = |name: &str, value: &Path| wrapped.extend([name.to_owned(), value.to_string_lossy().into_owned()]);
    if let Some(stdin) = &request.stdin {
        flag("--stdin-file", stdin);
    }
    // Values may be keys: they go through a file only the owner reads, never the command line.
    let env_file = (!request.env.is_empty()).then(|| dir.join("env.json"));
    if let Some(file) = &env_file {
        flag("--env-file", file);
    }
    for (index, file) in &request.arg_files {
        flag("--arg-file", Path::new(&format!("{index}={}", file.to_string_lossy())));
    }
    // A terminal agent that reads its terminal keeps it to itself; any other is logged.
    let log = (request.terminal && request.stdin.is_some())
        .then(|| request.log.clone().unwrap_or_else(|| dir.join("terminal.log")));
    if let Some(log) = &log {
        flag("--log", log);
    }
    if request.render != Render::Plain {
        flag("--render", Path::new(request.render.name()));
    }
    if request.terminal {
        wrapped.push("--keep-screen".into());
    }
    wrapped.push("--".into());
    wrapped.extend(request.argv.iter().cloned());
    Ok(Prepared { id, cwd, dir, exit_file, env_file, log, wrapped })
}

/// Starts an agent. `qcold` is the binary the wrapper runs as (`qcold agent-run …`).
///
/// Files an earlier agent with the same id left (its exit code, its pid) are removed first, so
/// the new agent is never judged by them. The record is written after the process started; a
/// caller that must survive a crash in between names the id itself and looks for the agent
/// with [`adopt::adopt`] before starting it again.
pub fn start(
    config: &Config,
    store: &mut Store,
    qcold: &Path,
    request: &StartRequest,
    now: i64,
) -> Result<AgentRecord, AgentError> {
    let program = request.argv.first().filter(|p| !p.is_empty()).ok_or(AgentError::EmptyCommand)?;
    if request.track.is_empty() || request.track.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AgentError::BadTrack(request.track.clone()));
    }
    let id = match &request.id {
        Some(id) if store.agent_exists(id)? => return Err(AgentError::IdTaken(id.to_string())),
        Some(id) => id.clone(),
        None => generate_id(store, &request.track, now)?,
    };
    let Prepared { id, cwd, dir, exit_file, env_file, log, wrapped } = prepare(config, qcold, request, id, true)?;
    if !is_runnable(program, &cwd) {
        return Err(AgentError::NotFound(program.clone()));
    }
    check_arg_files(request)?;
    if request.terminal {
        Tmux::check_installed()?;
    }
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    adopt::clear_stale(config, &id)?;
    if let Some(file) = &env_file {
        wrapper::write_env(file, &request.env).map_err(io(format!("cannot write {}", file.display())))?;
    }

    let (pid, terminal, stdout_log, stderr_log) = if request.terminal {
        let session = agent::session_name(&id);
        let pid = Tmux::new(&config.state_dir).new_session(&session, &cwd, &wrapped)?;
        await_exec(pid, &exit_file.to_string_lossy());
        crate::fault::point(config, crate::fault::AFTER_SESSION_START);
        let log = log.map(|p| p.to_string_lossy().into_owned());
        (pid, Some(Terminal { target: format!("{session}:0.0"), session }), log, None)
    } else {
        let stdout_log = dir.join("stdout.log");
        let stderr_log = dir.join("stderr.log");
        let open = |path: &Path| std::fs::File::create(path).map_err(io(format!("cannot create {}", path.display())));
        let child = Command::new(&wrapped[0])
            .args(&wrapped[1..])
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(open(&stdout_log)?)
            .stderr(open(&stderr_log)?)
            // Its own process group, so a stop reaches everything it starts.
            .process_group(0)
            .spawn()
            .map_err(io(format!("cannot start {program}")))?;
        await_exec(child.id(), &exit_file.to_string_lossy());
        let display = |p: PathBuf| Some(p.to_string_lossy().into_owned());
        (child.id(), None, display(stdout_log), display(stderr_log))
    };
    let record = AgentRecord {
        id,
        track: request.track.clone(),
        name: request.name.clone(),
        scope: None,
        argv: request.argv.clone(),
        cwd: cwd.to_string_lossy().into_owned(),
        pid,
        // The wrapper leads its group: `process_group(0)` for detached agents, tmux's setsid for panes.
        pgid: pid,
        terminal,
        stdout_log,
        stderr_log,
        exit_file: exit_file.to_string_lossy().into_owned(),
        started_at: now,
        exited_at: None,
        exit_code: None,
    };
    store.insert_agent(&record)?;
    Ok(record)
}

/// Refuses a request whose arguments, once the wrapper filled them from their files, the OS
/// would refuse to pass (`E2BIG`): better said now than by a wrapper that cannot run its command.
fn check_arg_files(request: &StartRequest) -> Result<(), AgentError> {
    for (index, path) in &request.arg_files {
        let bytes = std::fs::metadata(path).map_err(io(format!("cannot read {}", path.display())))?.len();
        let Some(arg) = request.argv.get(*index) else { continue };
        qcold_core::agent::command::check_fits(std::slice::from_ref(arg), usize::try_from(bytes).unwrap_or(usize::MAX))
            .map_err(|source| AgentError::TooLong {
                path: path.clone(),
                source: qcold_core::agent::command::TooLong { index: *index, ..source },
            })?;
    }
    Ok(())
}

/// Waits (up to five seconds) until `pid` runs the wrapper and the wrapper has recorded its pid.
/// Until its exec is through, a new process's command line is its parent's (a tmux pane is
/// forked, then execs) or empty (a spawned child's spawner goes on once the exec has begun, before
/// the new arguments are in place), and an agent looked at in that instant would be judged
/// vanished and stored as ended. The wrapper records its pid once it takes the hang-up and stop
/// signals, so an agent is never seen started while a signal meant for its command would still
/// end its wrapper (a tmux server killed in that instant).
pub(crate) fn await_exec(pid: u32, exit_file: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let ready = || {
        procs::cmdline(pid).iter().any(|a| a == exit_file) && wrapper::recorded_pid(Path::new(exit_file)) == Some(pid)
    };
    while procs::alive(pid) && !ready() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Every agent with its state.
pub fn list(store: &Store) -> Result<Vec<AgentView>, AgentError> {
    Ok(store.agents()?.into_iter().map(view).collect())
}

/// [`list`], recording in the store the exit of every agent it finds ended that has none yet
/// (when its exit file was written, or now for a vanished one): a recorded agent's state is read
/// off its record, with no look at `/proc` or its files, so the agents that ever ran cost the
/// daemon's reloads and node samples nothing once they end.
pub fn list_recording_exits(store: &mut Store) -> Result<Vec<AgentView>, AgentError> {
    let mut views = list(store)?;
    for view in views.iter_mut().filter(|v| v.state != AgentState::Running && v.agent.exited_at.is_none()) {
        let code = match view.state {
            AgentState::Exited { code } => Some(code),
            AgentState::Running | AgentState::Vanished => None,
        };
        let written = std::fs::metadata(&view.agent.exit_file)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok());
        let at = written.filter(|_| code.is_some()).unwrap_or_else(crate::unix_now);
        store.set_agent_exit(&view.agent.id, at, code)?;
        view.agent.exited_at = Some(at);
        view.agent.exit_code = view.agent.exit_code.or(code);
    }
    Ok(views)
}

/// Derives an agent's state from its exit file and its wrapper's liveness.
pub fn view(agent: AgentRecord) -> AgentView {
    let code = agent.exit_code.or_else(|| wrapper::recorded(Path::new(&agent.exit_file)));
    let alive = agent.exited_at.is_none() && is_our_wrapper(&agent);
    AgentView { state: agent::state(code, alive), agent }
}

/// How long after its start a terminal agent's pane may still be on its way to running the
/// wrapper (tmux forks the pane, then execs): a loaded host can take seconds.
const EXEC_GRACE_SECS: i64 = 60;

/// Whether the agent's pid still is its wrapper (and not a reused pid). A young pid whose
/// wrapper has not yet recorded itself is a pane about to exec it, not a vanished agent.
fn is_our_wrapper(agent: &AgentRecord) -> bool {
    if !procs::alive(agent.pid) {
        return false;
    }
    if procs::cmdline(agent.pid).iter().any(|a| a == &agent.exit_file) {
        return true;
    }
    let exit_file = Path::new(&agent.exit_file);
    agent.terminal.is_some()
        && !wrapper::pid_file(exit_file).exists()
        && wrapper::recorded(exit_file).is_none()
        && crate::unix_now() - agent.started_at < EXEC_GRACE_SECS
}

/// Finds the agent a selector names.
pub fn find(store: &Store, selector: &str) -> Result<AgentRecord, AgentError> {
    let agents = store.agents()?;
    Ok(agent::select(&agents, selector)?.clone())
}

/// Ends an agent's whole process tree — SIGTERM, then SIGKILL after a grace period — and its
/// terminal session; returns how many processes it ended. Fails if anything survives.
pub fn stop(config: &Config, store: &mut Store, selector: &str, now: i64) -> Result<(AgentRecord, usize), AgentError> {
    let agent = find(store, selector)?;
    let root = if is_our_wrapper(&agent) { agent.pid } else { 0 };
    let mut targets = procs::tree(root, agent.pgid, &agent.exit_file);
    let count = targets.len();
    if let Some(terminal) = &agent.terminal {
        let tmux = Tmux::new(&config.state_dir);
        if tmux.has_session(&terminal.session) {
            tmux.kill_session(&terminal.session)?;
        }
    }
    for signal in [nix::sys::signal::Signal::SIGTERM, nix::sys::signal::Signal::SIGKILL] {
        for pid in &targets {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(*pid).unwrap_or(i32::MAX)), signal);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            // Re-read the tree: a dying process may have forked, or been reparented into the group.
            targets.retain(|p| procs::alive(*p));
            targets.extend(procs::tree(0, agent.pgid, &agent.exit_file));
            if targets.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if targets.is_empty() {
            break;
        }
    }
    if !targets.is_empty() {
        return Err(AgentError::Survivors {
            id: agent.id.to_string(),
            count: targets.len(),
            pids: targets.into_iter().collect(),
        });
    }
    store.set_agent_exit(&agent.id, now, wrapper::recorded(Path::new(&agent.exit_file)))?;
    Ok((agent, count))
}

/// Removes agents that are no longer running and ended (or started) more than `max_age` ago,
/// with their logs and any leftover terminal. Returns what was (or would be) removed.
pub fn prune(
    config: &Config,
    store: &mut Store,
    max_age: Duration,
    dry_run: bool,
    now: i64,
) -> Result<Vec<AgentView>, AgentError> {
    let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    let tmux = Tmux::new(&config.state_dir);
    let mut pruned = Vec::new();
    for view in list(store)? {
        let ended = view.agent.exited_at.unwrap_or(view.agent.started_at);
        if view.state == AgentState::Running || now - ended < max_age {
            continue;
        }
        if !dry_run {
            if let Some(terminal) = &view.agent.terminal
                && tmux.has_session(&terminal.session)
            {
                tmux.kill_session(&terminal.session)?;
            }
            let dir = config.state_dir.join("agents").join(view.agent.id.as_str());
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(io(format!("cannot remove {}", dir.display())))?;
            }
            store.delete_agent(&view.agent.id)?;
        }
        pruned.push(view);
    }
    Ok(pruned)
}

/// Sets or clears an agent's name and scope labels.
pub fn label(
    store: &mut Store,
    selector: &str,
    name: Option<&str>,
    scope: Option<&str>,
) -> Result<AgentRecord, AgentError> {
    let agent = find(store, selector)?;
    let clean =
        |v: Option<&str>| v.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty());
    store.set_agent_labels(&agent.id, clean(name).as_deref(), clean(scope).as_deref())?;
    find(store, agent.id.as_str())
}

/// The last `lines` lines of an agent's terminal (colours kept) while it lasts, else of its log.
pub fn tail(config: &Config, agent: &AgentRecord, lines: u32) -> Result<String, AgentError> {
    let live = agent.terminal.as_ref().filter(|t| Tmux::new(&config.state_dir).has_session(&t.session));
    match (live, &agent.terminal, &agent.stdout_log) {
        (Some(terminal), _, _) => Ok(Tmux::new(&config.state_dir).capture(&terminal.target, lines)?),
        // An agent that kept its terminal to itself: the screen its wrapper kept at the end.
        (None, Some(_), None) => match wrapper::kept_screen(Path::new(&agent.exit_file)) {
            Some(screen) => Ok(screen.tail(lines as usize)),
            None => Err(AgentError::TerminalGone(agent.id.to_string())),
        },
        (None, _, Some(log)) => {
            let text = std::fs::read_to_string(log).map_err(io(format!("cannot read {log}")))?;
            let all: Vec<&str> = text.lines().collect();
            Ok(all[all.len().saturating_sub(lines as usize)..].join("\n"))
        }
        (None, None, None) => Ok(String::new()),
    }
}

/// What to type into a terminal.
#[derive(Debug, Clone)]
pub enum Input {
    /// Paste the text and press Enter.
    Submit(String),
    /// Type the text; do not press Enter.
    Literal(String),
    /// Press a key.
    Key(Key),
}

/// Types into an agent's terminal.
pub fn send(config: &Config, agent: &AgentRecord, input: &Input) -> Result<(), AgentError> {
    let terminal = agent.terminal.as_ref().ok_or_else(|| AgentError::NoTerminal(agent.id.to_string()))?;
    let tmux = Tmux::new(&config.state_dir);
    if !tmux.has_session(&terminal.session) {
        return Err(AgentError::TerminalGone(agent.id.to_string()));
    }
    if matches!(input, Input::Submit(_) | Input::Literal(_))
        && let Some(source) = command_stdin(agent).filter(|s| !is_terminal_device(s))
    {
        return Err(AgentError::NotReading { id: agent.id.to_string(), input: source.display().to_string() });
    }
    match input {
        Input::Submit(text) | Input::Literal(text) if text.is_empty() => Err(AgentError::EmptyText),
        Input::Submit(text) => Ok(tmux.paste(&terminal.target, &format!("qcold-{}", agent.id), text, true)?),
        Input::Literal(text) => Ok(tmux.literal(&terminal.target, text)?),
        Input::Key(key) => Ok(tmux.key(&terminal.target, *key)?),
    }
}

/// Where the agent's command reads its standard input from, while its wrapper runs: the
/// wrapper's `--stdin-file`, which it gives the command before starting it (so the answer holds
/// from the wrapper's first instant, before the command exists); `None` for the terminal.
fn command_stdin(agent: &AgentRecord) -> Option<PathBuf> {
    if !is_our_wrapper(agent) {
        return None;
    }
    let argv = procs::cmdline(agent.pid);
    let own = argv.iter().take_while(|a| *a != "--");
    own.skip_while(|a| *a != "--stdin-file").nth(1).map(PathBuf::from)
}

/// Whether a file is a terminal device (a pane's pseudo-terminal).
fn is_terminal_device(path: &Path) -> bool {
    path.starts_with("/dev/pts") || path.starts_with("/dev/tty")
}

/// The command that attaches the operator's terminal to an agent's session.
pub fn attach_command(config: &Config, agent: &AgentRecord) -> Result<Command, AgentError> {
    let terminal = agent.terminal.as_ref().ok_or_else(|| AgentError::NoTerminal(agent.id.to_string()))?;
    let tmux = Tmux::new(&config.state_dir);
    if !tmux.has_session(&terminal.session) {
        return Err(AgentError::TerminalGone(agent.id.to_string()));
    }
    Ok(tmux.attach_command(&terminal.session))
}

/// Whether `program` can be executed from `cwd`: a path to an executable file, or a name on PATH.
fn is_runnable(program: &str, cwd: &Path) -> bool {
    if program.contains('/') { is_executable(&cwd.join(program)) } else { on_path(program) }
}

/// Whether an executable file named `program` is in a directory on PATH.
pub(crate) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program))))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `<track>-<base36 time>`, with a counter when that is taken.
fn generate_id(store: &Store, track: &str, now: i64) -> Result<AgentId, AgentError> {
    let track: String =
        track.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(40).collect();
    let track = track.trim_start_matches('-');
    let time = base36(u64::try_from(now).unwrap_or(0));
    let stem = if track.is_empty() { format!("agent-{time}") } else { format!("{track}-{time}") };
    for candidate in numbered(&stem, 1) {
        let id = AgentId::new(candidate).map_err(|e| AgentError::BadTrack(e.to_string()))?;
        if !store.agent_exists(&id)? {
            return Ok(id);
        }
    }
    unreachable!("the candidates never end")
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;

    use super::*;

    /// A terminal agent whose pid is this test process: alive, and never the wrapper.
    fn pane(dir: &Path, started_at: i64) -> AgentRecord {
        AgentRecord {
            id: "q-pane".parse().unwrap(),
            track: "t".into(),
            name: None,
            scope: None,
            argv: vec!["agent".into()],
            cwd: "/".into(),
            pid: std::process::id(),
            pgid: std::process::id(),
            terminal: Some(Terminal { session: "qcold-q-pane".into(), target: "qcold-q-pane:0.0".into() }),
            stdout_log: None,
            stderr_log: None,
            exit_file: dir.join("exit-code").to_string_lossy().into_owned(),
            started_at,
            exited_at: None,
            exit_code: None,
        }
    }

    #[test]
    fn an_ended_agent_is_recorded_once_and_then_read_off_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state"), Duration::from_secs(5)).unwrap();
        let running = pane(dir.path(), crate::unix_now());
        store.insert_agent(&running).unwrap();
        let exited_dir = dir.path().join("exited");
        std::fs::create_dir_all(&exited_dir).unwrap();
        // A pid that cannot be alive, and the exit code its wrapper wrote.
        let exited = AgentRecord {
            id: "q-exited".parse().unwrap(),
            pid: u32::MAX / 2,
            pgid: u32::MAX / 2,
            terminal: None,
            ..pane(&exited_dir, crate::unix_now() - 100)
        };
        std::fs::write(&exited.exit_file, "7\n").unwrap();
        store.insert_agent(&exited).unwrap();

        let views = list_recording_exits(&mut store).unwrap();
        let state = |id: &str| views.iter().find(|v| v.agent.id.as_str() == id).unwrap().state;
        assert_eq!(state("q-pane"), AgentState::Running);
        assert_eq!(state("q-exited"), AgentState::Exited { code: 7 });
        let stored = find(&store, "q-exited").unwrap();
        assert_eq!(stored.exit_code, Some(7), "the exit is in the store");
        assert!(stored.exited_at.is_some_and(|at| at <= crate::unix_now()));
        assert_eq!(find(&store, "q-pane").unwrap().exited_at, None, "a running agent is left alone");

        // From now on its record answers: the exit file is no longer needed.
        std::fs::remove_file(&exited.exit_file).unwrap();
        assert_eq!(view(stored).state, AgentState::Exited { code: 7 });
    }

    /// Starts `sleep 60` as the leader of a process group of its own, with `env` added.
    fn group_leader(env: &[(&str, &str)]) -> std::process::Child {
        Command::new("sleep").arg("60").envs(env.iter().copied()).process_group(0).spawn().expect("sleep starts")
    }

    #[test]
    fn a_stop_ends_the_agents_marked_orphans_and_never_a_stranger_that_took_its_group_id() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path().join("state"), "test");
        let mut store = Store::open(&config.state_dir, Duration::from_secs(5)).unwrap();
        let ended = |id: &str, pgid: u32| AgentRecord {
            id: id.parse().unwrap(),
            // Its wrapper is gone; its group id is all that is left of it.
            pid: u32::MAX / 2,
            pgid,
            terminal: None,
            ..pane(dir.path(), crate::unix_now())
        };

        // The kernel handed the ended agent's group id to a stranger's group.
        let mut stranger = group_leader(&[]);
        store.insert_agent(&ended("q-gone", stranger.id())).unwrap();
        let (_, ended_count) = stop(&config, &mut store, "q-gone", crate::unix_now()).unwrap();
        assert_eq!(ended_count, 0, "nothing of the agent is left to end");
        assert_eq!(stranger.try_wait().unwrap(), None, "the stranger leading that group lives on");
        let _ = stranger.kill();
        let _ = stranger.wait();

        // An orphan of the agent itself carries its mark: a stop ends it.
        let exit_file = ended("q-orphaned", 0).exit_file;
        let mut orphan = group_leader(&[(wrapper::MARK_ENV, exit_file.as_str())]);
        store.insert_agent(&ended("q-orphaned", orphan.id())).unwrap();
        let (_, ended_count) = stop(&config, &mut store, "q-orphaned", crate::unix_now()).unwrap();
        assert_eq!(ended_count, 1, "the orphan was the agent's");
        assert!(orphan.wait().unwrap().signal().is_some(), "the orphan was signalled");
    }

    /// A detached agent is seen running the moment its start returns. The kernel lets a spawner
    /// go on once the child's exec has begun, before the new program's arguments are in place:
    /// in that window `/proc/<pid>/cmdline` is empty, and an agent looked at then (the daemon
    /// reads the agents as soon as one is written) was judged vanished and stored as ended.
    #[test]
    fn a_detached_agent_is_seen_running_the_moment_its_start_returns() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path().join("state"), "test");
        let mut store = Store::open(&config.state_dir, Duration::from_secs(5)).unwrap();
        // A stand-in for `qcold agent-run --exit-file F ...`: records its pid beside F as the
        // wrapper does, and stays a shell (its command line names F) while it waits.
        let wrapper = dir.path().join("wrapper");
        std::fs::write(&wrapper, "#!/bin/sh\necho $$ > \"${3%/*}/wrapper.pid\"\nsleep 30; :\n").unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut started = Vec::new();
        for n in 0..40 {
            let request = StartRequest {
                track: "t".into(),
                id: Some(format!("q-detached-{n}").parse().unwrap()),
                name: None,
                cwd: dir.path().to_owned(),
                terminal: false,
                env: Vec::new(),
                stdin: None,
                argv: vec!["true".into()],
                arg_files: Vec::new(),
                log: None,
                render: Render::default(),
            };
            let record = start(&config, &mut store, &wrapper, &request, crate::unix_now()).unwrap();
            started.push(record.pgid);
            let seen = view(record);
            assert_eq!(seen.state, AgentState::Running, "start {n}: {seen:?}");
        }
        for pgid in started {
            let _ =
                nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), nix::sys::signal::Signal::SIGKILL);
        }
    }

    #[test]
    fn a_pane_about_to_exec_its_wrapper_is_not_judged_vanished() {
        let dir = tempfile::tempdir().unwrap();
        let now = crate::unix_now();
        assert!(is_our_wrapper(&pane(dir.path(), now)), "young, no wrapper record yet: starting");
        assert!(!is_our_wrapper(&pane(dir.path(), now - 2 * EXEC_GRACE_SECS)), "past the grace: a reused pid");
        std::fs::write(dir.path().join("wrapper.pid"), "1\n").unwrap();
        assert!(!is_our_wrapper(&pane(dir.path(), now)), "the wrapper ran: only its command line counts");
    }
}
