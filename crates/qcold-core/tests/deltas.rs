//! The delta property: random sequences of changes to a model of the daemon's store (tabs, runs,
//! items, lease heartbeats, tasks, agents), each batch of changes published as
//! `delta::<collection>(old, new)`, applied in order to the first state through JSON as a
//! client would — and after every batch the patched state equals the state read afresh.
//!
//! The fresh state is computed here from the rules as documented (which runs the view keeps,
//! which tasks the state holds, the orders), not with the crate's own helpers, so the test checks
//! those helpers too.

use std::cmp::Reverse;

use proptest::prelude::*;
use proptest::sample::Index;
use qcold_core::agent::AgentView;
use qcold_core::api::{STATE_CLOSED_TASKS, StateResponse};
use qcold_core::queue::wire::{QueueView, Run, Tab};
use qcold_core::queue::{ItemRecord, ItemStatus, RunStatus};
use qcold_core::task::TaskRecord;
use qcold_core::{Event, NodeSnapshot, RepositoryList, TaskStatus, delta};
use serde_json::json;

/// The store, as far as the state is concerned: everything, including what the state leaves out.
#[derive(Debug, Clone)]
struct World {
    now: i64,
    next: u32,
    tabs: Vec<Tab>,
    runs: Vec<Run>,
    tasks: Vec<TaskRecord>,
    agents: Vec<AgentView>,
}

#[derive(Debug, Clone)]
enum Op {
    AddTab,
    DeleteTab(Index),
    SwitchTab(Index),
    ShowRun(Index, Index),
    AddRun(u8),
    SetRunStatus(Index, RunStatus),
    ClearRun(Index),
    AddItem(Index),
    SetItemStatus(Index, Index, ItemStatus),
    Heartbeat(Index, Index),
    RemoveItem(Index, Index),
    AddTasks(u8, bool),
    CloseTask(Index),
    TouchTask(Index),
    RemoveTask(Index),
    AddAgent,
    ExitAgent(Index),
    LabelAgent(Index),
    RemoveAgent(Index),
}

fn run_status() -> impl Strategy<Value = RunStatus> {
    prop_oneof![
        Just(RunStatus::Running),
        Just(RunStatus::Stopping),
        Just(RunStatus::Stopped),
        Just(RunStatus::Success),
        Just(RunStatus::Failed),
    ]
}

fn item_status() -> impl Strategy<Value = ItemStatus> {
    prop_oneof![
        Just(ItemStatus::Pending),
        Just(ItemStatus::Running),
        Just(ItemStatus::Waiting),
        Just(ItemStatus::Success),
        Just(ItemStatus::Failed),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let i = || any::<Index>();
    prop_oneof![
        1 => Just(Op::AddTab),
        1 => i().prop_map(Op::DeleteTab),
        1 => i().prop_map(Op::SwitchTab),
        2 => (i(), i()).prop_map(|(t, r)| Op::ShowRun(t, r)),
        2 => (0u8..4).prop_map(Op::AddRun),
        2 => (i(), run_status()).prop_map(|(r, s)| Op::SetRunStatus(r, s)),
        1 => i().prop_map(Op::ClearRun),
        2 => i().prop_map(Op::AddItem),
        3 => (i(), i(), item_status()).prop_map(|(r, t, s)| Op::SetItemStatus(r, t, s)),
        3 => (i(), i()).prop_map(|(r, t)| Op::Heartbeat(r, t)),
        1 => (i(), i()).prop_map(|(r, t)| Op::RemoveItem(r, t)),
        3 => (1u8..50, any::<bool>()).prop_map(|(n, closed)| Op::AddTasks(n, closed)),
        2 => i().prop_map(Op::CloseTask),
        2 => i().prop_map(Op::TouchTask),
        1 => i().prop_map(Op::RemoveTask),
        2 => Just(Op::AddAgent),
        1 => i().prop_map(Op::ExitAgent),
        1 => i().prop_map(Op::LabelAgent),
        1 => i().prop_map(Op::RemoveAgent),
    ]
}

fn pick<T>(list: &mut [T], index: Index) -> Option<&mut T> {
    if list.is_empty() { None } else { list.get_mut(index.index(list.len())) }
}

impl World {
    fn new() -> Self {
        let default = serde_json::from_value(
            json!({"id": "default", "label": "Queue 1", "run_id": null, "active": true, "created_at": 0}),
        )
        .unwrap();
        Self { now: 1, next: 0, tabs: vec![default], runs: Vec::new(), tasks: Vec::new(), agents: Vec::new() }
    }

    fn fresh_id(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    fn item(&mut self, run: &Run, position: u32) -> ItemRecord {
        let id = format!("i{}", self.fresh_id());
        serde_json::from_value(json!({
            "run_id": run.id, "id": id, "position": position, "slug": id, "prompt": "p", "depends_on": [],
            "wave_index": 0, "task_class": "mid", "status": "pending", "reason": "", "launch_failures": 0,
            "iteration": 0, "lease": {"owner": null, "epoch": 0, "expires_at": 0}, "updated_at": self.now
        }))
        .unwrap()
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match op {
            Op::AddTab => {
                let id = format!("tab-{}", self.fresh_id());
                let tab = json!({"id": id, "label": id, "run_id": null, "active": false, "created_at": now});
                self.tabs.push(serde_json::from_value(tab).unwrap());
            }
            Op::DeleteTab(t) => {
                let at = t.index(self.tabs.len());
                if self.tabs[at].id.as_str() != "default" {
                    let gone = self.tabs.remove(at);
                    if gone.active {
                        self.tabs[0].active = true;
                    }
                }
            }
            Op::SwitchTab(t) => {
                let at = t.index(self.tabs.len());
                for (i, tab) in self.tabs.iter_mut().enumerate() {
                    tab.active = i == at;
                }
            }
            Op::ShowRun(t, r) => {
                let Some(run) = pick(&mut self.runs, *r).map(|r| r.id.clone()) else { return };
                for tab in &mut self.tabs {
                    if tab.run_id.as_ref() == Some(&run) {
                        tab.run_id = None;
                    }
                }
                let at = t.index(self.tabs.len());
                self.tabs[at].run_id = Some(run);
            }
            Op::AddRun(items) => {
                let id = format!("run-{}", self.fresh_id());
                let run = json!({"id": id, "repo": "web", "mode": "graph", "status": "running", "reason": "queued",
                                 "created_at": now, "updated_at": now, "items": []});
                let mut run: Run = serde_json::from_value(run).unwrap();
                for position in 1..=u32::from(*items) {
                    let item = self.item(&run, position);
                    run.items.push(item);
                }
                self.runs.push(run);
            }
            Op::SetRunStatus(r, status) => {
                if let Some(run) = pick(&mut self.runs, *r) {
                    run.status = *status;
                    run.reason = format!("{status:?} at {now}");
                    run.updated_at = now;
                }
            }
            Op::ClearRun(r) => {
                if self.runs.is_empty() {
                    return;
                }
                let gone = self.runs.remove(r.index(self.runs.len()));
                for tab in &mut self.tabs {
                    if tab.run_id.as_ref() == Some(&gone.id) {
                        tab.run_id = None;
                    }
                }
            }
            Op::AddItem(r) => {
                let Some(run) = pick(&mut self.runs, *r).cloned() else { return };
                let position = run.items.iter().map(|i| i.position).max().unwrap_or(0) + 1;
                let item = self.item(&run, position);
                pick(&mut self.runs, *r).unwrap().items.push(item);
            }
            Op::SetItemStatus(r, i, status) => {
                let Some(item) = pick(&mut self.runs, *r).and_then(|run| pick(&mut run.items, *i)) else { return };
                item.status = *status;
                item.reason = format!("{status:?} at {now}");
                item.updated_at = now;
                let held = matches!(status, ItemStatus::Running);
                item.lease.owner = held.then(|| "daemon-1-1".to_owned());
                item.lease.epoch += u64::from(held);
                item.lease.expires_at = if held { now + 120 } else { 0 };
            }
            Op::Heartbeat(r, i) => {
                let Some(item) = pick(&mut self.runs, *r).and_then(|run| pick(&mut run.items, *i)) else { return };
                if item.lease.owner.is_some() {
                    item.lease.expires_at = now + 125;
                }
            }
            Op::RemoveItem(r, i) => {
                if let Some(run) = pick(&mut self.runs, *r)
                    && !run.items.is_empty()
                {
                    run.items.remove(i.index(run.items.len()));
                }
            }
            Op::AddTasks(n, closed) => {
                for _ in 0..*n {
                    let seq = self.fresh_id();
                    let status = if *closed { "closed:success" } else { "open" };
                    let task = json!({
                        "id": format!("web/{seq:03}-t{seq}"), "repo": "web", "slug": format!("t{seq}"),
                        "sequence": seq, "status": status, "branch": "task/t", "worktree": "/w", "primary": "/p",
                        "base_branch": "main", "base_commit": "abc", "created_at": now, "updated_at": now,
                        "closed_at": closed.then_some(now)
                    });
                    self.tasks.push(serde_json::from_value(task).unwrap());
                }
            }
            Op::CloseTask(t) => {
                if let Some(task) = pick(&mut self.tasks, *t)
                    && !task.status.is_terminal()
                {
                    task.status = TaskStatus::ClosedSuccess;
                    task.updated_at = now;
                    task.closed_at = Some(now);
                }
            }
            Op::TouchTask(t) => {
                if let Some(task) = pick(&mut self.tasks, *t) {
                    task.prompt = Some(format!("touched at {now}"));
                    task.updated_at = now;
                }
            }
            Op::RemoveTask(t) => {
                if !self.tasks.is_empty() {
                    self.tasks.remove(t.index(self.tasks.len()));
                }
            }
            Op::AddAgent => {
                let id = format!("a-{}", self.fresh_id());
                let agent = json!({"id": id, "track": "queue", "argv": ["agent.sh"], "cwd": "/w", "pid": 7,
                                   "pgid": 7, "exit_file": "/x", "started_at": now, "state": "running"});
                self.agents.push(serde_json::from_value(agent).unwrap());
            }
            Op::ExitAgent(a) => {
                if let Some(agent) = pick(&mut self.agents, *a) {
                    agent.agent.exited_at = Some(now);
                    agent.state = qcold_core::agent::AgentState::Exited { code: 0 };
                }
            }
            Op::LabelAgent(a) => {
                if let Some(agent) = pick(&mut self.agents, *a) {
                    agent.agent.name = Some(format!("named at {now}"));
                }
            }
            Op::RemoveAgent(a) => {
                if !self.agents.is_empty() {
                    self.agents.remove(a.index(self.agents.len()));
                }
            }
        }
    }

    /// The state a fresh `GET /api/state` would return, by the documented rules.
    fn state(&self, node: &NodeSnapshot) -> StateResponse {
        let shown = |run: &Run| self.tabs.iter().any(|t| t.run_id.as_ref() == Some(&run.id));
        let finished = |run: &Run| matches!(run.status, RunStatus::Success | RunStatus::Failed);
        let mut runs: Vec<Run> = self.runs.iter().filter(|r| !finished(r) || shown(r)).cloned().collect();
        runs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        for run in &mut runs {
            run.items.sort_by_key(|i| i.position);
        }
        let mut tabs = self.tabs.clone();
        tabs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));

        let mut tasks = self.tasks.clone();
        tasks.sort_by_key(|t| Reverse((t.updated_at, t.id.clone())));
        let recent_closed: Vec<String> =
            tasks.iter().filter(|t| t.status.is_terminal()).take(STATE_CLOSED_TASKS).map(|t| t.id.clone()).collect();
        tasks.retain(|t| !t.status.is_terminal() || recent_closed.contains(&t.id));

        let mut agents = self.agents.clone();
        agents.sort_by(|a, b| (a.agent.started_at, &a.agent.id).cmp(&(b.agent.started_at, &b.agent.id)));
        StateResponse {
            build_id: "b".into(),
            generated_at: self.now,
            repositories: RepositoryList::default(),
            node: node.clone(),
            queue: QueueView { tabs, runs },
            tasks,
            agents,
            writes_need_token: false,
        }
    }
}

/// Every delta from `old` to `new`, in the order the daemon publishes them per collection.
fn deltas(old: &StateResponse, new: &StateResponse) -> Vec<Event> {
    let mut events = delta::queue(&old.queue, &new.queue);
    events.extend(delta::tasks(&old.tasks, &new.tasks));
    events.extend(delta::agents(&old.agents, &new.agents));
    events
}

/// The state with lease expiry times zeroed: a heartbeat alone is not pushed, so patched states
/// may lag there (and only there).
fn settled(mut state: StateResponse) -> StateResponse {
    for item in state.queue.runs.iter_mut().flat_map(|r| r.items.iter_mut()) {
        item.lease.expires_at = 0;
    }
    state.generated_at = 0;
    state
}

fn node() -> NodeSnapshot {
    serde_json::from_str(include_str!("fixtures/node-snapshot-v1.json")).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn deltas_applied_to_the_first_state_equal_a_fresh_state(
        batches in prop::collection::vec(prop::collection::vec(op(), 1..6), 1..30)
    ) {
        let node = node();
        let mut world = World::new();
        let mut published = world.state(&node);
        let mut client = published.clone();
        for batch in &batches {
            world.now += 1;
            for op in batch {
                world.apply(op);
            }
            let fresh = world.state(&node);
            prop_assert!(deltas(&fresh, &fresh).is_empty(), "unchanged entries produce no event");
            let events = deltas(&published, &fresh);
            if settled(published.clone()) == settled(fresh.clone()) {
                prop_assert!(events.is_empty(), "a heartbeat alone produces no event: {events:?}");
            }
            for event in events {
                let wire = serde_json::to_string(&event).unwrap();
                client.apply(serde_json::from_str(&wire).unwrap());
            }
            prop_assert_eq!(settled(client.clone()), settled(fresh.clone()));
            published = fresh;
        }
    }

    #[test]
    fn task_upserts_alone_keep_the_bound_and_the_order(
        batches in prop::collection::vec(prop::collection::vec(op(), 1..6), 1..30)
    ) {
        // A client that receives only upserts (no removals) for tasks still holds exactly the
        // bounded window: the cap in `apply` evicts what a fresh state would leave out.
        let node = node();
        let mut world = World::new();
        let mut published = world.state(&node);
        let mut client = published.clone();
        for batch in &batches {
            world.now += 1;
            for op in batch.iter().filter(|op| !matches!(op, Op::RemoveTask(_))) {
                world.apply(op);
            }
            let fresh = world.state(&node);
            for event in delta::tasks(&published.tasks, &fresh.tasks) {
                if !matches!(event, Event::TaskRemoved { .. }) {
                    client.apply(event);
                }
            }
            prop_assert_eq!(&client.tasks, &fresh.tasks);
            published = fresh;
        }
    }
}
