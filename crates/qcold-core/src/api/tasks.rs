//! The tasks resource of the HTTP API: the page query, its cursor, and the bodies of the task
//! routes (`/api/tasks…`, see `docs/http-api.md`).
//!
//! A page is asked for with a [`TaskQuery`] (the query string of `GET /api/tasks`), which
//! [`TaskQuery::validate`] turns into a [`TaskFilter`] or a [`FieldError`] naming the parameter.
//! Pages are keyset-paged newest first by `(created_at, id)`: the [`TaskCursor`] of the last task
//! of a page is where the next one starts, so tasks added while a client pages never shift it.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::task::{Bundle, TaskEvent, TaskRecord};
use crate::{RepoId, TaskStatus};

/// The page size when the query names none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page a query may ask for.
pub const MAX_LIMIT: u32 = 500;
/// The longest text search (`q`), in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// The longest cursor accepted, in characters; longer ones were never issued.
pub const MAX_CURSOR_CHARS: usize = 600;
/// The longest reason of a pause or clear, in characters.
pub const MAX_REASON_CHARS: usize = 2000;
/// The most bytes of diff text a [`TaskDiff`] carries; a longer diff is cut at a line end.
pub const MAX_DIFF_BYTES: usize = 1 << 20;

/// A query parameter or body field that is refused, named as it is spelled on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// The parameter or field, e.g. `limit`.
    pub field: String,
    /// What is wrong with its value, in words.
    pub problem: String,
}

impl FieldError {
    fn new(field: &str, problem: impl Into<String>) -> Self {
        Self { field: field.to_owned(), problem: problem.into() }
    }
}

/// The query of `GET /api/tasks`: every parameter is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// Only tasks in this status.
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// Only tasks of this repository.
    #[serde(default)]
    pub repo: Option<RepoId>,
    /// Text that the task's id, slug, prompt or branch contains (ASCII case-insensitive).
    #[serde(default)]
    pub q: Option<String>,
    /// The page size, 1 to [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when absent.
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page; absent for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

impl TaskQuery {
    /// The query parameters, as spelled in a query string.
    pub const PARAMETERS: [&'static str; 5] = ["status", "repo", "q", "limit", "cursor"];

    /// Reads decoded query-string pairs. An empty value counts as absent (as an HTML form sends
    /// an empty field); an unknown or repeated parameter, or a value of the wrong kind, is refused.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, FieldError> {
        let mut query = Self::default();
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            if !Self::PARAMETERS.contains(&key) {
                let expected = Self::PARAMETERS.join(", ");
                return Err(FieldError::new(key, format!("unknown query parameter; expected one of {expected}")));
            }
            if seen.iter().any(|s| s == key) {
                return Err(FieldError::new(key, "given more than once"));
            }
            seen.push(key.to_owned());
            if value.is_empty() {
                continue;
            }
            match key {
                "status" => query.status = Some(value.parse().map_err(|e| FieldError::new(key, format!("{e}")))?),
                "repo" => query.repo = Some(RepoId::new(value).map_err(|e| FieldError::new(key, e.to_string()))?),
                "limit" => {
                    let limit = value.parse().map_err(|_| {
                        FieldError::new(key, format!("{value:?} is not a whole number from 1 to {MAX_LIMIT}"))
                    })?;
                    query.limit = Some(limit);
                }
                "q" => query.q = Some(value.to_owned()),
                _ => query.cursor = Some(value.to_owned()),
            }
        }
        Ok(query)
    }

    /// The query as `(parameter, value)` pairs for a query string, absent parameters left out;
    /// [`TaskQuery::from_pairs`] reads them back.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(repo) = &self.repo {
            pairs.push(("repo", repo.to_string()));
        }
        if let Some(q) = &self.q {
            pairs.push(("q", q.clone()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        pairs
    }

    /// Checks the bounds and decodes the cursor: what the store pages with.
    pub fn validate(&self) -> Result<TaskFilter, FieldError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(FieldError::new("limit", format!("must be from 1 to {MAX_LIMIT}, got {limit}")));
        }
        let text = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if let Some(text) = text
            && text.chars().count() > MAX_QUERY_CHARS
        {
            return Err(FieldError::new("q", format!("is longer than {MAX_QUERY_CHARS} characters")));
        }
        let after = match self.cursor.as_deref() {
            Some(cursor) => Some(TaskCursor::decode(cursor).map_err(|e| FieldError::new("cursor", e.to_string()))?),
            None => None,
        };
        Ok(TaskFilter { status: self.status, repo: self.repo.clone(), text: text.map(str::to_owned), limit, after })
    }
}

/// A validated [`TaskQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
    /// Only tasks of this repository.
    pub repo: Option<RepoId>,
    /// Trimmed, non-empty text to search for.
    pub text: Option<String>,
    /// The page size, 1 to [`MAX_LIMIT`].
    pub limit: u32,
    /// Only tasks after this one in the page order.
    pub after: Option<TaskCursor>,
}

/// One page of `GET /api/tasks`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskPage {
    /// The tasks, ordered by `(created_at, id)` descending.
    pub tasks: Vec<TaskRecord>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A position in the task order: the `(created_at, id)` of the last task a page held.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskCursor {
    /// The task's `created_at`.
    pub created_at: i64,
    /// The task's id.
    pub id: String,
}

/// A cursor string this daemon did not issue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Longer than any issued cursor.
    #[error("is longer than {MAX_CURSOR_CHARS} characters; pass the next_cursor of a page unchanged")]
    TooLong,
    /// Not an even number of hexadecimal digits.
    #[error("is not a cursor this daemon issued (not hexadecimal); pass the next_cursor of a page unchanged")]
    NotHex,
    /// Hexadecimal, but not a version-1 cursor of a task.
    #[error("is not a cursor this daemon issued; pass the next_cursor of a page unchanged")]
    Malformed,
}

/// The version tag inside every cursor; a change of the encoding bumps it.
const CURSOR_VERSION: &str = "1";

impl TaskCursor {
    /// The cursor just after `task`.
    pub fn of(task: &TaskRecord) -> Self {
        Self { created_at: task.created_at, id: task.id.clone() }
    }

    /// The opaque wire spelling: lowercase hex of `1/<created_at>/<id>`.
    pub fn encode(&self) -> String {
        let plain = format!("{CURSOR_VERSION}/{}/{}", self.created_at, self.id);
        let mut hex = String::with_capacity(plain.len() * 2);
        for byte in plain.bytes() {
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }

    /// Reads a cursor written by [`TaskCursor::encode`].
    pub fn decode(text: &str) -> Result<Self, CursorError> {
        if text.len() > MAX_CURSOR_CHARS {
            return Err(CursorError::TooLong);
        }
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CursorError::NotHex);
        }
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
            .collect::<Result<_, _>>()
            .map_err(|_| CursorError::NotHex)?;
        let plain = String::from_utf8(bytes).map_err(|_| CursorError::Malformed)?;
        let rest =
            plain.strip_prefix(CURSOR_VERSION).and_then(|r| r.strip_prefix('/')).ok_or(CursorError::Malformed)?;
        let (created_at, id) = rest.split_once('/').ok_or(CursorError::Malformed)?;
        let created_at: i64 = created_at.parse().map_err(|_| CursorError::Malformed)?;
        if !is_task_id(id) {
            return Err(CursorError::Malformed);
        }
        Ok(Self { created_at, id: id.to_owned() })
    }
}

/// Whether `id` has the shape of a task id, `<repo>/<NNN>-<slug>` (see [`crate::task::task_id`]).
fn is_task_id(id: &str) -> bool {
    let Some((repo, name)) = id.split_once('/') else { return false };
    RepoId::new(repo).is_ok()
        && name.split_once('-').is_some_and(|(sequence, slug)| {
            !sequence.is_empty() && sequence.bytes().all(|b| b.is_ascii_digit()) && crate::TaskSlug::new(slug).is_ok()
        })
}

/// Everything about one task: the body of `GET /api/tasks/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskDetail {
    /// The record.
    pub task: TaskRecord,
    /// Its events, oldest first.
    pub events: Vec<TaskEvent>,
    /// Its evidence bundles, oldest first; `GET /api/tasks/{id}/bundles/{file name}` serves one.
    pub bundles: Vec<Bundle>,
    /// The snapshots of its undelivered work that still exist, oldest first.
    #[serde(default)]
    pub snapshots: Vec<TaskSnapshot>,
}

/// A snapshot of a task's undelivered work, kept under `refs/qcold/snapshots/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskSnapshot {
    /// The ref, `refs/qcold/snapshots/<slug>/<unix time>`.
    pub reference: String,
    /// The commit it points at.
    pub commit: String,
    /// When it was made, Unix seconds.
    pub created_at: i64,
    /// The command that restores it into a new branch of the primary checkout.
    pub restore: String,
}

impl TaskSnapshot {
    /// A snapshot of the repository whose primary checkout is `primary`.
    pub fn new(primary: &str, reference: String, commit: String, created_at: i64) -> Self {
        let restore = restore_command(primary, &reference);
        Self { reference, commit, created_at, restore }
    }
}

/// `git -C <primary> branch restored/<slug>-<time> <reference>`, quoted for a POSIX shell.
pub fn restore_command(primary: &str, reference: &str) -> String {
    let mut parts = reference.rsplit('/');
    let last = parts.next().unwrap_or_default();
    let branch = match parts.next() {
        Some(label) if reference.starts_with("refs/qcold/snapshots/") => format!("restored/{label}-{last}"),
        _ => format!("restored/{last}"),
    };
    let quote = crate::taskenv::quote;
    format!("git -C {} branch {} {}", quote(primary), quote(&branch), quote(reference))
}

/// The recorded bundle whose file name is exactly `name`; anything else (another task's bundle, a
/// path, `..`) matches nothing.
pub fn bundle_named<'a>(bundles: &'a [Bundle], name: &str) -> Option<&'a Bundle> {
    bundles.iter().find(|b| b.file_name() == name && !name.is_empty())
}

/// Where the diff of a [`TaskDiff`] was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum DiffSource {
    /// The task worktree as it is now, uncommitted and untracked changes included.
    Worktree,
    /// The task branch (its worktree is gone).
    Branch,
    /// The newest snapshot of the task (its worktree and branch are gone).
    Snapshot,
    /// `none`: nothing of the task's work is left to compare (delivered, or never begun).
    #[serde(rename = "none")]
    Nothing,
}

/// The task's work against its base commit: the body of `GET /api/tasks/{id}/diff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaskDiff {
    /// The base branch's commit when the task opened.
    pub base_commit: String,
    /// The commit compared against it: the worktree's `HEAD` (its uncommitted changes are in the
    /// diff too), the branch tip or the snapshot commit; `None` when nothing is left.
    #[serde(default)]
    pub head: Option<String>,
    /// Where the diff comes from.
    pub source: DiffSource,
    /// The unified diff, `.task/` left out, at most [`MAX_DIFF_BYTES`].
    pub diff: String,
    /// Whether the diff was cut at [`MAX_DIFF_BYTES`].
    pub truncated: bool,
}

/// The body of `POST /api/tasks/{id}/pause`, as `qcold task pause --reason` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Why, for the record.
    pub reason: String,
}

impl PauseRequest {
    /// The trimmed reason, or why it is refused.
    pub fn validate(&self) -> Result<String, FieldError> {
        reason(&self.reason)
    }
}

/// The body of `POST /api/tasks/{id}/clear`, as `qcold task clear <task> --reason` takes it:
/// undelivered work is snapshotted, the task closes as `closed:failed` with `cleared: <reason>`,
/// and its worktree and branch are removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ClearRequest {
    /// Why, for the record.
    pub reason: String,
}

impl ClearRequest {
    /// The trimmed reason, or why it is refused.
    pub fn validate(&self) -> Result<String, FieldError> {
        reason(&self.reason)
    }
}

fn reason(text: &str) -> Result<String, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(FieldError::new("reason", "must not be empty"));
    }
    if text.chars().count() > MAX_REASON_CHARS {
        return Err(FieldError::new("reason", format!("is longer than {MAX_REASON_CHARS} characters")));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests;
