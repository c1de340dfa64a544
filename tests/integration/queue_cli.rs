//! The `qcold queue` client: it starts the daemon when none answers, follows runs to their end,
//! lists the queue and manages tabs; and an agent killed without a trace is noticed.

use std::net::TcpListener;
use std::time::Duration;

use qcold_core::queue::wire::QueueView;
use serde_json::json;

use crate::queue::Fixture;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn the_client_starts_a_daemon_follows_runs_and_manages_tabs() {
    let fx = Fixture::without_daemon(&[]);
    let listen = format!("127.0.0.1:{}", free_port());
    let qcold = |args: &[&str]| {
        let mut cmd = fx.env.command();
        cmd.envs(fx.vars.iter().copied()).args(args).args(["--listen", &listen]);
        qcold_tests::Run::from(cmd.output().unwrap())
    };
    qcold(&["queue", "list"]).fails_with("no qcold daemon answers");
    qcold(&["queue", "run", "--prompt", "hello", "--agent", "scripted", "--no-start-daemon"])
        .fails_with("no qcold daemon answers");

    let out =
        qcold(&["queue", "run", "--prompt", "say hello", "--slug", "hello", "--agent", "scripted", "--follow"]).ok();
    for needle in ["qcold daemon started", "queued run", "running   hello", "success   hello", "succeeded"] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
    assert!(fx.repo.join("hello.txt").is_file(), "the work was delivered");

    let failing = qcold(&["queue", "create", "failures"]).ok();
    assert!(failing.contains("created tab queue-"), "{failing}");
    let run = qcold(&[
        "queue",
        "run",
        "--prompt",
        "x directive: fail-times 9",
        "--slug",
        "doomed",
        "--agent",
        "scripted",
        "--follow",
    ]);
    assert_eq!(run.code, 1, "a failed run exits 1: {}", run.stdout);
    assert!(run.stdout.contains("recovery exhausted after 3 iterations"), "{}", run.stdout);

    let list = qcold(&["queue", "list"]).ok();
    for needle in ["default", "failures", "hello", "doomed", "ATTEMPTS"] {
        assert!(list.contains(needle), "{needle:?} missing from:\n{list}");
    }
    let view: QueueView = serde_json::from_str(&qcold(&["queue", "list", "--json"]).ok()).unwrap();
    assert_eq!(view.tabs.len(), 2);
    let tab = view.tabs.iter().find(|t| t.label == "failures").unwrap().clone();
    assert!(tab.active);
    assert_eq!(view.runs.len(), 2);

    qcold(&["queue", "switch", "default"]).ok();
    qcold(&["queue", "switch", "nope"]).fails_with("no queue tab \"nope\"");
    qcold(&["queue", "delete", "default"]).fails_with("cannot be deleted");
    qcold(&["queue", "delete", tab.id.as_str()]).ok();
    let view: QueueView = serde_json::from_str(&qcold(&["queue", "list", "--json"]).ok()).unwrap();
    assert_eq!(view.tabs.len(), 1);
    assert!(view.tabs[0].active);
    assert_eq!(view.runs.len(), 2, "a finished run no tab shows stays among the recent ones");

    // A directory of prompts runs in name order; `--mode graph` overrides the package's mode.
    let prompts = fx.file("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::write(prompts.join("02-second.md"), "second prompt").unwrap();
    std::fs::write(prompts.join("01-first.md"), "first prompt").unwrap();
    std::fs::write(prompts.join("notes.txt"), "not a prompt").unwrap();
    let out = qcold(&[
        "queue",
        "run",
        "--from",
        prompts.to_str().unwrap(),
        "--agent",
        "scripted",
        "--mode",
        "graph",
        "--follow",
    ])
    .ok();
    assert!(out.contains("queued run") && out.contains("succeeded"), "{out}");
    let view: QueueView = serde_json::from_str(&qcold(&["queue", "list", "--json"]).ok()).unwrap();
    let run = view.runs.iter().find(|r| r.items.len() == 2).unwrap();
    let slugs: Vec<&str> = run.items.iter().map(|i| i.slug.as_str()).collect();
    assert_eq!(slugs, ["01-first", "02-second"]);
    assert_eq!(run.mode, qcold_core::queue::ExecutionMode::Graph);

    // Clear forgets a finished run; the work it delivered stays.
    let cleared = qcold(&["queue", "clear", "--run-id", run.id.as_str()]).ok();
    assert!(cleared.contains("cleared run"), "{cleared}");
    qcold(&["queue", "clear", "--run-id", run.id.as_str()]).fails_with("no queue run");
    assert!(fx.repo.join("01-first.txt").is_file());

    fx.env.qcold(&["serve", "stop", "--listen", &listen]).ok();
}

#[test]
fn queue_list_keeps_a_finished_run_after_a_new_run_took_its_tab() {
    let fx = Fixture::new(&[]);
    let first = fx.run(&json!({"agent": "scripted", "items": [{"id": "one", "prompt": "first"}]}));
    fx.wait_status(&first, "success", Duration::from_secs(60));
    let second = fx.run(&json!({"agent": "scripted", "items": [{"id": "two", "prompt": "second"}]}));
    fx.wait_status(&second, "success", Duration::from_secs(60));
    let view: QueueView = serde_json::from_str(&fx.queue(&["list", "--json"]).ok()).unwrap();
    assert_eq!(view.tabs.len(), 1);
    assert_eq!(view.tabs[0].run_id.as_ref().map(ToString::to_string).as_deref(), Some(second.as_str()));
    let listed: Vec<String> = view.runs.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(listed, [first.clone(), second.clone()], "the run whose tab was taken is still listed");
    let list = fx.queue(&["list"]).ok();
    let line = |run: &str| list.lines().find(|l| l.starts_with(&format!("run {run} "))).unwrap_or("").to_owned();
    assert!(line(&first).contains("success · in no tab"), "{list}");
    assert!(line(&second).contains(&format!("success · tab {}", view.tabs[0].id)), "{list}");
}

#[test]
fn clear_refuses_a_run_with_work_in_flight() {
    let fx = Fixture::new(&[]);
    let gate = fx.file("gate");
    let run = fx.run(&json!({
        "agent": "scripted",
        "items": [{"id": "busy", "prompt": format!("x directive: wait-for {}", gate.display())}]
    }));
    let running =
        fx.wait_run(&run, Duration::from_secs(60), "the item running", |r| r["items"][0]["status"] == "running");
    let agent = running["items"][0]["agent_id"].as_str().unwrap().to_owned();
    let err = fx.queue(&["clear"]).fails_with("in flight");
    assert!(err.contains(&agent), "the refusal names the agent: {err}");
    assert_eq!(fx.run_view(&run)["items"][0]["status"], "running", "nothing changed");
    std::fs::write(&gate, "").unwrap();
    fx.wait_status(&run, "success", Duration::from_secs(60));
    fx.queue(&["clear"]).ok();
    assert_eq!(fx.view()["runs"], json!([]));
}

#[test]
fn an_agent_killed_without_a_trace_is_noticed_by_reconciliation() {
    let fx = Fixture::new(&[("QCOLD_WEB_QUEUE_STATUS_SYNC_INTERVAL_SECONDS", "1")]);
    let gate = fx.file("gate");
    let run = fx.run(&json!({
        "agent": "scripted",
        "items": [{"id": "victim", "prompt": format!("work directive: wait-for {}", gate.display())}]
    }));
    let running =
        fx.wait_run(&run, Duration::from_secs(60), "the item running", |r| r["items"][0]["status"] == "running");
    let agent = running["items"][0]["agent_id"].as_str().unwrap().to_owned();
    let agents: serde_json::Value = serde_json::from_str(&fx.env.qcold(&["agent", "list", "--json"]).ok()).unwrap();
    let record = agents.as_array().unwrap().iter().find(|a| a["id"] == agent.as_str()).unwrap().clone();
    let pgid = record["pgid"].as_i64().unwrap();
    // SIGKILL the whole group, wrapper included: no exit code is recorded, nothing is written.
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(i32::try_from(pgid).unwrap()), nix::sys::signal::SIGKILL)
        .unwrap();
    std::fs::write(&gate, "").unwrap();
    let done = fx.wait_status(&run, "success", Duration::from_secs(60));
    let attempts = done["items"][0]["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts[0]["failure"].as_str().unwrap().contains("vanished"), "{}", attempts[0]);
}
