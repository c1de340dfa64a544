//! The status of a task record and the rules that follow from it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a task is in its lifecycle. Serialized exactly as the variant docs show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskStatus {
    /// `open`: a worktree exists and work is under way.
    #[serde(rename = "open")]
    Open,
    /// `paused`: waiting on something outside the task; the worktree is kept.
    #[serde(rename = "paused")]
    Paused,
    /// `failed-closeout`: a closeout phase failed; the worktree is kept for repair.
    #[serde(rename = "failed-closeout")]
    FailedCloseout,
    /// `closed:success`: delivered to the base branch.
    #[serde(rename = "closed:success")]
    ClosedSuccess,
    /// `closed:blocked`: stopped because something outside the task prevents it.
    #[serde(rename = "closed:blocked")]
    ClosedBlocked,
    /// `closed:failed`: stopped because the work failed.
    #[serde(rename = "closed:failed")]
    ClosedFailed,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Open,
        TaskStatus::Paused,
        TaskStatus::FailedCloseout,
        TaskStatus::ClosedSuccess,
        TaskStatus::ClosedBlocked,
        TaskStatus::ClosedFailed,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Paused => "paused",
            TaskStatus::FailedCloseout => "failed-closeout",
            TaskStatus::ClosedSuccess => "closed:success",
            TaskStatus::ClosedBlocked => "closed:blocked",
            TaskStatus::ClosedFailed => "closed:failed",
        }
    }

    /// A terminal status never changes again; its worktree may be removed.
    pub const fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::ClosedSuccess | TaskStatus::ClosedBlocked | TaskStatus::ClosedFailed)
    }

    /// `task open` on a task in this status resumes it in place.
    pub const fn is_resumable(self) -> bool {
        matches!(self, TaskStatus::Paused | TaskStatus::FailedCloseout)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a task status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown task status {0:?}; expected one of: open, paused, failed-closeout, closed:success, closed:blocked, closed:failed"
)]
pub struct UnknownTaskStatus(pub String);

impl FromStr for TaskStatus {
    type Err = UnknownTaskStatus;
    fn from_str(s: &str) -> Result<Self, UnknownTaskStatus> {
        TaskStatus::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| UnknownTaskStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_round_trips() {
        let spelled: Vec<String> = TaskStatus::ALL.iter().map(|s| serde_json::to_string(s).unwrap()).collect();
        assert_eq!(
            spelled,
            [
                "\"open\"",
                "\"paused\"",
                "\"failed-closeout\"",
                "\"closed:success\"",
                "\"closed:blocked\"",
                "\"closed:failed\""
            ]
        );
        for status in TaskStatus::ALL {
            assert_eq!(status.as_str().parse::<TaskStatus>(), Ok(status));
            assert_eq!(serde_json::from_str::<TaskStatus>(&serde_json::to_string(&status).unwrap()).unwrap(), status);
        }
        assert!("closed".parse::<TaskStatus>().is_err());
    }

    #[test]
    fn terminal_and_resumable() {
        let table: Vec<(TaskStatus, bool, bool)> =
            TaskStatus::ALL.iter().map(|s| (*s, s.is_terminal(), s.is_resumable())).collect();
        assert_eq!(
            table,
            [
                (TaskStatus::Open, false, false),
                (TaskStatus::Paused, false, true),
                (TaskStatus::FailedCloseout, false, true),
                (TaskStatus::ClosedSuccess, true, false),
                (TaskStatus::ClosedBlocked, true, false),
                (TaskStatus::ClosedFailed, true, false),
            ]
        );
    }
}
