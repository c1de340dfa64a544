//! The task flow: one worktree and branch per task, from `open` to a terminal closeout.
//!
//! Q-COLD owns the lifecycle; the repository's adapter only answers "is this change valid?".
//! Every step records its facts in the store first and mirrors them into the worktree's
//! `.task/` files ([`files`]), so `qcold task show` works after the worktree is gone.

mod bundle;
mod closeout;
pub mod detail;
pub mod files;
mod health;
mod open;
mod pool;
pub mod preserve;

use std::path::{Path, PathBuf};

use qcold_core::task::{EventKind, TaskEvent, TaskRecord};
use qcold_core::{RepoId, TaskSlug, TaskStatus};

pub use closeout::{
    Closed, CloseoutRequest, Progress, cleanup, clear, clear_by_id, closeout, has_leftovers, is_delivered, redeliver,
};
pub use health::{HealthOptions, health};
pub use open::{DAEMON_LOCK_PATIENCE, OpenRequest, Opened, open, open_with};

use crate::git::GitError;
use crate::repos::RepoError;
use crate::store::{Store, StoreError};

/// Why a task operation was refused or failed. Refusals change nothing.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The repository could not be resolved.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// A store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A git failure.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The repository's adapter cannot run.
    #[error(transparent)]
    Adapter(#[from] crate::adapter::AdapterError),
    /// A file under the worktree or state dir could not be written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// Another process holds the repository lock, and the caller asked not to wait for it.
    #[error("repository {repo} is busy: its lock is held by {holder}")]
    RepoBusy {
        /// The repository.
        repo: RepoId,
        /// Who holds the lock, as the holder described itself.
        holder: String,
    },
    /// The slug has an open task already.
    #[error("task {id} is already open at {worktree}; `qcold task enter {slug}` goes there")]
    AlreadyOpen {
        /// The task id.
        id: String,
        /// Its slug.
        slug: String,
        /// Its worktree.
        worktree: String,
    },
    /// The primary checkout has uncommitted changes.
    #[error("the primary checkout {root} has uncommitted changes ({files}); commit or stash them first")]
    PrimaryDirty {
        /// The primary checkout.
        root: String,
        /// The first few dirty paths.
        files: String,
    },
    /// The primary checkout is not on the base branch.
    #[error(
        "the primary checkout {root} is on {current}, not on the base branch {expected}; run `git switch {expected}` there"
    )]
    WrongBranch {
        /// The primary checkout.
        root: String,
        /// Its current branch (or "a detached HEAD").
        current: String,
        /// The base branch.
        expected: String,
    },
    /// The task branch exists already.
    #[error("branch {branch} already exists in {root}; pick another slug or delete the branch")]
    BranchExists {
        /// The branch.
        branch: String,
        /// The repository.
        root: String,
    },
    /// The worktree directory exists already.
    #[error("{0} already exists; pick another slug or remove it")]
    WorktreeExists(PathBuf),
    /// A task to resume has lost its worktree.
    #[error("task {id} cannot resume: its worktree {worktree} is gone")]
    WorktreeMissing {
        /// The task id.
        id: String,
        /// The missing worktree.
        worktree: String,
    },
    /// The command must run inside a task worktree.
    #[error("{0} is not inside a task worktree (no .task/task.env above it); `qcold task enter <slug>` goes to one")]
    NotInWorktree(PathBuf),
    /// No task matches.
    #[error("no task {0:?}; `qcold task list` shows the tasks")]
    UnknownTask(String),
    /// The task's status does not allow the operation.
    #[error("task {id} is {status}; {hint}")]
    WrongStatus {
        /// The task id.
        id: String,
        /// Its status.
        status: TaskStatus,
        /// What the operator can do.
        hint: &'static str,
    },
    /// The task has no recorded bundle of that name.
    #[error("task {id} has no bundle {name:?}; its detail lists its bundles")]
    UnknownBundle {
        /// The task id.
        id: String,
        /// The file name asked for.
        name: String,
    },
    /// A recorded bundle's file is gone (`qcold task health` removes old ones).
    #[error("bundle {0} no longer exists; `qcold task health` removes bundles past their retention")]
    BundleGone(String),
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TaskError {
    let what = what.into();
    move |source| TaskError::Io { what, source }
}

/// What to do when another process holds a repository lock.
pub enum LockWait<'a> {
    /// Try for up to this long, then refuse with [`TaskError::RepoBusy`].
    Within(std::time::Duration),
    /// Tell the callback who holds it, then wait until it is free.
    Wait(&'a mut dyn FnMut(&str)),
}

impl std::fmt::Debug for LockWait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Within(_) => "Within",
            Self::Wait(_) => "Wait",
        })
    }
}

/// Takes the lock of repository `repo` as `holder`, waiting or refusing as `wait` says.
pub(crate) fn repo_lock(
    config: &crate::Config,
    repo: &RepoId,
    holder: &str,
    wait: LockWait<'_>,
) -> Result<crate::lock::Held, TaskError> {
    let name = format!("repo-{repo}");
    match wait {
        LockWait::Wait(waiting) => crate::lock::acquire(&config.state_dir, &name, holder, |who| waiting(who))
            .map_err(io("cannot take the repository lock")),
        LockWait::Within(patience) => {
            crate::lock::acquire_within(&config.state_dir, &name, holder, patience).map_err(|err| match err {
                crate::lock::LockError::Busy { holder } => TaskError::RepoBusy { repo: repo.clone(), holder },
                crate::lock::LockError::Io(source) => {
                    TaskError::Io { what: "cannot take the repository lock".into(), source }
                }
            })
        }
    }
}

/// An event at `now`.
pub fn event(kind: EventKind, message: impl Into<String>, now: i64) -> TaskEvent {
    TaskEvent { kind, message: message.into(), at: now }
}

/// The task with this id (`web/007-fix`).
pub fn get(store: &Store, id: &str) -> Result<TaskRecord, TaskError> {
    store.task(id)?.ok_or_else(|| TaskError::UnknownTask(id.to_owned()))
}

/// Finds a task by id (`web/007-fix`) or by slug in the given or active repository.
pub fn find(store: &Store, repo: Option<&RepoId>, key: &str) -> Result<TaskRecord, TaskError> {
    if key.contains('/') {
        return get(store, key);
    }
    let slug = TaskSlug::new(key).map_err(|_| TaskError::UnknownTask(key.to_owned()))?;
    let repo = crate::repos::resolve(store, repo)?;
    store.task_by_slug(&repo.id, &slug)?.ok_or_else(|| TaskError::UnknownTask(key.to_owned()))
}

/// The task whose worktree contains `cwd`.
pub fn at(store: &Store, cwd: &Path) -> Result<TaskRecord, TaskError> {
    let id = files::task_id_at(cwd).ok_or_else(|| TaskError::NotInWorktree(cwd.to_owned()))?;
    store.task(&id)?.ok_or(TaskError::UnknownTask(id))
}

/// Records a status change in the store, then mirrors it into the worktree's files.
pub(crate) fn transition(
    store: &mut Store,
    task: &mut TaskRecord,
    status: TaskStatus,
    failed_phase: Option<qcold_core::task::CloseoutPhase>,
    event: &TaskEvent,
) -> Result<(), TaskError> {
    transition_failure(store, task, status, failed_phase.map(|phase| (phase, None)), event)
}

/// [`transition`] that also records how the failed phase failed.
pub(crate) fn transition_failure(
    store: &mut Store,
    task: &mut TaskRecord,
    status: TaskStatus,
    failed: Option<(qcold_core::task::CloseoutPhase, Option<qcold_core::task::delivery::CloseoutFailure>)>,
    event: &TaskEvent,
) -> Result<(), TaskError> {
    let (failed_phase, failure) = failed.map_or((None, None), |(phase, failure)| (Some(phase), failure));
    store.update_task_failure(&task.id, status, failed_phase, failure.as_ref(), event)?;
    task.status = status;
    task.failed_phase = failed_phase;
    task.closeout_failure = failure;
    task.updated_at = event.at;
    if status.is_terminal() {
        task.closed_at = Some(event.at);
    }
    let worktree = Path::new(&task.worktree);
    if worktree.is_dir() {
        files::write_env(task).map_err(io(format!("cannot update {}", files::env_path(worktree).display())))?;
        files::append_event(worktree, event).map_err(io("cannot append to events.ndjson"))?;
    }
    Ok(())
}

/// Pauses the task whose worktree contains `cwd`; the worktree is kept.
pub fn pause(store: &mut Store, cwd: &Path, reason: &str, now: i64) -> Result<TaskRecord, TaskError> {
    let task = at(store, cwd)?;
    pause_task(store, task, reason, now)
}

/// Pauses the task with this id (`web/007-fix`); the worktree is kept.
pub fn pause_by_id(store: &mut Store, id: &str, reason: &str, now: i64) -> Result<TaskRecord, TaskError> {
    let task = get(store, id)?;
    pause_task(store, task, reason, now)
}

fn pause_task(store: &mut Store, mut task: TaskRecord, reason: &str, now: i64) -> Result<TaskRecord, TaskError> {
    if task.status != TaskStatus::Open {
        return Err(TaskError::WrongStatus { id: task.id, status: task.status, hint: "only open tasks can pause" });
    }
    transition(store, &mut task, TaskStatus::Paused, None, &event(EventKind::Pause, reason, now))?;
    Ok(task)
}

/// The shell snippet `qcold task enter` prints, meant for `eval`.
pub fn enter_snippet(task: &TaskRecord) -> String {
    use qcold_core::taskenv::quote;
    format!(
        "cd {}\nexport TASK_ID={} TASK_SLUG={} TASK_WORKTREE={} TASK_BRANCH={} BASE_BRANCH={}\n",
        quote(&task.worktree),
        quote(&task.id),
        quote(task.slug.as_str()),
        quote(&task.worktree),
        quote(&task.branch),
        quote(task.base_branch.as_str()),
    )
}
