//! Queue recovery: semantic iterations with the attempt ledger, launch retries, and a daemon
//! killed mid-run that picks up where it was without launching anything twice.

use std::time::Duration;

use serde_json::json;

use crate::queue::{Fixture, statuses};

const LONG: Duration = Duration::from_secs(120);

#[test]
fn an_item_failing_twice_then_succeeding_leaves_three_ledger_rows() {
    let fx = Fixture::new(&[]);
    let run = fx.run(&json!({
        "agent": "scripted",
        "items": [{"id": "flaky", "prompt": "try hard directive: fail-times 2"}]
    }));
    let done = fx.wait_status(&run, "success", LONG);
    let item = &done["items"][0];
    let attempts = item["attempts"].as_array().unwrap();
    let rows: Vec<(u64, Option<&str>)> =
        attempts.iter().map(|a| (a["iteration"].as_u64().unwrap(), a["failure"].as_str())).collect();
    assert_eq!(
        rows,
        [
            (1, Some("the task closed as failed: scripted failure 1")),
            (2, Some("the task closed as failed: scripted failure 2")),
            (3, None)
        ],
        "{item}"
    );
    assert!(attempts.iter().all(|a| a["finished_at"].is_i64() && a["agent_command"] == "scripted"));
    let agents: Vec<&str> = attempts.iter().map(|a| a["agent_id"].as_str().unwrap()).collect();
    assert_eq!(agents.len(), 3);
    assert!(agents[0] != agents[1] && agents[1] != agents[2], "each iteration has its own agent");
    assert_eq!(fx.agent_runs("flaky"), 3);
    assert_eq!(item["iteration"], 3);
    assert_eq!(item["launch_failures"], 0, "semantic failures are not launch failures; {}", fx.daemon_warnings());
    // The failed iterations kept evidence bundles; the recovery packet lists them.
    assert!(attempts[0]["bundle"].as_str().is_some_and(|b| b.ends_with(".zip")), "{}", attempts[0]);
    let packet = std::fs::read_to_string(attempts[2]["packet"].as_str().unwrap()).unwrap();
    assert!(packet.contains("Recovery"), "{packet}");
    assert!(packet.contains("### Iteration 1") && packet.contains("### Iteration 2"), "{packet}");
    assert!(packet.contains(attempts[0]["bundle"].as_str().unwrap()), "{packet}");
    // The agent's own words at its failed closeout reach the next packet.
    assert!(packet.contains("scripted failure 1") && packet.contains("scripted failure 2"), "{packet}");
    let first = std::fs::read_to_string(attempts[0]["packet"].as_str().unwrap()).unwrap();
    assert!(!first.contains("Recovery"), "the first packet is no recovery: {first}");
}

#[test]
fn an_item_failing_three_times_fails_the_run_and_its_dependents_never_start() {
    let fx = Fixture::new(&[]);
    let run = fx.run(&json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [
            {"id": "doomed", "prompt": "impossible directive: fail-times 9"},
            {"id": "after", "prompt": "needs doomed", "depends_on": "doomed"},
            {"id": "later", "prompt": "needs after", "depends_on": "after"}
        ]
    }));
    let failed = fx.wait_status(&run, "failed", LONG);
    let doomed = &failed["items"][0];
    assert_eq!(doomed["status"], "failed");
    assert!(doomed["reason"].as_str().unwrap().contains("recovery exhausted after 3 iterations"), "{doomed}");
    assert_eq!(doomed["attempts"].as_array().unwrap().len(), 3);
    assert!(failed["reason"].as_str().unwrap().contains("doomed"), "{failed}");
    let reasons: Vec<&str> =
        failed["items"].as_array().unwrap()[1..].iter().map(|i| i["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        ["blocked by doomed (failed)", "blocked by doomed (failed) through after"],
        "a dependent names the failure it waits on, not `queued`"
    );
    for dependent in &failed["items"].as_array().unwrap()[1..] {
        assert_eq!(dependent["status"], "pending", "{dependent}");
        assert_eq!(dependent["attempts"], json!([]));
        assert!(dependent["task_id"].is_null(), "no task was opened for {dependent}");
    }
    assert_eq!((fx.agent_runs("doomed"), fx.agent_runs("after"), fx.agent_runs("later")), (3, 0, 0));
    // An agent that exits without closing out is a failed iteration too.
    let quitter = fx.run(&json!({"agent": "scripted", "items": [{"id": "quit", "prompt": "x directive: exit-early"}]}));
    let quit = fx.wait_status(&quitter, "failed", LONG);
    let attempts = quit["items"][0]["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts[0]["failure"].as_str().unwrap().contains("exited with code 3 before closing out"),
        "{}",
        attempts[0]
    );
    // Each iteration's whole output, from its first line to its last words on stderr, is in the
    // log its ledger row names, though its terminal ended at once.
    for (n, attempt) in attempts.iter().enumerate() {
        let log = std::fs::read_to_string(attempt["log"].as_str().unwrap_or_else(|| panic!("no log: {attempt}")));
        let log = log.unwrap();
        let run = n + 1;
        assert!(log.starts_with(&format!("scripted agent: run {run} of quit\n")), "{log:?}");
        assert!(log.contains(&format!("scripted agent: giving up on run {run}")), "{log:?}");
    }
    // The next iteration's packet carries the end of the failed one's terminal.
    let second = std::fs::read_to_string(attempts[1]["packet"].as_str().unwrap()).unwrap();
    assert!(second.contains("the end of its terminal") && second.contains("giving up on run 1"), "{second}");
}

#[test]
fn an_agent_that_cannot_start_exhausts_its_launch_retries() {
    let fx = Fixture::new(&[("QCOLD_QUEUE_LAUNCH_RETRY_SECONDS", "1,1,1")]);
    // Never ready: a failure that might pass (a missing program would not, and is not retried:
    // `queue_packets::a_command_whose_program_is_missing_or_not_executable_fails_its_item_at_once`).
    fx.env.qcold(&["agent", "command", "add", "broken", "--probe", "false", "--", "/bin/true"]).ok();
    let run = fx.run(&json!({"agent": "broken", "items": [{"id": "x", "prompt": "never runs"}]}));
    let failed = fx.wait_status(&run, "failed", LONG);
    let item = &failed["items"][0];
    assert_eq!(item["status"], "failed");
    let reason = item["reason"].as_str().unwrap();
    assert!(reason.contains("launch retries exhausted after 3 retries"), "{reason}");
    assert!(reason.contains("no agent command is ready: broken"), "the last failure is named: {reason}");
    assert_eq!(item["launch_failures"], 4, "the first launch and three retries");
    assert_eq!(item["attempts"], json!([]), "a launch failure is not an iteration");
    assert_eq!(item["iteration"], 0);
}

#[test]
fn a_daemon_killed_mid_run_resumes_without_launching_anything_twice() {
    let mut fx = Fixture::new(&[]);
    let gate = fx.file("gate");
    let run = fx.run(&json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [
            {"id": "long", "prompt": format!("slow work directive: wait-for {}", gate.display())},
            {"id": "next", "prompt": "after long", "depends_on": "long"}
        ]
    }));
    let before = fx.wait_run(&run, LONG, "the long item running", |r| r["items"][0]["status"] == "running");
    let agent = before["items"][0]["agent_id"].clone();
    let old_pid = fx.daemon().pid();
    fx.crash_and_restart();
    assert_ne!(fx.daemon().pid(), old_pid);
    // The new daemon re-attaches: same agent, same single attempt, lease taken over.
    let after = fx.wait_run(&run, LONG, "the lease taken over by the new daemon", |r| {
        r["items"][0]["lease"]["owner"].as_str().is_some_and(|o| o.contains(&fx.daemon().pid().to_string()))
    });
    assert_eq!(after["items"][0]["status"], "running");
    assert_eq!(after["items"][0]["agent_id"], agent);
    assert_eq!(after["items"][0]["attempts"].as_array().unwrap().len(), 1);
    std::fs::write(&gate, "").unwrap();
    let done = fx.wait_status(&run, "success", LONG);
    assert!(statuses(&done).iter().all(|(_, s)| s == "success"));
    assert_eq!((fx.agent_runs("long"), fx.agent_runs("next")), (1, 1), "nothing was launched twice");
    for item in done["items"].as_array().unwrap() {
        assert_eq!(item["attempts"].as_array().unwrap().len(), 1, "{item}");
    }
}

#[test]
fn a_blocked_reason_reaches_the_item_and_its_ledger() {
    let fx = Fixture::new(&[]);
    let run = fx.run(&json!({
        "agent": "scripted",
        "items": [{"id": "stuck", "prompt": "directive: block"}]
    }));
    let done = fx.wait_status(&run, "failed", LONG);
    let item = &done["items"][0];
    assert_eq!(item["status"], "blocked", "{item}");
    assert_eq!(item["reason"], "its task closed as blocked: needs an API key", "{item}");
    assert_eq!(item["attempts"][0]["failure"], "the task closed as blocked: needs an API key", "{item}");
}
