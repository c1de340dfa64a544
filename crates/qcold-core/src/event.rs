//! The events the daemon pushes on `GET /api/events`.
//!
//! Each server-sent event has the event name [`Event::name`] and, as data, the JSON of the whole
//! [`Event`] (tagged by `kind`), so a client can parse the data without looking at the name.
//! The first event of every stream is [`Event::State`]; after that the daemon pushes a delta
//! whenever something changes, never on a timer. A delta carries only what changed — one run's
//! summary, one item, one task, one agent — and [`StateResponse::apply`] folds it into the state,
//! so a client that applies every event holds what a fresh `GET /api/state` would return.
//! [`crate::delta`] computes the deltas between two values of a collection. Parsing requires
//! `kind` before `data`, as the daemon writes them (see `event/de.rs` for why).

mod de;

use serde::Serialize;

use crate::agent::AgentView;
use crate::api::StateResponse;
use crate::queue::ItemRecord;
use crate::queue::wire::{RunSummary, Tab};
use crate::task::TaskRecord;
use crate::{AgentId, ItemId, NodeSnapshot, RepositoryList, RunId};

/// A change the daemon announces.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "data", rename_all = "kebab-case")]
pub enum Event {
    /// The full state: sent first, and again when a client fell too far behind.
    State(Box<StateResponse>),
    /// The registered repositories or the active one changed.
    Repositories(RepositoryList),
    /// A new node sample was taken.
    Node(Box<NodeSnapshot>),
    /// A queue tab was created, deleted, switched to, or shows another run; carries every tab
    /// (there are few).
    Tabs(Vec<Tab>),
    /// A run entered the queue view or its summary (status, reason, …) changed; carries the run
    /// without its items, which have events of their own.
    Run(Box<RunSummary>),
    /// A run left the queue view: it was cleared, or it finished while no tab shows it.
    RunRemoved {
        /// The run.
        run_id: RunId,
    },
    /// A queue item is new or changed in more than its lease expiry.
    Item(Box<ItemRecord>),
    /// An item was removed from its run.
    ItemRemoved {
        /// Its run.
        run_id: RunId,
        /// The item.
        item_id: ItemId,
    },
    /// A task entered the state's tasks or changed.
    Task(Box<TaskRecord>),
    /// A task left the state's tasks: more recently updated closed tasks took its place. It is
    /// still reached by paging `GET /api/tasks`.
    TaskRemoved {
        /// The task's id.
        task_id: String,
    },
    /// An agent was started or changed (exited, vanished, labelled).
    Agent(Box<AgentView>),
    /// An agent was pruned.
    AgentRemoved {
        /// The agent.
        agent_id: AgentId,
    },
}

impl Event {
    /// Every SSE event name, for clients that subscribe by name (a browser `EventSource`).
    pub const NAMES: [&'static str; 12] = [
        "state",
        "repositories",
        "node",
        "tabs",
        "run",
        "run-removed",
        "item",
        "item-removed",
        "task",
        "task-removed",
        "agent",
        "agent-removed",
    ];

    /// The SSE event name: the `kind` of its JSON.
    pub const fn name(&self) -> &'static str {
        match self {
            Event::State(_) => "state",
            Event::Repositories(_) => "repositories",
            Event::Node(_) => "node",
            Event::Tabs(_) => "tabs",
            Event::Run(_) => "run",
            Event::RunRemoved { .. } => "run-removed",
            Event::Item(_) => "item",
            Event::ItemRemoved { .. } => "item-removed",
            Event::Task(_) => "task",
            Event::TaskRemoved { .. } => "task-removed",
            Event::Agent(_) => "agent",
            Event::AgentRemoved { .. } => "agent-removed",
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use serde_json::json;

    use super::*;

    fn item() -> ItemRecord {
        serde_json::from_value(json!({
            "run_id": "run-1", "id": "a", "position": 1, "slug": "a", "prompt": "build a",
            "depends_on": [], "wave_index": 0, "task_class": "mid", "status": "running", "reason": "started",
            "launch_failures": 0, "iteration": 1, "task_id": "web/001-a", "agent_id": "q-a",
            "lease": {"owner": "daemon-1-1", "epoch": 1, "expires_at": 120}, "updated_at": 5
        }))
        .unwrap()
    }

    fn task() -> TaskRecord {
        serde_json::from_value(json!({
            "id": "web/001-a", "repo": "web", "slug": "a", "sequence": 1, "status": "open",
            "branch": "task/a", "worktree": "/w/a", "primary": "/w/web", "base_branch": "main",
            "base_commit": "abc", "created_at": 4, "updated_at": 4
        }))
        .unwrap()
    }

    fn agent() -> AgentView {
        serde_json::from_value(json!({
            "id": "q-a", "track": "queue", "argv": ["agent.sh"], "cwd": "/w/a", "pid": 7, "pgid": 7,
            "exit_file": "/s/agents/q-a/exit-code", "started_at": 5, "state": "exited", "code": 0
        }))
        .unwrap()
    }

    /// One event of every kind but `state` and `node` (whose payloads have their own tests).
    fn deltas() -> Vec<Event> {
        let tab: Tab = serde_json::from_value(
            json!({"id": "default", "label": "Queue 1", "run_id": "run-1", "active": true, "created_at": 1}),
        )
        .unwrap();
        let run: RunSummary = serde_json::from_value(json!({
            "id": "run-1", "repo": "web", "mode": "graph", "status": "running", "reason": "running",
            "created_at": 1, "updated_at": 5
        }))
        .unwrap();
        vec![
            Event::Repositories(RepositoryList::default()),
            Event::Tabs(vec![tab]),
            Event::Run(Box::new(run)),
            Event::RunRemoved { run_id: "run-1".parse().unwrap() },
            Event::Item(Box::new(item())),
            Event::ItemRemoved { run_id: "run-1".parse().unwrap(), item_id: "a".parse().unwrap() },
            Event::Task(Box::new(task())),
            Event::TaskRemoved { task_id: "web/001-a".into() },
            Event::Agent(Box::new(agent())),
            Event::AgentRemoved { agent_id: "q-a".parse().unwrap() },
        ]
    }

    fn check(event: &Event, expect: &Expect) {
        let json = serde_json::to_string(event).unwrap();
        expect.assert_eq(&json);
        assert_eq!(&serde_json::from_str::<Event>(&json).unwrap(), event, "{json} round-trips");
        assert_eq!(serde_json::to_value(event).unwrap()["kind"], event.name(), "the SSE name is the kind");
    }

    #[test]
    fn delta_events_are_tagged_by_kind_and_carry_only_their_entry() {
        let all = deltas();
        let expected = [
            expect![[r#"{"kind":"repositories","data":{"active":null,"repositories":[]}}"#]],
            expect![[
                r#"{"kind":"tabs","data":[{"id":"default","label":"Queue 1","run_id":"run-1","active":true,"created_at":1}]}"#
            ]],
            expect![[
                r#"{"kind":"run","data":{"id":"run-1","repo":"web","mode":"graph","agent":null,"status":"running","reason":"running","created_at":1,"updated_at":5}}"#
            ]],
            expect![[r#"{"kind":"run-removed","data":{"run_id":"run-1"}}"#]],
            expect![[
                r#"{"kind":"item","data":{"run_id":"run-1","id":"a","position":1,"slug":"a","prompt":"build a","depends_on":[],"wave_index":0,"task_class":"mid","agent":null,"status":"running","reason":"started","next_attempt_at":null,"waiting_for":null,"stalled_since":null,"launch_failures":0,"delivery_retries":0,"iteration":1,"task_id":"web/001-a","agent_id":"q-a","lease":{"owner":"daemon-1-1","epoch":1,"expires_at":120},"updated_at":5,"attempts":[]}}"#
            ]],
            expect![[r#"{"kind":"item-removed","data":{"run_id":"run-1","item_id":"a"}}"#]],
            expect![[
                r#"{"kind":"task","data":{"id":"web/001-a","repo":"web","slug":"a","sequence":1,"status":"open","profile":null,"prompt":null,"branch":"task/a","worktree":"/w/a","primary":"/w/web","base_branch":"main","base_commit":"abc","failed_phase":null,"closeout_failure":null,"created_at":4,"updated_at":4,"closed_at":null}}"#
            ]],
            expect![[r#"{"kind":"task-removed","data":{"task_id":"web/001-a"}}"#]],
            expect![[
                r#"{"kind":"agent","data":{"id":"q-a","track":"queue","name":null,"scope":null,"argv":["agent.sh"],"cwd":"/w/a","pid":7,"pgid":7,"terminal":null,"stdout_log":null,"stderr_log":null,"exit_file":"/s/agents/q-a/exit-code","started_at":5,"exited_at":null,"exit_code":null,"state":"exited","code":0}}"#
            ]],
            expect![[r#"{"kind":"agent-removed","data":{"agent_id":"q-a"}}"#]],
        ];
        assert_eq!(all.len(), expected.len());
        for (event, expect) in all.iter().zip(&expected) {
            check(event, expect);
        }
        let mut names: Vec<&str> = all.iter().map(Event::name).chain(["state", "node"]).collect();
        names.sort_unstable();
        let mut listed = Event::NAMES.to_vec();
        listed.sort_unstable();
        assert_eq!(names, listed, "Event::NAMES lists every kind exactly once");
    }

    #[test]
    fn parsing_reads_data_after_kind_ignores_unknown_keys_and_refuses_data_first() {
        let parsed: Event =
            serde_json::from_str(r#"{"kind":"run-removed","extra":[1,{"x":2}],"data":{"run_id":"run-1"},"later":0}"#)
                .unwrap();
        assert_eq!(parsed, Event::RunRemoved { run_id: "run-1".parse().unwrap() });
        let err = serde_json::from_str::<Event>(r#"{"data":{"run_id":"run-1"},"kind":"run-removed"}"#).unwrap_err();
        assert!(err.to_string().contains("`kind` must come before its `data`"), "{err}");
        let err = serde_json::from_str::<Event>(r#"{"kind":"run-removed"}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `data`"), "{err}");
        let err = serde_json::from_str::<Event>(r#"{"kind":"nope","data":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `nope`"), "{err}");
    }

    #[test]
    fn applying_events_keeps_a_state_current() {
        let fixture = include_str!("../tests/fixtures/node-snapshot-v1.json");
        let node: NodeSnapshot = serde_json::from_str(fixture).unwrap();
        let mut state = crate::api::tests::state_with(crate::queue::wire::QueueView::default());
        let repo: crate::Repository = serde_json::from_str(
            r#"{"id":"web","root":"/r","adapter":"command","default_branch":"main","created_at":1,"updated_at":1}"#,
        )
        .unwrap();
        let list = RepositoryList { active: Some(repo.id.clone()), repositories: vec![repo] };
        state.apply(Event::Repositories(list.clone()));
        assert_eq!(state.repositories, list);

        let mut newer = node;
        newer.heartbeat.sampled_at = 2_000_000_000;
        state.apply(Event::Node(Box::new(newer.clone())));
        assert_eq!((state.node.heartbeat.sampled_at, state.generated_at), (2_000_000_000, 2_000_000_000));

        for event in deltas().into_iter().skip(1) {
            state.apply(event);
        }
        assert_eq!(state.queue.tabs.len(), 1, "tabs are replaced");
        assert!(state.queue.runs.is_empty(), "the run was removed, with its item");
        assert!(state.tasks.is_empty() && state.agents.is_empty(), "task and agent were removed");
        state.apply(Event::Task(Box::new(task())));
        state.apply(Event::Agent(Box::new(agent())));
        assert_eq!((state.tasks.len(), state.agents.len()), (1, 1));

        let replacement = StateResponse { build_id: "c".into(), ..state.clone() };
        state.apply(Event::State(Box::new(replacement.clone())));
        assert_eq!(state, replacement);
    }
}
