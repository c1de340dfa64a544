//! Daemon and CLI configuration; the only module that reads environment variables.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
        }
    }

    /// Reads the configuration from the process environment:
    ///
    /// - `QCOLD_STATE_DIR`, else `$XDG_STATE_HOME/qcold`, else `$HOME/.local/state/qcold`;
    /// - `QCOLD_NODE_SAMPLE_INTERVAL_SECONDS` (default 5, at least 1);
    /// - `QCOLD_SQLITE_BUSY_TIMEOUT_MS` (default 30000);
    /// - `QCOLD_VERIFY_TIMEOUT_SECONDS` (default 1800);
    /// - `QCOLD_PAUSED_TASK_TTL_HOURS` (default 2) and `QCOLD_BUNDLE_RETENTION_DAYS` (default 7);
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
        if let Some(ttl) = duration("QCOLD_PAUSED_TASK_TTL_HOURS", "hours", 3_600_000)? {
            config.paused_task_ttl = ttl;
        }
        if let Some(retention) = duration("QCOLD_BUNDLE_RETENTION_DAYS", "days", 86_400_000)? {
            config.bundle_retention = retention;
        }
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
}
