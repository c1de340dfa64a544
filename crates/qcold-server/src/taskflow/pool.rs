//! The worktree pool: idle worktrees a repository keeps for its next tasks.
//!
//! A fresh `git worktree add` writes every file of the base, and removing the worktree after
//! delivery deletes every file again, so a task's open and cleanup cost as much as the
//! repository is large. Instead, cleanup *parks* a worktree whose work is delivered or preserved
//! under `<worktree root>/.pool/`, and a task open *takes* one and checks out its new branch at
//! the base there: git rewrites only the files that differ between the two commits. What the
//! task gets is the same full checkout a fresh `worktree add` makes.
//!
//! What keeps it safe, both steps running under the repository lock:
//!
//! - only a worktree with no change and no untracked file (ignored files aside) is parked; its
//!   untracked and ignored files (build outputs, Q-COLD's `.task/`) are deleted first, as
//!   removing it would, its HEAD is detached to free the task branch, and it is moved;
//! - a parked worktree is taken only if git lists it as a worktree and it holds nothing at all
//!   beyond its commit; one that does hold something is never touched (nor counted free), one
//!   git refuses to switch is removed and the open falls back to `worktree add`;
//! - a process killed between steps leaves either a task worktree with a detached HEAD (its
//!   cleanup runs again and parks or removes it) or a task branch checked out in the pool with no
//!   task record — the leftover a killed `worktree add` leaves, which the next open of that slug
//!   removes ([`launch::leftover`](qcold_core::queue::launch::leftover)).
//!
//! `QCOLD_WORKTREE_POOL` (default 8) bounds how many a repository keeps; 0 turns the pool off.

use std::path::{Path, PathBuf};

use qcold_core::task::TaskRecord;

use crate::Config;
use crate::git::{self, GitError};

/// The pool's directory under a repository's worktree root (a dot name: never a task's).
pub(super) const DIR: &str = ".pool";

/// The pool of the repository whose worktree root is `worktree_root`.
fn pool_dir(worktree_root: &Path) -> PathBuf {
    worktree_root.join(DIR)
}

/// The parked worktrees, in name order.
fn entries(pool: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(pool) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> =
        read.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect();
    dirs.sort();
    dirs
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}

/// Parks the worktree of `task` (delivered, or its work preserved) in its repository's pool.
/// `Ok(false)` leaves it where it is, for removal: the pool is off or full, or the worktree holds
/// a change or an untracked file. The caller holds the repository lock.
pub(super) fn park(config: &Config, task: &TaskRecord) -> Result<bool, GitError> {
    let worktree = Path::new(&task.worktree);
    let Some(root) = worktree.parent() else { return Ok(false) };
    let pool = pool_dir(root);
    let Some(name) = worktree.file_name() else { return Ok(false) };
    let parked = pool.join(name);
    if config.worktree_pool == 0 || entries(&pool).len() >= config.worktree_pool || parked.exists() {
        return Ok(false);
    }
    if !worktree.join(".git").is_file() || git::has_changes_besides_task_dir(worktree)? {
        return Ok(false);
    }
    git::clean_all(worktree)?;
    git::detach(worktree)?;
    std::fs::create_dir_all(&pool)?;
    git::worktree_move(Path::new(&task.primary), worktree, &parked)?;
    Ok(true)
}

/// Makes `dest` a worktree of the repository at `primary` on a new `branch` at `commit` from a
/// parked worktree. `Ok(false)` when no parked worktree could serve (the caller runs
/// `git worktree add`). The caller holds the repository lock and has checked that `dest` does
/// not exist and `branch` does not either.
pub(super) fn take(primary: &Path, dest: &Path, branch: &str, commit: &str) -> Result<bool, GitError> {
    let Some(root) = dest.parent() else { return Ok(false) };
    let candidates = entries(&pool_dir(root));
    if candidates.is_empty() {
        return Ok(false);
    }
    let registered: Vec<PathBuf> = git::worktree_list(primary)?.iter().map(|p| canonical(p)).collect();
    for entry in candidates {
        // A directory git does not list is not a worktree of this repository: git run inside it
        // would find whatever repository is above it. It is left alone.
        if !registered.contains(&canonical(&entry)) || !entry.join(".git").is_file() {
            tracing::warn!(
                "{} is in the worktree pool but is not a worktree of {}; skipped",
                entry.display(),
                primary.display()
            );
            continue;
        }
        match git::holds_anything(&entry) {
            Ok(false) => {}
            Ok(true) => {
                tracing::warn!("{} is in the worktree pool but holds files; left alone", entry.display());
                continue;
            }
            Err(err) => {
                tracing::warn!("cannot inspect {}: {err}", entry.display());
                continue;
            }
        }
        if let Err(err) = git::checkout_new_branch(&entry, branch, commit) {
            tracing::warn!("cannot switch {} to {branch}: {err}; it leaves the pool", entry.display());
            discard(primary, &entry);
            continue;
        }
        match git::worktree_move(primary, &entry, dest) {
            Ok(()) => return Ok(true),
            Err(err) => {
                tracing::warn!("cannot move {} to {}: {err}; it leaves the pool", entry.display(), dest.display());
                discard(primary, &entry);
                let _ = git::branch_delete(primary, branch, true);
            }
        }
    }
    Ok(false)
}

/// Removes a parked worktree that held nothing but its commit.
fn discard(primary: &Path, entry: &Path) {
    if let Err(err) = git::worktree_remove(primary, entry, true) {
        tracing::warn!("cannot remove {}: {err}", entry.display());
    }
}
