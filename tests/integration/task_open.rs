//! `qcold task open/enter/list/show/pause` on real git repositories.

use std::path::Path;

use qcold_core::TaskStatus;
use qcold_core::task::{EventKind, TaskDetails, TaskRecord};
use qcold_tests::{Env, git};

fn registered(env: &Env) -> std::path::PathBuf {
    let repo = env.git_repo("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    repo
}

fn details(env: &Env, key: &str) -> TaskDetails {
    serde_json::from_str(&env.qcold(&["task", "show", key, "--json"]).ok()).expect("task show --json is TaskDetails")
}

fn tasks(env: &Env) -> Vec<TaskRecord> {
    serde_json::from_str(&env.qcold(&["task", "list", "--json"]).ok()).unwrap()
}

#[test]
fn open_creates_worktree_branch_files_and_record() {
    let env = Env::new();
    let repo = registered(&env);
    let out = env.qcold(&["task", "open", "fix-login", "--prompt", "make login work", "--profile", "quick"]).ok();
    let worktree = env.path().join("WT/web/001-fix-login");
    assert!(out.contains(&format!("TASK_WORKTREE={}", worktree.display())), "{out}");
    assert_eq!(git(&worktree, &["branch", "--show-current"]).trim(), "task/fix-login");
    let base = git(&repo, &["rev-parse", "main"]);
    assert_eq!(git(&worktree, &["rev-parse", "HEAD"]), base);

    let env_file = std::fs::read_to_string(worktree.join(".task/task.env")).unwrap();
    for line in [
        "TASK_ID=web/001-fix-login",
        "TASK_SLUG=fix-login",
        "TASK_STATUS=open",
        "TASK_REPO=web",
        "TASK_SEQUENCE=1",
        "BASE_BRANCH=main",
    ] {
        assert!(env_file.lines().any(|l| l == line), "task.env lacks {line}:\n{env_file}");
    }
    assert!(env_file.contains(&format!("BASE_COMMIT={}", base.trim())));
    let events = std::fs::read_to_string(worktree.join(".task/logs/events.ndjson")).unwrap();
    let first: serde_json::Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "open");
    assert!(first["at"].as_i64().unwrap() > 0 && first["message"].is_string());

    let shown = details(&env, "fix-login");
    assert_eq!(shown.task.id, "web/001-fix-login");
    assert_eq!((shown.task.status, shown.task.sequence), (TaskStatus::Open, 1));
    assert_eq!(shown.task.prompt.as_deref(), Some("make login work"));
    assert_eq!(shown.task.profile.as_deref(), Some("quick"));
    assert_eq!(details(&env, "web/001-fix-login").task, shown.task, "show accepts the id too");

    env.qcold(&["task", "open", "second"]).ok();
    assert!(env.path().join("WT/web/002-second").is_dir(), "sequences count up per repository");
    let listed = tasks(&env);
    assert_eq!(listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["web/002-second", "web/001-fix-login"]);
}

#[test]
fn enter_prints_an_eval_snippet() {
    let env = Env::new();
    registered(&env);
    env.qcold(&["task", "open", "fix"]).ok();
    let snippet = env.qcold(&["task", "enter", "fix"]).ok();
    let script = format!("{snippet}\npwd\necho \"$TASK_ID $TASK_BRANCH\"");
    let out = std::process::Command::new("sh").args(["-c", &script]).current_dir(env.path()).output().unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    let worktree = env.path().join("WT/web/001-fix").canonicalize().unwrap();
    assert!(out.contains(worktree.to_str().unwrap()), "{out}");
    assert!(out.contains("web/001-fix task/fix"), "{out}");
    env.qcold(&["task", "enter", "nope"]).fails_with("no task \"nope\"");
}

#[test]
fn pause_keeps_the_worktree_and_open_resumes_in_place() {
    let env = Env::new();
    registered(&env);
    env.qcold(&["task", "open", "slow"]).ok();
    let worktree = env.path().join("WT/web/001-slow");
    std::fs::write(worktree.join("work.txt"), "half done\n").unwrap();
    let mut pause = env.command();
    let out = pause
        .args(["task", "pause", "--reason", "waiting for review"])
        .current_dir(worktree.join(".task"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(details(&env, "slow").task.status, TaskStatus::Paused);
    assert!(std::fs::read_to_string(worktree.join(".task/task.env")).unwrap().contains("TASK_STATUS=paused"));

    let out = env.qcold(&["task", "open", "slow"]).ok();
    assert!(out.starts_with("resumed task web/001-slow"), "{out}");
    assert_eq!(std::fs::read_to_string(worktree.join("work.txt")).unwrap(), "half done\n", "resume keeps the work");
    let shown = details(&env, "slow");
    assert_eq!(shown.task.status, TaskStatus::Open);
    let kinds: Vec<EventKind> = shown.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Open, EventKind::Pause, EventKind::Resume]);
    assert_eq!(shown.events[1].message, "waiting for review");

    env.qcold(&["task", "pause", "--reason", "x"]).fails_with("is not inside a task worktree");
    assert_eq!(tasks(&env).len(), 1);
}

fn assert_nothing_created(env: &Env, repo: &Path, slug: &str) {
    assert!(tasks(env).iter().all(|t| t.slug.as_str() != slug), "no record for {slug}");
    assert!(!env.path().join(format!("WT/web/001-{slug}")).exists(), "no worktree for {slug}");
    let branches = git(repo, &["branch", "--list", &format!("task/{slug}")]);
    assert!(branches.trim().is_empty(), "no branch for {slug}: {branches}");
}

#[test]
fn bad_input_changes_nothing() {
    let env = Env::new();
    env.qcold(&["task", "open", "early"]).fails_with("no active repository");
    let repo = registered(&env);

    env.qcold(&["task", "open", "-dash"]).fails_with("unexpected argument '-d'");
    env.qcold(&["task", "open", "bad/slug"]).fails_with("task slug \"bad/slug\" contains '/'");
    env.qcold(&["task", "open", "x", "--repo", "ghost"]).fails_with("no repository \"ghost\" is registered");

    std::fs::write(repo.join("README.md"), "edited\n").unwrap();
    env.qcold(&["task", "open", "dirty"]).fails_with("has uncommitted changes (README.md)");
    assert_nothing_created(&env, &repo, "dirty");
    git(&repo, &["checkout", "-q", "README.md"]);

    git(&repo, &["switch", "-q", "-c", "feature"]);
    env.qcold(&["task", "open", "branchy"]).fails_with("is on feature, not on the base branch main");
    assert_nothing_created(&env, &repo, "branchy");
    git(&repo, &["switch", "-q", "main"]);

    // A branch with a commit of its own is work: it is never removed, the open is refused.
    git(&repo, &["switch", "-q", "-c", "task/taken"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "someone's work"]);
    git(&repo, &["switch", "-q", "main"]);
    env.qcold(&["task", "open", "taken"]).fails_with("branch task/taken already exists");
    assert!(tasks(&env).is_empty());
    assert!(!git(&repo, &["branch", "--list", "task/taken"]).trim().is_empty(), "the branch is kept");

    std::fs::create_dir_all(env.path().join("WT/web/001-blocked-dir")).unwrap();
    env.qcold(&["task", "open", "blocked-dir"]).fails_with("already exists; pick another slug");
    assert!(tasks(&env).is_empty());
    assert!(git(&repo, &["branch", "--list", "task/blocked-dir"]).trim().is_empty());

    env.qcold(&["task", "open", "once"]).ok();
    // Refused opens reserved no sequence number.
    env.qcold(&["task", "open", "once"]).fails_with("task web/001-once is already open");
    assert_eq!(tasks(&env).len(), 1);
}

#[test]
fn worktree_root_is_configurable_per_repository() {
    let env = Env::new();
    env.git_repo("api");
    let custom = env.path().join("elsewhere/trees");
    env.qcold(&["repo", "add", "api", "api", "--set-active", "--worktree-root", custom.to_str().unwrap()]).ok();
    env.qcold(&["task", "open", "t1"]).ok();
    assert!(custom.join("001-t1/.task/task.env").is_file());
}

/// What a launch killed between `git worktree add` and storing the task leaves: the branch at the
/// base and its worktree with nothing but `.task/`. The next open of the slug removes it and
/// opens afresh; the same leftover holding a file of its own is kept and the open refused.
#[test]
fn a_branch_a_dead_open_left_without_work_is_removed_and_one_with_work_kept() {
    let env = Env::new();
    let repo = registered(&env);
    let leftover = env.path().join("WT/web/001-left");
    git(&repo, &["worktree", "add", "-q", "-b", "task/left", leftover.to_str().unwrap(), "main"]);
    std::fs::create_dir_all(leftover.join(".task")).unwrap();
    std::fs::write(leftover.join(".task/task.env"), "TASK_SLUG=left\n").unwrap();

    env.qcold(&["task", "open", "left"]).ok();
    let opened = details(&env, "left").task;
    assert_eq!((opened.sequence, opened.branch.as_str()), (1, "task/left"), "{opened:?}");
    assert_eq!(Path::new(&opened.worktree), leftover, "the leftover's place is taken by the new task");
    assert_eq!(tasks(&env).len(), 1);

    let kept = env.path().join("WT/web/002-held");
    git(&repo, &["worktree", "add", "-q", "-b", "task/held", kept.to_str().unwrap(), "main"]);
    std::fs::write(kept.join("notes.txt"), "uncommitted work\n").unwrap();
    env.qcold(&["task", "open", "held"]).fails_with("branch task/held already exists");
    assert_eq!(std::fs::read_to_string(kept.join("notes.txt")).unwrap(), "uncommitted work\n", "work is never removed");
    assert_eq!(tasks(&env).len(), 1);
}
