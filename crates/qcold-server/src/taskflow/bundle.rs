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

use qcold_core::task::{Receipt, TaskEvent, TaskRecord};
use zip::write::SimpleFileOptions;

use super::files;

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
