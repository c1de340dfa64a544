//! `cargo xtask demo`: build everything, then run the daemon on a fresh state dir with a sample
//! git repository and the built-in demo agent (`qcold demo-agent`, no model needed) registered,
//! start a small graph run on it, and keep the daemon in the foreground until Ctrl-C.

use std::path::Path;
use std::process::Command;

use crate::process::{self, cargo};

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let listen = match args {
        [] => "127.0.0.1:8787".to_owned(),
        [flag, addr] if flag == "--listen" => addr.clone(),
        _ => anyhow::bail!("usage: cargo xtask demo [--listen ADDR]"),
    };
    let tools = crate::setup::web_tools()?;
    crate::web::build(&tools)?;
    crate::step("build qcold");
    process::run(cargo().args(["build", "-p", "qcold-cli"]))?;
    let qcold = crate::root().join("target/debug/qcold");

    crate::step("demo state");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let base = crate::root().join("target/demo").join(stamp.to_string());
    let state = base.join("state");
    let repo = base.join("sample-repo");
    sample_repo(&repo)?;
    process::run(
        Command::new(&qcold)
            .args(["repo", "add", "sample"])
            .arg(&repo)
            .args(["--verify-command", "git diff --check", "--set-active"])
            .env("QCOLD_STATE_DIR", &state),
    )?;
    let agent = [
        qcold.to_string_lossy().into_owned(),
        "demo-agent".to_owned(),
        "--packet-file".to_owned(),
        "{packet_file}".to_owned(),
        "--worktree".to_owned(),
        "{cwd}".to_owned(),
    ];
    process::run(
        Command::new(&qcold)
            .args(["agent", "command", "add", "demo", "--probe", "true", "--"])
            .args(agent)
            .env("QCOLD_STATE_DIR", &state),
    )?;
    let package = base.join("demo-queue.json");
    std::fs::write(&package, DEMO_PACKAGE)?;

    crate::step("demo daemon");
    let mut daemon = Command::new(&qcold)
        .args(["serve", "--listen", &listen])
        .env("QCOLD_STATE_DIR", &state)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start the daemon: {e}"))?;
    // The run goes to this daemon once it listens, never to one `queue run` would start itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(&listen).is_err() {
        if std::time::Instant::now() > deadline || daemon.try_wait()?.is_some() {
            let _ = daemon.kill();
            anyhow::bail!("the demo daemon did not start listening on {listen}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let queued = Command::new(&qcold)
        .args(["queue", "run", "--from"])
        .arg(&package)
        .args(["--agent", "demo", "--listen", &listen, "--no-start-daemon"])
        .env("QCOLD_STATE_DIR", &state)
        .status();
    if !queued.is_ok_and(|s| s.success()) {
        let _ = daemon.kill();
        anyhow::bail!("the demo run could not be queued; see the daemon's output above");
    }
    eprintln!("\nstate dir: {}", state.display());
    eprintln!("Dashboard: http://{listen}/   (Ctrl-C stops the daemon)");
    eprintln!("Watch it:  QCOLD_STATE_DIR={} {} queue list --listen {listen}", state.display(), qcold.display());
    eprintln!("Real agents instead of the demo one (their CLI installed and logged in):");
    eprintln!("  QCOLD_STATE_DIR={} {} agent command add codex --preset codex", state.display(), qcold.display());
    eprintln!("  QCOLD_STATE_DIR={} {} agent command add claude --preset claude", state.display(), qcold.display());
    eprintln!("  then `queue run --from FILE --agent codex` (or claude)\n");
    let status = daemon.wait()?;
    anyhow::ensure!(status.success(), "the daemon stopped with {status}");
    Ok(())
}

/// The demo's graph run: two notes in wave 0, a summary after both.
const DEMO_PACKAGE: &str = r#"{
  "execution_mode": "graph",
  "items": [
    {"id": "hello", "prompt": "Write a short note greeting the team.", "task_class": "cheap"},
    {"id": "plan", "prompt": "Write a note with a three-step plan for the week.", "task_class": "cheap"},
    {"id": "summary", "prompt": "Write a note that summarises the other two.", "depends_on": ["hello", "plan"], "task_class": "cheap"}
  ]
}"#;

/// A small git repository with one commit on `main`.
fn sample_repo(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("README.md"), "# Sample\n\nA repository the Q-COLD demo registers.\n")?;
    let git = |args: &[&str]| {
        let mut cmd = Command::new("git");
        cmd.args(["-c", "user.name=Q-COLD demo", "-c", "user.email=demo@qcold.invalid"]).args(args).current_dir(dir);
        cmd
    };
    process::run(&mut git(&["init", "-q", "-b", "main"]))?;
    process::run(&mut git(&["add", "README.md"]))?;
    process::run(&mut git(&["commit", "-q", "-m", "Initial commit"]))
}
