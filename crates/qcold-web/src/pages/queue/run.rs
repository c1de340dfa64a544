//! One run: its status and reason, the tab showing it, stop / stop and kill / continue / clear,
//! its graph by waves, and its items — keyed, and paged so a run of a thousand items renders a
//! page of them.

use leptos::prelude::*;
use qcold_core::queue::wire::{RunSelector, RunSummary, StopRequest};

use super::action::{Outcome, OutcomeNote, perform, read_only_title};
use super::graph::RunGraph;
use super::item::ItemCard;
use crate::api;
use crate::store::Fleet;
use crate::token::Access;

/// Items rendered per page.
const PAGE: usize = 50;

#[derive(Debug, Clone, Copy)]
enum Write {
    Stop,
    /// Stop and kill the agents of its items in flight (also for a run already stopping).
    Kill,
    Continue,
    Clear,
}

/// A run's panel.
#[component]
pub(super) fn RunView(fleet: Fleet, run: ReadSignal<RunSummary>, access: Access) -> impl IntoView {
    let id = run.with_untracked(|r| r.id.clone());
    let heading = move || run.with(|r| format!("{} · {} · {} · {}", r.id, r.repo, r.mode.as_str(), r.status.as_str()));
    let reason = move || run.with(|r| r.reason.clone());
    let tab = {
        let id = id.clone();
        move || fleet.tabs().with(|tabs| tabs.iter().find(|t| t.run_id.as_ref() == Some(&id)).map(|t| t.label.clone()))
    };
    let keys = {
        let id = id.clone();
        Memo::new(move |_| fleet.items_of(&id))
    };
    let limit = RwSignal::new(PAGE);
    let shown = move || keys.with(|keys| keys.iter().take(limit.get()).cloned().collect::<Vec<_>>());
    let more = move || {
        let (total, shown) = (keys.with(Vec::len), limit.get());
        (total > shown).then(|| {
            view! {
                <button type="button" data-testid="queue-run-more" on:click=move |_| limit.update(|l| *l += PAGE)>
                    {format!("Show {} more of {total}", (total - shown).min(PAGE))}
                </button>
            }
        })
    };

    let outcome: Outcome = RwSignal::new(None);
    let pending = RwSignal::new(false);
    let write = {
        let id = id.clone();
        move |what: Write| {
            let run_id = Some(id.clone());
            let token = access.token;
            perform(
                outcome,
                pending,
                async move {
                    match what {
                        Write::Stop => api::queue::stop(token, &StopRequest { run_id, kill: false }).await,
                        Write::Kill => api::queue::stop(token, &StopRequest { run_id, kill: true }).await,
                        Write::Continue => api::queue::resume(token, &RunSelector { run_id }).await,
                        Write::Clear => api::queue::clear(token, &RunSelector { run_id }).await,
                    }
                },
                |_| {},
            );
        }
    };
    let disabled = move || pending.get() || access.read_only();
    let button = move |what: Write, label: &'static str, testid: &'static str| {
        let write = write.clone();
        view! {
            <button type="button" data-testid=testid disabled=disabled title=move || read_only_title(access.read_only())
                on:click=move |_| write(what)>{label}</button>
        }
    };
    view! {
        <div class="run" data-testid=format!("queue-run-{id}")>
            <h3>{heading} " " <span class="reason">{reason}</span></h3>
            {move || tab().map(|label| view! { <p class="shown-in">"shown in " <span class="tab">{label}</span></p> })}
            <div class="actions">
                {button(Write::Stop, "Stop", "queue-run-stop")}
                {button(Write::Kill, "Stop and kill agents", "queue-run-kill")}
                {button(Write::Continue, "Continue", "queue-run-continue")}
                {button(Write::Clear, "Clear", "queue-run-clear")}
                <OutcomeNote outcome=outcome testid="queue-run-outcome" />
            </div>
            <div class="graph-box"><RunGraph fleet=fleet run=id.clone() keys=keys /></div>
            <ol class="items">
                <For each=shown key=|key| key.clone()
                    children=move |key| fleet.items.row(&key).map(|item| view! { <ItemCard item=item access=access /> }) />
            </ol>
            {more}
        </div>
    }
}
