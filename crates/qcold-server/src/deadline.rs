//! Child processes with a deadline: run, wait, and kill the whole process group when time is up.

use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// How a command with a deadline ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It exited by itself.
    Exited(ExitStatus),
    /// The deadline passed; its process group was killed.
    TimedOut,
}

/// Spawns `cmd` in a new process group and waits up to `timeout` for it; on timeout the whole
/// group gets SIGKILL. Stdio is whatever the caller configured on `cmd`.
pub fn run(cmd: &mut Command, timeout: Duration) -> std::io::Result<Ended> {
    let mut child = cmd.process_group(0).spawn()?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Ended::Exited(status));
        }
        if started.elapsed() > timeout {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.wait();
            return Ok(Ended::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
