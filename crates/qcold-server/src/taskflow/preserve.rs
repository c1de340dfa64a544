//! Never lose work: before a worktree with undelivered work is removed, its full state is stored
//! as a commit under `refs/qcold/snapshots/<slug>/<unix time>` in the primary repository.
//!
//! The snapshot's tree holds every file that is not git-ignored, the files of repositories
//! nested in the worktree included; each nested repository's refs (its branches, tags, stash and
//! `HEAD`) are copied under `refs/qcold/nested/<slug>/<unix time>/<n>/`, listed in the snapshot's
//! commit message. Restore one with `git branch <name> refs/qcold/snapshots/<slug>/<time>` (the
//! README shows it, and how to get a nested repository's history back).

mod files;

use std::path::Path;

use qcold_core::task::TaskRecord;

use crate::git::{self, GitError};

/// The ref namespace of snapshots.
pub const SNAPSHOT_PREFIX: &str = "refs/qcold/snapshots";

/// How many ignored paths a snapshot's message names before it only counts the rest.
const MAX_LISTED_IGNORED: usize = 50;

/// The ref namespace of the refs of repositories nested in a snapshot's worktree.
pub const NESTED_PREFIX: &str = "refs/qcold/nested";

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
    let head = git::rev_parse(worktree, "HEAD")?;
    let common_dir = git::common_dir(worktree)?;
    let source = files::Source { common_dir: &common_dir, dir: worktree, worktree: true };
    let what = format!("{what} ({why})");
    store(worktree, source, label, &[&head], &what, scratch_dir, now).map(Some)
}

/// Stores every file of `dir`, a directory git does not (or no longer) know as a worktree of
/// the repository at `primary` — a worktree whose registration `git worktree prune` dropped —
/// on top of `parent` (the task branch, so its commits stay reachable, or the base); returns the
/// ref it made. Unlike [`preserve_worktree`] it always stores: without git's view of the
/// directory there is no cheap way to tell work from a copy of the branch.
pub fn preserve_directory(
    primary: &Path,
    dir: &Path,
    label: &str,
    parent: Option<&str>,
    what: &str,
    scratch_dir: &Path,
    now: i64,
) -> Result<String, GitError> {
    let common_dir = git::common_dir(primary)?;
    let source = files::Source { common_dir: &common_dir, dir, worktree: false };
    store(primary, source, label, parent.as_slice(), what, scratch_dir, now)
}

/// Builds the snapshot of `source` (copying the refs of nested repositories) and points a new
/// snapshot ref of `label` at it.
fn store(
    root: &Path,
    source: files::Source<'_>,
    label: &str,
    parents: &[&str],
    what: &str,
    scratch_dir: &Path,
    now: i64,
) -> Result<String, GitError> {
    let reference = next_ref(root, label, now)?;
    let mut found = files::Found::default();
    let tree = files::tree(source, scratch_dir, &mut found)?;
    let relative = |path: &Path| path.strip_prefix(source.dir).unwrap_or(path).display().to_string();
    let mut message = format!("qcold snapshot of {what}");
    if !found.nested.is_empty() {
        let prefix = reference.replacen(SNAPSHOT_PREFIX, NESTED_PREFIX, 1);
        message.push_str(&format!(
            "\n\nNested repositories: their files are in this tree, their refs under {prefix}/<n>/:"
        ));
        for (n, dir) in found.nested.iter().enumerate() {
            git::fetch_refs(root, dir, &format!("{prefix}/{n}"))?;
            message.push_str(&format!("\n{n}: {}", relative(dir)));
        }
    }
    if !found.ignored.is_empty() {
        // Ignored files are build output and caches by convention, often large; they are not
        // kept, but never silently: the record names them.
        message.push_str("\n\nNot kept (ignored by git):");
        for path in found.ignored.iter().take(MAX_LISTED_IGNORED) {
            message.push_str(&format!("\n{}", relative(path)));
        }
        if found.ignored.len() > MAX_LISTED_IGNORED {
            message.push_str(&format!("\n… and {} more", found.ignored.len() - MAX_LISTED_IGNORED));
        }
    }
    let commit = git::commit_tree_with(root, &tree, parents, &message)?;
    git::update_ref(root, &reference, &commit)?;
    Ok(reference)
}

/// The first free `refs/qcold/snapshots/<label>/<now>[-n]`.
fn next_ref(repo: &Path, label: &str, now: i64) -> Result<String, GitError> {
    let taken: Vec<String> =
        git::refs_under(repo, &format!("{SNAPSHOT_PREFIX}/{label}/"))?.into_iter().map(|r| r.0).collect();
    let first = format!("{SNAPSHOT_PREFIX}/{label}/{now}");
    Ok((0..)
        .map(|n| if n == 0 { first.clone() } else { format!("{first}-{n}") })
        .find(|r| !taken.contains(r))
        .unwrap_or(first))
}

/// Points a new `refs/qcold/snapshots/<label>/<now>[-n]` at `commit` and returns its name.
fn store_ref(repo: &Path, label: &str, commit: &str, now: i64) -> Result<String, GitError> {
    let reference = next_ref(repo, label, now)?;
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
