//! The chaos suite, short form: a graph run crashed at every named launch step and at random
//! moments, and run through a held `index.lock`, a silent origin, a full state disk, a locked
//! store, a killed tmux server and a hung agent — each audited for lost items, duplicate
//! launches, inexact ledgers, orphans and store integrity (`qcold_tests::chaos::audit`).
//! `cargo xtask chaos` runs the long form (the ignored test at the end).

use std::time::{Duration, Instant};

use qcold_tests::chaos::audit::{Audit, live_leftovers};
use qcold_tests::chaos::faults::{IndexLock, SilentOrigin, StoreLock, Tmpfs};
use qcold_tests::chaos::trial::{self, CLEANUP_POINT, CLOSEOUT_POINT, DAEMON_POINTS, Trial};
use qcold_tests::chaos::{RUN_TIMEOUT, World, fresh_seed, graph, pause};
use qcold_tests::{Env, Run, git, wait_until};

fn check_fault_point(point: &str) {
    let Trial { world, audit, .. } = trial::at_fault_point(point);
    audit.assert_exact(&world, &format!("after a crash at {point}"));
}

#[test]
fn an_unknown_fault_point_refuses_to_start_and_lists_the_known_ones() {
    let env = Env::new();
    let err = Run::from(env.command().args(["status"]).env("QCOLD_FAULT_POINT", "after-lunch").output().unwrap())
        .fails_with("unknown fault point \"after-lunch\"");
    let listed: Vec<&str> = err.trim().rsplit("known points: ").next().unwrap().split(", ").collect();
    let mut known: Vec<&str> = DAEMON_POINTS.to_vec();
    known.extend([CLOSEOUT_POINT, CLEANUP_POINT]);
    assert_eq!(listed, known, "the suite covers exactly the points the daemon knows");
    env.command()
        .args(["status"])
        .env("QCOLD_FAULT_POINT", "after-row@0")
        .output()
        .map(Run::from)
        .unwrap()
        .fails_with("the occurrence after `@` must be a whole number");
}

#[test]
fn a_crash_after_the_lease_loses_nothing() {
    check_fault_point("after-lease");
}

#[test]
fn a_crash_after_the_ledger_row_loses_nothing() {
    check_fault_point("after-row");
}

#[test]
fn a_crash_after_worktree_add_leaves_no_orphan_branch() {
    check_fault_point("after-worktree-add");
}

#[test]
fn a_crash_after_the_task_record_opens_no_second_task() {
    check_fault_point("after-task-record");
}

#[test]
fn a_crash_after_the_packet_loses_nothing() {
    check_fault_point("after-packet");
}

#[test]
fn a_crash_after_the_session_start_starts_no_second_agent() {
    check_fault_point("after-session-start");
}

#[test]
fn a_crash_after_the_agent_record_starts_no_second_agent() {
    check_fault_point("after-agent-record");
}

#[test]
fn a_closeout_killed_after_delivery_counts_as_delivered() {
    check_fault_point(CLOSEOUT_POINT);
}

#[test]
fn a_crash_between_removing_a_worktree_and_its_branch_leaves_no_orphan_branch() {
    check_fault_point(CLEANUP_POINT);
}

#[test]
fn random_kills_lose_nothing_and_launch_nothing_twice() {
    let seed = fresh_seed();
    eprintln!("chaos seed {seed} (the long form replays it: cargo xtask chaos --trials 1 --kills 3 --seed {seed})");
    let Trial { world, audit, kills, .. } = trial::random_kills(6, 2, 3, Duration::from_millis(1500), seed);
    audit.assert_exact(&world, &format!("after {kills} random kill(s), seed {seed}"));
}

/// Waits until wave 0's items (`n00`, `n01` of a 4-item, two-wave graph) run their agents.
fn wait_wave_zero_running(world: &World, run: &str) {
    world.wait_run(run, RUN_TIMEOUT, "wave 0 running", |r| {
        r["items"].as_array().is_some_and(|items| items.iter().take(2).all(|i| i["status"] == "running"))
    });
}

/// Waits until wave 0's agents closed out with success (their end lines logged).
fn wait_wave_zero_closed(world: &World) {
    let ok = wait_until(RUN_TIMEOUT, || ["n00 0", "n01 0"].iter().all(|l| world.ends().iter().any(|e| e == l)));
    assert!(ok, "wave 0 did not close out: {:?}\n{}", world.ends(), world.daemon_warnings());
}

fn gated(gate: &std::path::Path) -> impl Fn(usize, usize) -> String + '_ {
    move |_, _| format!("directive: wait-for {}", gate.display())
}

#[test]
fn an_index_lock_held_during_closeouts_fails_no_iteration() {
    let mut world = World::new();
    world.start(&[]);
    let gate = world.file("gate");
    let run = world.submit(&graph(4, 2, gated(&gate)));
    wait_wave_zero_running(&world, &run);
    let lock = IndexLock::hold(&world.repo);
    std::fs::write(&gate, "").unwrap();
    // The fault's duration (the reproduction: an editor holding the lock for 8 s).
    pause(Duration::from_secs(8));
    drop(lock);
    let view = world.wait_end(&run, RUN_TIMEOUT);
    // A fast-forward refused by a held lock is an infrastructure failure, retried as such: it
    // is not the agent's failure and must not cost an iteration or a second agent.
    Audit::take(&world, &view).assert_exact(&world, "after an 8 s index.lock in the primary checkout");
}

/// The deadline of git's network commands, short for the test: a silent origin must make a
/// closeout fail within it, not hang the repository's lock.
const REMOTE_DEADLINE: (&str, &str) = ("QCOLD_GIT_REMOTE_TIMEOUT_SECONDS", "10");

#[test]
fn a_silent_origin_hangs_nothing_and_fails_no_iteration() {
    let mut world = World::new();
    let origin = SilentOrigin::serve(world.env.path());
    git(&world.repo, &["remote", "set-url", "origin", &origin.url("web-origin.git")]);
    world.set(REMOTE_DEADLINE.0, REMOTE_DEADLINE.1);
    world.start(&[]);
    let gate = world.file("gate");
    let run = world.submit(&graph(4, 2, gated(&gate)));
    wait_wave_zero_running(&world, &run);
    origin.set_silent(true);
    std::fs::write(&gate, "").unwrap();
    let reached = wait_until(RUN_TIMEOUT, || origin.unanswered() > 0);
    assert!(reached, "no closeout reached the origin\n{}", world.daemon_warnings());
    pause(Duration::from_secs(5));
    origin.set_silent(false);
    // While a closeout waits on the silent origin, the queue's API still answers.
    let started = Instant::now();
    assert!(world.run_view(&run).is_some(), "GET /api/queue answers while a closeout hangs");
    assert!(started.elapsed() < Duration::from_secs(5), "GET /api/queue took {:?}", started.elapsed());
    let view = world.wait_end(&run, Duration::from_secs(240));
    Audit::take(&world, &view).assert_exact(&world, "after a 5 s silent origin (its connections never answered)");
}

#[test]
fn a_full_state_disk_delays_launches_and_loses_nothing() {
    let env = Env::new();
    let tmpfs = match Tmpfs::mount(&env.state_dir(), "32m") {
        Ok(tmpfs) => tmpfs,
        Err(why) if std::env::var_os("QCOLD_CHAOS_SKIP_TMPFS").is_some() => {
            eprintln!("SKIPPED a_full_state_disk_delays_launches_and_loses_nothing: cannot mount a tmpfs: {why}");
            return;
        }
        Err(why) => panic!(
            "cannot mount a tmpfs for the full-disk chaos test ({why}); it needs root (or CAP_SYS_ADMIN). \
             Set QCOLD_CHAOS_SKIP_TMPFS=1 to skip it knowingly."
        ),
    };
    let mut world = World::on(env);
    world.start(&[]);
    let gate = world.file("gate");
    let run = world.submit(&graph(4, 2, |_, wave| {
        if wave > 0 { format!("directive: wait-for {}", gate.display()) } else { String::new() }
    }));
    // Wave 1 launches the moment wave 0 is delivered: fill the disk then, so its launches (task
    // record, packet, agent record) meet it, while no closeout does (wave 1 waits for the gate).
    wait_wave_zero_closed(&world);
    let filler = tmpfs.fill();
    pause(Duration::from_secs(4));
    std::fs::remove_file(&filler).unwrap();
    std::fs::write(&gate, "").unwrap();
    let view = world.wait_end(&run, RUN_TIMEOUT);
    let warnings = world.daemon_warnings();
    assert!(warnings.contains("full"), "the daemon met the full disk\n{warnings}");
    // The scheduler backs off (1 s, doubling) instead of retrying in a tight loop: over 4 s of a
    // full disk that is a handful of failed passes, not dozens a second.
    let failed_passes = warnings.matches("queue pass failed").count();
    assert!(failed_passes <= 8, "{failed_passes} failed passes in 4 s: no back-off\n{warnings}");
    Audit::take(&world, &view).assert_exact(&world, "after 4 s of a full state disk during wave 1's launches");
    drop(world);
    drop(tmpfs);
}

#[test]
fn a_store_locked_past_its_busy_timeout_loses_nothing() {
    let mut world = World::new();
    world.set("QCOLD_SQLITE_BUSY_TIMEOUT_MS", "300");
    world.start(&[]);
    let gate = world.file("gate");
    // Wave 0 has four items: their launches take long enough that the lock, taken as soon as
    // the run is stored, lands in the middle of them. The agents wait for the gate, opened after
    // the lock is gone, so no closeout meets it (their own busy timeout is as short).
    let run = world.submit(&graph(8, 2, gated(&gate)));
    let lock = StoreLock::hold(&world.env.state_dir());
    pause(Duration::from_secs(3));
    drop(lock);
    std::fs::write(&gate, "").unwrap();
    let view = world.wait_end(&run, RUN_TIMEOUT);
    assert!(world.daemon_warnings().contains("locked"), "the daemon met the lock\n{}", world.daemon_warnings());
    Audit::take(&world, &view).assert_exact(&world, "after the store was locked for 3 s (busy timeout 300 ms)");
}

#[test]
fn a_killed_tmux_server_leaves_its_agents_working_and_starts_none_twice() {
    let mut world = World::new();
    world.start(&[]);
    let gate = world.file("gate");
    let run = world.submit(&graph(4, 2, gated(&gate)));
    wait_wave_zero_running(&world, &run);
    let killed = std::process::Command::new("tmux").arg("-S").arg(world.tmux_socket()).arg("kill-server").status();
    assert!(killed.is_ok_and(|s| s.success()), "tmux kill-server on {}", world.tmux_socket().display());
    // The wrappers lead their sessions and take the hang-up; the agents beneath them never see
    // it and work on without a terminal, so the process table still shows them alive. Evidence
    // decides (invariant 13): they are running, not vanished, and nothing may start beside them.
    let alive = live_leftovers(&world);
    assert_eq!(alive.iter().filter(|l| l.starts_with("agent process")).count(), 2, "{alive:#?}");
    std::fs::write(&gate, "").unwrap();
    let view = world.wait_end(&run, RUN_TIMEOUT);
    Audit::take(&world, &view).assert_exact(&world, "after tmux kill-server during wave 0");
}

/// INTERFACE: `qcold queue stop --kill` is being added by another helper (issue #10, item 2:
/// "`queue stop` on a run with a hung agent can be forced"). This test is written against it;
/// until it lands, the CLI refuses `--kill` and the test fails there.
#[test]
fn a_hung_agent_is_ended_by_queue_stop_kill_and_leaves_nothing_running() {
    let mut world = World::new();
    world.start(&[]);
    let never = world.file("never");
    let run = world.submit(&graph(3, 1, |i, _| {
        if i == 0 { format!("directive: wait-for {}", never.display()) } else { String::new() }
    }));
    world.wait_run(&run, RUN_TIMEOUT, "n01, n02 done while n00 hangs", |r| {
        let status = |i: usize| r["items"][i]["status"].as_str().unwrap_or_default().to_owned();
        status(0) == "running" && status(1) == "success" && status(2) == "success"
    });
    let listen = world.daemon().listen().to_owned();
    let stopped = world.env.qcold(&["queue", "stop", "--kill", "--listen", &listen, "--no-start-daemon"]);
    assert_eq!(stopped.code, 0, "queue stop --kill: {stopped:?}");
    let view = world.wait_run(&run, RUN_TIMEOUT, "the run stopped", |r| r["status"] == "stopped");
    let audit = Audit::take(&world, &view);
    let problems = audit.problems(|_| 1);
    let hung = audit.items.iter().find(|i| i.id == "n00").unwrap();
    let expected: Vec<String> =
        problems.into_iter().filter(|p| !p.starts_with("the run ended stopped") && !p.contains("n00:")).collect();
    assert!(expected.is_empty(), "{expected:#?}\n{}", audit.run);
    assert_ne!(hung.status, "success", "{hung:?}");
    assert_eq!((hung.starts, hung.agents, hung.tasks, hung.deliveries), (1, 1, 1, 0), "{hung:?}");
    assert!(
        hung.rows.len() == 1 && hung.rows[0].is_some(),
        "the killed iteration is one ledger row that names its end: {hung:?}"
    );
}

/// The long form, run by `cargo xtask chaos`: `QCOLD_CHAOS_TRIALS` trials (10) of an
/// `QCOLD_CHAOS_ITEMS`-item (50), `QCOLD_CHAOS_WAVES`-wave (4) graph run killed
/// `QCOLD_CHAOS_KILLS` times (20) at random moments below `QCOLD_CHAOS_GAP_MS` (1000), seeded by
/// `QCOLD_CHAOS_SEED` (the clock), then every fault point once; prints the figures and fails if
/// anything was lost, duplicated or left behind.
#[test]
#[ignore = "the long form; `cargo xtask chaos` runs it"]
fn chaos_long_form() {
    let number = |name: &str, default: u64| -> u64 {
        std::env::var(name).ok().map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is no number")))
    };
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let (trials, kills) = (number("QCOLD_CHAOS_TRIALS", 10), to_usize(number("QCOLD_CHAOS_KILLS", 20)));
    let (items, waves) = (to_usize(number("QCOLD_CHAOS_ITEMS", 50)), to_usize(number("QCOLD_CHAOS_WAVES", 4)));
    let gap = Duration::from_millis(number("QCOLD_CHAOS_GAP_MS", 1000));
    let seed = number("QCOLD_CHAOS_SEED", fresh_seed());
    let started = Instant::now();
    let mut totals = Figures::default();
    println!("chaos: {trials} trial(s) × up to {kills} kill(s) of a {items}-item, {waves}-wave graph run; seed {seed}");
    for t in 0..trials {
        let trial_seed = seed.wrapping_add(t);
        let trial = trial::random_kills(items, waves, kills, gap, trial_seed);
        let figures = Figures::of(&trial);
        println!("trial {:>2} seed {trial_seed}: {figures}", t + 1);
        totals.add(&figures);
    }
    for point in DAEMON_POINTS.iter().copied().chain([CLOSEOUT_POINT, CLEANUP_POINT]) {
        let trial = std::panic::catch_unwind(|| trial::at_fault_point(point));
        match trial {
            Ok(trial) => {
                let figures = Figures::of(&trial);
                println!("fault point {point}: {figures}");
                totals.add(&figures);
            }
            Err(_) => {
                println!("fault point {point}: the trial itself failed (see above)");
                totals.broken += 1;
            }
        }
    }
    println!("chaos totals: {totals}; wall time {:.0?}", started.elapsed());
    assert!(totals.clean(), "chaos found problems: {totals}");
}

/// A trial's figures, as `cargo xtask chaos` prints them.
#[derive(Debug, Default)]
struct Figures {
    trials: usize,
    kills: usize,
    items: usize,
    lost: usize,
    duplicates: usize,
    orphans: usize,
    other: usize,
    broken: usize,
    wall: Duration,
}

impl Figures {
    fn of(trial: &Trial) -> Self {
        let audit = &trial.audit;
        let other = audit.problems(|_| 1).len();
        let figures = Self {
            trials: 1,
            kills: trial.kills,
            items: audit.items.len(),
            lost: audit.lost().len(),
            duplicates: audit.duplicates(),
            orphans: audit.orphans.len(),
            other,
            broken: 0,
            wall: trial.wall,
        };
        if other > 0 {
            println!("  problems:\n  - {}", audit.problems(|_| 1).join("\n  - "));
        }
        figures
    }

    fn add(&mut self, other: &Self) {
        self.trials += other.trials;
        self.kills += other.kills;
        self.items += other.items;
        self.lost += other.lost;
        self.duplicates += other.duplicates;
        self.orphans += other.orphans;
        self.other += other.other;
        self.broken += other.broken;
        self.wall += other.wall;
    }

    fn clean(&self) -> bool {
        self.lost + self.duplicates + self.orphans + self.other + self.broken == 0
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} trial(s), {} kill(s), {} item(s): {} lost, {} duplicate launch(es), {} orphan(s), {} problem(s) in all{}, {:.1?}",
            self.trials,
            self.kills,
            self.items,
            self.lost,
            self.duplicates,
            self.orphans,
            self.other,
            if self.broken > 0 { format!(", {} broken trial(s)", self.broken) } else { String::new() },
            self.wall
        )
    }
}
