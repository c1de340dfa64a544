//! Chaos trials: a graph run crashed at a named fault point, or `kill -9`ed at random moments,
//! then audited. The short form (`tests/integration/chaos.rs`) and the long form (`cargo xtask
//! chaos`) run the same trials at different sizes.

use std::time::{Duration, Instant};

use super::audit::Audit;
use super::{RUN_TIMEOUT, Rng, World, graph, pause, plain};

/// The fault points a daemon reaches (all but the closeout's, which the agent's
/// `qcold task closeout` reaches).
pub const DAEMON_POINTS: [&str; 7] = [
    "after-lease",
    "after-row",
    "after-worktree-add",
    "after-task-record",
    "after-packet",
    "after-session-start",
    "after-agent-record",
];

/// The point the agent's closeout reaches.
pub const CLOSEOUT_POINT: &str = "after-closeout-delivered";

/// The point the daemon reaches when it cleans up after a queue agent's closeout, between
/// removing the task's worktree and deleting its branch.
pub const CLEANUP_POINT: &str = "after-worktree-remove";

/// The occurrence a fault trial crashes at: the second launch, so one launch completed before.
pub const OCCURRENCE: u32 = 2;

/// A finished trial.
#[derive(Debug)]
pub struct Trial {
    /// The world, for messages.
    pub world: World,
    /// The audit of its run.
    pub audit: Audit,
    /// Daemon crashes inflicted.
    pub kills: usize,
    /// How long it took.
    pub wall: Duration,
}

/// A 4-item, two-wave graph run whose daemon is started with `QCOLD_FAULT_POINT=<point>@2`: it
/// must die there (by SIGKILL). Its agents are let finish — and close out — while it is down,
/// then a daemon without the fault point must finish the run. For [`CLOSEOUT_POINT`] the second
/// item's first closeout crashes instead, after delivering, and the daemon stays up.
pub fn at_fault_point(point: &str) -> Trial {
    let started = Instant::now();
    let mut world = World::new();
    if point == CLOSEOUT_POINT {
        world.start(&[]);
        let run =
            world.submit(&graph(4, 2, |i, _| if i == 1 { "directive: crash-closeout".into() } else { String::new() }));
        let view = world.wait_end(&run, RUN_TIMEOUT);
        assert!(
            world.ends().iter().any(|l| l == "n01 137"),
            "the closeout of n01 was to die by SIGKILL at {point} (exit 137); agent ends: {:?}",
            world.ends()
        );
        let audit = Audit::take(&world, &view);
        return Trial { world, audit, kills: 1, wall: started.elapsed() };
    }
    let setting = format!("{point}@{OCCURRENCE}");
    world.start(&[("QCOLD_FAULT_POINT", &setting)]);
    let run = world.submit(&graph(4, 2, plain));
    let died = world.wait_daemon_death(RUN_TIMEOUT, |w| w.ended(&run));
    match died {
        Some(true) => {}
        Some(false) => {
            panic!("the daemon armed with {setting} exited, but not by SIGKILL\n{}", world.daemon_warnings())
        }
        None => panic!(
            "the daemon armed with {setting} never reached it (the run ended or timed out first): \
             is `fault::point(config, {point:?})` called in the launch path?\n{}",
            world.daemon_warnings()
        ),
    }
    let log = std::fs::read_to_string(world.file("daemon.log")).unwrap_or_default();
    assert!(log.contains(&format!("fault point {setting} reached")), "the daemon logs the fault point:\n{log}");
    // Whatever the dead daemon started runs on — and closes out — while no daemon is up.
    assert!(world.wait_agents_quiet(RUN_TIMEOUT), "agents started before the crash never ended: {:?}", world.starts());
    world.start(&[]);
    let view = world.wait_end(&run, RUN_TIMEOUT);
    let audit = Audit::take(&world, &view);
    Trial { world, audit, kills: 1, wall: started.elapsed() }
}

/// An `items`-item graph run in `waves` waves whose daemon is killed with SIGKILL up to `kills`
/// times, each after a random pause below `gap` (from `seed`), and restarted at once.
pub fn random_kills(items: usize, waves: usize, kills: usize, gap: Duration, seed: u64) -> Trial {
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let mut world = World::new();
    world.start(&[]);
    let run = world.submit(&graph(items, waves, plain));
    let mut done = 0;
    for _ in 0..kills {
        pause(rng.below(gap));
        if world.ended(&run) {
            break;
        }
        world.crash_and_restart();
        done += 1;
    }
    let view = world.wait_end(&run, RUN_TIMEOUT);
    let audit = Audit::take(&world, &view);
    Trial { world, audit, kills: done, wall: started.elapsed() }
}
