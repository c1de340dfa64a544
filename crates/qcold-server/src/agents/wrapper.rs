//! The agent wrapper: the root process of every agent (`qcold agent-run --exit-file F -- CMD…`).
//!
//! It runs the command, waits for it and writes its exit code to the exit file, so liveness and
//! outcome never depend on reading a screen. It survives the group-wide SIGTERM/SIGINT/SIGHUP
//! that stop an agent (the command still receives them) so the code is always recorded, and it is
//! a child subreaper, so processes the command leaves behind stay in its tree until `agent stop`.
//!
//! Text too long for tmux's command line (a packet given as `{packet}`) arrives as a file
//! (`--arg-file N=PATH`) and is put into the command's argument N here, just before it runs.
//! The command's own environment arrives the same way (`--env-file`, read and removed at once),
//! so its secrets never show in a process listing.
//!
//! With `--log`, everything the command writes goes to the terminal and to the log from the
//! first byte ([`super::tee`]); the log outlives the terminal. With `--render`, its standard
//! output is shown rendered (Claude Code's JSON stream as text).

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::Duration;

use qcold_core::agent::stream::Render;

use super::tee::{self, Log};

/// What the wrapper is told besides the command.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where to write the exit code.
    pub exit_file: PathBuf,
    /// The command's standard input; `None` keeps the wrapper's (the terminal).
    pub stdin_file: Option<PathBuf>,
    /// A file of `[[key, value], …]` (JSON) added to the command's environment; removed once read.
    pub env_file: Option<PathBuf>,
    /// `(i, file)`: each `{packet}` in argument `i` is replaced by the contents of `file`.
    pub arg_files: Vec<(usize, PathBuf)>,
    /// Where the command's output is logged as well as shown.
    pub log: Option<PathBuf>,
    /// How its standard output is shown.
    pub render: Render,
    /// In a terminal pane: keep the screen the command leaves in [`screen_file`].
    pub keep_screen: bool,
}

/// Runs `argv` as `options` say, records its exit code in the exit file, and returns the code.
/// The environment is applied here rather than by tmux, whose `new-session -e` does not reliably
/// override `PATH`.
pub fn run(options: &Options, argv: &[String]) -> i32 {
    let _ = nix::sys::prctl::set_child_subreaper(true);
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP] {
        // A registered handler replaces the default "terminate"; exec resets it for the command.
        let _ = signal_hook::flag::register(signal, Arc::new(AtomicBool::new(false)));
    }
    let exit_file = &options.exit_file;
    // The pid names this agent's process tree to a daemon that adopts it after a crash.
    let _ = std::fs::write(pid_file(exit_file), format!("{}\n", std::process::id()));
    let log = options.log.as_deref().and_then(Log::open);
    let code = match read_env(options.env_file.as_deref()).and_then(|env| Ok((env, fill(argv, &options.arg_files)?))) {
        Err(message) => {
            tee::say(log.as_ref(), &message);
            127
        }
        Ok((env, argv)) => exec_and_wait(&argv, options, &env, log.as_ref()),
    };
    if options.keep_screen {
        keep_screen(exit_file, log.as_ref());
    }
    let tmp = exit_file.with_extension("tmp");
    if std::fs::write(&tmp, format!("{code}\n")).and_then(|()| std::fs::rename(&tmp, exit_file)).is_err() {
        tee::say(log.as_ref(), &format!("cannot record exit code {code} in {}", exit_file.display()));
    }
    code
}

/// How long the wrapper waits for its terminal's output to reach tmux before keeping the screen.
const SCREEN_DRAIN: Duration = Duration::from_secs(1);

/// Keeps the pane's screen as the command left it in [`screen_file`], before the exit code is
/// recorded (so whoever sees the exit finds the screen too) and while the pane still exists.
///
/// tmux hands a pane's output to an attached control client a moment after reading it, and when
/// the pane closes it drops what it had not handed over yet: a command that writes its last lines
/// and exits at once would leave a live terminal without them. The kept screen is what the
/// terminal shows once the session ends ([`crate::http`]'s terminal socket sends it last).
/// The output is drained to tmux first (for at most [`SCREEN_DRAIN`]: a tmux that stopped reading
/// the pane must not hold the exit code back); then the screen is captured, each capture one tmux
/// call under its deadline, until two in a row agree (for at most twice [`SCREEN_DRAIN`] in all).
fn keep_screen(exit_file: &Path, log: Option<&Log>) {
    let Some((tmux, pane)) = super::tmux::Tmux::of_this_pane() else { return };
    let (drained, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = nix::sys::termios::tcdrain(std::io::stdout());
        let _ = drained.send(());
    });
    let started = std::time::Instant::now();
    let _ = done.recv_timeout(SCREEN_DRAIN);
    // A drained pty has handed its output to tmux, which may not have painted it yet: the screen
    // is taken again until two captures agree (within the same bound).
    let mut screen = tmux.screen(&pane);
    while started.elapsed() < SCREEN_DRAIN * 2 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let again = tmux.screen(&pane);
        let settled = matches!((&screen, &again), (Ok(a), Ok(b)) if a == b);
        screen = again;
        if settled {
            break;
        }
    }
    let file = screen_file(exit_file);
    let tmp = file.with_extension("tmp");
    let kept = screen.map_err(|e| e.to_string()).and_then(|screen| {
        std::fs::write(&tmp, screen).and_then(|()| std::fs::rename(&tmp, &file)).map_err(|e| e.to_string())
    });
    if let Err(e) = kept {
        tee::say(log, &format!("cannot keep the last screen in {}: {e}", file.display()));
    }
}

/// Reads (and removes) the environment file.
fn read_env(file: Option<&Path>) -> Result<Vec<(String, String)>, String> {
    let Some(file) = file else { return Ok(Vec::new()) };
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let _ = std::fs::remove_file(file);
    serde_json::from_str(&text).map_err(|e| format!("{} is not an environment file: {e}", file.display()))
}

/// Writes `env` where [`read_env`] reads it: a file only its owner can read, since values may
/// be keys.
pub fn write_env(file: &Path, env: &[(String, String)]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(file);
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file)?;
    out.write_all(serde_json::to_string(env).map_err(std::io::Error::other)?.as_bytes())
}

/// `argv` with the files of `arg_files` read into their arguments.
fn fill(argv: &[String], arg_files: &[(usize, PathBuf)]) -> Result<Vec<String>, String> {
    let mut argv = argv.to_vec();
    for (index, file) in arg_files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let arg =
            argv.get_mut(*index).ok_or_else(|| format!("--arg-file {index}: the command has no argument {index}"))?;
        *arg = qcold_core::agent::command::fill(arg, &text);
    }
    Ok(argv)
}

/// Runs the command and waits for it; its exit code, or 127 when it cannot start.
fn exec_and_wait(argv: &[String], options: &Options, env: &[(String, String)], log: Option<&Log>) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        tee::say(log, "no command given");
        return 127;
    };
    // Output is copied (and rendered) only when it must be: an interactive command keeps the
    // terminal itself.
    let copied = log.is_some() || options.render != Render::Plain;
    let (mut child, merged) = match spawn(program, args, options, env, copied) {
        Ok(spawned) => spawned,
        Err(e) => {
            tee::say(log, &format!("cannot start {program}: {e}"));
            return 127;
        }
    };
    let copiers = tee::start(&mut child, merged, log, options.render);
    let code = loop {
        match child.wait() {
            Ok(status) => break status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tee::say(log, &format!("lost track of {program}: {e}"));
                break 125;
            }
        }
    };
    copiers.finish();
    code
}

/// Starts the command. Copied output that is shown as it is comes through one pipe for both
/// standard output and error, so its lines keep their order; rendered standard output has its
/// own.
fn spawn(
    program: &str,
    args: &[String],
    options: &Options,
    env: &[(String, String)],
    copied: bool,
) -> std::io::Result<(std::process::Child, Option<std::io::PipeReader>)> {
    let mut cmd = Command::new(program);
    // A fault point armed for the daemon is not the agent's: its closeouts would crash too.
    cmd.args(args).env_remove(crate::fault::ENV).envs(env.iter().map(|(k, v)| (k, v)));
    // Every process of the agent inherits its mark, so a stop can tell them from strangers that
    // came to share the agent's process group id once all of its own processes had ended.
    cmd.env(MARK_ENV, &options.exit_file);
    if let Some(path) = &options.stdin_file {
        cmd.stdin(std::fs::File::open(path)?);
    }
    let mut merged = None;
    if copied && options.render == Render::Plain {
        let (reader, writer) = std::io::pipe()?;
        cmd.stdout(writer.try_clone()?).stderr(writer);
        merged = Some(reader);
    } else if copied {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    // `cmd`, and with it this process's copy of the pipe's writing end, is dropped on return, so
    // the reader sees the end of the output when the command's last process closes it.
    Ok((cmd.spawn()?, merged))
}

/// The variable each agent's command (and so all it starts) carries, set to the agent's exit
/// file: unique to one agent of one state dir, and already in its record.
pub const MARK_ENV: &str = "QCOLD_AGENT_EXIT_FILE";

/// Where the wrapper with this exit file keeps its terminal's last screen ([`Tmux::screen`]'s
/// text): next to the exit file.
///
/// [`Tmux::screen`]: super::tmux::Tmux::screen
pub fn screen_file(exit_file: &Path) -> PathBuf {
    exit_file.with_file_name("last-screen")
}

/// The last screen the wrapper with this exit file kept, if it kept one.
pub fn kept_screen(exit_file: &Path) -> Option<super::tmux::Screen> {
    super::tmux::Screen::parse(&std::fs::read_to_string(screen_file(exit_file)).ok()?)
}

/// Where the wrapper with this exit file records its pid: next to the exit file.
pub fn pid_file(exit_file: &Path) -> PathBuf {
    exit_file.with_file_name("wrapper.pid")
}

/// Reads the pid the wrapper recorded.
pub fn recorded_pid(exit_file: &Path) -> Option<u32> {
    std::fs::read_to_string(pid_file(exit_file)).ok()?.trim().parse().ok()
}

/// Reads a recorded exit code.
pub fn recorded(exit_file: &Path) -> Option<i32> {
    std::fs::read_to_string(exit_file).ok()?.trim().parse().ok()
}
