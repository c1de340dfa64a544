//! `GET /api/events`: a server-sent stream of [`Event`]s.
//!
//! The stream starts with the full state, then carries every delta the hub publishes after it
//! (see [`AppState::subscribe`]). A subscriber that falls more than the hub's buffer behind gets
//! a fresh full state, followed by the deltas published after that one, instead of the events
//! it missed. The stream ends when the daemon shuts down.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _, stream};
use qcold_core::Event;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::app::AppState;

/// The SSE handler.
pub async fn stream(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (first, updates) = state.subscribe();
    let start = (state.clone(), Some(Event::State(Box::new(first))), updates);
    let events = stream::unfold(start, |(state, pending, mut updates)| async move {
        if let Some(event) = pending {
            return Some((event, (state, None, updates)));
        }
        let event = match updates.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(_)) => resync(&state, &mut updates),
            Err(RecvError::Closed) => return None,
        };
        Some((event, (state, None, updates)))
    })
    .map(|event| Ok(to_sse(&event)))
    .take_until(state.cancelled());
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// A fresh full state, with `updates` replaced by a receiver that starts right after it.
fn resync(state: &AppState, updates: &mut broadcast::Receiver<Event>) -> Event {
    let (fresh, receiver) = state.subscribe();
    *updates = receiver;
    Event::State(Box::new(fresh))
}

fn to_sse(event: &Event) -> SseEvent {
    let data = serde_json::to_string(event).unwrap_or_else(|err| {
        tracing::error!("cannot encode {} event: {err}", event.name());
        String::from("{}")
    });
    SseEvent::default().event(event.name()).data(data)
}
