//! The queue page (`/queue`): the tab bar, the composer, and every run of the queue view with
//! its graph and items. Each part reads only its own rows of the store, so a live update never
//! redraws another run nor touches a draft being typed.

mod action;
mod attempts;
mod composer;
mod draft;
mod graph;
mod item;
mod run;
mod tabs;

use leptos::prelude::*;

use self::composer::Composer;
use self::run::RunView;
use self::tabs::TabBar;
use crate::store::Fleet;
use crate::token::Access;

/// The page.
#[component]
pub(crate) fn QueuePage(fleet: Fleet, access: Access) -> impl IntoView {
    view! {
        <section class="queue" data-testid="queue">
            <h2>"Queue"</h2>
            <TabBar fleet=fleet access=access />
            {move || match (fleet.loaded(), fleet.runs.with_keys(<[_]>::is_empty)) {
                (false, _) => view! { <p class="empty">"Loading…"</p> }.into_any(),
                (true, true) => view! {
                    <p class="empty">"No runs. Compose one below, or start one with " <code>"qcold queue run --from queue.json"</code> "."</p>
                }.into_any(),
                (true, false) => ().into_any(),
            }}
            <For each=move || fleet.runs.keys() key=|id| id.clone()
                children=move |id| fleet.runs.row(&id).map(|run| view! { <RunView fleet=fleet run=run access=access /> }) />
        </section>
        <Composer fleet=fleet access=access />
    }
}
