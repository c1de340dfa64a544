//! `qcold serve`: run the daemon in the foreground, detach it, check on it, stop it.
//!
//! A detached daemon is this binary re-executed as `qcold serve --listen <addr> --daemon-child`.
//! The child starts a new session, binds, and only then writes its pid file (JSON with its pid
//! and URL), so the parent can wait for a daemon that really answers. Pid files and logs are
//! keyed by the listen address, so daemons on different addresses never touch each other.
//!
//! Before it signals anything, `qcold` checks `/proc/<pid>/cmdline`: a pid file that names a
//! process which is not a qcold daemon for the same address is refused, never signalled.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use qcold_server::Config;
use qcold_server::agents::procs::{alive, cmdline};
use serde::{Deserialize, Serialize};

use crate::cli::{ServeAction, ServeArgs, ServeCommand, TokenCommand};
use crate::output;

/// How long start-up and shutdown may take before `qcold` gives up waiting.
const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

/// What a detached daemon writes to its pid file once it listens.
#[derive(Debug, Serialize, Deserialize)]
struct PidFile {
    pid: u32,
    listen: String,
    url: String,
}

/// Where the pid file and log of the daemon for one address live.
#[derive(Debug)]
struct DaemonPaths {
    pid_file: PathBuf,
    log: PathBuf,
}

impl DaemonPaths {
    fn new(config: &Config, listen: SocketAddr) -> Self {
        let key: String = listen.to_string().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let key = key.trim_matches('-');
        Self {
            pid_file: config.state_dir.join("daemon").join(format!("{key}.pid")),
            log: config.log_dir().join(format!("daemon-{key}.log")),
        }
    }
}

pub(crate) fn run(config: Config, command: ServeCommand) -> anyhow::Result<()> {
    match command.action {
        Some(ServeAction::Status(target)) => status(&config, target.listen),
        Some(ServeAction::Stop(target)) => stop(&config, target.listen),
        Some(ServeAction::Token(TokenCommand::New)) => new_token(&config),
        None => {
            let mut config = config;
            config.http.allowed_hosts.extend(command.run.allow_hosts.iter().cloned());
            config.http.allowed_origins.extend(command.run.allow_origins.iter().cloned());
            if command.run.daemon_child {
                serve(config, command.run.listen, true)
            } else if command.run.daemon {
                detach_with(&config, &command.run)
            } else {
                serve(config, command.run.listen, false)
            }
        }
    }
}

/// `qcold serve token new`: the only place a token is shown, to the operator who asked for it.
fn new_token(config: &Config) -> anyhow::Result<()> {
    let token = qcold_server::token::create(&config.state_dir)?;
    output::line(format_args!("write token stored in {}", qcold_server::token::file(&config.state_dir).display()))?;
    output::line(format_args!("token: {}", token.reveal()))?;
    output::line("restart the daemon (`qcold serve --daemon`) to require it; the qcold CLI sends it by itself")
}

/// Runs the daemon in this process until SIGTERM or Ctrl-C.
fn serve(config: Config, listen: SocketAddr, detached_child: bool) -> anyhow::Result<()> {
    if detached_child {
        // A new session: the daemon survives the terminal that started it closing.
        nix::unistd::setsid().context("cannot start a new session")?;
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("QCOLD_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(!detached_child)
        .init();
    // Refused before binding: a daemon that would be open to the network never listens.
    qcold_server::http::Door::new(&config, listen)?;
    if !listen.ip().is_loopback() {
        tracing::warn!("listening on {listen}: the API is reachable from the network; every request needs the token");
    }
    let paths = DaemonPaths::new(&config, listen);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Install the signal handlers first: a SIGTERM that arrives while the store opens must
        // shut down gracefully, not kill the process with the default action.
        let shutdown = shutdown_signal()?;
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        if detached_child {
            write_pid_file(
                &paths.pid_file,
                &PidFile { pid: std::process::id(), listen: listen.to_string(), url: url.clone() },
            )?;
        }
        output::line(format_args!("qcold daemon listening on {url}"))?;
        tracing::info!(build = %config.build_id, state_dir = %config.state_dir.display(), "listening on {url}");
        let result = qcold_server::serve(config, listener, shutdown).await;
        if detached_child {
            remove_own_pid_file(&paths.pid_file);
        }
        tracing::info!("stopped");
        result
    })
}

/// Registers SIGTERM and SIGINT handlers now and returns a future that resolves on either.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => tracing::info!("interrupted; shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM; shutting down"),
        }
    })
}

/// `qcold serve --daemon` with its options, passed on to the detached child.
fn detach_with(config: &Config, args: &ServeArgs) -> anyhow::Result<()> {
    let mut extra = Vec::new();
    for host in &args.allow_hosts {
        extra.extend(["--allow-host".to_owned(), host.clone()]);
    }
    for origin in &args.allow_origins {
        extra.extend(["--allow-origin".to_owned(), origin.clone()]);
    }
    spawn_detached(config, args.listen, &extra)
}

/// Starts a detached daemon, replacing an earlier one for the same address.
pub(crate) fn detach(config: &Config, listen: SocketAddr) -> anyhow::Result<()> {
    spawn_detached(config, listen, &[])
}

fn spawn_detached(config: &Config, listen: SocketAddr, extra: &[String]) -> anyhow::Result<()> {
    // Refuse here what the child would refuse at start-up, with the same words, before anything
    // is replaced.
    qcold_server::http::Door::new(config, listen)?;
    let paths = DaemonPaths::new(config, listen);
    if let Some(old) = running_daemon(&paths, listen)? {
        terminate(old.pid)?;
        output::line(format_args!("replaced daemon pid {} on {}", old.pid, old.url))?;
    }
    fs::create_dir_all(config.log_dir()).context("cannot create the log dir")?;
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log)
        .with_context(|| format!("cannot open {}", paths.log.display()))?;
    let exe = std::env::current_exe().context("cannot find the qcold executable")?;
    let mut child = Command::new(exe)
        .args(["serve", "--listen", &listen.to_string(), "--daemon-child"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start the daemon")?;
    let child_pid = child.id();
    let started = Instant::now();
    let info = loop {
        if let Some(info) = read_pid_file(&paths.pid_file).filter(|p| p.pid == child_pid) {
            break info;
        }
        if let Some(exit) = child.try_wait()? {
            bail!("the daemon exited during start-up ({exit}); its log is {}", paths.log.display());
        }
        if started.elapsed() > WAIT {
            bail!("the daemon did not start listening within {WAIT:?}; its log is {}", paths.log.display());
        }
        std::thread::sleep(POLL);
    };
    output::line(format_args!("qcold daemon started: pid {} on {}", info.pid, info.url))?;
    output::line(format_args!("pid file {}", paths.pid_file.display()))?;
    output::line(format_args!("log      {}", paths.log.display()))
}

fn status(config: &Config, listen: SocketAddr) -> anyhow::Result<()> {
    let paths = DaemonPaths::new(config, listen);
    let Some(info) = running_daemon(&paths, listen)? else {
        bail!("no qcold daemon is running for {listen}");
    };
    let healthy = ureq::get(&format!("{}/healthz", info.url)).timeout(Duration::from_secs(5)).call().is_ok();
    output::line(format_args!(
        "running pid {} on {} ({})",
        info.pid,
        info.url,
        if healthy { "healthy" } else { "not answering /healthz" }
    ))?;
    output::line(format_args!("log {}", paths.log.display()))
}

fn stop(config: &Config, listen: SocketAddr) -> anyhow::Result<()> {
    let paths = DaemonPaths::new(config, listen);
    let Some(info) = running_daemon(&paths, listen)? else {
        return output::line(format_args!("no qcold daemon is running for {listen}"));
    };
    terminate(info.pid)?;
    let _ = fs::remove_file(&paths.pid_file);
    output::line(format_args!("stopped daemon pid {} on {}", info.pid, info.url))
}

/// The daemon named by the pid file, if it is alive; a stale pid file is removed, and one that
/// names another program is an error.
fn running_daemon(paths: &DaemonPaths, listen: SocketAddr) -> anyhow::Result<Option<PidFile>> {
    let Some(info) = read_pid_file(&paths.pid_file) else { return Ok(None) };
    if !alive(info.pid) {
        let _ = fs::remove_file(&paths.pid_file);
        return Ok(None);
    }
    let cmdline = cmdline(info.pid);
    if !is_daemon_for(&cmdline, listen) {
        bail!(
            "pid file {} names pid {}, which is not a qcold daemon for {listen} (it runs {:?}); refusing to signal it — remove the pid file if it is stale",
            paths.pid_file.display(),
            info.pid,
            cmdline.join(" ")
        );
    }
    Ok(Some(info))
}

/// Sends SIGTERM and waits for the process to go; escalates to SIGKILL after [`WAIT`].
fn terminate(pid: u32) -> anyhow::Result<()> {
    let target = Pid::from_raw(i32::try_from(pid).context("pid out of range")?);
    kill(target, Signal::SIGTERM).with_context(|| format!("cannot signal pid {pid}"))?;
    let started = Instant::now();
    while alive(pid) {
        if started.elapsed() > WAIT {
            tracing::warn!("pid {pid} ignored SIGTERM for {WAIT:?}; sending SIGKILL");
            let _ = kill(target, Signal::SIGKILL);
            std::thread::sleep(POLL);
            if alive(pid) {
                bail!("pid {pid} survived SIGKILL");
            }
            break;
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// Whether a command line is `… serve --listen <listen> --daemon-child`.
fn is_daemon_for(cmdline: &[String], listen: SocketAddr) -> bool {
    let listen = listen.to_string();
    cmdline.iter().any(|a| a == "serve")
        && cmdline.iter().any(|a| a == "--daemon-child")
        && cmdline.windows(2).any(|w| w[0] == "--listen" && w[1] == listen)
}

fn read_pid_file(path: &Path) -> Option<PidFile> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

/// Writes the pid file atomically, so a reader never sees half of it.
fn write_pid_file(path: &Path, info: &PidFile) -> anyhow::Result<()> {
    let dir = path.parent().context("pid file has no parent dir")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("pid.tmp");
    fs::write(&tmp, serde_json::to_vec(info)?).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Removes the pid file only if it still names this process (a replacement may own it now).
fn remove_own_pid_file(path: &Path) {
    if read_pid_file(path).is_some_and(|p| p.pid == std::process::id()) {
        let _ = fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_its_own_daemon_command_line() {
        let addr: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        let line = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert!(is_daemon_for(&line("/usr/bin/qcold serve --listen 127.0.0.1:8787 --daemon-child"), addr));
        assert!(!is_daemon_for(&line("/usr/bin/qcold serve --listen 127.0.0.1:9999 --daemon-child"), addr));
        assert!(!is_daemon_for(&line("/usr/bin/qcold serve --listen 127.0.0.1:8787"), addr));
        assert!(!is_daemon_for(&line("sleep 100"), addr));
    }
}
