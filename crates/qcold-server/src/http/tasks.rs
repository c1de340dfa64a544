//! The task routes: a keyset-paged list, one task's detail, its diff and bundles, pause and clear.
//!
//! A task id, `<repo>/<NNN>-<slug>`, is written into the path as it is (both parts are URL-safe
//! identifiers): `/api/tasks/web/007-fix-login/diff`. Handlers read what they need from the store
//! and let go of it before git or the file system is touched, in a blocking task; a clear, which
//! runs git between its writes, works on a connection of its own as the CLI does. Every write
//! lands in the SQLite file, so the store watcher publishes it as it does the CLI's; the handler
//! also wakes the scheduler.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use qcold_core::api::ErrorKind;
use qcold_core::api::tasks::{ClearRequest, FieldError, PauseRequest, TaskDetail, TaskDiff, TaskPage, TaskQuery};
use qcold_core::task::TaskRecord;

use super::{Answer, ApiError, AppJson, Route};
use crate::app::AppState;
use crate::git::GitError;
use crate::store::StoreError;
use crate::taskflow::detail::{self, Stored};
use crate::taskflow::{self, Progress, TaskError};
use crate::unix_now;

/// The task routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get::<TaskPage, _, _>(
            "/api/tasks",
            "tasks, newest first, paged by cursor; filters status, repo, q",
            list,
        )
        .with_query::<TaskQuery>(),
        Route::get::<TaskDetail, _, _>(
            "/api/tasks/{repo}/{task}",
            "one task: record, events, bundles, snapshots",
            show,
        ),
        Route::get::<TaskDiff, _, _>(
            "/api/tasks/{repo}/{task}/diff",
            "the task's work against its base, bounded",
            diff,
        ),
        Route::with(
            Method::GET,
            "/api/tasks/{repo}/{task}/bundles/{name}",
            "download one evidence bundle",
            get(bundle),
        )
        .answering(Answer::Zip),
        Route::post::<PauseRequest, TaskRecord, _, _>("/api/tasks/{repo}/{task}/pause", "pause an open task", pause),
        Route::post::<ClearRequest, TaskRecord, _, _>(
            "/api/tasks/{repo}/{task}/clear",
            "close a task as failed, keeping its work",
            clear,
        ),
    ]
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<TaskPage>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::bad_request(format!("invalid query string: {}", e.body_text())))?;
    let filter = TaskQuery::from_pairs(pairs).and_then(|query| query.validate()).map_err(query_error)?;
    let page = state.with_store(move |store| store.task_page(&filter)).await?;
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
    AppJson(request): AppJson<PauseRequest>,
) -> Result<Json<TaskRecord>, ApiError> {
    let reason = request.validate().map_err(field_error)?;
    let id = format!("{repo}/{task}");
    let paused = state
        .with_store(move |store| taskflow::pause_by_id(store, &id, &reason, unix_now()))
        .await?
        .map_err(task_error)?;
    state.wake_scheduler();
    Ok(Json(paused))
}

async fn clear(
    State(state): State<AppState>,
    Path((repo, task)): Path<(String, String)>,
    AppJson(request): AppJson<ClearRequest>,
) -> Result<Json<TaskRecord>, ApiError> {
    let reason = request.validate().map_err(field_error)?;
    let id = format!("{repo}/{task}");
    // A clear snapshots and removes a worktree with git between its writes: on a connection of
    // its own, as the CLI's, the shared one stays free for every other request meanwhile.
    let closed = state
        .with_own_store(move |config, store| {
            let mut report = |progress: Progress| {
                if let Progress::Warning(warning) = progress {
                    tracing::warn!("clear of {id}: {warning}");
                }
            };
            taskflow::clear_by_id(config, store, &id, &reason, unix_now, &mut report)
        })
        .await?
        .map_err(task_error)?;
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
    let stored = state.with_store(move |store| Stored::read(store, &id)).await?.map_err(task_error)?;
    blocking(move || view(stored)).await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, TaskError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?.map_err(task_error)
}

fn query_error(err: FieldError) -> ApiError {
    ApiError::bad_field(err.field.clone(), format!("invalid query parameter {err}"))
}

fn field_error(err: FieldError) -> ApiError {
    ApiError::bad_field(err.field.clone(), format!("invalid body field {err}"))
}

/// Unknown tasks and bundles are 404, a status that does not allow the request is 409, the rest
/// is the daemon's own failure.
fn task_error(err: TaskError) -> ApiError {
    match err {
        TaskError::UnknownTask(_)
        | TaskError::Store(StoreError::UnknownTask(_))
        | TaskError::UnknownBundle { .. }
        | TaskError::BundleGone(_) => ApiError::not_found(err.to_string()),
        TaskError::WrongStatus { .. } | TaskError::RepoBusy { .. } => ApiError::conflict(err.to_string()),
        TaskError::Git(GitError::TimedOut { .. }) => ApiError::new(ErrorKind::Timeout, err.to_string()),
        other => ApiError::internal(other),
    }
}
