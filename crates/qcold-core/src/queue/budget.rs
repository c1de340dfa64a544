//! Retry budgets, kept apart: launch retries (the executor could not be started) back off and
//! are capped; semantic iterations (the task itself failed) are capped per item — the original
//! attempt and two recoveries by default — and wait a little longer before each; delivery retries
//! (the work is committed but a lock, the network or the remote stopped its delivery) back off
//! and are capped per iteration, and only when they are spent does the failure cost an iteration.

use serde::{Deserialize, Serialize};

/// The budgets; `Config` carries them so tests can shorten the delays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Budgets {
    /// Delay before each launch retry, seconds; its length is the number of retries.
    pub launch_delays_secs: Vec<i64>,
    /// Semantic iterations per item, the original included.
    pub max_iterations: u32,
    /// Delay before each recovery iteration (before the 2nd, before the 3rd, ...), seconds; the
    /// last one repeats when there are more iterations than delays, none means at once.
    pub recovery_delays_secs: Vec<i64>,
    /// Delay before each delivery retry of one iteration, seconds; its length is the number of
    /// retries.
    pub delivery_delays_secs: Vec<i64>,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            launch_delays_secs: vec![60, 300, 600],
            max_iterations: 3,
            recovery_delays_secs: vec![30, 120],
            delivery_delays_secs: vec![10, 30, 120, 300],
        }
    }
}

/// What to do after a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "next", rename_all = "kebab-case")]
pub enum Next {
    /// Launch (or deliver) again at this time (Unix seconds).
    RetryAt {
        /// When.
        at: i64,
        /// Which retry this is, from 1.
        retry: u32,
    },
    /// Start semantic iteration `iteration` (from 2) at `at`.
    Iterate {
        /// The iteration number.
        iteration: u32,
        /// Not before this time (Unix seconds): the recovery back-off.
        at: i64,
    },
    /// The budget is spent; the item fails with this reason.
    Exhausted {
        /// Why, naming the budget and the last failure.
        reason: String,
    },
}

/// Whether a launch failure can pass by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum LaunchFailure {
    /// It may (a busy tmux, a command not ready yet, a task that could not be opened): retry
    /// after a back-off.
    Passing,
    /// It cannot (the program is missing or not executable, the packet does not fit the
    /// command's argv): retrying would only fail the same way, so the item fails at once.
    Permanent,
}

/// After launch failure number `failures` (from 1) at `now`.
pub fn after_launch_failure(budgets: &Budgets, failures: u32, now: i64, failure: &str, kind: LaunchFailure) -> Next {
    if kind == LaunchFailure::Permanent {
        return Next::Exhausted { reason: format!("cannot launch, and a retry would fail the same way: {failure}") };
    }
    match budgets.launch_delays_secs.get(failures.saturating_sub(1) as usize) {
        Some(delay) => Next::RetryAt { at: now + delay, retry: failures },
        None => Next::Exhausted {
            reason: format!(
                "launch retries exhausted after {} retries; last failure: {failure}",
                budgets.launch_delays_secs.len()
            ),
        },
    }
}

/// After the semantic iteration `iteration` (from 1) failed at `now`.
pub fn after_semantic_failure(budgets: &Budgets, iteration: u32, now: i64, failure: &str) -> Next {
    if iteration < budgets.max_iterations {
        let delays = &budgets.recovery_delays_secs;
        let delay = delays.get(iteration.saturating_sub(1) as usize).or(delays.last()).copied().unwrap_or(0);
        Next::Iterate { iteration: iteration + 1, at: now + delay }
    } else {
        Next::Exhausted { reason: format!("recovery exhausted after {iteration} iterations; last failure: {failure}") }
    }
}

/// After delivery failure number `failures` (from 1) of one iteration, at `now`.
pub fn after_delivery_failure(budgets: &Budgets, failures: u32, now: i64, failure: &str) -> Next {
    match budgets.delivery_delays_secs.get(failures.saturating_sub(1) as usize) {
        Some(delay) => Next::RetryAt { at: now + delay, retry: failures },
        None => Next::Exhausted {
            reason: format!(
                "delivery retries exhausted after {} retries; last failure: {failure}",
                budgets.delivery_delays_secs.len()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_retries_back_off_then_stop() {
        let b = Budgets::default();
        let passing = |failures, failure| after_launch_failure(&b, failures, 1000, failure, LaunchFailure::Passing);
        assert_eq!(passing(1, "x"), Next::RetryAt { at: 1060, retry: 1 });
        assert_eq!(passing(2, "x"), Next::RetryAt { at: 1300, retry: 2 });
        assert_eq!(passing(3, "x"), Next::RetryAt { at: 1600, retry: 3 });
        assert_eq!(
            passing(4, "tmux refused"),
            Next::Exhausted { reason: "launch retries exhausted after 3 retries; last failure: tmux refused".into() }
        );
    }

    #[test]
    fn a_permanent_launch_failure_spends_no_retries() {
        let b = Budgets::default();
        assert_eq!(
            after_launch_failure(&b, 1, 1000, "command not found: nope", LaunchFailure::Permanent),
            Next::Exhausted {
                reason: "cannot launch, and a retry would fail the same way: command not found: nope".into()
            }
        );
    }

    #[test]
    fn semantic_iterations_back_off_and_are_capped_at_three() {
        let b = Budgets::default();
        assert_eq!(after_semantic_failure(&b, 1, 1000, "x"), Next::Iterate { iteration: 2, at: 1030 });
        assert_eq!(after_semantic_failure(&b, 2, 1000, "x"), Next::Iterate { iteration: 3, at: 1120 });
        assert_eq!(
            after_semantic_failure(&b, 3, 1000, "the task closed as failed"),
            Next::Exhausted {
                reason: "recovery exhausted after 3 iterations; last failure: the task closed as failed".into()
            }
        );
        let short = Budgets { launch_delays_secs: vec![0], max_iterations: 1, ..Budgets::default() };
        assert!(matches!(after_semantic_failure(&short, 1, 5, "x"), Next::Exhausted { .. }));
        assert_eq!(after_launch_failure(&short, 1, 5, "x", LaunchFailure::Passing), Next::RetryAt { at: 5, retry: 1 });
        // More iterations than delays repeat the last delay; no delays recover at once.
        let many = Budgets { max_iterations: 9, recovery_delays_secs: vec![1, 7], ..Budgets::default() };
        assert_eq!(after_semantic_failure(&many, 5, 100, "x"), Next::Iterate { iteration: 6, at: 107 });
        let none = Budgets { recovery_delays_secs: vec![], ..Budgets::default() };
        assert_eq!(after_semantic_failure(&none, 1, 100, "x"), Next::Iterate { iteration: 2, at: 100 });
    }

    #[test]
    fn delivery_retries_back_off_then_stop() {
        let b = Budgets::default();
        let at = |failures| after_delivery_failure(&b, failures, 1000, "push: connection refused");
        assert_eq!(
            [at(1), at(2), at(3), at(4)],
            [
                Next::RetryAt { at: 1010, retry: 1 },
                Next::RetryAt { at: 1030, retry: 2 },
                Next::RetryAt { at: 1120, retry: 3 },
                Next::RetryAt { at: 1300, retry: 4 },
            ]
        );
        assert_eq!(
            at(5),
            Next::Exhausted {
                reason: "delivery retries exhausted after 4 retries; last failure: push: connection refused".into()
            }
        );
    }

    #[test]
    fn budgets_missing_from_a_stored_value_take_their_defaults() {
        let old: Budgets = serde_json::from_str(r#"{"launch_delays_secs":[1],"max_iterations":2}"#).unwrap();
        assert_eq!(
            old,
            Budgets { launch_delays_secs: vec![1], max_iterations: 2, ..Budgets::default() },
            "budgets written before the recovery and delivery delays existed"
        );
    }
}
