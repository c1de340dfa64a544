//! A pass over unchanged evidence changes nothing: the start-up and periodic reconciliation may
//! run any number of times.

use std::os::unix::process::CommandExt as _;

use qcold_core::agent::{AgentRecord, AgentState};
use qcold_core::queue::graph::normalize;
use qcold_core::queue::package::parse_json;
use qcold_core::queue::{ExecutionMode, ItemStatus, WaitingFor};
use qcold_core::task::{EventKind, TaskRecord};
use qcold_core::{RepoId, RunId, TaskStatus};

use super::*;
use crate::taskflow::event;

fn task(sequence: u32, slug: &str, status: TaskStatus) -> TaskRecord {
    TaskRecord {
        id: format!("ghost/{sequence:03}-{slug}"),
        repo: "ghost".parse().unwrap(),
        slug: slug.parse().unwrap(),
        sequence,
        status,
        profile: None,
        prompt: None,
        branch: format!("task/{slug}"),
        worktree: format!("/nonexistent/{slug}"),
        primary: "/nonexistent".into(),
        base_branch: "main".parse().unwrap(),
        base_commit: "0".repeat(40),
        failed_phase: None,
        closeout_failure: None,
        created_at: 1,
        updated_at: 1,
        closed_at: None,
    }
}

/// A queue agent of run-1 with process `pid` (its group too) and its exit file.
fn queue_agent(id: &str, pid: u32, exit_file: &std::path::Path) -> AgentRecord {
    AgentRecord {
        id: id.parse().unwrap(),
        track: "queue-run-1".into(),
        name: None,
        scope: None,
        argv: vec!["agent".into()],
        cwd: "/".into(),
        pid,
        pgid: pid,
        terminal: None,
        stdout_log: None,
        stderr_log: None,
        exit_file: exit_file.to_string_lossy().into_owned(),
        started_at: 1,
        exited_at: None,
        exit_code: None,
    }
}

/// One pass, then the launches it handed over run to their end, and the next pass's absorption
/// of them: what a test reads afterwards is what the launches wrote.
fn settled_pass(scheduler: &mut Scheduler, store: &mut Store, host: HostSample, now: i64) {
    scheduler.pass(store, host, now).unwrap();
    if let Some(err) = scheduler.absorb_launches(true) {
        panic!("a launch was interrupted: {err:#}");
    }
}

/// An 8-CPU, 64 GiB host with nothing running, sampled at 100.
fn idle_host() -> HostSample {
    HostSample {
        at: 100,
        logical_cpus: 8,
        load_one: 0.0,
        memory_total: 64 << 30,
        memory_available: 64 << 30,
        reserved_tasks: 0,
        reserved_heavy: 0,
        cpu_usage_percent: None,
        disk_total: None,
        disk_available: None,
    }
}

#[test]
fn a_second_pass_over_the_same_state_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(dir.path().to_owned(), "test");
    let mut store = Store::open(&config.state_dir, config.sqlite_busy_timeout).unwrap();
    let package = parse_json(
        r#"{"execution_mode": "graph", "items": [
            {"id": "done", "prompt": "closed by its agent"},
            {"id": "next", "prompt": "depends on done", "depends_on": "done"},
            {"id": "quit", "prompt": "its agent exited early"}
        ]}"#,
    )
    .unwrap();
    let items = normalize(&package, 1).unwrap().items;
    let run: RunId = "run-1".parse().unwrap();
    // The repository is not registered: every launch fails, which is a write the first pass makes
    // and the second must not repeat.
    let repo: RepoId = "ghost".parse().unwrap();
    store.insert_run(&run, &repo, ExecutionMode::Graph, Some("scripted"), &items, 1).unwrap();

    let opened = event(EventKind::Open, "opened", 1);
    store.insert_task(&task(1, "done", TaskStatus::ClosedSuccess), &opened).unwrap();
    store.insert_task(&task(2, "quit", TaskStatus::Open), &opened).unwrap();
    let exit_file = dir.path().join("exit-code");
    std::fs::write(&exit_file, "0\n").unwrap();
    let agent = queue_agent("q-quit", u32::MAX, &exit_file);
    store.insert_agent(&agent).unwrap();
    let mut scheduler = Scheduler::new(config.clone(), "qcold".into());
    for (id, task_id, agent_id) in [("done", "ghost/001-done", None), ("quit", "ghost/002-quit", Some("q-quit"))] {
        let item = store.item(&run, &id.parse().unwrap()).unwrap().unwrap();
        let epoch = scheduler.lease(&mut store, &item, 10).unwrap().unwrap();
        let update = ItemUpdate {
            task_id: Some(task_id.into()),
            agent_id: agent_id.map(Into::into),
            iteration: 1,
            ..ItemUpdate::of(&item, ItemStatus::Running, "running")
        };
        store.update_item(&run, &item.id, epoch, &update, 10).unwrap();
    }

    let host = idle_host();
    settled_pass(&mut scheduler, &mut store, host, 100);
    let first = store.queue_view().unwrap();
    let status = |id: &str| first.runs[0].items.iter().find(|i| i.id.as_str() == id).unwrap().clone();
    assert_eq!(status("done").status, ItemStatus::Success);
    let quit = status("quit");
    assert_eq!(quit.status, ItemStatus::Waiting, "its next iteration waits: {quit:?}");
    assert_eq!(quit.waiting_for, Some(WaitingFor::RecoveryBackoff));
    assert_eq!(quit.next_attempt_at, Some(130), "the first recovery back-off is 30 s");
    assert_eq!(
        quit.reason,
        "recovery iteration 2 of 3 in 30 s after: the agent exited with code 0 before closing out the task"
    );
    assert_eq!(quit.attempts.len(), 0, "no ledger row was opened for the test's hand-made iteration");
    assert_eq!(status("next").status, ItemStatus::Waiting, "its dependency succeeded, its launch failed");

    settled_pass(&mut scheduler, &mut store, host, 100);
    assert_eq!(store.queue_view().unwrap(), first, "the second pass wrote nothing");
    let mut fresh = Scheduler::new(config, "qcold".into());
    settled_pass(&mut fresh, &mut store, host, 100);
    let third = store.queue_view().unwrap();
    let statuses = |v: &QueueView| v.runs[0].items.iter().map(|i| (i.status, i.next_attempt_at)).collect::<Vec<_>>();
    assert_eq!(statuses(&third), statuses(&first), "a restarted scheduler agrees");
}

#[test]
fn agent_ids_are_deterministic_and_always_valid() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), std::time::Duration::from_secs(5)).unwrap();
    let long = "x".repeat(128);
    let package =
        parse_json(&format!(r#"{{"items": [{{"id": "a", "prompt": "p"}}, {{"id": "{long}", "prompt": "p"}}]}}"#))
            .unwrap();
    let run: RunId = "run-1".parse().unwrap();
    store
        .insert_run(
            &run,
            &"web".parse().unwrap(),
            ExecutionMode::Sequence,
            None,
            &normalize(&package, 1).unwrap().items,
            1,
        )
        .unwrap();
    let view = store.run(&run).unwrap().unwrap();
    assert_eq!(launch::agent_id(&view, &view.items[0], 2).unwrap().as_str(), "q-run-1-a-2");
    let hashed = launch::agent_id(&view, &view.items[1], 1).unwrap();
    assert_eq!(hashed, launch::agent_id(&view, &view.items[1], 1).unwrap(), "the same every time");
    assert!(hashed.as_str().starts_with("q-run-1-") && hashed.as_str().len() < 64, "{hashed}");
}

#[test]
fn a_failed_items_dependents_say_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(dir.path().to_owned(), "test");
    let mut store = Store::open(&config.state_dir, config.sqlite_busy_timeout).unwrap();
    let package = parse_json(
        r#"{"execution_mode": "graph", "items": [
            {"id": "root", "prompt": "fails"},
            {"id": "child", "prompt": "needs root", "depends_on": "root"},
            {"id": "grandchild", "prompt": "needs child", "depends_on": "child"}
        ]}"#,
    )
    .unwrap();
    let run: RunId = "run-1".parse().unwrap();
    let repo: RepoId = "ghost".parse().unwrap();
    store
        .insert_run(&run, &repo, ExecutionMode::Graph, Some("scripted"), &normalize(&package, 1).unwrap().items, 1)
        .unwrap();
    let mut scheduler = Scheduler::new(config, "qcold".into());
    let root = store.item(&run, &"root".parse().unwrap()).unwrap().unwrap();
    let epoch = scheduler.lease(&mut store, &root, 10).unwrap().unwrap();
    store
        .update_item(&run, &root.id, epoch, &ItemUpdate::of(&root, ItemStatus::Failed, "recovery exhausted"), 10)
        .unwrap();
    store.release_item(&run, &root.id, epoch).unwrap();
    let host = idle_host();
    settled_pass(&mut scheduler, &mut store, host, 100);
    let first = store.queue_view().unwrap();
    let reasons: Vec<(&str, &str)> = first.runs[0].items.iter().map(|i| (i.id.as_str(), i.reason.as_str())).collect();
    assert_eq!(
        reasons,
        [
            ("root", "recovery exhausted"),
            ("child", "blocked by root (failed)"),
            ("grandchild", "blocked by root (failed) through child")
        ]
    );
    settled_pass(&mut scheduler, &mut store, host, 200);
    assert_eq!(store.queue_view().unwrap(), first, "the second pass wrote nothing, not even updated_at");
}

/// A graph run of `items` independent items, one slot of capacity, and its first item running:
/// its task open and its agent a live process (`sleep`) naming its exit file. The others are
/// pending; killing the process and writing the exit file ends the first one.
struct OneRunning {
    _dir: tempfile::TempDir,
    store: Store,
    scheduler: Scheduler,
    run: RunId,
    agent: std::process::Child,
    exit_file: std::path::PathBuf,
}

impl OneRunning {
    fn new(items: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path().to_owned(), "test");
        config.queue.admission.soft_max_tasks = 1;
        config.queue.admission.hard_max_tasks = 1;
        let mut store = Store::open(&config.state_dir, config.sqlite_busy_timeout).unwrap();
        let items: Vec<String> = (0..items)
            .map(|n| format!(r#"{{"id": "{}", "prompt": "p"}}"#, if n == 0 { "a".to_owned() } else { format!("i{n}") }))
            .collect();
        let package = parse_json(&format!(r#"{{"execution_mode": "graph", "items": [{}]}}"#, items.join(","))).unwrap();
        let run: RunId = "run-1".parse().unwrap();
        let repo: RepoId = "ghost".parse().unwrap();
        store
            .insert_run(&run, &repo, ExecutionMode::Graph, Some("scripted"), &normalize(&package, 1).unwrap().items, 1)
            .unwrap();
        store.insert_task(&task(1, "a", TaskStatus::Open), &event(EventKind::Open, "opened", 1)).unwrap();
        let exit_file = dir.path().join("exit-code");
        // Its own process group, so ending the group ends its `sleep` too; and none of the test's
        // output pipes, so one left behind by a failed assertion holds up no reader of them.
        let agent = std::process::Command::new("sh")
            .args(["-c", "sleep 600; :"])
            .arg(&exit_file)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        // It records its pid as the wrapper does, and is awaited as `agents::start` awaits one:
        // until its exec is through its command line does not name its exit file, and the first
        // pass would judge it vanished.
        std::fs::write(crate::agents::wrapper::pid_file(&exit_file), format!("{}\n", agent.id())).unwrap();
        crate::agents::await_exec(agent.id(), &exit_file.to_string_lossy());
        let record = queue_agent("q-a", agent.id(), &exit_file);
        let seen = crate::agents::view(record.clone());
        assert_eq!(seen.state, AgentState::Running, "the fixture's agent is seen alive: {seen:?}");
        store.insert_agent(&record).unwrap();
        let mut scheduler = Scheduler::new(config, "qcold".into());
        let a = store.item(&run, &"a".parse().unwrap()).unwrap().unwrap();
        let epoch = scheduler.lease(&mut store, &a, 10).unwrap().unwrap();
        let update = ItemUpdate {
            task_id: Some("ghost/001-a".into()),
            agent_id: Some("q-a".into()),
            iteration: 1,
            ..ItemUpdate::of(&a, ItemStatus::Running, "running")
        };
        store.update_item(&run, &a.id, epoch, &update, 10).unwrap();
        Self { _dir: dir, store, scheduler, run, agent, exit_file }
    }

    /// Ends the first item's agent, its whole group.
    fn kill(&mut self) {
        if let Ok(pid) = i32::try_from(self.agent.id()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.agent.wait();
    }

    /// The first item's agent exits with 0.
    fn end_first(&mut self) {
        self.kill();
        std::fs::write(&self.exit_file, "0\n").unwrap();
    }
}

impl Drop for OneRunning {
    /// A failed assertion leaves no `sleep` behind.
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn freed_capacity_reconsiders_refused_items_without_rewriting_those_refused_again() {
    let mut fx = OneRunning::new(6);
    let (store, scheduler, run) = (&mut fx.store, &mut fx.scheduler, fx.run.clone());
    let host = idle_host();
    settled_pass(scheduler, store, host, 100);
    let refused = store.run(&run).unwrap().unwrap();
    let first = &refused.items[0];
    assert_eq!(first.status, ItemStatus::Running, "`a` holds the one slot: {first:?}");
    for item in &refused.items[1..] {
        assert_eq!(item.status, ItemStatus::Waiting, "{item:?}");
        assert_eq!(item.waiting_for, Some(WaitingFor::Admission), "{item:?}; `a` is {first:?}");
        assert_eq!(item.next_attempt_at, Some(160), "{item:?}");
    }
    let written = store.rows_written();
    settled_pass(scheduler, store, host, 101);
    assert_eq!(store.rows_written(), written, "a pass over unchanged evidence writes no row");

    // `a`'s agent exits before its timer: the slot it frees goes to the next item at once, and
    // the items refused again for the same reason keep their rows as they were.
    fx.end_first();
    settled_pass(&mut fx.scheduler, &mut fx.store, host, 120);
    let after = fx.store.run(&run).unwrap().unwrap();
    assert_eq!(after.items[0].waiting_for, Some(WaitingFor::RecoveryBackoff), "{:?}", after.items[0]);
    assert_ne!(after.items[1].waiting_for, Some(WaitingFor::Admission), "i1 was admitted: {:?}", after.items[1]);
    assert_eq!(after.items[2..], refused.items[2..], "the others were refused again and not rewritten");
}

/// A benchmark, not a test (`cargo xtask bench` runs it in release): the cost of a scheduler pass
/// over a run of 10,000 pending items with no capacity — the first pass, which refuses them all,
/// a pass over unchanged evidence, and the pass after the one running item ends.
#[test]
#[ignore = "a benchmark: `cargo xtask bench` runs it"]
fn bench_pass_with_10k_pending_items() {
    const ITEMS: usize = 10_001;
    let mut fx = OneRunning::new(ITEMS);
    let host = idle_host();
    let timed = |fx: &mut OneRunning, label: &str, now: i64| {
        let rows = fx.store.rows_written();
        let started = std::time::Instant::now();
        fx.scheduler.pass(&mut fx.store, host, now).unwrap();
        let took = started.elapsed();
        assert!(fx.scheduler.absorb_launches(true).is_none() || label == "after a slot frees");
        println!(
            "scheduler pass, {} pending items, {label:<22} {took:>9.2?}, {} row(s) written",
            ITEMS - 1,
            fx.store.rows_written() - rows
        );
    };
    timed(&mut fx, "first (refuses all)", 100);
    for now in 101..104 {
        timed(&mut fx, "unchanged evidence", now);
    }
    fx.end_first();
    timed(&mut fx, "after a slot frees", 120);
    timed(&mut fx, "the pass after", 121);
}

#[test]
fn a_pass_hands_its_launches_over_and_returns_while_one_waits_for_its_repository() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(dir.path().join("state"), "test");
    let mut store = Store::open(&config.state_dir, config.sqlite_busy_timeout).unwrap();
    let root = dir.path().join("web");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("README.md"), "web\n").unwrap();
    for args in [&["init", "-q", "-b", "main"][..], &["add", "README.md"], &["commit", "-q", "-m", "first"]] {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=T", "-c", "user.email=t@x"])
            .args(args)
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(ok.success(), "git {args:?}");
    }
    let repo: RepoId = "web".parse().unwrap();
    let add = crate::repos::AddRepo {
        id: repo.clone(),
        root: root.clone(),
        adapter: None,
        xtask_manifest: None,
        verify_command: Some("true".into()),
        default_branch: None,
        worktree_root: None,
        set_active: false,
    };
    crate::repos::add(&mut store, &add, 1).unwrap();
    let command = serde_json::from_str(r#"{"name": "scripted", "argv": ["true"], "probe": "true"}"#).unwrap();
    crate::agents::commands::add(&mut store, command, 1).unwrap();
    let package = parse_json(r#"{"items": [{"id": "a", "prompt": "p"}]}"#).unwrap();
    let run: RunId = "run-1".parse().unwrap();
    store
        .insert_run(&run, &repo, ExecutionMode::Graph, Some("scripted"), &normalize(&package, 1).unwrap().items, 1)
        .unwrap();
    let mut scheduler = Scheduler::new(config.clone(), "qcold".into());

    // Another process is delivering to the repository: the launch's task open waits for the
    // lock. The pass does not wait with it.
    let held = crate::lock::try_acquire(&config.state_dir, &format!("repo-{repo}"), "a delivery").unwrap();
    scheduler.pass(&mut store, idle_host(), 100).unwrap();
    let item = store.item(&run, &"a".parse().unwrap()).unwrap().unwrap();
    assert!(
        matches!(item.status, ItemStatus::Admitted | ItemStatus::Starting),
        "the launch is still in flight when the pass returns: {item:?}"
    );
    drop(held);
    if let Some(err) = scheduler.absorb_launches(true) {
        panic!("the launch was interrupted: {err:#}");
    }
    let item = store.item(&run, &"a".parse().unwrap()).unwrap().unwrap();
    assert_eq!(item.status, ItemStatus::Running, "{item:?}");
    let task = store.task(item.task_id.as_deref().unwrap()).unwrap().unwrap();
    assert!(std::path::Path::new(&task.worktree).is_dir(), "its task was opened once the lock was free: {task:?}");
    assert!(scheduler.held.contains_key(&(run, item.id)), "the running item's lease is held");
}
