//! The dashboard's network IO: one fetch of `/api/state`, then the `/api/events` stream.

use futures_util::StreamExt as _;
use gloo_net::eventsource::futures::EventSource;
use qcold_core::Event;
use qcold_core::api::StateResponse;

/// Fetches the full state.
pub(crate) async fn fetch_state() -> Result<StateResponse, String> {
    let response = gloo_net::http::Request::get("/api/state").send().await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("/api/state answered {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
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
