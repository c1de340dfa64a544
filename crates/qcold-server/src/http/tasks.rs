//! The task routes: a keyset-paged list, one task's detail, its diff and bundles, pause and clear.
//!
//! A task id, `<repo>/<NNN>-<slug>`, is written into the path as it is (both parts are URL-safe
//! identifiers): `/api/tasks/web/007-fix-login/diff`. Handlers read what they need from the store
//! and let go of it before git or the file system is touched, in a blocking task; a clear, which
//! runs git between its writes, works on a connection of its own as the CLI does. Every write
//! lands in the SQLite file, so the store watcher publishes it as it does the CLI's; the handler
//! also wakes the scheduler.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use qcold_core::api::tasks::{ClearRequest, FieldError, PauseRequest, TaskDetail, TaskDiff, TaskPage, TaskQuery};
use qcold_core::task::TaskRecord;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::app::AppState;
use crate::store::{Store, StoreError};
use crate::taskflow::detail::{self, Stored};
use crate::taskflow::{self, Progress, TaskError};
use crate::unix_now;

/// The task routes.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/tasks", get(list))
        .route("/api/tasks/{repo}/{task}", get(show))
        .route("/api/tasks/{repo}/{task}/diff", get(diff))
        .route("/api/tasks/{repo}/{task}/bundles/{name}", get(bundle))
        .route("/api/tasks/{repo}/{task}/pause", post(pause))
        .route("/api/tasks/{repo}/{task}/clear", post(clear))
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<TaskPage>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::BadRequest(format!("invalid query string: {}", e.body_text())))?;
    let filter = TaskQuery::from_pairs(pairs).and_then(|query| query.validate()).map_err(query_error)?;
    let page = state.with_store(move |store| store.task_page(&filter)).await.map_err(ApiError::Internal)?;
    Ok(Json(page.map_err(TaskError::from).map_err(task_error)?))
}

async fn show(
    State(state): State<AppState>,
    Path((repo, task)): Path<(String, String)>,
) -> Result<Json<TaskDetail>, ApiError> {
    read(&state, format!("{repo}/{task}"), detail::detail).await.map(Json)
}

async fn diff(
    State(state): State<AppState>,
    Path((repo, task)): Path<(String, String)>,
) -> Result<Json<TaskDiff>, ApiError> {
    let config = state.config().clone();
    read(&state, format!("{repo}/{task}"), move |stored| detail::diff(&config, &stored)).await.map(Json)
}

async fn bundle(
    State(state): State<AppState>,
    Path((repo, task, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let file = read(&state, format!("{repo}/{task}"), move |stored| detail::bundle(&stored, &name)).await?;
    // The name is one of the task's recorded bundle file names, which Q-COLD itself generated.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.name))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/zip")),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    Ok((headers, file.bytes).into_response())
}

async fn pause(
    State(state): State<AppState>,
    Path((repo, task)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<TaskRecord>, ApiError> {
    let reason = parse::<PauseRequest>(&body)?.validate().map_err(field_error)?;
    let id = format!("{repo}/{task}");
    let paused = state
        .with_store(move |store| taskflow::pause_by_id(store, &id, &reason, unix_now()))
        .await
        .map_err(ApiError::Internal)?
        .map_err(task_error)?;
    state.wake_scheduler();
    Ok(Json(paused))
}

async fn clear(
    State(state): State<AppState>,
    Path((repo, task)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<TaskRecord>, ApiError> {
    let reason = parse::<ClearRequest>(&body)?.validate().map_err(field_error)?;
    let id = format!("{repo}/{task}");
    let config = state.config().clone();
    let closed = blocking(move || {
        // A clear snapshots and removes a worktree with git between its writes: on a connection
        // of its own, as the CLI's, the shared one stays free for every other request meanwhile.
        let mut store = Store::open(&config.state_dir, config.sqlite_busy_timeout)?;
        let mut report = |progress: Progress| {
            if let Progress::Warning(warning) = progress {
                tracing::warn!("clear of {id}: {warning}");
            }
        };
        taskflow::clear_by_id(&config, &mut store, &id, &reason, unix_now, &mut report)
    })
    .await?;
    state.wake_scheduler();
    Ok(Json(closed.task))
}

/// Reads the task from the store and lets go of it, then runs `view` (git, files) in a blocking
/// task, so no git command ever runs while the store is held.
async fn read<T: Send + 'static>(
    state: &AppState,
    id: String,
    view: impl FnOnce(Stored) -> Result<T, TaskError> + Send + 'static,
) -> Result<T, ApiError> {
    let stored = state
        .with_store(move |store| Stored::read(store, &id))
        .await
        .map_err(ApiError::Internal)?
        .map_err(task_error)?;
    blocking(move || view(stored)).await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, TaskError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::Internal(e.into()))?.map_err(task_error)
}

/// A JSON body. FIXME: the shared JSON extractor (`AppJson`) replaces this once it lands, with
/// field paths in every refusal.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
}

fn query_error(err: FieldError) -> ApiError {
    ApiError::BadRequest(format!("invalid query parameter {err}"))
}

fn field_error(err: FieldError) -> ApiError {
    ApiError::BadRequest(format!("invalid body field {err}"))
}

/// Unknown tasks and bundles are 404, a status that does not allow the request is 409, the rest
/// is the daemon's own failure.
fn task_error(err: TaskError) -> ApiError {
    match err {
        TaskError::UnknownTask(_)
        | TaskError::Store(StoreError::UnknownTask(_))
        | TaskError::UnknownBundle { .. }
        | TaskError::BundleGone(_) => ApiError::NotFound(err.to_string()),
        TaskError::WrongStatus { .. } => ApiError::Conflict(err.to_string()),
        other => ApiError::Internal(anyhow::Error::new(other)),
    }
}
