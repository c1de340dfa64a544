//! The chaos world: a repository, a counting scripted agent and a daemon that the chaos suite
//! kills, restarts and starves, then audits ([`audit`]) for lost items, duplicate launches and
//! orphans.
//!
//! The short form is `tests/integration/chaos.rs`; `cargo xtask chaos` runs the long form.

pub mod audit;
pub mod faults;
pub mod trial;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Daemon, Env, wait_until};

/// The chaos agent. Each start appends its slug to `<env>/starts.log` before anything else, so
/// duplicate starts are counted independently of the store; `directive: wait-for FILE` waits
/// for FILE; it commits `<slug>.txt` (content unique per start, so a second start delivers a
/// second commit), closes out with success and appends `<slug> <closeout exit code>` to
/// `<env>/ends.log`. `directive: crash-closeout` arms the `after-closeout-delivered` fault point
/// for the first closeout of that slug.
pub const AGENT: &str = r#"#!/bin/sh
[ "$1" = "--version" ] && { echo "chaos-agent 1.0"; exit 0; }
root="$(dirname "$0")"
packet="${1:-$QCOLD_PACKET_FILE}"
slug="$QCOLD_TASK_SLUG"
echo "$slug" >> "$root/starts.log"
gate=$(sed -n 's/.*directive: wait-for \([^ ]*\).*/\1/p' "$packet" | head -n 1)
if [ -n "$gate" ]; then
  while [ ! -e "$gate" ]; do sleep 0.05; done
fi
echo "$slug $$" > "$slug.txt"
git add "$slug.txt" && git commit -q -m "$slug" || { echo "$slug commit-failed" >> "$root/ends.log"; exit 4; }
if grep -q "directive: crash-closeout" "$packet" && mkdir "$root/crashed-$slug" 2>/dev/null; then
  QCOLD_FAULT_POINT=after-closeout-delivered qcold task closeout --outcome success --message "deliver $slug"
else
  qcold task closeout --outcome success --message "deliver $slug"
fi
code=$?
echo "$slug $code" >> "$root/ends.log"
exit $code
"#;

/// Settings every chaos daemon runs with besides [`crate::RELAXED_ADMISSION`] (admission never
/// refuses for host load; the suite shares a small host with itself): launch retries and
/// reconciliation are quick.
pub const DAEMON_VARS: [(&str, &str); 2] = [
    ("QCOLD_QUEUE_LAUNCH_RETRY_SECONDS", "1,1,1,1,1,1,1,1,1,1"),
    ("QCOLD_WEB_QUEUE_STATUS_SYNC_INTERVAL_SECONDS", "1"),
];

/// How long a chaos run may take to end once nothing disturbs it any more. Shorter than the
/// lease TTL (120 s) on purpose: a restarted daemon must displace its dead predecessor's leases at
/// once, not wait them out.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A small seeded generator (SplitMix64): chaos trials print their seed and replay with it.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A duration uniformly in `[0, max)`.
    pub fn below(&mut self, max: Duration) -> Duration {
        let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(self.next_u64() % millis)
    }
}

/// A seed from the clock, for a trial that prints it.
pub fn fresh_seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(now.as_nanos() % u128::from(u64::MAX)).unwrap_or(1) ^ u64::from(std::process::id())
}

/// A graph package of `items` items in `waves` waves: item `n<i>` of wave `w > 0` depends on one
/// item of wave `w - 1`, so every wave waits for the one before. `directive(i, wave)` is added to
/// item `i`'s prompt.
pub fn graph(items: usize, waves: usize, directive: impl Fn(usize, usize) -> String) -> Value {
    let per_wave = items.div_ceil(waves.max(1)).max(1);
    let list: Vec<Value> = (0..items)
        .map(|i| {
            let wave = i / per_wave;
            let prompt = format!("chaos item {i} {}", directive(i, wave));
            let mut item = json!({"id": format!("n{i:02}"), "prompt": prompt});
            if wave > 0 {
                let dep = (wave - 1) * per_wave + i % per_wave;
                item["depends_on"] = json!(format!("n{dep:02}"));
            }
            item
        })
        .collect();
    json!({"execution_mode": "graph", "agent": "chaos", "items": list})
}

/// No directive for any item.
pub fn plain(_: usize, _: usize) -> String {
    String::new()
}

/// A repository with a bare origin, the chaos agent registered as `chaos`, and (once started) a
/// daemon; every piece is real.
#[derive(Debug)]
pub struct World {
    /// The environment (temp dir, state dir).
    pub env: Env,
    /// The primary checkout.
    pub repo: PathBuf,
    /// The bare origin `main` tracks.
    pub origin: PathBuf,
    /// The running daemon, if one is.
    pub daemon: Option<Daemon>,
    vars: Vec<(String, String)>,
}

impl World {
    /// A fresh world with no daemon yet.
    pub fn new() -> Self {
        Self::on(Env::new())
    }

    /// A world in `env` (whose state dir may already be a mount point).
    pub fn on(env: Env) -> Self {
        let (repo, origin) = env.git_repo_with_origin("web");
        env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "true"]).ok();
        let agent = env.path().join("agent.sh");
        std::fs::write(&agent, AGENT).expect("write the chaos agent");
        std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        env.qcold(&["agent", "command", "add", "chaos", "--probe", "true", "--", agent.to_str().expect("utf-8")]).ok();
        let vars = crate::RELAXED_ADMISSION
            .iter()
            .chain(&DAEMON_VARS)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self { env, repo, origin, daemon: None, vars }
    }

    /// Adds settings for every daemon this world starts from now on.
    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value.to_owned()));
    }

    /// Starts a daemon with the world's settings plus `extra` (for this start only).
    pub fn start(&mut self, extra: &[(&str, &str)]) {
        assert!(self.daemon.is_none(), "a daemon is already running");
        let mut vars: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        vars.extend_from_slice(extra);
        // Each start truncates `daemon.log`; keep the earlier daemons' logs for failure messages.
        if let Ok(old) = std::fs::read_to_string(self.file("daemon.log")) {
            use std::io::Write as _;
            let mut all =
                std::fs::OpenOptions::new().create(true).append(true).open(self.file("daemons.log")).expect("log");
            let _ = all.write_all(old.as_bytes());
        }
        self.daemon = Some(Daemon::start_with(&self.env, &vars));
    }

    /// The running daemon.
    pub fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("a running daemon")
    }

    /// Kills the daemon with SIGKILL (a crash) and starts a new one on the same state dir.
    pub fn crash_and_restart(&mut self) {
        self.daemon.take().expect("a daemon").kill();
        self.start(&[]);
    }

    /// Waits until the daemon exits by itself (a fault point); true if it died by SIGKILL.
    pub fn wait_daemon_death(&mut self, timeout: Duration, also_stop: impl Fn(&Self) -> bool) -> Option<bool> {
        let mut died = None;
        wait_until(timeout, || {
            let daemon = self.daemon.as_mut().expect("a daemon");
            if let Some(status) = daemon.try_exit() {
                died = Some(std::os::unix::process::ExitStatusExt::signal(&status) == Some(9));
                return true;
            }
            also_stop(self)
        });
        if died.is_some() {
            self.daemon = None;
        }
        died
    }

    /// Submits `package` and returns the run id.
    pub fn submit(&self, package: &Value) -> String {
        let url = format!("{}/api/queue/run", self.daemon().url);
        let answer: Value = ureq::post(&url)
            .timeout(Duration::from_secs(30))
            .send_json(json!({"package": package}))
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
            .into_json()
            .expect("a queue answer");
        answer["run_id"].as_str().unwrap_or_else(|| panic!("no run id in {answer}")).to_owned()
    }

    /// The run as the daemon shows it, or `None` when no daemon answers.
    pub fn run_view(&self, run: &str) -> Option<Value> {
        let daemon = self.daemon.as_ref()?;
        let response = ureq::get(&format!("{}/api/queue", daemon.url)).timeout(Duration::from_secs(10)).call().ok()?;
        let view: Value = response.into_json().ok()?;
        view["runs"].as_array()?.iter().find(|r| r["id"] == run).cloned()
    }

    /// Waits until the run satisfies `check`; panics with the run and the daemon's warnings.
    pub fn wait_run(&self, run: &str, timeout: Duration, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let ok = wait_until(timeout, || {
            last = self.run_view(run).unwrap_or(Value::Null);
            check(&last)
        });
        assert!(
            ok,
            "timed out waiting for {what}: {}\nagent starts: {:?}\nagent ends: {:?}\n{}",
            compact(&last),
            self.starts(),
            self.ends(),
            self.daemon_warnings()
        );
        last
    }

    /// Waits until the run ends (success, failed or stopped) and returns it.
    pub fn wait_end(&self, run: &str, timeout: Duration) -> Value {
        self.wait_run(run, timeout, "the run to end", |r| {
            matches!(r["status"].as_str(), Some("success" | "failed" | "stopped"))
        })
    }

    /// Whether the run has ended, by the daemon's view (false when no daemon answers).
    pub fn ended(&self, run: &str) -> bool {
        self.run_view(run).is_some_and(|r| matches!(r["status"].as_str(), Some("success" | "failed" | "stopped")))
    }

    /// A path in the temp dir.
    pub fn file(&self, name: &str) -> PathBuf {
        self.env.path().join(name)
    }

    /// The agent starts logged so far, one slug per start.
    pub fn starts(&self) -> Vec<String> {
        lines(&self.file("starts.log"))
    }

    /// The agent ends logged so far, `<slug> <closeout exit code>`.
    pub fn ends(&self) -> Vec<String> {
        lines(&self.file("ends.log"))
    }

    /// Waits until every agent start logged so far has ended, so a crashed daemon's agents
    /// finish (and close out) while it is down.
    pub fn wait_agents_quiet(&self, timeout: Duration) -> bool {
        wait_until(timeout, || self.ends().len() >= self.starts().len())
    }

    /// The tmux socket the daemon's agents run under.
    pub fn tmux_socket(&self) -> PathBuf {
        self.env.state_dir().join("tmux.sock")
    }

    /// The warnings and errors every daemon of this world logged.
    pub fn daemon_warnings(&self) -> String {
        let log = std::fs::read_to_string(self.file("daemons.log")).unwrap_or_default()
            + &std::fs::read_to_string(self.file("daemon.log")).unwrap_or_default();
        let wanted: Vec<&str> =
            log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("fault point")).collect();
        format!("daemon warnings:\n{}", wanted.join("\n"))
    }

    /// Kills a run's leftovers (the tmux server and its agents), so a failed test leaves
    /// nothing running; called on drop, after the audit has looked.
    fn sweep(&self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(self.tmux_socket())
            .arg("kill-server")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        drop(self.daemon.take());
        self.sweep();
    }
}

/// The lines of a file (none if it is missing).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).map(|t| t.lines().map(str::to_owned).collect()).unwrap_or_default()
}

/// A run's items as `id status reason` lines, for failure messages.
pub fn compact(run: &Value) -> String {
    let items = run["items"].as_array().cloned().unwrap_or_default();
    let mut text = format!("run {} {} ({})\n", run["id"], run["status"], run["reason"]);
    for item in items {
        let rows = item["attempts"].as_array().map_or(0, Vec::len);
        text.push_str(&format!("  {} {} rows={rows} {}\n", item["id"], item["status"], item["reason"]));
    }
    text
}

/// Sleeps for a chaos delay. This is never synchronisation: it picks the moment of a fault.
pub fn pause(delay: Duration) {
    let until = Instant::now() + delay;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5).min(until.saturating_duration_since(Instant::now())));
    }
}
