//! A task's pause and clear actions: one required reason, the daemon's answer or refusal inline,
//! both off while the dashboard is read-only.

use leptos::prelude::*;
use qcold_core::TaskStatus;
use qcold_core::task::TaskRecord;

use crate::api;
use crate::token::Access;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Pause,
    Clear,
}

/// The actions form. `on_done` gets the updated record.
#[component]
pub(crate) fn Actions(
    id: String,
    status: Signal<Option<TaskStatus>>,
    access: Access,
    on_done: Callback<TaskRecord>,
) -> impl IntoView {
    let reason = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let act = move |which: Act| {
        let text = reason.get_untracked().trim().to_owned();
        if text.is_empty() {
            outcome.set(Some(Err("give a reason first: it goes into the task's record".to_owned())));
            return;
        }
        pending.set(true);
        let id = id.clone();
        leptos::task::spawn_local(async move {
            let result = match which {
                Act::Pause => api::tasks::pause(access.token, &id, text).await,
                Act::Clear => api::tasks::clear(access.token, &id, text).await,
            };
            pending.set(false);
            outcome.set(Some(match result {
                Ok(record) => {
                    let done = format!("{} is now {}", record.id, record.status);
                    on_done.run(record);
                    reason.set(String::new());
                    Ok(done)
                }
                Err(err) if err.is_unauthorized() => {
                    Err(format!("{err} — enter the daemon's write token in the header field"))
                }
                Err(err) => Err(err.to_string()),
            }));
        });
    };
    let act_pause = act.clone();
    let off = move || pending.get() || access.read_only();
    let can_pause = move || status.get() == Some(TaskStatus::Open);
    let can_clear = move || status.get().is_some_and(|s| !s.is_terminal());
    let title = move || if access.read_only() { "read-only: writes need the write token" } else { "" };
    view! {
        <form class="task-actions" data-testid="task-actions" on:submit=|ev| ev.prevent_default()>
            <input
                type="text"
                placeholder="reason (required)"
                aria-label="reason"
                maxlength="2000"
                data-testid="task-reason"
                disabled=move || access.read_only()
                prop:value=move || reason.get()
                on:input=move |ev| reason.set(event_target_value(&ev))
            />
            <button type="button" data-testid="task-pause" title=title disabled=move || off() || !can_pause() on:click=move |_| act_pause(Act::Pause)>
                "Pause"
            </button>
            <button type="button" data-testid="task-clear" title=title disabled=move || off() || !can_clear() on:click=move |_| act(Act::Clear)>
                "Clear"
            </button>
            {move || match outcome.get() {
                Some(Ok(message)) => view! { <span class="ok" data-testid="task-action-ok">{message}</span> }.into_any(),
                Some(Err(error)) => view! { <span class="error" role="alert" data-testid="task-action-error">{error}</span> }.into_any(),
                None => ().into_any(),
            }}
        </form>
    }
}
