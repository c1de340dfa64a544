//! `qcold node snapshot`, local and fetched from a daemon.

use qcold_core::NodeSnapshot;
use qcold_tests::{Daemon, Env, host_cpu_count};

#[test]
fn local_snapshot_describes_this_host() {
    let env = Env::new();
    let out = env.qcold(&["node", "snapshot"]).ok();
    assert_eq!(out.trim().lines().count(), 1, "compact JSON is one line");
    let snapshot: NodeSnapshot = serde_json::from_str(&out).unwrap();
    assert_eq!(snapshot.protocol_version, 1);
    let cpu = snapshot.resources.cpu.as_ref().expect("cpu");
    assert_eq!(cpu.logical_cpus as usize, host_cpu_count());
    assert!(snapshot.resources.memory.as_ref().is_some_and(|m| m.total_bytes > 0));
    assert!(snapshot.heartbeat.hostname.is_some());
    let worst = snapshot.block_statuses().into_iter().max().unwrap();
    assert_eq!(snapshot.status, worst, "the top-level status is the worst block");

    let pretty = env.qcold(&["node", "snapshot", "--pretty"]).ok();
    assert!(pretty.lines().count() > 20, "--pretty spreads the JSON over lines");
}

#[test]
fn proxy_credentials_never_leave_the_host() {
    let env = Env::new();
    let out =
        env.command().args(["node", "snapshot"]).env("https_proxy", "http://me:hunter2@proxy:3128").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hunter2"), "{text}");
    let snapshot: NodeSnapshot = serde_json::from_str(&text).unwrap();
    let var = snapshot.proxy.env.iter().find(|v| v.name == "https_proxy").expect("the proxy var is reported");
    assert_eq!(var.value, "http://[redacted]@proxy:3128");
}

#[test]
fn snapshot_from_a_daemon_endpoint() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let out = env.qcold(&["node", "snapshot", "--endpoint", &daemon.url]).ok();
    let snapshot: NodeSnapshot = serde_json::from_str(&out).unwrap();
    assert_eq!(snapshot.heartbeat.pid, daemon.pid(), "the snapshot was taken by the daemon, not collected locally");
    let full = format!("{}/api/node/snapshot", daemon.url);
    let again: NodeSnapshot =
        serde_json::from_str(&env.qcold(&["node", "snapshot", "--endpoint", &full]).ok()).unwrap();
    assert_eq!(again.heartbeat.pid, daemon.pid());

    env.qcold(&["node", "snapshot", "--endpoint", "localhost:1"])
        .fails_with("--endpoint must be an http:// or https:// URL");
    // Port 9 (discard) on loopback has no listener here.
    env.qcold(&["node", "snapshot", "--endpoint", "http://127.0.0.1:9"])
        .fails_with("cannot fetch http://127.0.0.1:9/api/node/snapshot");
}
