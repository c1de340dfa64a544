//! What the queue is measured against, in the same benchmark run: pueue running bare `true`s,
//! and the floor of what any tool must do per item — the same git and tmux work Q-COLD's trivial
//! item causes, done by hand, 8 at a time, with and without delivery to `main`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::process::{self, cargo};

/// How many items run at once, in Q-COLD (its default `soft_max_tasks`), pueue and the floor.
pub(super) const PARALLEL: usize = 8;

/// pueue, installed into `target/bench-tools` by `cargo install --locked` unless it is there.
fn pueue_bin(tool: &str) -> anyhow::Result<PathBuf> {
    let root = super::target_dir().join("bench-tools");
    let bin = root.join("bin");
    if !bin.join("pueue").is_file() || !bin.join("pueued").is_file() {
        crate::step("install pueue into target/bench-tools (once)");
        process::run(cargo().args(["install", "pueue", "--locked", "--root"]).arg(&root))?;
    }
    Ok(bin.join(tool))
}

/// Per item: pueue running `size` bare `true`s at parallel [`PARALLEL`], timed from its start
/// (the tasks were added while its group was paused) to the end of the last one.
pub(super) fn pueue(dir: &Path, size: usize) -> anyhow::Result<Duration> {
    crate::step(&format!("pueue: {size} bare `true`s"));
    let home = dir.join(format!("pueue-{size}"));
    std::fs::create_dir_all(&home)?;
    let config = home.join("pueue.yml");
    std::fs::write(
        &config,
        format!(
            "shared:\n  pueue_directory: {home}\n  runtime_directory: {home}\n  use_unix_socket: true\n  \
             unix_socket_path: {home}/pueue.socket\ndaemon:\n  callback: null\n",
            home = home.display()
        ),
    )?;
    let mut daemon = Command::new(pueue_bin("pueued")?)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let client = pueue_bin("pueue")?;
    let pueue = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new(&client)
            .arg("-c")
            .arg(&config)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "pueue {args:?} failed ({status})");
        Ok(())
    };
    let result = (|| {
        // The daemon makes its socket as it starts.
        let ready = Instant::now() + Duration::from_secs(10);
        while pueue(&["status"]).is_err() {
            anyhow::ensure!(Instant::now() < ready, "pueued did not start in 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        pueue(&["parallel", &PARALLEL.to_string()])?;
        pueue(&["pause"])?;
        for _ in 0..size {
            pueue(&["add", "--", "true"])?;
        }
        let started = Instant::now();
        pueue(&["start"])?;
        pueue(&["wait"])?;
        Ok(started.elapsed() / u32::try_from(size).unwrap_or(1))
    })();
    let _ = daemon.kill();
    let _ = daemon.wait();
    result
}

/// Per item: the floor at parallel [`PARALLEL`] — for each item a worktree and branch off
/// `main`, a tmux session started and killed, one file committed, with `deliver` a rebase onto
/// `main` and its fast-forward, then the worktree removed and the branch deleted; what changes
/// the repository's worktree list or `main` is done one at a time, as under a repository lock.
/// Git runs as Q-COLD runs it: no auto-maintenance.
pub(super) fn floor(dir: &Path, size: usize, deliver: bool) -> anyhow::Result<Duration> {
    let what = if deliver { "with delivery" } else { "without delivery" };
    crate::step(&format!("floor: {size} items by hand, {what}"));
    let repo = dir.join(format!("floor-{size}-{}", if deliver { "delivered" } else { "plain" }));
    super::git_repo(&repo)?;
    let git = |cwd: &Path, args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("git")
            .args(["-c", "user.name=bench", "-c", "user.email=bench@qcold.invalid"])
            .args(["-c", "maintenance.auto=false", "-c", "gc.auto=0"])
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "git {args:?} in {} failed ({status})", cwd.display());
        Ok(())
    };
    std::fs::write(repo.join("README.md"), "floor\n")?;
    git(&repo, &["add", "README.md"])?;
    git(&repo, &["commit", "-q", "-m", "init"])?;
    let socket = format!("qcold-floor-{}", std::process::id());
    let tmux = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("tmux").args(["-L", &socket, "-f", "/dev/null"]).args(args).status()?;
        anyhow::ensure!(status.success(), "tmux {args:?} failed ({status})");
        Ok(())
    };
    let next = AtomicUsize::new(0);
    let repository = Mutex::new(());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    // One session keeps the server up, so the workers' sessions never race to start it.
    tmux(&["new-session", "-d", "-s", "keeper", "sleep 3600"])?;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                let item = |i: usize| -> anyhow::Result<()> {
                    let branch = format!("f/{i}");
                    let worktree = repo.with_extension(format!("wt-{i}"));
                    let path = worktree.to_string_lossy().into_owned();
                    // git's worktree bookkeeping is not safe to change concurrently: Q-COLD
                    // changes it under the repository lock, and so does the floor.
                    let admin = || repository.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    {
                        let _turn = admin();
                        git(&repo, &["worktree", "add", "-q", "-b", &branch, &path, "main"])?;
                    }
                    let session = format!("f{i}");
                    tmux(&["new-session", "-d", "-s", &session, "sleep 60"])?;
                    std::fs::write(worktree.join(format!("{i}.txt")), format!("{i}\n"))?;
                    git(&worktree, &["add", &format!("{i}.txt")])?;
                    git(&worktree, &["commit", "-q", "-m", &branch])?;
                    tmux(&["kill-session", "-t", &session])?;
                    let _turn = admin();
                    if deliver {
                        git(&worktree, &["rebase", "-q", "main"])?;
                        git(&repo, &["merge", "-q", "--ff-only", &branch])?;
                    }
                    git(&repo, &["worktree", "remove", "--force", &path])?;
                    git(&repo, &["branch", "-q", "-D", &branch])
                };
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= size {
                        break;
                    }
                    if let Err(err) = item(i) {
                        failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(err);
                        break;
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let _ = Command::new("tmux").args(["-L", &socket, "kill-server"]).stderr(Stdio::null()).status();
    if let Some(err) = failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
        return Err(err);
    }
    Ok(elapsed / u32::try_from(size).unwrap_or(1))
}
