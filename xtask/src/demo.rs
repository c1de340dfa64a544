//! `cargo xtask demo`: build everything, then run the daemon on a fresh state dir with a sample
//! git repository registered, in the foreground until Ctrl-C.

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
    eprintln!("state dir: {}", state.display());
    eprintln!("try, in another terminal:");
    eprintln!("  QCOLD_STATE_DIR={} {} repo list", state.display(), qcold.display());
    eprintln!("\nDashboard: http://{listen}/   (Ctrl-C stops the daemon)\n");
    process::run(Command::new(&qcold).args(["serve", "--listen", &listen]).env("QCOLD_STATE_DIR", &state))
}

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
