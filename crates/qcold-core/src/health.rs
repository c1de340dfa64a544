//! The cleanup decisions of `qcold task health`: given what is found under a repository's
//! worktree root, what to remove and what to keep, each with a reason an operator can read.

use serde::{Deserialize, Serialize};

use crate::TaskStatus;

/// What was found about one directory under the worktree root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// git lists it as a worktree of the repository.
    pub registered: bool,
    /// It holds `.task/task.env`.
    pub has_task_env: bool,
    /// It holds nothing but `.task/`.
    pub only_task_dir: bool,
    /// The branch it names (or would have) still exists.
    pub branch_exists: bool,
    /// The status and last change (Unix seconds) of its task record, when the store knows it.
    pub task: Option<(TaskStatus, i64)>,
}

/// Remove or keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Remove it (after snapshotting any undelivered work).
    Remove,
    /// Leave it alone.
    Keep,
}

/// Decides what to do with one directory. `paused_ttl_secs` is how long a paused task may wait.
pub fn judge(observation: &Observation, now: i64, paused_ttl_secs: i64) -> (Action, String) {
    use Action::{Keep, Remove};
    if !observation.registered && observation.only_task_dir {
        return if observation.branch_exists {
            (Keep, "metadata-only directory, but its branch still exists".into())
        } else {
            (Remove, "metadata-only directory whose branch is gone".into())
        };
    }
    if !observation.has_task_env {
        return if observation.registered {
            (Remove, "registered git worktree without .task/task.env".into())
        } else {
            (Keep, "not a task worktree; left alone".into())
        };
    }
    match observation.task {
        None => (Keep, "its task is unknown to this store; left alone".into()),
        Some((status, _)) if status.is_terminal() => (Remove, format!("its task is {status}")),
        Some((TaskStatus::Paused, updated)) => {
            let age = now - updated;
            if age > paused_ttl_secs {
                (Remove, format!("paused for {}, longer than the {} allowed", hours(age), hours(paused_ttl_secs)))
            } else {
                (Keep, format!("paused for {}, within the {} allowed", hours(age), hours(paused_ttl_secs)))
            }
        }
        Some((TaskStatus::FailedCloseout, _)) => (Keep, "failed-closeout: repair it and run closeout again".into()),
        Some((status, _)) => (Keep, format!("its task is {status}")),
    }
}

fn hours(secs: i64) -> String {
    crate::units::format_duration(u64::try_from(secs.max(0)).unwrap_or(0))
}

/// One line of the health report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Entry {
    /// The directory or bundle file.
    pub path: String,
    /// What was (or, in a dry run, would be) done.
    pub action: Action,
    /// Why.
    pub reason: String,
    /// Where undelivered work was stored before removal, if there was any.
    #[serde(default)]
    pub snapshot_ref: Option<String>,
}

/// The body of `qcold task health --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Report {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Worktrees, directories and bundles looked at.
    pub entries: Vec<Entry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(registered: bool, env: bool, only: bool, branch: bool, task: Option<(TaskStatus, i64)>) -> Observation {
        Observation { registered, has_task_env: env, only_task_dir: only, branch_exists: branch, task }
    }

    #[test]
    fn decisions() {
        use Action::{Keep, Remove};
        let now = 100_000;
        let ttl = 7_200;
        let table = [
            (obs(true, true, false, true, Some((TaskStatus::Open, 0))), Keep, "its task is open"),
            (
                obs(true, true, false, true, Some((TaskStatus::FailedCloseout, 0))),
                Keep,
                "failed-closeout: repair it and run closeout again",
            ),
            (
                obs(true, true, false, true, Some((TaskStatus::Paused, now - 60))),
                Keep,
                "paused for 1m 0s, within the 2h 0m allowed",
            ),
            (
                obs(true, true, false, true, Some((TaskStatus::Paused, now - 10_800))),
                Remove,
                "paused for 3h 0m, longer than the 2h 0m allowed",
            ),
            (obs(true, true, false, false, Some((TaskStatus::ClosedSuccess, 0))), Remove, "its task is closed:success"),
            (obs(true, true, false, true, Some((TaskStatus::ClosedBlocked, 0))), Remove, "its task is closed:blocked"),
            (obs(true, true, false, true, None), Keep, "its task is unknown to this store; left alone"),
            (obs(true, false, false, true, None), Remove, "registered git worktree without .task/task.env"),
            (obs(false, false, false, false, None), Keep, "not a task worktree; left alone"),
            (obs(false, true, true, false, None), Remove, "metadata-only directory whose branch is gone"),
            (obs(false, true, true, true, None), Keep, "metadata-only directory, but its branch still exists"),
        ];
        for (observation, action, reason) in table {
            assert_eq!(judge(&observation, now, ttl), (action, reason.to_owned()), "{observation:?}");
        }
    }
}
