use expect_test::expect;

use super::*;

fn heartbeat(hostname: bool, boot_id: bool, uptime: bool) -> Heartbeat {
    Heartbeat::new(
        "0.1.0.1 0123456789ab".into(),
        hostname.then(|| "host".into()),
        boot_id.then(|| "boot".into()),
        1_000,
        uptime.then_some(10),
        7,
    )
}

fn resources_with(cpu: bool, issues: Vec<Issue>) -> Resources {
    Resources {
        cpu: cpu.then_some(Cpu { logical_cpus: 2, physical_cores: None, usage_percent: 0.0 }),
        issues,
        ..Resources::default()
    }
    .with_derived_status()
}

fn snapshot_with(statuses: [BlockStatus; 5]) -> NodeSnapshot {
    let issue = |block: &str, status: BlockStatus| {
        if status == BlockStatus::Fresh { Vec::new() } else { vec![Issue::new(block, status, "x")] }
    };
    let mut heartbeat = heartbeat(true, true, true);
    heartbeat.status = statuses[0];
    heartbeat.issues = issue("heartbeat", statuses[0]);
    let managed = Managed { status: statuses[1], issues: issue("managed", statuses[1]), ..Managed::default() };
    let queue = QueueBlock { status: statuses[2], issues: issue("queue", statuses[2]), ..QueueBlock::default() };
    let resources = Resources { status: statuses[3], issues: issue("resources", statuses[3]), ..Resources::default() };
    let proxy = Proxy { status: statuses[4], issues: issue("proxy", statuses[4]), ..Proxy::default() };
    NodeSnapshot::assemble(heartbeat, managed, queue, resources, proxy)
}

#[test]
fn top_level_status_is_the_worst_block() {
    use BlockStatus::{Fresh as F, Partial as P, Stale as S, Unavailable as U};
    let table = [
        ([F, F, F, F, F], F),
        ([S, F, F, F, F], S),
        ([F, F, F, F, S], S),
        ([F, P, S, F, F], P),
        ([F, F, F, U, S], U),
        ([U, P, S, F, F], U),
        ([S, S, S, S, S], S),
    ];
    for (blocks, want) in table {
        let snapshot = snapshot_with(blocks);
        assert_eq!(snapshot.status, want, "blocks {blocks:?}");
        assert_eq!(worst(blocks), want);
        let non_fresh = blocks.iter().filter(|s| **s != F).count();
        assert_eq!(snapshot.issues.len(), non_fresh, "issues are concatenated from the blocks");
    }
    assert_eq!(worst([]), F);
}

#[test]
fn heartbeat_is_partial_when_identity_is_missing() {
    let table = [
        ((true, true, true), BlockStatus::Fresh, ""),
        ((false, true, true), BlockStatus::Partial, "could not read host name"),
        ((true, false, false), BlockStatus::Partial, "could not read boot id, uptime"),
    ];
    for ((h, b, u), status, message) in table {
        let hb = heartbeat(h, b, u);
        assert_eq!(hb.status, status);
        assert_eq!(hb.issues.first().map_or("", |i| i.message.as_str()), message);
    }
}

#[test]
fn resources_status_follows_presence_and_issues() {
    assert_eq!(resources_with(false, vec![]).status, BlockStatus::Unavailable);
    assert_eq!(resources_with(true, vec![]).status, BlockStatus::Fresh);
    let gap = Issue::new("resources.io", BlockStatus::Partial, "no counters");
    assert_eq!(resources_with(true, vec![gap]).status, BlockStatus::Partial);
    let stale = Issue::new("resources.disk", BlockStatus::Stale, "old");
    assert_eq!(resources_with(true, vec![stale]).status, BlockStatus::Partial, "any issue is at least partial");
}

#[test]
fn managed_is_stale_while_exited_agents_linger() {
    let agent =
        |running| ManagedAgent { id: "a".into(), track: "t".into(), pid: 1, running, started_at: 0, command: vec![] };
    assert_eq!(Managed::new(vec![agent(true)], vec![], vec![]).status, BlockStatus::Fresh);
    let lingering = Managed::new(vec![agent(true), agent(false)], vec![], vec![]);
    assert_eq!(lingering.status, BlockStatus::Stale);
    expect!["1 exited agent(s) still registered; `qcold agent prune` removes them"]
        .assert_eq(&lingering.issues[0].message);
}

#[test]
fn old_samples_turn_stale_at_read_time() {
    let snapshot = snapshot_with([BlockStatus::Fresh; 5]);
    assert_eq!(snapshot.clone().aged(1_010, 15).status, BlockStatus::Fresh);
    let old = snapshot.aged(1_020, 15);
    assert_eq!(old.status, BlockStatus::Stale);
    expect!["sampled 20 s ago, more than the 15 s allowed"].assert_eq(&old.issues[0].message);
    let partial = snapshot_with([
        BlockStatus::Partial,
        BlockStatus::Fresh,
        BlockStatus::Fresh,
        BlockStatus::Fresh,
        BlockStatus::Fresh,
    ]);
    assert_eq!(partial.aged(9_999, 15).heartbeat.status, BlockStatus::Partial, "never improves a status");
}

#[test]
fn proxy_credentials_are_redacted() {
    let table = [
        ("http://proxy:3128", "http://proxy:3128"),
        ("http://user:secret@proxy:3128", "http://[redacted]@proxy:3128"),
        ("socks5://u@p@host:1080/x", "socks5://[redacted]@host:1080/x"),
        ("user:pw@host:8080", "[redacted]@host:8080"),
        ("http://proxy:3128/path@odd", "http://proxy:3128/path@odd"),
        ("http://proxy:3128/?q=a@b#c@d", "http://proxy:3128/?q=a@b#c@d"),
        ("http://proxy/path@odd", "http://proxy/path@odd"),
        // Passwords holding a raw `/`, `?` or `#`: no part of them is shown.
        ("http://user:pa/ss@proxy:3128", "http://[redacted]@proxy:3128"),
        ("http://u:p?x#y@host:1", "http://[redacted]@host:1"),
        ("socks5://u:p#@h", "socks5://[redacted]@h"),
        ("https://u:a/b?c#d@proxy:8080/path", "https://[redacted]@proxy:8080/path"),
        ("u:pa/ss@host:8080", "[redacted]@host:8080"),
        ("http://u:p/a@b@host:1", "http://[redacted]@host:1"),
        // An `@` in the path as well hides the host too, rather than part of the password.
        ("http://u:pa/ss@proxy:3128/x@y", "http://[redacted]@y"),
        // An IPv6 host with a port is no password.
        ("http://[::1]:3128/path@odd", "http://[::1]:3128/path@odd"),
        ("localhost,127.0.0.1", "localhost,127.0.0.1"),
        ("", ""),
    ];
    for (raw, want) in table {
        assert_eq!(redact_credentials(raw), want, "{raw}");
    }
    let block = Proxy::new([("HTTPS_PROXY".to_owned(), "http://a:b@p:1".to_owned())], vec![], vec![]);
    assert_eq!(block.env[0].value, "http://[redacted]@p:1");
}

#[test]
fn frozen_v1_fixture_still_parses() {
    let raw = include_str!("../../tests/fixtures/node-snapshot-v1.json");
    let snapshot: NodeSnapshot = serde_json::from_str(raw).expect("the v1 fixture must keep parsing");
    assert_eq!(snapshot.protocol_version, 1);
    assert_eq!(snapshot.status, BlockStatus::Partial);
    assert_eq!(snapshot.heartbeat.hostname.as_deref(), Some("build-01"));
    assert_eq!(snapshot.resources.cpu.as_ref().map(|c| c.logical_cpus), Some(8));
    assert_eq!(snapshot.resources.io, None);
    assert_eq!(snapshot.queue.counts.total, 3);
    assert_eq!(snapshot.managed.sessions[0].target, "qcold-a1:0.0");
    // Re-deriving the summary from the blocks agrees with what the writer stored.
    let rederived = NodeSnapshot::assemble(
        snapshot.heartbeat.clone(),
        snapshot.managed.clone(),
        snapshot.queue.clone(),
        snapshot.resources.clone(),
        snapshot.proxy.clone(),
    );
    assert_eq!(rederived, snapshot);
}

#[test]
fn minimal_snapshot_parses_with_defaults() {
    // A v1 writer may omit every optional field and list; readers fill in defaults.
    let raw = r#"{
        "protocol_version": 1, "status": "unavailable",
        "heartbeat": {"status": "fresh", "version": "x", "sampled_at": 1, "pid": 1},
        "managed": {"status": "fresh"}, "queue": {"status": "fresh"},
        "resources": {"status": "unavailable"}, "proxy": {"status": "fresh"}
    }"#;
    let snapshot: NodeSnapshot = serde_json::from_str(raw).unwrap();
    assert!(snapshot.issues.is_empty());
    assert_eq!(snapshot.resources.cpu, None);
}

#[test]
fn the_queue_block_shows_the_active_tabs_run_with_its_counts_and_items_in_flight() {
    use crate::inbox::tests::{item, run};
    use crate::queue::wire::{QueueView, Tab};
    use crate::queue::{ItemStatus as S, RunStatus};

    assert_eq!(QueueBlock::of(&QueueView::default()), QueueBlock::default(), "no queue: an empty, fresh block");

    let statuses = [S::Pending, S::Paused, S::Starting, S::Running, S::Waiting, S::Success, S::Blocked, S::Failed];
    let items = statuses.iter().zip(1..).map(|(s, n)| item(&format!("i{n}"), n, *s)).collect();
    let tab = |id: &str, run_id: &str, active: bool| Tab {
        id: id.parse().unwrap(),
        label: id.to_owned(),
        run_id: Some(run_id.parse().unwrap()),
        active,
        created_at: 1,
    };
    let view = QueueView {
        tabs: vec![tab("one", "run-a", true), tab("two", "run-b", false)],
        runs: vec![run("run-a", RunStatus::Running, items), run("run-b", RunStatus::Success, Vec::new())],
    };
    let block = QueueBlock::of(&view);
    assert_eq!(block.status, BlockStatus::Fresh);
    assert_eq!(
        block.counts,
        QueueCounts { total: 8, pending: 2, running: 2, waiting: 1, succeeded: 1, failed: 2 },
        "stopped and paused are pending, blocked is failed"
    );
    assert_eq!(block.active_run.as_ref().map(|r| (r.id.as_str(), r.status.as_str())), Some(("run-a", "running")));
    assert_eq!(block.active_items, ["i3", "i4"]);
    assert_eq!(
        block.tabs.iter().map(|t| (t.id.as_str(), t.active)).collect::<Vec<_>>(),
        [("one", true), ("two", false)]
    );

    let no_active_tab = QueueView { tabs: Vec::new(), ..view };
    assert_eq!(
        QueueBlock::of(&no_active_tab).active_run.map(|r| r.id),
        Some("run-b".to_owned()),
        "without an active tab's run, the newest run"
    );
}
