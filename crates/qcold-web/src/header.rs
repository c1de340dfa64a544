//! The header on every page: name, build, navigation, the live-update status, the write-token
//! field, and the read-only note when writes need a token the session lacks.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::token::Access;

/// Whether the dashboard is receiving live updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Link {
    Connecting,
    Live,
    Broken(String),
}

/// The header.
#[component]
pub(crate) fn Header(build_id: Signal<String>, link: ReadSignal<Link>, access: Access) -> impl IntoView {
    let link_text = move || match link.get() {
        Link::Connecting => "connecting…".to_owned(),
        Link::Live => "live".to_owned(),
        Link::Broken(err) => format!("disconnected: {err}"),
    };
    view! {
        <header>
            <div class="bar">
                <h1>"Q-COLD"</h1>
                <span class="build" data-testid="build-id">{build_id}</span>
                <nav data-testid="nav">
                    <A href="/">"Inbox"</A>
                    <A href="/node">"Node"</A>
                    <A href="/agents">"Agents"</A>
                    <A href="/queue">"Queue"</A>
                    <A href="/tasks">"Tasks"</A>
                    <A href="/terminals">"Terminals"</A>
                </nav>
                <span class="connection" data-testid="connection">{link_text}</span>
                <TokenField access=access />
            </div>
            <Show when=move || access.read_only()>
                <p class="read-only" data-testid="read-only-note">
                    "Read-only: this daemon refuses changes without its write token. Enter it in the "
                    "“write token” field above to enable them for this browser session; "
                    <code>"qcold serve token new"</code>
                    " makes one (kept in the state dir as "
                    <code>"webapp-write-token"</code>
                    ")."
                </p>
            </Show>
            <Show when=move || access.telegram() && access.token.get().is_none()>
                <p class="telegram-note" data-testid="telegram-note">
                    "Opened from Telegram: changes are signed with your Telegram account; the daemon accepts them only from allowed users."
                </p>
            </Show>
        </header>
    }
}

/// The write-token field: enter a token for this session, or clear the one held.
#[component]
fn TokenField(access: Access) -> impl IntoView {
    let token = access.token;
    let draft = RwSignal::new(String::new());
    let save = move |ev: leptos::ev::SubmitEvent| {
        // The form must never submit: a GET form would put the token in the URL.
        ev.prevent_default();
        token.set(&draft.get_untracked());
        draft.set(String::new());
    };
    view! {
        <Show
            when=move || token.get().is_some()
            fallback=move || view! {
                <form class="token" data-testid="token-form" on:submit=save>
                    <input
                        type="password"
                        autocomplete="off"
                        placeholder="write token"
                        aria-label="write token"
                        data-testid="token-input"
                        prop:value=move || draft.get()
                        on:input=move |ev| draft.set(event_target_value(&ev))
                    />
                    <button type="submit" data-testid="token-save">"Use"</button>
                </form>
            }
        >
            <span class="token" data-testid="token-held">
                "write token set "
                <button type="button" data-testid="token-clear" on:click=move |_| token.clear()>"Clear"</button>
            </span>
        </Show>
    }
}
