//! One agent's terminal as a terminal emulator: the socket's output fed to a `vt100` parser, the
//! screen drawn as rows of spans (a row re-renders only when its spans change), keys, paste and
//! soft keys sent back, the size following the element.

use leptos::html;
use leptos::prelude::*;
use qcold_core::AgentId;
use qcold_core::agent::Key;
use qcold_core::terminal::{COLS, ClientMessage, MAX_INPUT_BYTES, ROWS, ServerMessage};

use super::keys;
use super::screen::{self, Span};
use crate::api::terminal::{self, Frame, TerminalSocket};
use crate::token::Access;

/// Whether the socket is up, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    Connecting,
    Open,
    Ended(String),
}

/// The soft-key bar: label, key, test id.
const SOFT_KEYS: [(&str, Key); 8] = [
    ("Esc", Key::Escape),
    ("Tab", Key::Tab),
    ("←", Key::Left),
    ("↑", Key::Up),
    ("↓", Key::Down),
    ("→", Key::Right),
    ("Ctrl-C", Key::CtrlC),
    ("Enter", Key::Enter),
];

/// Milliseconds since the epoch, the browser's clock.
fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The terminal of agent `id`.
#[component]
pub(crate) fn TerminalView(id: AgentId, access: Access) -> impl IntoView {
    let parser = StoredValue::new_local(vt100::Parser::new(24, 80, 0));
    let socket = StoredValue::new_local(None::<TerminalSocket>);
    let rows = RwSignal::new(Vec::<RwSignal<Vec<Span>>>::new());
    let link = RwSignal::new(Link::Connecting);
    let alternate = RwSignal::new(false);
    // (cols, rows), as the parser has it: what the last resize asked the pane for.
    let size = RwSignal::new((80u16, 24u16));
    let last_output = RwSignal::new(None::<f64>);
    let error = RwSignal::new(None::<String>);
    let clock = RwSignal::new(now_ms());
    let screen_ref = NodeRef::<html::Div>::new();
    let measure_ref = NodeRef::<html::Span>::new();
    let input_ref = NodeRef::<html::Textarea>::new();

    let refresh = move || {
        parser.with_value(|parser| {
            let screen = parser.screen();
            alternate.set(screen.alternate_screen());
            let (count, cols) = screen.size();
            if size.get_untracked() != (cols, count) {
                size.set((cols, count));
            }
            let current = rows.get_untracked();
            if current.len() != usize::from(count) {
                rows.set((0..count).map(|r| RwSignal::new(screen::row(screen, r))).collect());
                return;
            }
            for (r, row) in (0..count).zip(current) {
                let spans = screen::row(screen, r);
                if row.with_untracked(|old| *old != spans) {
                    row.set(spans);
                }
            }
        });
    };
    let send = move |message: ClientMessage| {
        let sent = socket.with_value(|s| s.as_ref().map(|s| s.send(&message)));
        match sent {
            Some(Ok(())) => error.set(None),
            Some(Err(err)) => error.set(Some(err)),
            None => error.set(Some("the terminal is not connected".to_owned())),
        }
    };
    // The size that fits the element, from one character's measured box.
    let fit = move || -> Option<(u16, u16)> {
        let (screen, measure) = (screen_ref.get_untracked()?, measure_ref.get_untracked()?);
        let cell = measure.get_bounding_client_rect();
        if cell.width() <= 0.0 || cell.height() <= 0.0 {
            return None;
        }
        let clamp = |v: f64, r: &std::ops::RangeInclusive<u32>| (v.floor() as u32).clamp(*r.start(), *r.end()) as u16;
        Some((
            clamp(f64::from(screen.client_height()) / cell.height(), &ROWS),
            clamp(f64::from(screen.client_width()) / cell.width(), &COLS),
        ))
    };
    let resize = move || {
        let Some((r, c)) = fit() else { return };
        if parser.with_value(|p| p.screen().size()) == (r, c) {
            return;
        }
        parser.update_value(|p| p.set_size(r, c));
        refresh();
        if link.get_untracked() == Link::Open {
            send(ClientMessage::Resize { cols: u32::from(c), rows: u32::from(r) });
        }
    };
    let connect = {
        let id = id.clone();
        move || {
            socket.set_value(None);
            parser.update_value(|p| {
                let (r, c) = p.screen().size();
                *p = vt100::Parser::new(r, c, 0);
            });
            refresh();
            link.set(Link::Connecting);
            // A plain cell, not an arena value: `connect` runs from the Reconnect button, whose
            // reactive owner is disposed as soon as the link leaves `Ended`.
            let exited = std::rc::Rc::new(std::cell::Cell::new(false));
            let id_for_refusal = id.clone();
            let opened = TerminalSocket::open(&id, access.token.get_untracked(), move |frame| match frame {
                Frame::Opened => {
                    link.set(Link::Open);
                    let (r, c) = parser.with_value(|p| p.screen().size());
                    send(ClientMessage::Resize { cols: u32::from(c), rows: u32::from(r) });
                }
                Frame::Output(bytes) => {
                    parser.update_value(|p| p.process(&bytes));
                    last_output.set(Some(now_ms()));
                    refresh();
                }
                Frame::Message(ServerMessage::Exit { code }) => {
                    exited.set(true);
                    let code =
                        code.map_or_else(|| "no exit code: it was killed".to_owned(), |c| format!("exit code {c}"));
                    link.set(Link::Ended(format!("the session ended ({code})")));
                }
                Frame::Message(ServerMessage::Error { message }) => error.set(Some(message)),
                Frame::Closed { code, reason, opened } => {
                    if exited.get() {
                        return;
                    }
                    if opened {
                        let reason = if reason.is_empty() { String::new() } else { format!(": {reason}") };
                        link.set(Link::Ended(format!("the connection closed (code {code}{reason})")));
                    } else {
                        link.set(Link::Ended("the daemon refused the terminal".to_owned()));
                        let id = id_for_refusal.clone();
                        leptos::task::spawn_local(async move {
                            link.set(Link::Ended(terminal::refusal(access.token, &id).await));
                        });
                    }
                }
            });
            match opened {
                Ok(opened) => socket.set_value(Some(opened)),
                Err(err) => link.set(Link::Ended(err)),
            }
        }
    };
    let started = StoredValue::new(false);
    Effect::new({
        let connect = connect.clone();
        move |_| {
            if screen_ref.get().is_some() && !started.get_value() {
                started.set_value(true);
                if let Some((r, c)) = fit() {
                    parser.update_value(|p| p.set_size(r, c));
                }
                connect();
            }
        }
    });
    let listener = window_event_listener(leptos::ev::resize, move |_| resize());
    let tick = set_interval_with_handle(move || clock.set(now_ms()), std::time::Duration::from_secs(1)).ok();
    on_cleanup(move || {
        listener.remove();
        if let Some(tick) = tick {
            tick.clear();
        }
        socket.set_value(None);
    });

    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.is_composing() || ev.meta_key() || (ev.ctrl_key() && ev.shift_key()) {
            return;
        }
        let app_cursor = parser.with_value(|p| p.screen().application_cursor());
        if let Some(data) = keys::bytes(&ev.key(), ev.ctrl_key(), ev.alt_key(), app_cursor) {
            ev.prevent_default();
            send(ClientMessage::Input { data });
        }
    };
    let on_input = move |_| {
        let Some(field) = input_ref.get_untracked() else { return };
        let typed = field.value();
        field.set_value("");
        if !typed.is_empty() {
            send(ClientMessage::Input { data: typed.replace('\n', "\r") });
        }
    };
    let on_paste = move |ev: leptos::ev::ClipboardEvent| {
        let Some(text) = ev.clipboard_data().and_then(|d| d.get_data("text").ok()) else { return };
        ev.prevent_default();
        let bracketed = parser.with_value(|p| p.screen().bracketed_paste());
        let text = text.replace("\r\n", "\r").replace('\n', "\r");
        let text = if bracketed { format!("\x1b[200~{text}\x1b[201~") } else { text };
        for chunk in chunks(&text, MAX_INPUT_BYTES) {
            send(ClientMessage::Input { data: chunk.to_owned() });
        }
    };
    let focus = move |_| {
        if let Some(field) = input_ref.get_untracked() {
            let _ = field.focus();
        }
    };

    let activity = move || match last_output.get() {
        None => "no output yet".to_owned(),
        Some(at) => {
            let ago = ((clock.get() - at) / 1000.0).max(0.0).floor() as u64;
            if ago < 5 { "active: output now".to_owned() } else { format!("idle: last output {ago} s ago") }
        }
    };
    let link_text = move || match link.get() {
        Link::Connecting => "connecting…".to_owned(),
        Link::Open => "connected".to_owned(),
        Link::Ended(why) => why,
    };
    let soft_keys = SOFT_KEYS
        .into_iter()
        .map(|(label, key)| {
            let testid = format!("softkey-{key:?}");
            view! { <button type="button" data-testid=testid on:click=move |_| send(ClientMessage::Key { key })>{label}</button> }
        })
        .collect_view();
    view! {
        <div class="terminal" data-testid="terminal" data-size=move || { let (c, r) = size.get(); format!("{c}x{r}") }>
            <div class="terminal-status">
                <span data-testid="terminal-link">{link_text}</span>
                <span data-testid="terminal-activity">{activity}</span>
                <Show when=move || alternate.get()><span data-testid="terminal-alternate">"alternate screen"</span></Show>
                <Show when=move || matches!(link.get(), Link::Ended(_))>
                    <button type="button" data-testid="terminal-reconnect" on:click={
                        let connect = connect.clone();
                        move |_| connect()
                    }>"Reconnect"</button>
                </Show>
                {move || error.get().map(|e| view! { <span class="error" role="alert" data-testid="terminal-error">{e}</span> })}
            </div>
            <div class="screen" node_ref=screen_ref data-testid="terminal-screen" on:click=focus>
                <span class="measure" node_ref=measure_ref aria-hidden="true">"M"</span>
                {move || rows.get().into_iter().map(|row| view! { <Row spans=row /> }).collect_view()}
                <textarea
                    class="keys"
                    node_ref=input_ref
                    data-testid="terminal-input"
                    aria-label="terminal input"
                    autocomplete="off"
                    autocapitalize="off"
                    spellcheck="false"
                    on:keydown=on_keydown
                    on:input=on_input
                    on:paste=on_paste
                ></textarea>
            </div>
            <div class="softkeys" data-testid="softkeys">{soft_keys}</div>
        </div>
    }
}

#[component]
fn Row(spans: RwSignal<Vec<Span>>) -> impl IntoView {
    view! {
        <div class="row">
            {move || spans.get().into_iter().map(|s| view! { <span class=s.class style=s.style>{s.text}</span> }).collect_view()}
        </div>
    }
}

/// `text` in pieces of at most `max` bytes, split at character boundaries.
fn chunks(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        pieces.push(&rest[..end]);
        rest = &rest[end..];
    }
    pieces
}
