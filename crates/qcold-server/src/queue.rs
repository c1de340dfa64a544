//! The operator's queue commands: validate, record intent in the store, answer. The scheduler
//! ([`crate::scheduler`]) does the rest when it is woken.
//!
//! Every command checks everything before it writes, and writes in one transaction, so a refused
//! command leaves the store as it was.

use qcold_core::agent::command;
use qcold_core::ids::{base36, numbered};
use qcold_core::queue::RunStatus;
use qcold_core::queue::dedupe::{self, Duplicate};
use qcold_core::queue::graph::{self, Diagnostic, DiagnosticKind, Normalized, Rejected, Severity};
use qcold_core::queue::package::{Package, PackageItem};
use qcold_core::queue::wire::{
    AppendRequest, QueueAnswer, RemoveRequest, Run, RunRequest, RunSelector, StopRequest, TabCreate, TabSelector,
    UpdateRequest,
};
use qcold_core::{CommandName, IdError, RepoId, RunId, TabId};

use crate::agents::commands;
use crate::repos::{self, RepoError};
use crate::store::{DEFAULT_TAB, Store, StoreError};

/// Why a queue command was refused.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The package has errors; every diagnostic is kept.
    #[error(transparent)]
    Rejected(#[from] Rejected),
    /// A slug repeats unfinished work of another run.
    #[error(transparent)]
    Duplicate(#[from] Duplicate),
    /// The request itself is malformed.
    #[error("{0}")]
    Invalid(String),
    /// No such run.
    #[error("no queue run {0:?}; `qcold queue list` shows the runs")]
    UnknownRun(String),
    /// No such tab.
    #[error("no queue tab {0:?}; `qcold queue list` shows the tabs")]
    UnknownTab(String),
    /// No run was named and the active tab shows none.
    #[error("the active tab shows no run; name one with --run-id or start one with `qcold queue run`")]
    NoRun,
    /// The command does not fit the run's or item's state.
    #[error("{0}")]
    Conflict(String),
    /// The repository cannot be resolved.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IdError> for QueueError {
    fn from(err: IdError) -> Self {
        QueueError::Invalid(err.to_string())
    }
}

fn answer(message: impl Into<String>, run_id: Option<RunId>, tab_id: Option<TabId>) -> QueueAnswer {
    QueueAnswer { ok: true, message: message.into(), run_id, tab_id, diagnostics: Vec::new() }
}

/// `POST /api/queue/run`: normalises the package, refuses repeated unfinished slugs, stores the
/// run and shows it in the tab.
pub fn run(store: &mut Store, request: RunRequest, now: i64) -> Result<QueueAnswer, QueueError> {
    let mut package = request.package;
    if package.items.is_empty() {
        return Err(QueueError::Invalid("the queue package has no items".into()));
    }
    if let Some(mode) = request.execution_mode {
        package.execution_mode = mode;
    }
    let repo_id = match (request.repo, &package.repo) {
        (Some(id), _) => Some(id),
        (None, Some(text)) => Some(RepoId::new(text.clone())?),
        (None, None) => None,
    };
    let repo = repos::resolve(store, repo_id.as_ref())?;
    let agent = request.agent.or_else(|| package.agent.clone());
    check_agents(store, agent.as_deref(), &package.items)?;
    check_packets(store, agent.as_deref(), &labelled(&package.items, 0))?;
    let normalized = strict(graph::normalize(&package, 1)?)?;
    let tab = target_tab(store, request.tab_id.as_ref())?;
    if let Some(shown) = tab.1.as_ref().map(|id| store.run(id)).transpose()?.flatten()
        && !finished(&shown)
    {
        return Err(QueueError::Conflict(format!(
            "tab {} already shows unfinished run {}; append to it, clear it, or `qcold queue create` a new tab",
            tab.0, shown.id
        )));
    }
    let unfinished = store.unfinished_items(None)?;
    dedupe::check(normalized.items.iter().map(|i| i.slug.as_str()), &unfinished)?;
    let id = new_run_id(store, now)?;
    store.insert_run(&id, &repo.id, normalized.mode, agent.as_deref(), &normalized.items, now)?;
    store.show_run_in_tab(&tab.0, &id)?;
    let mut reply = answer(
        format!(
            "queued run {id} with {} item(s) in {} mode for {}",
            normalized.items.len(),
            normalized.mode.as_str(),
            repo.id
        ),
        Some(id),
        Some(tab.0),
    );
    reply.diagnostics = normalized.diagnostics;
    Ok(reply)
}

/// `POST /api/queue/append`: more items for a run; dependencies may name its existing items.
pub fn append(store: &mut Store, request: AppendRequest, now: i64) -> Result<QueueAnswer, QueueError> {
    let run = selected_run(store, request.run_id.as_ref())?;
    if matches!(run.status, RunStatus::Failed | RunStatus::Stopping | RunStatus::Stopped) {
        return Err(QueueError::Conflict(format!(
            "run {} is {}; `qcold queue continue {}` first",
            run.id,
            run.status.as_str(),
            run.id
        )));
    }
    if request.package.items.is_empty() {
        return Err(QueueError::Invalid("the queue package has no items".into()));
    }
    let run_agent = request.package.agent.as_deref().or(run.agent.as_deref());
    check_agents(store, run_agent, &request.package.items)?;
    check_packets(store, run_agent, &labelled(&request.package.items, run.items.len()))?;
    // Normalise the combined set so dependencies on existing items resolve and waves stay canonical.
    let existing: Vec<PackageItem> = run
        .items
        .iter()
        .map(|i| PackageItem {
            id: Some(i.id.to_string()),
            slug: Some(i.slug.to_string()),
            prompt: i.prompt.clone(),
            depends_on: i.depends_on.iter().map(ToString::to_string).collect(),
            wave_index: None,
            task_class: i.task_class,
            agent: i.agent.clone(),
        })
        .collect();
    let added = request.package.items.len();
    let agent = request.package.agent.clone();
    let mut items = existing;
    items.extend(request.package.items.into_iter().map(|mut item| {
        item.agent = item.agent.or_else(|| agent.clone());
        item
    }));
    let combined = Package { items, execution_mode: run.mode, ..Package::default() };
    let normalized = strict(graph::normalize(&combined, 1)?)?;
    let new_items = &normalized.items[normalized.items.len() - added..];
    let unfinished = store.unfinished_items(Some(&run.id))?;
    dedupe::check(new_items.iter().map(|i| i.slug.as_str()), &unfinished)?;
    store.append_items(&run.id, new_items, now)?;
    let mut reply = answer(format!("appended {added} item(s) to run {}", run.id), Some(run.id), None);
    let new_ids: Vec<String> = new_items.iter().map(|i| i.id.to_string()).collect();
    reply.diagnostics =
        normalized.diagnostics.into_iter().filter(|d| d.item.as_ref().is_none_or(|i| new_ids.contains(i))).collect();
    Ok(reply)
}

/// `POST /api/queue/update`: edits an item that has not started.
pub fn update(store: &mut Store, request: UpdateRequest, now: i64) -> Result<QueueAnswer, QueueError> {
    if request.prompt.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return Err(QueueError::Invalid("the new prompt is empty".into()));
    }
    if let Some(agent) = request.agent.as_deref() {
        check_agents(store, Some(agent), &[])?;
    }
    let item = store
        .item(&request.run_id, &request.item_id)?
        .ok_or_else(|| QueueError::Invalid(format!("run {} has no item {}", request.run_id, request.item_id)))?;
    let run_agent = store.run(&request.run_id)?.and_then(|r| r.agent);
    let agent = request.agent.as_deref().or(item.agent.as_deref());
    let prompt = request.prompt.as_deref().unwrap_or(&item.prompt);
    check_packets(store, run_agent.as_deref(), &[(item.id.to_string(), prompt, agent)])?;
    let edited = store.edit_item(
        &request.run_id,
        &request.item_id,
        request.prompt.as_deref(),
        request.task_class,
        request.agent.as_deref(),
        now,
    )?;
    if !edited {
        return Err(QueueError::Conflict(format!(
            "item {} is {} and has started; only items that never started can be changed",
            item.id, item.status
        )));
    }
    Ok(answer(format!("updated item {}", item.id), Some(request.run_id), None))
}

/// `POST /api/queue/remove`: removes an item that is not in flight.
pub fn remove(store: &mut Store, request: RemoveRequest, now: i64) -> Result<QueueAnswer, QueueError> {
    let item = store
        .item(&request.run_id, &request.item_id)?
        .ok_or_else(|| QueueError::Invalid(format!("run {} has no item {}", request.run_id, request.item_id)))?;
    if !store.remove_item(&request.run_id, &request.item_id, now)? {
        return Err(QueueError::Conflict(format!(
            "item {} is {}; an item in flight cannot be removed (stop the run and wait for it)",
            item.id, item.status
        )));
    }
    Ok(answer(format!("removed item {}", item.id), Some(request.run_id), None))
}

/// `POST /api/queue/stop`: no new launches; items not started become `stopped`, items in flight
/// finish their current iteration — or, with `kill`, the scheduler stops their agents (their
/// worktrees and work are kept). A stopping run can still be asked to kill.
pub fn stop(store: &mut Store, request: StopRequest, now: i64) -> Result<QueueAnswer, QueueError> {
    let run = selected_run(store, request.run_id.as_ref())?;
    let allowed = run.status == RunStatus::Running || (request.kill && run.status == RunStatus::Stopping);
    if !allowed {
        return Err(QueueError::Conflict(format!(
            "run {} is {}; only a running run can be stopped{}",
            run.id,
            run.status.as_str(),
            if request.kill { " (or a stopping one killed)" } else { "" }
        )));
    }
    if request.kill {
        store.request_run_kill(&run.id, now)?;
        store.set_run_status(&run.id, RunStatus::Stopping, "stop requested; its agents are being stopped", now)?;
        return Ok(answer(format!("stop and kill requested for run {}", run.id), Some(run.id), None));
    }
    store.set_run_status(&run.id, RunStatus::Stopping, "stop requested", now)?;
    Ok(answer(format!("stop requested for run {}", run.id), Some(run.id), None))
}

/// `POST /api/queue/continue`: resumes a stopped or failed run; wakes waiting items of a running one.
pub fn resume(store: &mut Store, request: RunSelector, now: i64) -> Result<QueueAnswer, QueueError> {
    let run = selected_run(store, request.run_id.as_ref())?;
    if run.status == RunStatus::Success {
        return Err(QueueError::Conflict(format!("run {} succeeded; there is nothing to continue", run.id)));
    }
    let touched = store.continue_run(&run.id, now)?;
    Ok(answer(format!("continued run {} ({touched} item(s) resumed or woken)", run.id), Some(run.id), None))
}

/// `POST /api/queue/clear`: deletes a run that has nothing in flight. Task records, worktrees
/// and agents are left alone: clearing forgets the queue bookkeeping, never work.
pub fn clear(store: &mut Store, request: RunSelector) -> Result<QueueAnswer, QueueError> {
    let run = selected_run(store, request.run_id.as_ref())?;
    let in_flight: Vec<String> = run
        .items
        .iter()
        .filter(|i| i.status.is_in_flight())
        .map(|i| match &i.agent_id {
            Some(agent) => format!("{} (agent {agent})", i.id),
            None => i.id.to_string(),
        })
        .collect();
    if !in_flight.is_empty() {
        return Err(QueueError::Conflict(format!(
            "run {} has items in flight: {}; `qcold queue stop` and let them finish (or `qcold agent stop` them) first",
            run.id,
            in_flight.join(", ")
        )));
    }
    store.delete_run(&run.id)?;
    Ok(answer(format!("cleared run {} ({} item(s))", run.id, run.items.len()), Some(run.id), None))
}

/// `POST /api/queue/tab/create`: a new, active tab.
pub fn create_tab(store: &mut Store, request: TabCreate, now: i64) -> Result<QueueAnswer, QueueError> {
    let tabs = store.tabs()?;
    let label = match request.label.map(|l| l.trim().to_owned()) {
        Some(l) if l.is_empty() => return Err(QueueError::Invalid("the tab label is empty".into())),
        Some(l) if l.chars().count() > 48 => {
            return Err(QueueError::Invalid(format!("the tab label has {} characters; at most 48", l.chars().count())));
        }
        Some(l) if l.chars().any(char::is_control) => {
            return Err(QueueError::Invalid("the tab label contains control characters".into()));
        }
        Some(l) => l,
        None => format!("Queue {}", tabs.len() + 1),
    };
    let stem = format!("queue-{}", base36(now.unsigned_abs()));
    let free = numbered(&stem, 2).find(|candidate| !tabs.iter().any(|t| t.id.as_str() == candidate));
    let id = TabId::new(free.unwrap_or(stem))?;
    store.create_tab(&id, &label, now)?;
    Ok(answer(format!("created tab {id} ({label})"), None, Some(id)))
}

/// `POST /api/queue/tab/switch`.
pub fn switch_tab(store: &mut Store, request: TabSelector) -> Result<QueueAnswer, QueueError> {
    if !store.switch_tab(&request.tab_id)? {
        return Err(QueueError::UnknownTab(request.tab_id.to_string()));
    }
    Ok(answer(format!("switched to tab {}", request.tab_id), None, Some(request.tab_id)))
}

/// `POST /api/queue/tab/delete`: never the default tab, never one whose run is unfinished.
pub fn delete_tab(store: &mut Store, request: TabSelector) -> Result<QueueAnswer, QueueError> {
    let id = request.tab_id;
    if id.as_str() == DEFAULT_TAB {
        return Err(QueueError::Conflict("the default tab cannot be deleted".into()));
    }
    let tab = store.tabs()?.into_iter().find(|t| t.id == id).ok_or_else(|| QueueError::UnknownTab(id.to_string()))?;
    if let Some(run) = tab.run_id.as_ref().map(|r| store.run(r)).transpose()?.flatten()
        && !finished(&run)
    {
        return Err(QueueError::Conflict(format!("tab {id} shows unfinished run {}; stop and clear it first", run.id)));
    }
    store.delete_tab(&id)?;
    Ok(answer(format!("deleted tab {id}"), None, Some(id)))
}

/// Refuses a package whose normalisation dropped a dependency that names no item: the
/// normaliser reports it as a warning, but running the dependent item early because of a typo
/// is exactly the surprise an operator must not get. The diagnostic is returned as an error.
fn strict(normalized: Normalized) -> Result<Normalized, Rejected> {
    if !normalized.diagnostics.iter().any(|d| d.kind == DiagnosticKind::MissingDependency) {
        return Ok(normalized);
    }
    let diagnostics = normalized
        .diagnostics
        .into_iter()
        .map(|d| match d.kind {
            DiagnosticKind::MissingDependency => Diagnostic {
                severity: Severity::Error,
                message: d.message.replace("; dropped", "; name an item of the run or remove the dependency"),
                ..d
            },
            _ => d,
        })
        .collect();
    Err(Rejected { diagnostics })
}

/// A run is finished when it succeeded or failed and nothing of it is in flight.
fn finished(run: &Run) -> bool {
    matches!(run.status, RunStatus::Success | RunStatus::Failed) && !run.items.iter().any(|i| i.status.is_in_flight())
}

/// The tab to put a new run in (the active one by default) and the run it shows now.
fn target_tab(store: &Store, wanted: Option<&TabId>) -> Result<(TabId, Option<RunId>), QueueError> {
    let tabs = store.tabs()?;
    let tab = match wanted {
        Some(id) => tabs.into_iter().find(|t| &t.id == id).ok_or_else(|| QueueError::UnknownTab(id.to_string()))?,
        None => tabs
            .into_iter()
            .find(|t| t.active)
            .ok_or_else(|| QueueError::Conflict("no queue tab is active; `qcold queue switch default`".into()))?,
    };
    Ok((tab.id, tab.run_id))
}

/// The named run, else the one the active tab shows.
fn selected_run(store: &Store, wanted: Option<&RunId>) -> Result<Run, QueueError> {
    let id = match wanted {
        Some(id) => id.clone(),
        None => store.tabs()?.into_iter().find(|t| t.active).and_then(|t| t.run_id).ok_or(QueueError::NoRun)?,
    };
    store.run(&id)?.ok_or_else(|| QueueError::UnknownRun(id.to_string()))
}

/// Every agent command a run or its items name must exist.
fn check_agents(store: &Store, run_agent: Option<&str>, items: &[PackageItem]) -> Result<(), QueueError> {
    let known = commands::all(store).map_err(|e| QueueError::Invalid(e.to_string()))?;
    if known.is_empty() && run_agent.is_none() && items.iter().any(|i| i.agent.is_none()) {
        return Err(QueueError::Invalid(
            "no agent command is available: codex and claude are not on PATH and none is registered; \
             `qcold agent command add NAME -- PROGRAM ARGS...` registers one"
                .into(),
        ));
    }
    for name in run_agent.into_iter().chain(items.iter().filter_map(|i| i.agent.as_deref())) {
        let parsed = CommandName::new(name.to_owned())?;
        if !known.iter().any(|c| c.name == parsed) {
            let names: Vec<String> = known.iter().map(|c| c.name.to_string()).collect();
            return Err(QueueError::Invalid(format!(
                "no agent command {name:?}; known: {} (`qcold agent command add` registers one)",
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            )));
        }
    }
    Ok(())
}

/// `(label, prompt, agent)` of package items: the label is the item's id, else its position.
fn labelled(items: &[PackageItem], before: usize) -> Vec<(String, &str, Option<&str>)> {
    let label = |n: usize, item: &PackageItem| item.id.clone().unwrap_or_else(|| format!("item-{}", before + n + 1));
    items.iter().enumerate().map(|(n, i)| (label(n, i), i.prompt.as_str(), i.agent.as_deref())).collect()
}

/// Every item's packet must fit the argv of each command that may run it and takes the packet
/// as an argument (`{packet}`): the OS passes no argument longer than
/// [`command::MAX_ARG_BYTES`], and a refusal now beats a launch that can only fail. The packet
/// is the prompt and [`command::PACKET_RESERVE_BYTES`] of its own text; the commands that may
/// run an item are the one it or its run names, else every known one (the launch takes the
/// first ready).
fn check_packets(
    store: &Store,
    run_agent: Option<&str>,
    items: &[(String, &str, Option<&str>)],
) -> Result<(), QueueError> {
    let known = commands::all(store).map_err(|e| QueueError::Invalid(e.to_string()))?;
    for (label, prompt, agent) in items {
        let named = agent.or(run_agent);
        let candidates = known.iter().filter(|c| named.is_none_or(|n| c.name.as_str() == n));
        for candidate in candidates {
            if let Err(too_long) = command::check_fits(&candidate.argv, prompt.len() + command::PACKET_RESERVE_BYTES) {
                let how = if named.is_some() { "" } else { ", and name it with \"agent\" in the package or --agent" };
                return Err(QueueError::Invalid(format!(
                    "item {label}: its prompt ({} bytes) is too long for agent command {}, which takes the packet \
                     as an argument: {too_long}{how}",
                    prompt.len(),
                    candidate.name
                )));
            }
        }
    }
    Ok(())
}

fn new_run_id(store: &Store, now: i64) -> Result<RunId, QueueError> {
    let stem = format!("run-{}", base36(now.unsigned_abs()));
    for candidate in numbered(&stem, 2).take(999) {
        let id = RunId::new(candidate)?;
        if store.run(&id)?.is_none() {
            return Ok(id);
        }
    }
    Err(QueueError::Conflict("too many runs created this second; try again".into()))
}
