//! `qcold task closeout`: deliver a task through the repository's validation, or stop it with
//! its evidence kept.
//!
//! Success runs named phases ([`CloseoutPhase`]), each recorded as an event and reported as it
//! runs. A failing phase leaves the task `failed-closeout` with the phase named, writes a bundle
//! and keeps the worktree; running closeout again after a repair continues, because every phase
//! is idempotent (nothing to commit, already rebased, already fast-forwarded, already pushed).
//!
//! Delivery — rebase, fast-forward, push — runs under the repository's lock, so concurrent
//! closeouts of one repository land one after the other and none is lost. A failed phase is
//! recorded with its classification ([`qcold_core::task::delivery`]): an infrastructure failure
//! of delivery is what the queue's scheduler retries with [`redeliver`], which never waits for
//! that lock.

use std::path::Path;

use qcold_core::task::delivery::CloseoutFailure;
use qcold_core::task::{CloseoutPhase, EventKind, Outcome, TaskRecord, Verification};
use qcold_core::{Repository, TaskStatus};

use super::bundle::{receipt, state_diff, write_bundle};
use super::{TaskError, event, files, preserve, transition, transition_failure};
use crate::store::Store;
use crate::{Config, adapter, git, repos};

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct CloseoutRequest {
    /// success, blocked or failed.
    pub outcome: Outcome,
    /// The commit message (success) or the reason (blocked, failed).
    pub text: String,
}

/// Progress reported while a closeout runs.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A phase started.
    Start(CloseoutPhase),
    /// A phase finished; the text says what it did.
    Done(CloseoutPhase, String),
    /// Waiting for another process to release the repository's delivery lock.
    Waiting(String),
    /// Something went wrong after the task was already closed; the operator should know.
    Warning(String),
}

/// How a closeout ended.
#[derive(Debug, Clone)]
pub struct Closed {
    /// The task as it is now.
    pub task: TaskRecord,
    /// The bundle written, if writing it worked.
    pub bundle: Option<std::path::PathBuf>,
    /// The snapshot ref holding undelivered work, if one was made.
    pub snapshot: Option<String>,
    /// The failed phase and error, when a success closeout stopped.
    pub failure: Option<(CloseoutPhase, String)>,
}

impl Closed {
    /// The process exit code for this result.
    pub fn exit_code(&self, outcome: Outcome) -> u8 {
        if self.failure.is_some() { qcold_core::task::EXIT_FAILED_CLOSEOUT } else { outcome.exit_code() }
    }
}

/// Closes out the task whose worktree contains `cwd`.
pub fn closeout(
    config: &Config,
    store: &mut Store,
    cwd: &Path,
    request: &CloseoutRequest,
    now: impl Fn() -> i64,
    report: &mut dyn FnMut(Progress),
) -> Result<Closed, TaskError> {
    let mut task = super::at(store, cwd)?;
    match task.status {
        TaskStatus::Open | TaskStatus::FailedCloseout => {}
        TaskStatus::Paused if request.outcome != Outcome::Success => {}
        TaskStatus::Paused => {
            return Err(TaskError::WrongStatus {
                id: task.id,
                status: task.status,
                hint: "`qcold task open <slug>` resumes it first",
            });
        }
        _ => return Err(TaskError::WrongStatus { id: task.id, status: task.status, hint: "it is already closed" }),
    }
    let repo = repos::resolve(store, Some(&task.repo))?;
    match request.outcome {
        Outcome::Success => deliver(config, store, &repo, &mut task, &request.text, Locking::Wait, &now, report),
        Outcome::Blocked | Outcome::Failed => stop(config, store, &mut task, request, &now, report),
    }
}

/// Runs the success closeout of a `failed-closeout` task again: the queue's delivery retry after
/// an infrastructure failure, with the agent gone and its work committed. Every phase runs
/// again (they are idempotent); anything the worktree still holds is committed with `message`.
/// It never waits for the repository's delivery lock: while another process holds it, it answers
/// [`TaskError::RepoBusy`] and the task stays as it was.
pub fn redeliver(
    config: &Config,
    store: &mut Store,
    id: &str,
    message: &str,
    now: impl Fn() -> i64,
    report: &mut dyn FnMut(Progress),
) -> Result<Closed, TaskError> {
    let mut task = super::get(store, id)?;
    let interrupted = task.status == TaskStatus::Open && is_delivered(&task);
    if task.status != TaskStatus::FailedCloseout && !interrupted {
        return Err(TaskError::WrongStatus {
            id: task.id,
            status: task.status,
            hint: "only a failed closeout, or one stopped after delivering, is delivered again",
        });
    }
    if !Path::new(&task.worktree).is_dir() {
        return Err(TaskError::WorktreeMissing { id: task.id, worktree: task.worktree });
    }
    let repo = repos::resolve(store, Some(&task.repo))?;
    deliver(config, store, &repo, &mut task, message, Locking::Refuse, &now, report)
}

/// Whether the task's branch has commits of its own and every one of them is in its base branch
/// already: a closeout fast-forwarded the base to it. An open task in that state had its
/// closeout stopped between delivering and recording `closed:success` (a crash); closing it out
/// again finds every phase done and records the result.
pub fn is_delivered(task: &TaskRecord) -> bool {
    let root = Path::new(&task.primary);
    let Ok(tip) = git::rev_parse(root, &task.branch) else { return false };
    tip != task.base_commit && git::is_ancestor(root, &tip, task.base_branch.as_str()).unwrap_or(false)
}

/// Whether a closeout waits for the repository's delivery lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Locking {
    /// Wait, reporting who holds it: an agent's or operator's closeout.
    Wait,
    /// Answer [`TaskError::RepoBusy`] instead: the scheduler, which must never block on it.
    Refuse,
}

/// Why the phases stopped.
enum Stop {
    /// A phase failed.
    Failed(CloseoutPhase, String),
    /// The delivery lock is held by this holder and the closeout may not wait.
    Busy(String),
}

impl From<(CloseoutPhase, String)> for Stop {
    fn from((phase, error): (CloseoutPhase, String)) -> Self {
        Stop::Failed(phase, error)
    }
}

/// Takes the repository's delivery lock as `locking` says; `phase` is the one a failure to take
/// it is charged to.
fn delivery_lock(
    config: &Config,
    task: &TaskRecord,
    holder: &str,
    locking: Locking,
    phase: CloseoutPhase,
    report: &mut dyn FnMut(Progress),
) -> Result<crate::lock::Held, Stop> {
    let name = format!("repo-{}", task.repo);
    let failed = |e: std::io::Error| Stop::Failed(phase, format!("cannot take the delivery lock: {e}"));
    match locking {
        Locking::Wait => crate::lock::acquire(&config.state_dir, &name, holder, |who| {
            report(Progress::Waiting(format!(
                "waiting for the delivery lock of repository {}, held by {who}",
                task.repo
            )));
        })
        .map_err(failed),
        Locking::Refuse => crate::lock::try_acquire(&config.state_dir, &name, holder).map_err(|err| match err {
            crate::lock::LockError::Busy { holder } => Stop::Busy(holder),
            crate::lock::LockError::Io(e) => failed(e),
        }),
    }
}

/// `qcold task clear`: stops an unfinished task from outside its worktree, as a `failed`
/// closeout — undelivered work is snapshotted before the worktree and branch go.
pub fn clear(
    config: &Config,
    store: &mut Store,
    task: &mut TaskRecord,
    reason: &str,
    now: impl Fn() -> i64,
    report: &mut dyn FnMut(Progress),
) -> Result<Closed, TaskError> {
    if task.status.is_terminal() {
        return Err(TaskError::WrongStatus { id: task.id.clone(), status: task.status, hint: "it is already closed" });
    }
    let request = CloseoutRequest { outcome: Outcome::Failed, text: format!("cleared: {reason}") };
    stop(config, store, task, &request, &now, report)
}

/// [`clear`] of the task with this id (`web/007-fix`).
pub fn clear_by_id(
    config: &Config,
    store: &mut Store,
    id: &str,
    reason: &str,
    now: impl Fn() -> i64,
    report: &mut dyn FnMut(Progress),
) -> Result<Closed, TaskError> {
    let mut task = super::get(store, id)?;
    clear(config, store, &mut task, reason, now, report)
}

/// Blocked or failed: snapshot undelivered work, record the status, bundle, remove.
fn stop(
    config: &Config,
    store: &mut Store,
    task: &mut TaskRecord,
    request: &CloseoutRequest,
    now: &impl Fn() -> i64,
    report: &mut dyn FnMut(Progress),
) -> Result<Closed, TaskError> {
    // The snapshot comes first: if it cannot be made, nothing else happens and nothing is lost.
    let snapshot = preserve::preserve(task, &config.state_dir.join("tmp"), request.outcome.as_str(), now())?;
    if let Some(reference) = &snapshot {
        store.add_task_event(&task.id, &event(EventKind::Snapshot, reference.clone(), now()))?;
    }
    let diff = state_diff(config, task);
    let closing = event(EventKind::Closeout, format!("{}: {}", request.outcome, request.text), now());
    transition(store, task, request.outcome.status(), None, &closing)?;
    let receipt = receipt(task, request.outcome, None, None, Some(request.text.clone()), snapshot.clone(), now());
    let bundle =
        write_bundle(config, store, task, &receipt, diff.as_deref()).map_err(|e| report(Progress::Warning(e))).ok();
    remove_or_defer(config, task, Locking::Wait, report);
    Ok(Closed { task: task.clone(), bundle, snapshot, failure: None })
}

/// Success: the phases, then record, bundle and cleanup.
#[allow(clippy::too_many_arguments)]
fn deliver(
    config: &Config,
    store: &mut Store,
    repo: &Repository,
    task: &mut TaskRecord,
    message: &str,
    locking: Locking,
    now: &impl Fn() -> i64,
    report: &mut dyn FnMut(Progress),
) -> Result<Closed, TaskError> {
    let mut verification = None;
    let result = run_phases(config, store, repo, task, message, locking, &mut verification, now, report);
    if let Err(Stop::Busy(holder)) = result {
        return Err(TaskError::RepoBusy { repo: task.repo.clone(), holder });
    }
    if let Err(Stop::Failed(phase, error)) = result {
        let failed = event(EventKind::PhaseFailed, format!("{phase}: {error}"), now());
        let failure = CloseoutFailure::of(phase, &error);
        transition_failure(store, task, TaskStatus::FailedCloseout, Some((phase, Some(failure))), &failed)?;
        let diff = state_diff(config, task);
        let receipt = receipt(
            task,
            Outcome::Success,
            Some((phase, error.clone())),
            verification,
            Some(message.to_owned()),
            None,
            now(),
        );
        let bundle =
            write_bundle(config, store, task, &receipt, diff.as_deref()).map_err(|e| report(Progress::Warning(e))).ok();
        return Ok(Closed { task: task.clone(), bundle, snapshot: None, failure: Some((phase, error)) });
    }

    crate::fault::point(config, crate::fault::AFTER_CLOSEOUT_DELIVERED);
    report(Progress::Start(CloseoutPhase::Record));
    transition(
        store,
        task,
        TaskStatus::ClosedSuccess,
        None,
        &event(EventKind::Closeout, format!("success: {message}"), now()),
    )?;
    report(Progress::Done(CloseoutPhase::Record, "closed:success".into()));
    // From here the work is delivered and the status is final; a failure only leaves litter,
    // which `qcold task health` collects.
    report(Progress::Start(CloseoutPhase::Bundle));
    let diff = git::diff(Path::new(&task.worktree), &task.base_commit, "HEAD").ok();
    let receipt = receipt(task, Outcome::Success, None, verification, Some(message.to_owned()), None, now());
    let bundle = match write_bundle(config, store, task, &receipt, diff.as_deref()) {
        Ok(path) => {
            report(Progress::Done(CloseoutPhase::Bundle, path.display().to_string()));
            Some(path)
        }
        Err(e) => {
            report(Progress::Warning(e));
            None
        }
    };
    report(Progress::Start(CloseoutPhase::Cleanup));
    if !remove_or_defer(config, task, locking, report) {
        report(Progress::Done(CloseoutPhase::Cleanup, format!("removed {} and {}", task.worktree, task.branch)));
    }
    Ok(Closed { task: task.clone(), bundle, snapshot: None, failure: None })
}

#[allow(clippy::too_many_arguments)]
fn run_phases(
    config: &Config,
    store: &mut Store,
    repo: &Repository,
    task: &TaskRecord,
    message: &str,
    locking: Locking,
    verification: &mut Option<Verification>,
    now: &impl Fn() -> i64,
    report: &mut dyn FnMut(Progress),
) -> Result<(), Stop> {
    let worktree = Path::new(&task.worktree);
    let primary = Path::new(&task.primary);
    let base = task.base_branch.as_str();
    let phase = |store: &mut Store,
                 report: &mut dyn FnMut(Progress),
                 phase: CloseoutPhase,
                 work: &mut dyn FnMut() -> Result<String, String>| {
        report(Progress::Start(phase));
        let _ = store.add_task_event(&task.id, &event(EventKind::PhaseStart, phase.as_str(), now()));
        let _ = files::append_event(worktree, &event(EventKind::PhaseStart, phase.as_str(), now()));
        let detail = work().map_err(|e| (phase, e))?;
        let done = event(EventKind::PhaseOk, format!("{phase}: {detail}"), now());
        let _ = store.add_task_event(&task.id, &done);
        let _ = files::append_event(worktree, &done);
        report(Progress::Done(phase, detail));
        Ok::<(), (CloseoutPhase, String)>(())
    };

    // The primary check runs under the delivery lock: another closeout's fast-forward rewrites the
    // primary checkout's files, and a look in the middle of it would see them as uncommitted work.
    let holder = format!("closeout of {}", task.id);
    let check_lock = delivery_lock(config, task, &holder, locking, CloseoutPhase::PrimaryClean, report)?;
    phase(store, report, CloseoutPhase::PrimaryClean, &mut || {
        let current = git::current_branch(primary).map_err(|e| e.to_string())?;
        if current.as_deref() != Some(base) {
            return Err(format!(
                "the primary checkout {} is on {}, not on {base}",
                task.primary,
                current.unwrap_or_else(|| "a detached HEAD".into())
            ));
        }
        let dirty = git::dirty_files(primary).map_err(|e| e.to_string())?;
        if let Some(first) = dirty.first() {
            return Err(format!(
                "the primary checkout {} has {} uncommitted change(s), first {}",
                task.primary,
                dirty.len(),
                first.path
            ));
        }
        Ok("clean".into())
    })?;
    drop(check_lock);

    phase(store, report, CloseoutPhase::Verify, &mut || {
        let adapter = adapter::for_repository(repo);
        let log = files::log_dir(worktree).join("verify.log");
        let result =
            adapter::verify(adapter.as_ref(), worktree, &log, config.verify_timeout).map_err(|e| e.to_string())?;
        *verification = Some(result);
        match result {
            Verification::Passed => Ok(format!("{} adapter passed", adapter.kind())),
            Verification::Unverified => Ok("no verify step registered; delivering unverified".into()),
            Verification::Failed => Err(format!("{} adapter failed; see {}", adapter.kind(), log.display())),
        }
    })?;

    phase(store, report, CloseoutPhase::Commit, &mut || {
        if git::stage_all_but_task_dir(worktree).map_err(|e| e.to_string())? {
            git::commit(worktree, message).map_err(|e| e.to_string())?;
            Ok("committed the worktree's changes".into())
        } else {
            Ok("nothing to commit".into())
        }
    })?;

    let _lock = delivery_lock(config, task, &holder, locking, CloseoutPhase::Rebase, report)?;
    let upstream = git::upstream(primary, base).map_err(|e| (CloseoutPhase::Rebase, e.to_string()))?;

    phase(store, report, CloseoutPhase::Rebase, &mut || {
        if let Some((remote, merge_ref)) = &upstream {
            git::fetch(primary, remote).map_err(|e| e.to_string())?;
            let tracking = format!("refs/remotes/{remote}/{}", merge_ref.trim_start_matches("refs/heads/"));
            git::merge_ff_only(primary, &tracking)
                .map_err(|e| format!("{base} cannot fast-forward to {tracking}: {e}"))?;
        }
        git::rebase(worktree, base).map_err(|e| format!("rebase onto {base} failed and was aborted: {e}"))?;
        Ok(format!("on top of {base}"))
    })?;

    phase(store, report, CloseoutPhase::FastForward, &mut || {
        git::merge_ff_only(primary, &task.branch).map_err(|e| e.to_string())?;
        Ok(format!("{base} is at {}", git::rev_parse(primary, base).unwrap_or_default()))
    })?;

    phase(store, report, CloseoutPhase::Push, &mut || match &upstream {
        Some((remote, merge_ref)) => {
            git::push(primary, remote, base, merge_ref).map_err(|e| e.to_string())?;
            Ok(format!("pushed {base} to {remote}"))
        }
        None => Ok(format!("{base} has no upstream; nothing to push")),
    })?;
    Ok(())
}

/// [`remove`], unless this closeout runs for an agent the queue started: that agent stands in
/// the worktree (a cwd removed under it makes its shell tool fail), so the daemon removes it once
/// the agent has exited ([`cleanup`]).
/// Returns whether it deferred.
fn remove_or_defer(config: &Config, task: &TaskRecord, locking: Locking, report: &mut dyn FnMut(Progress)) -> bool {
    match &config.queue_agent {
        Some(agent) => {
            report(Progress::Done(
                CloseoutPhase::Cleanup,
                format!(
                    "deferred: the daemon removes {} and {} once agent {agent} has exited",
                    task.worktree, task.branch
                ),
            ));
            true
        }
        None => {
            remove(config, task, locking, report);
            false
        }
    }
}

/// Removes what a queue agent's closeout left for later: the worktree and branch of its closed
/// task, never waiting for the repository lock. `false` while another process holds it (try
/// again later; `qcold task health` also collects it).
pub fn cleanup(config: &Config, task: &TaskRecord) -> bool {
    let mut warnings = Vec::new();
    remove(config, task, Locking::Refuse, &mut |p| {
        if let Progress::Warning(w) = p {
            warnings.push(w);
        }
    });
    for warning in &warnings {
        tracing::warn!("cleanup of {}: {warning}", task.id);
    }
    !has_leftovers(task)
}

/// Whether a closed task still has its worktree or its branch: removing them is two steps (the
/// worktree, then the branch), and a process killed in between leaves the branch alone.
pub fn has_leftovers(task: &TaskRecord) -> bool {
    Path::new(&task.worktree).exists() || git::branch_exists(Path::new(&task.primary), &task.branch).unwrap_or(false)
}

/// Removes the worktree and branch of a task whose work is delivered or preserved. Under the
/// repository lock: removing the last worktree deletes `.git/worktrees`, which a concurrent
/// `git worktree add` (a task open) would be creating its entry in. A closeout that may not wait
/// for the lock leaves them, for `qcold task health`, while another process holds it.
fn remove(config: &Config, task: &TaskRecord, locking: Locking, report: &mut dyn FnMut(Progress)) {
    let primary = Path::new(&task.primary);
    let worktree = Path::new(&task.worktree);
    let holder = format!("cleanup of {}", task.id);
    let _lock = match delivery_lock(config, task, &holder, locking, CloseoutPhase::Cleanup, &mut |_| {}) {
        Ok(lock) => lock,
        Err(Stop::Failed(_, e)) => {
            report(Progress::Warning(format!("cannot take the repository lock to remove {}: {e}", task.worktree)));
            return;
        }
        Err(Stop::Busy(who)) => {
            report(Progress::Warning(format!(
                "{} stays for `qcold task health`: the repository lock is held by {who}",
                task.worktree
            )));
            return;
        }
    };
    let parked = worktree.exists()
        && super::pool::park(config, task).unwrap_or_else(|e| {
            report(Progress::Warning(format!("cannot park {} in the worktree pool: {e}", task.worktree)));
            false
        });
    if !parked
        && worktree.exists()
        && let Err(e) = git::worktree_remove(primary, worktree, true)
    {
        report(Progress::Warning(format!("cannot remove {}: {e}", task.worktree)));
        return;
    }
    // A worktree directory deleted by hand still holds its branch in git's metadata.
    let _ = git::worktree_prune(primary);
    crate::fault::point(config, crate::fault::AFTER_WORKTREE_REMOVE);
    if git::branch_exists(primary, &task.branch).unwrap_or(false)
        && let Err(e) = git::branch_delete(primary, &task.branch, true)
    {
        report(Progress::Warning(format!("cannot delete {}: {e}", task.branch)));
    }
}
