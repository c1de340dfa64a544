//! Queues run by the real Codex CLI through `--preset codex`, against the scripted Responses
//! endpoint of [`crate::openai`].

use serde_json::{Value, json};

use crate::openai::Endpoint;
use crate::world::{LONG, World};

/// The command name the scenarios register.
const AGENT: &str = "cx";

/// A world with the endpoint and a `codex` preset command `cx` whose `CODEX_HOME` points at it;
/// the command's readiness is asserted.
fn codex_world() -> (World, Endpoint) {
    let world = World::new();
    let endpoint = Endpoint::start();
    let home = endpoint.codex_home(world.file("codex-home"));
    let mut vars = endpoint.proxy_env();
    vars.push(("CODEX_HOME", home.display().to_string()));
    world.add_command(AGENT, "codex", &vars);
    let reason = world.assert_ready(AGENT);
    // The version comes from standard output, though Codex first warns on stderr that it makes
    // no helper binaries under a temp dir (`CODEX_HOME` here is in one).
    assert_eq!(reason, format!("codex-cli 0.171.0 ({}/config.toml found)", home.display()));
    (world, endpoint)
}

/// A prompt whose model commits `file` (after `check`, a shell test) and closes out.
fn commit(file: &str, check: &str) -> String {
    format!(
        "Add {file}.\nmodel: run {check} printf '%s\\n' {file} > {file} && git add {file} && git commit -q -m 'add {file}'"
    )
}

/// Asserts that Codex asked for nothing but the model: no request reached the endpoint as a proxy.
#[track_caller]
fn assert_no_outside(endpoint: &Endpoint) {
    let outside = endpoint.outside();
    assert!(outside.is_empty(), "Codex reached for the network beyond its model: {outside:?}");
}

fn attempts(item: &Value) -> &[Value] {
    item["attempts"].as_array().map_or(&[], Vec::as_slice)
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn codex_runs_a_graph_and_every_item_is_delivered_into_the_base() {
    let (world, endpoint) = codex_world();
    let run = world.run(&json!({
        "execution_mode": "graph",
        "agent": AGENT,
        "items": [
            {"id": "a", "prompt": commit("a.txt", "")},
            {"id": "b", "prompt": commit("b.txt", "")},
            {"id": "c", "prompt": commit("c.txt", "test -f a.txt && test -f b.txt &&"), "depends_on": ["a", "b"]}
        ]
    }));
    let done = world.wait_status(&run, "success");
    for item in done["items"].as_array().unwrap() {
        assert_eq!(item["status"], "success", "{item}");
        assert_eq!(attempts(item).len(), 1, "one iteration each: {item}");
    }
    for file in ["a.txt", "b.txt", "c.txt"] {
        assert!(world.delivered(file), "{file} is in the base: {:?}", world.base_log());
    }
    let log = world.base_log();
    for slug in ["a", "b", "c"] {
        assert!(log.iter().any(|s| s.contains(&format!("add {slug}.txt"))), "{slug}'s commit is on main: {log:?}");
    }
    // c ran on a base that already held a and b: its check passed, so its own commit exists.
    assert_eq!(endpoint.packets().len(), 3, "one packet per item");
    assert_no_outside(&endpoint);
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn codex_exiting_without_closing_out_recovers_with_the_failure_in_its_next_packet() {
    let (world, endpoint) = codex_world();
    let prompt = format!("{}\nmodel: quit on iteration 1", commit("q.txt", ""));
    let run = world.run(&json!({"agent": AGENT, "items": [{"id": "q", "prompt": prompt}]}));
    let done = world.wait_status(&run, "success");
    let item = &done["items"][0];
    let attempts = attempts(item);
    assert_eq!(attempts.len(), 2, "{item}");
    let failure = attempts[0]["failure"].as_str().unwrap_or_default();
    assert!(failure.contains("before closing out"), "{failure}");
    assert!(world.delivered("q.txt"));
    let packets = endpoint.packets();
    assert_eq!(packets.len(), 2, "Codex received two packets");
    assert!(!packets[0].contains("## Recovery"), "{}", packets[0]);
    let second = &packets[1];
    assert!(second.contains("## Recovery") && second.contains(failure), "the failure reaches Codex: {second}");
    assert_no_outside(&endpoint);
    // The evidence of the failed iteration, each gap named (all of them, not only the first):
    let mut gaps = Vec::new();
    // its terminal's log, from the first byte (issue #11, item 5), in the ledger;
    if !attempts[0]["log"].is_string() {
        gaps.push("the failed iteration's ledger row has no log");
    }
    // the end of that log in the recovery packet Codex received;
    if !(second.contains("the end of its terminal") && second.contains("stopping here without closing out")) {
        gaps.push("the recovery packet lacks the failed iteration's terminal tail");
    }
    // and no bundle but its own: it never closed out, so the second's success bundle is not its.
    if attempts[0]["bundle"] == attempts[1]["bundle"] {
        gaps.push("the failed iteration's ledger row holds the next iteration's success bundle");
    }
    assert!(gaps.is_empty(), "{gaps:#?}\nitem: {item}\nsecond packet:\n{second}");
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn codex_closing_out_as_blocked_puts_its_reason_on_the_item() {
    let (world, endpoint) = codex_world();
    let run =
        world.run(&json!({"agent": AGENT, "items": [{"id": "stuck", "prompt": "model: block needs an API key"}]}));
    let done = world.wait_status(&run, "failed");
    let item = &done["items"][0];
    assert_eq!(item["status"], "blocked", "{item}");
    assert_eq!(item["reason"], "its task closed as blocked: needs an API key", "{item}");
    assert_eq!(attempts(item)[0]["failure"], "the task closed as blocked: needs an API key", "{item}");
    assert_no_outside(&endpoint);
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn codex_receives_a_100_kb_prompt_whole_and_delivers() {
    let (world, endpoint) = codex_world();
    let line = "Refactor the \"parser\"; keep `$HOME` and 'quotes' & {cwd} as they are.\n";
    let mut text = line.repeat(100 * 1024 / line.len());
    text.push_str("END OF THE LONG PROMPT\n");
    text.push_str(&commit("big.txt", ""));
    assert!(text.len() >= 100 * 1024);
    let run = world.run(&json!({"agent": AGENT, "items": [{"id": "big", "prompt": text}]}));
    let done = world.wait_status(&run, "success");
    assert_eq!(done["items"][0]["launch_failures"], 0, "{}", done["items"][0]);
    let packets = endpoint.packets();
    assert_eq!(packets.len(), 1);
    assert!(packets[0].contains(&text), "the endpoint saw the whole prompt ({} bytes of packet)", packets[0].len());
    let file = std::fs::read_to_string(done["items"][0]["attempts"][0]["packet"].as_str().unwrap()).unwrap();
    assert_eq!(packets[0].trim_end(), file.trim_end(), "Codex sent the packet file as it is");
    assert!(world.delivered("big.txt"));
    assert_no_outside(&endpoint);
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn codex_progress_shows_in_agent_tail_while_it_works() {
    let (world, endpoint) = codex_world();
    let gate = world.file("gate");
    let prompt = format!(
        "Show progress.\nmodel: run echo progress-$((6 * 7))\nmodel: wait-for {}\n{}",
        gate.display(),
        commit("t.txt", "")
    );
    let run = world.run(&json!({"agent": AGENT, "items": [{"id": "t", "prompt": prompt}]}));
    let running = world.wait_run(&run, "the item running", |r| r["items"][0]["agent_id"].is_string());
    let agent = running["items"][0]["agent_id"].as_str().unwrap().to_owned();
    let mut tail = String::new();
    // The model holds its reply until the gate exists, so the agent is mid-turn here.
    let shown = qcold_tests::wait_until(LONG, || {
        tail = world.tail(&agent, 200);
        tail.contains("progress-42")
    });
    assert!(shown, "`qcold agent tail {agent}` shows the command's output while Codex works:\n{tail}");
    assert_eq!(world.item(&run, "t")["status"], "running", "still at work when its progress showed");
    std::fs::write(&gate, "").unwrap();
    let done = world.wait_status(&run, "success");
    assert_eq!(done["items"][0]["status"], "success");
    assert!(world.delivered("t.txt"));
    assert_no_outside(&endpoint);
}
