//! `qcold task health`: collects what closed, abandoned and orphaned work left behind under a
//! repository's worktree root, and old bundles — keeping everything that may still be needed.
//!
//! The decisions are [`qcold_core::health::judge`]; this module gathers the observations and
//! carries out removals. Every removal of a git worktree goes through
//! [`preserve`](super::preserve) first, so undelivered work survives as a snapshot ref; a
//! directory git no longer lists as a worktree is removed unsnapshotted only when it holds
//! nothing but `.task/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qcold_core::health::{Action, Entry, Observation, Report, judge};
use qcold_core::task::EventKind;
use qcold_core::{Repository, TaskStatus, taskenv};

use super::{TaskError, event, files, io, preserve, transition};
use crate::store::Store;
use crate::{Config, git, repos};

/// How `task health` behaves.
#[derive(Debug, Clone, Copy)]
pub struct HealthOptions {
    /// Report only; change nothing.
    pub dry_run: bool,
    /// How long a paused task may keep its worktree.
    pub paused_ttl: Duration,
    /// How long bundles are kept.
    pub bundle_retention: Duration,
}

/// Looks at the worktree root and bundles of `repo`, removes what is stale, and reports.
pub fn health(
    config: &Config,
    store: &mut Store,
    repo: &Repository,
    options: HealthOptions,
    now: i64,
) -> Result<Report, TaskError> {
    let mut entries = Vec::new();
    let primary = Path::new(&repo.root);
    let root = repos::worktree_root(repo);
    let registered: Vec<PathBuf> = git::worktree_list(primary)?.iter().map(|p| canonical(p)).collect();
    let ttl = i64::try_from(options.paused_ttl.as_secs()).unwrap_or(i64::MAX);
    for dir in child_dirs(&root) {
        let observed = observe(store, &dir, &registered, repo)?;
        let (action, reason) = judge(&observed.observation, now, ttl);
        let mut entry = Entry { path: dir.to_string_lossy().into_owned(), action, reason, snapshot_ref: None };
        if action == Action::Remove && !options.dry_run {
            entry.snapshot_ref = remove(config, store, repo, &dir, &observed, &entry.reason, now)?;
        }
        entries.push(entry);
    }
    entries.extend(old_bundles(config, repo, options, now)?);
    if !options.dry_run {
        git::worktree_prune(primary)?;
    }
    Ok(Report { dry_run: options.dry_run, entries })
}

struct Observed {
    observation: Observation,
    task_id: Option<String>,
}

fn observe(store: &Store, dir: &Path, registered: &[PathBuf], repo: &Repository) -> Result<Observed, TaskError> {
    let env: Vec<(String, String)> = std::fs::read_to_string(files::env_path(dir))
        .ok()
        .and_then(|text| taskenv::parse(&text).ok())
        .unwrap_or_default();
    let value = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let task_id = value("TASK_ID");
    let task = match &task_id {
        Some(id) => store.task(id)?.filter(|t| t.repo == repo.id),
        None => None,
    };
    let branch = value("TASK_BRANCH").or_else(|| {
        // `<NNN>-<slug>` names branch `task/<slug>`.
        let name = dir.file_name()?.to_str()?;
        name.split_once('-').map(|(_, slug)| format!("task/{slug}"))
    });
    let branch_exists = match &branch {
        Some(branch) => git::branch_exists(Path::new(&repo.root), branch)?,
        None => false,
    };
    let only_task_dir = only_task_dir(dir);
    Ok(Observed {
        observation: Observation {
            registered: registered.contains(&canonical(dir)),
            has_task_env: !env.is_empty(),
            only_task_dir,
            branch_exists,
            task: task.as_ref().map(|t| (t.status, t.updated_at)),
        },
        task_id: task.map(|t| t.id),
    })
}

/// Removes one directory the judge condemned; returns the snapshot ref, if work was stored.
fn remove(
    config: &Config,
    store: &mut Store,
    repo: &Repository,
    dir: &Path,
    observed: &Observed,
    reason: &str,
    now: i64,
) -> Result<Option<String>, TaskError> {
    let primary = Path::new(&repo.root);
    let scratch = config.state_dir.join("tmp");
    // Worktree removal and `git worktree add` must not interleave (see closeout's cleanup).
    let _lock = crate::lock::acquire(&config.state_dir, &format!("repo-{}", repo.id), "task health", |_| {})
        .map_err(io("cannot take the repository lock"))?;
    let task = observed.task_id.as_deref().map(|id| store.task(id)).transpose()?.flatten();
    if !observed.observation.registered {
        return remove_unregistered(store, repo, dir, task, reason, &scratch, now);
    }
    let snapshot = match task {
        Some(mut task) => {
            let snapshot = preserve::preserve(&task, &scratch, "task health", now)?;
            close(store, &mut task, snapshot.as_deref(), reason, now)?;
            git::worktree_remove(primary, dir, true)?;
            if git::branch_exists(primary, &task.branch)? {
                git::branch_delete(primary, &task.branch, true)?;
            }
            snapshot
        }
        None => {
            let snapshot = preserve::preserve_worktree(
                dir,
                &orphan_label(dir),
                repo.default_branch.as_str(),
                &dir.to_string_lossy(),
                &scratch,
                "task health",
                now,
            )?;
            // An orphan's branch is not ours to delete; its work is in the snapshot if it had any.
            git::worktree_remove(primary, dir, true)?;
            snapshot
        }
    };
    Ok(snapshot)
}

/// Removes a directory git does not list as a worktree (a crash, or `git worktree prune` after
/// its `.git` link broke). One holding nothing but `.task/` has no work and simply goes; any
/// other is first stored, every file of it, as a snapshot on top of the task branch (whose
/// commits it thereby keeps, so the branch can go too). If the snapshot fails, nothing is removed.
fn remove_unregistered(
    store: &mut Store,
    repo: &Repository,
    dir: &Path,
    task: Option<qcold_core::task::TaskRecord>,
    reason: &str,
    scratch: &Path,
    now: i64,
) -> Result<Option<String>, TaskError> {
    let primary = Path::new(&repo.root);
    if only_task_dir(dir) {
        std::fs::remove_dir_all(dir).map_err(io(format!("cannot remove {}", dir.display())))?;
        return Ok(None);
    }
    let branch: Option<String> =
        task.as_ref().map(|t| t.branch.clone()).filter(|b| git::branch_exists(primary, b).unwrap_or(false));
    let base = task.as_ref().map_or(repo.default_branch.as_str(), |t| t.base_branch.as_str());
    let parent = match &branch {
        Some(branch) => Some(git::rev_parse(primary, branch)?),
        None => git::rev_parse(primary, base).ok(),
    };
    let label = task.as_ref().map_or_else(|| orphan_label(dir), |t| t.slug.to_string());
    let what = format!("{}, no longer a git worktree (task health)", dir.display());
    let reference = preserve::preserve_directory(primary, dir, &label, parent.as_deref(), &what, scratch, now)?;
    if let Some(mut task) = task {
        close(store, &mut task, Some(&reference), reason, now)?;
    }
    std::fs::remove_dir_all(dir).map_err(io(format!("cannot remove {}", dir.display())))?;
    if let Some(branch) = branch {
        git::branch_delete(primary, &branch, true)?;
    }
    Ok(Some(reference))
}

/// Records the snapshot on the task and closes a paused one as blocked.
fn close(
    store: &mut Store,
    task: &mut qcold_core::task::TaskRecord,
    snapshot: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<(), TaskError> {
    if let Some(reference) = snapshot {
        store.add_task_event(&task.id, &event(EventKind::Snapshot, reference.to_owned(), now))?;
    }
    if task.status == TaskStatus::Paused {
        let message = format!("closed by task health: {reason}");
        transition(store, task, TaskStatus::ClosedBlocked, None, &event(EventKind::Closeout, message, now))?;
    }
    Ok(())
}

/// The snapshot label of a directory no task of this store knows: `orphan-<name>`, made ref-safe.
fn orphan_label(dir: &Path) -> String {
    let label = dir.file_name().map_or_else(|| "orphan".to_owned(), |n| format!("orphan-{}", n.to_string_lossy()));
    label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// Whether `dir` holds something, and nothing but `.task/`.
fn only_task_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            let names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
            !names.is_empty() && names.iter().all(|n| n == files::TASK_DIR)
        })
        .unwrap_or(false)
}

fn old_bundles(config: &Config, repo: &Repository, options: HealthOptions, now: i64) -> Result<Vec<Entry>, TaskError> {
    let dir = config.bundle_dir(&repo.id);
    let Ok(listing) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let retention = i64::try_from(options.bundle_retention.as_secs()).unwrap_or(i64::MAX);
    let mut entries = Vec::new();
    for file in listing.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "zip")) {
        let modified = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(now, |d| i64::try_from(d.as_secs()).unwrap_or(now));
        let age = now - modified;
        if age <= retention {
            continue;
        }
        if !options.dry_run {
            std::fs::remove_file(&file).map_err(io(format!("cannot remove {}", file.display())))?;
        }
        let days = age / 86_400;
        entries.push(Entry {
            path: file.to_string_lossy().into_owned(),
            action: Action::Remove,
            reason: format!("bundle is {days} days old, older than the {} days kept", retention / 86_400),
            snapshot_ref: None,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

fn child_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && e.file_name() != super::pool::DIR)
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}
