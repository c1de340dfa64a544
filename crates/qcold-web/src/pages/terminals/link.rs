//! The terminal's connection: the socket to the daemon, whether it is up (and if not, why), the
//! last output's time, and the last error — with connect and send.

use leptos::prelude::*;
use qcold_core::AgentId;
use qcold_core::terminal::{ClientMessage, ServerMessage};

use super::emulator::Emulator;
use crate::api::terminal::{self, Frame, TerminalSocket};
use crate::token::Access;

/// Whether the socket is up, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum State {
    Connecting,
    Open,
    Ended(String),
}

/// Milliseconds since the epoch, the browser's clock.
pub(super) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// One agent's connection. `Copy`: handlers take it by value.
#[derive(Clone, Copy)]
pub(super) struct Link {
    socket: StoredValue<Option<TerminalSocket>, LocalStorage>,
    /// Up, or why not.
    pub(super) state: RwSignal<State>,
    /// When output last arrived, browser milliseconds.
    pub(super) last_output: RwSignal<Option<f64>>,
    /// The last failure to send, or the daemon's error message.
    pub(super) error: RwSignal<Option<String>>,
}

impl Link {
    /// Not yet connected.
    pub(super) fn new() -> Self {
        Self {
            socket: StoredValue::new_local(None),
            state: RwSignal::new(State::Connecting),
            last_output: RwSignal::new(None),
            error: RwSignal::new(None),
        }
    }

    /// Sends a message, or says why it cannot be.
    pub(super) fn send(self, message: &ClientMessage) {
        let sent = self.socket.with_value(|s| s.as_ref().map(|s| s.send(message)));
        match sent {
            Some(Ok(())) => self.error.set(None),
            Some(Err(err)) => self.error.set(Some(err)),
            None => self.error.set(Some("the terminal is not connected".to_owned())),
        }
    }

    /// Tells the pane the emulator's size, if connected.
    pub(super) fn send_size(self, emulator: Emulator) {
        if self.state.get_untracked() == State::Open {
            let (r, c) = emulator.dimensions();
            self.send(&ClientMessage::Resize { cols: u32::from(c), rows: u32::from(r) });
        }
    }

    /// Drops the socket (the page goes away).
    pub(super) fn close(self) {
        self.socket.set_value(None);
    }

    /// (Re)connects to agent `id`, feeding `emulator` from a blank screen.
    pub(super) fn connect(self, id: &AgentId, access: Access, emulator: Emulator) {
        self.socket.set_value(None);
        emulator.reset();
        self.state.set(State::Connecting);
        // A plain cell, not an arena value: `connect` runs from the Reconnect button, whose
        // reactive owner is disposed as soon as the state leaves `Ended`.
        let exited = std::rc::Rc::new(std::cell::Cell::new(false));
        let refused_id = id.clone();
        let opened = TerminalSocket::open(id, access.token, move |frame| match frame {
            Frame::Opened => {
                self.state.set(State::Open);
                self.send_size(emulator);
            }
            Frame::Output(bytes) => {
                emulator.process(&bytes);
                self.last_output.set(Some(now_ms()));
            }
            Frame::Message(ServerMessage::Exit { code }) => {
                exited.set(true);
                let code = code.map_or_else(|| "no exit code: it was killed".to_owned(), |c| format!("exit code {c}"));
                self.state.set(State::Ended(format!("the session ended ({code})")));
            }
            Frame::Message(ServerMessage::Error { message }) => self.error.set(Some(message)),
            Frame::Closed { code, reason, opened } => {
                if exited.get() {
                    return;
                }
                if opened {
                    let reason = if reason.is_empty() { String::new() } else { format!(": {reason}") };
                    self.state.set(State::Ended(format!("the connection closed (code {code}{reason})")));
                } else {
                    self.state.set(State::Ended("the daemon refused the terminal".to_owned()));
                    let id = refused_id.clone();
                    let state = self.state;
                    leptos::task::spawn_local(async move {
                        state.set(State::Ended(terminal::refusal(access.token, &id).await));
                    });
                }
            }
        });
        match opened {
            Ok(opened) => self.socket.set_value(Some(opened)),
            Err(err) => self.state.set(State::Ended(err)),
        }
    }
}
