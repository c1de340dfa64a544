//! The inbox (`/`, the home page): everything that needs the operator, as
//! [`qcold_core::inbox::needs_you`] decides it from the state, each entry with its actions.
//!
//! The list is keyed by [`Attention::key`], and each entry reads its current content by that
//! key, so an update of one entry never re-renders another, and never the reason an operator is
//! typing into an entry's "clear task" field. `now` ticks every 30 s besides every update, so a
//! daemon that went quiet shows as a stale node even though no event says so.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;
use qcold_core::agent::AgentState;
use qcold_core::inbox::{Action, Attention, needs_you};

use crate::api;
use crate::store::Fleet;
use crate::token::Access;

/// The page.
#[component]
pub(crate) fn Inbox(fleet: Fleet, access: Access) -> impl IntoView {
    let now = RwSignal::new(unix_now());
    match set_interval_with_handle(move || now.set(unix_now()), Duration::from_secs(30)) {
        Ok(handle) => on_cleanup(move || handle.clear()),
        Err(err) => leptos::logging::warn!("no clock for the inbox: {err:?}"),
    }
    // Recomputed on every state change (at that moment's time) and on every tick.
    let entries = Memo::new(move |_| {
        now.track();
        fleet.with(|s| needs_you(s, unix_now()))
    });
    let keys = move || entries.with(|e| e.iter().flatten().map(Attention::key).collect::<Vec<_>>());
    view! {
        <section class="inbox" data-testid="inbox">
            <h2>"Needs you"</h2>
            {move || match entries.with(|e| e.as_ref().map(Vec::is_empty)) {
                None => view! { <p class="empty">"Loading…"</p> }.into_any(),
                Some(true) => view! { <AllClear fleet=fleet /> }.into_any(),
                Some(false) => ().into_any(),
            }}
            <ul class="entries">
                <For
                    each=keys
                    key=|key| key.clone()
                    children=move |key| view! { <Entry key=key entries=entries now=now access=access /> }
                />
            </ul>
        </section>
    }
}

/// The empty inbox: a short summary of what runs.
#[component]
fn AllClear(fleet: Fleet) -> impl IntoView {
    let summary = move || {
        fleet
            .with(|s| {
                let runs = s.queue.runs.iter().filter(|r| r.items.iter().any(|i| i.status.is_in_flight())).count();
                let agents = s.agents.iter().filter(|a| a.state == AgentState::Running).count();
                format!("{} in flight, {} running.", plural(runs, "run"), plural(agents, "agent"))
            })
            .unwrap_or_default()
    };
    view! {
        <p class="empty" data-testid="inbox-empty">"Nothing needs you."</p>
        <p class="summary" data-testid="inbox-summary">{summary}</p>
    }
}

/// One entry, read by `key` from the current list.
#[component]
fn Entry(key: String, entries: Memo<Option<Vec<Attention>>>, now: RwSignal<i64>, access: Access) -> impl IntoView {
    let lookup = key.clone();
    let entry = Memo::new(move |_| entries.with(|e| e.iter().flatten().find(|a| a.key() == lookup).cloned()));
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let pending = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let act = move |action: Action| {
        pending.set(true);
        leptos::task::spawn_local(async move {
            let result = api::inbox::perform(access.token, &action, reason.get_untracked().trim()).await;
            outcome.set(result.map(|r| {
                r.map_err(|err| {
                    if err.is_unauthorized() {
                        format!("{err} — enter the daemon's write token in the header field")
                    } else {
                        err.to_string()
                    }
                })
            }));
            pending.set(false);
        });
    };
    let write_disabled = move || pending.get() || access.read_only();
    // Only a change of the actions themselves re-renders them (and the reason field among them).
    let action_list = Memo::new(move |_| entry.with(|e| e.as_ref().map(|e| e.actions.clone()).unwrap_or_default()));
    let actions = move || {
        action_list
            .get()
            .into_iter()
            .map(|action| match action {
                Action::ContinueRun { .. } | Action::ClearRun { .. } => {
                    let (testid, label) = if matches!(action, Action::ContinueRun { .. }) {
                        ("inbox-action-continue-run", "continue")
                    } else {
                        ("inbox-action-clear-run", "clear run")
                    };
                    view! {
                        <button type="button" data-testid=testid disabled=write_disabled
                            title=move || if access.read_only() { "read-only: writes need the write token" } else { "" }
                            on:click=move |_| act(action.clone())>{label}</button>
                    }
                    .into_any()
                }
                Action::ClearTask { .. } => view! {
                    <span class="clear-task">
                        <input type="text" placeholder="why clear the task?" aria-label="reason for clearing the task"
                            data-testid="inbox-clear-reason"
                            prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev)) />
                        <button type="button" data-testid="inbox-action-clear-task"
                            disabled=move || write_disabled() || reason.with(|r| r.trim().is_empty())
                            on:click=move |_| act(action.clone())>"clear task"</button>
                    </span>
                }
                .into_any(),
                Action::OpenTerminal { agent_id } => view! {
                    <A href=format!("/terminals/{agent_id}") attr:data-testid="inbox-open-terminal">"terminal"</A>
                }
                .into_any(),
                Action::OpenTask { task_id } => {
                    view! { <A href=format!("/tasks/{task_id}") attr:data-testid="inbox-open-task">"task"</A> }
                        .into_any()
                }
                Action::OpenRun { .. } => {
                    view! { <A href="/queue" attr:data-testid="inbox-open-run">"queue"</A> }.into_any()
                }
            })
            .collect_view()
    };
    let kind = move || entry.with(|e| e.as_ref().map_or("", |e| e.kind.as_str()));
    let age = move || entry.with(|e| e.as_ref().and_then(|e| e.since).map(|since| ago(since, now.get())));
    view! {
        <li class="entry" data-testid=format!("inbox-entry-{key}") data-kind=kind>
            <div class="head">
                <span class=move || format!("kind {}", kind()) data-testid="inbox-kind">{kind}</span>
                <span class="title" data-testid="inbox-title">{move || entry.with(|e| e.as_ref().map(|e| e.title.clone()))}</span>
                <span class="age">{age}</span>
            </div>
            <p class="detail" data-testid="inbox-detail">{move || entry.with(|e| e.as_ref().map(|e| e.detail.clone()))}</p>
            <div class="actions">{actions}</div>
            {move || match outcome.get() {
                Some(Ok(message)) => view! { <p class="ok" data-testid="inbox-outcome-ok">{message}</p> }.into_any(),
                Some(Err(error)) => {
                    view! { <p class="error" role="alert" data-testid="inbox-outcome-error">{error}</p> }.into_any()
                }
                None => ().into_any(),
            }}
        </li>
    }
}

/// The browser's clock, Unix seconds.
pub(crate) fn unix_now() -> i64 {
    (web_sys::js_sys::Date::now() / 1000.0) as i64
}

/// "just now", "3 min ago", "2 h ago", "4 d ago".
pub(crate) fn ago(since: i64, now: i64) -> String {
    let secs = (now - since).max(0);
    match secs {
        0..60 => "just now".to_owned(),
        60..3_600 => format!("{} min ago", secs / 60),
        3_600..86_400 => format!("{} h ago", secs / 3_600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}
