//! The inbox rules as tables: states built from the real types, rendered one entry per line.

use expect_test::{Expect, expect};

use super::*;
use crate::agent::{AgentRecord, Terminal};
use crate::api::tests::state_with;
use crate::queue::lease::Lease;
use crate::queue::wire::{QueueView, Run};
use crate::queue::{Attempt, ExecutionMode, RunStatus, TaskClass, WaitingFor};
use crate::task::delivery::{CloseoutFailure, FailureKind};
use crate::task::{CloseoutPhase, TaskRecord};

/// The fixture's sample time plus ten seconds: its node is fresh.
const NOW: i64 = 1_795_000_010;

pub(crate) fn item(id: &str, position: u32, status: ItemStatus) -> ItemRecord {
    ItemRecord {
        run_id: "run-1".parse().unwrap(),
        id: id.parse().unwrap(),
        position,
        slug: id.parse().unwrap(),
        prompt: format!("do {id}"),
        depends_on: Vec::new(),
        wave_index: position - 1,
        task_class: TaskClass::Mid,
        agent: None,
        status,
        reason: String::new(),
        next_attempt_at: None,
        waiting_for: None,
        stalled_since: None,
        launch_failures: 0,
        delivery_retries: 0,
        iteration: 1,
        task_id: None,
        agent_id: None,
        lease: Lease { owner: None, epoch: 1, expires_at: 0 },
        updated_at: 1_794_990_000 + i64::from(position),
        attempts: Vec::new(),
    }
}

pub(crate) fn run(id: &str, status: RunStatus, items: Vec<ItemRecord>) -> Run {
    let items = items.into_iter().map(|i| ItemRecord { run_id: id.parse().unwrap(), ..i }).collect();
    Run {
        id: id.parse().unwrap(),
        repo: "web".parse().unwrap(),
        mode: ExecutionMode::Graph,
        agent: None,
        status,
        reason: String::new(),
        created_at: 1_794_980_000,
        updated_at: 1_794_990_000,
        items,
    }
}

fn task(seq: u32, slug: &str, status: TaskStatus, updated_at: i64) -> TaskRecord {
    let id = format!("web/{seq:03}-{slug}");
    TaskRecord {
        id: id.clone(),
        repo: "web".parse().unwrap(),
        slug: slug.parse().unwrap(),
        sequence: seq,
        status,
        profile: None,
        prompt: None,
        branch: format!("task/{slug}"),
        worktree: format!("/wt/{seq:03}-{slug}"),
        primary: "/src/web".into(),
        base_branch: "main".parse().unwrap(),
        base_commit: "0".repeat(40),
        failed_phase: None,
        closeout_failure: None,
        created_at: updated_at - 100,
        updated_at,
        closed_at: None,
    }
}

fn agent(id: &str, state: AgentState, cwd: &str, started_at: i64) -> AgentView {
    AgentView {
        agent: AgentRecord {
            id: id.parse().unwrap(),
            track: "t".into(),
            name: None,
            scope: None,
            argv: vec!["codex".into()],
            cwd: cwd.into(),
            pid: 10,
            pgid: 10,
            terminal: Some(Terminal { session: format!("qcold-{id}"), target: format!("qcold-{id}:0.0") }),
            stdout_log: None,
            stderr_log: None,
            exit_file: "/x".into(),
            started_at,
            exited_at: matches!(state, AgentState::Exited { .. }).then_some(started_at + 50),
            exit_code: match state {
                AgentState::Exited { code } => Some(code),
                _ => None,
            },
        },
        state,
    }
}

fn healthy() -> StateResponse {
    state_with(QueueView::default())
}

fn render(state: &StateResponse, now: i64) -> String {
    let mut out = String::new();
    for a in needs_you(state, now) {
        let since = a.since.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let actions: Vec<String> =
            a.actions.iter().map(|x| serde_json::to_value(x).unwrap()["action"].as_str().unwrap().to_owned()).collect();
        let detail = if a.detail.is_empty() { "(no detail)" } else { &a.detail };
        out.push_str(&format!("{} since={since}\n  {}\n  {detail}\n  [{}]\n", a.key(), a.title, actions.join(", ")));
    }
    out
}

fn check(state: &StateResponse, want: Expect) {
    want.assert_eq(&render(state, NOW));
}

#[test]
fn a_healthy_state_needs_nothing() {
    // The fixture's resources block is `partial` (I/O counters unreadable): a host gap, no news.
    check(&healthy(), expect![""]);
}

#[test]
fn all_success_states_need_nothing() {
    // Property-ish: whatever the shape, work that went well, work under way and work the
    // scheduler is handling never needs the operator.
    let live = [
        ItemStatus::Pending,
        ItemStatus::Admitted,
        ItemStatus::Starting,
        ItemStatus::Running,
        ItemStatus::Waiting,
        ItemStatus::Stopped,
        ItemStatus::Paused,
        ItemStatus::Success,
    ];
    for runs in 0..4usize {
        let mut state = healthy();
        for r in 0..runs {
            let items: Vec<ItemRecord> = (0..=r * 3)
                .map(|i| {
                    let n = u32::try_from(i).unwrap() + 1;
                    let mut it = item(&format!("i{i}"), n, live[(i + r) % live.len()]);
                    it.task_id = Some(format!("web/{:03}-i{i}", i + 1));
                    it.agent_id = Some(format!("q-run-{r}-i{i}-1"));
                    if it.status == ItemStatus::Waiting {
                        it.waiting_for = Some(WaitingFor::DeliveryRetry);
                    }
                    it
                })
                .collect();
            let status = if items.iter().all(|i| i.status == ItemStatus::Success) {
                RunStatus::Success
            } else {
                RunStatus::Running
            };
            state.queue.runs.push(run(&format!("run-{r}"), status, items));
        }
        for (n, status) in [TaskStatus::Open, TaskStatus::Paused, TaskStatus::ClosedSuccess].into_iter().enumerate() {
            let n = u32::try_from(n).unwrap();
            state.tasks.push(task(100 + n, "manual", status, 1_794_999_000));
        }
        state.agents.push(agent("busy", AgentState::Running, "/wt/100-manual", 1_794_999_000));
        state.agents.push(agent("done", AgentState::Exited { code: 0 }, "/wt/100-manual", 1_794_999_001));
        state.agents.push(agent("shell", AgentState::Exited { code: 130 }, "/home/op", 1_794_999_002));
        assert_eq!(render(&state, NOW), "", "{runs} run(s)");
    }
}

#[test]
fn failed_and_blocked_items_carry_their_reason_and_the_run() {
    let mut failed = item("a", 1, ItemStatus::Failed);
    failed.reason = "semantic iterations spent (3); last: verify failed: cargo test".into();
    failed.task_id = Some("web/003-a".into());
    let mut dependent = item("b", 2, ItemStatus::Pending);
    dependent.depends_on = vec!["a".parse().unwrap()];
    dependent.reason = "blocked by a (failed)".into();
    let mut blocked = item("c", 3, ItemStatus::Blocked);
    blocked.reason = "task closed as blocked: needs credentials".into();
    blocked.attempts.push(Attempt {
        iteration: 1,
        agent_command: "codex".into(),
        agent_id: None,
        terminal: None,
        packet: None,
        log: None,
        task_id: Some("web/004-c".into()),
        bundle: None,
        failure: None,
        started_at: 1,
        finished_at: Some(2),
    });
    let mut state = state_with(QueueView {
        tabs: Vec::new(),
        runs: vec![run("run-1", RunStatus::Failed, vec![failed, dependent, blocked])],
    });
    // The failed item's task kept its worktree (failed-closeout): the item speaks for it, and
    // offers to clear it.
    state.tasks.push(task(3, "a", TaskStatus::FailedCloseout, 1_794_990_001));
    check(
        &state,
        expect![[r#"
            item-failed:run-1/a since=1794990001
              run-1/a failed (web)
              semantic iterations spent (3); last: verify failed: cargo test
              [continue-run, clear-run, open-run, open-task, clear-task]
            item-blocked:run-1/c since=1794990003
              run-1/c blocked (web)
              task closed as blocked: needs credentials
              [continue-run, clear-run, open-run, open-task]
        "#]],
    );
    // With an item in flight the run cannot be cleared, so the button is not offered.
    state.queue.runs[0].items[1].status = ItemStatus::Running;
    let actions: Vec<Vec<Action>> = needs_you(&state, NOW).into_iter().map(|a| a.actions).collect();
    assert!(actions.iter().all(|a| !a.iter().any(|x| matches!(x, Action::ClearRun { .. }))), "{actions:?}");
}

#[test]
fn admission_that_can_never_fit_names_the_setting_and_ordinary_waits_do_not_show() {
    let mut never = item("big", 1, ItemStatus::Waiting);
    never.waiting_for = Some(WaitingFor::NeverFits);
    never.task_class = TaskClass::Heavy;
    never.reason = "waiting for admission: heavy reserves 32.0 GiB but the host has 24.0 GiB, 3.0 GiB of it kept \
                    free, so it can never start here; set QCOLD_QUEUE_ADMISSION_HEAVY_MEMORY_MIB"
        .into();
    let mut busy = item("small", 2, ItemStatus::Waiting);
    busy.waiting_for = Some(WaitingFor::Admission);
    busy.reason = "waiting for admission: 2 tasks in flight".into();
    let state =
        state_with(QueueView { tabs: Vec::new(), runs: vec![run("run-1", RunStatus::Running, vec![never, busy])] });
    check(
        &state,
        expect![[r#"
            never-fits:run-1/big since=1794990001
              run-1/big can never start on this host (web)
              waiting for admission: heavy reserves 32.0 GiB but the host has 24.0 GiB, 3.0 GiB of it kept free, so it can never start here; set QCOLD_QUEUE_ADMISSION_HEAVY_MEMORY_MIB
              [open-run]
        "#]],
    );
}

#[test]
fn a_stalled_agent_is_shown_with_its_terminal_and_recovers_by_itself() {
    let mut stuck = item("slow", 1, ItemStatus::Running);
    stuck.agent_id = Some("q-run-1-slow-1".into());
    stuck.task_id = Some("web/001-slow".into());
    stuck.stalled_since = Some(1_794_990_000);
    stuck.reason = "no output, commit or closeout for 30 min; agent q-run-1-slow-1 is still running".into();
    let mut state =
        state_with(QueueView { tabs: Vec::new(), runs: vec![run("run-1", RunStatus::Running, vec![stuck])] });
    check(
        &state,
        expect![[r#"
            agent-stalled:run-1/slow since=1794990000
              run-1/slow: its agent shows no sign of life (web)
              no output, commit or closeout for 30 min; agent q-run-1-slow-1 is still running
              [open-terminal, open-run, open-task]
        "#]],
    );
    // A sign of life clears the mark, and the entry goes.
    state.queue.runs[0].items[0].stalled_since = None;
    check(&state, expect![""]);
}

#[test]
fn failed_closeouts_carry_the_phase_and_failure() {
    let mut state = healthy();
    let mut verify = task(7, "fix-login", TaskStatus::FailedCloseout, 1_794_999_500);
    verify.failed_phase = Some(CloseoutPhase::Verify);
    verify.closeout_failure =
        Some(CloseoutFailure { kind: FailureKind::Task, first_line: "test login::ok ... FAILED".into() });
    let bare = task(8, "half-done", TaskStatus::FailedCloseout, 1_794_999_400);
    // A queue task: the scheduler is on it (delivery retry), so it is not the operator's yet.
    let mut queued = task(9, "q", TaskStatus::FailedCloseout, 1_794_999_300);
    queued.failed_phase = Some(CloseoutPhase::Push);
    let mut retrying = item("q", 1, ItemStatus::Waiting);
    retrying.waiting_for = Some(WaitingFor::DeliveryRetry);
    retrying.task_id = Some(queued.id.clone());
    state.queue.runs.push(run("run-1", RunStatus::Running, vec![retrying]));
    state.tasks.extend([verify, bare, queued]);
    // The agent of the first is still there to repair it.
    state.agents.push(agent("fixer", AgentState::Running, "/wt/007-fix-login/src", 1_794_999_000));
    check(
        &state,
        expect![[r#"
            closeout-failed:web/008-half-done since=1794999400
              closeout of web/008-half-done failed in a phase
              (no detail)
              [open-task, clear-task]
            closeout-failed:web/007-fix-login since=1794999500
              closeout of web/007-fix-login failed in verify
              task failure: test login::ok ... FAILED
              [open-terminal, open-task, clear-task]
        "#]],
    );
}

#[test]
fn agents_that_ended_while_their_work_had_not() {
    let mut state = healthy();
    // Queue agents: the running item still counts on `q-1` (vanished); `q-2` exited non-zero
    // but its item already moved on to a recovery back-off, so the item speaks for it.
    let mut running = item("a", 1, ItemStatus::Running);
    running.agent_id = Some("q-1".into());
    running.task_id = Some("web/001-a".into());
    running.reason = "agent q-1 works on it (iteration 1)".into();
    let mut backoff = item("b", 2, ItemStatus::Waiting);
    backoff.agent_id = Some("q-2".into());
    backoff.waiting_for = Some(WaitingFor::RecoveryBackoff);
    state.queue.runs.push(run("run-1", RunStatus::Running, vec![running, backoff]));
    state.agents.push(agent("q-1", AgentState::Vanished, "/wt/001-a", 1_794_999_001));
    state.agents.push(agent("q-2", AgentState::Exited { code: 1 }, "/wt/002-b", 1_794_999_002));
    // A manual task's agent exited non-zero while the task is still open.
    state.tasks.push(task(5, "manual", TaskStatus::Open, 1_794_999_000));
    state.agents.push(agent("hand", AgentState::Exited { code: 2 }, "/wt/005-manual", 1_794_999_003));
    // An operator's shell: vanishing is news, exiting non-zero is not.
    let mut shell = agent("shell", AgentState::Vanished, "/home/op", 1_794_999_004);
    shell.agent.name = Some("tests".into());
    state.agents.push(shell);
    state.agents.push(agent("shell2", AgentState::Exited { code: 1 }, "/home/op", 1_794_999_005));
    // An agent in a worktree whose name merely starts like the task's is not the task's.
    state.agents.push(agent("near", AgentState::Exited { code: 1 }, "/wt/005-manual-2", 1_794_999_006));
    check(
        &state,
        expect![[r#"
            agent-failed:hand since=1794999053
              agent hand exited with code 2
              its task web/005-manual is still open
              [open-task, clear-task]
            agent-vanished:q-1 since=1794999001
              agent q-1 vanished
              run-1/a is still running: agent q-1 works on it (iteration 1)
              [open-run, open-task]
            agent-vanished:shell since=1794999004
              agent shell (tests) vanished
              in /home/op; `qcold agent prune` forgets it
              []
        "#]],
    );
}

#[test]
fn node_problems() {
    let mut state = healthy();
    check(&state, expect![""]);
    // Exited agents still registered make `managed` stale: that is "prune me", not news.
    state.node.managed.status = BlockStatus::Stale;
    check(&state, expect![""]);
    // Ten minutes without a sample: the heartbeat is stale.
    assert_eq!(
        render(&state, NOW + 600),
        "node:heartbeat since=1795000000\n  node: heartbeat is stale\n  sampled 610 s ago, more than the 120 s allowed\n  []\n"
    );
    // Q-COLD's own block partial is news; the proxy unavailable is too; the disk nearly full.
    state.node.managed.status = BlockStatus::Partial;
    state.node.managed.issues = vec![Issue::new("managed", BlockStatus::Partial, "cannot read agents: busy")];
    state.node.proxy.status = BlockStatus::Unavailable;
    let disk = state.node.resources.disk.as_mut().unwrap();
    disk.available_bytes = disk.total_bytes / 25;
    check(
        &state,
        expect![[r#"
            disk-low:resources.disk since=-
              disk / is nearly full
              3.7 GiB available of 93.1 GiB; free space there, or nothing more can be stored
              []
            node:managed since=-
              node: managed is partial
              cannot read agents: busy
              []
            node:proxy since=-
              node: proxy is unavailable
              (no detail)
              []
        "#]],
    );
    // Below 1 GiB is low however large the disk.
    let disk = state.node.resources.disk.as_mut().unwrap();
    disk.total_bytes = 100 * DISK_LOW_BYTES;
    disk.available_bytes = DISK_LOW_BYTES - 1;
    assert!(needs_you(&state, NOW).iter().any(|a| a.kind == AttentionKind::DiskLow));
    state.node.resources.disk.as_mut().unwrap().available_bytes = 6 * DISK_LOW_BYTES;
    assert!(!needs_you(&state, NOW).iter().any(|a| a.kind == AttentionKind::DiskLow));
}

#[test]
fn most_urgent_first_then_longest_standing() {
    let mut state = healthy();
    state.node.proxy.status = BlockStatus::Stale;
    let mut late = item("late", 2, ItemStatus::Failed);
    late.updated_at = 1_794_999_900;
    let mut early = item("early", 1, ItemStatus::Failed);
    early.updated_at = 1_794_999_100;
    let blocked = item("stuck", 3, ItemStatus::Blocked);
    state.queue.runs.push(run("run-2", RunStatus::Failed, vec![late, early, blocked]));
    state.queue.runs.push(run("run-1", RunStatus::Failed, vec![item("x", 1, ItemStatus::Failed)]));
    state.tasks.push(task(9, "closeout", TaskStatus::FailedCloseout, 1_794_999_000));
    state.agents.push(agent("gone", AgentState::Vanished, "/home/op", 1_794_000_000));
    let keys: Vec<String> = needs_you(&state, NOW).iter().map(Attention::key).collect();
    assert_eq!(
        keys,
        [
            "node:proxy",
            "item-failed:run-1/x",
            "item-failed:run-2/early",
            "item-failed:run-2/late",
            "closeout-failed:web/009-closeout",
            "item-blocked:run-2/stuck",
            "agent-vanished:gone",
        ]
    );
    // Deterministic: the order of the state's collections does not matter.
    state.queue.runs.reverse();
    state.queue.runs.iter_mut().for_each(|r| r.items.reverse());
    let again: Vec<String> = needs_you(&state, NOW).iter().map(Attention::key).collect();
    assert_eq!(again, keys);
}

#[test]
fn actions_name_their_routes_and_wire_spelling() {
    let continue_run = Action::ContinueRun { run_id: "run-1".parse().unwrap() };
    let clear = Action::ClearTask { task_id: "web/007-fix-login".into() };
    let open = Action::OpenTerminal { agent_id: "a1".parse().unwrap() };
    assert_eq!(continue_run.route().as_deref(), Some("/api/queue/continue"));
    assert_eq!(clear.route().as_deref(), Some("/api/tasks/web/007-fix-login/clear"));
    assert_eq!(open.route(), None);
    let entry = Attention {
        kind: AttentionKind::ItemFailed,
        title: "t".into(),
        detail: String::new(),
        since: Some(1),
        subject: Subject::Item { run_id: "run-1".parse().unwrap(), item_id: "a".parse().unwrap() },
        actions: vec![continue_run, clear, open],
    };
    expect![[r#"{"kind":"item-failed","title":"t","detail":"","since":1,"subject":{"subject":"item","run_id":"run-1","item_id":"a"},"actions":[{"action":"continue-run","run_id":"run-1"},{"action":"clear-task","task_id":"web/007-fix-login"},{"action":"open-terminal","agent_id":"a1"}]}"#]]
        .assert_eq(&serde_json::to_string(&entry).unwrap());
    let back: Attention = serde_json::from_str(&serde_json::to_string(&entry).unwrap()).unwrap();
    assert_eq!(back, entry);
}
