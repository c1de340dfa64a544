//! Daemon and CLI configuration; the only module that reads environment variables.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qcold_core::queue::TaskClass;
use qcold_core::queue::admission::Policy;
use qcold_core::queue::budget::Budgets;
use qcold_core::queue::{lease, stall};

use crate::fault::{self, FaultPoint};
use crate::git::GitLimits;
use crate::telegram;
use crate::token::WriteToken;

/// Environment variables that carry proxy settings; reported (redacted) in the node snapshot.
const PROXY_VARS: [&str; 8] =
    ["http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"];

/// Everything the engines need to know about their environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the SQLite file, logs and pid files live.
    pub state_dir: PathBuf,
    /// The build id reported by `--version`, `/api/state` and the heartbeat.
    pub build_id: String,
    /// How often the daemon samples host resources.
    pub node_sample_interval: Duration,
    /// How long SQLite waits for a lock before failing.
    pub sqlite_busy_timeout: Duration,
    /// Proxy variables of the environment, unredacted; redaction happens when they are reported.
    pub proxy_env: Vec<(String, String)>,
    /// How long a repository's verify step may run before it counts as failed.
    pub verify_timeout: Duration,
    /// How long `task health` lets a paused task keep its worktree.
    pub paused_task_ttl: Duration,
    /// How long `task health` keeps evidence bundles.
    pub bundle_retention: Duration,
    /// The queue scheduler's limits and budgets.
    pub queue: QueueConfig,
    /// `PATH` as the daemon found it; queue agents get it with qcold's directory in front.
    pub path_env: Option<String>,
    /// Set (`QCOLD_QUEUE_AGENT`, the agent's id) in the environment of an agent the queue started:
    /// its closeout leaves removing the worktree it stands in to the daemon, once it has exited.
    pub queue_agent: Option<String>,
    /// Who may talk to the HTTP API, and how much.
    pub http: HttpConfig,
    /// The armed fault point, for the chaos suite (`QCOLD_FAULT_POINT`); `None` in normal use.
    pub fault_point: Option<FaultPoint>,
    /// The deadlines of git commands (see [`crate::git::limits`]).
    pub git: GitLimits,
    /// How many idle worktrees each repository keeps for new tasks (`taskflow::pool`); 0 turns
    /// the pool off.
    pub worktree_pool: usize,
}

/// The HTTP API's admission settings (see `http::door`).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Host names (optionally `name:port`) accepted in `Host` besides the daemon's own address
    /// and the loopback names.
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) whose pages may call the API besides the daemon's own.
    pub allowed_origins: Vec<String>,
    /// The write token given by `QCOLD_WEBAPP_WRITE_TOKEN`; the token file is read at start-up.
    pub write_token: Option<WriteToken>,
    /// Whether the daemon must refuse to start without a write token.
    pub require_write_token: bool,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Telegram WebApp sign-in, on when `QCOLD_TELEGRAM_BOT_TOKEN` is set.
    pub telegram: Option<telegram::Settings>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            write_token: None,
            require_write_token: false,
            body_limit: 1024 * 1024,
            telegram: None,
        }
    }
}

/// The queue scheduler's settings.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Admission limits and class reservations.
    pub admission: Policy,
    /// Launch-retry delays and the semantic iteration cap.
    pub budgets: Budgets,
    /// How often reconciliation runs even when nothing announced a change (it catches agents
    /// killed without a trace).
    pub sync_interval: Duration,
    /// How often held leases are extended; at most [`lease::HEARTBEAT_SECS`].
    pub heartbeat: Duration,
    /// How long a launch waits before trying again when another process holds the repository's
    /// lock (`QCOLD_QUEUE_REPOSITORY_RETRY_SECONDS`, default 5); no launch retry is spent.
    pub repository_retry_secs: i64,
    /// The stall watch: how long an agent may show no sign of life, and what happens then.
    pub stall: stall::Settings,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            admission: Policy::default(),
            budgets: Budgets::default(),
            sync_interval: Duration::from_secs(60),
            heartbeat: Duration::from_secs(lease::HEARTBEAT_SECS.unsigned_abs()),
            repository_retry_secs: 5,
            stall: stall::Settings::default(),
        }
    }
}

impl Config {
    /// A configuration with defaults for everything but the state dir and build id.
    pub fn new(state_dir: PathBuf, build_id: impl Into<String>) -> Self {
        Self {
            state_dir,
            build_id: build_id.into(),
            node_sample_interval: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(30),
            proxy_env: Vec::new(),
            verify_timeout: Duration::from_secs(30 * 60),
            paused_task_ttl: Duration::from_secs(2 * 3600),
            bundle_retention: Duration::from_secs(7 * 86_400),
            queue: QueueConfig::default(),
            path_env: None,
            queue_agent: None,
            http: HttpConfig::default(),
            fault_point: None,
            git: GitLimits::default(),
            worktree_pool: 8,
        }
    }

    /// Reads the configuration from the process environment:
    ///
    /// - `QCOLD_STATE_DIR`, else `$XDG_STATE_HOME/qcold`, else `$HOME/.local/state/qcold`;
    /// - `QCOLD_NODE_SAMPLE_INTERVAL_SECONDS` (default 5, at least 1);
    /// - `QCOLD_SQLITE_BUSY_TIMEOUT_MS` (default 30000);
    /// - `QCOLD_VERIFY_TIMEOUT_SECONDS` (default 1800);
    /// - `QCOLD_GIT_TIMEOUT_SECONDS` (default 600: any local git) and
    ///   `QCOLD_GIT_REMOTE_TIMEOUT_SECONDS` (default 120: fetch and push), both at least 1;
    /// - `QCOLD_PAUSED_TASK_TTL_HOURS` (default 2) and `QCOLD_BUNDLE_RETENTION_DAYS` (default 7);
    /// - `QCOLD_WEB_QUEUE_STATUS_SYNC_INTERVAL_SECONDS` (default 60, at least 1);
    /// - `QCOLD_WORKTREE_POOL` (default 8): idle worktrees kept per repository for new tasks;
    /// - `QCOLD_QUEUE_ADMISSION_{SOFT,HARD,HEAVY}_MAX_TASKS` (8/12/2),
    ///   `QCOLD_QUEUE_ADMISSION_RETRY_SECONDS` (60), `QCOLD_QUEUE_ADMISSION_HISTORY_SECONDS` (3600),
    ///   `QCOLD_QUEUE_ADMISSION_MAX_LOAD_PERCENT` (125: load ≥ 1.25 × CPUs admits nothing more, though a
    ///   queue with nothing in flight still gets one item),
    ///   `QCOLD_QUEUE_ADMISSION_{CHEAP,MID,HEAVY}_{CPU_MILLI,MEMORY_MIB}` (the class reservations;
    ///   unset, each scales to the host, see [`qcold_core::queue::admission::reservation`]);
    /// - `QCOLD_QUEUE_LAUNCH_RETRY_SECONDS` (comma-separated delays, default `60,300,600`),
    ///   `QCOLD_QUEUE_MAX_ITERATIONS` (default 3), `QCOLD_QUEUE_RECOVERY_DELAY_SECONDS` (before
    ///   the 2nd, 3rd, ... iteration, the last repeating; default `30,120`) and
    ///   `QCOLD_QUEUE_DELIVERY_RETRY_SECONDS` (delivery retries per iteration, default `10,30,120,300`);
    /// - `QCOLD_QUEUE_STALL_MINUTES` (default 30; 0 turns the stall watch off) or, finer,
    ///   `QCOLD_QUEUE_STALL_SECONDS` (wins when both are set), and `QCOLD_QUEUE_STALL_POLICY`
    ///   (`warn`, the default, or `stop`);
    /// - `QCOLD_ALLOWED_HOSTS` and `QCOLD_ALLOWED_ORIGINS` (comma-separated),
    ///   `QCOLD_WEBAPP_REQUIRE_WRITE_TOKEN` (`1`/`true`), `QCOLD_WEBAPP_WRITE_TOKEN`,
    ///   `QCOLD_HTTP_BODY_LIMIT_BYTES` (default 1 MiB);
    /// - `QCOLD_TELEGRAM_BOT_TOKEN` (turns Telegram WebApp sign-in on),
    ///   `QCOLD_TELEGRAM_ALLOWED_USERS` (comma-separated Telegram user ids; unset = nobody) and
    ///   `QCOLD_TELEGRAM_MAX_AGE_SECONDS` (how old a WebApp's `auth_date` may be; default 86400);
    /// - `QCOLD_FAULT_POINT` (`NAME` or `NAME@N`, one of [`fault::POINTS`]; for the chaos suite);
    /// - the proxy variables (`http_proxy`, `HTTPS_PROXY`, ...).
    pub fn from_env(build_id: impl Into<String>) -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let state_dir = state_dir_from(var("QCOLD_STATE_DIR"), var("XDG_STATE_HOME"), var("HOME"))?;
        let mut config = Self::new(state_dir, build_id);
        let duration = |name: &str, unit: &str, unit_secs: u64| -> anyhow::Result<Option<Duration>> {
            var(name)
                .map(|raw| {
                    raw.parse::<u64>()
                        .map(|n| Duration::from_millis(n.saturating_mul(unit_secs)))
                        .map_err(|_| anyhow::anyhow!("{name} must be a whole number of {unit}, got {raw:?}"))
                })
                .transpose()
        };
        // Durations are read in milliseconds so one helper serves every unit.
        if let Some(interval) = duration("QCOLD_NODE_SAMPLE_INTERVAL_SECONDS", "seconds", 1_000)? {
            config.node_sample_interval = interval.max(Duration::from_secs(1));
        }
        if let Some(timeout) = duration("QCOLD_SQLITE_BUSY_TIMEOUT_MS", "milliseconds", 1)? {
            config.sqlite_busy_timeout = timeout;
        }
        if let Some(timeout) = duration("QCOLD_VERIFY_TIMEOUT_SECONDS", "seconds", 1_000)? {
            config.verify_timeout = timeout;
        }
        if let Some(timeout) = duration("QCOLD_GIT_TIMEOUT_SECONDS", "seconds", 1_000)? {
            config.git.local = timeout.max(Duration::from_secs(1));
        }
        if let Some(timeout) = duration("QCOLD_GIT_REMOTE_TIMEOUT_SECONDS", "seconds", 1_000)? {
            config.git.remote = timeout.max(Duration::from_secs(1));
        }
        if let Some(ttl) = duration("QCOLD_PAUSED_TASK_TTL_HOURS", "hours", 3_600_000)? {
            config.paused_task_ttl = ttl;
        }
        if let Some(retention) = duration("QCOLD_BUNDLE_RETENTION_DAYS", "days", 86_400_000)? {
            config.bundle_retention = retention;
        }
        if let Some(interval) = duration("QCOLD_WEB_QUEUE_STATUS_SYNC_INTERVAL_SECONDS", "seconds", 1_000)? {
            config.queue.sync_interval = interval.max(Duration::from_secs(1));
        }
        if let Some(raw) = var("QCOLD_WORKTREE_POOL") {
            config.worktree_pool = raw
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("QCOLD_WORKTREE_POOL must be a whole number, got {raw:?}"))?;
        }
        read_queue_numbers(&var, &mut config.queue)?;
        read_http(&var, &mut config.http)?;
        config.fault_point = var(fault::ENV)
            .map(|raw| FaultPoint::parse(&raw))
            .transpose()
            .map_err(|e| anyhow::anyhow!("{}: {e}", fault::ENV))?;
        config.path_env = var("PATH");
        config.queue_agent = var("QCOLD_QUEUE_AGENT");
        config.proxy_env =
            PROXY_VARS.iter().filter_map(|name| var(name).map(|value| ((*name).to_owned(), value))).collect();
        Ok(config)
    }

    /// The SQLite file.
    pub fn database_path(&self) -> PathBuf {
        self.state_dir.join("qcold.sqlite3")
    }

    /// The directory for evidence bundles of one repository.
    pub fn bundle_dir(&self, repo: &qcold_core::RepoId) -> PathBuf {
        self.state_dir.join("bundles").join(repo.as_str())
    }

    /// The directory for daemon and agent logs.
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
}

/// Reads the queue's numeric settings (admission policy, reservations, budgets).
fn read_queue_numbers(var: &dyn Fn(&str) -> Option<String>, queue: &mut QueueConfig) -> anyhow::Result<()> {
    fn number<T: std::str::FromStr>(var: &dyn Fn(&str) -> Option<String>, name: &str) -> anyhow::Result<Option<T>> {
        var(name)
            .map(|raw| {
                raw.trim().parse::<T>().map_err(|_| anyhow::anyhow!("{name} must be a whole number, got {raw:?}"))
            })
            .transpose()
    }
    let policy = &mut queue.admission;
    let prefix = "QCOLD_QUEUE_ADMISSION";
    for (suffix, field) in [
        ("SOFT_MAX_TASKS", &mut policy.soft_max_tasks),
        ("HARD_MAX_TASKS", &mut policy.hard_max_tasks),
        ("HEAVY_MAX_TASKS", &mut policy.heavy_max_tasks),
    ] {
        if let Some(n) = number(var, &format!("{prefix}_{suffix}"))? {
            *field = n;
        }
    }
    if let Some(n) = number(var, &format!("{prefix}_RETRY_SECONDS"))? {
        policy.retry_secs = n;
    }
    if let Some(n) = number(var, &format!("{prefix}_HISTORY_SECONDS"))? {
        policy.history_secs = n;
    }
    if let Some(n) = number(var, &format!("{prefix}_MAX_LOAD_PERCENT"))? {
        policy.max_load_percent = n;
    }
    for (name, class) in [("CHEAP", TaskClass::Cheap), ("MID", TaskClass::Mid), ("HEAVY", TaskClass::Heavy)] {
        let setting = policy.class_mut(class);
        if let Some(n) = number::<u64>(var, &format!("{prefix}_{name}_CPU_MILLI"))? {
            setting.cpu_milli = Some(n);
        }
        if let Some(n) = number::<u64>(var, &format!("{prefix}_{name}_MEMORY_MIB"))? {
            setting.memory_bytes = Some(n.saturating_mul(1024 * 1024));
        }
    }
    let budgets = &mut queue.budgets;
    for (name, delays) in [
        ("QCOLD_QUEUE_LAUNCH_RETRY_SECONDS", &mut budgets.launch_delays_secs),
        ("QCOLD_QUEUE_RECOVERY_DELAY_SECONDS", &mut budgets.recovery_delays_secs),
        ("QCOLD_QUEUE_DELIVERY_RETRY_SECONDS", &mut budgets.delivery_delays_secs),
    ] {
        if let Some(raw) = var(name) {
            *delays = raw
                .split(',')
                .map(|d| d.trim().parse::<i64>().ok().filter(|d| *d >= 0))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| anyhow::anyhow!("{name} must be comma-separated whole seconds, got {raw:?}"))?;
        }
    }
    if let Some(n) = number::<i64>(var, "QCOLD_QUEUE_REPOSITORY_RETRY_SECONDS")? {
        anyhow::ensure!(n >= 0, "QCOLD_QUEUE_REPOSITORY_RETRY_SECONDS must be whole seconds, got {n}");
        queue.repository_retry_secs = n;
    }
    if let Some(n) = number::<i64>(var, "QCOLD_QUEUE_STALL_MINUTES")? {
        queue.stall.window_secs = n.max(0).saturating_mul(60);
    }
    if let Some(n) = number::<i64>(var, "QCOLD_QUEUE_STALL_SECONDS")? {
        queue.stall.window_secs = n.max(0);
    }
    if let Some(raw) = var("QCOLD_QUEUE_STALL_POLICY") {
        queue.stall.policy = stall::Policy::parse(&raw)
            .ok_or_else(|| anyhow::anyhow!("QCOLD_QUEUE_STALL_POLICY must be warn or stop, got {raw:?}"))?;
    }
    if let Some(n) = number::<u32>(var, "QCOLD_QUEUE_MAX_ITERATIONS")? {
        anyhow::ensure!(n >= 1, "QCOLD_QUEUE_MAX_ITERATIONS must be at least 1, got {n}");
        queue.budgets.max_iterations = n;
    }
    Ok(())
}

/// Reads the HTTP API's admission settings.
fn read_http(var: &dyn Fn(&str) -> Option<String>, http: &mut HttpConfig) -> anyhow::Result<()> {
    let list = |name: &str| -> Vec<String> {
        var(name)
            .map(|raw| raw.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    http.allowed_hosts = list("QCOLD_ALLOWED_HOSTS");
    http.allowed_origins = list("QCOLD_ALLOWED_ORIGINS");
    if let Some(raw) = var("QCOLD_WEBAPP_REQUIRE_WRITE_TOKEN") {
        http.require_write_token = match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => anyhow::bail!("QCOLD_WEBAPP_REQUIRE_WRITE_TOKEN must be 1 or 0, got {raw:?}"),
        };
    }
    if let Some(raw) = var("QCOLD_WEBAPP_WRITE_TOKEN") {
        // The value is never echoed: an error message may end up in a log.
        http.write_token = Some(
            WriteToken::parse(&raw).map_err(|err| anyhow::anyhow!("QCOLD_WEBAPP_WRITE_TOKEN is unusable: {err}"))?,
        );
    }
    if let Some(raw) = var("QCOLD_HTTP_BODY_LIMIT_BYTES") {
        http.body_limit =
            raw.trim().parse::<usize>().ok().filter(|n| *n >= 1024).ok_or_else(|| {
                anyhow::anyhow!("QCOLD_HTTP_BODY_LIMIT_BYTES must be a whole number ≥ 1024, got {raw:?}")
            })?;
    }
    http.telegram = read_telegram(var)?;
    Ok(())
}

/// Reads Telegram WebApp sign-in; a user list or age without a bot token is a mistake, not
/// something to ignore.
fn read_telegram(var: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Option<telegram::Settings>> {
    let users = var("QCOLD_TELEGRAM_ALLOWED_USERS");
    let age = var("QCOLD_TELEGRAM_MAX_AGE_SECONDS");
    let Some(raw) = var("QCOLD_TELEGRAM_BOT_TOKEN") else {
        anyhow::ensure!(
            users.is_none() && age.is_none(),
            "QCOLD_TELEGRAM_ALLOWED_USERS and QCOLD_TELEGRAM_MAX_AGE_SECONDS need QCOLD_TELEGRAM_BOT_TOKEN"
        );
        return Ok(None);
    };
    // The value is never echoed: an error message may end up in a log.
    let token = telegram::BotToken::parse(&raw)
        .map_err(|err| anyhow::anyhow!("QCOLD_TELEGRAM_BOT_TOKEN is unusable: {err}"))?;
    let mut settings = telegram::Settings::new(token);
    if let Some(raw) = users {
        settings.allowed_users = raw
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| {
                id.parse::<i64>().map_err(|_| {
                    anyhow::anyhow!(
                        "QCOLD_TELEGRAM_ALLOWED_USERS must be comma-separated Telegram user ids, got {id:?}"
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(raw) = age {
        let secs = raw.trim().parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            anyhow::anyhow!("QCOLD_TELEGRAM_MAX_AGE_SECONDS must be a whole number of seconds ≥ 1, got {raw:?}")
        })?;
        settings.max_age = Duration::from_secs(secs);
    }
    Ok(Some(settings))
}

/// Resolves the state dir from its three possible sources, in order of precedence.
fn state_dir_from(
    explicit: Option<String>,
    xdg_state: Option<String>,
    home: Option<String>,
) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(PathBuf::from(dir));
    }
    if let Some(xdg) = xdg_state.filter(|p| Path::new(p).is_absolute()) {
        return Ok(Path::new(&xdg).join("qcold"));
    }
    match home {
        Some(home) => Ok(Path::new(&home).join(".local/state/qcold")),
        None => anyhow::bail!("cannot find a state dir: set QCOLD_STATE_DIR (or HOME)"),
    }
}

#[cfg(test)]
mod tests {
    use qcold_core::queue::admission::HostSample;

    use super::*;

    #[test]
    fn state_dir_precedence() {
        let s = |v: &str| Some(v.to_owned());
        let table = [
            ((s("/x/state"), s("/xdg"), s("/home/u")), "/x/state"),
            ((None, s("/xdg"), s("/home/u")), "/xdg/qcold"),
            ((None, s("relative"), s("/home/u")), "/home/u/.local/state/qcold"),
            ((None, None, s("/home/u")), "/home/u/.local/state/qcold"),
        ];
        for ((explicit, xdg, home), want) in table {
            assert_eq!(state_dir_from(explicit, xdg, home).unwrap(), PathBuf::from(want));
        }
        assert!(state_dir_from(None, None, None).is_err());
    }

    #[test]
    fn http_settings_come_from_their_variables_and_never_echo_the_token() {
        let vars = |name: &str| {
            let value = match name {
                "QCOLD_ALLOWED_HOSTS" => "box.lan, qcold.example:443,",
                "QCOLD_ALLOWED_ORIGINS" => "https://web.telegram.org",
                "QCOLD_WEBAPP_REQUIRE_WRITE_TOKEN" => "1",
                "QCOLD_WEBAPP_WRITE_TOKEN" => "s3cret-s3cret-s3cret",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let mut http = HttpConfig::default();
        read_http(&vars, &mut http).unwrap();
        assert_eq!(http.allowed_hosts, ["box.lan", "qcold.example:443"]);
        assert_eq!(http.allowed_origins, ["https://web.telegram.org"]);
        assert!(http.require_write_token);
        assert!(http.write_token.as_ref().unwrap().matches(b"s3cret-s3cret-s3cret"));
        assert!(!format!("{http:?}").contains("s3cret"));
        assert_eq!(http.body_limit, 1 << 20);

        let short = |name: &str| (name == "QCOLD_WEBAPP_WRITE_TOKEN").then(|| "tiny secret".to_owned());
        let err = read_http(&short, &mut HttpConfig::default()).unwrap_err().to_string();
        assert!(err.contains("QCOLD_WEBAPP_WRITE_TOKEN") && !err.contains("tiny"), "{err}");
        let maybe = |name: &str| (name == "QCOLD_WEBAPP_REQUIRE_WRITE_TOKEN").then(|| "maybe".to_owned());
        assert!(read_http(&maybe, &mut HttpConfig::default()).is_err());
    }

    #[test]
    fn telegram_settings_come_from_their_variables_and_never_echo_the_bot_token() {
        let vars = |token: &'static str, users: Option<&'static str>, age: Option<&'static str>| {
            move |name: &str| {
                match name {
                    "QCOLD_TELEGRAM_BOT_TOKEN" => Some(token),
                    "QCOLD_TELEGRAM_ALLOWED_USERS" => users,
                    "QCOLD_TELEGRAM_MAX_AGE_SECONDS" => age,
                    _ => None,
                }
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
            }
        };
        let settings = read_telegram(&vars("42:s3cret", Some("4242, 7,"), Some("600"))).unwrap().unwrap();
        assert_eq!((settings.allowed_users.clone(), settings.max_age), (vec![4242, 7], Duration::from_secs(600)));
        assert!(!format!("{settings:?}").contains("s3cret"));
        let defaults = read_telegram(&vars("42:s3cret", None, None)).unwrap().unwrap();
        assert_eq!((defaults.allowed_users, defaults.max_age), (vec![], Duration::from_secs(86_400)));
        assert!(read_telegram(&vars("", None, None)).unwrap().is_none(), "off without a bot token");

        let err = |v: &dyn Fn(&str) -> Option<String>| read_telegram(v).unwrap_err().to_string();
        let bad_token = err(&vars("not a token s3cret", None, None));
        assert!(bad_token.contains("QCOLD_TELEGRAM_BOT_TOKEN") && !bad_token.contains("s3cret"), "{bad_token}");
        assert_eq!(
            err(&vars("42:s3cret", Some("4242,@ann"), None)),
            "QCOLD_TELEGRAM_ALLOWED_USERS must be comma-separated Telegram user ids, got \"@ann\""
        );
        assert!(err(&vars("42:s3cret", None, Some("0"))).contains("QCOLD_TELEGRAM_MAX_AGE_SECONDS"));
        assert!(err(&vars("42:s3cret", None, Some("1d"))).contains("QCOLD_TELEGRAM_MAX_AGE_SECONDS"));
        assert!(err(&vars("", Some("4242"), None)).contains("need QCOLD_TELEGRAM_BOT_TOKEN"));
    }

    #[test]
    fn queue_settings_come_from_their_variables() {
        let vars = |name: &str| {
            let value = match name {
                "QCOLD_QUEUE_ADMISSION_SOFT_MAX_TASKS" => "4",
                "QCOLD_QUEUE_ADMISSION_HEAVY_MAX_TASKS" => "1",
                "QCOLD_QUEUE_ADMISSION_RETRY_SECONDS" => "5",
                "QCOLD_QUEUE_ADMISSION_MAX_LOAD_PERCENT" => "300",
                "QCOLD_QUEUE_ADMISSION_HEAVY_MEMORY_MIB" => "4096",
                "QCOLD_QUEUE_LAUNCH_RETRY_SECONDS" => "1, 2,3",
                "QCOLD_QUEUE_MAX_ITERATIONS" => "5",
                "QCOLD_QUEUE_RECOVERY_DELAY_SECONDS" => "2",
                "QCOLD_QUEUE_DELIVERY_RETRY_SECONDS" => "1,1, 4",
                "QCOLD_QUEUE_STALL_MINUTES" => "10",
                "QCOLD_QUEUE_STALL_POLICY" => "stop",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let mut queue = QueueConfig::default();
        read_queue_numbers(&vars, &mut queue).unwrap();
        let policy = queue.admission;
        assert_eq!((policy.soft_max_tasks, policy.hard_max_tasks, policy.heavy_max_tasks), (4, 12, 1));
        assert_eq!((policy.retry_secs, policy.history_secs, policy.max_load_percent), (5, 3600, 300));
        let host = HostSample {
            at: 0,
            logical_cpus: 2,
            load_one: 0.0,
            memory_total: 24 << 30,
            memory_available: 24 << 30,
            reserved_tasks: 0,
            reserved_heavy: 0,
            cpu_usage_percent: None,
            disk_total: None,
            disk_available: None,
        };
        assert_eq!(policy.reserves(TaskClass::Heavy, &host).memory_bytes, 4 << 30);
        assert_eq!(policy.reserves(TaskClass::Heavy, &host).cpu_milli, 1000, "unset numbers scale to the host");
        assert_eq!((queue.budgets.launch_delays_secs, queue.budgets.max_iterations), (vec![1, 2, 3], 5));
        assert_eq!((queue.budgets.recovery_delays_secs, queue.budgets.delivery_delays_secs), (vec![2], vec![1, 1, 4]));
        assert_eq!(queue.stall, stall::Settings { window_secs: 600, policy: stall::Policy::Stop });
        let seconds = |name: &str| (name == "QCOLD_QUEUE_STALL_SECONDS").then(|| "4".to_owned());
        let mut short = QueueConfig::default();
        read_queue_numbers(&seconds, &mut short).unwrap();
        assert_eq!(short.stall.window_secs, 4);
        let policy = |name: &str| (name == "QCOLD_QUEUE_STALL_POLICY").then(|| "kill".to_owned());
        assert!(read_queue_numbers(&policy, &mut QueueConfig::default()).is_err());

        let bad = |value: &'static str| {
            move |name: &str| (name == "QCOLD_QUEUE_LAUNCH_RETRY_SECONDS").then(|| value.to_owned())
        };
        let err = read_queue_numbers(&bad("60,soon"), &mut QueueConfig::default()).unwrap_err();
        assert!(err.to_string().contains("QCOLD_QUEUE_LAUNCH_RETRY_SECONDS"), "{err}");
        let negative = |name: &str| (name == "QCOLD_QUEUE_DELIVERY_RETRY_SECONDS").then(|| "10,-1".to_owned());
        let err = read_queue_numbers(&negative, &mut QueueConfig::default()).unwrap_err();
        assert!(err.to_string().contains("QCOLD_QUEUE_DELIVERY_RETRY_SECONDS"), "{err}");
        let zero = |name: &str| (name == "QCOLD_QUEUE_MAX_ITERATIONS").then(|| "0".to_owned());
        assert!(read_queue_numbers(&zero, &mut QueueConfig::default()).is_err());
        let word = |name: &str| (name == "QCOLD_QUEUE_ADMISSION_HARD_MAX_TASKS").then(|| "many".to_owned());
        let err = read_queue_numbers(&word, &mut QueueConfig::default()).unwrap_err();
        assert_eq!(err.to_string(), "QCOLD_QUEUE_ADMISSION_HARD_MAX_TASKS must be a whole number, got \"many\"");
    }
}
