//! The HTTP API: thin handlers that read [`AppState`] and return qcold-core types.
//!
//! | route | handler |
//! |---|---|
//! | `GET /healthz` | `ok\n` |
//! | `GET /api/state` | [`qcold_core::api::StateResponse`] |
//! | `GET /api/node/snapshot` | [`qcold_core::NodeSnapshot`] |
//! | `GET /api/events` | server-sent [`qcold_core::Event`]s ([`events`]) |
//! | `GET /api/queue`, `POST /api/queue/*` | the queue ([`queue`]) |
//! | `GET /api/agents/{id}/terminal` | an agent's live terminal, a WebSocket ([`terminal`]) |
//! | anything else | the embedded dashboard ([`assets`]) |

pub mod assets;
pub mod events;
pub mod queue;
pub mod terminal;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use qcold_core::NodeSnapshot;
use qcold_core::api::{ErrorBody, StateResponse};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::AppState;

/// The one error type of the API; 5xx details go to the log, not the client.
#[derive(Debug)]
pub enum ApiError {
    /// No such route or resource.
    NotFound(String),
    /// The request does not fit the resource's state.
    Conflict(String),
    /// Something broke inside the daemon.
    Internal(anyhow::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, what),
            ApiError::Conflict(why) => (StatusCode::CONFLICT, why),
            ApiError::Internal(err) => {
                tracing::error!("internal error: {err:#}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the daemon log".to_owned())
            }
        };
        (status, Json(ErrorBody { error })).into_response()
    }
}

/// The daemon's router.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/state", get(get_state))
        .route("/api/node/snapshot", get(get_node_snapshot))
        .route("/api/events", get(events::stream))
        .merge(queue::routes())
        .merge(terminal::routes())
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    Router::new().route("/healthz", get(healthz)).merge(api).fallback(assets::serve).with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn get_state(State(state): State<AppState>) -> Json<StateResponse> {
    Json(state.state())
}

async fn get_node_snapshot(State(state): State<AppState>) -> Json<NodeSnapshot> {
    Json(state.node())
}

async fn api_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no api route {}", uri.path()))
}

#[cfg(test)]
mod tests;
