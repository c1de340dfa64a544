//! The worktree pool: a delivered task's worktree is parked and the next open takes it, as the
//! same full checkout a fresh `git worktree add` makes; a parked worktree that holds anything
//! is never reused nor removed.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use qcold_tests::{Env, Run, git};

fn open(env: &Env, slug: &str) -> PathBuf {
    let out = env.qcold(&["task", "open", slug]).ok();
    let line = out.lines().find_map(|l| l.strip_prefix("TASK_WORKTREE=")).expect("TASK_WORKTREE line");
    PathBuf::from(line)
}

fn closeout_success(env: &Env, worktree: &Path, message: &str) {
    let mut run = env.command();
    run.args(["task", "closeout", "--outcome", "success", "--message", message]).current_dir(worktree);
    Run::from(run.output().unwrap()).ok();
}

fn worktrees(repo: &Path) -> Vec<PathBuf> {
    let listed = git(repo, &["worktree", "list", "--porcelain"]);
    listed
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .map(|p| PathBuf::from(p).canonicalize().unwrap())
        .collect()
}

/// A repository whose first task delivered `.gitignore` (ignoring `target/`) and `one.txt`,
/// leaving a build output behind in its worktree; returns the repository and the pool entry.
fn delivered_once(env: &Env) -> (PathBuf, PathBuf) {
    let (repo, _origin) = env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "true"]).ok();
    let first = open(env, "one");
    std::fs::write(first.join(".gitignore"), "target/\n").unwrap();
    std::fs::write(first.join("one.txt"), "one\n").unwrap();
    std::fs::create_dir_all(first.join("target")).unwrap();
    std::fs::write(first.join("target/build.bin"), "an ignored build output").unwrap();
    closeout_success(env, &first, "Add one");
    assert!(!first.exists(), "the task's path is free again");
    let parked = first.parent().unwrap().join(".pool").join(first.file_name().unwrap());
    (repo, parked)
}

#[test]
fn a_delivered_worktree_is_parked_and_the_next_open_takes_it_as_a_full_checkout() {
    let env = Env::new();
    let (repo, parked) = delivered_once(&env);

    assert!(parked.is_dir(), "the delivered worktree is parked at {}", parked.display());
    assert!(worktrees(&repo).contains(&parked.canonicalize().unwrap()), "git still lists it as a worktree");
    assert!(!parked.join("target").exists(), "its ignored build output is gone, as a removal would drop it");
    assert!(!parked.join(".task").exists(), "Q-COLD's task files are gone");
    assert!(git(&repo, &["branch", "--list", "task/one"]).trim().is_empty(), "the task branch is deleted");
    let inode = std::fs::metadata(&parked).unwrap().ino();

    let second = open(&env, "two");
    assert_eq!(std::fs::metadata(&second).unwrap().ino(), inode, "the open took the parked worktree");
    assert!(!parked.exists(), "it left the pool");
    assert_eq!(
        git(&second, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "task/two",
        "it is on the new task's branch"
    );
    assert_eq!(git(&second, &["rev-parse", "HEAD"]), git(&repo, &["rev-parse", "main"]), "at the current base");
    assert_eq!(
        git(&second, &["ls-files"]),
        git(&repo, &["ls-tree", "-r", "--name-only", "main"]),
        "every file of the base is checked out"
    );
    assert_eq!(std::fs::read_to_string(second.join("one.txt")).unwrap(), "one\n");
    let status = git(&second, &["status", "--porcelain", "--untracked-files=all", "--ignored"]);
    assert!(status.lines().all(|l| l.contains(".task/")), "nothing but the new task's files: {status}");

    // The reused worktree delivers like a fresh one.
    std::fs::write(second.join("two.txt"), "two\n").unwrap();
    closeout_success(&env, &second, "Add two");
    assert_eq!(git(&repo, &["show", "main:two.txt"]), "two\n");
}

#[test]
fn a_parked_worktree_that_holds_a_file_is_never_reused_nor_removed() {
    let env = Env::new();
    let (repo, parked) = delivered_once(&env);
    std::fs::write(parked.join("notes.txt"), "someone's notes").unwrap();
    let inode = std::fs::metadata(&parked).unwrap().ino();

    let second = open(&env, "two");
    assert_ne!(std::fs::metadata(&second).unwrap().ino(), inode, "a fresh worktree was made instead");
    assert_eq!(std::fs::read_to_string(parked.join("notes.txt")).unwrap(), "someone's notes", "the file is kept");
    assert!(!second.join("notes.txt").exists());
    assert_eq!(git(&second, &["ls-files"]), git(&repo, &["ls-tree", "-r", "--name-only", "main"]));

    // `task health` leaves the pool alone.
    env.qcold(&["task", "health"]).ok();
    assert!(parked.join("notes.txt").is_file());
}

#[test]
fn with_the_pool_off_a_delivered_worktree_is_removed() {
    let env = Env::new();
    let (_repo, _origin) = env.git_repo_with_origin("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "true"]).ok();
    let first = open(&env, "one");
    std::fs::write(first.join("one.txt"), "one\n").unwrap();
    let mut run = env.command();
    run.env("QCOLD_WORKTREE_POOL", "0").args(["task", "closeout", "--outcome", "success", "--message", "Add one"]);
    Run::from(run.current_dir(&first).output().unwrap()).ok();
    assert!(!first.exists());
    assert!(!first.parent().unwrap().join(".pool").exists(), "nothing was parked");
}
