//! What a reader sees of one task beyond its record: its snapshots, the diff of its work against
//! its base commit, and its evidence bundles.
//!
//! Every view is read in two steps, so the store is never held while git runs: [`Stored::read`]
//! takes what the store knows in one short look; the functions here then work on that copy with
//! git and the file system. Git reads are bounded in time and size ([`git::ReadLimits`]).

use std::path::Path;
use std::time::Duration;

use qcold_core::api::tasks::{DiffSource, MAX_DIFF_BYTES, TaskDetail, TaskDiff, TaskSnapshot, bundle_named};
use qcold_core::task::{Bundle, EventKind, TaskEvent, TaskRecord};

use super::{TaskError, io, preserve};
use crate::Config;
use crate::git::{self, ReadLimits};
use crate::store::Store;

/// How long the git commands of one read may take together before they are killed.
pub const GIT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the store knows about one task.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The record.
    pub task: TaskRecord,
    /// Its events, oldest first.
    pub events: Vec<TaskEvent>,
    /// Its bundles, oldest first.
    pub bundles: Vec<Bundle>,
}

impl Stored {
    /// Reads the task with this id, its events and its bundles.
    pub fn read(store: &Store, id: &str) -> Result<Self, TaskError> {
        let task = super::get(store, id)?;
        Ok(Self { events: store.task_events(id)?, bundles: store.task_bundles(id)?, task })
    }
}

/// A bundle's zip, read from disk.
#[derive(Debug, Clone)]
pub struct BundleFile {
    /// Its file name.
    pub name: String,
    /// The zip.
    pub bytes: Vec<u8>,
}

/// The task's detail: its stored facts and the snapshots of its work that still exist.
pub fn detail(stored: Stored) -> Result<TaskDetail, TaskError> {
    let snapshots = snapshots(&stored)?;
    Ok(TaskDetail { task: stored.task, events: stored.events, bundles: stored.bundles, snapshots })
}

/// The snapshots the task's events recorded (a slug may be reused, so its refs alone do not say
/// which task made them) that still exist, oldest first. A primary checkout that is gone has none.
pub fn snapshots(stored: &Stored) -> Result<Vec<TaskSnapshot>, TaskError> {
    let recorded: Vec<&str> =
        stored.events.iter().filter(|e| e.kind == EventKind::Snapshot).map(|e| e.message.as_str()).collect();
    let primary = Path::new(&stored.task.primary);
    if recorded.is_empty() || !primary.is_dir() {
        return Ok(Vec::new());
    }
    let mut found: Vec<TaskSnapshot> = preserve::list(primary, Some(&stored.task.slug))?
        .into_iter()
        .filter(|(reference, _, _)| recorded.contains(&reference.as_str()))
        .map(|(reference, commit, at)| TaskSnapshot::new(&stored.task.primary, reference, commit, at))
        .collect();
    found.sort_by(|a, b| (a.created_at, &a.reference).cmp(&(b.created_at, &b.reference)));
    Ok(found)
}

/// The task's work against its base commit: the worktree's full state while it exists
/// (uncommitted and untracked changes included, `.task/` left out), else the task branch, else
/// the newest snapshot; cut at [`MAX_DIFF_BYTES`].
pub fn diff(config: &Config, stored: &Stored) -> Result<TaskDiff, TaskError> {
    let task = &stored.task;
    let base = task.base_commit.as_str();
    let limits = ReadLimits { max_bytes: MAX_DIFF_BYTES, timeout: GIT_READ_TIMEOUT };
    let worktree = Path::new(&task.worktree);
    let primary = Path::new(&task.primary);
    let (source, head, diff) = if worktree.is_dir() {
        // Each read builds its tree in its own scratch index: two readers never share one.
        let tmp = config.state_dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(io(format!("cannot create {}", tmp.display())))?;
        let scratch = tempfile::Builder::new()
            .prefix("diff-")
            .tempdir_in(&tmp)
            .map_err(io(format!("cannot create a scratch dir in {}", tmp.display())))?;
        let head = git::rev_parse(worktree, "HEAD")?;
        let diff = git::worktree_diff_bounded(worktree, base, &scratch.path().join("index"), limits)?;
        (DiffSource::Worktree, Some(head), Some(diff))
    } else if primary.is_dir() && git::branch_exists(primary, &task.branch)? {
        let tip = git::rev_parse(primary, &format!("refs/heads/{}", task.branch))?;
        let diff = git::diff_bounded(primary, base, &tip, limits)?;
        (DiffSource::Branch, Some(tip), Some(diff))
    } else if let Some(newest) = snapshots(stored)?.pop() {
        let diff = git::diff_bounded(primary, base, &newest.commit, limits)?;
        (DiffSource::Snapshot, Some(newest.commit), Some(diff))
    } else {
        (DiffSource::Nothing, None, None)
    };
    let (diff, truncated) = diff.map_or((String::new(), false), |d| (d.text, d.truncated));
    Ok(TaskDiff { base_commit: task.base_commit.clone(), head, source, diff, truncated })
}

/// The zip of the task's recorded bundle named `name`; nothing else on disk is reachable.
pub fn bundle(stored: &Stored, name: &str) -> Result<BundleFile, TaskError> {
    let bundle = bundle_named(&stored.bundles, name)
        .ok_or_else(|| TaskError::UnknownBundle { id: stored.task.id.clone(), name: name.to_owned() })?;
    match std::fs::read(&bundle.path) {
        Ok(bytes) => Ok(BundleFile { name: bundle.file_name().to_owned(), bytes }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(TaskError::BundleGone(bundle.path.clone())),
        Err(err) => Err(io(format!("cannot read {}", bundle.path))(err)),
    }
}
