//! Fault injection: named points where a process configured to crash there kills itself.
//!
//! The chaos suite (`tests/integration/chaos.rs`, `cargo xtask chaos`) proves that a crash at
//! any step of a launch or a closeout loses nothing and starts nothing twice. Waiting for a
//! random `kill -9` to land in a window a few milliseconds wide would prove that only by luck,
//! so each window has a name, and `QCOLD_FAULT_POINT=NAME` (or `NAME@N`, the N-th time this
//! process reaches it) makes the process end there with SIGKILL: no destructor runs, no buffer
//! is flushed, no transaction is finished — exactly what a crash or the OOM killer leaves.
//!
//! Unset (the normal case) a point costs one `Option` check. The setting is read once, by
//! `config.rs`, and an unknown name refuses to start, so a typo never makes a chaos test pass
//! by never crashing. Agents never inherit it (the wrapper removes it from their environment):
//! a daemon armed at a launch step must not arm every closeout its agents run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::Config;

/// The environment variable that arms a fault point (read only by `config.rs`).
pub const ENV: &str = "QCOLD_FAULT_POINT";

/// A queue item was leased, before anything else of its launch happened.
pub const AFTER_LEASE: &str = "after-lease";
/// The iteration's ledger row was written.
pub const AFTER_ROW: &str = "after-row";
/// The task's branch and worktree exist; no task record does yet.
pub const AFTER_WORKTREE_ADD: &str = "after-worktree-add";
/// The task record is stored; the queue item does not know its task yet.
pub const AFTER_TASK_RECORD: &str = "after-task-record";
/// The task packet was written.
pub const AFTER_PACKET: &str = "after-packet";
/// The agent's tmux session started; no agent record exists yet.
pub const AFTER_SESSION_START: &str = "after-session-start";
/// The agent record is stored; the queue item is not `running` yet.
pub const AFTER_AGENT_RECORD: &str = "after-agent-record";
/// A success closeout fast-forwarded and pushed; the task record does not say `closed:success`
/// yet (reached by the `qcold task closeout` process, not the daemon).
pub const AFTER_CLOSEOUT_DELIVERED: &str = "after-closeout-delivered";
/// A closed task's worktree was removed; its branch is not deleted yet (reached by whoever
/// cleans up: the daemon, for a queue agent's task).
pub const AFTER_WORKTREE_REMOVE: &str = "after-worktree-remove";

/// Every known fault point, in the order a launch and its closeout reach them.
pub const POINTS: &[&str] = &[
    AFTER_LEASE,
    AFTER_ROW,
    AFTER_WORKTREE_ADD,
    AFTER_TASK_RECORD,
    AFTER_PACKET,
    AFTER_SESSION_START,
    AFTER_AGENT_RECORD,
    AFTER_CLOSEOUT_DELIVERED,
    AFTER_WORKTREE_REMOVE,
];

/// Why a `QCOLD_FAULT_POINT` value is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultError {
    /// The name is not one of [`POINTS`].
    #[error("unknown fault point {name:?}; known points: {}", POINTS.join(", "))]
    Unknown {
        /// The name given.
        name: String,
    },
    /// The `@N` part is not a whole number ≥ 1.
    #[error("fault point {raw:?}: the occurrence after `@` must be a whole number ≥ 1")]
    BadOccurrence {
        /// The value given.
        raw: String,
    },
}

/// An armed fault point: its name, which occurrence crashes, and how often this process has
/// reached it. Clones share the count, so every copy of the [`Config`] counts the same process.
#[derive(Debug, Clone)]
pub struct FaultPoint {
    name: &'static str,
    occurrence: u32,
    reached: Arc<AtomicU32>,
}

impl FaultPoint {
    /// Parses `NAME` (the first occurrence) or `NAME@N`.
    pub fn parse(raw: &str) -> Result<Self, FaultError> {
        let raw = raw.trim();
        let (name, occurrence) = match raw.split_once('@') {
            None => (raw, 1),
            Some((name, n)) => {
                let n = n.trim().parse::<u32>().ok().filter(|n| *n >= 1);
                (name.trim(), n.ok_or_else(|| FaultError::BadOccurrence { raw: raw.to_owned() })?)
            }
        };
        let name =
            POINTS.iter().copied().find(|p| *p == name).ok_or_else(|| FaultError::Unknown { name: name.into() })?;
        Ok(Self { name, occurrence, reached: Arc::new(AtomicU32::new(0)) })
    }

    /// The point's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Which occurrence crashes (1 for the first).
    pub fn occurrence(&self) -> u32 {
        self.occurrence
    }

    /// Counts one arrival at `name` and says whether this is the one that crashes. Arrivals at
    /// other points are not counted.
    pub fn reached(&self, name: &str) -> bool {
        name == self.name && self.reached.fetch_add(1, Ordering::SeqCst).saturating_add(1) == self.occurrence
    }
}

/// Marks the fault point `name` (one of [`POINTS`]): when the configuration arms it and this is
/// the armed occurrence, logs one line to stderr and kills this process with SIGKILL.
pub fn point(config: &Config, name: &str) {
    debug_assert!(POINTS.contains(&name), "fault point {name:?} is not listed in fault::POINTS");
    let Some(fault) = &config.fault_point else { return };
    if fault.reached(name) {
        // Straight to stderr, unbuffered: the CLI's closeout has no tracing subscriber, and the
        // line must be out before the signal lands.
        eprintln!(
            "qcold: fault point {name}@{} reached: process {} kills itself with SIGKILL",
            fault.occurrence,
            std::process::id()
        );
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        // SIGKILL cannot be caught or blocked; should raise ever fail, crash all the same.
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which of `arrivals` (point names, in order) would crash under `setting`.
    fn check(setting: &str, arrivals: &[&str]) -> Vec<usize> {
        let fault = FaultPoint::parse(setting).unwrap();
        arrivals.iter().enumerate().filter(|(_, name)| fault.reached(name)).map(|(i, _)| i).collect()
    }

    #[test]
    fn the_nth_arrival_at_the_named_point_crashes_and_no_other() {
        let walk = [AFTER_LEASE, AFTER_ROW, AFTER_LEASE, AFTER_ROW, AFTER_LEASE, AFTER_ROW];
        assert_eq!(check("after-row", &walk), [1]);
        assert_eq!(check("after-row@1", &walk), [1]);
        assert_eq!(check("after-row@2", &walk), [3], "arrivals at other points are not counted");
        assert_eq!(check("after-lease@3", &walk), [4]);
        assert_eq!(check("after-lease@4", &walk), Vec::<usize>::new(), "never reached four times");
        assert_eq!(check(" after-packet @ 1 ", &[AFTER_PACKET]), [0], "spaces are forgiven");
    }

    #[test]
    fn clones_share_the_count() {
        let fault = FaultPoint::parse("after-lease@2").unwrap();
        let copy = fault.clone();
        assert!(!fault.reached(AFTER_LEASE));
        assert!(copy.reached(AFTER_LEASE), "the copy sees the first arrival");
        assert!(!fault.reached(AFTER_LEASE), "only the second arrival crashes");
    }

    #[test]
    fn unknown_names_and_bad_occurrences_are_refused_with_the_list() {
        let err = FaultPoint::parse("after-worktree").unwrap_err();
        assert_eq!(err, FaultError::Unknown { name: "after-worktree".into() });
        let message = err.to_string();
        for name in POINTS {
            assert!(message.contains(name), "{message}");
        }
        for raw in ["after-row@0", "after-row@", "after-row@two", "after-row@-1"] {
            assert_eq!(FaultPoint::parse(raw).unwrap_err(), FaultError::BadOccurrence { raw: raw.into() });
        }
    }

    #[test]
    fn an_unarmed_or_other_point_does_nothing() {
        let mut config = Config::new("/nonexistent".into(), "test");
        point(&config, AFTER_LEASE);
        config.fault_point = Some(FaultPoint::parse("after-packet@1").unwrap());
        // Reaching other points neither crashes nor uses up the armed occurrence.
        point(&config, AFTER_LEASE);
        point(&config, AFTER_ROW);
        assert!(config.fault_point.as_ref().unwrap().reached(AFTER_PACKET));
    }
}
