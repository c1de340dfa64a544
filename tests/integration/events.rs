//! Typed deltas on `/api/events` against a real daemon: a client that applies every event to its
//! first `state` holds what a fresh `GET /api/state` returns, and each change travels alone.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use qcold_core::Event;
use qcold_core::api::StateResponse;
use qcold_tests::{SseEvent, subscribe, wait_until};
use serde_json::json;

use crate::queue::Fixture;

/// A client of `/api/events`: the events received so far, applied in order to the first state.
struct Client {
    events: Receiver<SseEvent>,
    state: Option<StateResponse>,
    received: Vec<(Event, String)>,
}

impl Client {
    fn new(fx: &Fixture) -> Self {
        let mut client =
            Self { events: subscribe(&format!("{}/api/events", fx.daemon().url)), state: None, received: Vec::new() };
        assert!(wait_until(Duration::from_secs(20), || {
            client.drain();
            client.state.is_some()
        }));
        client
    }

    /// Applies every event that has arrived.
    fn drain(&mut self) {
        while let Ok(sse) = self.events.try_recv() {
            let event: Event = serde_json::from_str(&sse.data).expect("event data is a qcold-core Event");
            assert_eq!(event.name(), sse.name, "the SSE name is the event's kind");
            match (&mut self.state, event.clone()) {
                (None, Event::State(first)) => self.state = Some(*first),
                (None, other) => panic!("the first event is the state, not {}", other.name()),
                (Some(state), event) => state.apply(event),
            }
            self.received.push((event, sse.data));
        }
    }

    /// The patched state without what changes on its own (sampling time and node).
    fn comparable(&self) -> serde_json::Value {
        comparable(self.state.clone().expect("a first state"))
    }
}

fn comparable(mut state: StateResponse) -> serde_json::Value {
    let mut value = serde_json::to_value({
        state.generated_at = 0;
        state
    })
    .unwrap();
    value["node"] = serde_json::Value::Null;
    value
}

fn fresh(fx: &Fixture) -> StateResponse {
    let (code, body) = fx.daemon().get("/api/state");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits until `check` holds for the client's patched state.
fn wait_for(client: &mut Client, what: &str, check: impl Fn(&StateResponse) -> bool) {
    let ok = wait_until(Duration::from_secs(120), || {
        client.drain();
        client.state.as_ref().is_some_and(&check)
    });
    assert!(ok, "timed out waiting for {what}; the patched state: {:#?}", client.state);
}

#[test]
fn deltas_applied_to_the_first_state_equal_a_fresh_state() {
    let fx = Fixture::new(&[]);
    let mut client = Client::new(&fx);
    let first = client.state.clone().unwrap();
    assert!(first.tasks.is_empty() && first.agents.is_empty() && first.queue.runs.is_empty(), "{first:#?}");

    // A repository, registered with the CLI.
    fx.env.git_repo("docs");
    fx.env.qcold(&["repo", "add", "docs", "docs"]).ok();
    wait_for(&mut client, "the new repository", |s| {
        s.repositories.repositories.iter().any(|r| r.id.as_str() == "docs")
    });

    // Tasks opened and paused with the CLI.
    let out = fx.env.qcold(&["task", "open", "manual", "--repo", "web", "--prompt", "by hand"]).ok();
    let worktree = out.lines().find_map(|l| l.strip_prefix("TASK_WORKTREE=")).expect("TASK_WORKTREE=").to_owned();
    fx.env.qcold(&["task", "open", "other", "--repo", "docs"]).ok();
    let mut pause = fx.env.command();
    let paused = pause
        .args(["task", "pause", "--reason", "review"])
        .current_dir(std::path::Path::new(&worktree).join(".task"))
        .output()
        .unwrap();
    assert!(paused.status.success(), "{}", String::from_utf8_lossy(&paused.stderr));
    wait_for(&mut client, "two tasks, one paused", |s| {
        s.tasks.len() == 2 && s.tasks.iter().any(|t| t.slug.as_str() == "manual" && t.status.as_str() == "paused")
    });

    // An agent, started, stopped and pruned with the CLI.
    fx.env.qcold(&["agent", "start", "--track", "t", "--id", "sleeper", "--", "sleep", "300"]).ok();
    wait_for(&mut client, "the running agent", |s| s.agents.iter().any(|a| a.agent.id.as_str() == "sleeper"));
    fx.env.qcold(&["agent", "stop", "sleeper"]).ok();
    wait_for(&mut client, "the stopped agent", |s| {
        s.agents.iter().any(|a| a.agent.id.as_str() == "sleeper" && a.agent.exited_at.is_some())
    });
    fx.env.qcold(&["agent", "prune", "--max-age-hours", "0"]).ok();
    wait_for(&mut client, "the pruned agent gone", |s| s.agents.iter().all(|a| a.agent.id.as_str() != "sleeper"));

    // Two small queue runs to success, one after the other in the same tab.
    let first_run = fx.run(&json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [
            {"id": "a", "prompt": "marker-first-a"},
            {"id": "b", "prompt": "marker-first-b", "depends_on": "a"}
        ]
    }));
    fx.wait_status(&first_run, "success", Duration::from_secs(120));
    let second_run = fx.run(&json!({"agent": "scripted", "items": [{"id": "c", "prompt": "marker-second-c"}]}));
    fx.wait_status(&second_run, "success", Duration::from_secs(120));
    // The first run's tab shows the second now; as a recently finished run it stays in the
    // state until it is cleared.
    let first_id: qcold_core::RunId = first_run.parse().unwrap();
    wait_for(&mut client, "the displaced run kept", |s| {
        s.queue.run(&second_run.parse().unwrap()).is_some_and(|r| r.status.is_finished())
            && s.queue.run(&first_id).is_some()
    });
    fx.queue(&["clear", "--run-id", &first_run]).ok();

    // Every delta applied to the first state: the state a fresh GET returns. The daemon may still
    // be publishing the last changes (agents exiting, tasks closing), so wait for them to meet.
    let mut last = (serde_json::Value::Null, serde_json::Value::Null);
    let met = wait_until(Duration::from_secs(60), || {
        client.drain();
        last = (client.comparable(), comparable(fresh(&fx)));
        last.0 == last.1
    });
    assert!(
        met,
        "patched state and fresh state differ:\npatched: {:#}\nfresh: {:#}\ndaemon warnings:\n{}",
        last.0,
        last.1,
        fx.daemon_warnings()
    );
    let state = client.state.clone().unwrap();
    assert!(state.queue.run(&second_run.parse().unwrap()).is_some(), "the run the tab shows is in the state");
    assert!(state.queue.run(&first_id).is_none(), "a cleared run is not");
    assert_eq!(state.tasks.len(), 5, "two manual tasks and three queue tasks: {:#?}", state.tasks);

    let names: Vec<&str> = client.received.iter().map(|(e, _)| e.name()).collect();
    assert_eq!(names.iter().filter(|n| **n == "state").count(), 1, "no resync was needed: {names:?}");
    for kind in ["repositories", "tabs", "run", "run-removed", "item", "task", "agent", "agent-removed"] {
        assert!(names.contains(&kind), "no {kind} event among {names:?}");
    }

    // Each item travels alone: an `item` event carries one item and nothing else does (but the
    // first state); an item's prompt is carried only by its own item events and by the task
    // it opened, whose record keeps the prompt.
    for (event, data) in &client.received {
        if matches!(event, Event::State(_)) {
            continue;
        }
        let items = item_shaped(&serde_json::from_str(data).unwrap());
        let expected = usize::from(matches!(event, Event::Item(_)));
        assert_eq!(items, expected, "a {} event carries {items} item(s): {data}", event.name());
    }
    for (marker, run, item) in [
        ("marker-first-a", &first_run, "a"),
        ("marker-first-b", &first_run, "b"),
        ("marker-second-c", &second_run, "c"),
    ] {
        let carriers: Vec<&Event> =
            client.received.iter().filter(|(_, data)| data.contains(marker)).map(|(e, _)| e).collect();
        assert!(carriers.iter().any(|e| matches!(e, Event::Item(_))), "no item event carried item {item}");
        for event in carriers {
            match event {
                Event::Item(pushed) => assert_eq!((pushed.run_id.as_str(), pushed.id.as_str()), (run.as_str(), item)),
                Event::Task(task) => assert_eq!(task.prompt.as_deref(), Some(marker), "only its own task"),
                other => panic!("a {} event carried item {item}", other.name()),
            }
        }
    }
}

/// How many objects in `value` look like a queue item (a run id, a position and a lease).
fn item_shaped(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => {
            let here = usize::from(["run_id", "position", "lease"].iter().all(|k| map.contains_key(*k)));
            here + map.values().map(item_shaped).sum::<usize>()
        }
        serde_json::Value::Array(list) => list.iter().map(item_shaped).sum(),
        _ => 0,
    }
}
