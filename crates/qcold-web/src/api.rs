//! The dashboard's only network code: every HTTP call goes through [`request::Call`], which
//! attaches the write token to writes and never to reads; the `/api/events` stream is a read (an
//! `EventSource` cannot carry headers, and never needs the token on loopback).

pub(crate) mod agents;
pub(crate) mod inbox;
pub(crate) mod node;
pub(crate) mod queue;
mod request;
pub(crate) mod tasks;
pub(crate) mod terminal;

use futures_util::StreamExt as _;
use gloo_net::eventsource::futures::EventSource;
use qcold_core::Event;
use qcold_core::api::StateResponse;

pub(crate) use self::request::ApiError;
use self::request::Call;
use crate::token::SessionToken;

/// Fetches the full state.
pub(crate) async fn fetch_state(token: SessionToken) -> Result<StateResponse, ApiError> {
    Call::get("/api/state").send(token).await
}

/// Follows `/api/events`, calling `on_event` for every event, until the stream fails. The
/// browser's `EventSource` reconnects by itself; each new connection starts with a full `state`
/// event, so nothing is missed across a reconnect.
pub(crate) async fn follow_events(mut on_event: impl FnMut(Event)) -> Result<(), String> {
    let mut source = EventSource::new("/api/events").map_err(|e| format!("{e:?}"))?;
    let mut streams = Vec::new();
    for name in Event::NAMES {
        streams.push(source.subscribe(name).map_err(|e| format!("{e:?}"))?);
    }
    let mut merged = futures_util::stream::select_all(streams);
    while let Some(message) = merged.next().await {
        match message {
            Ok((_, message)) => {
                let Some(data) = message.data().as_string() else { continue };
                match serde_json::from_str::<Event>(&data) {
                    Ok(event) => on_event(event),
                    Err(err) => leptos::logging::warn!("ignoring an event that does not parse: {err}"),
                }
            }
            Err(err) => leptos::logging::warn!("event stream error: {err:?}"),
        }
    }
    source.close();
    Err("the event stream ended".to_owned())
}
