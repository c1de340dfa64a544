//! Never lose work: before a worktree with undelivered work is removed, its full state is stored
//! as a commit under `refs/qcold/snapshots/<slug>/<unix time>` in the primary repository.
//!
//! Restore one with `git branch <name> refs/qcold/snapshots/<slug>/<time>` (the README shows it).

use std::path::Path;

use qcold_core::task::TaskRecord;

use crate::git::{self, GitError};

/// The ref namespace of snapshots.
pub const SNAPSHOT_PREFIX: &str = "refs/qcold/snapshots";

/// Whether `worktree` holds work that is not on `base`: changes outside `.task/`, or commits
/// `base` does not contain.
pub fn has_undelivered_work(worktree: &Path, base: &str) -> Result<bool, GitError> {
    if !worktree.is_dir() {
        return Ok(false);
    }
    let dirty = git::dirty_files(worktree)?.iter().any(|f| !f.path.starts_with(".task/") && f.path != ".task");
    Ok(dirty || !git::is_ancestor(worktree, "HEAD", base)?)
}

/// Stores a task worktree's state when it holds undelivered work; returns the ref it made. When
/// the worktree directory is gone, the task branch's commits that are not on the base branch are
/// kept instead.
pub fn preserve(task: &TaskRecord, scratch_dir: &Path, why: &str, now: i64) -> Result<Option<String>, GitError> {
    let worktree = Path::new(&task.worktree);
    if !worktree.is_dir() {
        let primary = Path::new(&task.primary);
        let base = task.base_branch.as_str();
        if git::branch_exists(primary, &task.branch)? && !git::is_ancestor(primary, &task.branch, base)? {
            let tip = git::rev_parse(primary, &task.branch)?;
            return store_ref(primary, task.slug.as_str(), &tip, now).map(Some);
        }
        return Ok(None);
    }
    preserve_worktree(worktree, task.slug.as_str(), task.base_branch.as_str(), &task.id, scratch_dir, why, now)
}

/// Stores the state of any worktree (`label` names its snapshot directory) when it holds work
/// that is not on `base`; returns the ref it made.
pub fn preserve_worktree(
    worktree: &Path,
    label: &str,
    base: &str,
    what: &str,
    scratch_dir: &Path,
    why: &str,
    now: i64,
) -> Result<Option<String>, GitError> {
    if !has_undelivered_work(worktree, base)? {
        return Ok(None);
    }
    let _ = std::fs::create_dir_all(scratch_dir);
    let scratch_index = scratch_dir.join(format!("snapshot-index-{}", std::process::id()));
    let tree = git::state_tree(worktree, &scratch_index)?;
    let head = git::rev_parse(worktree, "HEAD")?;
    let commit = git::commit_tree(worktree, &tree, &head, &format!("qcold snapshot of {what} ({why})"))?;
    store_ref(worktree, label, &commit, now).map(Some)
}

/// Points a new `refs/qcold/snapshots/<label>/<now>[-n]` at `commit` and returns its name.
fn store_ref(repo: &Path, label: &str, commit: &str, now: i64) -> Result<String, GitError> {
    let taken: Vec<String> =
        git::refs_under(repo, &format!("{SNAPSHOT_PREFIX}/{label}/"))?.into_iter().map(|r| r.0).collect();
    let first = format!("{SNAPSHOT_PREFIX}/{label}/{now}");
    let reference = (0..)
        .map(|n| if n == 0 { first.clone() } else { format!("{first}-{n}") })
        .find(|r| !taken.contains(r))
        .unwrap_or(first);
    git::update_ref(repo, &reference, commit)?;
    Ok(reference)
}

/// The snapshots in the repository at `root`, optionally of one slug: `(ref, commit, unix time)`.
pub fn list(root: &Path, slug: Option<&qcold_core::TaskSlug>) -> Result<Vec<(String, String, i64)>, GitError> {
    let prefix = match slug {
        Some(slug) => format!("{SNAPSHOT_PREFIX}/{slug}/"),
        None => format!("{SNAPSHOT_PREFIX}/"),
    };
    git::refs_under(root, &prefix)
}
