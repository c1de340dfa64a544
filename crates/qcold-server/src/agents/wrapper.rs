//! The agent wrapper: the root process of every agent (`qcold agent-run --exit-file F -- CMD…`).
//!
//! It runs the command, waits for it and writes its exit code to the exit file, so liveness and
//! outcome never depend on reading a screen. It survives the group-wide SIGTERM/SIGINT/SIGHUP
//! that stop an agent (the command still receives them) so the code is always recorded, and it is
//! a child subreaper, so processes the command leaves behind stay in its tree until `agent stop`.
//!
//! Text too long for tmux's command line (a packet given as `{packet}`) arrives as a file
//! (`--arg-file N=PATH`) and is put into the command's argument N here, just before it runs.

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Runs `argv` (with standard input from `stdin_file` when given, `env` added to its
/// environment, and each `{packet}` in argument `i` replaced by the contents of the file of
/// `(i, file)` in `arg_files`), records its exit code in `exit_file`, and returns the code. The
/// environment is applied here rather than by tmux, whose `new-session -e` does not reliably
/// override `PATH`.
pub fn run(
    exit_file: &Path,
    stdin_file: Option<&Path>,
    env: &[(String, String)],
    arg_files: &[(usize, PathBuf)],
    argv: &[String],
) -> i32 {
    let _ = nix::sys::prctl::set_child_subreaper(true);
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP] {
        // A registered handler replaces the default "terminate"; exec resets it for the command.
        let _ = signal_hook::flag::register(signal, Arc::new(AtomicBool::new(false)));
    }
    // The pid names this agent's process tree to a daemon that adopts it after a crash.
    let _ = std::fs::write(pid_file(exit_file), format!("{}\n", std::process::id()));
    let code = match fill(argv, arg_files) {
        Err(message) => {
            eprintln!("qcold agent-run: {message}");
            127
        }
        Ok(argv) => exec_and_wait(&argv, stdin_file, env),
    };
    let tmp = exit_file.with_extension("tmp");
    if std::fs::write(&tmp, format!("{code}\n")).and_then(|()| std::fs::rename(&tmp, exit_file)).is_err() {
        eprintln!("qcold agent-run: cannot record exit code {code} in {}", exit_file.display());
    }
    code
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
fn exec_and_wait(argv: &[String], stdin_file: Option<&Path>, env: &[(String, String)]) -> i32 {
    match argv.split_first() {
        None => {
            eprintln!("qcold agent-run: no command given");
            127
        }
        Some((program, args)) => match spawn(program, args, stdin_file, env) {
            Ok(mut child) => loop {
                match child.wait() {
                    Ok(status) => break status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        eprintln!("qcold agent-run: lost track of {program}: {e}");
                        break 125;
                    }
                }
            },
            Err(e) => {
                eprintln!("qcold agent-run: cannot start {program}: {e}");
                127
            }
        },
    }
}

fn spawn(
    program: &str,
    args: &[String],
    stdin_file: Option<&Path>,
    env: &[(String, String)],
) -> std::io::Result<std::process::Child> {
    let mut cmd = Command::new(program);
    // A fault point armed for the daemon is not the agent's: its closeouts would crash too.
    cmd.args(args).env_remove(crate::fault::ENV).envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(path) = stdin_file {
        cmd.stdin(std::fs::File::open(path)?);
    }
    cmd.spawn()
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
