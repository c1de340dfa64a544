//! The terminals pages: `/terminals` lists every terminal agent with its label, state and
//! activity; `/terminals/{agent_id}` is one agent's live terminal.

mod emulator;
mod keys;
mod link;
mod screen;
mod view;

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use qcold_core::AgentId;
use qcold_core::agent::{AgentState, AgentView};
use qcold_core::api::StateResponse;
use qcold_core::api::agents::LabelRequest;

use self::view::TerminalView;
use crate::api;
use crate::store::Fleet;
use crate::token::Access;

/// What is known of an agent's activity without its socket: its state, and the stall watch's
/// verdict on the queue item it runs — never its screen.
fn activity(state: &StateResponse, agent: &AgentView) -> String {
    let stalled = state
        .queue
        .runs
        .iter()
        .flat_map(|run| &run.items)
        .find(|item| item.agent_id.as_deref() == Some(agent.agent.id.as_str()))
        .and_then(|item| item.stalled_since);
    match (&agent.state, stalled) {
        (AgentState::Running, Some(since)) => format!(
            "stalled: no sign of life for {}",
            qcold_core::units::format_duration(u64::try_from(state.generated_at - since).unwrap_or(0))
        ),
        (AgentState::Running, None) => "running".to_owned(),
        (AgentState::Exited { code }, _) => format!("exited {code}"),
        (AgentState::Vanished, _) => "vanished".to_owned(),
    }
}

/// `/terminals`: every terminal agent, keyed by id: an update redraws only the agent it changed,
/// and never a label being typed.
#[component]
pub(crate) fn TerminalsPage(fleet: Fleet, access: Access) -> impl IntoView {
    let ids = Memo::new(move |_| {
        fleet.agents.with_keys(|keys| {
            keys.iter()
                .filter(|id| fleet.agents.get(id).is_some_and(|a| a.agent.terminal.is_some()))
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    view! {
        <section class="terminals" data-testid="terminals">
            <h2>"Terminals"</h2>
            {move || match (fleet.loaded(), ids.with(Vec::is_empty)) {
                (false, _) => view! { <p class="empty">"Loading…"</p> }.into_any(),
                (true, true) => view! {
                    <p class="empty">"No terminal agents. Start one with " <code>"qcold agent start --terminal -- bash"</code> "."</p>
                }.into_any(),
                (true, false) => ().into_any(),
            }}
            <For each=move || ids.get() key=|id| id.clone()
                children=move |id| fleet.agents.row(&id).map(|agent| view! { <TerminalEntry fleet=fleet agent=agent access=access /> }) />
        </section>
    }
}

/// One entry of the list: the agent's title (a link to its terminal), place, activity and label.
#[component]
fn TerminalEntry(fleet: Fleet, agent: ReadSignal<AgentView>, access: Access) -> impl IntoView {
    let id = agent.with_untracked(|a| a.agent.id.clone());
    let (title, activity) = described(fleet, agent);
    let place = move || agent.with(|a| format!("{} · {}", a.agent.track, a.agent.cwd));
    view! {
        <div class="terminal-entry" data-testid=format!("terminal-entry-{id}")>
            <A href=format!("/terminals/{id}")>{title}</A>
            <span class="reason">{place}</span>
            <span class="state" data-testid="terminal-entry-activity">{activity}</span>
            <LabelEditor agent=agent access=access />
        </div>
    }
}

/// An agent's title (its name, else its id) and its activity, each following the agent.
fn described(
    fleet: Fleet,
    agent: ReadSignal<AgentView>,
) -> (impl Fn() -> String + Copy + Send + Sync + 'static, impl Fn() -> String + Copy + Send + Sync + 'static) {
    let title = move || agent.with(|a| a.agent.name.clone().unwrap_or_else(|| a.agent.id.to_string()));
    let activity = move || agent.with(|agent| fleet.with(|s| activity(s, agent)).unwrap_or_default());
    (title, activity)
}

/// `/terminals/{agent_id}`: one agent's terminal, with its label.
#[component]
pub(crate) fn TerminalPage(fleet: Fleet, access: Access) -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("agent_id").and_then(|id| id.parse::<AgentId>().ok())));
    // Changes only when the agent appears, goes, or gains a terminal: the heading, label and
    // terminal below are built once per agent and follow it from there.
    let known = Memo::new(move |_| {
        let agent = fleet.agents.get(&id.get()?)?;
        Some((agent.agent.id, agent.agent.terminal.is_some()))
    });
    view! {
        <section class="terminal-page" data-testid="terminal-page">
            <p><A href="/terminals">"← Terminals"</A></p>
            {move || known.get().and_then(|(id, _)| fleet.agents.row(&id)).map(|agent| {
                let (title, activity) = described(fleet, agent);
                view! {
                    <h2>{title} " " <span class="reason" data-testid="terminal-state">{activity}</span></h2>
                    <LabelEditor agent=agent access=access />
                }
            })}
            {move || match known.get() {
                None if !fleet.loaded() => view! { <p class="empty">"Loading…"</p> }.into_any(),
                None => view! { <p class="empty" data-testid="terminal-unknown">"No such agent."</p> }.into_any(),
                Some((_, false)) => view! { <p class="empty">"This agent runs without a terminal."</p> }.into_any(),
                Some((id, true)) => view! { <TerminalView id=id access=access /> }.into_any(),
            }}
        </section>
    }
}

/// The name and scope of an agent, editable; the daemon's refusal shows next to the button.
///
/// A field shows the agent's current value until the operator edits it; from then on it keeps
/// what was typed, whatever updates arrive, until the save succeeds.
#[component]
fn LabelEditor(agent: ReadSignal<AgentView>, access: Access) -> impl IntoView {
    let name = RwSignal::new(None::<String>);
    let scope = RwSignal::new(None::<String>);
    let current_name = move || name.get().unwrap_or_else(|| agent.with(|a| a.agent.name.clone().unwrap_or_default()));
    let current_scope =
        move || scope.get().unwrap_or_else(|| agent.with(|a| a.agent.scope.clone().unwrap_or_default()));
    let outcome = RwSignal::new(None::<Result<(), String>>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let id = agent.with_untracked(|a| a.agent.id.clone());
        let request = LabelRequest { name: Some(untrack(current_name)), scope: Some(untrack(current_scope)) };
        leptos::task::spawn_local(async move {
            let result = api::terminal::label(access.token, &id, &request).await;
            if result.is_ok() {
                name.set(None);
                scope.set(None);
            }
            outcome.set(Some(result.map(|_| ()).map_err(|e| e.to_string())));
        });
    };
    view! {
        <form class="label" data-testid="terminal-label" on:submit=save>
            <input placeholder="name" aria-label="name" data-testid="terminal-name" prop:value=current_name on:input=move |ev| name.set(Some(event_target_value(&ev))) />
            <input placeholder="scope" aria-label="scope" data-testid="terminal-scope" prop:value=current_scope on:input=move |ev| scope.set(Some(event_target_value(&ev))) />
            <button type="submit" disabled=move || access.read_only()>"Save"</button>
            {move || match outcome.get() {
                Some(Ok(())) => view! { <span class="ok">"saved"</span> }.into_any(),
                Some(Err(e)) => view! { <span class="error" role="alert" data-testid="terminal-label-error">{e}</span> }.into_any(),
                None => ().into_any(),
            }}
        </form>
    }
}
