//! The tasks resource (`/api/tasks…`, docs/http-api.md "Tasks"): a page, one task, its diff,
//! pause and clear. A task id (`<repo>/<NNN>-<slug>`) is URL-safe and goes into the path as it is.

use qcold_core::api::tasks::{ClearRequest, PauseRequest, TaskDetail, TaskDiff, TaskPage, TaskQuery};
use qcold_core::task::TaskRecord;

use super::ApiError;
use super::request::Call;
use crate::token::SessionToken;

/// `GET /api/tasks?…`: one page of tasks matching `query`.
pub(crate) async fn page(token: SessionToken, query: &TaskQuery) -> Result<TaskPage, ApiError> {
    Call::get(format!("/api/tasks{}", query_string(query))).send(token).await
}

/// `GET /api/tasks/{id}`: the record, events, bundles and snapshots.
pub(crate) async fn detail(token: SessionToken, id: &str) -> Result<TaskDetail, ApiError> {
    Call::get(format!("/api/tasks/{id}")).send(token).await
}

/// `GET /api/tasks/{id}/diff`: the task's work against its base.
pub(crate) async fn diff(token: SessionToken, id: &str) -> Result<TaskDiff, ApiError> {
    Call::get(format!("/api/tasks/{id}/diff")).send(token).await
}

/// `POST /api/tasks/{id}/pause`.
pub(crate) async fn pause(token: SessionToken, id: &str, reason: String) -> Result<TaskRecord, ApiError> {
    Call::post(format!("/api/tasks/{id}/pause"), &PauseRequest { reason })?.send(token).await
}

/// `POST /api/tasks/{id}/clear`.
pub(crate) async fn clear(token: SessionToken, id: &str, reason: String) -> Result<TaskRecord, ApiError> {
    Call::post(format!("/api/tasks/{id}/clear"), &ClearRequest { reason })?.send(token).await
}

/// Where a bundle of task `id` downloads from.
pub(crate) fn bundle_url(id: &str, file: &str) -> String {
    format!("/api/tasks/{id}/bundles/{}", encode(file))
}

/// `?a=b&…` for the query's present parameters, or nothing; also the dashboard's own `/tasks` URL.
pub(crate) fn query_string(query: &TaskQuery) -> String {
    let pairs = query.to_pairs();
    if pairs.is_empty() {
        return String::new();
    }
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    format!("?{}", joined.join("&"))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
