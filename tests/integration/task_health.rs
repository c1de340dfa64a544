//! `qcold task health` on a prepared mix of worktrees.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use qcold_core::TaskStatus;
use qcold_core::health::{Action, Report};
use qcold_core::task::TaskDetails;
use qcold_tests::{Env, git};

fn open(env: &Env, slug: &str) -> PathBuf {
    let out = env.qcold(&["task", "open", slug]).ok();
    PathBuf::from(out.lines().find_map(|l| l.strip_prefix("TASK_WORKTREE=")).expect("TASK_WORKTREE"))
}

fn in_dir(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    env.command().args(args).current_dir(dir).output().unwrap()
}

fn status(env: &Env, slug: &str) -> TaskStatus {
    let details: TaskDetails = serde_json::from_str(&env.qcold(&["task", "show", slug, "--json"]).ok()).unwrap();
    details.task.status
}

/// Edits the store the way time and a crashed cleanup would have.
fn sql(env: &Env, statement: &str) {
    let conn = rusqlite::Connection::open(env.state_dir().join("qcold.sqlite3")).unwrap();
    conn.execute(statement, []).unwrap();
}

fn action_for<'a>(report: &'a Report, path: &Path) -> (Action, &'a str) {
    let entry = report
        .entries
        .iter()
        .find(|e| Path::new(&e.path) == path)
        .unwrap_or_else(|| panic!("{} not in the report: {report:#?}", path.display()));
    (entry.action, entry.reason.as_str())
}

#[test]
fn health_removes_exactly_what_it_should() {
    let env = Env::new();
    let repo = env.git_repo("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "test ! -e FAIL"]).ok();
    let root = env.path().join("WT/web");

    let active = open(&env, "active");
    std::fs::write(active.join("work.txt"), "in progress\n").unwrap();

    let broken = open(&env, "broken");
    std::fs::write(broken.join("FAIL"), "x\n").unwrap();
    assert_eq!(
        in_dir(&env, &broken, &["task", "closeout", "--outcome", "success", "--message", "m"]).status.code(),
        Some(12)
    );

    let waiting = open(&env, "waiting");
    assert!(in_dir(&env, &waiting, &["task", "pause", "--reason", "review"]).status.success());

    let stale = open(&env, "stale");
    std::fs::write(stale.join("draft.txt"), "unfinished thought\n").unwrap();
    assert!(in_dir(&env, &stale, &["task", "pause", "--reason", "lunch"]).status.success());
    sql(&env, "UPDATE tasks SET updated_at = updated_at - 3 * 3600 WHERE slug = 'stale'");

    let done = open(&env, "done");
    sql(&env, "UPDATE tasks SET status = 'closed:success' WHERE slug = 'done'");

    let orphan = root.join("900-orphan");
    git(&repo, &["worktree", "add", "-q", "-b", "side", orphan.to_str().unwrap()]);
    std::fs::write(orphan.join("stray.txt"), "someone's work\n").unwrap();

    let metadata_only = root.join("800-gone");
    std::fs::create_dir_all(metadata_only.join(".task")).unwrap();
    std::fs::write(metadata_only.join(".task/task.env"), "TASK_ID=web/800-gone\nTASK_BRANCH=task/gone\n").unwrap();

    let unrelated = root.join("notes");
    std::fs::create_dir_all(&unrelated).unwrap();
    std::fs::write(unrelated.join("todo.md"), "keep me\n").unwrap();

    let bundles = env.state_dir().join("bundles/web");
    let old_bundle = bundles.join("000-ancient-1-closed-success.zip");
    std::fs::write(&old_bundle, b"old").unwrap();
    let ten_days_ago = SystemTime::now() - Duration::from_secs(10 * 86_400);
    std::fs::File::options().write(true).open(&old_bundle).unwrap().set_modified(ten_days_ago).unwrap();

    // A dry run reports and changes nothing.
    let dry: Report = serde_json::from_str(&env.qcold(&["task", "health", "--dry-run", "--json"]).ok()).unwrap();
    assert!(dry.dry_run);
    assert_eq!(action_for(&dry, &stale).0, Action::Remove);
    for dir in [&active, &broken, &waiting, &stale, &done, &orphan, &metadata_only, &unrelated] {
        assert!(dir.exists(), "dry run removed {}", dir.display());
    }
    assert!(old_bundle.exists());

    let report: Report = serde_json::from_str(&env.qcold(&["task", "health", "--json"]).ok()).unwrap();
    let kept = [
        (&active, "its task is open"),
        (&broken, "failed-closeout: repair it and run closeout again"),
        (&unrelated, "not a task worktree; left alone"),
    ];
    for (dir, reason) in kept {
        assert_eq!(action_for(&report, dir), (Action::Keep, reason));
        assert!(dir.exists(), "{} must be kept", dir.display());
    }
    assert_eq!(action_for(&report, &waiting).0, Action::Keep);
    assert!(waiting.exists());
    assert_eq!(std::fs::read_to_string(active.join("work.txt")).unwrap(), "in progress\n");

    for dir in [&stale, &done, &orphan, &metadata_only] {
        assert_eq!(action_for(&report, dir).0, Action::Remove, "{}", dir.display());
        assert!(!dir.exists(), "{} must be removed", dir.display());
    }
    assert!(action_for(&report, &stale).1.starts_with("paused for 3h"), "{report:#?}");
    assert!(!old_bundle.exists(), "old bundles are deleted");
    assert!(report.entries.iter().any(|e| e.path == old_bundle.to_str().unwrap() && e.action == Action::Remove));
    assert!(
        !report.entries.iter().any(|e| e.path.contains("broken") && e.path.ends_with(".zip")),
        "recent bundles stay"
    );

    // Removals went through snapshots first: the stale draft and the orphan's file survive.
    let stale_ref = report
        .entries
        .iter()
        .find(|e| Path::new(&e.path) == stale)
        .and_then(|e| e.snapshot_ref.clone())
        .expect("stale snapshot");
    assert_eq!(git(&repo, &["show", &format!("{stale_ref}:draft.txt")]), "unfinished thought\n");
    let orphan_ref = report
        .entries
        .iter()
        .find(|e| Path::new(&e.path) == orphan)
        .and_then(|e| e.snapshot_ref.clone())
        .expect("orphan snapshot");
    assert!(orphan_ref.starts_with("refs/qcold/snapshots/orphan-900-orphan/"), "{orphan_ref}");
    assert_eq!(git(&repo, &["show", &format!("{orphan_ref}:stray.txt")]), "someone's work\n");
    assert!(
        report.entries.iter().find(|e| Path::new(&e.path) == done).is_some_and(|e| e.snapshot_ref.is_none()),
        "nothing to keep"
    );

    assert_eq!(status(&env, "stale"), TaskStatus::ClosedBlocked, "an expired pause is closed as blocked");
    assert_eq!(status(&env, "waiting"), TaskStatus::Paused);
    assert!(git(&repo, &["branch", "--list", "task/stale", "task/done"]).trim().is_empty());
    assert!(
        !git(&repo, &["branch", "--list", "side"]).trim().is_empty(),
        "an orphan's own branch is not ours to delete"
    );
    let worktrees = git(&repo, &["worktree", "list"]);
    assert!(!worktrees.contains("900-orphan") && !worktrees.contains("stale"), "{worktrees}");

    let text = env.qcold(&["task", "health"]).ok();
    assert!(text.contains("kept") && text.contains("its task is open"), "{text}");
}

/// Makes git forget the worktree at `dir` while its files stay, as `git worktree prune` does
/// when it runs while the directory is unreachable (moved, an unmounted disk).
fn unregister(repo: &Path, dir: &Path) {
    let away = dir.with_extension("away");
    std::fs::rename(dir, &away).unwrap();
    git(repo, &["worktree", "prune"]);
    std::fs::rename(&away, dir).unwrap();
    assert!(!git(repo, &["worktree", "list"]).contains(dir.to_str().unwrap()), "git forgot {}", dir.display());
}

fn snapshot_of(report: &Report, dir: &Path) -> Option<String> {
    report.entries.iter().find(|e| Path::new(&e.path) == dir).and_then(|e| e.snapshot_ref.clone())
}

#[test]
fn a_worktree_git_forgot_is_stored_as_files_before_it_goes() {
    let env = Env::new();
    let repo = env.git_repo("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "true"]).ok();

    let lost = open(&env, "lost");
    std::fs::write(lost.join("committed.txt"), "on the branch\n").unwrap();
    git(&lost, &["add", "committed.txt"]);
    git(&lost, &["commit", "-q", "-m", "branch work"]);
    let tip = git(&lost, &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::create_dir_all(lost.join("src")).unwrap();
    std::fs::write(lost.join("src/draft.rs"), "fn unfinished() {}\n").unwrap();
    std::fs::write(lost.join(".gitignore"), "*.log\n").unwrap();
    std::fs::write(lost.join("build.log"), "ignored output\n").unwrap();
    assert!(in_dir(&env, &lost, &["task", "pause", "--reason", "lunch"]).status.success());
    sql(&env, "UPDATE tasks SET updated_at = updated_at - 3 * 3600 WHERE slug = 'lost'");
    unregister(&repo, &lost);

    // A closed task's worktree git forgot, holding nothing but `.task/`: no work, it just goes.
    let empty = open(&env, "empty");
    for entry in std::fs::read_dir(&empty).unwrap().flatten() {
        if entry.file_name() != ".task" {
            let path = entry.path();
            if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }.unwrap();
        }
    }
    git(&repo, &["worktree", "prune"]);
    sql(&env, "UPDATE tasks SET status = 'closed:failed' WHERE slug = 'empty'");
    git(&repo, &["branch", "-D", "task/empty"]);

    let report: Report = serde_json::from_str(&env.qcold(&["task", "health", "--json"]).ok()).unwrap();
    assert_eq!(action_for(&report, &lost).0, Action::Remove, "{report:#?}");
    assert!(!lost.exists());
    let reference = snapshot_of(&report, &lost).expect("the forgotten worktree was stored first");
    assert!(reference.starts_with("refs/qcold/snapshots/lost/"), "{reference}");
    assert_eq!(git(&repo, &["show", &format!("{reference}:src/draft.rs")]), "fn unfinished() {}\n");
    assert_eq!(git(&repo, &["show", &format!("{reference}:committed.txt")]), "on the branch\n");
    assert_eq!(git(&repo, &["rev-parse", &format!("{reference}^")]).trim(), tip, "the branch's commits stay reachable");
    let message = git(&repo, &["log", "-1", "--format=%B", &reference]);
    assert!(message.contains("Not kept (ignored by git):\nbuild.log"), "ignored files are named: {message}");
    assert!(git(&repo, &["branch", "--list", "task/lost"]).trim().is_empty());
    assert_eq!(status(&env, "lost"), TaskStatus::ClosedBlocked);
    // The README's restore command.
    git(&repo, &["branch", "restored/lost", &reference]);
    assert_eq!(git(&repo, &["show", "restored/lost:src/draft.rs"]), "fn unfinished() {}\n");

    assert_eq!(action_for(&report, &empty).0, Action::Remove, "{report:#?}");
    assert!(!empty.exists());
    assert_eq!(snapshot_of(&report, &empty), None, "nothing but .task/ needs no snapshot");
}

#[test]
fn work_in_a_repository_nested_in_a_worktree_survives_as_files_and_refs() {
    let env = Env::new();
    let repo = env.git_repo("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "true"]).ok();
    let nest = open(&env, "nest");
    let lib = nest.join("vendor/lib");
    std::fs::create_dir_all(&lib).unwrap();
    git(&lib, &["init", "-q", "-b", "main"]);
    std::fs::write(lib.join("lib.txt"), "committed in the nested repo\n").unwrap();
    git(&lib, &["add", "lib.txt"]);
    git(&lib, &["commit", "-q", "-m", "nested work"]);
    let nested_head = git(&lib, &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::write(lib.join("wip.txt"), "not committed anywhere\n").unwrap();
    // A nested repository without a commit: git alone cannot even add it.
    let notes = nest.join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    git(&notes, &["init", "-q"]);
    std::fs::write(notes.join("idea.txt"), "an idea\n").unwrap();

    let out = env.qcold(&["task", "clear", "nest", "--reason", "abandoned"]).ok();
    assert!(!nest.exists(), "{out}");
    let reference = out.lines().find_map(|l| l.strip_prefix("SNAPSHOT_REF=")).map(str::to_owned).unwrap_or_else(|| {
        let refs = git(&repo, &["for-each-ref", "--format=%(refname)", "refs/qcold/snapshots/nest/"]);
        refs.lines().next().expect("a snapshot of nest").to_owned()
    });
    for (path, text) in [
        ("vendor/lib/lib.txt", "committed in the nested repo\n"),
        ("vendor/lib/wip.txt", "not committed anywhere\n"),
        ("notes/idea.txt", "an idea\n"),
    ] {
        assert_eq!(git(&repo, &["show", &format!("{reference}:{path}")]), text, "{path}");
    }
    // The nested repository's commits: its refs were copied next to the snapshot.
    let nested = reference.replacen("refs/qcold/snapshots", "refs/qcold/nested", 1);
    let message = git(&repo, &["log", "-1", "--format=%B", &reference]);
    let n = message.lines().find_map(|l| l.strip_suffix(": vendor/lib")).expect("vendor/lib is listed").to_owned();
    assert!(message.lines().any(|l| l.ends_with(": notes")), "{message}");
    assert_eq!(git(&repo, &["rev-parse", &format!("{nested}/{n}/heads/main")]).trim(), nested_head);
    assert_eq!(git(&repo, &["rev-parse", &format!("{nested}/{n}/HEAD")]).trim(), nested_head);
    // Restoring it, as the README shows.
    let restored = env.path().join("restored-lib");
    git(env.path(), &["init", "-q", restored.to_str().unwrap()]);
    git(&restored, &["fetch", "-q", repo.to_str().unwrap(), &format!("{nested}/{n}/heads/*:refs/heads/*")]);
    assert_eq!(git(&restored, &["log", "-1", "--format=%s", "main"]).trim(), "nested work");
}
