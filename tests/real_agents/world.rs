//! The real-agent lane's world: a temp environment with a repository and a daemon whose PATH
//! starts with the pinned agent CLIs, and the queue operations the scenarios are made of.
//!
//! The CLIs come from `cargo xtask real-agents`, which installs them and names their `bin`
//! directory in `QCOLD_REAL_AGENTS_BIN`. Everything else is the ordinary harness: a real daemon,
//! real git, real tmux. Agents get the daemon's environment plus their command's own `--env`,
//! so a scenario gives each command its model endpoint that way, never through this process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qcold_tests::{Daemon, Env, RELAXED_ADMISSION, Run, git, wait_until};
use serde_json::Value;

/// The variable naming the directory of the pinned agent CLIs.
pub(crate) const BIN_VAR: &str = "QCOLD_REAL_AGENTS_BIN";

/// How long a scenario waits for a run: real CLIs start in seconds, not milliseconds.
pub(crate) const LONG: Duration = Duration::from_secs(180);

/// Besides [`RELAXED_ADMISSION`]: a recovery iteration waits one second, not the operator's 30 s.
const RECOVERY_DELAY: (&str, &str) = ("QCOLD_QUEUE_RECOVERY_DELAY_SECONDS", "1");

/// The directory of the pinned agent CLIs; panics with the way to get them when unset.
pub(crate) fn agents_bin() -> PathBuf {
    let Some(dir) = std::env::var_os(BIN_VAR) else {
        panic!("{BIN_VAR} is not set: run this lane with `cargo xtask real-agents`, which installs the pinned CLIs");
    };
    let dir = PathBuf::from(dir);
    assert!(dir.is_dir(), "{BIN_VAR}={} is no directory; run `cargo xtask real-agents`", dir.display());
    dir
}

/// A repository `web` (with an origin) registered and active, and a daemon whose PATH starts
/// with [`agents_bin`].
pub(crate) struct World {
    /// The temp environment.
    pub(crate) env: Env,
    /// The repository's primary checkout, where deliveries land.
    pub(crate) repo: PathBuf,
    /// The PATH the daemon and every `qcold` command here run with.
    path: String,
    daemon: Daemon,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// A fresh world with its daemon running.
    pub(crate) fn new() -> Self {
        let bin = agents_bin();
        let env = Env::new();
        let (repo, _origin) = env.git_repo_with_origin("web");
        env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "true"]).ok();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
        let mut vars: Vec<(&str, &str)> = RELAXED_ADMISSION.to_vec();
        vars.push(RECOVERY_DELAY);
        vars.push(("PATH", &path));
        let daemon = Daemon::start_with(&env, &vars);
        Self { env, repo, path, daemon }
    }

    /// The daemon.
    pub(crate) fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// A path in the temp dir (config dirs, gate files).
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.env.path().join(name)
    }

    /// Runs `qcold args…` with the daemon's PATH: commands that probe agent CLIs themselves
    /// (`agent command list --refresh`) must find the same ones the daemon does.
    pub(crate) fn qcold(&self, args: &[&str]) -> Run {
        Run::from(self.env.command().args(args).env("PATH", &self.path).output().expect("run qcold"))
    }

    /// `qcold agent command add <name> --preset <preset> --env K=V…`.
    pub(crate) fn add_command(&self, name: &str, preset: &str, vars: &[(&str, String)]) {
        let pairs: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["agent", "command", "add", name, "--preset", preset];
        for pair in &pairs {
            args.extend(["--env", pair]);
        }
        self.qcold(&args).ok();
    }

    /// The command's entry as the daemon probes it now (`POST /api/agent-commands/refresh`):
    /// the daemon's readiness is the one launches go by.
    pub(crate) fn command_entry(&self, name: &str) -> Value {
        let url = format!("{}/api/agent-commands/refresh", self.daemon.url);
        let body = serde_json::json!({"names": [name]});
        let list: Vec<Value> = match ureq::post(&url).timeout(Duration::from_secs(60)).send_json(body) {
            Ok(response) => response.into_json().expect("a command list"),
            Err(err) => panic!("POST {url}: {err}"),
        };
        list.into_iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name} is not registered"))
    }

    /// Asserts that the command's readiness comes out ready; returns its reason.
    #[track_caller]
    pub(crate) fn assert_ready(&self, name: &str) -> String {
        let entry = self.command_entry(name);
        assert_eq!(entry["readiness"]["ready"], true, "{name} is ready: {entry}");
        entry["readiness"]["reason"].as_str().unwrap_or_default().to_owned()
    }

    /// Writes `package` to a file and runs `qcold queue run --from` it; returns the run id.
    pub(crate) fn run(&self, package: &Value) -> String {
        let out = self.cli_run(package).ok();
        let id = out.split_whitespace().nth(2).expect("queued run <id>").to_owned();
        assert!(id.starts_with("run-"), "{out}");
        id
    }

    /// `qcold queue run --from <package>` against this world's daemon, as it finished.
    pub(crate) fn cli_run(&self, package: &Value) -> Run {
        let file = self.env.path().join("package.json");
        std::fs::write(&file, package.to_string()).expect("package file");
        let listen = self.daemon.listen().to_owned();
        self.qcold(&["queue", "run", "--from", file.to_str().expect("utf-8"), "--listen", &listen, "--no-start-daemon"])
    }

    /// The queue view (`GET /api/queue`).
    pub(crate) fn view(&self) -> Value {
        let (code, body) = self.daemon.get("/api/queue");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("queue view is JSON")
    }

    /// The run's view, or null before it exists.
    pub(crate) fn run_view(&self, run: &str) -> Value {
        self.view()["runs"].as_array().into_iter().flatten().find(|r| r["id"] == run).cloned().unwrap_or(Value::Null)
    }

    /// The item's view (status, reason, attempts — the ledger), or null.
    pub(crate) fn item(&self, run: &str, id: &str) -> Value {
        let run = self.run_view(run);
        run["items"].as_array().into_iter().flatten().find(|i| i["id"] == id).cloned().unwrap_or(Value::Null)
    }

    /// Waits until `check` holds for the run; panics with the run, the daemon's warnings and the
    /// agents' terminals otherwise.
    pub(crate) fn wait_run(&self, run: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let ok = wait_until(LONG, || {
            last = self.run_view(run);
            check(&last)
        });
        assert!(
            ok,
            "timed out waiting for {what}: {}\n{}",
            serde_json::to_string_pretty(&last).unwrap(),
            self.evidence(&last)
        );
        last
    }

    /// Waits until the run reaches `status` (`success`, `failed`, …).
    pub(crate) fn wait_status(&self, run: &str, status: &str) -> Value {
        self.wait_run(run, &format!("run status {status}"), |r| r["status"] == status)
    }

    /// `qcold agent tail <agent> --lines <lines>`: the agent's terminal as text.
    pub(crate) fn tail(&self, agent: &str, lines: u32) -> String {
        self.qcold(&["agent", "tail", agent, "--lines", &lines.to_string()]).ok()
    }

    /// The subjects of `main`'s commits in the primary checkout, newest first.
    pub(crate) fn base_log(&self) -> Vec<String> {
        git(&self.repo, &["log", "--format=%s", "main"]).lines().map(str::to_owned).collect()
    }

    /// Whether `name` exists in the primary checkout (a delivered file).
    pub(crate) fn delivered(&self, name: &str) -> bool {
        self.repo.join(name).is_file()
    }

    /// What a failing scenario should show: the daemon's warnings and each agent's terminal end.
    pub(crate) fn evidence(&self, run: &Value) -> String {
        let log = std::fs::read_to_string(self.env.path().join("daemon.log")).unwrap_or_default();
        let mut text: String =
            log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect::<Vec<_>>().join("\n");
        for item in run["items"].as_array().into_iter().flatten() {
            for attempt in item["attempts"].as_array().into_iter().flatten() {
                if let Some(log) = attempt["log"].as_str() {
                    let end = std::fs::read_to_string(Path::new(log)).unwrap_or_default();
                    let start = end.len().saturating_sub(3000);
                    let start = (start..end.len()).find(|i| end.is_char_boundary(*i)).unwrap_or(end.len());
                    text.push_str(&format!(
                        "\n--- {} iteration {} ({log}):\n{}",
                        item["id"],
                        attempt["iteration"],
                        &end[start..]
                    ));
                }
            }
        }
        text
    }
}
