//! Agent command presets, their readiness and a command's own environment, with fake `codex` and
//! `claude` executables on a PATH the test controls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qcold_tests::{Daemon, Env, wait_until};

const SECRET: &str = "sk-test-0123456789-secret";

/// A directory of fake CLIs; each records its argv (one per line), stdin and chosen variables
/// under `rec/` when it is run for real, and answers `--version` (after a warning on stderr, as
/// codex-cli 0.171 gives one) and `--help` as told.
struct Fakes {
    bin: PathBuf,
    rec: PathBuf,
}

impl Fakes {
    fn new(env: &Env) -> Self {
        let bin = env.path().join("bin");
        let rec = env.path().join("rec");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&rec).unwrap();
        Self { bin, rec }
    }

    fn write(&self, name: &str, help: &str) {
        let script = format!(
            "#!/bin/sh\n\
             case \"$*\" in\n\
             --version) echo 'WARNING: could not create PATH aliases' >&2; echo '{name}-cli 9.9.9'; exit 0;;\n\
             *--help) printf '%s\\n' '{help}'; exit 0;;\n\
             esac\n\
             printf '%s\\n' \"$@\" > {rec}/{name}.argv\n\
             cat > {rec}/{name}.stdin\n\
             env | grep -E '^(OPENAI_API_KEY|IS_SANDBOX|EXTRA|QCOLD_TEST_SHELL)=' | sort > {rec}/{name}.env\n\
             tr '\\0' ' ' < /proc/$PPID/cmdline > {rec}/{name}.wrapper\n",
            rec = self.rec.display()
        );
        let path = self.bin.join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }

    fn path_var(&self) -> String {
        format!("{}:/usr/bin:/bin", self.bin.display())
    }

    fn recorded(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.rec.join(file)).ok()
    }
}

fn qcold(env: &Env, fakes: &Fakes, args: &[&str]) -> std::process::Output {
    let mut cmd = env.command();
    cmd.args(args).env("PATH", fakes.path_var());
    // The runner's own keys must not log the fakes in.
    for key in ["OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"] {
        cmd.env_remove(key);
    }
    cmd.env_remove("CLAUDE_CODE_OAUTH_TOKEN").env_remove("CLAUDE_CONFIG_DIR").env_remove("IS_SANDBOX");
    cmd.output().unwrap()
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

fn ok(output: std::process::Output) -> String {
    assert!(output.status.success(), "qcold failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn listed(env: &Env, fakes: &Fakes) -> (String, Vec<serde_json::Value>) {
    let text = ok(qcold(env, fakes, &["agent", "command", "list", "--json", "--refresh"]));
    let parsed = serde_json::from_str(&text).unwrap();
    (text, parsed)
}

fn find<'a>(list: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    list.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name} is listed: {list:?}"))
}

const CODEX_HELP: &str = "Usage: codex exec [OPTIONS] [PROMPT]\n      --dangerously-bypass-approvals-and-sandbox\n          Skip all confirmation prompts";

#[test]
fn the_codex_preset_launches_with_exactly_its_flags_and_the_packet_on_stdin_and_keeps_its_env_secret() {
    let env = Env::new();
    let fakes = Fakes::new(&env);
    fakes.write("codex", CODEX_HELP);
    let env_file = env.path().join("codex.env");
    std::fs::write(&env_file, format!("# the key\nOPENAI_API_KEY={SECRET}\nEXTRA=from-file\n")).unwrap();
    let added = ok(qcold(
        &env,
        &fakes,
        &[
            "agent",
            "command",
            "add",
            "c1",
            "--preset",
            "codex",
            "--env-file",
            env_file.to_str().unwrap(),
            "--env",
            "EXTRA=from-flag",
        ],
    ));
    assert!(!added.contains(SECRET), "{added}");
    assert!(added.contains("env: EXTRA, OPENAI_API_KEY"), "{added}");

    let (text, list) = listed(&env, &fakes);
    assert!(!text.contains(SECRET), "the JSON never holds a value: {text}");
    let c1 = find(&list, "c1");
    assert_eq!(c1["argv"], serde_json::json!(["codex", "exec", "--dangerously-bypass-approvals-and-sandbox", "-"]));
    assert_eq!(c1["stdin"], true);
    assert_eq!(c1["preset"], "codex");
    assert_eq!(c1["env"], serde_json::json!(["EXTRA", "OPENAI_API_KEY"]));
    assert_eq!(c1["readiness"]["ready"], true, "{c1}");
    assert_eq!(c1["readiness"]["reason"], "codex-cli 9.9.9 (OPENAI_API_KEY is set)");
    // The default offered for codex on PATH is the very same preset.
    let default = find(&list, "codex");
    assert_eq!(default["source"], "default");
    assert_eq!(default["argv"], c1["argv"]);
    assert_eq!(default["preset"], "codex");
    assert_eq!(default["readiness"]["ready"], false, "the default has no key: {default}");
    let table = ok(qcold(&env, &fakes, &["agent", "command", "list"]));
    assert!(!table.contains(SECRET), "{table}");
    assert!(fakes.recorded("codex.argv").is_none(), "probing never runs the agent itself");

    let packet = env.path().join("packet.md");
    std::fs::write(&packet, "Fix the login; $HOME stays literal.\n").unwrap();
    ok(qcold(
        &env,
        &fakes,
        &["agent", "command", "run", "c1", "--packet-file", packet.to_str().unwrap(), "--track", "t"],
    ));
    assert!(wait_until(Duration::from_secs(15), || fakes.recorded("codex.env").is_some()), "the agent ran");
    assert!(wait_until(Duration::from_secs(15), || {
        let agents = ok(qcold(&env, &fakes, &["agent", "list", "--json"]));
        agents.contains("\"exited\"")
    }));
    assert_eq!(fakes.recorded("codex.argv").unwrap(), "exec\n--dangerously-bypass-approvals-and-sandbox\n-\n");
    assert_eq!(fakes.recorded("codex.stdin").unwrap(), "Fix the login; $HOME stays literal.\n");
    assert_eq!(fakes.recorded("codex.env").unwrap(), format!("EXTRA=from-flag\nOPENAI_API_KEY={SECRET}\n"));
    // The values reach the agent through a file its wrapper reads and removes, never through a
    // command line any process listing shows.
    let wrapper = fakes.recorded("codex.wrapper").unwrap();
    assert!(wrapper.contains("agent-run") && wrapper.contains("--env-file"), "{wrapper}");
    assert!(!wrapper.contains(SECRET), "{wrapper}");
    let leftovers: Vec<_> =
        walk(&env.state_dir().join("agents")).into_iter().filter(|p| p.ends_with("env.json")).collect();
    assert!(leftovers.is_empty(), "the environment file is removed once read: {leftovers:?}");
    let agents = ok(qcold(&env, &fakes, &["agent", "list", "--json"]));
    assert!(!agents.contains(SECRET), "{agents}");
    let table = ok(qcold(&env, &fakes, &["agent", "list"]));
    assert!(!table.contains(SECRET), "{table}");

    let daemon = Daemon::start_with(&env, &[("PATH", &fakes.path_var())]);
    let (status, body) = daemon.get("/api/agent-commands");
    assert_eq!(status, 200);
    assert!(body.contains("\"OPENAI_API_KEY\"") && !body.contains(SECRET), "{body}");
    let log = std::fs::read_to_string(env.path().join("daemon.log")).unwrap_or_default();
    assert!(!log.contains(SECRET), "{log}");
}

#[test]
fn readiness_says_why_when_the_help_lacks_a_flag_or_no_login_shows() {
    let env = Env::new();
    let fakes = Fakes::new(&env);
    fakes.write("claude", "Usage: claude [options]\n  -p, --print  Print response and exit");
    fakes.write("codex", CODEX_HELP);
    ok(qcold(&env, &fakes, &["agent", "command", "add", "cl", "--preset", "claude", "--env", "ANTHROPIC_API_KEY=k"]));
    let (_, list) = listed(&env, &fakes);
    let cl = find(&list, "cl");
    assert_eq!(cl["readiness"]["ready"], false);
    assert_eq!(
        cl["readiness"]["reason"],
        "`claude --help` does not list --dangerously-skip-permissions, --output-format, --verbose (claude-cli 9.9.9): \
         this claude does not take the flags the preset passes; update it, or register a custom command"
    );
    assert_eq!(cl["env"], serde_json::json!(["IS_SANDBOX", "ANTHROPIC_API_KEY"]));

    let home = env.path().join("home");
    let codex = find(&list, "codex");
    assert_eq!(codex["readiness"]["ready"], false);
    assert_eq!(
        codex["readiness"]["reason"],
        format!(
            "not logged in: no auth.json or config.toml in {}/.codex, and none of OPENAI_API_KEY, CODEX_API_KEY is \
             set; run `codex login`, or give the command --env OPENAI_API_KEY=… or --env CODEX_HOME=…",
            home.display()
        )
    );
    // A login file in the CODEX_HOME the command names makes it ready.
    let codex_home = env.path().join("codex-home");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(codex_home.join("auth.json"), "{}").unwrap();
    let var = format!("CODEX_HOME={}", codex_home.display());
    ok(qcold(&env, &fakes, &["agent", "command", "add", "codex", "--preset", "codex", "--env", &var]));
    let (_, list) = listed(&env, &fakes);
    assert_eq!(
        find(&list, "codex")["readiness"]["reason"],
        format!("codex-cli 9.9.9 ({}/auth.json found)", codex_home.display())
    );
    assert_eq!(find(&list, "codex")["readiness"]["ready"], true);
}

#[test]
fn a_custom_command_is_ready_when_its_program_is_executable_and_is_never_run_to_probe_it() {
    let env = Env::new();
    let fakes = Fakes::new(&env);
    let runs = env.path().join("runs");
    let script = fakes.bin.join("my-agent");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> {}\n[ \"$1\" = --version ] && exit 3\nexit 0\n", runs.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let plain = env.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    ok(qcold(&env, &fakes, &["agent", "command", "add", "mine", "--", "my-agent", "{packet_file}"]));
    ok(qcold(&env, &fakes, &["agent", "command", "add", "abs", "--", script.to_str().unwrap()]));
    ok(qcold(&env, &fakes, &["agent", "command", "add", "plain", "--", plain.to_str().unwrap()]));
    let (_, list) = listed(&env, &fakes);
    assert_eq!(find(&list, "mine")["readiness"]["ready"], true);
    assert_eq!(
        find(&list, "mine")["readiness"]["reason"],
        format!("{} is executable (not run to probe it)", script.display())
    );
    assert_eq!(find(&list, "abs")["readiness"]["ready"], true);
    assert_eq!(find(&list, "plain")["readiness"]["ready"], false);
    assert_eq!(find(&list, "plain")["readiness"]["reason"], format!("{} is not an executable file", plain.display()));
    assert!(!Path::new(&runs).exists(), "the probe ran the operator's script: {:?}", std::fs::read_to_string(&runs));

    let refused = qcold(&env, &fakes, &["agent", "command", "add", "x", "--env", "QCOLD_BIN=/x", "--", "true"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("QCOLD_BIN is set by qcold"), "{refused:?}");
    let refused = qcold(&env, &fakes, &["agent", "command", "add", "x", "--preset", "codex", "--", "codex"]);
    assert!(!refused.status.success());
}

/// What a `claude -p --output-format stream-json --verbose` run prints, a step at a time.
const CLAUDE_STREAM: [&str; 3] = [
    r#"{"type":"system","subtype":"init","cwd":"/w","session_id":"s1","model":"claude-test","tools":["Bash"]}"#,
    r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Committing the note."},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"git commit -m note"}}]}}"#,
    r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":2500,"num_turns":2,"total_cost_usd":0.5,"result":"done"}"#,
];

#[test]
fn the_claude_preset_shows_its_stream_as_readable_steps_while_it_works_and_keeps_them_in_its_log() {
    let env = Env::new();
    let fakes = Fakes::new(&env);
    let gate = env.path().join("gate");
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in\n--version) echo 'claude-cli 9.9.9'; exit 0;;\n\
         *--help) echo '--dangerously-skip-permissions --output-format --verbose'; exit 0;;\nesac\n\
         cat > /dev/null\necho '{}'\necho '{}'\nwhile [ ! -e {} ]; do sleep 0.05; done\necho '{}'\n",
        CLAUDE_STREAM[0],
        CLAUDE_STREAM[1],
        gate.display(),
        CLAUDE_STREAM[2]
    );
    std::fs::write(fakes.bin.join("claude"), script).unwrap();
    std::fs::set_permissions(fakes.bin.join("claude"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ok(qcold(&env, &fakes, &["agent", "command", "add", "cl", "--preset", "claude", "--env", "ANTHROPIC_API_KEY=k"]));
    let packet = env.path().join("packet.md");
    std::fs::write(&packet, "Write a note.\n").unwrap();
    let started = ok(qcold(
        &env,
        &fakes,
        &["agent", "command", "run", "cl", "--packet-file", packet.to_str().unwrap(), "--track", "t", "--terminal"],
    ));
    let id = started.split_whitespace().nth(2).unwrap().to_owned();
    let tail = || String::from_utf8_lossy(&qcold(&env, &fakes, &["agent", "tail", &id]).stdout).into_owned();
    assert!(
        wait_until(Duration::from_secs(15), || tail().contains("▸ Bash: git commit -m note")),
        "the tool call shows while the agent works: {}",
        tail()
    );
    let working = tail();
    assert!(working.contains("● claude started: model claude-test") && working.contains("Committing the note."));
    assert!(!working.contains("\"type\""), "no raw JSON on the terminal: {working}");
    std::fs::write(&gate, "").unwrap();
    assert!(wait_until(Duration::from_secs(15), || ok(qcold(&env, &fakes, &["agent", "list", "--json"]))
        .contains("\"exited\"")));
    let log = std::fs::read_to_string(env.state_dir().join("agents").join(&id).join("terminal.log")).unwrap();
    assert_eq!(
        log,
        "● claude started: model claude-test, in /w\nCommitting the note.\n▸ Bash: git commit -m note\n\
         ● claude done (success): 2.5 s, 2 turns, $0.5000\n",
        "the log holds every step from the first"
    );
}

#[test]
fn readiness_probed_in_a_shell_is_not_taken_for_the_daemons() {
    let env = Env::new();
    let fakes = Fakes::new(&env);
    fakes.write("codex", CODEX_HELP);
    ok(qcold(&env, &fakes, &["agent", "command", "add", "c1", "--preset", "codex", "--env", "OPENAI_API_KEY=k"]));
    // An operator's shell without codex on its PATH probes first and caches what it saw.
    let mut shell = env.command();
    shell.args(["agent", "command", "list", "--json", "--refresh"]).env("PATH", "/usr/bin:/bin");
    let seen: Vec<serde_json::Value> = serde_json::from_str(&ok(shell.output().unwrap())).unwrap();
    assert_eq!(find(&seen, "c1")["readiness"]["reason"], "codex not found");
    // The daemon, whose agents find codex, answers for its own environment at once.
    let daemon = Daemon::start_with(&env, &[("PATH", &fakes.path_var())]);
    let (status, body) = daemon.get("/api/agent-commands");
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let commands = listed.as_array().or_else(|| listed["commands"].as_array()).unwrap_or_else(|| panic!("{body}"));
    assert_eq!(find(commands, "c1")["readiness"]["ready"], true, "{body}");
}
