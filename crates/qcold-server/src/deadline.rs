//! Child processes with a deadline: run, wait, and kill the whole process group when time is up.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

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
    let watched = Watched::spawn(cmd.process_group(0))?;
    watched.wait(timeout)
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
    let mut watched =
        Watched::spawn(cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0))?;
    let (stdout, stderr) = (watched.stdout.take(), watched.stderr.take());
    let bound = u64::try_from(max_stdout).unwrap_or(u64::MAX).saturating_add(1);
    let full = watched.events.0.clone();
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(stdout) = stdout {
            let _ = stdout.take(bound).read_to_end(&mut bytes);
        }
        if bytes.len() > max_stdout {
            let _ = full.send(Heard::Full);
        }
        bytes
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(stderr) = stderr {
            let _ = stderr.take(STDERR_BOUND).read_to_end(&mut bytes);
        }
        bytes
    });
    let ended = watched.wait(timeout)?;
    // The group is gone or exited, so both pipes reach their end and the readers return.
    let mut stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let truncated = stdout.len() > max_stdout;
    stdout.truncate(max_stdout);
    Ok(Captured { ended, stdout, truncated, stderr })
}

/// What the caller of [`Watched::wait`] is woken by.
enum Heard {
    /// The child exited (and was reaped) with this status.
    Exited(std::io::Result<ExitStatus>),
    /// The child's output filled its bound.
    Full,
}

/// A child whose exit is awaited by a thread of its own, so that the caller sleeps on a channel
/// and wakes the moment the child exits, its output fills the bound, or the deadline passes:
/// a command that takes 1 ms costs 1 ms, not a polling interval. That thread is the only one
/// that reaps the child.
struct Watched {
    pid: nix::unistd::Pid,
    events: (Sender<Heard>, Receiver<Heard>),
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
}

impl Watched {
    /// Spawns `cmd` (already in its own process group). The waiting thread is started first, so
    /// a machine out of threads refuses the command instead of leaving a child no one reaps.
    fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let (hand_over, handed) = mpsc::channel::<Child>();
        let exited = sender.clone();
        std::thread::Builder::new().name("deadline-wait".to_owned()).spawn(move || {
            if let Ok(mut child) = handed.recv() {
                let _ = exited.send(Heard::Exited(child.wait()));
            }
        })?;
        let mut child = cmd.spawn()?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        if let Err(mpsc::SendError(mut child)) = hand_over.send(child) {
            // The waiting thread is gone (it cannot be, short of a panic): wait here instead.
            let _ = sender.send(Heard::Exited(child.wait()));
        }
        Ok(Self { pid, events: (sender, receiver), stdout, stderr })
    }

    /// Waits for the child's exit until `timeout`; a full output bound or the deadline kills its
    /// whole process group, and the child is reaped before this returns in every case.
    fn wait(self, timeout: Duration) -> std::io::Result<Ended> {
        let heard = self.events.1.recv_timeout(timeout);
        match heard {
            Ok(Heard::Exited(status)) => Ok(Ended::Exited(status?)),
            Ok(Heard::Full) => {
                self.kill_group();
                Ok(self.reaped()?.map_or(Ended::TimedOut, Ended::Exited))
            }
            // `self` holds a sender, so the channel cannot disconnect; treat it as the deadline.
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                self.kill_group();
                self.reaped()?;
                Ok(Ended::TimedOut)
            }
        }
    }

    /// SIGKILL to the child's whole process group.
    fn kill_group(&self) {
        let _ = nix::sys::signal::killpg(self.pid, nix::sys::signal::Signal::SIGKILL);
    }

    /// Blocks until the waiting thread has reaped the child; its status, if it reported one.
    fn reaped(&self) -> std::io::Result<Option<ExitStatus>> {
        loop {
            match self.events.1.recv() {
                Ok(Heard::Exited(status)) => return status.map(Some),
                Ok(Heard::Full) => {}
                Err(mpsc::RecvError) => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn run_reports_the_exit_and_kills_the_whole_group_at_the_deadline() {
        let ended = run(Command::new("sh").args(["-c", "exit 3"]), Duration::from_secs(10)).unwrap();
        assert!(matches!(ended, Ended::Exited(s) if s.code() == Some(3)), "{ended:?}");

        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let ended = run(Command::new("sh").args(["-c", &script]), Duration::from_millis(300)).unwrap();
        assert_eq!(ended, Ended::TimedOut);
        let grandchild: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        let gone = (0..500).any(|_| {
            // A killed process not yet reaped by whoever inherited it is a zombie: dead too.
            let zombie = std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')));
            let alive = !zombie && nix::sys::signal::kill(nix::unistd::Pid::from_raw(grandchild), None).is_ok();
            if alive {
                std::thread::sleep(Duration::from_millis(10));
            }
            !alive
        });
        assert!(gone, "the grandchild {grandchild} in the command's group was killed with it");
    }

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
