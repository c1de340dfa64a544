//! The deltas between two values of a cached collection: the events that turn the old value
//! into the new one.
//!
//! The daemon keeps each collection of the state (repositories, queue view, tasks, agents) in a
//! cache; after re-reading one from the store it publishes `delta::<collection>(old, new)`.
//! Applying those events with [`crate::api::StateResponse::apply`] to a state holding `old`
//! yields a state holding `new`, which is what the property test in `tests/deltas.rs` checks.
//! Entries that did not change produce no event, and neither does a lease heartbeat
//! ([`ItemRecord::same_beyond_heartbeat`]).
//!
//! Order matters where one event needs another: removals come first, a run new to the view comes
//! before its items, and a run's changed summary comes after its items (so a client that reads a
//! run's final status has seen its items' final statuses).

use std::collections::HashMap;
use std::hash::Hash;

use crate::agent::AgentView;
use crate::queue::ItemRecord;
use crate::queue::wire::QueueView;
use crate::task::TaskRecord;
use crate::{Event, RepositoryList};

/// The event for a changed repository list: the whole list (it is small), or nothing.
pub fn repositories(old: &RepositoryList, new: &RepositoryList) -> Vec<Event> {
    if old == new { Vec::new() } else { vec![Event::Repositories(new.clone())] }
}

/// The events that turn the queue view `old` into `new`: `tabs` when any tab changed,
/// `run-removed` for runs that left the view, then for each run of `new`: `run` (first when the
/// run is new, after its items otherwise), `item-removed` and `item` for its changed items.
pub fn queue(old: &QueueView, new: &QueueView) -> Vec<Event> {
    let mut events = Vec::new();
    if old.tabs != new.tabs {
        events.push(Event::Tabs(new.tabs.clone()));
    }
    let before: HashMap<_, _> = old.runs.iter().map(|r| (&r.id, r)).collect();
    let after: HashMap<_, _> = new.runs.iter().map(|r| (&r.id, r)).collect();
    events.extend(
        old.runs.iter().filter(|r| !after.contains_key(&r.id)).map(|r| Event::RunRemoved { run_id: r.id.clone() }),
    );
    for run in &new.runs {
        let summary = run.summary();
        match before.get(&run.id) {
            None => {
                events.push(Event::Run(Box::new(summary)));
                events.extend(run.items.iter().map(|i| Event::Item(Box::new(i.clone()))));
            }
            Some(previous) => {
                events.extend(keyed(
                    &previous.items,
                    &run.items,
                    |i| &i.id,
                    ItemRecord::same_beyond_heartbeat,
                    |i| Event::ItemRemoved { run_id: i.run_id.clone(), item_id: i.id.clone() },
                    |i| Event::Item(Box::new(i.clone())),
                ));
                if previous.summary() != summary {
                    events.push(Event::Run(Box::new(summary)));
                }
            }
        }
    }
    events
}

/// The events that turn the state's tasks `old` into `new` (both as
/// [`crate::api::bound_tasks`] leaves them): `task-removed` for tasks that left, `task` for new
/// and changed ones.
pub fn tasks(old: &[TaskRecord], new: &[TaskRecord]) -> Vec<Event> {
    keyed(
        old,
        new,
        |t| t.id.as_str(),
        PartialEq::eq,
        |t| Event::TaskRemoved { task_id: t.id.clone() },
        |t| Event::Task(Box::new(t.clone())),
    )
}

/// The events that turn the agents `old` into `new`: `agent-removed` for pruned agents, `agent`
/// for new and changed ones (a state derived from evidence counts as a change).
pub fn agents(old: &[AgentView], new: &[AgentView]) -> Vec<Event> {
    keyed(
        old,
        new,
        |a| &a.agent.id,
        PartialEq::eq,
        |a| Event::AgentRemoved { agent_id: a.agent.id.clone() },
        |a| Event::Agent(Box::new(a.clone())),
    )
}

/// Removals for entries of `old` whose key is not in `new`, then upserts, in `new`'s order, for
/// entries that are new or not `same` as before.
fn keyed<'a, T, K: Hash + Eq + 'a>(
    old: &'a [T],
    new: &'a [T],
    key: impl Fn(&'a T) -> K,
    same: impl Fn(&T, &T) -> bool,
    removed: impl Fn(&T) -> Event,
    changed: impl Fn(&T) -> Event,
) -> Vec<Event> {
    let before: HashMap<K, &T> = old.iter().map(|e| (key(e), e)).collect();
    let after: HashMap<K, &T> = new.iter().map(|e| (key(e), e)).collect();
    let mut events: Vec<Event> = old.iter().filter(|e| !after.contains_key(&key(e))).map(&removed).collect();
    events.extend(new.iter().filter(|e| before.get(&key(e)).is_none_or(|b| !same(b, e))).map(&changed));
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::wire::{Run, Tab};

    fn view(json: serde_json::Value) -> QueueView {
        serde_json::from_value(json).unwrap()
    }

    fn item(id: &str, position: u32, status: &str, expires_at: i64) -> serde_json::Value {
        serde_json::json!({
            "run_id": "run-1", "id": id, "position": position, "slug": id, "prompt": "p",
            "depends_on": [], "wave_index": 0, "task_class": "mid", "status": status, "reason": "",
            "launch_failures": 0, "iteration": 1,
            "lease": {"owner": "daemon-1-1", "epoch": 1, "expires_at": expires_at}, "updated_at": 1
        })
    }

    fn run(status: &str, items: Vec<serde_json::Value>) -> serde_json::Value {
        serde_json::json!({
            "id": "run-1", "repo": "web", "mode": "graph", "status": status, "reason": "",
            "created_at": 1, "updated_at": 1, "items": items
        })
    }

    fn check(old: &QueueView, new: &QueueView, names: &[&str]) {
        let events = queue(old, new);
        assert_eq!(events.iter().map(Event::name).collect::<Vec<_>>(), names);
        let mut patched = crate::api::tests::state_with(old.clone());
        for event in events {
            patched.apply(event);
        }
        assert_eq!(settled(patched.queue), settled(new.clone()));
    }

    /// The view with lease expiry times zeroed: what deltas keep exact.
    fn settled(mut view: QueueView) -> QueueView {
        for item in view.runs.iter_mut().flat_map(|r| r.items.iter_mut()) {
            item.lease.expires_at = 0;
        }
        view
    }

    #[test]
    fn queue_deltas_carry_only_what_changed() {
        let empty = QueueView::default();
        let one = view(
            serde_json::json!({"tabs": [], "runs": [run("running", vec![item("a", 1, "running", 100), item("b", 2, "pending", 0)])]}),
        );
        check(&empty, &one, &["run", "item", "item"]);
        check(&one, &one, &[]);

        let mut heartbeat = one.clone();
        heartbeat.runs[0].items[0].lease.expires_at = 105;
        check(&one, &heartbeat, &[]);

        let ended = view(
            serde_json::json!({"tabs": [], "runs": [run("success", vec![item("a", 1, "success", 0), item("b", 2, "pending", 0)])]}),
        );
        check(&heartbeat, &ended, &["item", "run"]);

        let removed = view(serde_json::json!({"tabs": [], "runs": [run("running", vec![item("b", 2, "pending", 0)])]}));
        check(&one, &removed, &["item-removed"]);

        let tab: Tab = serde_json::from_value(
            serde_json::json!({"id": "default", "label": "Queue 1", "run_id": "run-1", "active": true, "created_at": 1}),
        )
        .unwrap();
        let shown = QueueView { tabs: vec![tab], ..one.clone() };
        check(&one, &shown, &["tabs"]);
        check(&shown, &empty, &["tabs", "run-removed"]);
    }

    #[test]
    fn run_summaries_leave_items_out() {
        let one = view(serde_json::json!({"tabs": [], "runs": [run("running", vec![item("a", 1, "running", 100)])]}));
        let run: &Run = &one.runs[0];
        let json = serde_json::to_value(Event::Run(Box::new(run.summary()))).unwrap();
        assert!(json["data"].get("items").is_none(), "{json}");
    }
}
