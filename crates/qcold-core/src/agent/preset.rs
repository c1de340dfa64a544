//! Agent command presets: how each known agent CLI runs a task packet non-interactively, and
//! what its readiness probe must find before a launch can work.
//!
//! A preset is data: the argv, whether the packet goes to standard input, the environment it
//! needs, the help listing that must name every flag the argv passes, and where a login can be
//! seen without network. The server runs the probe; the decisions (is a flag listed, is there a
//! login) are the pure functions here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::command::{AgentCommand, Source};
use super::stream::Render;
use crate::CommandName;

/// A known agent CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// OpenAI Codex CLI: `codex exec --dangerously-bypass-approvals-and-sandbox -`.
    Codex,
    /// Claude Code: `claude -p --dangerously-skip-permissions --output-format stream-json
    /// --verbose`, its stream rendered as text.
    Claude,
    /// Gemini CLI: `gemini --approval-mode yolo -p …`, the packet on standard input.
    Gemini,
    /// opencode: `opencode run {packet}`.
    Opencode,
}

/// Where a login shows without network: an API key in the environment, or a file in the CLI's
/// configuration directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login {
    /// Environment variables any one of which is a key the CLI accepts.
    pub keys: &'static [&'static str],
    /// The variable naming the configuration directory (`CODEX_HOME`).
    pub dir_var: &'static str,
    /// The directory under `$HOME` used when `dir_var` is unset (`.codex`).
    pub home_dir: &'static str,
    /// Files in that directory that show a login: a name, and text it must contain (if any).
    pub files: &'static [(&'static str, Option<&'static str>)],
    /// How to log in, for the reason when nothing shows one.
    pub hint: &'static str,
}

/// Everything a preset fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The program.
    pub program: &'static str,
    /// Its arguments, with placeholders.
    pub args: &'static [&'static str],
    /// The packet on standard input.
    pub stdin: bool,
    /// Environment the launch needs, before the command's own.
    pub env: &'static [(&'static str, &'static str)],
    /// The arguments that print the help listing the flags (`exec --help`).
    pub help: &'static [&'static str],
    /// The flags of `args` the help must list.
    pub flags: &'static [&'static str],
    /// Where a login shows, when the CLI has one place for it.
    pub login: Option<Login>,
    /// How the wrapper shows its standard output.
    pub render: Render,
}

const CODEX: Spec = Spec {
    program: "codex",
    // `-` reads the prompt from standard input. The bypass flag is what lets Codex write the
    // worktree's git dir, which lives in the primary checkout's `.git/worktrees/<n>` and so is
    // outside what `--sandbox workspace-write` allows.
    args: &["exec", "--dangerously-bypass-approvals-and-sandbox", "-"],
    stdin: true,
    env: &[],
    help: &["exec", "--help"],
    flags: &["--dangerously-bypass-approvals-and-sandbox"],
    login: Some(Login {
        keys: &["OPENAI_API_KEY", "CODEX_API_KEY"],
        dir_var: "CODEX_HOME",
        home_dir: ".codex",
        files: &[("auth.json", None), ("config.toml", Some("model_provider"))],
        hint: "run `codex login`, or give the command --env OPENAI_API_KEY=… or --env CODEX_HOME=…",
    }),
    render: Render::Plain,
};

const CLAUDE: Spec = Spec {
    program: "claude",
    // With no prompt argument, `-p` reads the prompt from standard input. Plain `-p` prints
    // nothing until the end; the stream shows each step as it happens, rendered by the wrapper.
    args: &["-p", "--dangerously-skip-permissions", "--output-format", "stream-json", "--verbose"],
    stdin: true,
    // Claude Code refuses --dangerously-skip-permissions as root unless told it is sandboxed;
    // the task's worktree is the sandbox.
    env: &[("IS_SANDBOX", "1")],
    help: &["--help"],
    flags: &["--dangerously-skip-permissions", "--output-format", "--verbose"],
    login: Some(Login {
        keys: &["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"],
        dir_var: "CLAUDE_CONFIG_DIR",
        home_dir: ".claude",
        files: &[(".credentials.json", None)],
        hint: "run `claude` once and log in, or give the command --env ANTHROPIC_API_KEY=…",
    }),
    render: Render::ClaudeStreamJson,
};

const GEMINI: Spec = Spec {
    program: "gemini",
    // `-p` runs headless; its text is appended to standard input, which holds the packet.
    args: &["--approval-mode", "yolo", "-p", "Carry out the task described above."],
    stdin: true,
    env: &[],
    help: &["--help"],
    flags: &["--approval-mode", "--prompt"],
    login: Some(Login {
        keys: &["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS"],
        dir_var: "GEMINI_CLI_HOME",
        home_dir: ".gemini",
        files: &[("oauth_creds.json", None)],
        hint: "run `gemini` once and log in, or give the command --env GEMINI_API_KEY=…",
    }),
    render: Render::Plain,
};

const OPENCODE: Spec = Spec {
    program: "opencode",
    // `run` takes the message as arguments, not from standard input.
    args: &["run", "{packet}"],
    stdin: false,
    env: &[],
    help: &["run", "--help"],
    flags: &[],
    // opencode talks to many providers, each with its own key; nothing cheap tells.
    login: None,
    render: Render::Plain,
};

impl Preset {
    /// Every preset, in the order defaults are offered.
    pub const ALL: [Preset; 4] = [Preset::Codex, Preset::Claude, Preset::Gemini, Preset::Opencode];

    /// The preset's name, which is also the default command's name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Codex => "codex",
            Preset::Claude => "claude",
            Preset::Gemini => "gemini",
            Preset::Opencode => "opencode",
        }
    }

    /// What the preset fixes.
    pub fn spec(self) -> &'static Spec {
        match self {
            Preset::Codex => &CODEX,
            Preset::Claude => &CLAUDE,
            Preset::Gemini => &GEMINI,
            Preset::Opencode => &OPENCODE,
        }
    }

    /// The argv, with placeholders.
    pub fn argv(self) -> Vec<String> {
        let spec = self.spec();
        std::iter::once(spec.program).chain(spec.args.iter().copied()).map(str::to_owned).collect()
    }

    /// The argv of the help listing the probe reads.
    pub fn help_argv(self) -> Vec<String> {
        let spec = self.spec();
        std::iter::once(spec.program).chain(spec.help.iter().copied()).map(str::to_owned).collect()
    }

    /// The environment the launch needs.
    pub fn env(self) -> Vec<(String, String)> {
        self.spec().env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// The command this preset defines under `name`.
    pub fn command(self, name: CommandName, source: Source) -> AgentCommand {
        AgentCommand {
            name,
            argv: self.argv(),
            stdin: self.spec().stdin,
            interactive: false,
            probe: None,
            source,
            preset: Some(self),
            env: self.spec().env.iter().map(|(k, _)| (*k).to_owned()).collect(),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A preset name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown preset {0:?}; known: codex, claude, gemini, opencode")]
pub struct UnknownPreset(pub String);

impl FromStr for Preset {
    type Err = UnknownPreset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| UnknownPreset(s.to_owned()))
    }
}

/// The flags of `flags` that `help` does not list. A flag is listed when it appears followed by
/// anything but another flag character, so `--approval-mode` is not found in
/// `--approval-mode-extra`.
pub fn unlisted<'a>(help: &str, flags: &[&'a str]) -> Vec<&'a str> {
    let listed = |flag: &str| {
        help.match_indices(flag).any(|(at, _)| {
            let before = help[..at].chars().next_back();
            let after = help[at + flag.len()..].chars().next();
            let part = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            !before.is_some_and(part) && !after.is_some_and(part)
        })
    };
    flags.iter().copied().filter(|f| !listed(f)).collect()
}

impl Login {
    /// The CLI's configuration directory: `dir_var`, else `$HOME/home_dir`. `var` looks a
    /// variable up in the environment the agent gets.
    pub fn dir(&self, var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        match var(self.dir_var) {
            Some(dir) => Some(dir),
            None => var("HOME").map(|home| format!("{}/{}", home.trim_end_matches('/'), self.home_dir)),
        }
    }

    /// What shows a login (`Ok`) or why none does (`Err`). `read` gives a file's text, `None`
    /// when it cannot be read.
    pub fn judge(
        &self,
        var: &dyn Fn(&str) -> Option<String>,
        read: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, String> {
        if let Some(key) = self.keys.iter().find(|k| var(k).is_some()) {
            return Ok(format!("{key} is set"));
        }
        let dir = self.dir(var);
        if let Some(dir) = &dir {
            for (file, needs) in self.files {
                let path = format!("{dir}/{file}");
                if read(&path).is_some_and(|text| needs.is_none_or(|n| text.contains(n))) {
                    return Ok(format!("{path} found"));
                }
            }
        }
        let files = self.files.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(" or ");
        let place = dir.map_or_else(|| format!("no HOME and no {}", self.dir_var), |d| format!("no {files} in {d}"));
        Err(format!("not logged in: {place}, and none of {} is set; {}", self.keys.join(", "), self.hint))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use expect_test::{Expect, expect};

    use super::*;

    fn check(preset: Preset, expect: Expect) {
        let spec = preset.spec();
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let shown = format!(
            "argv: {}\nstdin: {}\nenv: {}\nhelp: {}\nflags: {}\nlogin: {}",
            preset.argv().join(" "),
            spec.stdin,
            env.join(" "),
            preset.help_argv().join(" "),
            spec.flags.join(" "),
            spec.login.map_or("-".into(), |l| format!("{} or ${}/{:?}", l.keys.join("|"), l.dir_var, l.files)),
        );
        expect.assert_eq(&shown);
    }

    #[test]
    fn presets() {
        check(
            Preset::Codex,
            expect![[r#"
                argv: codex exec --dangerously-bypass-approvals-and-sandbox -
                stdin: true
                env: 
                help: codex exec --help
                flags: --dangerously-bypass-approvals-and-sandbox
                login: OPENAI_API_KEY|CODEX_API_KEY or $CODEX_HOME/[("auth.json", None), ("config.toml", Some("model_provider"))]"#]],
        );
        check(
            Preset::Claude,
            expect![[r#"
                argv: claude -p --dangerously-skip-permissions --output-format stream-json --verbose
                stdin: true
                env: IS_SANDBOX=1
                help: claude --help
                flags: --dangerously-skip-permissions --output-format --verbose
                login: ANTHROPIC_API_KEY|ANTHROPIC_AUTH_TOKEN|CLAUDE_CODE_OAUTH_TOKEN or $CLAUDE_CONFIG_DIR/[(".credentials.json", None)]"#]],
        );
        check(
            Preset::Gemini,
            expect![[r#"
                argv: gemini --approval-mode yolo -p Carry out the task described above.
                stdin: true
                env: 
                help: gemini --help
                flags: --approval-mode --prompt
                login: GEMINI_API_KEY|GOOGLE_API_KEY|GOOGLE_APPLICATION_CREDENTIALS or $GEMINI_CLI_HOME/[("oauth_creds.json", None)]"#]],
        );
        check(
            Preset::Opencode,
            expect![[r#"
                argv: opencode run {packet}
                stdin: false
                env: 
                help: opencode run --help
                flags: 
                login: -"#]],
        );
    }

    #[test]
    fn every_preset_is_a_valid_command_whose_flags_its_help_is_asked_for() {
        for preset in Preset::ALL {
            assert_eq!(super::super::command::check_argv(&preset.argv()), Ok(()), "{preset}");
            assert_eq!(preset.name().parse::<Preset>(), Ok(preset));
            for arg in preset.spec().args.iter().filter(|a| a.starts_with("--")) {
                assert!(
                    preset.spec().flags.contains(arg),
                    "{preset}: {arg} is passed but its help is not checked for it"
                );
            }
            let command = preset.command(CommandName::new(preset.name()).unwrap(), Source::Default);
            assert_eq!(command.stdin, preset.spec().stdin);
        }
        assert_eq!(
            "cursor".parse::<Preset>().unwrap_err().to_string(),
            "unknown preset \"cursor\"; known: codex, claude, gemini, opencode"
        );
    }

    #[test]
    fn flags_are_found_as_whole_words() {
        let help = "Options:\n      --dangerously-bypass-approvals-and-sandbox\n          Skip all confirmation\n  -s, --sandbox <MODE>\n";
        assert_eq!(unlisted(help, &["--dangerously-bypass-approvals-and-sandbox", "--sandbox"]), Vec::<&str>::new());
        assert_eq!(unlisted(help, &["--full-auto", "--sand"]), ["--full-auto", "--sand"]);
        assert_eq!(unlisted("--approval-mode-extra", &["--approval-mode"]), ["--approval-mode"]);
        assert_eq!(unlisted("x --prompt, -p", &["--prompt"]), Vec::<&str>::new());
    }

    #[test]
    fn a_login_shows_as_a_key_or_a_file() {
        let login = Preset::Codex.spec().login.unwrap();
        let judge = |vars: &[(&str, &str)], files: &[(&str, &str)]| {
            let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
            let files: BTreeMap<String, String> = files.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
            login.judge(&|k| vars.get(k).cloned(), &|p| files.get(p).cloned())
        };
        assert_eq!(judge(&[("HOME", "/root"), ("OPENAI_API_KEY", "sk")], &[]), Ok("OPENAI_API_KEY is set".into()));
        assert_eq!(
            judge(&[("HOME", "/root/")], &[("/root/.codex/auth.json", "{}")]),
            Ok("/root/.codex/auth.json found".into())
        );
        assert_eq!(
            judge(&[("HOME", "/root"), ("CODEX_HOME", "/ch")], &[("/ch/config.toml", "model_provider = \"mock\"")]),
            Ok("/ch/config.toml found".into())
        );
        assert_eq!(
            judge(&[("HOME", "/root"), ("CODEX_HOME", "/ch")], &[("/ch/config.toml", "model = \"o3\""), ("/root/.codex/auth.json", "{}")]),
            Err("not logged in: no auth.json or config.toml in /ch, and none of OPENAI_API_KEY, CODEX_API_KEY is set; run `codex login`, or give the command --env OPENAI_API_KEY=… or --env CODEX_HOME=…".into())
        );
        assert!(judge(&[], &[]).unwrap_err().starts_with("not logged in: no HOME and no CODEX_HOME,"));
    }
}
