//! The queue routes: `GET /api/queue` answers from the cache; every `POST /api/queue/*` runs one
//! [`crate::queue`] command on the store, then refreshes the cache (pushing a `queue` event)
//! and wakes the scheduler. Refusals answer a [`QueueAnswer`] with `ok: false`, the reason and
//! the package diagnostics.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use qcold_core::queue::wire::{QueueAnswer, QueueView};
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::app::AppState;
use crate::queue::{self, QueueError};
use crate::repos::RepoError;
use crate::store::{Store, StoreError};
use crate::unix_now;

/// The queue routes.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/queue", get(view))
        .route("/api/queue/run", command(queue::run))
        .route("/api/queue/append", command(queue::append))
        .route("/api/queue/update", command(queue::update))
        .route("/api/queue/remove", command(queue::remove))
        .route("/api/queue/stop", command(queue::stop))
        .route("/api/queue/continue", command(queue::resume))
        .route("/api/queue/clear", command(|store, r, _| queue::clear(store, r)))
        .route("/api/queue/tab/create", command(queue::create_tab))
        .route("/api/queue/tab/switch", command(|store, r, _| queue::switch_tab(store, r)))
        .route("/api/queue/tab/delete", command(|store, r, _| queue::delete_tab(store, r)))
}

/// A `POST` route that runs one queue command (see [`run_command`]).
fn command<R, F>(f: F) -> MethodRouter<AppState>
where
    R: DeserializeOwned + Send + 'static,
    F: FnOnce(&mut Store, R, i64) -> Result<QueueAnswer, QueueError> + Clone + Send + Sync + 'static,
{
    post(move |state: State<AppState>, body: Bytes| run_command(state, body, f))
}

async fn view(State(state): State<AppState>) -> Json<QueueView> {
    Json(QueueView::clone(&state.queue()))
}

/// Parses the body (empty means `{}`), runs `f` on the store, publishes and wakes on success.
async fn run_command<R, F>(State(state): State<AppState>, body: Bytes, f: F) -> Response
where
    R: DeserializeOwned + Send + 'static,
    F: FnOnce(&mut Store, R, i64) -> Result<QueueAnswer, QueueError> + Send + 'static,
{
    let text = if body.iter().all(u8::is_ascii_whitespace) { &b"{}"[..] } else { &body[..] };
    let request: R = match serde_json::from_slice(text) {
        Ok(request) => request,
        Err(err) => return refusal(StatusCode::BAD_REQUEST, format!("invalid request body: {err}"), Vec::new()),
    };
    match state.with_store(move |store| f(store, request, unix_now())).await {
        Ok(Ok(answer)) => {
            if let Err(err) = state.reload_queue().await {
                tracing::error!("cannot reload the queue: {err:#}");
            }
            state.wake_scheduler();
            (StatusCode::OK, Json(answer)).into_response()
        }
        Ok(Err(err)) => {
            let status = match &err {
                QueueError::Rejected(_) | QueueError::Invalid(_) => StatusCode::BAD_REQUEST,
                QueueError::Repo(RepoError::Store(StoreError::UnknownRepo(_))) => StatusCode::NOT_FOUND,
                QueueError::Repo(RepoError::Store(_)) | QueueError::Store(_) => {
                    return ApiError::Internal(anyhow::Error::new(err)).into_response();
                }
                QueueError::Repo(_) => StatusCode::BAD_REQUEST,
                QueueError::UnknownRun(_) | QueueError::UnknownTab(_) | QueueError::NoRun => StatusCode::NOT_FOUND,
                QueueError::Duplicate(_) | QueueError::Conflict(_) => StatusCode::CONFLICT,
            };
            let diagnostics = match &err {
                QueueError::Rejected(rejected) => rejected.diagnostics.clone(),
                _ => Vec::new(),
            };
            refusal(status, err.to_string(), diagnostics)
        }
        Err(err) => ApiError::Internal(err).into_response(),
    }
}

fn refusal(status: StatusCode, message: String, diagnostics: Vec<qcold_core::queue::graph::Diagnostic>) -> Response {
    (status, Json(QueueAnswer { ok: false, message, run_id: None, tab_id: None, diagnostics })).into_response()
}
