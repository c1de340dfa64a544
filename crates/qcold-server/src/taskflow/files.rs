//! The `.task/` directory of a worktree: `task.env` and `logs/events.ndjson`.
//!
//! These files are for the agent and the operator working inside the worktree (`source
//! .task/task.env`, `tail logs/events.ndjson`) and for evidence bundles. The store holds the same
//! facts; the files are written from it, never the other way round.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use qcold_core::task::{TaskEvent, TaskRecord};
use qcold_core::taskenv;

/// The directory every task worktree carries, excluded from the task's commits.
pub const TASK_DIR: &str = ".task";

/// `<worktree>/.task/task.env`.
pub fn env_path(worktree: &Path) -> PathBuf {
    worktree.join(TASK_DIR).join("task.env")
}

/// `<worktree>/.task/logs`.
pub fn log_dir(worktree: &Path) -> PathBuf {
    worktree.join(TASK_DIR).join("logs")
}

/// Writes `.task/task.env` from the record (atomically: a reader never sees half a file).
pub fn write_env(task: &TaskRecord) -> std::io::Result<()> {
    let worktree = Path::new(&task.worktree);
    std::fs::create_dir_all(log_dir(worktree))?;
    let sequence = task.sequence.to_string();
    let created = task.created_at.to_string();
    let updated = task.updated_at.to_string();
    let text = taskenv::render([
        ("TASK_ID", task.id.as_str()),
        ("TASK_SLUG", task.slug.as_str()),
        ("TASK_STATUS", task.status.as_str()),
        ("TASK_REPO", task.repo.as_str()),
        ("TASK_SEQUENCE", sequence.as_str()),
        ("TASK_BRANCH", task.branch.as_str()),
        ("TASK_WORKTREE", task.worktree.as_str()),
        ("PRIMARY_REPO_PATH", task.primary.as_str()),
        ("BASE_BRANCH", task.base_branch.as_str()),
        ("BASE_COMMIT", task.base_commit.as_str()),
        ("TASK_PROFILE", task.profile.as_deref().unwrap_or("")),
        ("STARTED_AT", created.as_str()),
        ("UPDATED_AT", updated.as_str()),
    ]);
    let path = env_path(worktree);
    let tmp = path.with_extension("env.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

/// Appends one event line to `.task/logs/events.ndjson`.
pub fn append_event(worktree: &Path, event: &TaskEvent) -> std::io::Result<()> {
    let dir = log_dir(worktree);
    std::fs::create_dir_all(&dir)?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("events.ndjson"))?;
    let line = serde_json::to_string(event).map_err(std::io::Error::other)?;
    writeln!(file, "{line}")
}

/// The `TASK_ID` of the task worktree that contains `cwd`, if any: walks up to the first
/// directory holding `.task/task.env`.
pub fn task_id_at(cwd: &Path) -> Option<String> {
    let dir = cwd.ancestors().find(|dir| env_path(dir).is_file())?;
    let text = std::fs::read_to_string(env_path(dir)).ok()?;
    taskenv::parse(&text).ok()?.into_iter().find(|(k, _)| k == "TASK_ID").map(|(_, v)| v)
}
