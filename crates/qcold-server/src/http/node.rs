//! The node routes: the latest snapshot and the last hour of host samples.

use axum::Json;
use axum::extract::State;
use qcold_core::NodeSnapshot;
use qcold_core::api::node::NodeHistory;
use qcold_core::queue::admission::HostSample;

use super::{ApiError, Route};
use crate::app::AppState;
use crate::unix_now;

/// How far back `GET /api/node/history` reaches.
const WINDOW_SECS: i64 = 3600;

/// The node routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get::<NodeSnapshot, _, _>("/api/node/snapshot", "the latest node snapshot", snapshot),
        Route::get::<NodeHistory, _, _>("/api/node/history", "host samples of the last hour, for charts", history),
    ]
}

async fn snapshot(State(state): State<AppState>) -> Json<NodeSnapshot> {
    Json(state.node())
}

async fn history(State(state): State<AppState>) -> Result<Json<NodeHistory>, ApiError> {
    let since = unix_now() - WINDOW_SECS;
    let stored = state.with_store(move |store| store.host_samples(since)).await?.map_err(ApiError::internal)?;
    let mut samples = state.node_history(since);
    // The queue's samples carry its reservations; at the same second they win over the sampler's,
    // keeping the sampler's CPU use and disk, which the store does not keep.
    let stored: Vec<HostSample> = stored
        .into_iter()
        .map(|t| match samples.iter().find(|s| s.at == t.at) {
            Some(s) => HostSample {
                cpu_usage_percent: s.cpu_usage_percent,
                disk_total: s.disk_total,
                disk_available: s.disk_available,
                ..t
            },
            None => t,
        })
        .collect();
    samples.retain(|s| !stored.iter().any(|t| t.at == s.at));
    samples.extend(stored);
    samples.sort_by_key(|s| s.at);
    Ok(Json(NodeHistory { window_secs: WINDOW_SECS, samples }))
}
