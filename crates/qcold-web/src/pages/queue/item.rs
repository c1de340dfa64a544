//! One queue item: its status and why (the reason, and `next_attempt_at` as a live countdown),
//! its dependencies, its attempts, and — while it has not started — editing and removing it.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::components::A;
use qcold_core::queue::wire::{RemoveRequest, UpdateRequest};
use qcold_core::queue::{ItemRecord, ItemStatus, TaskClass};

use super::action::{Outcome, OutcomeNote, perform, read_only_title};
use super::attempts::Attempts;
use crate::api;
use crate::pages::inbox::unix_now;
use crate::token::Access;

/// "4 s", "2 min 5 s", "1 h 3 min".
fn span(secs: i64) -> String {
    match secs {
        ..60 => format!("{secs} s"),
        60..3_600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
    }
}

/// The time left until `at` (Unix seconds), ticking every second from a clock local to this
/// component (stopped when it goes); it never refetches anything.
#[component]
fn Countdown(at: i64) -> impl IntoView {
    let now = RwSignal::new(unix_now());
    match set_interval_with_handle(move || now.set(unix_now()), Duration::from_secs(1)) {
        Ok(handle) => on_cleanup(move || handle.clear()),
        Err(err) => leptos::logging::warn!("no clock for a countdown: {err:?}"),
    }
    let text = move || {
        let left = at - now.get();
        if left > 0 { format!("next attempt in {}", span(left)) } else { "next attempt due now".to_owned() }
    };
    view! { <span class="countdown" data-testid="queue-item-countdown">{text}</span> }
}

/// An item's card.
#[component]
pub(super) fn ItemCard(item: ReadSignal<ItemRecord>, access: Access) -> impl IntoView {
    let (run, id) = item.with_untracked(|i| (i.run_id.clone(), i.id.clone()));
    let text = move |f: fn(&ItemRecord) -> String| move || item.with(f);
    let waiting_until =
        Memo::new(move |_| item.with(|i| if i.status == ItemStatus::Waiting { i.next_attempt_at } else { None }));
    let not_started = Memo::new(move |_| item.with(|i| i.status == ItemStatus::Pending));
    let after = move || {
        item.with(|i| {
            (!i.depends_on.is_empty())
                .then(|| i.depends_on.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
        })
    };
    view! {
        <li class="item" data-testid=format!("queue-item-{run}-{id}")>
            <div class="head">
                <span class="pos">{text(|i| format!("#{}", i.position))}</span>
                <span class="slug">{text(|i| i.slug.to_string())}</span>
                <span class=move || item.with(|i| format!("status {}", i.status.as_str()))
                    data-testid="queue-item-status">{text(|i| i.status.as_str().to_owned())}</span>
                <span class="meta">{text(|i| i.task_class.as_str().to_owned())}</span>
                <span class="meta">{text(|i| format!("wave {}", i.wave_index))}</span>
            </div>
            <div class="why">
                <span class="reason" data-testid="queue-item-reason">{text(|i| i.reason.clone())}</span>
                {move || waiting_until.get().map(|at| view! { <Countdown at=at /> })}
            </div>
            <Links item=item />
            {move || after().map(|after| view! { <div class="after" data-testid="queue-item-after">"after " {after}</div> })}
            {move || not_started.get().then(|| view! { <PendingActions item=item access=access /> })}
            <Attempts item=item access=access />
        </li>
    }
}

/// Links to the item's agent terminal and its task, once it has them.
#[component]
fn Links(item: ReadSignal<ItemRecord>) -> impl IntoView {
    let targets = Memo::new(move |_| item.with(|i| (i.agent_id.clone(), i.task_id.clone())));
    move || {
        let (agent, task) = targets.get();
        view! {
            <div class="links">
                {agent.map(|a| view! { <A href=format!("/terminals/{a}") attr:data-testid="queue-item-terminal">"terminal"</A> })}
                {task.map(|t| view! { <A href=format!("/tasks/{t}") attr:data-testid="queue-item-task">"task"</A> })}
            </div>
        }
    }
}

/// Edit and remove, for an item that has not started.
#[component]
fn PendingActions(item: ReadSignal<ItemRecord>, access: Access) -> impl IntoView {
    let outcome: Outcome = RwSignal::new(None);
    let pending = RwSignal::new(false);
    let editing = RwSignal::new(false);
    let prompt = RwSignal::new(String::new());
    let class = RwSignal::new(TaskClass::Mid);
    let disabled = move || pending.get() || access.read_only();
    let ids = move || item.with_untracked(|i| (i.run_id.clone(), i.id.clone()));
    let edit = move |_| {
        item.with_untracked(|i| {
            prompt.set(i.prompt.clone());
            class.set(i.task_class);
        });
        editing.set(true);
    };
    let save = move |_| {
        let (run_id, item_id) = ids();
        let request = UpdateRequest {
            run_id,
            item_id,
            prompt: Some(prompt.get_untracked()),
            task_class: Some(class.get_untracked()),
            agent: None,
        };
        let token = access.token;
        perform(outcome, pending, async move { api::queue::update(token, &request).await }, move |ok| {
            if ok {
                editing.set(false);
            }
        });
    };
    let remove = move |_| {
        let (run_id, item_id) = ids();
        let request = RemoveRequest { run_id, item_id };
        let token = access.token;
        perform(outcome, pending, async move { api::queue::remove(token, &request).await }, |_| {});
    };
    let form = move || {
        editing.get().then(|| {
            let option = move |c: TaskClass| {
                view! { <option value=c.as_str() selected=class.get_untracked() == c>{c.as_str()}</option> }
            };
            view! {
                <div class="edit" data-testid="queue-item-edit">
                    <textarea rows="2" data-testid="queue-item-edit-prompt" prop:value=prompt.get_untracked()
                        on:input=move |ev| prompt.set(event_target_value(&ev))></textarea>
                    <select data-testid="queue-item-edit-class" on:change=move |ev| {
                        if let Ok(c) = serde_json::from_value(serde_json::Value::String(event_target_value(&ev))) { class.set(c) }
                    }>{option(TaskClass::Cheap)}{option(TaskClass::Mid)}{option(TaskClass::Heavy)}</select>
                    <button type="button" data-testid="queue-item-save" disabled=disabled on:click=save>"Save"</button>
                    <button type="button" on:click=move |_| editing.set(false)>"Cancel"</button>
                </div>
            }
        })
    };
    view! {
        <div class="actions">
            <button type="button" data-testid="queue-item-edit-open" disabled=disabled
                title=move || read_only_title(access.read_only()) on:click=edit>"Edit"</button>
            <button type="button" data-testid="queue-item-remove" disabled=disabled
                title=move || read_only_title(access.read_only()) on:click=remove>"Remove"</button>
            <OutcomeNote outcome=outcome testid="queue-item-outcome" />
        </div>
        {form}
    }
}
