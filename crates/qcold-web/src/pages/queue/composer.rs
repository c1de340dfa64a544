//! The composer: repository, agent, mode and one editor per item (or a pasted package), checked
//! as the operator types by qcold-core's own package and graph checks, each diagnostic shown on
//! the item it concerns; then run it as a new run or append it to the active tab's run.

use leptos::prelude::*;
use qcold_core::agent::command::CommandStatus;
use qcold_core::queue::graph::{self, Diagnostic, Severity};
use qcold_core::queue::package;
use qcold_core::queue::wire::{AppendRequest, RunRequest};
use qcold_core::queue::{ExecutionMode, TaskClass};

use super::action::{Outcome, OutcomeNote, describe, read_only_title};
use super::draft::{Draft, DraftItem};
use crate::api::{self, ApiError};
use crate::store::Fleet;
use crate::token::Access;

/// One editor: its key in the composer and its fields.
type Row = (u32, RwSignal<DraftItem>);

/// A class or mode from its wire spelling.
fn parse<T: serde::de::DeserializeOwned>(text: String) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text)).ok()
}

/// The composer section.
#[component]
pub(super) fn Composer(fleet: Fleet, access: Access) -> impl IntoView {
    let loaded = Draft::load();
    let repo = RwSignal::new(loaded.repo.clone());
    let agent = RwSignal::new(loaded.agent.clone());
    let mode = RwSignal::new(loaded.mode);
    let pasted = RwSignal::new(loaded.pasted.clone());
    let next_key = StoredValue::new(1_u32);
    let rows = RwSignal::new(Vec::<Row>::new());
    let fill = move |items: Vec<DraftItem>| {
        let fresh = items
            .into_iter()
            .map(|item| {
                let key = next_key.get_value();
                next_key.set_value(key + 1);
                (key, RwSignal::new(item))
            })
            .collect();
        rows.set(fresh);
    };
    fill(loaded.items);

    let draft = Memo::new(move |_| Draft {
        repo: repo.get(),
        agent: agent.get(),
        mode: mode.get(),
        items: rows.with(|rows| rows.iter().map(|(_, item)| item.get()).collect()),
        pasted: pasted.get(),
    });
    Effect::new(move |_| draft.with(Draft::save));
    // The live check: exactly what the daemon will run on the package.
    let checked = Memo::new(move |_| draft.with(|d| graph::normalize(&d.package(), 1)));
    let refused = RwSignal::new(Vec::<Diagnostic>::new());
    let diagnostics = Signal::derive(move || {
        let mut all = checked.with(|c| match c {
            Ok(normalized) => normalized.diagnostics.clone(),
            Err(rejected) => rejected.diagnostics.clone(),
        });
        all.extend(refused.get());
        all
    });
    let general = move || {
        let ids: Vec<String> = rows.with(|rows| rows.iter().map(|(_, i)| i.with(|i| i.id.trim().to_owned())).collect());
        diagnostics.with(|ds| {
            ds.iter()
                .filter(|d| d.item.as_ref().is_none_or(|item| !ids.contains(item)))
                .map(|d| view! { <li class=severity(d) data-testid="composer-diagnostic">{d.message.clone()}</li> })
                .collect_view()
        })
    };

    let outcome: Outcome = RwSignal::new(None);
    let pending = RwSignal::new(false);
    let submit = move |append: bool| {
        let package = draft.with_untracked(Draft::package);
        let token = access.token;
        refused.set(Vec::new());
        pending.set(true);
        leptos::task::spawn_local(async move {
            let result = if append {
                api::queue::append(token, &AppendRequest { run_id: None, package }).await
            } else {
                let request = RunRequest { package, repo: None, agent: None, execution_mode: None, tab_id: None };
                api::queue::run(token, &request).await
            };
            if let Err(ApiError::Refused { body, .. }) = &result {
                refused.set(body.diagnostics.clone());
            }
            outcome.set(Some(describe(&result)));
            pending.set(false);
        });
    };
    let invalid = move || checked.with(Result::is_err);
    let add = move |_| {
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        rows.update(|rows| {
            let position = rows.len() + 1;
            rows.push((key, RwSignal::new(DraftItem::at(position))));
        });
    };
    let reset = move |_| {
        repo.set(String::new());
        agent.set(String::new());
        mode.set(ExecutionMode::Graph);
        pasted.set(String::new());
        refused.set(Vec::new());
        outcome.set(None);
        fill(Draft::blank().items);
    };
    let repositories = move || {
        fleet
            .repositories()
            .get()
            .map(|list| list.repositories)
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let id = r.id.to_string();
                let selected = repo.get_untracked() == id;
                view! { <option value=id.clone() selected=selected>{id.clone()}</option> }
            })
            .collect_view()
    };

    // The registered commands with their readiness, fetched once; the draft's choice (also one
    // set by a reset or a pasted package) stays selected, kept as an option even when no such
    // command is registered.
    let commands = RwSignal::new(Vec::<CommandStatus>::new());
    leptos::task::spawn_local(async move {
        if let Ok(list) = api::agents::commands(access.token).await {
            commands.set(list);
        }
    });
    let agents = move || {
        let chosen = agent.get();
        commands.with(|list| {
            let unknown = (!chosen.is_empty() && !list.iter().any(|s| s.command.name.as_str() == chosen))
                .then(|| (chosen.clone(), "not registered".to_owned()));
            let known = list.iter().map(|s| {
                let r = &s.readiness;
                (
                    s.command.name.to_string(),
                    if r.ready { "ready".to_owned() } else { format!("not ready: {}", r.reason) },
                )
            });
            known
                .chain(unknown)
                .map(|(name, readiness)| {
                    let selected = name == chosen;
                    view! { <option value=name.clone() selected=selected>{format!("{name} · {readiness}")}</option> }
                })
                .collect_view()
        })
    };

    view! {
        <section class="composer" data-testid="queue-composer">
            <h2>"Compose"</h2>
            <div class="settings">
                <label>"Repository "
                    <select data-testid="composer-repo" on:change=move |ev| repo.set(event_target_value(&ev))>
                        <option value="" selected=repo.get_untracked().is_empty()>"the active one"</option>
                        {repositories}
                    </select>
                </label>
                <label>"Agent "
                    <select data-testid="composer-agent" on:change=move |ev| agent.set(event_target_value(&ev))>
                        <option value="" selected=move || agent.get().is_empty()>"first ready command"</option>
                        {agents}
                    </select>
                </label>
                <label>"Mode "
                    <select data-testid="composer-mode" on:change=move |ev| if let Some(m) = parse(event_target_value(&ev)) { mode.set(m) }>
                        <option value="graph" selected=move || mode.get() == ExecutionMode::Graph>"graph"</option>
                        <option value="sequence" selected=move || mode.get() == ExecutionMode::Sequence>"sequence"</option>
                    </select>
                </label>
            </div>
            <ol class="draft-items">
                <For each=move || rows.get() key=|(key, _)| *key
                    children=move |(key, item)| view! { <ItemEditor key=key item=item rows=rows diagnostics=diagnostics /> } />
            </ol>
            <ul class="diagnostics" data-testid="composer-diagnostics">{general}</ul>
            <PastePackage pasted=pasted on_load=move |p: package::Package| {
                repo.set(p.repo.clone().unwrap_or_default());
                agent.set(p.agent.clone().unwrap_or_default());
                mode.set(p.execution_mode);
                fill(Draft::items_of(&p));
                pasted.set(String::new());
            } />
            <div class="actions">
                <button type="button" data-testid="composer-add" on:click=add>"Add item"</button>
                <button type="button" data-testid="composer-run" disabled=move || pending.get() || invalid() || access.read_only()
                    title=move || read_only_title(access.read_only()) on:click=move |_| submit(false)>"Run"</button>
                <button type="button" data-testid="composer-append" disabled=move || pending.get() || invalid() || access.read_only()
                    title=move || read_only_title(access.read_only()) on:click=move |_| submit(true)>"Append to the active tab's run"</button>
                <button type="button" data-testid="composer-reset" on:click=reset>"New draft"</button>
                <OutcomeNote outcome=outcome testid="composer-outcome" />
            </div>
        </section>
    }
}

fn severity(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "diagnostic error",
        Severity::Warning => "diagnostic warning",
    }
}

/// One item's editor, with the diagnostics about it. Its fields start from the draft and are
/// never rewritten from it, so typing is never interrupted.
#[component]
fn ItemEditor(
    key: u32,
    item: RwSignal<DraftItem>,
    rows: RwSignal<Vec<Row>>,
    diagnostics: Signal<Vec<Diagnostic>>,
) -> impl IntoView {
    let initial = item.get_untracked();
    let mine = move || {
        let id = item.with(|i| i.id.trim().to_owned());
        diagnostics.with(|ds| ds.iter().filter(|d| d.item.as_deref() == Some(id.as_str())).cloned().collect::<Vec<_>>())
    };
    let class_option = move |class: TaskClass| {
        view! { <option value=class.as_str() selected=initial.task_class == class>{class.as_str()}</option> }
    };
    view! {
        <li class="draft-item" data-testid=format!("composer-item-{key}")
            class:invalid=move || mine().iter().any(|d| d.severity == Severity::Error)>
            <div class="fields">
                <input type="text" class="id" data-testid="composer-item-id" placeholder="id" prop:value=initial.id.clone()
                    on:input=move |ev| item.update(|i| i.id = event_target_value(&ev)) />
                <select data-testid="composer-item-class"
                    on:change=move |ev| if let Some(c) = parse(event_target_value(&ev)) { item.update(|i| i.task_class = c) }>
                    {class_option(TaskClass::Cheap)}{class_option(TaskClass::Mid)}{class_option(TaskClass::Heavy)}
                </select>
                <button type="button" data-testid="composer-item-remove" aria-label="remove item"
                    on:click=move |_| rows.update(|rows| rows.retain(|(k, _)| *k != key))>"×"</button>
            </div>
            <textarea data-testid="composer-item-prompt" rows="2" placeholder="prompt" prop:value=initial.prompt.clone()
                on:input=move |ev| item.update(|i| i.prompt = event_target_value(&ev))></textarea>
            <input type="text" data-testid="composer-item-depends" placeholder="after (ids or slugs)" prop:value=initial.depends_on.clone()
                on:input=move |ev| item.update(|i| i.depends_on = event_target_value(&ev)) />
            <ul class="diagnostics">
                {move || mine().into_iter().map(|d| view! {
                    <li class=severity(&d) data-testid="composer-diagnostic">{d.message.clone()}</li>
                }).collect_view()}
            </ul>
        </li>
    }
}

/// A package pasted as JSON: checked by qcold-core's parser as it is typed, then loaded into the
/// editors, where the graph checks take over.
#[component]
fn PastePackage(pasted: RwSignal<String>, on_load: impl Fn(package::Package) + Send + Sync + 'static) -> impl IntoView {
    let parsed = Memo::new(move |_| {
        pasted.with(|text| (!text.trim().is_empty()).then(|| package::parse_json(text).map_err(|e| e.to_string())))
    });
    let load = move |_| {
        if let Some(Ok(p)) = parsed.get_untracked() {
            on_load(p);
        }
    };
    view! {
        <details class="paste" open=!pasted.get_untracked().is_empty()>
            <summary>"Paste a package"</summary>
            <textarea data-testid="composer-paste" rows="4" placeholder=r#"{"items": [{"id": "a", "prompt": "…"}]}"#
                prop:value=pasted.get_untracked() on:input=move |ev| pasted.set(event_target_value(&ev))></textarea>
            {move || match parsed.get() {
                Some(Err(err)) => view! { <p class="error" data-testid="composer-paste-error">{err}</p> }.into_any(),
                Some(Ok(p)) => view! { <p class="ok">{format!("{} items", p.items.len())}</p> }.into_any(),
                None => ().into_any(),
            }}
            <button type="button" data-testid="composer-paste-load" disabled=move || !matches!(parsed.get(), Some(Ok(_)))
                on:click=load>"Load into the editors"</button>
        </details>
    }
}
