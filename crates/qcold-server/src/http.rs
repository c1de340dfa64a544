//! The HTTP API: a security [`door`] in front of thin handlers (extract → one domain call → a
//! qcold-core type), one route file per resource.
//!
//! | routes | file |
//! |---|---|
//! | `GET /healthz`, `GET /api/state`, `GET /api/events` | this file, [`events`] |
//! | `/api/node/*` | [`node`] |
//! | `/api/repos*` | [`repos`] |
//! | `/api/tasks*` | [`tasks`] |
//! | `/api/agents*`, `/api/agent-commands*` | [`agents`], [`agent_commands`] |
//! | `GET /api/agents/{id}/terminal` | an agent's live terminal, a WebSocket ([`terminal`]) |
//! | `/api/queue*` | [`queue`] |
//! | `GET /api/openapi.json` | [`openapi`] |
//! | anything else | the embedded dashboard ([`assets`]) |
//!
//! Every route is listed once, as a [`Route`], in [`routes`]: the router, the OpenAPI document
//! and the security table test are all built from that list, so none of them can miss a route.

pub mod agent_commands;
pub mod agents;
pub mod assets;
pub mod door;
pub mod error;
pub mod events;
pub mod extract;
pub mod node;
pub mod openapi;
pub mod queue;
pub mod repos;
pub mod route;
pub mod tasks;
pub mod terminal;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, header};
use axum::routing::get;
use qcold_core::api::{ErrorKind, StateResponse};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};
use tower_http::set_header::SetResponseHeaderLayer;

pub use door::Door;
pub use error::ApiError;
pub use extract::{AppJson, AppQuery};
pub use route::{Answer, Route};

use crate::app::AppState;

/// Every API route.
pub fn routes() -> Vec<Route> {
    let mut routes = vec![
        Route::get::<StateResponse, _, _>(
            "/api/state",
            "the dashboard's first frame: repositories, node, queue",
            get_state,
        ),
        Route::with(
            Method::GET,
            "/api/events",
            "server-sent events: a `state`, then every change",
            get(events::stream),
        )
        .answering(Answer::EventStream),
    ];
    routes.extend(node::routes());
    routes.extend(repos::routes());
    routes.extend(tasks::routes());
    routes.extend(agents::routes());
    routes.extend(terminal::routes());
    routes.extend(agent_commands::routes());
    routes.extend(queue::routes());
    routes.extend(openapi::routes());
    routes
}

/// The daemon's router, with `door` in front of everything; tells `state` whether the door
/// requires the write token, which the state serves as `writes_need_token`.
pub fn router(state: AppState, door: Door) -> Router {
    state.set_writes_need_token(door.requires_token());
    let body_limit = door.body_limit();
    let mut api = Router::new();
    for route in routes() {
        api = api.route(route.path, route.handler);
    }
    let api = api
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(compression());
    Router::new()
        .route("/healthz", get(healthz))
        .merge(api)
        .fallback(assets::serve)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(Arc::new(door), door::admit))
        .with_state(state)
}

/// gzip for API answers to a client that accepts it (`/api/state` is ≈1 MB of JSON with 10,000
/// tasks); never for the event stream (a compressor would hold its events back) or a WebSocket's
/// upgrade. The dashboard's assets have their own pre-compressed copies ([`assets`]).
fn compression() -> CompressionLayer<impl tower_http::compression::Predicate> {
    let not_an_upgrade =
        |status: axum::http::StatusCode,
         _: axum::http::Version,
         _: &axum::http::HeaderMap,
         _: &axum::http::Extensions| { status != axum::http::StatusCode::SWITCHING_PROTOCOLS };
    CompressionLayer::new().no_br().no_deflate().no_zstd().compress_when(DefaultPredicate::new().and(not_an_upgrade))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn get_state(State(state): State<AppState>) -> Result<axum::response::Response, ApiError> {
    let json = state
        .state_json()
        .map_err(|err| ApiError::internal(anyhow::Error::new(err).context("cannot serialize the state")))?;
    Ok(axum::response::IntoResponse::into_response((
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        json,
    )))
}

async fn api_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no api route {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(ErrorKind::MethodNotAllowed, format!("{} does not take {method}", uri.path()))
}

#[cfg(test)]
mod tests;
