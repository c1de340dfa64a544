//! The integration harness: temp environments, the real `qcold` binary, real git repositories,
//! a real daemon on an ephemeral port, and bounded waiting.
//!
//! Tests never read the developer's `$HOME` or change the process environment: every command
//! runs with its own `HOME` and `QCOLD_STATE_DIR` inside a temp dir.

pub mod chaos;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `qcold` binary next to this test binary (`target/<profile>/qcold`), brought up to date
/// once per test run: `cargo test` builds test targets, not the binary the tests spawn, and a
/// stale binary would test yesterday's code.
pub fn qcold_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
            if let Some(cargo) = std::env::var_os("CARGO") {
                // Build with the profile these tests were built with (the directory's name).
                let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
                let profile = if profile == "debug" { "dev" } else { profile };
                let status = Command::new(cargo)
                    .args(["build", "--quiet", "-p", "qcold-cli", "--bin", "qcold", "--profile", profile])
                    .stdin(Stdio::null())
                    .status()
                    .expect("run cargo build");
                assert!(status.success(), "building qcold for the tests failed");
            }
            let bin = profile_dir.join("qcold");
            assert!(bin.is_file(), "{} is missing; build it with `cargo build -p qcold-cli`", bin.display());
            bin
        })
        .clone()
}

/// Admission settings for a daemon whose queue tests share a 2-CPU host with themselves: host
/// load and memory must not decide what a test sees (the admission rules have their own table
/// tests in qcold-core), and a refused item is looked at again after a second.
pub const RELAXED_ADMISSION: [(&str, &str); 6] = [
    ("QCOLD_QUEUE_ADMISSION_MAX_LOAD_PERCENT", "100000"),
    ("QCOLD_QUEUE_ADMISSION_CHEAP_MEMORY_MIB", "16"),
    ("QCOLD_QUEUE_ADMISSION_MID_MEMORY_MIB", "16"),
    ("QCOLD_QUEUE_ADMISSION_CHEAP_CPU_MILLI", "10"),
    ("QCOLD_QUEUE_ADMISSION_MID_CPU_MILLI", "10"),
    ("QCOLD_QUEUE_ADMISSION_RETRY_SECONDS", "1"),
];

/// Runs tmux against Q-COLD's own server in `env` (`<state dir>/tmux.sock`); returns its
/// standard output, trimmed.
pub fn tmux(env: &Env, args: &[&str]) -> String {
    let out =
        Command::new("tmux").arg("-S").arg(env.state_dir().join("tmux.sock")).args(args).output().expect("run tmux");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The finished run of a `qcold` command.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`-1` if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The run of an already finished command.
    pub fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "expected success\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self.stdout
    }

    /// Asserts failure with a message containing `needle` on stderr; returns stderr.
    #[track_caller]
    pub fn fails_with(self, needle: &str) -> String {
        assert_ne!(self.code, 0, "expected failure\nstdout: {}", self.stdout);
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", self.stderr);
        assert!(self.stderr.starts_with("error:"), "errors start with `error:`:\n{}", self.stderr);
        self.stderr
    }
}

/// An isolated world: a temp dir with its own home and state dir.
#[derive(Debug)]
pub struct Env {
    dir: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    /// A fresh environment.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home dir");
        Self { dir }
    }

    /// The temp dir's root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The state dir the commands use.
    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    /// A `qcold` command configured for this environment.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(qcold_bin());
        cmd.current_dir(self.path())
            .env("HOME", self.path().join("home"))
            .env("QCOLD_STATE_DIR", self.state_dir())
            .env_remove("XDG_STATE_HOME")
            .env_remove("QCOLD_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `qcold args…` to completion.
    pub fn qcold(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().expect("run qcold"))
    }

    /// Creates a git repository with one commit on `main` at `<temp>/<name>`.
    pub fn git_repo(&self, name: &str) -> PathBuf {
        let dir = self.path().join(name);
        std::fs::create_dir_all(&dir).expect("repo dir");
        std::fs::write(dir.join("README.md"), format!("# {name}\n")).expect("readme");
        git(&dir, &["init", "-q", "-b", "main"]);
        // qcold commits in task worktrees with the repository's own identity.
        git(&dir, &["config", "user.name", "Test"]);
        git(&dir, &["config", "user.email", "test@qcold.invalid"]);
        git(&dir, &["add", "README.md"]);
        git(&dir, &["commit", "-q", "-m", "init"]);
        dir
    }

    /// Like [`Env::git_repo`], plus a bare `origin` (`<temp>/<name>-origin.git`) that `main`
    /// tracks; returns `(checkout, origin)`.
    pub fn git_repo_with_origin(&self, name: &str) -> (PathBuf, PathBuf) {
        let dir = self.git_repo(name);
        let origin = self.path().join(format!("{name}-origin.git"));
        git(self.path(), &["init", "-q", "--bare", "-b", "main", origin.to_str().expect("utf-8 path")]);
        git(&dir, &["remote", "add", "origin", origin.to_str().expect("utf-8 path")]);
        git(&dir, &["push", "-q", "-u", "origin", "main"]);
        (dir, origin)
    }
}

/// Runs git in `dir` with a fixed identity; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@qcold.invalid"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A foreground daemon (`qcold serve --listen 127.0.0.1:0`); stopped with SIGTERM on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Daemon {
    /// Starts the daemon and waits until it prints its address.
    pub fn start(env: &Env) -> Self {
        Self::start_with(env, &[])
    }

    /// Starts the daemon with extra environment (queue budgets, admission limits).
    pub fn start_with(env: &Env, vars: &[(&str, &str)]) -> Self {
        let mut child = env
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("QCOLD_NODE_SAMPLE_INTERVAL_SECONDS", "1")
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            // The daemon's log stays in the temp dir (`daemon.log`), for a failing test to show.
            .stderr(std::fs::File::create(env.path().join("daemon.log")).expect("daemon log"))
            .spawn()
            .expect("start daemon");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the daemon prints its address");
        let url = line.trim().rsplit(' ').next().expect("an address").to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected first line {line:?}");
        Self { child, url }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's exit status if it has exited (by itself: a fault point, a crash).
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// GETs `path` and returns status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&format!("{}{path}", self.url))
    }

    /// POSTs `body` as JSON to `path` and returns status and body.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> (u16, String) {
        let url = format!("{}{path}", self.url);
        match ureq::post(&url).timeout(Duration::from_secs(30)).send_json(body.clone()) {
            Ok(response) => (response.status(), response.into_string().expect("body")),
            Err(ureq::Error::Status(code, response)) => (code, response.into_string().unwrap_or_default()),
            Err(err) => panic!("POST {url}: {err}"),
        }
    }

    /// Kills the daemon with SIGKILL, as a crash would, and waits for it to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The listen address, `127.0.0.1:<port>`.
    pub fn listen(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        self.signal_term();
        let status = wait_exit(&mut self.child, Duration::from_secs(20)).expect("daemon exits after SIGTERM");
        status.code()
    }

    fn signal_term(&self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal_term();
            if wait_exit(&mut self.child, Duration::from_secs(10)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// GETs a URL; any HTTP status is returned, transport errors panic.
pub fn http_get(url: &str) -> (u16, String) {
    match ureq::get(url).timeout(Duration::from_secs(10)).call() {
        Ok(response) => (response.status(), response.into_string().expect("body")),
        Err(ureq::Error::Status(code, response)) => (code, response.into_string().unwrap_or_default()),
        Err(err) => panic!("GET {url}: {err}"),
    }
}

/// A server-sent event as read off the wire.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// The `event:` field.
    pub name: String,
    /// The `data:` field.
    pub data: String,
}

/// Subscribes to `url` (an SSE endpoint) on a background thread; events arrive on the channel.
pub fn subscribe(url: &str) -> mpsc::Receiver<SseEvent> {
    let response = ureq::get(url).call().expect("subscribe");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let reader = BufReader::new(response.into_reader());
        let (mut name, mut data) = (String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(value) = line.strip_prefix("event:") {
                name = value.trim().to_owned();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.trim_start());
            } else if line.is_empty() && !data.is_empty() {
                let event = SseEvent { name: std::mem::take(&mut name), data: std::mem::take(&mut data) };
                if tx.send(event).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Whether a process is alive: present in `/proc` and not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// The host's logical CPU count as the kernel lists it in `/proc/stat` (`cpuN` lines).
pub fn host_cpu_count() -> usize {
    std::fs::read_to_string("/proc/stat")
        .expect("/proc/stat")
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count()
}
