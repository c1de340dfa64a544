//! One agent's terminal as a terminal emulator: the socket's output fed to the [`Emulator`], the
//! screen drawn as rows of spans (a row re-renders only when its spans change), keys, paste and
//! soft keys sent back, the size following the element.

use leptos::html;
use leptos::prelude::*;
use qcold_core::AgentId;
use qcold_core::agent::Key;
use qcold_core::terminal::{COLS, ClientMessage, MAX_INPUT_BYTES, ROWS};

use super::emulator::Emulator;
use super::keys;
use super::link::{Link, State, now_ms};
use super::screen::Span;
use crate::token::Access;

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

/// The `(rows, cols)` that fit `screen`, from one character's measured box.
fn fit(screen: NodeRef<html::Div>, measure: NodeRef<html::Span>) -> Option<(u16, u16)> {
    let (screen, measure) = (screen.get_untracked()?, measure.get_untracked()?);
    let cell = measure.get_bounding_client_rect();
    if cell.width() <= 0.0 || cell.height() <= 0.0 {
        return None;
    }
    let clamp = |v: f64, r: &std::ops::RangeInclusive<u32>| (v.floor() as u32).clamp(*r.start(), *r.end()) as u16;
    Some((
        clamp(f64::from(screen.client_height()) / cell.height(), &ROWS),
        clamp(f64::from(screen.client_width()) / cell.width(), &COLS),
    ))
}

/// The terminal of agent `id`.
#[component]
pub(crate) fn TerminalView(id: AgentId, access: Access) -> impl IntoView {
    let emulator = Emulator::new();
    let link = Link::new();
    let clock = RwSignal::new(now_ms());
    let screen_ref = NodeRef::<html::Div>::new();
    let measure_ref = NodeRef::<html::Span>::new();
    let input_ref = NodeRef::<html::Textarea>::new();

    let resize = move || {
        if let Some((r, c)) = fit(screen_ref, measure_ref)
            && emulator.resize(r, c)
        {
            link.send_size(emulator);
        }
    };
    let connect = StoredValue::new({
        let id = id.clone();
        move || link.connect(&id, access, emulator)
    });
    let started = StoredValue::new(false);
    Effect::new(move |_| {
        if screen_ref.get().is_some() && !started.get_value() {
            started.set_value(true);
            if let Some((r, c)) = fit(screen_ref, measure_ref) {
                emulator.resize(r, c);
            }
            connect.with_value(|connect| connect());
        }
    });
    let listener = window_event_listener(leptos::ev::resize, move |_| resize());
    let tick = set_interval_with_handle(move || clock.set(now_ms()), std::time::Duration::from_secs(1)).ok();
    on_cleanup(move || {
        listener.remove();
        if let Some(tick) = tick {
            tick.clear();
        }
        link.close();
    });

    let activity = move || match link.last_output.get() {
        None => "no output yet".to_owned(),
        Some(at) => {
            let ago = ((clock.get() - at) / 1000.0).max(0.0).floor() as u64;
            if ago < 5 { "active: output now".to_owned() } else { format!("idle: last output {ago} s ago") }
        }
    };
    let link_text = move || match link.state.get() {
        State::Connecting => "connecting…".to_owned(),
        State::Open => "connected".to_owned(),
        State::Ended(why) => why,
    };
    let soft_keys = SOFT_KEYS
        .into_iter()
        .map(|(label, key)| {
            let testid = format!("softkey-{key:?}");
            view! { <button type="button" data-testid=testid on:click=move |_| link.send(&ClientMessage::Key { key })>{label}</button> }
        })
        .collect_view();
    view! {
        <div class="terminal" data-testid="terminal" data-size=move || { let (c, r) = emulator.size.get(); format!("{c}x{r}") }>
            <div class="terminal-status">
                <span data-testid="terminal-link">{link_text}</span>
                <span data-testid="terminal-activity">{activity}</span>
                <Show when=move || emulator.alternate.get()><span data-testid="terminal-alternate">"alternate screen"</span></Show>
                <Show when=move || matches!(link.state.get(), State::Ended(_))>
                    <button type="button" data-testid="terminal-reconnect"
                        on:click=move |_| connect.with_value(|connect| connect())>"Reconnect"</button>
                </Show>
                {move || link.error.get().map(|e| view! { <span class="error" role="alert" data-testid="terminal-error">{e}</span> })}
            </div>
            <div class="screen" node_ref=screen_ref data-testid="terminal-screen"
                on:click=move |_| { if let Some(field) = input_ref.get_untracked() { let _ = field.focus(); } }>
                <span class="measure" node_ref=measure_ref aria-hidden="true">"M"</span>
                {move || emulator.rows.get().into_iter().map(|row| view! { <Row spans=row /> }).collect_view()}
                <KeyField field=input_ref emulator=emulator link=link />
            </div>
            <div class="softkeys" data-testid="softkeys">{soft_keys}</div>
        </div>
    }
}

/// The hidden text field that takes the keyboard: special keys as their bytes, typed text (also
/// a phone keyboard's or an IME's) as it arrives, paste in pieces (bracketed when asked).
#[component]
fn KeyField(field: NodeRef<html::Textarea>, emulator: Emulator, link: Link) -> impl IntoView {
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.is_composing() || ev.meta_key() || (ev.ctrl_key() && ev.shift_key()) {
            return;
        }
        if let Some(data) = keys::bytes(&ev.key(), ev.ctrl_key(), ev.alt_key(), emulator.application_cursor()) {
            ev.prevent_default();
            link.send(&ClientMessage::Input { data });
        }
    };
    let on_input = move |_| {
        let Some(field) = field.get_untracked() else { return };
        let typed = field.value();
        field.set_value("");
        if !typed.is_empty() {
            link.send(&ClientMessage::Input { data: typed.replace('\n', "\r") });
        }
    };
    let on_paste = move |ev: leptos::ev::ClipboardEvent| {
        let Some(text) = ev.clipboard_data().and_then(|d| d.get_data("text").ok()) else { return };
        ev.prevent_default();
        let text = text.replace("\r\n", "\r").replace('\n', "\r");
        let text = if emulator.bracketed_paste() { format!("\x1b[200~{text}\x1b[201~") } else { text };
        for chunk in chunks(&text, MAX_INPUT_BYTES) {
            link.send(&ClientMessage::Input { data: chunk.to_owned() });
        }
    };
    view! {
        <textarea
            class="keys"
            node_ref=field
            data-testid="terminal-input"
            aria-label="terminal input"
            autocomplete="off"
            autocapitalize="off"
            spellcheck="false"
            on:keydown=on_keydown
            on:input=on_input
            on:paste=on_paste
        ></textarea>
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
