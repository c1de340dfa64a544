//! The terminals pages: `/terminals` lists every terminal agent with its label, state and
//! activity; `/terminals/{agent_id}` is one agent's live terminal.

mod keys;
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
use crate::token::Access;

/// The terminal agents of the state, oldest first.
fn terminal_agents(state: &StateResponse) -> Vec<AgentView> {
    state.agents.iter().filter(|a| a.agent.terminal.is_some()).cloned().collect()
}

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

/// `/terminals`: every terminal agent.
#[component]
pub(crate) fn TerminalsPage(state: ReadSignal<Option<StateResponse>>, access: Access) -> impl IntoView {
    let agents = Memo::new(move |_| state.with(|s| s.as_ref().map(terminal_agents)));
    view! {
        <section class="terminals" data-testid="terminals">
            <h2>"Terminals"</h2>
            {move || match agents.get() {
                None => view! { <p class="empty">"Loading…"</p> }.into_any(),
                Some(list) if list.is_empty() => view! {
                    <p class="empty">"No terminal agents. Start one with " <code>"qcold agent start --terminal -- bash"</code> "."</p>
                }.into_any(),
                Some(list) => list.into_iter().map(|agent| {
                    let id = agent.agent.id.clone();
                    let activity = state.with(|s| s.as_ref().map(|s| activity(s, &agent)).unwrap_or_default());
                    let title = agent.agent.name.clone().unwrap_or_else(|| id.to_string());
                    let place = format!("{} · {}", agent.agent.track, agent.agent.cwd);
                    view! {
                        <div class="terminal-entry" data-testid=format!("terminal-entry-{id}")>
                            <A href=format!("/terminals/{id}")>{title}</A>
                            <span class="reason">{place}</span>
                            <span class="state" data-testid="terminal-entry-activity">{activity}</span>
                            <LabelEditor agent=agent access=access />
                        </div>
                    }
                }).collect_view().into_any(),
            }}
        </section>
    }
}

/// `/terminals/{agent_id}`: one agent's terminal, with its label.
#[component]
pub(crate) fn TerminalPage(state: ReadSignal<Option<StateResponse>>, access: Access) -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("agent_id").and_then(|id| id.parse::<AgentId>().ok())));
    let agent = Memo::new(move |_| {
        let id = id.get()?;
        state.with(|s| s.as_ref()?.agents.iter().find(|a| a.agent.id == id).cloned())
    });
    let known =
        Memo::new(move |_| agent.with(|a| a.as_ref().map(|a| (a.agent.id.clone(), a.agent.terminal.is_some()))));
    view! {
        <section class="terminal-page" data-testid="terminal-page">
            <p><A href="/terminals">"← Terminals"</A></p>
            {move || agent.get().map(|agent| view! {
                <h2>{agent.agent.name.clone().unwrap_or_else(|| agent.agent.id.to_string())}
                    " " <span class="reason" data-testid="terminal-state">{state.with(|s| s.as_ref().map(|s| activity(s, &agent)).unwrap_or_default())}</span></h2>
                <LabelEditor agent=agent access=access />
            })}
            {move || match known.get() {
                None if state.with(|s| s.is_none()) => view! { <p class="empty">"Loading…"</p> }.into_any(),
                None => view! { <p class="empty" data-testid="terminal-unknown">"No such agent."</p> }.into_any(),
                Some((_, false)) => view! { <p class="empty">"This agent runs without a terminal."</p> }.into_any(),
                Some((id, true)) => view! { <TerminalView id=id access=access /> }.into_any(),
            }}
        </section>
    }
}

/// The name and scope of an agent, editable; the daemon's refusal shows next to the button.
#[component]
fn LabelEditor(agent: AgentView, access: Access) -> impl IntoView {
    let id = agent.agent.id.clone();
    let name = RwSignal::new(agent.agent.name.clone().unwrap_or_default());
    let scope = RwSignal::new(agent.agent.scope.clone().unwrap_or_default());
    let outcome = RwSignal::new(None::<Result<(), String>>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let id = id.clone();
        let request = LabelRequest { name: Some(name.get_untracked()), scope: Some(scope.get_untracked()) };
        leptos::task::spawn_local(async move {
            outcome.set(Some(
                api::terminal::label(access.token, &id, &request).await.map(|_| ()).map_err(|e| e.to_string()),
            ));
        });
    };
    view! {
        <form class="label" data-testid="terminal-label" on:submit=save>
            <input placeholder="name" aria-label="name" data-testid="terminal-name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
            <input placeholder="scope" aria-label="scope" data-testid="terminal-scope" prop:value=move || scope.get() on:input=move |ev| scope.set(event_target_value(&ev)) />
            <button type="submit" disabled=move || access.read_only()>"Save"</button>
            {move || match outcome.get() {
                Some(Ok(())) => view! { <span class="ok">"saved"</span> }.into_any(),
                Some(Err(e)) => view! { <span class="error" role="alert" data-testid="terminal-label-error">{e}</span> }.into_any(),
                None => ().into_any(),
            }}
        </form>
    }
}
