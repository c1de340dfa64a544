//! The output guard: runs a command, and replays its output and exit code — unless the output
//! grows past a limit, in which case the command is killed and only a one-line summary is
//! printed. Agents call noisy tools (`cat` of a huge file, a runaway test log); the guard keeps
//! such output from flooding their context.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;

/// The limits; either one being passed stops the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Combined stdout and stderr bytes.
    pub max_bytes: u64,
    /// Combined stdout and stderr newlines.
    pub max_lines: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_bytes: 16_384, max_lines: 400 }
    }
}

/// What the guarded command did.
#[derive(Debug)]
pub enum Guarded {
    /// It finished within the limits; its output, to replay.
    Finished {
        /// Its exit status.
        status: ExitStatus,
        /// Everything it wrote to stdout.
        stdout: Vec<u8>,
        /// Everything it wrote to stderr.
        stderr: Vec<u8>,
    },
    /// It passed a limit and was killed.
    Overflowed {
        /// Bytes seen when it was stopped.
        bytes: u64,
        /// Lines seen when it was stopped.
        lines: u64,
    },
}

impl Guarded {
    /// The tab-separated summary line printed instead of an overflowing payload.
    pub fn summary(bytes: u64, lines: u64, limits: Limits) -> String {
        format!(
            "qcold-guard\tstatus=blocked\tbytes={bytes}\tlines={lines}\tmax_bytes={}\tmax_lines={}\tmessage=output passed the guard's limit; the command was stopped and its output dropped — narrow the command (head, grep, a smaller range)",
            limits.max_bytes, limits.max_lines
        )
    }
}

/// Runs `argv` under the guard. The command gets no stdin and runs in its own process group,
/// which is killed as a whole on overflow.
pub fn run(argv: &[String], limits: Limits) -> std::io::Result<Guarded> {
    let (program, args) = argv.split_first().ok_or_else(|| std::io::Error::other("guard needs a command to run"))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
    let mut readers = Vec::new();
    for (is_err, mut pipe) in [
        (false, Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>),
        (true, Box::new(child.stderr.take().expect("piped"))),
    ] {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 || tx.send((is_err, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let (mut bytes, mut lines) = (0u64, 0u64);
    for (is_err, chunk) in rx {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        if bytes > limits.max_bytes || lines > limits.max_lines {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.wait();
            return Ok(Guarded::Overflowed { bytes, lines });
        }
        if is_err { stderr.extend(chunk) } else { stdout.extend(chunk) }
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait()?;
    Ok(Guarded::Finished { status, stdout, stderr })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn small_output_is_replayed_with_the_exit_status() {
        let Guarded::Finished { status, stdout, stderr } =
            run(&sh("echo out; echo err >&2; exit 3"), Limits::default()).unwrap()
        else {
            panic!("within limits")
        };
        assert_eq!((status.code(), stdout.as_slice(), stderr.as_slice()), (Some(3), &b"out\n"[..], &b"err\n"[..]));
    }

    #[test]
    fn endless_output_is_stopped() {
        let limits = Limits { max_bytes: 1_000_000, max_lines: 50 };
        let Guarded::Overflowed { lines, .. } = run(&["yes".into()], limits).unwrap() else { panic!("yes never ends") };
        assert!(lines > 50);
        let limits = Limits { max_bytes: 100, max_lines: 1_000 };
        let Guarded::Overflowed { bytes, .. } = run(&sh("head -c 5000 /dev/zero"), limits).unwrap() else {
            panic!("too many bytes")
        };
        assert!(bytes > 100);
        assert!(
            Guarded::summary(1, 2, limits)
                .starts_with("qcold-guard\tstatus=blocked\tbytes=1\tlines=2\tmax_bytes=100\tmax_lines=1000\tmessage=")
        );
    }
}
