//! Retry budgets, kept apart: launch retries (the executor could not be started) back off and
//! are capped; semantic iterations (the task itself failed) are capped per item — the original
//! attempt and two recoveries by default.

use serde::{Deserialize, Serialize};

/// The budgets; `Config` carries them so tests can shorten the delays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Budgets {
    /// Delay before each launch retry, seconds; its length is the number of retries.
    pub launch_delays_secs: Vec<i64>,
    /// Semantic iterations per item, the original included.
    pub max_iterations: u32,
}

impl Default for Budgets {
    fn default() -> Self {
        Self { launch_delays_secs: vec![60, 300, 600], max_iterations: 3 }
    }
}

/// What to do after a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "next", rename_all = "kebab-case")]
pub enum Next {
    /// Launch again at this time (Unix seconds).
    RetryAt {
        /// When.
        at: i64,
        /// Which retry this is, from 1.
        retry: u32,
    },
    /// Start semantic iteration `iteration` (from 2) now.
    Iterate {
        /// The iteration number.
        iteration: u32,
    },
    /// The budget is spent; the item fails with this reason.
    Exhausted {
        /// Why, naming the budget and the last failure.
        reason: String,
    },
}

/// After launch failure number `failures` (from 1) at `now`.
pub fn after_launch_failure(budgets: &Budgets, failures: u32, now: i64, failure: &str) -> Next {
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

/// After the semantic iteration `iteration` (from 1) failed.
pub fn after_semantic_failure(budgets: &Budgets, iteration: u32, failure: &str) -> Next {
    if iteration < budgets.max_iterations {
        Next::Iterate { iteration: iteration + 1 }
    } else {
        Next::Exhausted { reason: format!("recovery exhausted after {iteration} iterations; last failure: {failure}") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_retries_back_off_then_stop() {
        let b = Budgets::default();
        assert_eq!(after_launch_failure(&b, 1, 1000, "x"), Next::RetryAt { at: 1060, retry: 1 });
        assert_eq!(after_launch_failure(&b, 2, 1000, "x"), Next::RetryAt { at: 1300, retry: 2 });
        assert_eq!(after_launch_failure(&b, 3, 1000, "x"), Next::RetryAt { at: 1600, retry: 3 });
        assert_eq!(
            after_launch_failure(&b, 4, 1000, "tmux refused"),
            Next::Exhausted { reason: "launch retries exhausted after 3 retries; last failure: tmux refused".into() }
        );
    }

    #[test]
    fn semantic_iterations_are_capped_at_three() {
        let b = Budgets::default();
        assert_eq!(after_semantic_failure(&b, 1, "x"), Next::Iterate { iteration: 2 });
        assert_eq!(after_semantic_failure(&b, 2, "x"), Next::Iterate { iteration: 3 });
        assert_eq!(
            after_semantic_failure(&b, 3, "the task closed as failed"),
            Next::Exhausted {
                reason: "recovery exhausted after 3 iterations; last failure: the task closed as failed".into()
            }
        );
        let short = Budgets { launch_delays_secs: vec![0], max_iterations: 1 };
        assert!(matches!(after_semantic_failure(&short, 1, "x"), Next::Exhausted { .. }));
        assert_eq!(after_launch_failure(&short, 1, 5, "x"), Next::RetryAt { at: 5, retry: 1 });
    }
}
