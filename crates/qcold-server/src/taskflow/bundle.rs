//! Evidence bundles: one zip per closeout (or failed closeout) under
//! `<state>/bundles/<repo>/`, holding everything needed to understand what happened after the
//! worktree is gone.
//!
//! | entry | contents |
//! |---|---|
//! | `receipt.json` | [`Receipt`]: outcome, status, failed phase, verification, duration, format version |
//! | `task.json` | the [`TaskRecord`] |
//! | `events.ndjson` | every event of the task, from the store |
//! | `diff.patch` | the worktree's state against the base commit (`.task/` left out) |
//! | `logs/…` | the files under `.task/logs` (events, `verify.log`, anything the agent wrote) |

use std::io::Write as _;
use std::path::{Path, PathBuf};

use qcold_core::task::{
    BUNDLE_FORMAT_VERSION, Bundle, CloseoutPhase, EventKind, Outcome, Receipt, TaskEvent, TaskRecord, Verification,
};
use zip::write::SimpleFileOptions;

use super::{event, files};
use crate::store::Store;
use crate::{Config, git};

/// Writes a bundle and returns its path.
pub(super) fn write(
    dir: &Path,
    task: &TaskRecord,
    events: &[TaskEvent],
    receipt: &Receipt,
    diff: Option<&str>,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let status = receipt.status.as_str().replace(':', "-");
    let stem =
        format!("{}-{}-{status}", qcold_core::task::worktree_name(task.sequence, &task.slug), receipt.created_at);
    let path = (0..)
        .map(|n| dir.join(if n == 0 { format!("{stem}.zip") } else { format!("{stem}-{n}.zip") }))
        .find(|p| !p.exists())
        .unwrap_or_else(|| dir.join(format!("{stem}.zip")));
    let tmp = path.with_extension("zip.tmp");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&tmp)?);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut add = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        zip.start_file(name, options).map_err(std::io::Error::other)?;
        zip.write_all(bytes)
    };
    add("receipt.json", &serde_json::to_vec_pretty(receipt).map_err(std::io::Error::other)?)?;
    add("task.json", &serde_json::to_vec_pretty(task).map_err(std::io::Error::other)?)?;
    let mut lines = String::new();
    for event in events {
        lines.push_str(&serde_json::to_string(event).map_err(std::io::Error::other)?);
        lines.push('\n');
    }
    add("events.ndjson", lines.as_bytes())?;
    if let Some(diff) = diff {
        add("diff.patch", diff.as_bytes())?;
    }
    let logs = files::log_dir(Path::new(&task.worktree));
    for file in walk(&logs) {
        let Ok(relative) = file.strip_prefix(&logs) else { continue };
        let bytes = std::fs::read(&file)?;
        add(&format!("logs/{}", relative.to_string_lossy()), &bytes)?;
    }
    zip.finish().map_err(std::io::Error::other)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Every regular file under `dir`, sorted; symlinks are not followed.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_file() => found.push(entry.path()),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// The receipt of a closeout, for its bundle.
pub(super) fn receipt(
    task: &TaskRecord,
    outcome: Outcome,
    failure: Option<(CloseoutPhase, String)>,
    verification: Option<Verification>,
    message: Option<String>,
    snapshot_ref: Option<String>,
    now: i64,
) -> Receipt {
    let (failed_phase, error) = failure.map_or((None, None), |(p, e)| (Some(p), Some(e)));
    Receipt {
        format_version: BUNDLE_FORMAT_VERSION,
        task_id: task.id.clone(),
        outcome,
        status: task.status,
        failed_phase,
        error,
        verification,
        message,
        snapshot_ref,
        duration_seconds: now - task.created_at,
        created_at: now,
    }
}

/// Writes the task's bundle and records it (and an event naming it) in the store.
pub(super) fn write_bundle(
    config: &Config,
    store: &mut Store,
    task: &TaskRecord,
    receipt: &Receipt,
    diff: Option<&str>,
) -> Result<std::path::PathBuf, String> {
    let events = store.task_events(&task.id).map_err(|e| e.to_string())?;
    let path = write(&config.bundle_dir(&task.repo), task, &events, receipt, diff)
        .map_err(|e| format!("cannot write the bundle: {e}"))?;
    let record =
        Bundle { path: path.to_string_lossy().into_owned(), status: task.status, created_at: receipt.created_at };
    store.add_task_bundle(&task.id, &record).map_err(|e| e.to_string())?;
    let _ = store.add_task_event(&task.id, &event(EventKind::Bundle, record.path, receipt.created_at));
    Ok(path)
}

/// The worktree's full state against the base commit, for the bundle.
pub(super) fn state_diff(config: &Config, task: &TaskRecord) -> Option<String> {
    let worktree = Path::new(&task.worktree);
    let index = config.state_dir.join("tmp").join(format!("diff-index-{}", std::process::id()));
    let _ = std::fs::create_dir_all(config.state_dir.join("tmp"));
    let tree = git::state_tree(worktree, &index).ok()?;
    git::diff(worktree, &task.base_commit, &tree).ok()
}
