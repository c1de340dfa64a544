//! Faults don't burn the budget: a delivery stopped by a lock is retried by the scheduler without
//! a new agent or iteration, while a failing validation stays the task's own failure and its next
//! iteration waits out the recovery back-off.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use qcold_tests::{Daemon, git};
use serde_json::{Value, json};

use crate::queue::Fixture;

const LONG: Duration = Duration::from_secs(120);

fn items(run: &Value) -> &Vec<Value> {
    run["items"].as_array().expect("items")
}

#[test]
fn an_index_lock_in_the_primary_delays_delivery_but_costs_no_iteration() {
    // Enough short retries to outlast the lock, which the test holds until it has seen them.
    let fx = Fixture::new(&[("QCOLD_QUEUE_DELIVERY_RETRY_SECONDS", "1,1,1,2,2,2,3,3,5,5,10,10,10")]);
    let lock = fx.repo.join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    let run = fx.run(&json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [
            {"id": "alpha", "prompt": "deliver alpha"},
            {"id": "beta", "prompt": "deliver beta"},
            {"id": "gamma", "prompt": "deliver gamma"}
        ]
    }));
    // Every item waits for a delivery retry whose reason names the phase and the lock, and at
    // least one retry by the scheduler itself met the lock again and was classified again.
    let waited = RefCell::new(BTreeSet::new());
    let retried = RefCell::new(false);
    fx.wait_run(&run, LONG, "every item waiting for a delivery retry on the lock", |r| {
        for item in items(r) {
            let reason = item["reason"].as_str().unwrap_or_default();
            if item["status"] == "waiting"
                && item["waiting_for"] == "delivery-retry"
                && reason.contains("the delivery failed at fast-forward")
                && reason.contains("index.lock")
                && item["next_attempt_at"].is_i64()
            {
                waited.borrow_mut().insert(item["id"].as_str().unwrap().to_owned());
                if item["delivery_retries"].as_u64().is_some_and(|n| n >= 2) {
                    *retried.borrow_mut() = true;
                }
            }
        }
        waited.borrow().len() == 3 && *retried.borrow()
    });
    std::fs::remove_file(&lock).unwrap();

    let done = fx.wait_status(&run, "success", LONG);
    for item in items(&done) {
        let slug = item["slug"].as_str().unwrap();
        assert_eq!(item["status"], "success", "{item}");
        let attempts = item["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "no semantic iteration was spent: {item}");
        assert!(attempts[0]["failure"].is_null() && attempts[0]["finished_at"].is_i64(), "{item}");
        assert_eq!((item["iteration"].as_u64(), item["launch_failures"].as_u64()), (Some(1), Some(0)), "{item}");
        assert_eq!(fx.agent_runs(slug), 1, "{slug}'s agent ran once; the scheduler delivered its work");
        assert!(fx.repo.join(format!("{slug}.txt")).is_file(), "{slug} reached the primary checkout");
    }
    let pushed = git(&fx.repo, &["log", "--format=%s", "origin/main"]);
    for slug in ["alpha", "beta", "gamma"] {
        assert!(pushed.lines().any(|l| l == slug), "{slug} was pushed: {pushed}");
    }
}

#[test]
fn a_failing_validation_is_the_tasks_own_failure_and_its_next_iteration_waits() {
    let mut fx = Fixture::without_daemon(&[
        ("QCOLD_QUEUE_RECOVERY_DELAY_SECONDS", "3"),
        ("QCOLD_QUEUE_MAX_ITERATIONS", "2"),
        ("QCOLD_QUEUE_DELIVERY_RETRY_SECONDS", "1,1,1"),
    ]);
    // The repository's own check fails whatever the agent does.
    fx.env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "test -f never-there"]).ok();
    fx.daemon = Some(Daemon::start_with(&fx.env, &fx.vars));
    let run = fx.run(&json!({"agent": "scripted", "items": [{"id": "checked", "prompt": "fails its check"}]}));
    let backoff = fx.wait_run(&run, LONG, "the second iteration waiting out its back-off", |r| {
        items(r)[0]["waiting_for"] == "recovery-backoff"
    });
    let item = &items(&backoff)[0];
    let reason = item["reason"].as_str().unwrap();
    assert_eq!(item["status"], "waiting", "{item}");
    assert!(
        reason.starts_with("recovery iteration 2 of 2 in 3 s after: the task's closeout failed at verify"),
        "{reason}"
    );
    let wait = item["next_attempt_at"].as_i64().unwrap() - item["updated_at"].as_i64().unwrap();
    assert_eq!(wait, 3, "{item}");
    assert_eq!(fx.agent_runs("checked"), 1, "the next agent has not started during the back-off");

    let failed = fx.wait_status(&run, "failed", LONG);
    let item = &items(&failed)[0];
    let reason = item["reason"].as_str().unwrap();
    assert!(reason.starts_with("recovery exhausted after 2 iterations"), "{reason}");
    assert!(reason.contains("verify"), "the phase is named: {reason}");
    let attempts = item["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{item}");
    for attempt in attempts {
        let failure = attempt["failure"].as_str().unwrap();
        assert!(failure.starts_with("the task's closeout failed at verify: command adapter failed"), "{failure}");
    }
    assert_eq!(item["delivery_retries"], 0, "a failed validation is never retried as delivery: {item}");
    assert_eq!(fx.agent_runs("checked"), 2);
}
