//! The queue panel: every tab (the active one marked) and every run with its items, their
//! status, class, wave, attempts and the reason behind the status.

use leptos::prelude::*;
use qcold_core::queue::ItemRecord;
use qcold_core::queue::wire::{QueueView, Run};

/// The queue, re-rendered whenever a `tabs`, `run` or `item` event (or a fresh `state`) changes it.
#[component]
pub(crate) fn QueuePanel(queue: Memo<Option<QueueView>>) -> impl IntoView {
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
