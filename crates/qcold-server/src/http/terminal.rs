//! `GET /api/agents/{id}/terminal`: an agent's live terminal as a WebSocket.
//!
//! The socket first carries the pane's current screen, then its output as tmux produces it
//! (binary frames), and takes [`ClientMessage`]s (JSON text frames) as keystrokes and resizes.
//! Refusals and the end of the session are [`ServerMessage`]s. The terminal itself is an
//! [`agents::terminal::LiveTerminal`]; the store is only read, before it attaches.

use std::path::Path;
use std::time::Duration;

use axum::extract::ws::{
    CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Path as UrlPath, State};
use axum::response::Response;
use qcold_core::AgentId;
use qcold_core::agent::AgentRecord;
use qcold_core::terminal::{ClientMessage, PROTOCOL, ServerMessage};

use super::{Answer, ApiError, Route};
use crate::agents::terminal::{LiveTerminal, TerminalError, Update};
use crate::agents::tmux::Tmux;
use crate::agents::wrapper;
use crate::app::AppState;
use axum::http::Method;

/// The largest frame a client may send; an `input` holds at most
/// [`qcold_core::terminal::MAX_INPUT_BYTES`], which JSON escaping can grow a few times.
const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// How long a closing socket waits for the client to answer the close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The terminal route.
pub fn routes() -> Vec<Route> {
    let summary = "an agent's live terminal (WebSocket): screen, output, keystrokes";
    vec![
        Route::with(Method::GET, "/api/agents/{id}/terminal", summary, axum::routing::get(open))
            .answering(Answer::WebSocket),
    ]
}

/// Finds the agent (404), checks it has a terminal (409), attaches to it (409 when its session
/// has ended), then upgrades. Attaching before the upgrade lets a dead session answer with a
/// status instead of a socket that closes at once.
async fn open(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::not_found(format!("no agent {id}"));
    let agent_id: AgentId = id.parse().map_err(|_| unknown())?;
    let agent = state
        .with_store(move |store| store.agent(&agent_id))
        .await?
        .map_err(ApiError::internal)?
        .ok_or_else(unknown)?;
    let Some(terminal) = &agent.terminal else {
        return Err(ApiError::conflict(format!("agent {id} runs without a terminal")));
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            let message = format!("this route is a WebSocket: {}", rejection.body_text());
            return Err(ApiError::new(qcold_core::api::ErrorKind::BadRequest, message));
        }
    };
    let (live, screen) =
        LiveTerminal::attach(&Tmux::new(&state.config().state_dir), terminal).await.map_err(|err| match err {
            TerminalError::Gone { .. } => ApiError::conflict(err.to_string()),
            other => ApiError::internal(other),
        })?;
    let open = state.connection_token();
    Ok(upgrade.protocols([PROTOCOL]).max_message_size(MAX_FRAME_BYTES).on_upgrade(move |socket| async move {
        serve(socket, live, screen, state, agent).await;
        drop(open);
    }))
}

/// Pumps output to the socket and client messages to tmux until one side ends or the daemon
/// shuts down.
async fn serve(mut socket: WebSocket, mut live: LiveTerminal, screen: Vec<u8>, state: AppState, agent: AgentRecord) {
    if socket.send(Message::Binary(screen.into())).await.is_err() {
        return;
    }
    let mut shutdown = std::pin::pin!(state.cancelled());
    loop {
        tokio::select! {
            () = &mut shutdown => {
                close(socket, close_code::AWAY, "the daemon is shutting down").await;
                return;
            }
            update = live.next() => match update {
                Update::Output(bytes) => {
                    if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        return;
                    }
                }
                Update::Refused(message) => {
                    if send(&mut socket, &ServerMessage::Error { message }).await.is_err() {
                        return;
                    }
                }
                Update::Ended => {
                    // tmux may have dropped the pane's last output on its way here; the screen
                    // its wrapper kept paints it whole.
                    let exit_file = Path::new(&agent.exit_file);
                    if let Some(screen) = wrapper::kept_screen(exit_file)
                        && socket.send(Message::Binary(screen.painted().into())).await.is_err()
                    {
                        return;
                    }
                    let code = wrapper::recorded(exit_file);
                    if send(&mut socket, &ServerMessage::Exit { code }).await.is_ok() {
                        close(socket, close_code::NORMAL, "the terminal session ended").await;
                    }
                    return;
                }
            },
            frame = socket.recv() => {
                let reply = match frame {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(Message::Text(text))) => apply(&mut live, &text).await.err(),
                    Some(Ok(Message::Binary(_))) => {
                        Some("binary frames are not accepted; send JSON text frames".to_owned())
                    }
                    // Pings are answered by axum itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                };
                if let Some(message) = reply
                    && send(&mut socket, &ServerMessage::Error { message }).await.is_err()
                {
                    return;
                }
            }
        }
    }
}

/// Parses one client message and hands it to tmux; the error is the message to send back.
async fn apply(live: &mut LiveTerminal, text: &str) -> Result<(), String> {
    let message = ClientMessage::parse(text).map_err(|err| err.to_string())?;
    let sent = match message {
        ClientMessage::Input { data } => live.input(data.as_bytes()).await,
        ClientMessage::Key { key } => live.key(key).await,
        ClientMessage::Resize { cols, rows } => {
            // Validated within 2..=1000 × 1..=500, so both fit.
            let (cols, rows) = (u16::try_from(cols).unwrap_or(u16::MAX), u16::try_from(rows).unwrap_or(u16::MAX));
            live.resize(cols, rows).await
        }
    };
    sent.map_err(|err| {
        tracing::warn!("terminal input not delivered: {err}");
        format!("not delivered: {err}")
    })
}

async fn send(socket: &mut WebSocket, message: &ServerMessage) -> Result<(), axum::Error> {
    let json = serde_json::to_string(message).unwrap_or_else(|_| String::from("{}"));
    socket.send(Message::Text(json.into())).await
}

/// Sends a close frame and waits (bounded) for the client's, so the close is a clean one.
async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    if socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(Ok(frame)) = socket.recv().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
