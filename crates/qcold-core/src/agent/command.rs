//! Agent commands: how to run an agent CLI non-interactively on a task packet, and which of
//! several is ready to use.
//!
//! An argv may use three placeholders, each replaced inside any argument: `{packet}` (the packet
//! text as one argument), `{packet_file}` (the path of a file holding it) and `{cwd}`. No shell is
//! involved. Standard input is the packet with `stdin`, otherwise empty — some agent CLIs wait
//! forever on an open pipe.
//!
//! `{packet}` is filled in last, by the agent's wrapper from the packet file ([`fill`]): the
//! command line that starts the wrapper (through tmux, whose own commands are bounded far below
//! the OS's limit) stays small, and only the OS's limit on one argument ([`MAX_ARG_BYTES`])
//! bounds the packet ([`check_fits`]).

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
    /// The agent reads its terminal: in a queue its standard input is the terminal (not
    /// `/dev/null`), so an operator can type to it, and the packet reaches it through
    /// `{packet}`/`{packet_file}` or `$QCOLD_PACKET_FILE`. Never together with `stdin`.
    #[serde(default)]
    pub interactive: bool,
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

/// What an agent command's agents read on standard input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The packet file (`stdin`).
    Packet,
    /// The terminal (`interactive`): what the operator types reaches the agent.
    Terminal,
    /// Nothing: `/dev/null`.
    Empty,
}

impl Input {
    /// A word for listings: `packet`, `terminal`, `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Packet => "packet",
            Self::Terminal => "terminal",
            Self::Empty => "none",
        }
    }
}

impl AgentCommand {
    /// What its agents read on standard input; `stdin` wins over `interactive` (the two are
    /// never registered together).
    pub fn input(&self) -> Input {
        match (self.stdin, self.interactive) {
            (true, _) => Input::Packet,
            (false, true) => Input::Terminal,
            (false, false) => Input::Empty,
        }
    }
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

/// The longest argument Linux passes to a program (`MAX_ARG_STRLEN`, 32 pages of 4 KiB), its
/// terminating NUL included; a longer one fails the exec with `E2BIG`.
pub const MAX_ARG_BYTES: usize = 128 * 1024;

/// What `queue run` keeps free around a prompt for the rest of its packet (the header, the
/// closeout instructions, a recovery's account of earlier iterations) when it checks that the
/// packet will fit an argument.
pub const PACKET_RESERVE_BYTES: usize = 16 * 1024;

/// An argv ready to hand to the wrapper: `{packet_file}` and `{cwd}` filled in, while the
/// arguments listed in `packet_args` still hold `{packet}`, which the wrapper fills from the
/// packet file ([`fill`]). It is also what an agent's record shows: short and readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The arguments.
    pub argv: Vec<String>,
    /// The indices (into `argv`) of the arguments that hold `{packet}`.
    pub packet_args: Vec<usize>,
}

/// The argv to run for a packet: the placeholders filled in, in one pass (text a placeholder
/// brings in is never itself read for placeholders), except `{packet}` (see [`Rendered`]).
pub fn render(argv: &[String], packet_file: &str, cwd: &str) -> Rendered {
    let argv: Vec<String> = argv
        .iter()
        .map(|arg| {
            let mut out = String::with_capacity(arg.len());
            let mut rest = arg.as_str();
            while let Some(open) = rest.find('{') {
                out.push_str(&rest[..open]);
                rest = &rest[open..];
                let (token, value) = if rest.starts_with("{packet_file}") {
                    ("{packet_file}", packet_file)
                } else if rest.starts_with("{cwd}") {
                    ("{cwd}", cwd)
                } else if rest.starts_with("{packet}") {
                    ("{packet}", "{packet}")
                } else {
                    ("{", "{")
                };
                out.push_str(value);
                rest = &rest[token.len()..];
            }
            out.push_str(rest);
            out
        })
        .collect();
    let packet_args = (0..argv.len()).filter(|&i| argv[i].contains("{packet}")).collect();
    Rendered { argv, packet_args }
}

/// A rendered argument with the packet text in place of each `{packet}`: what the wrapper runs.
pub fn fill(arg: &str, packet: &str) -> String {
    arg.replace("{packet}", packet)
}

/// Whether a command takes the packet text as (part of) an argument.
pub fn takes_packet_argument(argv: &[String]) -> bool {
    argv.iter().any(|arg| arg.contains("{packet}"))
}

/// A packet too long to be given to a program in one argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "argument {index} would be {bytes} bytes with the packet in it, more than the {} bytes the OS passes \
     in one argument; use a command that reads {{packet_file}} or standard input",
    MAX_ARG_BYTES - 1
)]
pub struct TooLong {
    /// Which argument (0 is the program).
    pub index: usize,
    /// Its length with the packet filled in, in bytes.
    pub bytes: usize,
}

/// Checks that every argument of `argv` (rendered or not) stays within [`MAX_ARG_BYTES`] once a
/// packet of `packet_bytes` bytes fills its `{packet}`s.
pub fn check_fits(argv: &[String], packet_bytes: usize) -> Result<(), TooLong> {
    for (index, arg) in argv.iter().enumerate() {
        let holes = arg.matches("{packet}").count();
        let bytes = arg.len() - holes * "{packet}".len() + holes * packet_bytes;
        if bytes >= MAX_ARG_BYTES {
            return Err(TooLong { index, bytes });
        }
    }
    Ok(())
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
    fn rendering_fills_placeholders_inside_arguments_and_leaves_the_packet_to_the_wrapper() {
        let rendered = render(
            &argv(&["agent", "{packet}", "--file={packet_file}", "-C", "{cwd}", "--p={packet}!"]),
            "/tmp/p.md",
            "/wt",
        );
        assert_eq!(rendered.argv, ["agent", "{packet}", "--file=/tmp/p.md", "-C", "/wt", "--p={packet}!"]);
        assert_eq!(rendered.packet_args, [1, 5]);
        assert_eq!(fill(&rendered.argv[5], "do it; rm -rf / {cwd}"), "--p=do it; rm -rf / {cwd}!");
        // One pass: a value is never read for placeholders, an unknown `{` stays as it is.
        let odd = render(&argv(&["a", "{x} {cwd}{packet_file}"]), "/{cwd}/p", "/w{packet_file}");
        assert_eq!(odd.argv, ["a", "{x} /w{packet_file}/{cwd}/p"]);
        assert!(odd.packet_args.is_empty());
        assert!(takes_packet_argument(&argv(&["a", "-p={packet}"])));
        assert!(!takes_packet_argument(&argv(&["a", "{packet_file}"])));
    }

    #[test]
    fn a_packet_fits_an_argument_up_to_the_os_limit() {
        let command = argv(&["agent", "--prompt={packet}"]);
        let room = MAX_ARG_BYTES - 1 - "--prompt=".len();
        assert_eq!(check_fits(&command, room), Ok(()));
        assert_eq!(check_fits(&command, room + 1), Err(TooLong { index: 1, bytes: MAX_ARG_BYTES }));
        assert_eq!(check_fits(&argv(&["agent", "{packet_file}"]), 10 << 20), Ok(()), "a file path is short");
        assert_eq!(
            check_fits(&argv(&["a", "{packet}{packet}"]), 70_000).unwrap_err().to_string(),
            "argument 1 would be 140000 bytes with the packet in it, more than the 131071 bytes the OS passes in \
             one argument; use a command that reads {packet_file} or standard input"
        );
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
