//! `GET /api/events`: a server-sent stream of [`Event`]s.
//!
//! The stream starts with the full state, then carries every event the hub publishes. A
//! subscriber that falls more than the hub's buffer behind gets a fresh full state instead of
//! the events it missed. The stream ends when the daemon shuts down.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _, stream};
use qcold_core::Event;
use tokio_stream::wrappers::BroadcastStream;

use crate::app::AppState;

/// The SSE handler.
pub async fn stream(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // Subscribe before reading the state, so no change can fall between the two.
    let updates = BroadcastStream::new(state.subscribe());
    let first = Event::State(Box::new(state.state()));
    let resync = state.clone();
    let events = stream::once(async move { first })
        .chain(updates.map(move |update| update.unwrap_or_else(|_lagged| Event::State(Box::new(resync.state())))))
        .map(|event| Ok(to_sse(&event)))
        .take_until(state.cancelled());
    Sse::new(events).keep_alive(KeepAlive::default())
}

fn to_sse(event: &Event) -> SseEvent {
    let data = serde_json::to_string(event).unwrap_or_else(|err| {
        tracing::error!("cannot encode {} event: {err}", event.name());
        String::from("{}")
    });
    SseEvent::default().event(event.name()).data(data)
}
