//! Child processes with a deadline: run, wait, and kill the whole process group when time is up.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
            kill_group(&mut child);
            return Ok(Ended::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What [`capture`] collected.
#[derive(Debug)]
pub struct Captured {
    /// How the command ended; a command stopped because its output filled the bound counts as
    /// exited with the status the kill gave it.
    pub ended: Ended,
    /// Its standard output, at most the bound.
    pub stdout: Vec<u8>,
    /// Whether standard output was longer than the bound (the command was killed once it was).
    pub truncated: bool,
    /// The first bytes of its standard error.
    pub stderr: Vec<u8>,
}

/// How much standard error [`capture`] keeps, for error messages.
const STDERR_BOUND: u64 = 64 * 1024;

/// Like [`run`], collecting standard output up to `max_stdout` bytes: once the command writes
/// more, its process group is killed and the output is reported as truncated, so neither a
/// stuck nor a very talkative command holds the caller longer than `timeout`.
pub fn capture(cmd: &mut Command, timeout: Duration, max_stdout: usize) -> std::io::Result<Captured> {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).spawn()?;
    let full = Arc::new(AtomicBool::new(false));
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let bound = u64::try_from(max_stdout).unwrap_or(u64::MAX).saturating_add(1);
    let out_reader = std::thread::spawn({
        let full = Arc::clone(&full);
        move || {
            let mut bytes = Vec::new();
            if let Some(stdout) = stdout {
                let _ = stdout.take(bound).read_to_end(&mut bytes);
            }
            if bytes.len() > max_stdout {
                full.store(true, Ordering::SeqCst);
            }
            bytes
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(stderr) = stderr {
            let _ = stderr.take(STDERR_BOUND).read_to_end(&mut bytes);
        }
        bytes
    });
    let started = Instant::now();
    let ended = loop {
        if let Some(status) = child.try_wait()? {
            break Ended::Exited(status);
        }
        if full.load(Ordering::SeqCst) {
            kill_group(&mut child);
            break child.try_wait()?.map_or(Ended::TimedOut, Ended::Exited);
        }
        if started.elapsed() > timeout {
            kill_group(&mut child);
            break Ended::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // The group is gone or exited, so both pipes reach their end and the readers return.
    let mut stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let truncated = stdout.len() > max_stdout;
    stdout.truncate(max_stdout);
    Ok(Captured { ended, stdout, truncated, stderr })
}

/// SIGKILL to the child's whole process group, then reaps the child.
fn kill_group(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_bounds_output_and_time() {
        let mut echo = Command::new("sh");
        echo.args(["-c", "echo out; echo err >&2"]);
        let done = capture(&mut echo, Duration::from_secs(10), 100).unwrap();
        assert!(matches!(done.ended, Ended::Exited(s) if s.success()));
        assert_eq!(
            (done.stdout.as_slice(), done.truncated, done.stderr.as_slice()),
            (&b"out\n"[..], false, &b"err\n"[..])
        );

        let started = Instant::now();
        let endless = capture(Command::new("yes").arg("y"), Duration::from_secs(30), 10_000).unwrap();
        assert!(endless.truncated && endless.stdout.len() == 10_000, "{}", endless.stdout.len());
        assert!(started.elapsed() < Duration::from_secs(10), "a full bound stops the command");

        let started = Instant::now();
        let stuck = capture(Command::new("sleep").arg("30"), Duration::from_millis(200), 100).unwrap();
        assert_eq!(stuck.ended, Ended::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10), "the deadline stops the command");
    }
}
