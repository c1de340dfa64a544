//! Managed agents: the processes that do the work, each either a detached process group or a
//! tmux terminal, and the pure rules for naming, selecting and driving them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod command;
pub mod env;
pub mod preset;
pub mod stream;

use crate::AgentId;

/// Where an agent's terminal lives, when it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Terminal {
    /// The tmux session name, `qcold-<agent id>`.
    pub session: String,
    /// The tmux target of its pane, `<session>:0.0`.
    pub target: String,
}

/// One managed agent: the row of the agent store and the JSON of `agent list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentRecord {
    /// The id.
    pub id: AgentId,
    /// The track (grouping) it was started under.
    pub track: String,
    /// The operator's name for it or its terminal.
    #[serde(default)]
    pub name: Option<String>,
    /// The operator's scope label for its terminal.
    #[serde(default)]
    pub scope: Option<String>,
    /// The command line, as argv.
    pub argv: Vec<String>,
    /// Where it runs.
    pub cwd: String,
    /// The pid of its wrapper process (the root of its tree).
    pub pid: u32,
    /// Its process group.
    pub pgid: u32,
    /// Its terminal, when started with `--terminal`.
    #[serde(default)]
    pub terminal: Option<Terminal>,
    /// Standard output log (detached agents).
    #[serde(default)]
    pub stdout_log: Option<String>,
    /// Standard error log (detached agents).
    #[serde(default)]
    pub stderr_log: Option<String>,
    /// The file its wrapper writes the exit code to.
    pub exit_file: String,
    /// Started, Unix seconds.
    pub started_at: i64,
    /// Exited, Unix seconds, once known.
    #[serde(default)]
    pub exited_at: Option<i64>,
    /// The exit code (128 + signal for a signal death), once known.
    #[serde(default)]
    pub exit_code: Option<i32>,
}

/// Whether an agent runs, derived from evidence (exit file, process table), never from screen text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum AgentState {
    /// Its wrapper is alive and has not recorded an exit.
    Running,
    /// Its command ended; the code is known.
    Exited {
        /// The exit code (128 + signal for a signal death).
        code: i32,
    },
    /// Its processes are gone without a recorded exit code (killed, or the host rebooted).
    Vanished,
}

/// An agent with its derived state: an element of `StateResponse::agents`, the payload of the
/// `agent` event and the JSON of `agent list --json`. The record's fields and the state's
/// (`state`, and `code` once exited) share one flat object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentView {
    /// The stored record.
    #[serde(flatten)]
    pub agent: AgentRecord,
    /// Running, exited (with code) or vanished.
    #[serde(flatten)]
    pub state: AgentState,
}

impl AgentView {
    /// The order of agents in `StateResponse::agents`: oldest first, then by id, as the store
    /// lists them.
    pub fn order(&self, other: &AgentView) -> std::cmp::Ordering {
        (self.agent.started_at, &self.agent.id).cmp(&(other.agent.started_at, &other.agent.id))
    }
}

/// Derives the state: a recorded code wins, then a live wrapper, else the agent vanished.
pub fn state(recorded_code: Option<i32>, wrapper_alive: bool) -> AgentState {
    match (recorded_code, wrapper_alive) {
        (Some(code), _) => AgentState::Exited { code },
        (None, true) => AgentState::Running,
        (None, false) => AgentState::Vanished,
    }
}

/// The tmux session of an agent.
pub fn session_name(id: &AgentId) -> String {
    format!("qcold-{id}")
}

/// Why a selector matched no single agent. The messages list the candidates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Nothing matched.
    #[error("no agent matches {selector:?}; agents: {}", list(.candidates))]
    Unknown {
        /// The selector.
        selector: String,
        /// Every agent id.
        candidates: Vec<String>,
    },
    /// More than one agent matched.
    #[error("{selector:?} matches several agents: {}; use an id", list(.matches))]
    Ambiguous {
        /// The selector.
        selector: String,
        /// The matching agent ids.
        matches: Vec<String>,
    },
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() { "(none)".to_owned() } else { ids.join(", ") }
}

/// Finds the one agent a selector names: an exact id wins; otherwise the id, the tmux session,
/// the tmux target or the name (case-insensitive) must match exactly one agent.
pub fn select<'a>(agents: &'a [AgentRecord], selector: &str) -> Result<&'a AgentRecord, SelectError> {
    if let Some(agent) = agents.iter().find(|a| a.id.as_str() == selector) {
        return Ok(agent);
    }
    let matches: Vec<&AgentRecord> = agents
        .iter()
        .filter(|a| {
            a.terminal.as_ref().is_some_and(|t| t.session == selector || t.target == selector)
                || a.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(selector))
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(SelectError::Unknown {
            selector: selector.to_owned(),
            candidates: agents.iter().map(|a| a.id.to_string()).collect(),
        }),
        many => Err(SelectError::Ambiguous {
            selector: selector.to_owned(),
            matches: many.iter().map(|a| a.id.to_string()).collect(),
        }),
    }
}

/// A named key that `agent send --key` can press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Key {
    /// Enter.
    Enter,
    /// Escape.
    Escape,
    /// Tab.
    Tab,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Backspace.
    Backspace,
    /// Delete.
    Delete,
    /// Home.
    Home,
    /// End.
    End,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Control-C.
    CtrlC,
}

impl Key {
    /// Every key, with the names `FromStr` accepts (case-insensitive) and tmux's name for it.
    const TABLE: [(Key, &'static [&'static str], &'static str); 14] = [
        (Key::Enter, &["enter", "return"], "Enter"),
        (Key::Escape, &["escape", "esc"], "Escape"),
        (Key::Tab, &["tab"], "Tab"),
        (Key::Up, &["up", "arrowup"], "Up"),
        (Key::Down, &["down", "arrowdown"], "Down"),
        (Key::Left, &["left", "arrowleft"], "Left"),
        (Key::Right, &["right", "arrowright"], "Right"),
        (Key::Backspace, &["backspace", "bspace"], "BSpace"),
        (Key::Delete, &["delete", "del"], "DC"),
        (Key::Home, &["home"], "Home"),
        (Key::End, &["end"], "End"),
        (Key::PageUp, &["pageup", "pgup"], "PPage"),
        (Key::PageDown, &["pagedown", "pgdn"], "NPage"),
        (Key::CtrlC, &["c-c", "ctrl-c"], "C-c"),
    ];

    /// The key name tmux's `send-keys` understands.
    pub fn tmux_name(self) -> &'static str {
        Self::TABLE.iter().find(|(k, _, _)| *k == self).map_or("Enter", |(_, _, t)| t)
    }
}

/// A key name that is not one of [`Key`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown key {0:?}; expected one of: Enter, Escape, Tab, Up, Down, Left, Right, Backspace, Delete, Home, End, PageUp, PageDown, C-c"
)]
pub struct UnknownKey(pub String);

impl FromStr for Key {
    type Err = UnknownKey;
    fn from_str(s: &str) -> Result<Self, UnknownKey> {
        let wanted = s.to_ascii_lowercase();
        Self::TABLE
            .iter()
            .find(|(_, names, _)| names.contains(&wanted.as_str()))
            .map(|(k, _, _)| *k)
            .ok_or_else(|| UnknownKey(s.to_owned()))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tmux_name())
    }
}

/// An agent's command line for a one-line listing: every run of whitespace (the newlines of a
/// packet given as an argument included) becomes one space, and the text is cut to `max_chars`
/// characters with `…`.
pub fn command_line(argv: &[String], max_chars: usize) -> String {
    let words: Vec<&str> = argv.iter().flat_map(|arg| arg.split_whitespace()).collect();
    let joined = words.join(" ");
    if joined.chars().count() <= max_chars {
        return joined;
    }
    let mut cut: String = joined.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, name: Option<&str>, terminal: bool) -> AgentRecord {
        let id: AgentId = id.parse().unwrap();
        AgentRecord {
            terminal: terminal
                .then(|| Terminal { session: session_name(&id), target: format!("{}:0.0", session_name(&id)) }),
            id,
            track: "t".into(),
            name: name.map(str::to_owned),
            scope: None,
            argv: vec!["x".into()],
            cwd: "/".into(),
            pid: 1,
            pgid: 1,
            stdout_log: None,
            stderr_log: None,
            exit_file: "/x".into(),
            started_at: 0,
            exited_at: None,
            exit_code: None,
        }
    }

    #[test]
    fn selectors() {
        let agents = [
            agent("a1", Some("Reviewer"), true),
            agent("a2", Some("builder"), false),
            agent("a3", Some("builder"), true),
        ];
        let pick = |s: &str| select(&agents, s).map(|a| a.id.to_string()).map_err(|e| e.to_string());
        assert_eq!(pick("a2"), Ok("a2".into()));
        assert_eq!(pick("reviewer"), Ok("a1".into()), "names match case-insensitively");
        assert_eq!(pick("qcold-a3"), Ok("a3".into()), "by session");
        assert_eq!(pick("qcold-a1:0.0"), Ok("a1".into()), "by target");
        assert_eq!(pick("builder"), Err("\"builder\" matches several agents: a2, a3; use an id".into()));
        assert_eq!(pick("nobody"), Err("no agent matches \"nobody\"; agents: a1, a2, a3".into()));
        assert_eq!(select(&[], "x").unwrap_err().to_string(), "no agent matches \"x\"; agents: (none)");
    }

    #[test]
    fn keys_and_states() {
        assert_eq!("ENTER".parse::<Key>().unwrap().tmux_name(), "Enter");
        assert_eq!("ArrowUp".parse::<Key>().unwrap(), Key::Up);
        assert_eq!("c-c".parse::<Key>().unwrap().tmux_name(), "C-c");
        assert_eq!("PageDown".parse::<Key>().unwrap().tmux_name(), "NPage");
        assert!("F13".parse::<Key>().unwrap_err().to_string().starts_with("unknown key \"F13\""));
        assert_eq!(state(Some(3), true), AgentState::Exited { code: 3 });
        assert_eq!(state(None, true), AgentState::Running);
        assert_eq!(state(None, false), AgentState::Vanished);
    }

    #[test]
    fn a_command_line_is_one_bounded_line() {
        let argv = vec!["codex".to_owned(), "exec".to_owned(), "# Packet\n\n- run: r1\n".repeat(50)];
        let line = command_line(&argv, 40);
        assert_eq!(line.chars().count(), 40);
        assert!(
            !line.contains('\n') && line.starts_with("codex exec # Packet - run: r1") && line.ends_with('…'),
            "{line}"
        );
        assert_eq!(command_line(&["true".to_owned()], 40), "true");
    }
}
