//! The status of a task record and the rules that follow from it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod delivery;

/// Where a task is in its lifecycle. Serialized exactly as the variant docs show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

/// How the agent or operator ends a task with `qcold task closeout --outcome …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Deliver the branch through the repository's validation.
    Success,
    /// Stop: something outside the task prevents it. Evidence is kept.
    Blocked,
    /// Stop: the work failed. Evidence is kept.
    Failed,
}

/// `qcold task closeout` exit code when a success closeout stopped in a phase.
pub const EXIT_FAILED_CLOSEOUT: u8 = 12;

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Blocked, Outcome::Failed];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Blocked => "blocked",
            Outcome::Failed => "failed",
        }
    }

    /// The terminal status a finished closeout with this outcome records.
    pub const fn status(self) -> TaskStatus {
        match self {
            Outcome::Success => TaskStatus::ClosedSuccess,
            Outcome::Blocked => TaskStatus::ClosedBlocked,
            Outcome::Failed => TaskStatus::ClosedFailed,
        }
    }

    /// The exit code of `qcold task closeout`: 0, 10 (blocked), 11 (failed); a success closeout
    /// that stops in a phase exits [`EXIT_FAILED_CLOSEOUT`] instead.
    pub const fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Blocked => 10,
            Outcome::Failed => 11,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not an outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown outcome {0:?}; expected one of: success, blocked, failed")]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;
    fn from_str(s: &str) -> Result<Self, UnknownOutcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s).ok_or_else(|| UnknownOutcome(s.to_owned()))
    }
}

/// The named steps of a success closeout, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum CloseoutPhase {
    /// The primary checkout has no uncommitted changes.
    PrimaryClean,
    /// The repository's adapter accepts the change.
    Verify,
    /// The worktree's changes (everything but `.task/`) are committed.
    Commit,
    /// The task branch is rebased onto the base branch.
    Rebase,
    /// The primary checkout's base branch is fast-forwarded to the task branch.
    FastForward,
    /// The base branch is pushed to its upstream, when it has one.
    Push,
    /// The task record becomes `closed:success`.
    Record,
    /// The evidence bundle is written.
    Bundle,
    /// The worktree and branch are removed.
    Cleanup,
}

impl CloseoutPhase {
    /// Every phase, in order.
    pub const ALL: [CloseoutPhase; 9] = [
        CloseoutPhase::PrimaryClean,
        CloseoutPhase::Verify,
        CloseoutPhase::Commit,
        CloseoutPhase::Rebase,
        CloseoutPhase::FastForward,
        CloseoutPhase::Push,
        CloseoutPhase::Record,
        CloseoutPhase::Bundle,
        CloseoutPhase::Cleanup,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            CloseoutPhase::PrimaryClean => "primary-clean",
            CloseoutPhase::Verify => "verify",
            CloseoutPhase::Commit => "commit",
            CloseoutPhase::Rebase => "rebase",
            CloseoutPhase::FastForward => "fast-forward",
            CloseoutPhase::Push => "push",
            CloseoutPhase::Record => "record",
            CloseoutPhase::Bundle => "bundle",
            CloseoutPhase::Cleanup => "cleanup",
        }
    }
}

impl fmt::Display for CloseoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The directory name of a task's worktree: the zero-padded sequence and the slug, `007-fix-login`.
pub fn worktree_name(sequence: u32, slug: &crate::TaskSlug) -> String {
    format!("{sequence:03}-{slug}")
}

/// The branch a task works on: `task/<slug>`.
pub fn branch_name(slug: &crate::TaskSlug) -> String {
    format!("task/{slug}")
}

/// A task's id: `<repo>/<NNN>-<slug>`, unique across repositories and across reuses of a slug.
pub fn task_id(repo: &crate::RepoId, sequence: u32, slug: &crate::TaskSlug) -> String {
    format!("{repo}/{}", worktree_name(sequence, slug))
}

#[cfg(test)]
mod lifecycle_tests {
    use super::*;

    #[test]
    fn outcomes_map_to_statuses_and_exit_codes() {
        let table: Vec<(Outcome, TaskStatus, u8)> =
            Outcome::ALL.iter().map(|o| (*o, o.status(), o.exit_code())).collect();
        assert_eq!(
            table,
            [
                (Outcome::Success, TaskStatus::ClosedSuccess, 0),
                (Outcome::Blocked, TaskStatus::ClosedBlocked, 10),
                (Outcome::Failed, TaskStatus::ClosedFailed, 11),
            ]
        );
        assert_eq!(EXIT_FAILED_CLOSEOUT, 12);
        assert!("done".parse::<Outcome>().is_err());
    }

    #[test]
    fn names() {
        let slug: crate::TaskSlug = "fix-login".parse().unwrap();
        let repo: crate::RepoId = "web".parse().unwrap();
        assert_eq!(worktree_name(7, &slug), "007-fix-login");
        assert_eq!(worktree_name(1234, &slug), "1234-fix-login");
        assert_eq!(branch_name(&slug), "task/fix-login");
        assert_eq!(task_id(&repo, 7, &slug), "web/007-fix-login");
        let phases: Vec<&str> = CloseoutPhase::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            phases,
            ["primary-clean", "verify", "commit", "rebase", "fast-forward", "push", "record", "bundle", "cleanup"]
        );
    }
}

/// What Q-COLD knows about one task: the row of the task store, and the JSON of `task show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskRecord {
    /// `<repo>/<NNN>-<slug>`; see [`task_id`].
    pub id: String,
    /// The repository.
    pub repo: crate::RepoId,
    /// The slug.
    pub slug: crate::TaskSlug,
    /// The per-repository sequence number.
    pub sequence: u32,
    /// Where the task is in its lifecycle.
    pub status: TaskStatus,
    /// The operator's profile name, if one was given.
    #[serde(default)]
    pub profile: Option<String>,
    /// The prompt the task was opened with, if any.
    #[serde(default)]
    pub prompt: Option<String>,
    /// The task branch, `task/<slug>`.
    pub branch: String,
    /// The task worktree.
    pub worktree: String,
    /// The primary checkout.
    pub primary: String,
    /// The branch the task started from and delivers to.
    pub base_branch: crate::BranchName,
    /// The base branch's commit when the task opened.
    pub base_commit: String,
    /// The phase a success closeout last stopped in, while the status is `failed-closeout`.
    #[serde(default)]
    pub failed_phase: Option<CloseoutPhase>,
    /// How that phase failed — whose fault, and git's first error line — while the status is
    /// `failed-closeout`.
    #[serde(default)]
    pub closeout_failure: Option<delivery::CloseoutFailure>,
    /// Opened, Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
    /// Closed, Unix seconds.
    #[serde(default)]
    pub closed_at: Option<i64>,
}

/// What happened to a task; one line of `.task/logs/events.ndjson`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskEvent {
    /// What kind of thing happened.
    pub kind: EventKind,
    /// Details, in words.
    pub message: String,
    /// When, Unix seconds.
    pub at: i64,
}

/// The kinds of [`TaskEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The task was opened.
    Open,
    /// A paused or failed-closeout task was reopened in place.
    Resume,
    /// The task was paused.
    Pause,
    /// A closeout phase started.
    PhaseStart,
    /// A closeout phase finished.
    PhaseOk,
    /// A closeout phase failed.
    PhaseFailed,
    /// The task reached a terminal status.
    Closeout,
    /// Uncommitted or undelivered work was stored under `refs/qcold/snapshots/`.
    Snapshot,
    /// An evidence bundle was written.
    Bundle,
}

/// An evidence bundle written for a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Bundle {
    /// The zip file.
    pub path: String,
    /// The task's status when the bundle was written (`failed-closeout` or a `closed:*` status).
    pub status: TaskStatus,
    /// Written at, Unix seconds.
    pub created_at: i64,
}

impl Bundle {
    /// The zip's file name: the last component of [`Bundle::path`].
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
}

/// Everything about one task: the body of `qcold task show --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskDetails {
    /// The record.
    pub task: TaskRecord,
    /// Its events, oldest first.
    pub events: Vec<TaskEvent>,
    /// Its evidence bundles, oldest first.
    pub bundles: Vec<Bundle>,
}

/// What the repository's adapter said about a closed-out change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    /// The verify step passed.
    Passed,
    /// The verify step failed or timed out.
    Failed,
    /// The repository has no verify step; the change was delivered unverified.
    Unverified,
}

/// The version of the evidence bundle layout; bumped when entries change meaning.
pub const BUNDLE_FORMAT_VERSION: u32 = 1;

/// `receipt.json` of an evidence bundle: how the task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Receipt {
    /// [`BUNDLE_FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The task.
    pub task_id: String,
    /// The outcome asked for.
    pub outcome: Outcome,
    /// The status the task reached (`failed-closeout` when a success closeout stopped).
    pub status: TaskStatus,
    /// The phase that failed, if one did.
    #[serde(default)]
    pub failed_phase: Option<CloseoutPhase>,
    /// The failure, in words.
    #[serde(default)]
    pub error: Option<String>,
    /// The verify result, when verify ran or was skipped.
    #[serde(default)]
    pub verification: Option<Verification>,
    /// The closeout message (success) or reason (blocked, failed).
    #[serde(default)]
    pub message: Option<String>,
    /// The snapshot ref holding work that was not delivered, if one was made.
    #[serde(default)]
    pub snapshot_ref: Option<String>,
    /// Seconds from open to this receipt.
    pub duration_seconds: i64,
    /// Written at, Unix seconds.
    pub created_at: i64,
}
