//! Agent commands: how to run an agent CLI non-interactively on a task packet, and which of
//! several is ready to use.
//!
//! An argv may use three placeholders, each replaced inside any argument: `{packet}` (the packet
//! text as one argument), `{packet_file}` (the path of a file holding it) and `{cwd}`. No shell is
//! involved. Standard input is the packet with `stdin`, otherwise empty — some agent CLIs wait
//! forever on an open pipe.

use serde::{Deserialize, Serialize};

use super::preset::Preset;
use crate::CommandName;

/// The placeholders an argv may use.
pub const PLACEHOLDERS: [&str; 3] = ["{packet}", "{packet_file}", "{cwd}"];

/// How long a readiness result stays valid by default: 30 minutes.
pub const READINESS_TTL_SECS: i64 = 30 * 60;

/// Where a command definition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Registered with `qcold agent command add`.
    Registered,
    /// A preset offered because its program was found on PATH (`codex`, `claude`, …).
    Default,
}

/// A way to run an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AgentCommand {
    /// The name.
    pub name: CommandName,
    /// The argv, with placeholders.
    pub argv: Vec<String>,
    /// Feed the packet on standard input.
    pub stdin: bool,
    /// The readiness probe's argv; `None` means the default: a preset's checks (its help lists
    /// the flags it passes, a login shows), else only that the program exists and is executable.
    #[serde(default)]
    pub probe: Option<Vec<String>>,
    /// Where it comes from.
    pub source: Source,
    /// The preset it was made from.
    #[serde(default)]
    pub preset: Option<Preset>,
    /// The names of the variables it sets for its agents, the preset's first. Values are kept
    /// in the store only, never on the wire.
    #[serde(default)]
    pub env: Vec<String>,
}

/// An argv that cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No argv at all.
    #[error("the command is empty; give it after `--`")]
    Empty,
    /// The program itself is a placeholder.
    #[error("the program (first argument) must be a name or path, not {0:?}")]
    PlaceholderProgram(String),
    /// A `{…}` that is not a known placeholder.
    #[error("unknown placeholder {0:?}; known: {{packet}}, {{packet_file}}, {{cwd}}")]
    UnknownPlaceholder(String),
}

/// Checks an argv before it is registered.
pub fn check_argv(argv: &[String]) -> Result<(), CommandError> {
    let program = argv.first().filter(|p| !p.is_empty()).ok_or(CommandError::Empty)?;
    if PLACEHOLDERS.iter().any(|p| program.contains(p)) {
        return Err(CommandError::PlaceholderProgram(program.clone()));
    }
    for arg in argv {
        let mut rest = arg.as_str();
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else { break };
            let token = &rest[open..open + close + 1];
            if !PLACEHOLDERS.contains(&token)
                && token.len() > 2
                && token[1..token.len() - 1].chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(CommandError::UnknownPlaceholder(token.to_owned()));
            }
            rest = &rest[open + close + 1..];
        }
    }
    Ok(())
}

/// The argv to run for a packet, with the placeholders filled in.
pub fn render(argv: &[String], packet: &str, packet_file: &str, cwd: &str) -> Vec<String> {
    argv.iter()
        .map(|arg| arg.replace("{packet_file}", packet_file).replace("{packet}", packet).replace("{cwd}", cwd))
        .collect()
}

/// The last readiness probe of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Readiness {
    /// Whether the probe passed.
    pub ready: bool,
    /// What the probe said: its first line of output, or why it failed.
    pub reason: String,
    /// When it ran, Unix seconds.
    pub checked_at: i64,
}

impl Readiness {
    /// Whether the result is still valid at `now`.
    pub fn is_fresh(&self, now: i64, ttl_secs: i64) -> bool {
        now - self.checked_at < ttl_secs
    }
}

/// A command with its readiness: a row of `qcold agent command list` and of
/// `GET /api/agent-commands`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CommandStatus {
    /// The command.
    #[serde(flatten)]
    pub command: AgentCommand,
    /// Its readiness.
    pub readiness: Readiness,
}

/// None of the wanted commands is ready; the message gives each one's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no agent command is ready: {}", .reasons.iter().map(|(n, r)| format!("{n}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct NoneReady {
    /// `(name, reason)` per wanted command, in order.
    pub reasons: Vec<(String, String)>,
}

/// The first of `wanted` that is ready. `readiness` gives what is known per name; a name with
/// no definition or result is reported as such.
pub fn choose<'a>(
    wanted: &'a [CommandName],
    readiness: &dyn Fn(&CommandName) -> Option<Readiness>,
) -> Result<&'a CommandName, NoneReady> {
    let mut reasons = Vec::new();
    for name in wanted {
        match readiness(name) {
            Some(r) if r.ready => return Ok(name),
            Some(r) => reasons.push((name.to_string(), r.reason)),
            None => reasons.push((name.to_string(), "no such agent command".to_owned())),
        }
    }
    Err(NoneReady { reasons })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn argv_checks() {
        assert_eq!(check_argv(&argv(&["codex", "exec", "{packet}"])), Ok(()));
        assert_eq!(check_argv(&argv(&["tool", "--in={packet_file}", "-C", "{cwd}", "{not a placeholder}"])), Ok(()));
        assert_eq!(check_argv(&[]), Err(CommandError::Empty));
        assert_eq!(check_argv(&argv(&["{packet}"])), Err(CommandError::PlaceholderProgram("{packet}".into())));
        assert_eq!(
            check_argv(&argv(&["x", "{prompt}"])).unwrap_err().to_string(),
            "unknown placeholder \"{prompt}\"; known: {packet}, {packet_file}, {cwd}"
        );
    }

    #[test]
    fn rendering_fills_placeholders_inside_arguments() {
        let rendered = render(
            &argv(&["agent", "{packet}", "--file={packet_file}", "-C", "{cwd}"]),
            "do it; rm -rf /",
            "/tmp/p.md",
            "/wt",
        );
        assert_eq!(rendered, ["agent", "do it; rm -rf /", "--file=/tmp/p.md", "-C", "/wt"]);
    }

    #[test]
    fn choose_takes_the_first_ready_or_explains() {
        let c1: CommandName = "c1".parse().unwrap();
        let c2: CommandName = "c2".parse().unwrap();
        let c3: CommandName = "c3".parse().unwrap();
        let known = |name: &CommandName| match name.as_str() {
            "c1" => Some(Readiness { ready: false, reason: "exit code 1: rate limited".into(), checked_at: 0 }),
            "c2" => Some(Readiness { ready: true, reason: "codex 1.0".into(), checked_at: 0 }),
            _ => None,
        };
        let wanted = [c1.clone(), c2.clone()];
        assert_eq!(choose(&wanted, &known), Ok(&c2));
        let none = [c1, c3];
        assert_eq!(
            choose(&none, &known).unwrap_err().to_string(),
            "no agent command is ready: c1: exit code 1: rate limited; c3: no such agent command"
        );
        let fresh = Readiness { ready: true, reason: String::new(), checked_at: 100 };
        assert!(fresh.is_fresh(100 + READINESS_TTL_SECS - 1, READINESS_TTL_SECS));
        assert!(!fresh.is_fresh(100 + READINESS_TTL_SECS, READINESS_TTL_SECS));
    }
}
