//! A queue write's outcome, shown inline next to the buttons that made it: the daemon's message,
//! or why it refused (with the way to a write token when that was the reason).

use std::future::Future;

use leptos::prelude::*;
use qcold_core::queue::wire::QueueAnswer;

use crate::api::ApiError;

/// The last outcome of a group of buttons: `Ok(message)` or `Err(why)`.
pub(super) type Outcome = RwSignal<Option<Result<String, String>>>;

/// The words for a write's result.
pub(super) fn describe(result: &Result<QueueAnswer, ApiError>) -> Result<String, String> {
    match result {
        Ok(answer) if answer.ok => Ok(answer.message.clone()),
        Ok(answer) => Err(answer.message.clone()),
        Err(err) if err.is_unauthorized() => Err(format!("{err} — enter the daemon's write token in the header field")),
        Err(err) => Err(err.to_string()),
    }
}

/// Sends a write: `pending` while it is out, then its outcome into `outcome`; `then` sees whether
/// it succeeded.
pub(super) fn perform(
    outcome: Outcome,
    pending: RwSignal<bool>,
    write: impl Future<Output = Result<QueueAnswer, ApiError>> + 'static,
    then: impl FnOnce(bool) + 'static,
) {
    pending.set(true);
    leptos::task::spawn_local(async move {
        let described = describe(&write.await);
        let ok = described.is_ok();
        outcome.set(Some(described));
        pending.set(false);
        then(ok);
    });
}

/// The outcome, as `{testid}-ok` or `{testid}-error`.
#[component]
pub(super) fn OutcomeNote(outcome: Outcome, testid: &'static str) -> impl IntoView {
    move || match outcome.get() {
        Some(Ok(message)) => view! { <span class="ok" data-testid=format!("{testid}-ok")>{message}</span> }.into_any(),
        Some(Err(error)) => {
            view! { <span class="error" role="alert" data-testid=format!("{testid}-error")>{error}</span> }.into_any()
        }
        None => ().into_any(),
    }
}

/// The tooltip of a write button while the dashboard is read-only.
pub(super) fn read_only_title(read_only: bool) -> &'static str {
    if read_only { "read-only: writes need the write token" } else { "" }
}
