//! The tmux commands Q-COLD runs, against a server of its own (a socket in the state dir), so
//! agents never mix with the operator's sessions and every state dir is isolated.
//!
//! Commands are argv vectors: text typed into a terminal goes through `load-buffer` from stdin or
//! `send-keys -l`, never through a shell.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use qcold_core::agent::Key;

/// A tmux command failed, or tmux is missing.
#[derive(Debug, thiserror::Error)]
pub enum TmuxError {
    /// tmux is not installed.
    #[error("tmux is not installed (or not on PATH); install it, or start the agent without --terminal")]
    Missing,
    /// tmux could not be started.
    #[error("cannot run tmux: {0}")]
    Spawn(std::io::Error),
    /// tmux refused.
    #[error("`tmux {args}` failed: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// What tmux said.
        stderr: String,
    },
    /// tmux did not answer in time and was stopped.
    #[error("`tmux {args}` did not answer within 15 s and was stopped")]
    TimedOut {
        /// The arguments.
        args: String,
    },
}

/// How often a new session is asked again of a server that exited under it.
const SERVER_EXIT_RETRIES: u32 = 3;

impl TmuxError {
    /// Whether tmux failed because its server exited while answering (its last session had just
    /// ended): nothing was done, and asking again starts a new server.
    fn server_was_exiting(&self) -> bool {
        matches!(self, TmuxError::Failed { stderr, .. } if stderr.contains("server exited unexpectedly"))
    }
}

/// How long one tmux command may take; the server answers in milliseconds when it is well.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// The most output kept from one tmux command (a captured screen is far smaller).
const OUTPUT_BOUND: usize = 8 << 20;

/// A screen as [`Tmux::screen`] captured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    /// Its lines, top to bottom.
    pub lines: Vec<Vec<u8>>,
    /// The pane and its cursor.
    pub cursor: super::terminal::control::Cursor,
}

impl Screen {
    /// Reads [`Tmux::screen`]'s text: the lines, then the cursor line.
    pub fn parse(text: &str) -> Option<Self> {
        let mut lines: Vec<Vec<u8>> = text.trim_end_matches('\n').split('\n').map(|l| l.as_bytes().to_vec()).collect();
        let cursor = super::terminal::control::Cursor::parse(&lines.pop()?)?;
        Some(Self { lines, cursor })
    }

    /// The bytes that paint it on a fresh terminal, cursor included.
    pub fn painted(&self) -> Vec<u8> {
        super::terminal::control::render(&self.lines, &self.cursor)
    }

    /// Its last `count` lines that are not blank below the last written one, as text.
    pub fn tail(&self, count: usize) -> String {
        let text: Vec<String> = self.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        let written = text.iter().rposition(|l| !l.trim().is_empty()).map_or(0, |i| i + 1);
        text[written.saturating_sub(count)..written].join("\n")
    }
}

/// Q-COLD's tmux server.
#[derive(Debug, Clone)]
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// The server whose socket is `<state dir>/tmux.sock`.
    pub fn new(state_dir: &Path) -> Self {
        Self { socket: state_dir.join("tmux.sock") }
    }

    /// The server of the pane this process runs in (`$TMUX` names its socket first), if any.
    pub fn of_this_pane() -> Option<(Self, String)> {
        let socket = std::env::var("TMUX").ok()?.split(',').next().filter(|s| !s.is_empty())?.to_owned();
        let pane = std::env::var("TMUX_PANE").ok().filter(|p| !p.is_empty())?;
        Some((Self { socket: socket.into() }, pane))
    }

    /// `pane`'s screen as it is now: its lines (colours as ANSI escapes), then a line with its
    /// id and cursor ([`Screen::parse`] reads it back). Both are asked for in one command list,
    /// so nothing reaches the pane between them.
    pub fn screen(&self, pane: &str) -> Result<String, TmuxError> {
        let out = self.run(&super::terminal::control::screen_args(pane))?;
        match Screen::parse(&out) {
            Some(_) => Ok(out),
            None => Err(TmuxError::Failed { args: "display-message".into(), stderr: "no cursor in the reply".into() }),
        }
    }

    /// The socket path, for `tmux -S <socket> …` by hand.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Fails with [`TmuxError::Missing`] when tmux is not installed.
    pub fn check_installed() -> Result<(), TmuxError> {
        match Command::new("tmux").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status() {
            Ok(status) if status.success() => Ok(()),
            Ok(_) | Err(_) => Err(TmuxError::Missing),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.socket).args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs one tmux command with a deadline: a wedged server never holds a caller.
    fn run(&self, args: &[&str]) -> Result<String, TmuxError> {
        let out = crate::deadline::capture(&mut self.command(args), DEADLINE, OUTPUT_BOUND).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound { TmuxError::Missing } else { TmuxError::Spawn(e) }
        })?;
        match out.ended {
            crate::deadline::Ended::Exited(status) if status.success() => {
                Ok(String::from_utf8_lossy(&out.stdout).into_owned())
            }
            crate::deadline::Ended::Exited(_) => Err(TmuxError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            }),
            crate::deadline::Ended::TimedOut => Err(TmuxError::TimedOut { args: args.join(" ") }),
        }
    }

    /// Starts `argv` in a new detached session in `cwd` and returns the pane's pid. With several
    /// arguments tmux executes the command directly, without a shell. Extra environment is the
    /// wrapper's job (`agent-run --env-file`): tmux's `-e` does not reliably override `PATH`.
    pub fn new_session(&self, session: &str, cwd: &Path, argv: &[String]) -> Result<u32, TmuxError> {
        let cwd = cwd.to_string_lossy();
        let mut args: Vec<String> =
            ["new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", session, "-x", "200", "-y", "50", "-c", &cwd]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
        args.extend(argv.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        // The pane pid is printed by new-session itself: a command that exits at once may take
        // its session (and the server) with it before a second tmux call could ask.
        // A server whose last session just ended exits by itself; a new session asked of it in
        // that moment fails without being made, and the next call starts a fresh server.
        let mut attempt = 0;
        let pid = loop {
            match self.run(&refs) {
                Err(err) if attempt < SERVER_EXIT_RETRIES && err.server_was_exiting() => attempt += 1,
                result => break result?,
            }
        };
        pid.trim().parse().map_err(|_| TmuxError::Failed {
            args: "new-session".into(),
            stderr: format!("unexpected pane pid {pid:?}"),
        })
    }

    /// The pid of the first pane of a session; `None` when there is no such session.
    pub fn pane_pid(&self, session: &str) -> Option<u32> {
        let out = self.run(&["list-panes", "-t", &format!("={session}"), "-F", "#{pane_pid}"]).ok()?;
        out.lines().next()?.trim().parse().ok()
    }

    /// Whether a session exists.
    pub fn has_session(&self, session: &str) -> bool {
        self.run(&["has-session", "-t", &format!("={session}")]).is_ok()
    }

    /// Ends a session (its processes get SIGHUP).
    pub fn kill_session(&self, session: &str) -> Result<(), TmuxError> {
        self.run(&["kill-session", "-t", &format!("={session}")]).map(drop)
    }

    /// When the session's window last showed output (Unix seconds); `None` when the session is
    /// gone or tmux does not say. One tmux call, for the stall watch.
    pub fn window_activity(&self, session: &str) -> Option<i64> {
        let out = self.run(&["display-message", "-p", "-t", &format!("={session}"), "#{window_activity}"]).ok()?;
        out.trim().parse().ok()
    }

    /// The last `lines` lines of a pane, with colours as ANSI escapes.
    pub fn capture(&self, target: &str, lines: u32) -> Result<String, TmuxError> {
        let start = format!("-{lines}");
        let text = self.run(&["capture-pane", "-p", "-e", "-J", "-t", target, "-S", &start])?;
        let trimmed: Vec<&str> = text.trim_end_matches('\n').lines().collect();
        let keep = trimmed.len().saturating_sub(lines as usize);
        Ok(trimmed[keep..].join("\n"))
    }

    /// Pastes `text` into a pane (bracketed if the program asked for it), then presses Enter
    /// when `submit`.
    pub fn paste(&self, target: &str, buffer: &str, text: &str, submit: bool) -> Result<(), TmuxError> {
        let mut child = self
            .command(&["load-buffer", "-b", buffer, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(TmuxError::Spawn)?;
        child.stdin.take().expect("piped").write_all(text.as_bytes()).map_err(TmuxError::Spawn)?;
        let out = child.wait_with_output().map_err(TmuxError::Spawn)?;
        if !out.status.success() {
            return Err(TmuxError::Failed {
                args: "load-buffer".into(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        self.run(&["paste-buffer", "-d", "-p", "-b", buffer, "-t", target])?;
        if submit {
            self.key(target, Key::Enter)?;
        }
        Ok(())
    }

    /// Types `text` literally, without pressing Enter.
    pub fn literal(&self, target: &str, text: &str) -> Result<(), TmuxError> {
        self.run(&["send-keys", "-t", target, "-l", "--", text]).map(drop)
    }

    /// Presses a named key.
    pub fn key(&self, target: &str, key: Key) -> Result<(), TmuxError> {
        self.run(&["send-keys", "-t", target, key.tmux_name()]).map(drop)
    }

    /// The command that attaches the operator's terminal to a session.
    pub fn attach_command(&self, session: &str) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.socket).args(["attach-session", "-t", &format!("={session}")]);
        cmd
    }

    /// The command of a control-mode client (`tmux -C`) attached to a session: it reads tmux
    /// commands on its standard input and reports the session's output as `%output` lines.
    pub fn control_command(&self, session: &str) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.socket).args(["-C", "attach-session", "-t", &format!("={session}")]);
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_server_exiting_under_a_call_makes_it_worth_asking_again() {
        let failed = |stderr: &str| TmuxError::Failed { args: "new-session".into(), stderr: stderr.into() };
        assert!(failed("server exited unexpectedly").server_was_exiting());
        assert!(!failed("duplicate session: qcold-term").server_was_exiting());
        assert!(!TmuxError::TimedOut { args: "new-session".into() }.server_was_exiting());
    }

    #[test]
    fn a_kept_screen_reads_back_paints_and_tails_without_the_blank_rows_below() {
        let text = "first\n\x1b[31mred\x1b[0m\n\nlast\n\n\n%3 4 3 1\n";
        let screen = Screen::parse(text).expect("a screen");
        assert_eq!(screen.lines.len(), 6, "every row, blank ones included");
        assert_eq!((screen.cursor.pane.as_str(), screen.cursor.x, screen.cursor.y), ("%3", 4, 3));
        assert_eq!(screen.tail(2), "\nlast", "the rows below the last written one are not output");
        assert_eq!(screen.tail(10), "first\n\x1b[31mred\x1b[0m\n\nlast");
        let painted = String::from_utf8(screen.painted()).unwrap();
        assert!(painted.starts_with("\x1b[0m\x1b[H\x1b[2J") && painted.contains("\x1b[4;1Hlast"), "{painted:?}");
        assert!(Screen::parse("no cursor line\n").is_none(), "a reply without the cursor is not a screen");
    }
}
