//! The queue's tab bar: every tab (the active one marked; a click makes another active), delete
//! on each but `default`, and a new tab with an optional label.

use leptos::prelude::*;
use qcold_core::TabId;
use qcold_core::queue::wire::{Tab, TabCreate, TabSelector};

use super::action::{Outcome, OutcomeNote, perform, read_only_title};
use crate::api;
use crate::store::Fleet;
use crate::token::Access;

/// The bar; its one outcome (`queue-action-ok` / `-error`) is shared by every tab write.
#[component]
pub(super) fn TabBar(fleet: Fleet, access: Access) -> impl IntoView {
    let outcome: Outcome = RwSignal::new(None);
    let pending = RwSignal::new(false);
    let label = RwSignal::new(String::new());
    let disabled = move || pending.get() || access.read_only();
    let create = move |_| {
        let request = TabCreate { label: Some(label.get_untracked().trim().to_owned()).filter(|l| !l.is_empty()) };
        let token = access.token;
        perform(outcome, pending, async move { api::queue::create_tab(token, &request).await }, move |ok| {
            if ok {
                label.set(String::new());
            }
        });
    };
    // Keyed by what a tab shows, so a tab that turns active or is renamed is redrawn alone.
    let tabs = move || fleet.tabs().get();
    view! {
        <div class="tabs" data-testid="queue-tabs">
            <For each=tabs key=|tab| (tab.id.clone(), tab.label.clone(), tab.active)
                children=move |tab| view! { <TabChip tab=tab access=access outcome=outcome pending=pending /> } />
        </div>
        <div class="actions" data-testid="queue-actions">
            <input type="text" maxlength="48" placeholder="new tab label" data-testid="queue-tab-label"
                prop:value=move || label.get() on:input=move |ev| label.set(event_target_value(&ev)) />
            <button type="button" data-testid="queue-tab-create" disabled=disabled
                title=move || read_only_title(access.read_only()) on:click=create>"New tab"</button>
            <OutcomeNote outcome=outcome testid="queue-action" />
        </div>
    }
}

#[component]
fn TabChip(tab: Tab, access: Access, outcome: Outcome, pending: RwSignal<bool>) -> impl IntoView {
    let disabled = move || pending.get() || access.read_only();
    let write = move |id: TabId, delete: bool| {
        let token = access.token;
        let request = TabSelector { tab_id: id };
        perform(
            outcome,
            pending,
            async move {
                if delete {
                    api::queue::delete_tab(token, &request).await
                } else {
                    api::queue::switch_tab(token, &request).await
                }
            },
            |_| {},
        );
    };
    let id = tab.id.clone();
    let switch_id = id.clone();
    let delete_id = id.clone();
    let deletable = id.as_str() != "default";
    view! {
        <span class=if tab.active { "tab active" } else { "tab" }>
            <button type="button" class="tab-switch" data-testid=format!("queue-tab-{id}") aria-pressed=tab.active.to_string()
                disabled=move || tab.active || disabled() title=move || read_only_title(access.read_only())
                on:click=move |_| write(switch_id.clone(), false)>{tab.label.clone()}</button>
            {deletable.then(|| view! {
                <button type="button" class="tab-delete" data-testid=format!("queue-tab-delete-{id}") aria-label="delete tab"
                    disabled=disabled title=move || read_only_title(access.read_only())
                    on:click=move |_| write(delete_id.clone(), true)>"×"</button>
            })}
        </span>
    }
}
