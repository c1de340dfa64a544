//! Bodies of the agent routes (`/api/agents*`, `/api/agent-commands*`): what `qcold agent …` does.

use serde::{Deserialize, Serialize};

use crate::CommandName;
use crate::agent::Key;

/// `POST /api/agents/start`: start a command as a managed agent on the daemon's machine. The
/// argv is executed directly (no shell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StartAgentRequest {
    /// The track (a grouping word without spaces).
    pub track: String,
    /// The agent id; generated when omitted.
    #[serde(default)]
    pub id: Option<crate::AgentId>,
    /// A display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The working directory, an absolute path.
    pub cwd: String,
    /// Run in a tmux terminal (which the terminal WebSocket can show) rather than detached.
    #[serde(default)]
    pub terminal: bool,
    /// The command and its arguments.
    pub argv: Vec<String>,
}

/// `POST /api/agents/{id}/stop`: takes no fields; the body is empty or `{}` (anything else is
/// refused, so a confused client learns of its mistake before an agent is stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StopAgentRequest {}

/// `POST /api/agents/{id}/label`: the new name and scope; an omitted field is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The scope.
    #[serde(default)]
    pub scope: Option<String>,
}

/// `POST /api/agents/{id}/send`: input for a terminal agent, as `qcold agent send` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SendRequest {
    /// Paste the text (bracketed when the program asked for it), then press Enter.
    Paste {
        /// The text.
        text: String,
    },
    /// Type the text literally, without Enter.
    Literal {
        /// The text.
        text: String,
    },
    /// Press a named key.
    Key {
        /// The key.
        key: Key,
    },
}

/// `GET /api/agents/{id}/tail?lines=N`: how much of the terminal to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TailQuery {
    /// Lines from the end (default 200, at most [`TailQuery::MAX_LINES`]).
    #[serde(default)]
    pub lines: Option<u32>,
}

impl TailQuery {
    /// The most lines one request may ask for.
    pub const MAX_LINES: u32 = 10_000;

    /// The number of lines asked for, or why it cannot be served.
    pub fn lines(self) -> Result<u32, String> {
        match self.lines {
            None => Ok(200),
            Some(n) if (1..=Self::MAX_LINES).contains(&n) => Ok(n),
            Some(n) => Err(format!("lines must be 1 to {}, got {n}", Self::MAX_LINES)),
        }
    }
}

/// The answer to `GET /api/agents/{id}/tail`: the terminal's last lines, ANSI colours kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TailAnswer {
    /// The text.
    pub text: String,
}

/// The answer to `POST /api/agents/{id}/stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StopAnswer {
    /// The agent as it is now.
    pub agent: crate::agent::AgentRecord,
    /// How many processes were ended.
    pub ended: usize,
}

/// `POST /api/agent-commands/add`: register (or replace) an agent command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AddCommandRequest {
    /// The name.
    pub name: CommandName,
    /// The argv, with `{packet}`, `{packet_file}`, `{cwd}` placeholders; empty with a preset.
    #[serde(default)]
    pub argv: Vec<String>,
    /// Feed the packet on standard input.
    #[serde(default)]
    pub stdin: bool,
    /// The agent reads its terminal (an interactive CLI, or one that asks the operator): its
    /// standard input is the terminal. Not with `stdin` or a preset.
    #[serde(default)]
    pub interactive: bool,
    /// The readiness probe command line (words split as a shell would, never run by one).
    #[serde(default)]
    pub probe: Option<String>,
    /// A preset that gives the argv, standard input, environment and probe.
    #[serde(default)]
    pub preset: Option<crate::agent::preset::Preset>,
    /// Variables set for the command's agents (and its probe). Stored; answers name only keys.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

/// `POST /api/agent-commands/remove` and `/refresh`: the commands concerned (for refresh, none
/// means all).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CommandsSelector {
    /// The command names.
    #[serde(default)]
    pub names: Vec<CommandName>,
}
