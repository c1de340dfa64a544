//! The queue page (`/queue`): the tab bar, the active tab's run with its graph and items, the
//! unfinished runs no tab shows (folded, below), and the composer. Each part reads only its own
//! rows of the store, so a live update never redraws another run nor touches a draft being typed.

mod action;
mod attempts;
mod composer;
mod draft;
mod graph;
mod item;
mod run;
mod tabs;

use leptos::prelude::*;
use qcold_core::RunId;

use self::composer::Composer;
use self::run::RunView;
use self::tabs::TabBar;
use crate::store::Fleet;
use crate::token::Access;

/// The page.
#[component]
pub(crate) fn QueuePage(fleet: Fleet, access: Access) -> impl IntoView {
    // The run the active tab shows, while the queue view has it: switching tabs swaps it, and
    // nothing else redraws it (the memo changes only with the id).
    let shown = Memo::new(move |_| {
        let id = fleet.tabs().with(|tabs| tabs.iter().find(|t| t.active).and_then(|t| t.run_id.clone()));
        id.filter(|id| fleet.runs.with_keys(|keys| keys.contains(id)))
    });
    // Unfinished runs that no tab shows (a failed run continued after its tab moved on).
    let others = Memo::new(move |_| {
        let in_tabs: Vec<RunId> = fleet.tabs().with(|tabs| tabs.iter().filter_map(|t| t.run_id.clone()).collect());
        let unshown = fleet.runs.keys().into_iter().filter(|id| !in_tabs.contains(id));
        unshown.filter(|id| fleet.runs.get(id).is_some_and(|r| !r.status.is_finished())).collect::<Vec<_>>()
    });
    let run = move |id: RunId| fleet.runs.row(&id).map(|run| view! { <RunView fleet=fleet run=run access=access /> });
    view! {
        <section class="queue" data-testid="queue">
            <h2>"Queue"</h2>
            <TabBar fleet=fleet access=access />
            <div data-testid="queue-main">
                {move || match (fleet.loaded(), shown.with(Option::is_none)) {
                    (false, _) => view! { <p class="empty">"Loading…"</p> }.into_any(),
                    (true, true) => view! {
                        <p class="empty">"No runs in this tab. Compose one below, or start one with " <code>"qcold queue run --from queue.json"</code> "."</p>
                    }.into_any(),
                    (true, false) => ().into_any(),
                }}
                {move || shown.get().and_then(run)}
            </div>
            <div class="other-runs" data-testid="queue-other-runs">
                {move || others.with(|o| !o.is_empty()).then(|| view! { <h3>"Other runs"</h3> })}
                <ul>
                    <For each=move || others.get() key=|id| id.clone() children=move |id| {
                        let summary = {
                            let id = id.clone();
                            move || fleet.runs.get(&id).map(|r| format!("{} · {} · {}", r.id, r.repo, r.status.as_str()))
                        };
                        view! {
                            <li data-testid=format!("queue-other-{id}")>
                                <details><summary>{summary}</summary>{run(id.clone())}</details>
                            </li>
                        }
                    } />
                </ul>
            </div>
        </section>
        <Composer fleet=fleet access=access />
    }
}
