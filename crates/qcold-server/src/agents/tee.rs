//! The wrapper's output copying: what the command writes to its standard output and error goes
//! to the wrapper's own (the agent's terminal) and to the agent's log, as it comes, from the first
//! byte; standard output may be rendered on the way ([`Render`]).
//!
//! The log is evidence that outlives the terminal, so it is written whatever becomes of the
//! terminal: a write to a terminal that has gone (its tmux session was killed) is dropped, and
//! the copying goes on into the log.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read, Write};
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use qcold_core::agent::stream::Render;

/// How long the wrapper waits, once its command exited, for the last output to be copied.
/// Processes the command left running may hold its output open for ever; the exit code is not
/// held back for them.
const DRAIN: Duration = Duration::from_secs(2);

/// An open agent log, shared by the copiers.
#[derive(Debug, Clone)]
pub struct Log(Arc<File>);

impl Log {
    /// Opens (appending) or creates the log at `path`; `None`, said on the terminal, when it
    /// cannot be.
    pub fn open(path: &Path) -> Option<Log> {
        match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => Some(Log(Arc::new(file))),
            Err(e) => {
                eprintln!("qcold agent-run: cannot open the log {}: {e}", path.display());
                None
            }
        }
    }

    fn write(&self, bytes: &[u8]) {
        // Appends from both copiers; each write lands whole.
        let _ = (&*self.0).write_all(bytes);
    }
}

/// Says `message` (the wrapper's own, prefixed `qcold agent-run:`) on the terminal and in the log.
pub fn say(log: Option<&Log>, message: &str) {
    let line = format!("qcold agent-run: {message}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(log) = log {
        log.write(line.as_bytes());
    }
}

/// The running copiers of one command.
#[derive(Debug)]
pub struct Copiers {
    done: mpsc::Receiver<()>,
    count: usize,
}

/// Starts copying the child's output: `merged` (standard output and error through one pipe) as
/// it is, else its piped standard output rendered by `render` and its standard error as it is.
pub fn start(child: &mut Child, merged: Option<std::io::PipeReader>, log: Option<&Log>, render: Render) -> Copiers {
    let (tx, done) = mpsc::channel();
    let mut count = 0;
    if let Some(both) = merged {
        spawn(both, Sink::Stdout, log.cloned(), Render::Plain, tx.clone());
        count += 1;
    }
    if let Some(out) = child.stdout.take() {
        spawn(out, Sink::Stdout, log.cloned(), render, tx.clone());
        count += 1;
    }
    if let Some(err) = child.stderr.take() {
        spawn(err, Sink::Stderr, log.cloned(), Render::Plain, tx);
        count += 1;
    }
    Copiers { done, count }
}

impl Copiers {
    /// Waits (at most [`DRAIN`]) until the copiers reached the end of the output.
    pub fn finish(self) {
        let deadline = Instant::now() + DRAIN;
        for _ in 0..self.count {
            if self.done.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_err() {
                break;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Sink {
    Stdout,
    Stderr,
}

impl Sink {
    fn write(self, bytes: &[u8]) {
        // A terminal that has gone fails the write; the log still gets it.
        let _ = match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Sink::Stderr => std::io::stderr().write_all(bytes),
        };
    }
}

fn spawn(from: impl Read + Send + 'static, to: Sink, log: Option<Log>, render: Render, done: mpsc::Sender<()>) {
    std::thread::spawn(move || {
        let put = |bytes: &[u8]| {
            to.write(bytes);
            if let Some(log) = &log {
                log.write(bytes);
            }
        };
        match render {
            Render::Plain => copy(from, &put),
            render => copy_lines(from, render, &put),
        }
        let _ = done.send(());
    });
}

/// Copies chunks as they come, so partial lines (prompts, progress) show at once.
fn copy(mut from: impl Read, put: &dyn Fn(&[u8])) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => put(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

/// Copies line by line, each line rendered.
fn copy_lines(from: impl Read, render: Render, put: &dyn Fn(&[u8])) {
    let mut from = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match from.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                if let Some(shown) = render.line(text.trim_end_matches(['\n', '\r'])) {
                    put(shown.as_bytes());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}
