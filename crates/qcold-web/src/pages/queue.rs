//! The queue page (`/queue`): every tab (the active one marked, a new one made here) and every
//! run with its items, their status, class, wave, attempts and the reason behind the status.

use leptos::prelude::*;
use qcold_core::queue::ItemRecord;
use qcold_core::queue::wire::{QueueView, Run, TabCreate};

use crate::api;
use crate::token::Access;

/// The page: the tab action above the queue.
#[component]
pub(crate) fn QueuePage(queue: Memo<Option<QueueView>>, access: Access) -> impl IntoView {
    view! {
        <NewTab access=access />
        <QueuePanel queue=queue />
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

/// The queue, re-rendered whenever a `tabs`, `run` or `item` event (or a fresh `state`) changes it.
#[component]
fn QueuePanel(queue: Memo<Option<QueueView>>) -> impl IntoView {
    move || {
        let Some(view) = queue.get() else {
            return view! { <section class="queue" data-testid="queue"><h2>"Queue"</h2><p class="empty">"Loading…"</p></section> }
                .into_any();
        };
        let tabs = view
            .tabs
            .iter()
            .map(|tab| {
                let class = if tab.active { "tab active" } else { "tab" };
                view! { <span class=class data-testid=format!("queue-tab-{}", tab.id)>{tab.label.clone()}</span> }
            })
            .collect_view();
        let empty = view.runs.is_empty();
        let runs = view.runs.into_iter().map(|run| view! { <RunView run=run /> }).collect_view();
        view! {
            <section class="queue" data-testid="queue">
                <h2>"Queue"</h2>
                <div class="tabs">{tabs}</div>
                <Show when=move || empty>
                    <p class="empty">"No runs. Start one with " <code>"qcold queue run --from queue.json"</code> "."</p>
                </Show>
                {runs}
            </section>
        }
        .into_any()
    }
}

#[component]
fn RunView(run: Run) -> impl IntoView {
    let heading = format!("{} · {} · {}", run.id, run.repo, run.status.as_str());
    let testid = format!("queue-run-{}", run.id);
    let rows = run.items.iter().map(|item| item_row(&run, item)).collect_view();
    view! {
        <div class="run" data-testid=testid>
            <h3>{heading} <span class="reason">{run.reason.clone()}</span></h3>
            <table>
                <thead><tr><th>"#"</th><th>"Item"</th><th>"Status"</th><th>"Class"</th><th>"Wave"</th><th>"Attempts"</th><th>"Why"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

fn item_row(run: &Run, item: &ItemRecord) -> impl IntoView + use<> {
    view! {
        <tr data-testid=format!("queue-item-{}-{}", run.id, item.id)>
            <td>{item.position}</td>
            <td>{item.slug.to_string()}</td>
            <td><span class=format!("status {}", item.status.as_str())>{item.status.as_str()}</span></td>
            <td>{item.task_class.as_str()}</td>
            <td>{item.wave_index}</td>
            <td>{item.attempts.len()}</td>
            <td class="reason">{item.reason.clone()}</td>
        </tr>
    }
}
