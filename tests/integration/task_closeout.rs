//! `qcold task closeout` on real repositories with a bare `origin`.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use qcold_core::TaskStatus;
use qcold_core::task::{CloseoutPhase, Outcome, Receipt, TaskDetails, Verification};
use qcold_tests::{Env, Run, git};

fn details(env: &Env, key: &str) -> TaskDetails {
    serde_json::from_str(&env.qcold(&["task", "show", key, "--json"]).ok()).unwrap()
}

/// Runs `qcold args…` with `cwd` as working directory.
fn qcold_in(env: &Env, cwd: &Path, args: &[&str]) -> Run {
    Run::from(env.command().args(args).current_dir(cwd).output().unwrap())
}

fn open(env: &Env, slug: &str) -> PathBuf {
    let out = env.qcold(&["task", "open", slug]).ok();
    let line = out.lines().find_map(|l| l.strip_prefix("TASK_WORKTREE=")).expect("TASK_WORKTREE line");
    PathBuf::from(line)
}

fn bundle_entries(path: &str) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().to_owned()).collect()
}

fn receipt(path: &str) -> Receipt {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    archive.by_name("receipt.json").unwrap().read_to_string(&mut text).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn success_lands_on_origin_with_a_bundle_and_cleans_up() {
    let env = Env::new();
    let (repo, origin) = env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "test -f feature.txt"]).ok();
    let worktree = open(&env, "feature");
    std::fs::write(worktree.join("feature.txt"), "new feature\n").unwrap();

    let out =
        qcold_in(&env, &worktree, &["task", "closeout", "--outcome", "success", "--message", "Add the feature"]).ok();
    let phases: Vec<&str> =
        out.lines().filter_map(|l| l.strip_prefix("phase ")).filter(|l| l.ends_with("start")).collect();
    assert_eq!(phases.len(), CloseoutPhase::ALL.len(), "every phase is printed as it runs:\n{out}");
    assert_eq!(git(&origin, &["log", "-1", "--format=%s", "main"]).trim(), "Add the feature");
    assert_eq!(git(&origin, &["show", "main:feature.txt"]), "new feature\n");
    assert_eq!(
        git(&repo, &["rev-parse", "main"]),
        git(&origin, &["rev-parse", "main"]),
        "the primary was fast-forwarded"
    );
    assert!(!worktree.exists(), "the worktree is removed");
    assert!(git(&repo, &["branch", "--list", "task/feature"]).trim().is_empty(), "the branch is removed");

    let shown = details(&env, "feature");
    assert_eq!(shown.task.status, TaskStatus::ClosedSuccess);
    assert_eq!(shown.bundles.len(), 1);
    let bundle = &shown.bundles[0].path;
    assert!(bundle.starts_with(env.state_dir().join("bundles/web").to_str().unwrap()), "{bundle}");
    let entries = bundle_entries(bundle);
    for entry in ["receipt.json", "task.json", "events.ndjson", "diff.patch", "logs/events.ndjson", "logs/verify.log"] {
        assert!(entries.iter().any(|e| e == entry), "bundle lacks {entry}: {entries:?}");
    }
    let receipt = receipt(bundle);
    assert_eq!(
        (receipt.outcome, receipt.status, receipt.verification),
        (Outcome::Success, TaskStatus::ClosedSuccess, Some(Verification::Passed))
    );
    assert_eq!(receipt.format_version, 1);
    assert_eq!(receipt.task_id, "web/001-feature");
}

#[test]
fn task_files_never_reach_the_delivered_branch() {
    let env = Env::new();
    let (_repo, origin) = env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    let worktree = open(&env, "clean-history");
    std::fs::write(worktree.join("a.txt"), "a\n").unwrap();
    let out = qcold_in(&env, &worktree, &["task", "closeout", "--outcome", "success", "--message", "Add a"]).ok();
    assert!(out.contains("delivering unverified"), "{out}");
    let files = git(&origin, &["ls-tree", "-r", "--name-only", "main"]);
    assert_eq!(files.lines().collect::<Vec<_>>(), ["README.md", "a.txt"]);
    let shown = details(&env, "clean-history");
    assert_eq!(receipt(&shown.bundles[0].path).verification, Some(Verification::Unverified));
}

#[test]
fn a_failed_verify_keeps_the_worktree_and_a_repaired_closeout_succeeds() {
    let env = Env::new();
    let (_repo, origin) = env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "grep -q fixed src.txt"]).ok();
    let worktree = open(&env, "repair");
    std::fs::write(worktree.join("src.txt"), "broken\n").unwrap();

    let run = qcold_in(&env, &worktree, &["task", "closeout", "--outcome", "success", "--message", "Fix it"]);
    assert_eq!(run.code, 12, "failed-closeout exits 12\n{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("CLOSEOUT_FAILURE_PHASE=verify"), "{}", run.stdout);
    assert!(run.stderr.contains("failed in phase verify"), "{}", run.stderr);
    assert!(worktree.join("src.txt").is_file(), "the worktree and its work are kept");
    let shown = details(&env, "repair");
    assert_eq!((shown.task.status, shown.task.failed_phase), (TaskStatus::FailedCloseout, Some(CloseoutPhase::Verify)));
    let failed = receipt(&shown.bundles[0].path);
    assert_eq!((failed.status, failed.failed_phase), (TaskStatus::FailedCloseout, Some(CloseoutPhase::Verify)));
    assert_eq!(git(&origin, &["log", "--format=%s", "main"]).trim(), "init", "nothing was delivered");

    std::fs::write(worktree.join("src.txt"), "fixed\n").unwrap();
    qcold_in(&env, &worktree, &["task", "closeout", "--outcome", "success", "--message", "Fix it"]).ok();
    assert_eq!(git(&origin, &["show", "main:src.txt"]), "fixed\n");
    let shown = details(&env, "repair");
    assert_eq!((shown.task.status, shown.task.failed_phase), (TaskStatus::ClosedSuccess, None));
    assert_eq!(shown.bundles.len(), 2, "one bundle per closeout attempt");
}

#[test]
fn blocked_with_uncommitted_work_keeps_it_under_a_snapshot_ref() {
    let env = Env::new();
    let (repo, origin) = env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    let worktree = open(&env, "stuck");
    std::fs::write(worktree.join("wip.txt"), "half of it\n").unwrap();
    std::fs::write(worktree.join("README.md"), "edited readme\n").unwrap();

    let run = qcold_in(&env, &worktree, &["task", "closeout", "--outcome", "blocked", "--reason", "needs an API key"]);
    assert_eq!(run.code, 10, "blocked exits 10\n{}", run.stderr);
    let reference =
        run.stdout.lines().find_map(|l| l.strip_prefix("SNAPSHOT_REF=")).expect("a snapshot ref").to_owned();
    assert!(reference.starts_with("refs/qcold/snapshots/stuck/"), "{reference}");
    assert_eq!(git(&repo, &["show", &format!("{reference}:wip.txt")]), "half of it\n");
    assert_eq!(git(&repo, &["show", &format!("{reference}:README.md")]), "edited readme\n");
    assert!(!worktree.exists());
    assert!(git(&repo, &["branch", "--list", "task/stuck"]).trim().is_empty());
    assert_eq!(git(&origin, &["log", "--format=%s", "main"]).trim(), "init");

    let listed = env.qcold(&["task", "snapshots", "stuck"]).ok();
    assert!(listed.contains(&reference), "{listed}");
    // The README's restore command brings the work back as a branch.
    git(&repo, &["branch", "restored/stuck", &reference]);
    assert_eq!(git(&repo, &["show", "restored/stuck:wip.txt"]), "half of it\n");

    let shown = details(&env, "stuck");
    assert_eq!(shown.task.status, TaskStatus::ClosedBlocked);
    let blocked = receipt(&shown.bundles[0].path);
    assert_eq!(blocked.snapshot_ref.as_deref(), Some(reference.as_str()));
    assert_eq!(blocked.message.as_deref(), Some("needs an API key"));
    let diff = {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&shown.bundles[0].path).unwrap()).unwrap();
        let mut text = String::new();
        archive.by_name("diff.patch").unwrap().read_to_string(&mut text).unwrap();
        text
    };
    assert!(diff.contains("+half of it"), "{diff}");
}

#[test]
fn failed_exits_11_and_a_clean_worktree_needs_no_snapshot() {
    let env = Env::new();
    env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    let worktree = open(&env, "nothing");
    let run = qcold_in(&env, &worktree, &["task", "closeout", "--outcome", "failed", "--reason", "wrong approach"]);
    assert_eq!(run.code, 11, "{}", run.stderr);
    assert!(!run.stdout.contains("SNAPSHOT_REF="), "{}", run.stdout);
    assert_eq!(details(&env, "nothing").task.status, TaskStatus::ClosedFailed);
}

#[test]
fn closeout_refuses_bad_input_and_changes_nothing() {
    let env = Env::new();
    env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    qcold_in(&env, env.path(), &["task", "closeout", "--outcome", "success", "--message", "x"])
        .fails_with("is not inside a task worktree");
    let worktree = open(&env, "careful");
    qcold_in(&env, &worktree, &["task", "closeout", "--outcome", "success"]).fails_with("needs --message");
    qcold_in(&env, &worktree, &["task", "closeout", "--outcome", "blocked"]).fails_with("needs --reason");
    qcold_in(&env, &worktree, &["task", "closeout", "--outcome", "done", "--reason", "x"])
        .fails_with("invalid value 'done'");
    assert_eq!(details(&env, "careful").task.status, TaskStatus::Open);
    assert!(worktree.is_dir());
}

#[test]
fn concurrent_closeouts_both_land_and_the_waiter_says_why() {
    let env = Env::new();
    let (_repo, origin) = env.git_repo_with_origin("web");
    // A slow remote keeps the first delivery inside the lock long enough for the second to wait.
    let hook = origin.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\nsleep 3\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    let first = open(&env, "first");
    let second = open(&env, "second");
    std::fs::write(first.join("one.txt"), "1\n").unwrap();
    std::fs::write(second.join("two.txt"), "2\n").unwrap();

    let mut a = env.command();
    let mut a = a
        .args(["task", "closeout", "--outcome", "success", "--message", "One"])
        .current_dir(&first)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(a.stdout.take().unwrap()).lines();
    // Start the second closeout once the first holds the lock (it is pushing).
    for line in lines.by_ref() {
        if line.unwrap() == "phase push: start" {
            break;
        }
    }
    let b = qcold_in(&env, &second, &["task", "closeout", "--outcome", "success", "--message", "Two"]);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(a.wait().unwrap().success(), "{rest:?}");
    assert_eq!(b.code, 0, "{}\n{}", b.stdout, b.stderr);
    assert!(
        b.stdout.contains("waiting for the delivery lock of repository web, held by closeout of web/001-first"),
        "the waiting closeout says what it waits for:\n{}",
        b.stdout
    );
    let log = git(&origin, &["log", "--format=%s", "main"]);
    assert_eq!(log.lines().collect::<Vec<_>>(), ["Two", "One", "init"], "both landed, neither lost");
}

#[test]
fn clear_snapshots_and_removes_from_outside_the_worktree() {
    let env = Env::new();
    let (repo, _origin) = env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    let worktree = open(&env, "abandon");
    std::fs::write(worktree.join("idea.txt"), "maybe later\n").unwrap();
    git(&worktree, &["add", "idea.txt"]);
    git(&worktree, &["commit", "-q", "-m", "An idea"]);
    let out = env.qcold(&["task", "clear", "abandon", "--reason", "superseded"]).ok();
    let reference = out.lines().find_map(|l| l.strip_prefix("SNAPSHOT_REF=")).expect("committed work is snapshotted");
    assert_eq!(git(&repo, &["show", &format!("{reference}:idea.txt")]), "maybe later\n");
    assert!(!worktree.exists());
    let shown = details(&env, "abandon");
    assert_eq!(shown.task.status, TaskStatus::ClosedFailed);
    env.qcold(&["task", "clear", "abandon", "--reason", "again"]).fails_with("is closed:failed; it is already closed");
}

#[test]
fn a_failed_closeout_resumes_through_open_and_a_missing_manifest_is_named() {
    let env = Env::new();
    let repo = env.git_repo("tool");
    std::fs::create_dir_all(repo.join("xtask")).unwrap();
    std::fs::write(repo.join("xtask/Cargo.toml"), "[package]\nname = \"xtask\"\n").unwrap();
    git(&repo, &["add", "xtask"]);
    git(&repo, &["commit", "-q", "-m", "xtask"]);
    env.qcold(&["repo", "add", "tool", "tool", "--set-active"]).ok();
    let worktree = open(&env, "fix");
    // The task's copy of the manifest is gone: verify names it instead of running cargo blindly.
    std::fs::remove_file(worktree.join("xtask/Cargo.toml")).unwrap();
    let run = qcold_in(&env, &worktree, &["task", "closeout", "--outcome", "success", "--message", "m"]);
    assert_eq!(run.code, 12);
    assert!(run.stderr.contains("failed in phase verify") && run.stderr.contains("xtask manifest"), "{}", run.stderr);
    let out = env.qcold(&["task", "open", "fix"]).ok();
    assert!(out.starts_with("resumed task tool/001-fix"), "{out}");
    assert_eq!(details(&env, "fix").task.status, TaskStatus::Open);

    // With the primary's manifest gone too, opening new tasks is refused up front.
    std::fs::remove_file(repo.join("xtask/Cargo.toml")).unwrap();
    git(&repo, &["commit", "-q", "-am", "drop xtask"]);
    env.qcold(&["task", "open", "next"]).fails_with("does not exist; re-register the repository with --xtask-manifest");
}

#[test]
fn clearing_a_task_whose_worktree_was_deleted_keeps_its_commits() {
    let env = Env::new();
    let (repo, _origin) = env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    let worktree = open(&env, "lost");
    std::fs::write(worktree.join("kept.txt"), "committed before the accident\n").unwrap();
    git(&worktree, &["add", "kept.txt"]);
    git(&worktree, &["commit", "-q", "-m", "Work"]);
    std::fs::remove_dir_all(&worktree).unwrap();
    let out = env.qcold(&["task", "clear", "lost", "--reason", "worktree deleted by hand"]).ok();
    let reference = out.lines().find_map(|l| l.strip_prefix("SNAPSHOT_REF=")).expect("the branch's commits are kept");
    assert_eq!(git(&repo, &["show", &format!("{reference}:kept.txt")]), "committed before the accident\n");
    assert!(git(&repo, &["branch", "--list", "task/lost"]).trim().is_empty(), "the branch itself is gone");
}

/// Every git process a GIT_TRACE2_EVENT file saw start, as (the argv of the git that started
/// it, its own argv); a process started by something other than git has an empty parent argv.
fn traced_git_starts(trace: &Path) -> Vec<(Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    let events: Vec<serde_json::Value> = text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let argv = |event: &serde_json::Value| -> Vec<String> {
        event["argv"]
            .as_array()
            .map(|a| a.iter().filter_map(|w| w.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let starts: std::collections::HashMap<&str, Vec<String>> =
        events.iter().filter(|e| e["event"] == "start").filter_map(|e| Some((e["sid"].as_str()?, argv(e)))).collect();
    // A process's sid is its parent's sid, a slash, and its own part.
    starts
        .iter()
        .map(|(sid, own)| {
            let parent = sid.rsplit_once('/').and_then(|(parent, _)| starts.get(parent)).cloned().unwrap_or_default();
            (parent, own.clone())
        })
        .collect()
}

#[test]
fn qcold_git_never_starts_auto_maintenance_and_repo_maintain_runs_it_on_purpose() {
    let env = Env::new();
    let (repo, _origin) = env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "test -f feature.txt"]).ok();
    let trace = env.path().join("trace2.json");
    let traced = |args: &[&str], cwd: &Path| {
        Run::from(env.command().args(args).current_dir(cwd).env("GIT_TRACE2_EVENT", &trace).output().unwrap())
    };
    let out = traced(&["task", "open", "feature"], env.path()).ok();
    let worktree = PathBuf::from(out.lines().find_map(|l| l.strip_prefix("TASK_WORKTREE=")).unwrap());
    std::fs::write(worktree.join("feature.txt"), "new feature\n").unwrap();
    traced(&["task", "closeout", "--outcome", "success", "--message", "Add the feature"], &worktree).ok();

    let starts = traced_git_starts(&trace);
    assert!(starts.iter().any(|(_, a)| a.iter().any(|w| w == "commit")), "the trace saw Q-COLD's commit: {starts:?}");
    // The bare origin's receive-pack runs its own housekeeping (its receive.autoGc), as a remote
    // server does; what counts is the operator's repository.
    let maintenance: Vec<_> = starts
        .iter()
        .filter(|(parent, _)| !parent.first().is_some_and(|p| p.ends_with("receive-pack")))
        .filter(|(_, a)| {
            a.iter().any(|w| w == "maintenance") || (a.iter().any(|w| w == "gc") && a.iter().any(|w| w == "--auto"))
        })
        .collect();
    assert!(maintenance.is_empty(), "Q-COLD's git started git's auto-maintenance: {maintenance:?}");

    // On purpose, it runs: git's own trace shows `maintenance run` and its gc.
    std::fs::remove_file(&trace).unwrap();
    let out = traced(&["repo", "maintain"], env.path()).ok();
    assert!(out.contains("maintained repository web at"), "{out}");
    let starts = traced_git_starts(&trace);
    assert!(starts.iter().any(|(_, a)| a.iter().any(|w| w == "gc")), "the gc ran: {starts:?}");
    assert!(git(&repo, &["count-objects", "-v"]).contains("count: 0"), "gc packed the loose objects");

    let refused = env.qcold(&["repo", "maintain", "nope"]).fails_with("nope");
    assert!(!refused.is_empty());
}
