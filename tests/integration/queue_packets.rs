//! Packets of any size: an agent that takes the packet as an argument gets the whole of a large
//! one, a packet no argv can carry is refused at `queue run`, and a launch that can only fail the
//! same way again fails its item at once.

use std::time::Duration;

use serde_json::json;

use crate::queue::Fixture;

const LONG: Duration = Duration::from_secs(120);

/// An agent that takes the packet as its one argument: it writes what it got to
/// `<env>/received-<slug>`, commits a file and closes out with success.
const INLINE: &str = r#"#!/bin/sh
root="$(dirname "$0")"
printf '%s' "$1" > "$root/received-$QCOLD_TASK_SLUG"
echo "$QCOLD_TASK_SLUG" > "$QCOLD_TASK_SLUG.txt"
git add "$QCOLD_TASK_SLUG.txt" && git commit -q -m "$QCOLD_TASK_SLUG"
exec "$QCOLD_BIN" task closeout --outcome success --message "deliver $QCOLD_TASK_SLUG"
"#;

/// Registers [`INLINE`] as `inline`, with `{packet}` as its argument.
fn register_inline(fx: &Fixture) {
    let agent = fx.file("inline.sh");
    std::fs::write(&agent, INLINE).unwrap();
    std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fx.env
        .qcold(&["agent", "command", "add", "inline", "--probe", "true", "--", agent.to_str().unwrap(), "{packet}"])
        .ok();
}

/// `bytes` bytes of prompt text with lines, quotes and shell syntax in it, ending in `END`.
fn prompt(bytes: usize) -> String {
    let line = "Refactor the \"parser\"; keep `$HOME` and 'quotes' & {cwd} as they are.\n";
    let mut text = line.repeat(bytes / line.len());
    text.truncate(bytes - 3);
    text.push_str("END");
    text
}

#[test]
fn a_100_kb_prompt_reaches_an_agent_that_takes_the_packet_as_an_argument() {
    let fx = Fixture::new(&[]);
    register_inline(&fx);
    let text = prompt(100 * 1024);
    let run = fx.run(&json!({"agent": "inline", "items": [{"id": "big", "prompt": text}]}));
    let done = fx.wait_status(&run, "success", LONG);
    let item = &done["items"][0];
    assert_eq!(item["launch_failures"], 0, "{item}");
    let packet_file = item["attempts"][0]["packet"].as_str().unwrap();
    let packet = std::fs::read_to_string(packet_file).unwrap();
    let received = std::fs::read_to_string(fx.file("received-big")).unwrap();
    assert!(received == packet, "the agent got {} of the packet's {} bytes", received.len(), packet.len());
    assert!(received.contains(&text), "the whole prompt, untouched");
    // The agent's record keeps the command's short form, not the packet.
    let (code, agents) = fx.daemon().get("/api/agents");
    assert_eq!(code, 200, "{agents}");
    assert!(agents.len() < 20_000, "the agent list holds no packet: {} bytes", agents.len());
    assert!(agents.contains("{packet}"), "{agents}");
}

#[test]
fn a_prompt_over_the_argument_limit_is_refused_at_queue_run_with_the_way_out() {
    let fx = Fixture::new(&[]);
    register_inline(&fx);
    let package = json!({"agent": "inline", "items": [
        {"id": "small", "prompt": "fits"},
        {"id": "huge", "prompt": prompt(130 * 1024)}
    ]});
    let err = fx.cli_run(&package).fails_with("item huge");
    assert!(err.contains("agent command inline") && err.contains("{packet_file} or standard input"), "{err}");
    assert_eq!(fx.view()["runs"].as_array().map_or(0, Vec::len), 0, "nothing stored: {}", fx.view());
    // A command that reads the packet from its file takes the same prompt.
    let mut by_file = package.clone();
    by_file["agent"] = json!("scripted");
    fx.run(&by_file);
}

#[test]
fn a_command_whose_program_is_missing_or_not_executable_fails_its_item_at_once() {
    let fx = Fixture::new(&[]);
    let plain = fx.file("plain.sh");
    std::fs::write(&plain, "#!/bin/sh\nexit 0\n").unwrap();
    let missing = fx.file("missing.sh");
    for (name, program) in [("ghost", missing.to_str().unwrap()), ("plain", plain.to_str().unwrap())] {
        fx.env.qcold(&["agent", "command", "add", name, "--probe", "true", "--", program, "{packet}"]).ok();
    }
    let run = fx.run(&json!({"execution_mode": "graph", "items": [
        {"id": "gone", "prompt": "p", "agent": "ghost"},
        {"id": "noexec", "prompt": "p", "agent": "plain"}
    ]}));
    // The first launch retry would wait 60 s: failing within 30 s means none was spent. The run
    // fails with its first failed item; the other's launch, in parallel, may still be ending.
    let failed = fx.wait_run(&run, Duration::from_secs(30), "both items failed", |r| {
        r["status"] == "failed"
            && r["items"].as_array().is_some_and(|items| items.iter().all(|i| i["status"] == "failed"))
    });
    for item in failed["items"].as_array().unwrap() {
        assert_eq!(item["status"], "failed", "{item}");
        assert_eq!(item["launch_failures"], 1, "{item}");
        let reason = item["reason"].as_str().unwrap();
        assert!(reason.contains("command not found") && reason.contains("a retry would fail the same way"), "{item}");
        assert_eq!(item["attempts"].as_array().map_or(0, Vec::len), 0, "no iteration spent: {item}");
    }
}
