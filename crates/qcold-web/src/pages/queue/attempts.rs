//! An item's attempts: each semantic iteration with its agent, times and failure, the end of its
//! terminal captured when it ended, and its agent's output log fetched on demand.

use leptos::prelude::*;
use qcold_core::queue::{Attempt, ItemRecord};
use qcold_core::terminal::plain_text;

use crate::api;
use crate::token::Access;

/// How many lines of an agent's log are fetched.
const LOG_LINES: u32 = 200;

/// The attempts, folded; keyed by index, so a new attempt adds a row and redraws none.
#[component]
pub(super) fn Attempts(item: ReadSignal<ItemRecord>, access: Access) -> impl IntoView {
    let count = Memo::new(move |_| item.with(|i| i.attempts.len()));
    let indexes = move || (0..count.get()).collect::<Vec<usize>>();
    view! {
        <details class="attempts" data-testid="queue-item-attempts">
            <summary>{move || format!("attempts ({})", count.get())}</summary>
            <ol>
                <For each=indexes key=|index| *index
                    children=move |index| view! { <AttemptRow item=item index=index access=access /> } />
            </ol>
        </details>
    }
}

#[component]
fn AttemptRow(item: ReadSignal<ItemRecord>, index: usize, access: Access) -> impl IntoView {
    let attempt = Memo::new(move |_| item.with(|i| i.attempts.get(index).cloned()));
    let log = RwSignal::new(None::<Result<String, String>>);
    let fetch = move |agent: String| {
        let token = access.token;
        leptos::task::spawn_local(async move {
            let answer = api::queue::agent_tail(token, &agent, LOG_LINES).await;
            log.set(Some(answer.map(|a| plain_text(&a.text)).map_err(|e| e.to_string())));
        });
    };
    let summary = move || attempt.with(|a| a.as_ref().map(describe).unwrap_or_default());
    let captured = move || {
        attempt.with(|a| a.as_ref().and_then(|a| a.log.clone())).filter(|l| !l.trim().is_empty()).map(|l| {
            view! { <pre class="log" data-testid="attempt-captured">{plain_text(&l)}</pre> }
        })
    };
    let button = move || {
        attempt.with(|a| a.as_ref().and_then(|a| a.agent_id.clone())).map(|agent| {
            view! {
                <button type="button" data-testid="attempt-log-fetch" on:click=move |_| fetch(agent.clone())>
                    "Agent log"
                </button>
            }
        })
    };
    let fetched = move || match log.get() {
        Some(Ok(text)) => view! { <pre class="log" data-testid="attempt-log">{text}</pre> }.into_any(),
        Some(Err(err)) => {
            view! { <span class="error" role="alert" data-testid="attempt-log-error">{err}</span> }.into_any()
        }
        None => ().into_any(),
    };
    view! {
        <li class="attempt" data-testid=format!("attempt-{}", index + 1)>
            <span>{summary}</span> {button}
            {captured}
            {fetched}
        </li>
    }
}

fn describe(a: &Attempt) -> String {
    let agent = a.agent_id.as_deref().unwrap_or("no agent");
    let outcome = match (&a.failure, a.finished_at) {
        (Some(failure), _) => format!("failed: {failure}"),
        (None, Some(_)) => "ended".to_owned(),
        (None, None) => "in progress".to_owned(),
    };
    format!("iteration {} · {} · {agent} · {outcome}", a.iteration, a.agent_command)
}
