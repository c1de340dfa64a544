//! Never lose work: before a worktree with undelivered work is removed, its full state is stored
//! as a commit under `refs/qcold/snapshots/<slug>/<unix time>` in the primary repository.
//!
//! Restore one with `git branch <name> refs/qcold/snapshots/<slug>/<time>` (the README shows it).

use std::path::Path;

use qcold_core::task::TaskRecord;

use crate::git::{self, GitError};

/// The ref namespace of snapshots.
pub const SNAPSHOT_PREFIX: &str = "refs/qcold/snapshots";

/// Whether the worktree holds work that is not on the base branch: changes outside `.task/`, or
/// commits the base branch does not contain.
pub fn has_undelivered_work(task: &TaskRecord) -> Result<bool, GitError> {
    let worktree = Path::new(&task.worktree);
    if !worktree.is_dir() {
        return Ok(false);
    }
    let dirty = git::dirty_files(worktree)?.iter().any(|f| !f.path.starts_with(".task/") && f.path != ".task");
    Ok(dirty || !git::is_ancestor(worktree, "HEAD", task.base_branch.as_str())?)
}

/// Stores the worktree's state when it holds undelivered work; returns the ref it made.
pub fn preserve(task: &TaskRecord, scratch_dir: &Path, why: &str, now: i64) -> Result<Option<String>, GitError> {
    if !has_undelivered_work(task)? {
        return Ok(None);
    }
    let worktree = Path::new(&task.worktree);
    let _ = std::fs::create_dir_all(scratch_dir);
    let scratch_index = scratch_dir.join(format!("snapshot-index-{}", std::process::id()));
    let tree = git::state_tree(worktree, &scratch_index)?;
    let head = git::rev_parse(worktree, "HEAD")?;
    let message = format!("qcold snapshot of {} ({why})", task.id);
    let commit = git::commit_tree(worktree, &tree, &head, &message)?;
    let taken: Vec<String> =
        git::refs_under(worktree, &format!("{SNAPSHOT_PREFIX}/{}/", task.slug))?.into_iter().map(|r| r.0).collect();
    let base = format!("{SNAPSHOT_PREFIX}/{}/{now}", task.slug);
    let reference = (0..)
        .map(|n| if n == 0 { base.clone() } else { format!("{base}-{n}") })
        .find(|r| !taken.contains(r))
        .unwrap_or(base);
    git::update_ref(worktree, &reference, &commit)?;
    Ok(Some(reference))
}

/// The snapshots in the repository at `root`, optionally of one slug: `(ref, commit, unix time)`.
pub fn list(root: &Path, slug: Option<&qcold_core::TaskSlug>) -> Result<Vec<(String, String, i64)>, GitError> {
    let prefix = match slug {
        Some(slug) => format!("{SNAPSHOT_PREFIX}/{slug}/"),
        None => format!("{SNAPSHOT_PREFIX}/"),
    };
    git::refs_under(root, &prefix)
}
