//! Nothing hangs: a remote that never answers fails a closeout within its deadline, and a
//! repository lock held elsewhere never blocks the daemon's scheduler or its API.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use qcold_core::TaskStatus;
use qcold_core::task::{CloseoutPhase, TaskDetails};
use qcold_tests::{Env, Run, git, wait_until};
use serde_json::json;

use crate::queue::Fixture;

/// A TCP server that accepts every connection and never says a word: the remote that hangs.
/// The connections stay open as long as the returned listener's thread runs (the test's life).
fn silent_remote() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

fn open(env: &Env, slug: &str) -> PathBuf {
    let out = env.qcold(&["task", "open", slug]).ok();
    PathBuf::from(out.lines().find_map(|l| l.strip_prefix("TASK_WORKTREE=")).expect("TASK_WORKTREE line"))
}

/// Runs `qcold args…` in `cwd` with `vars`, killing it after `limit`; `None` if it had to be killed.
fn bounded(env: &Env, cwd: &Path, vars: &[(&str, &str)], args: &[&str], limit: Duration) -> Option<Run> {
    let mut child = env
        .command()
        .args(args)
        .current_dir(cwd)
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = wait_until(limit, || child.try_wait().ok().flatten().is_some());
    if !done {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    done.then(|| Run::from(output))
}

#[test]
fn a_remote_that_never_answers_fails_the_closeout_within_its_deadline() {
    let env = Env::new();
    let repo = env.git_repo("web");
    let port = silent_remote();
    git(&repo, &["remote", "add", "origin", &format!("git://127.0.0.1:{port}/x")]);
    git(&repo, &["config", "branch.main.remote", "origin"]);
    git(&repo, &["config", "branch.main.merge", "refs/heads/main"]);
    env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "true"]).ok();
    let worktree = open(&env, "feature");
    std::fs::write(worktree.join("feature.txt"), "new\n").unwrap();

    let started = Instant::now();
    let vars = [("QCOLD_GIT_REMOTE_TIMEOUT_SECONDS", "2")];
    let args = ["task", "closeout", "--outcome", "success", "--message", "Add it"];
    let run = bounded(&env, &worktree, &vars, &args, Duration::from_secs(60)).expect("the closeout ends by itself");
    assert!(started.elapsed() < Duration::from_secs(30), "bounded by the deadline: {:?}", started.elapsed());
    assert_eq!(run.code, i32::from(qcold_core::task::EXIT_FAILED_CLOSEOUT), "{}\n{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("timed out after 2 s"), "the timeout is named:\n{all}");

    let shown: TaskDetails = serde_json::from_str(&env.qcold(&["task", "show", "feature", "--json"]).ok()).unwrap();
    assert_eq!((shown.task.status, shown.task.failed_phase), (TaskStatus::FailedCloseout, Some(CloseoutPhase::Rebase)));
    assert!(worktree.exists(), "a failed closeout keeps the worktree");

    // The delivery lock went with the closeout: the next open in the same repository works.
    let next = bounded(&env, env.path(), &[], &["task", "open", "other"], Duration::from_secs(30));
    assert_eq!(next.expect("the open does not wait for a lock").code, 0);
}

/// Holds `<state>/locks/<name>.lock` the way another qcold process would, until dropped.
fn hold_lock(state_dir: &Path, name: &str) -> nix::fcntl::Flock<std::fs::File> {
    use std::io::Write as _;
    let dir = state_dir.join("locks");
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join(format!("{name}.lock")))
        .unwrap();
    let mut lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).unwrap();
    writeln!(lock, "a test holding the lock (pid {})", std::process::id()).unwrap();
    lock
}

#[test]
fn a_held_repository_lock_never_blocks_the_scheduler_or_the_api() {
    let fx = Fixture::new(&[]);
    let lock = hold_lock(&fx.env.state_dir(), "repo-web");
    let run = fx.run(&json!({"agent": "scripted", "items": [{"slug": "blocked", "prompt": "deliver"}]}));
    // The item tries to open its task and cannot; it is told so instead of the scheduler waiting.
    fx.wait_run(&run, Duration::from_secs(30), "the item told the repository is busy", |r| {
        r["items"][0]["reason"].as_str().is_some_and(|reason| reason.contains("a test holding the lock"))
    });

    for (route, body) in [("tab/create", json!({"label": "side"})), ("stop", json!({"run_id": run}))] {
        let started = Instant::now();
        let (code, answer) = fx.post(route, &body);
        assert_eq!(code, 200, "{route}: {answer}");
        assert!(started.elapsed() < Duration::from_secs(5), "{route} answered promptly: {:?}", started.elapsed());
    }
    // Only a scheduler that is not stuck behind the lock settles the stop.
    let stopped = fx.wait_status(&run, "stopped", Duration::from_secs(30));
    assert_ne!(stopped["items"][0]["status"], "failed", "{stopped}");
    assert_eq!(fx.agent_runs("blocked"), 0);

    drop(lock);
    fx.queue(&["continue", &run]).ok();
    fx.wait_status(&run, "success", Duration::from_secs(60));
}
