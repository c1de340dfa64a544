//! Agents that hang: `queue stop --kill` ends them, and the stall watch notices them.

use std::time::Duration;

use qcold_tests::{alive, wait_until};
use serde_json::{Value, json};

use crate::queue::Fixture;

const LONG: Duration = Duration::from_secs(60);

/// A run of one item whose agent waits for `gate` (a file nobody creates until the test says so)
/// without printing, committing or closing out: a hanging agent.
fn hanging(fx: &Fixture, gate: &std::path::Path) -> String {
    let prompt = format!("hang directive: wait-for {}", gate.display());
    let run = fx.run(&json!({"agent": "scripted", "items": [{"id": "hang", "slug": "hang", "prompt": prompt}]}));
    fx.wait_run(&run, LONG, "the agent running", |r| r["items"][0]["status"] == "running");
    run
}

fn agent_pid(fx: &Fixture, item: &Value) -> u32 {
    let id = item["agent_id"].as_str().expect("an agent");
    let list: Value = serde_json::from_str(&fx.env.qcold(&["agent", "list", "--json"]).ok()).unwrap();
    let agent = list.as_array().unwrap().iter().find(|a| a["id"] == id).cloned().expect("the agent is listed");
    u32::try_from(agent["pid"].as_u64().unwrap()).unwrap()
}

#[test]
fn stop_kill_ends_hanging_agents_keeps_their_work_and_continue_restarts_them() {
    let fx = Fixture::new(&[]);
    let gate = fx.file("gate");
    let run = hanging(&fx, &gate);
    let item = fx.item(&run, "hang");
    let pid = agent_pid(&fx, &item);
    let shown: Value = serde_json::from_str(&fx.env.qcold(&["task", "show", "hang", "--json"]).ok()).unwrap();
    let worktree = std::path::PathBuf::from(shown["task"]["worktree"].as_str().unwrap());

    fx.queue(&["stop", &run]).ok();
    // A plain stop lets the iteration in flight finish: the agent keeps running.
    let left = wait_until(Duration::from_secs(3), || fx.item(&run, "hang")["status"] != "running");
    assert!(!left && alive(pid), "a plain stop leaves the agent running: {}", fx.item(&run, "hang"));
    assert_eq!(fx.run_view(&run)["status"], "stopping");

    fx.queue(&["stop", &run, "--kill"]).ok();
    let stopped = fx.wait_status(&run, "stopped", LONG);
    let item = &stopped["items"][0];
    assert_eq!(
        (item["status"].as_str(), item["reason"].as_str()),
        (Some("stopped"), Some("stopped by the operator (--kill)"))
    );
    let last = item["attempts"].as_array().unwrap().last().cloned().expect("a ledger row");
    assert_eq!(last["failure"], "stopped by the operator (--kill)", "{item}");
    assert!(last["finished_at"].is_i64(), "{item}");
    assert!(!alive(pid), "the agent is gone");
    assert!(worktree.join(".task/task.env").is_file(), "the worktree is kept: {}", worktree.display());

    let runs = fx.agent_runs("hang");
    fx.queue(&["continue", &run]).ok();
    assert!(wait_until(LONG, || fx.agent_runs("hang") == runs + 1), "continue starts the agent again");
    std::fs::write(&gate, "").unwrap();
    fx.wait_status(&run, "success", LONG);
}

#[test]
fn a_silent_agent_is_reported_stalled_under_warn_and_keeps_running() {
    let fx = Fixture::new(&[("QCOLD_QUEUE_STALL_SECONDS", "3")]);
    let gate = fx.file("gate");
    let run = hanging(&fx, &gate);
    let pid = agent_pid(&fx, &fx.item(&run, "hang"));
    let stalled = fx.wait_run(&run, LONG, "the item reported stalled", |r| {
        r["items"][0]["reason"].as_str().is_some_and(|reason| reason.contains("no output, commit or closeout for"))
    });
    assert_eq!(stalled["items"][0]["status"], "running", "{stalled}");
    // The stall is typed, for the dashboard's inbox: since when nothing happened.
    let since = stalled["items"][0]["stalled_since"].as_i64().unwrap_or_else(|| panic!("no stalled_since: {stalled}"));
    assert!(since <= stalled["items"][0]["updated_at"].as_i64().unwrap() - 3, "{stalled}");
    assert!(alive(pid), "warn leaves the agent running");
    // A sign of life ends the warning: the agent delivers and the item succeeds.
    std::fs::write(&gate, "").unwrap();
    let done = fx.wait_status(&run, "success", LONG);
    assert!(done["items"][0]["stalled_since"].is_null(), "{done}");
}

#[test]
fn a_silent_agent_under_stop_ends_its_iteration_as_failed_until_the_budget_is_spent() {
    let fx = Fixture::new(&[
        ("QCOLD_QUEUE_STALL_SECONDS", "3"),
        ("QCOLD_QUEUE_STALL_POLICY", "stop"),
        ("QCOLD_QUEUE_MAX_ITERATIONS", "2"),
    ]);
    let gate = fx.file("gate");
    let run = hanging(&fx, &gate);
    let first = agent_pid(&fx, &fx.item(&run, "hang"));
    let failed = fx.wait_status(&run, "failed", LONG);
    let item = &failed["items"][0];
    assert_eq!(item["status"], "failed", "{item}");
    let attempts = item["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "the stall ended the first iteration and the second one started: {item}");
    for attempt in attempts {
        let failure = attempt["failure"].as_str().unwrap_or_default();
        assert!(failure.starts_with("stalled: no output, commit or closeout for"), "{attempt}");
    }
    assert_eq!(fx.agent_runs("hang"), 2);
    assert!(!alive(first), "the stalled agent was stopped");
}
