//! A terminal agent's live socket (`/api/agents/{id}/terminal`) and its label: the only code that
//! opens a WebSocket. The write token, when the session has one, rides as the second offered
//! subprotocol `qcold-token.<token>`, since a browser cannot set headers on a WebSocket; inside
//! Telegram the launch's `initData` rides the same way, as `qcold-telegram.<base64url>`.

use std::cell::RefCell;
use std::rc::Rc;

use qcold_core::AgentId;
use qcold_core::agent::AgentRecord;
use qcold_core::api::agents::LabelRequest;
use qcold_core::terminal::{ClientMessage, PROTOCOL, ServerMessage, TELEGRAM_PROTOCOL_PREFIX, TOKEN_PROTOCOL_PREFIX};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use super::ApiError;
use super::request::Call;
use crate::token::SessionToken;

/// `POST /api/agents/{id}/label`: renames or rescopes an agent.
pub(crate) async fn label(token: SessionToken, id: &AgentId, request: &LabelRequest) -> Result<AgentRecord, ApiError> {
    Call::post(format!("/api/agents/{id}/label"), request)?.send(token).await
}

/// Why the socket for `id` cannot open: a browser learns nothing from a refused upgrade, so the
/// same path is asked again as a plain GET with the socket's credentials, which the daemon refuses
/// with its reason: 401/403 for a bad Telegram `initData`, 404 for an unknown agent, 409 for one
/// without a terminal. The daemon checks the session itself only for a
/// real upgrade, so a 400 "this route is a WebSocket" leaves an ended session to the agent's state.
pub(crate) async fn refusal(token: SessionToken, id: &AgentId) -> String {
    match Call::get(format!("/api/agents/{id}/terminal"))
        .with_socket_credentials()
        .send::<serde_json::Value>(token)
        .await
    {
        Err(ApiError::Refused { status: 400, .. }) => {
            "the daemon refused the terminal (its session may have ended: see the agent's state)".to_owned()
        }
        Err(err) => err.to_string(),
        Ok(_) => "the connection dropped".to_owned(),
    }
}

/// What the socket delivers.
#[derive(Debug)]
pub(crate) enum Frame {
    /// The socket is open.
    Opened,
    /// Raw terminal output.
    Output(Vec<u8>),
    /// A message from the daemon.
    Message(ServerMessage),
    /// The socket closed; `opened` says whether it ever opened.
    Closed { code: u16, reason: String, opened: bool },
}

type Handlers = (Closure<dyn FnMut()>, Closure<dyn FnMut(MessageEvent)>, Closure<dyn FnMut(CloseEvent)>);

/// `text` (ASCII: `initData` is URL-encoded) as unpadded base64url, with the browser's `btoa`.
fn base64url(text: &str) -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let standard = window.btoa(text).map_err(|e| format!("cannot encode initData: {e:?}"))?;
    Ok(standard.trim_end_matches('=').replace('+', "-").replace('/', "_"))
}

/// An open (or opening) terminal socket; closed when dropped.
pub(crate) struct TerminalSocket {
    socket: WebSocket,
    _handlers: Handlers,
}

impl TerminalSocket {
    /// Opens the socket of agent `id`, calling `on_frame` for everything it delivers.
    pub(crate) fn open(
        id: &AgentId,
        token: SessionToken,
        on_frame: impl FnMut(Frame) + 'static,
    ) -> Result<Self, String> {
        let location = web_sys::window().ok_or("no window")?.location();
        let scheme = if location.protocol().map_err(|e| format!("{e:?}"))? == "https:" { "wss" } else { "ws" };
        let host = location.host().map_err(|e| format!("{e:?}"))?;
        let url = format!("{scheme}://{host}/api/agents/{id}/terminal");
        let protocols = js_sys::Array::new();
        protocols.push(&PROTOCOL.into());
        if let Some(token) = token.get_untracked() {
            protocols.push(&format!("{TOKEN_PROTOCOL_PREFIX}{token}").into());
        }
        if let Some(init_data) = token.telegram_init_data() {
            protocols.push(&format!("{TELEGRAM_PROTOCOL_PREFIX}{}", base64url(&init_data)?).into());
        }
        let socket = WebSocket::new_with_str_sequence(&url, &protocols).map_err(|e| format!("{e:?}"))?;
        socket.set_binary_type(BinaryType::Arraybuffer);
        let on_frame = Rc::new(RefCell::new(on_frame));
        let opened = Rc::new(std::cell::Cell::new(false));

        let on_open = Closure::<dyn FnMut()>::new({
            let (on_frame, opened) = (on_frame.clone(), opened.clone());
            move || {
                opened.set(true);
                (on_frame.borrow_mut())(Frame::Opened);
            }
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
            let on_frame = on_frame.clone();
            move |event: MessageEvent| {
                let data = event.data();
                let frame = if let Some(text) = data.as_string() {
                    match serde_json::from_str::<ServerMessage>(&text) {
                        Ok(message) => Frame::Message(message),
                        Err(err) => {
                            leptos::logging::warn!("ignoring a terminal message that does not parse: {err}");
                            return;
                        }
                    }
                } else if let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() {
                    Frame::Output(js_sys::Uint8Array::new(&buffer).to_vec())
                } else {
                    return;
                };
                (on_frame.borrow_mut())(frame);
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            (on_frame.borrow_mut())(Frame::Closed { code: event.code(), reason: event.reason(), opened: opened.get() });
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Self { socket, _handlers: (on_open, on_message, on_close) })
    }

    /// Sends one message; a socket not open (yet, or any more) drops it and says so.
    pub(crate) fn send(&self, message: &ClientMessage) -> Result<(), String> {
        if self.socket.ready_state() != WebSocket::OPEN {
            return Err("the terminal is not connected".to_owned());
        }
        let text = serde_json::to_string(message).map_err(|e| e.to_string())?;
        self.socket.send_with_str(&text).map_err(|e| format!("{e:?}"))
    }
}

impl Drop for TerminalSocket {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}
