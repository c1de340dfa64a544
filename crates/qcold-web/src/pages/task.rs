//! The task page (`/tasks/{repo}/{NNN-slug}`): the record, the event timeline, the diff against
//! the base, bundles to download, snapshots with their restore command, and pause and clear.
//! It reloads whenever the event stream says the task changed.

mod actions;
mod diff;

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use qcold_core::api::tasks::{TaskDetail, TaskDiff};
use qcold_core::task::TaskRecord;

use self::actions::Actions;
use self::diff::{DiffView, short};
use crate::api;
use crate::pages::tasks::status_class;
use crate::store::Rows;
use crate::token::Access;

/// The page.
#[component]
pub(crate) fn TaskPage(live: Rows<String, TaskRecord>, access: Access) -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params.with(|p| format!("{}/{}", p.get_str("repo").unwrap_or_default(), p.get_str("name").unwrap_or_default()))
    });
    let detail = RwSignal::new(None::<Result<TaskDetail, String>>);
    let diff = RwSignal::new(None::<Result<TaskDiff, String>>);
    let reload = RwSignal::new(0_u32);
    // The live record's last change: when it moves, the page reloads events, bundles and diff.
    let changed = Memo::new(move |_| {
        let id = id.get();
        live.get(&id).map(|t| (t.updated_at, t.status))
    });
    Effect::new(move |_| {
        let (id, _, _) = (id.get(), changed.get(), reload.get());
        leptos::task::spawn_local(async move {
            let shown = api::tasks::detail(access.token, &id).await.map_err(|e| e.to_string());
            detail.set(Some(shown));
            let compared = api::tasks::diff(access.token, &id).await.map_err(|e| e.to_string());
            diff.set(Some(compared));
        });
    });
    // The record shown: the live one when the state holds one at least as new.
    let record = Memo::new(move |_| {
        let loaded = detail.with(|d| d.as_ref().and_then(|d| d.as_ref().ok()).map(|d| d.task.clone()));
        let id = id.get();
        let newer = live.get(&id);
        match (loaded, newer) {
            (Some(loaded), Some(newer)) if newer.updated_at < loaded.updated_at => Some(loaded),
            (loaded, newer) => newer.or(loaded),
        }
    });
    let status = Signal::derive(move || record.with(|r| r.as_ref().map(|r| r.status)));
    let on_done = Callback::new(move |_: TaskRecord| reload.update(|n| *n += 1));

    view! {
        <section class="task" data-testid="task">
            <p><A href="/tasks">"← Tasks"</A></p>
            <h2 data-testid="task-id">{move || id.get()}</h2>
            {move || match detail.get() {
                None => view! { <p class="empty">"Loading…"</p> }.into_any(),
                Some(Err(err)) => view! { <p class="error" role="alert" data-testid="task-error">{err}</p> }.into_any(),
                Some(Ok(_)) => ().into_any(),
            }}
            {move || record.get().map(|r| view! { <Record task=r /> })}
            {move || view! { <Actions id=id.get() status=status access=access on_done=on_done /> }}
        </section>
        {move || detail.get().and_then(Result::ok).map(|d| view! { <Evidence detail=d /> })}
        {move || match diff.get() {
            Some(Ok(d)) => view! { <DiffView diff=d /> }.into_any(),
            Some(Err(err)) => view! { <section class="task-diff"><h2>"Diff"</h2><p class="error" role="alert">{err}</p></section> }.into_any(),
            None => ().into_any(),
        }}
    }
}

/// The record's fields.
#[component]
fn Record(task: TaskRecord) -> impl IntoView {
    let failed = task.failed_phase.map(|phase| {
        let how = task.closeout_failure.as_ref().map(|f| format!(" ({}: {})", f.kind.as_str(), f.first_line)).unwrap_or_default();
        view! { <dt>"Failed phase"</dt><dd class="error" data-testid="task-failed-phase">{format!("{phase}{how}")}</dd> }
    });
    view! {
        <dl class="task-record" data-testid="task-record">
            <dt>"Status"</dt>
            <dd><span class=format!("status {}", status_class(task.status)) data-testid="task-status">{task.status.as_str()}</span></dd>
            {failed}
            <dt>"Prompt"</dt><dd>{task.prompt.clone().unwrap_or_default()}</dd>
            <dt>"Branch"</dt><dd class="mono">{task.branch.clone()}</dd>
            <dt>"Worktree"</dt><dd class="mono">{task.worktree.clone()}</dd>
            <dt>"Base"</dt><dd class="mono">{format!("{} @ {}", task.base_branch, short(&task.base_commit))}</dd>
            <dt>"Opened"</dt><dd>{when(task.created_at)}</dd>
            <dt>"Changed"</dt><dd>{when(task.updated_at)}</dd>
            {task.closed_at.map(|at| view! { <dt>"Closed"</dt><dd>{when(at)}</dd> })}
        </dl>
    }
}

/// The timeline, bundles and snapshots.
#[component]
fn Evidence(detail: TaskDetail) -> impl IntoView {
    let id = detail.task.id.clone();
    let events = detail
        .events
        .into_iter()
        .map(|e| {
            let kind =
                serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            view! { <li><span class="reason">{when(e.at)}</span>" "<b>{kind}</b>" "{e.message}</li> }
        })
        .collect_view();
    let bundles = detail
        .bundles
        .into_iter()
        .map(|b| {
            let file = b.file_name().to_owned();
            let href = api::tasks::bundle_url(&id, &file);
            view! { <li><a href=href download=file.clone() data-testid="task-bundle">{file.clone()}</a>" "<span class="reason">{b.status.as_str()}</span></li> }
        })
        .collect_view();
    let snapshots = detail
        .snapshots
        .into_iter()
        .map(|s| view! {
            <li>
                <span class="mono">{s.reference}</span>" "<span class="reason">{format!("{} · {}", short(&s.commit), when(s.created_at))}</span>
                <code class="restore" data-testid="task-restore">{s.restore}</code>
            </li>
        })
        .collect_view();
    view! {
        <section class="task-evidence" data-testid="task-evidence">
            <h2>"Timeline"</h2>
            <ol class="timeline" data-testid="task-timeline">{events}</ol>
            <h2>"Bundles"</h2>
            <ul data-testid="task-bundles">{bundles}</ul>
            <h2>"Snapshots"</h2>
            <p class="reason">"Restore one into a new branch of the primary checkout by running its command."</p>
            <ul data-testid="task-snapshots">{snapshots}</ul>
        </section>
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn when(at: i64) -> String {
    let (days, secs) = (at.div_euclid(86_400), at.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}
