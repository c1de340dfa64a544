//! `qcold task open`: a new worktree and branch, or the resumption of a paused task.

use std::path::Path;

use qcold_core::queue::launch::{self, BranchTrace, Leftover};
use qcold_core::task::{EventKind, TaskRecord, branch_name, task_id, worktree_name};
use qcold_core::{RepoId, TaskSlug, TaskStatus};

use super::{LockWait, TaskError, event, files, io, pool, repo_lock, transition};
use crate::Config;
use crate::git;
use crate::repos;
use crate::store::Store;

/// What `qcold task open` asks for.
#[derive(Debug, Clone)]
pub struct OpenRequest {
    /// The repository; `None` means the active one.
    pub repo: Option<RepoId>,
    /// The slug.
    pub slug: TaskSlug,
    /// An operator profile name.
    pub profile: Option<String>,
    /// The prompt, recorded with the task.
    pub prompt: Option<String>,
}

/// The result of an open.
#[derive(Debug, Clone)]
pub enum Opened {
    /// A new task and worktree.
    Created(TaskRecord),
    /// A paused or failed-closeout task, reopened in place.
    Resumed(TaskRecord),
}

/// How long the daemon's open waits for a busy repository: long enough for another open or a
/// cleanup (which hold the lock for a moment), far too short for a delivery (rebase and push).
pub const DAEMON_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens a task, refusing with [`TaskError::RepoBusy`] when another process holds the repository
/// lock for longer than [`DAEMON_LOCK_PATIENCE`] (the daemon's way: its scheduler must never
/// block on a lock).
pub fn open(config: &Config, store: &mut Store, request: &OpenRequest, now: i64) -> Result<Opened, TaskError> {
    open_with(config, store, request, LockWait::Within(DAEMON_LOCK_PATIENCE), now)
}

/// Opens a task. Every check runs before anything is created; if storing the record fails after
/// the worktree was made, the fresh (still empty) worktree and branch are removed again. `wait`
/// says what to do when another process holds the repository lock.
pub fn open_with(
    config: &Config,
    store: &mut Store,
    request: &OpenRequest,
    wait: LockWait<'_>,
    now: i64,
) -> Result<Opened, TaskError> {
    let repo = repos::resolve(store, request.repo.as_ref())?;
    if let Some(mut task) = store.task_by_slug(&repo.id, &request.slug)?.filter(|t| !t.status.is_terminal()) {
        if !task.status.is_resumable() {
            return Err(TaskError::AlreadyOpen { id: task.id, slug: task.slug.to_string(), worktree: task.worktree });
        }
        if !Path::new(&task.worktree).is_dir() {
            return Err(TaskError::WorktreeMissing { id: task.id, worktree: task.worktree });
        }
        let message = format!("resumed from {}", task.status);
        transition(store, &mut task, TaskStatus::Open, None, &event(EventKind::Resume, message, now))?;
        return Ok(Opened::Resumed(task));
    }

    crate::adapter::check_ready(&repo)?;
    // The checks, the sequence allocation and the record insert all happen under the repository
    // lock: two opens never take the same number, and a delivery's fast-forward (which rewrites
    // the primary checkout's files under the same lock) is never mistaken for uncommitted work.
    let _lock = repo_lock(config, &repo.id, &format!("open of {}", request.slug), wait)?;
    let root = Path::new(&repo.root);
    let base = repo.default_branch.as_str();
    let current = git::current_branch(root)?;
    if current.as_deref() != Some(base) {
        return Err(TaskError::WrongBranch {
            root: repo.root.clone(),
            current: current.unwrap_or_else(|| "a detached HEAD".to_owned()),
            expected: base.to_owned(),
        });
    }
    let dirty = git::dirty_files(root)?;
    if !dirty.is_empty() {
        let mut files: Vec<&str> = dirty.iter().take(5).map(|f| f.path.as_str()).collect();
        if dirty.len() > 5 {
            files.push("…");
        }
        return Err(TaskError::PrimaryDirty { root: repo.root.clone(), files: files.join(", ") });
    }
    let branch = branch_name(&request.slug);
    let base_commit = git::rev_parse(root, base)?;
    if git::branch_exists(root, &branch)? {
        // No unfinished task uses the branch (that was checked above).
        remove_leftover(root, &branch, &base_commit)
            .map_err(|()| TaskError::BranchExists { branch: branch.clone(), root: repo.root.clone() })?;
    }

    let sequence = store.next_task_sequence(&repo.id)?;
    let worktree = repos::worktree_root(&repo).join(worktree_name(sequence, &request.slug));
    if worktree.exists() {
        return Err(TaskError::WorktreeExists(worktree));
    }
    let task = TaskRecord {
        id: task_id(&repo.id, sequence, &request.slug),
        repo: repo.id.clone(),
        slug: request.slug.clone(),
        sequence,
        status: TaskStatus::Open,
        profile: request.profile.clone(),
        prompt: request.prompt.clone(),
        branch: branch.clone(),
        worktree: worktree.to_string_lossy().into_owned(),
        primary: repo.root.clone(),
        base_branch: repo.default_branch.clone(),
        base_commit: base_commit.clone(),
        failed_phase: None,
        closeout_failure: None,
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    if let Some(parent) = worktree.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
    }
    // A parked worktree switched to the new branch, else a fresh checkout.
    let added = match pool::take(root, &worktree, &branch, &base_commit) {
        Ok(true) => Ok(()),
        Ok(false) => git::worktree_add(root, &worktree, &branch, &base_commit),
        Err(err) => {
            tracing::warn!("the worktree pool of {} cannot serve: {err}", repo.id);
            git::worktree_add(root, &worktree, &branch, &base_commit)
        }
    };
    crate::fault::point(config, crate::fault::AFTER_WORKTREE_ADD);
    if let Err(err) = added {
        // git may have made the branch before failing; it points at the base and holds nothing,
        // and leaving it would refuse every retry of this open.
        if git::rev_parse(root, &branch).is_ok_and(|tip| tip == base_commit) {
            let _ = git::worktree_prune(root);
            let _ = git::branch_delete(root, &branch, true);
        }
        return Err(err.into());
    }
    let opened = event(EventKind::Open, format!("opened {branch} at {base_commit} from {base}"), now);
    let stored = files::write_env(&task)
        .and_then(|()| files::append_event(&worktree, &opened))
        .map_err(io(format!("cannot write {}", files::env_path(&worktree).display())))
        .and_then(|()| store.insert_task(&task, &opened).map_err(TaskError::from));
    crate::fault::point(config, crate::fault::AFTER_TASK_RECORD);
    if let Err(err) = stored {
        // Nothing but our own .task/ files is in the new worktree: removing it loses no work.
        let _ = git::worktree_remove(root, &worktree, true);
        let _ = git::branch_delete(root, &branch, true);
        return Err(err);
    }
    Ok(Opened::Created(task))
}

/// Removes a branch `task/<slug>` no unfinished task uses, with its worktree, when doing so loses
/// nothing ([`launch::leftover`]): a launch killed between creating the branch and storing the
/// task leaves exactly that. `Err(())` keeps it (it has commits or changes of its own).
fn remove_leftover(root: &Path, branch: &str, base_commit: &str) -> Result<(), ()> {
    let look = || -> Result<(BranchTrace, Option<std::path::PathBuf>), git::GitError> {
        let worktree = git::worktree_of_branch(root, branch)?;
        let own_commits = !git::is_ancestor(root, branch, base_commit)?;
        let worktree_changes = match &worktree {
            Some(path) if path.is_dir() => git::holds_more_than_task_dir(path)?,
            _ => false,
        };
        Ok((BranchTrace { own_commits, worktree_changes }, worktree))
    };
    let (trace, worktree) = look().map_err(|err| tracing::warn!("cannot inspect {branch}: {err}"))?;
    if launch::leftover(trace) == Leftover::Keep {
        return Err(());
    }
    tracing::info!("removing {branch}: a launch left it without a task record, and it holds no work");
    if let Some(path) = &worktree {
        git::worktree_remove(root, path, true)
            .map_err(|err| tracing::warn!("cannot remove {}: {err}", path.display()))?;
    }
    let _ = git::worktree_prune(root);
    git::branch_delete(root, branch, true).map_err(|err| tracing::warn!("cannot delete {branch}: {err}"))
}
