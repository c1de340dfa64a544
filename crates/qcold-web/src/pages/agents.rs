//! The agents page (`/agents`): the agent commands with their readiness (refreshed on demand),
//! the managed agents from the state (a running one can be stopped), and a form that starts a
//! ready command as an agent.

use leptos::prelude::*;
use qcold_core::agent::command::CommandStatus;
use qcold_core::agent::{AgentState, AgentView};
use qcold_core::api::agents::StartAgentRequest;
use qcold_core::{AgentId, CommandName};

use crate::api;
use crate::api::ApiError;
use crate::pages::inbox::{ago, unix_now};
use crate::store::{Fleet, Rows};
use crate::token::Access;

/// The commands as last fetched, or why they could not be.
type Commands = RwSignal<Option<Result<Vec<CommandStatus>, String>>>;

/// An action's outcome for the page: the daemon's refusal explained, the token hint added.
fn explain(err: &ApiError) -> String {
    if err.is_unauthorized() {
        format!("{err} — enter the daemon's write token in the header field")
    } else {
        err.to_string()
    }
}

fn outcome_view(outcome: RwSignal<Option<Result<String, String>>>, testid: &'static str) -> impl IntoView {
    move || match outcome.get() {
        Some(Ok(message)) => view! { <span class="ok" data-testid=format!("{testid}-ok")>{message}</span> }.into_any(),
        Some(Err(error)) => {
            view! { <span class="error" role="alert" data-testid=format!("{testid}-error")>{error}</span> }.into_any()
        }
        None => ().into_any(),
    }
}

/// The page.
#[component]
pub(crate) fn AgentsPage(fleet: Fleet, access: Access) -> impl IntoView {
    let commands: Commands = RwSignal::new(None);
    leptos::task::spawn_local(async move {
        let result = api::agents::commands(access.token).await;
        commands.set(Some(result.map_err(|e| e.to_string())));
    });
    view! {
        <CommandList commands=commands access=access />
        <StartForm commands=commands access=access />
        <AgentList agents=fleet.agents access=access />
    }
}

/// The commands, each with its readiness and a refresh that probes it again.
#[component]
fn CommandList(commands: Commands, access: Access) -> impl IntoView {
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let pending = RwSignal::new(false);
    let refresh = move |names: Vec<CommandName>| {
        pending.set(true);
        leptos::task::spawn_local(async move {
            match api::agents::refresh(access.token, names).await {
                Ok(fresh) => {
                    let message = format!("probed {}", fresh.len());
                    commands.update(|current| merge(current, fresh));
                    outcome.set(Some(Ok(message)));
                }
                Err(err) => outcome.set(Some(Err(explain(&err)))),
            }
            pending.set(false);
        });
    };
    let disabled = move || pending.get() || access.read_only();
    let rows = move || {
        match commands.get() {
        None => view! { <p class="empty">"Loading…"</p> }.into_any(),
        Some(Err(err)) => view! { <p class="error" role="alert">{err}</p> }.into_any(),
        Some(Ok(list)) if list.is_empty() => view! {
            <p class="empty">"No agent commands. Register one with " <code>"qcold agent command add <name> -- <argv…>"</code> "."</p>
        }
        .into_any(),
        Some(Ok(list)) => list
            .into_iter()
            .map(|status| {
                let name = status.command.name.clone();
                let testid = format!("agent-command-refresh-{name}");
                let row = format!("agent-command-{name}");
                let label = name.to_string();
                let readiness = if status.readiness.ready {
                    "ready".to_owned()
                } else {
                    format!("not ready: {}", status.readiness.reason)
                };
                let class = if status.readiness.ready { "readiness ready" } else { "readiness not-ready" };
                let env = status.command.env.join(", ");
                let preset = status.command.preset.map(|p| p.name()).unwrap_or("—");
                let input = status.command.input().as_str();
                view! {
                    <li class="command" data-testid=row>
                        <div class="head">
                            <strong>{label}</strong>
                            <span class=class data-testid="agent-command-readiness">{readiness}</span>
                            <button type="button" data-testid=testid disabled=disabled
                                on:click=move |_| refresh(vec![name.clone()])>"refresh"</button>
                        </div>
                        <code class="argv">{status.command.argv.join(" ")}</code>
                        <span class="meta">{format!("preset {preset} · stdin {input} · env {}", if env.is_empty() { "—" } else { &env })}</span>
                    </li>
                }
            })
            .collect_view()
            .into_any(),
    }
    };
    view! {
        <section class="agent-commands" data-testid="agent-commands">
            <h2>"Agent commands "
                <button type="button" data-testid="agent-commands-refresh-all" disabled=disabled
                    on:click=move |_| refresh(Vec::new())>"refresh all"</button>
            </h2>
            {outcome_view(outcome, "agent-commands-outcome")}
            <ul class="commands">{rows}</ul>
        </section>
    }
}

/// Replaces the commands in `current` by their fresh statuses, by name.
fn merge(current: &mut Option<Result<Vec<CommandStatus>, String>>, fresh: Vec<CommandStatus>) {
    let Some(Ok(list)) = current else {
        *current = Some(Ok(fresh));
        return;
    };
    for status in fresh {
        match list.iter_mut().find(|s| s.command.name == status.command.name) {
            Some(slot) => *slot = status,
            None => list.push(status),
        }
    }
}

/// Starts a ready command as an agent in a working directory.
#[component]
fn StartForm(commands: Commands, access: Access) -> impl IntoView {
    let chosen = RwSignal::new(String::new());
    let cwd = RwSignal::new(String::new());
    let track = RwSignal::new("dashboard".to_owned());
    let name = RwSignal::new(String::new());
    let terminal = RwSignal::new(true);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let pending = RwSignal::new(false);
    let ready = move || {
        commands.with(|c| match c {
            Some(Ok(list)) => list.iter().filter(|s| s.readiness.ready).cloned().collect::<Vec<_>>(),
            _ => Vec::new(),
        })
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let wanted = chosen.get_untracked();
        let Some(command) = ready().into_iter().find(|s| s.command.name.as_str() == wanted) else {
            outcome.set(Some(Err("choose a ready command".to_owned())));
            return;
        };
        let label = name.get_untracked().trim().to_owned();
        let request = StartAgentRequest {
            track: track.get_untracked().trim().to_owned(),
            id: None::<AgentId>,
            name: (!label.is_empty()).then_some(label),
            cwd: cwd.get_untracked().trim().to_owned(),
            terminal: terminal.get_untracked(),
            argv: command.command.argv,
        };
        pending.set(true);
        leptos::task::spawn_local(async move {
            let result = api::agents::start(access.token, &request).await;
            outcome.set(Some(result.map(|agent| format!("started agent {}", agent.id)).map_err(|e| explain(&e))));
            pending.set(false);
        });
    };
    let options = move || {
        ready()
            .into_iter()
            .map(|s| {
                let n = s.command.name.to_string();
                view! { <option value=n.clone()>{n.clone()}</option> }
            })
            .collect_view()
    };
    view! {
        <section class="agent-start" data-testid="agent-start">
            <h2>"Start an agent"</h2>
            <form on:submit=submit>
                <label>"Command"
                    <select data-testid="agent-start-command" prop:value=move || chosen.get()
                        on:change=move |ev| chosen.set(event_target_value(&ev))>
                        <option value="">"— a ready command —"</option>
                        {options}
                    </select>
                </label>
                <label>"Working directory"
                    <input type="text" placeholder="/absolute/path" data-testid="agent-start-cwd"
                        prop:value=move || cwd.get() on:input=move |ev| cwd.set(event_target_value(&ev)) />
                </label>
                <label>"Track"
                    <input type="text" data-testid="agent-start-track"
                        prop:value=move || track.get() on:input=move |ev| track.set(event_target_value(&ev)) />
                </label>
                <label>"Name"
                    <input type="text" placeholder="optional" data-testid="agent-start-name"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                </label>
                <label class="check">
                    <input type="checkbox" data-testid="agent-start-terminal" prop:checked=move || terminal.get()
                        on:change=move |ev| terminal.set(event_target_checked(&ev)) />
                    "in a terminal"
                </label>
                <button type="submit" data-testid="agent-start-submit"
                    disabled=move || pending.get() || access.read_only() || chosen.with(String::is_empty)
                        || cwd.with(|c| c.trim().is_empty())>"start"</button>
                {outcome_view(outcome, "agent-start-outcome")}
            </form>
        </section>
    }
}

/// The managed agents, keyed by id; a running one has "stop".
#[component]
fn AgentList(agents: Rows<AgentId, AgentView>, access: Access) -> impl IntoView {
    view! {
        <section class="agents" data-testid="agents">
            <h2>"Agents"</h2>
            <Show when=move || agents.with_keys(<[_]>::is_empty)>
                <p class="empty">"No agents."</p>
            </Show>
            <ul class="agent-list">
                <For each=move || agents.keys() key=|id| id.clone()
                    children=move |id| agents.row(&id).map(|view| view! { <AgentRow id=id view=view access=access /> }) />
            </ul>
        </section>
    }
}

#[component]
fn AgentRow(id: AgentId, view: ReadSignal<AgentView>, access: Access) -> impl IntoView {
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let pending = RwSignal::new(false);
    let stop_id = id.to_string();
    let stop = move |_| {
        let id = stop_id.clone();
        pending.set(true);
        leptos::task::spawn_local(async move {
            let result = api::agents::stop(access.token, &id).await;
            outcome.set(Some(
                result.map(|answer| format!("stopped: {} process(es) ended", answer.ended)).map_err(|e| explain(&e)),
            ));
            pending.set(false);
        });
    };
    let state = move || {
        view.with(|v| match v.state {
            AgentState::Running => "running".to_owned(),
            AgentState::Exited { code } => format!("exited ({code})"),
            AgentState::Vanished => "vanished".to_owned(),
        })
    };
    let running = move || view.with(|v| v.state == AgentState::Running);
    let field = move |f: fn(&AgentView) -> String| move || view.with(f);
    view! {
        <li class="agent" data-testid=format!("agent-{id}")>
            <div class="head">
                <strong>{id.to_string()}</strong>
                <span class="name">{field(|v| v.agent.name.clone().unwrap_or_default())}</span>
                <span class="track">{field(|v| v.agent.track.clone())}</span>
                <span class=move || format!("state {}", state().split(' ').next().unwrap_or_default())
                    data-testid="agent-state">{state}</span>
                <Show when=running>
                    <button type="button" data-testid="agent-stop" disabled=move || pending.get() || access.read_only()
                        on:click=stop.clone()>"stop"</button>
                </Show>
            </div>
            <span class="meta">
                {field(|v| format!("started {} · ", ago(v.agent.started_at, unix_now())))}
                <code class="cwd">{field(|v| v.agent.cwd.clone())}</code>
            </span>
            {outcome_view(outcome, "agent-stop-outcome")}
        </li>
    }
}
