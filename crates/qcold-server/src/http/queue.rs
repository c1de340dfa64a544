//! The queue routes: `GET /api/queue` answers from the cache; every `POST /api/queue/*` runs one
//! [`crate::queue`] command on the store, then refreshes the cache (pushing the change) and wakes
//! the scheduler. A refusal is an `ErrorBody` carrying the package's diagnostics.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use qcold_core::queue::wire::{QueueAnswer, QueueView};
use serde::de::DeserializeOwned;

use super::{Answer, ApiError, AppJson, Route};
use crate::app::AppState;
use crate::queue::{self, QueueError};
use crate::store::Store;
use crate::unix_now;

/// The queue routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get::<QueueView, _, _>("/api/queue", "tabs, runs and items", view),
        command("/api/queue/run", "start a run from a package", queue::run),
        command("/api/queue/append", "add a package's items to a run", queue::append),
        command("/api/queue/update", "change an item that has not started", queue::update),
        command("/api/queue/remove", "remove an item that has not started", queue::remove),
        command("/api/queue/stop", "stop a run: nothing new starts; `kill` also stops its agents", queue::stop),
        command("/api/queue/continue", "continue a stopped or failed run", queue::resume),
        command("/api/queue/clear", "remove a run that has nothing in flight", |store, r, _| queue::clear(store, r)),
        command("/api/queue/tab/create", "create a tab", queue::create_tab),
        command("/api/queue/tab/switch", "make a tab the active one", |store, r, _| queue::switch_tab(store, r)),
        command("/api/queue/tab/delete", "delete a tab", |store, r, _| queue::delete_tab(store, r)),
    ]
}

/// A `POST` route that runs one queue command (see [`run_command`]).
fn command<R, F>(path: &'static str, summary: &'static str, f: F) -> Route
where
    R: DeserializeOwned + schemars::JsonSchema + Send + 'static,
    F: FnOnce(&mut Store, R, i64) -> Result<QueueAnswer, QueueError> + Clone + Send + Sync + 'static,
{
    let handler = move |state: State<AppState>, AppJson(request): AppJson<R>| run_command(state, request, f);
    Route::with(Method::POST, path, summary, post(handler))
        .taking::<R>()
        .answering(Answer::Json(|g| g.subschema_for::<QueueAnswer>()))
}

async fn view(State(state): State<AppState>) -> Json<QueueView> {
    Json(QueueView::clone(&state.queue()))
}

/// Runs `f` on the store, publishes and wakes the scheduler on success.
async fn run_command<R, F>(State(state): State<AppState>, request: R, f: F) -> Response
where
    R: Send + 'static,
    F: FnOnce(&mut Store, R, i64) -> Result<QueueAnswer, QueueError> + Send + 'static,
{
    match state.with_store(move |store| f(store, request, unix_now())).await {
        Ok(Ok(answer)) => {
            if let Err(err) = state.publisher().reload_queue().await {
                tracing::error!("cannot reload the queue: {err:#}");
            }
            state.wake_scheduler();
            Json(answer).into_response()
        }
        Ok(Err(err)) => refusal(err).into_response(),
        Err(err) => ApiError::internal(err).into_response(),
    }
}

/// Maps a queue command's refusal to the API's error, keeping the package diagnostics.
fn refusal(err: QueueError) -> ApiError {
    match err {
        QueueError::Rejected(rejected) => {
            ApiError::bad_field("package", rejected.to_string()).with_diagnostics(rejected.diagnostics)
        }
        QueueError::Invalid(message) => ApiError::bad_request(message),
        QueueError::Repo(err) => super::repos::refusal(err),
        QueueError::Store(err) => ApiError::internal(err),
        QueueError::UnknownRun(_) | QueueError::UnknownTab(_) | QueueError::NoRun => {
            ApiError::not_found(err.to_string())
        }
        QueueError::Duplicate(_) | QueueError::Conflict(_) => ApiError::conflict(err.to_string()),
    }
}
