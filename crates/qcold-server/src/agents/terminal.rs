//! A live terminal: a tmux control-mode client attached to one agent's session, whose pane
//! output arrives as tmux's own `%output` events and whose input goes out as `send-keys`.
//!
//! [`LiveTerminal::attach`] starts `tmux -C attach-session`, waits until the client is attached,
//! then asks — through the same client — for the pane's screen and cursor. tmux keeps a control
//! client's command replies and `%output` in one ordered queue, so output queued before the
//! screen reply is already on that screen (and is dropped) and everything after it is new: a
//! reconnecting operator gets the screen, then the stream, with no gap and no repeat. Nothing
//! here polls; the pane's bytes are pushed by tmux as the program writes them.

pub mod control;

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use qcold_core::agent::{Key, Terminal};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc;

use control::{Cursor, Notice, PaneId, Parser, Reply};

use super::tmux::Tmux;

/// How long attaching (client start, attach, screen capture) may take.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one command may take to be written to the client; a client that stops reading
/// its input is broken.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Output already queued is sent as one chunk, up to this size.
const CHUNK_BYTES: usize = 64 * 1024;

/// How many parsed notices may wait for the consumer; beyond that the reader stops reading and
/// tmux holds the output.
const QUEUE: usize = 256;

/// Why a live terminal could not be attached or driven.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// tmux is not installed.
    #[error("tmux is not installed (or not on PATH)")]
    Missing,
    /// The session (or its pane) does not exist any more.
    #[error("terminal session {session} has ended ({detail})")]
    Gone {
        /// The session.
        session: String,
        /// What tmux said.
        detail: String,
    },
    /// tmux did not answer in time.
    #[error("tmux did not {what} within {timeout:?}")]
    Timeout {
        /// What it did not do.
        what: &'static str,
        /// The deadline.
        timeout: Duration,
    },
    /// The stored target is not something Q-COLD would write into a tmux command.
    #[error("terminal target {0:?} is not a plain tmux target")]
    BadTarget(String),
    /// The control client could not be started or written to.
    #[error("tmux control client: {0}")]
    Io(#[from] std::io::Error),
}

/// What the terminal did next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// The pane wrote these bytes.
    Output(Vec<u8>),
    /// tmux refused a command sent for the operator (the message says which and why).
    Refused(String),
    /// The session ended (or the client was detached); nothing more will come.
    Ended,
}

/// One attached control client. Dropping it detaches (the client is killed, never the session).
#[derive(Debug)]
pub struct LiveTerminal {
    // Declared before `child`: closing its input makes tmux detach the client by itself.
    stdin: ChildStdin,
    notices: mpsc::Receiver<Notice>,
    /// A notice taken off the queue while gathering output, to be handled next.
    held: Option<Notice>,
    /// What each command still waiting for its reply was, oldest first.
    pending: VecDeque<&'static str>,
    pane: PaneId,
    session: String,
    _child: Child,
}

impl LiveTerminal {
    /// Attaches to `terminal`'s session on `tmux`'s server and returns the client with the
    /// bytes that paint the pane's current screen.
    pub async fn attach(tmux: &Tmux, terminal: &Terminal) -> Result<(Self, Vec<u8>), TerminalError> {
        let target = format!("={}", terminal.target);
        let screen = control::screen(&target).ok_or_else(|| TerminalError::BadTarget(terminal.target.clone()))?;
        let mut child = tokio::process::Command::from(tmux.control_command(&terminal.session))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| if e.kind() == std::io::ErrorKind::NotFound { TerminalError::Missing } else { e.into() })?;
        let stdin = child.stdin.take().ok_or_else(|| std::io::Error::other("no stdin pipe"))?;
        let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
        let (tx, notices) = mpsc::channel(QUEUE);
        tokio::spawn(read(stdout, tx));
        let mut live = Self {
            stdin,
            notices,
            held: None,
            pending: VecDeque::new(),
            pane: PaneId::default(),
            session: terminal.session.clone(),
            _child: child,
        };
        let painted = tokio::time::timeout(ATTACH_TIMEOUT, live.handshake(&screen))
            .await
            .map_err(|_| TerminalError::Timeout { what: "attach and show the screen", timeout: ATTACH_TIMEOUT })??;
        Ok((live, painted))
    }

    /// Waits for the attach, then asks for the screen and the cursor and renders them.
    async fn handshake(&mut self, screen: &str) -> Result<Vec<u8>, TerminalError> {
        // Commands read before the attach completes would run while the client has no session,
        // and output in between would reach nobody; so the screen is asked for only after.
        match self.reply(false).await? {
            Reply { ok: true, .. } => {}
            Reply { lines, .. } => return Err(self.gone(&lines)),
        }
        self.write(screen).await?;
        let capture = self.reply(true).await?;
        if !capture.ok {
            // tmux skips the rest of a command list after an error: no second reply comes.
            return Err(self.gone(&capture.lines));
        }
        let reply = self.reply(true).await?;
        let cursor = reply.lines.first().and_then(|line| Cursor::parse(line)).filter(|_| reply.ok);
        let cursor = cursor.ok_or_else(|| self.gone(&reply.lines))?;
        self.pane = cursor.pane.clone();
        Ok(control::render(&capture.lines, &cursor))
    }

    /// The next reply with the given origin; output before it is on the screen being captured.
    async fn reply(&mut self, from_input: bool) -> Result<Reply, TerminalError> {
        loop {
            match self.notices.recv().await {
                Some(Notice::Reply(reply)) if reply.from_input == from_input => return Ok(reply),
                Some(Notice::Reply(_) | Notice::Output { .. }) => {}
                Some(Notice::Exit { reason }) => return Err(self.gone(&[reason.unwrap_or_default().into_bytes()])),
                None => return Err(self.gone(&[b"tmux exited".to_vec()])),
            }
        }
    }

    fn gone(&self, lines: &[Vec<u8>]) -> TerminalError {
        let detail: Vec<String> =
            lines.iter().map(|l| String::from_utf8_lossy(l).trim().to_owned()).filter(|l| !l.is_empty()).collect();
        let detail = if detail.is_empty() { "tmux detached".to_owned() } else { detail.join("; ") };
        TerminalError::Gone { session: self.session.clone(), detail }
    }

    /// The next thing the terminal did: output (what is already queued, in one chunk), a refused
    /// command, or the end. Cancel-safe, so it can wait in a `select!` next to the socket.
    pub async fn next(&mut self) -> Update {
        loop {
            let notice = match self.held.take() {
                Some(notice) => notice,
                None => match self.notices.recv().await {
                    Some(notice) => notice,
                    None => return Update::Ended,
                },
            };
            match notice {
                Notice::Output { pane, mut data } if pane == self.pane.as_str() => {
                    while data.len() < CHUNK_BYTES {
                        match self.notices.try_recv() {
                            Ok(Notice::Output { pane, data: more }) if pane == self.pane.as_str() => {
                                data.extend_from_slice(&more);
                            }
                            Ok(Notice::Output { .. }) => {}
                            Ok(other) => {
                                self.held = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    return Update::Output(data);
                }
                Notice::Output { .. } | Notice::Reply(Reply { from_input: false, .. }) => {}
                Notice::Reply(reply) => {
                    let what = self.pending.pop_front().unwrap_or("a command");
                    if !reply.ok {
                        let said: Vec<String> =
                            reply.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
                        return Update::Refused(format!("tmux refused {what}: {}", said.join("; ")));
                    }
                }
                Notice::Exit { .. } => return Update::Ended,
            }
        }
    }

    /// Types `bytes` into the pane exactly as they are.
    pub async fn input(&mut self, bytes: &[u8]) -> Result<(), TerminalError> {
        for line in control::type_bytes(&self.pane, bytes) {
            self.command("the input", &line).await?;
        }
        Ok(())
    }

    /// Presses a named key.
    pub async fn key(&mut self, key: Key) -> Result<(), TerminalError> {
        let line = control::press(&self.pane, key);
        self.command("the key", &line).await
    }

    /// Resizes the client, and with it the window.
    pub async fn resize(&mut self, cols: u16, rows: u16) -> Result<(), TerminalError> {
        self.command("the resize", &control::resize(cols, rows)).await
    }

    async fn command(&mut self, what: &'static str, line: &str) -> Result<(), TerminalError> {
        self.write(line).await?;
        self.pending.push_back(what);
        Ok(())
    }

    async fn write(&mut self, line: &str) -> Result<(), TerminalError> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        tokio::time::timeout(WRITE_TIMEOUT, self.stdin.write_all(&bytes))
            .await
            .map_err(|_| TerminalError::Timeout { what: "read a command", timeout: WRITE_TIMEOUT })??;
        Ok(())
    }
}

/// Reads the client's output into notices until it ends or nobody listens. Its end (the
/// channel closing) means the client is gone.
async fn read(stdout: ChildStdout, tx: mpsc::Sender<Notice>) {
    let mut reader = BufReader::new(stdout);
    let mut parser = Parser::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if let Some(notice) = parser.feed(&line)
            && tx.send(notice).await.is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
