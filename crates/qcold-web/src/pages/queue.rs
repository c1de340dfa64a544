//! The queue page (`/queue`): every tab (the active one marked, a new one made here) and every
//! run with its items, their status, class, wave, attempts and the reason behind the status.

use leptos::prelude::*;
use qcold_core::queue::ItemRecord;
use qcold_core::queue::wire::{RunSummary, TabCreate};

use crate::api;
use crate::store::Fleet;
use crate::token::Access;

/// The page: the tab action above the queue.
#[component]
pub(crate) fn QueuePage(fleet: Fleet, access: Access) -> impl IntoView {
    view! {
        <NewTab access=access />
        <QueuePanel fleet=fleet />
    }
}

/// "New tab": a write, off while the dashboard is read-only; its outcome — the daemon's message
/// or its refusal — is shown next to it.
#[component]
fn NewTab(access: Access) -> impl IntoView {
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let pending = RwSignal::new(false);
    let create = move |_| {
        pending.set(true);
        leptos::task::spawn_local(async move {
            let result = api::create_tab(access.token, &TabCreate::default()).await;
            outcome.set(Some(match result {
                Ok(answer) => Ok(answer.message),
                Err(err) if err.is_unauthorized() => {
                    Err(format!("{err} — enter the daemon's write token in the header field"))
                }
                Err(err) => Err(err.to_string()),
            }));
            pending.set(false);
        });
    };
    let disabled = move || pending.get() || access.read_only();
    view! {
        <section class="actions" data-testid="queue-actions">
            <button
                type="button"
                data-testid="queue-tab-create"
                disabled=disabled
                title=move || if access.read_only() { "read-only: writes need the write token" } else { "" }
                on:click=create
            >
                "New tab"
            </button>
            {move || match outcome.get() {
                Some(Ok(message)) => view! { <span class="ok" data-testid="queue-action-ok">{message}</span> }.into_any(),
                Some(Err(error)) => view! { <span class="error" role="alert" data-testid="queue-action-error">{error}</span> }.into_any(),
                None => ().into_any(),
            }}
        </section>
    }
}

/// The queue: tabs, then each run with its items, keyed, so an item's change redraws its row
/// alone.
#[component]
fn QueuePanel(fleet: Fleet) -> impl IntoView {
    let tabs = move || {
        fleet
            .tabs()
            .get()
            .into_iter()
            .map(|tab| {
                let class = if tab.active { "tab active" } else { "tab" };
                view! { <span class=class data-testid=format!("queue-tab-{}", tab.id)>{tab.label}</span> }
            })
            .collect_view()
    };
    view! {
        <section class="queue" data-testid="queue">
            <h2>"Queue"</h2>
            <div class="tabs">{tabs}</div>
            {move || match (fleet.loaded(), fleet.runs.with_keys(<[_]>::is_empty)) {
                (false, _) => view! { <p class="empty">"Loading…"</p> }.into_any(),
                (true, true) => view! {
                    <p class="empty">"No runs. Start one with " <code>"qcold queue run --from queue.json"</code> "."</p>
                }.into_any(),
                (true, false) => ().into_any(),
            }}
            <For each=move || fleet.runs.keys() key=|id| id.clone()
                children=move |id| fleet.runs.row(&id).map(|run| view! { <RunView fleet=fleet run=run /> }) />
        </section>
    }
}

#[component]
fn RunView(fleet: Fleet, run: ReadSignal<RunSummary>) -> impl IntoView {
    let id = run.with_untracked(|r| r.id.clone());
    let heading = move || run.with(|r| format!("{} · {} · {}", r.id, r.repo, r.status.as_str()));
    let reason = move || run.with(|r| r.reason.clone());
    let testid = format!("queue-run-{id}");
    let items = move || fleet.items_of(&id);
    view! {
        <div class="run" data-testid=testid>
            <h3>{heading} <span class="reason">{reason}</span></h3>
            <table>
                <thead><tr><th>"#"</th><th>"Item"</th><th>"Status"</th><th>"Class"</th><th>"Wave"</th><th>"Attempts"</th><th>"Why"</th></tr></thead>
                <tbody>
                    <For each=items key=|key| key.clone()
                        children=move |key| fleet.items.row(&key).map(|item| view! { <ItemRow item=item /> }) />
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn ItemRow(item: ReadSignal<ItemRecord>) -> impl IntoView {
    let (run, id) = item.with_untracked(|i| (i.run_id.clone(), i.id.clone()));
    let text = move |f: fn(&ItemRecord) -> String| move || item.with(f);
    view! {
        <tr data-testid=format!("queue-item-{run}-{id}")>
            <td>{text(|i| i.position.to_string())}</td>
            <td>{text(|i| i.slug.to_string())}</td>
            <td><span class=move || item.with(|i| format!("status {}", i.status.as_str()))>{text(|i| i.status.as_str().to_owned())}</span></td>
            <td>{text(|i| i.task_class.as_str().to_owned())}</td>
            <td>{text(|i| i.wave_index.to_string())}</td>
            <td>{text(|i| i.attempts.len().to_string())}</td>
            <td class="reason">{text(|i| i.reason.clone())}</td>
        </tr>
    }
}
