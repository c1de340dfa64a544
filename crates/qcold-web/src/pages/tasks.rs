//! The tasks page (`/tasks`): a keyset-paged list filtered by status and repository and searched
//! by text, the filters (and a `limit`, the page size) kept in the URL's query string; a row whose task the event stream changes
//! shows the new record.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};
use qcold_core::api::tasks::TaskQuery;
use qcold_core::task::TaskRecord;
use qcold_core::{RepoId, RepositoryList, TaskStatus};

use crate::api;
use crate::store::Rows;
use crate::token::Access;

/// How long the search box waits after the last keystroke before it asks.
const SEARCH_DEBOUNCE: Duration = Duration::from_millis(300);

/// The page.
#[component]
pub(crate) fn TasksPage(
    live: Rows<String, TaskRecord>,
    repositories: Signal<Option<RepositoryList>>,
    access: Access,
) -> impl IntoView {
    let url = use_query_map();
    let query = Memo::new(move |_| {
        url.with(|m| TaskQuery {
            status: m.get_str("status").and_then(|s| s.parse::<TaskStatus>().ok()),
            repo: m.get_str("repo").and_then(|r| RepoId::new(r).ok()),
            q: m.get_str("q").filter(|q| !q.is_empty()).map(str::to_owned),
            limit: m.get_str("limit").and_then(|l| l.parse().ok()),
            ..TaskQuery::default()
        })
    });
    let navigate = use_navigate();
    let go = move |next: TaskQuery| {
        navigate(
            &format!("/tasks{}", api::tasks::query_string(&next)),
            NavigateOptions { replace: true, ..Default::default() },
        );
    };

    let rows = RwSignal::new(Vec::<TaskRecord>::new());
    let next = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let loading = RwSignal::new(false);
    // A load answers for the query it was asked for: a slower answer to an older query is dropped.
    let generation = StoredValue::new(0_u64);
    let load = move |mut wanted: TaskQuery, append: bool| {
        generation.update_value(|g| *g += 1);
        let asked = generation.get_value();
        if !append {
            wanted.cursor = None;
        }
        loading.set(true);
        leptos::task::spawn_local(async move {
            let result = api::tasks::page(access.token, &wanted).await;
            if generation.get_value() != asked {
                return;
            }
            loading.set(false);
            match result {
                Ok(page) => {
                    error.set(None);
                    next.set(page.next_cursor);
                    rows.update(|r| {
                        if !append {
                            r.clear();
                        }
                        r.extend(page.tasks);
                    });
                }
                Err(err) => error.set(Some(err.to_string())),
            }
        });
    };
    Effect::new(move |_| load(query.get(), false));
    let more = move |_| {
        let mut wanted = query.get_untracked();
        wanted.cursor = next.get_untracked();
        load(wanted, true);
    };

    // Each row shows the live record when the state holds a newer one.
    let shown = Memo::new(move |_| {
        rows.get()
            .into_iter()
            .map(|row| match live.get(&row.id) {
                Some(newer) if newer.updated_at >= row.updated_at => newer,
                _ => row,
            })
            .collect::<Vec<_>>()
    });

    view! {
        <section class="tasks" data-testid="tasks">
            <h2>"Tasks"</h2>
            <Filters query=query repositories=repositories go=go />
            {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="tasks-error">{e}</p> })}
            <Show when=move || !shown.with(Vec::is_empty) fallback=move || view! {
                <p class="empty" data-testid="tasks-empty">{move || if loading.get() { "Loading…" } else { "No tasks match." }}</p>
            }>
                <ul class="task-list">
                    <For each=move || shown.get() key=|t| (t.id.clone(), t.updated_at, t.status) children=|t| view! { <TaskRow task=t /> } />
                </ul>
            </Show>
            {move || next.with(Option::is_some).then(|| view! {
                <button type="button" data-testid="tasks-more" disabled=move || loading.get() on:click=more>"More"</button>
            })}
        </section>
    }
}

/// Status and repository selects and the debounced search box; each change replaces the URL.
#[component]
fn Filters(
    query: Memo<TaskQuery>,
    repositories: Signal<Option<RepositoryList>>,
    go: impl Fn(TaskQuery) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let draft = RwSignal::new(query.get_untracked().q.unwrap_or_default());
    let pending = StoredValue::new(None::<TimeoutHandle>);
    let go_status = go.clone();
    let go_repo = go.clone();
    let search = move |text: String| {
        draft.set(text);
        if let Some(handle) = pending.get_value() {
            handle.clear();
        }
        let go = go.clone();
        let handle = set_timeout_with_handle(
            move || {
                let text = draft.get_untracked();
                let text = text.trim();
                go(TaskQuery { q: (!text.is_empty()).then(|| text.to_owned()), ..query.get_untracked() });
            },
            SEARCH_DEBOUNCE,
        );
        pending.set_value(handle.ok());
    };
    let repo_ids = move || {
        repositories.get().map(|l| l.repositories.into_iter().map(|r| r.id).collect::<Vec<_>>()).unwrap_or_default()
    };
    view! {
        <form class="task-filters" on:submit=|ev| ev.prevent_default()>
            <select
                aria-label="status"
                data-testid="tasks-status"
                on:change=move |ev| {
                    let status = event_target_value(&ev).parse::<TaskStatus>().ok();
                    go_status(TaskQuery { status, ..query.get_untracked() });
                }
            >
                <option value="" selected=move || query.with(|q| q.status.is_none())>"any status"</option>
                {TaskStatus::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected=move || query.with(|q| q.status == Some(s))>{s.as_str()}</option> }).collect::<Vec<_>>()}
            </select>
            <select
                aria-label="repository"
                data-testid="tasks-repo"
                on:change=move |ev| {
                    let repo = RepoId::new(event_target_value(&ev)).ok();
                    go_repo(TaskQuery { repo, ..query.get_untracked() });
                }
            >
                <option value="" selected=move || query.with(|q| q.repo.is_none())>"any repository"</option>
                {move || {
                    let chosen = query.with(|q| q.repo.clone());
                    repo_ids()
                        .into_iter()
                        .map(|r| view! { <option value=r.to_string() selected=chosen.as_ref() == Some(&r)>{r.to_string()}</option> })
                        .collect_view()
                }}
            </select>
            <input
                type="search"
                placeholder="search id, slug, prompt, branch"
                aria-label="search"
                data-testid="tasks-search"
                prop:value=move || draft.get()
                on:input=move |ev| search(event_target_value(&ev))
            />
        </form>
    }
}

/// One task: id (a link to its page), status, repository, branch, prompt.
#[component]
fn TaskRow(task: TaskRecord) -> impl IntoView {
    let href = format!("/tasks/{}", task.id);
    let testid = format!("task-row-{}", task.id);
    view! {
        <li class="task-row" data-testid=testid>
            <A href=href>{task.id.clone()}</A>
            " "
            <span class=format!("status {}", status_class(task.status)) data-testid="task-row-status">{task.status.as_str()}</span>
            <span class="reason">{format!(" {} · {}", task.branch, crate::pages::task::when(task.updated_at))}</span>
            {task.prompt.map(|p| view! { <p class="prompt">{p}</p> })}
        </li>
    }
}

/// The CSS class of a status (`closed:success` → `closed-success`).
pub(crate) fn status_class(status: TaskStatus) -> String {
    status.as_str().replace(':', "-")
}
