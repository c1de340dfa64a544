//! Stall detection: whether an agent in flight has shown no sign of life — no terminal output,
//! no new commit on its task branch, no store write for its task — for the stall window, and
//! when to look again.
//!
//! The decision is pure: the scheduler gathers the last time of each kind of activity (one cheap
//! look, only when [`Verdict::Active::recheck_at`] is due) and this module says what it means.

use serde::{Deserialize, Serialize};

/// What happens to an item whose agent stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Its reason says so; the agent keeps running.
    #[default]
    Warn,
    /// The agent is stopped and the iteration ends as failed (the semantic budget applies).
    Stop,
}

impl Policy {
    /// Parses `warn` or `stop`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "warn" => Some(Self::Warn),
            "stop" => Some(Self::Stop),
            _ => None,
        }
    }
}

/// The stall watch's settings; `Config` carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Settings {
    /// How long without any activity counts as stalled, seconds; 0 turns the watch off.
    pub window_secs: i64,
    /// What a stall does.
    pub policy: Policy,
}

impl Default for Settings {
    fn default() -> Self {
        Self { window_secs: 30 * 60, policy: Policy::Warn }
    }
}

/// The last known time (Unix seconds) of each kind of activity of one iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Activity {
    /// When the iteration started.
    pub started_at: i64,
    /// The last output in the agent's terminal, if known.
    pub output_at: Option<i64>,
    /// The newest commit on the task branch, if known.
    pub commit_at: Option<i64>,
    /// The last store write for the task (its record or an event), if known.
    pub store_at: Option<i64>,
}

impl Activity {
    /// The latest sign of life; activity before the iteration started does not count for less
    /// than its start.
    pub fn last(&self) -> i64 {
        [self.output_at, self.commit_at, self.store_at].into_iter().flatten().fold(self.started_at, i64::max)
    }
}

/// What the activity means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// The watch is off.
    Off,
    /// Alive; look again at `recheck_at` (the last activity plus the window).
    Active {
        /// When a stall would first be possible.
        recheck_at: i64,
    },
    /// Nothing for at least the window.
    Stalled {
        /// Seconds since the last activity.
        idle_secs: i64,
        /// The item's reason: "no output, commit or closeout for N min".
        reason: String,
        /// Whether the policy ends the iteration.
        stop: bool,
    },
}

/// The verdict at `now`.
pub fn judge(settings: Settings, activity: &Activity, now: i64) -> Verdict {
    if settings.window_secs <= 0 {
        return Verdict::Off;
    }
    let last = activity.last();
    let recheck_at = last.saturating_add(settings.window_secs);
    if now < recheck_at {
        return Verdict::Active { recheck_at };
    }
    let idle_secs = now - last;
    Verdict::Stalled { idle_secs, reason: reason(idle_secs), stop: settings.policy == Policy::Stop }
}

/// "no output, commit or closeout for N min" (seconds below a minute, for short windows).
pub fn reason(idle_secs: i64) -> String {
    let span = if idle_secs < 60 { format!("{idle_secs} s") } else { format!("{} min", idle_secs / 60) };
    format!("no output, commit or closeout for {span}")
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(window_secs: i64, policy: Policy, activity: Activity, now: i64, want: Expect) {
        let verdict = judge(Settings { window_secs, policy }, &activity, now);
        want.assert_eq(&format!("{verdict:?}"));
    }

    const START: Activity = Activity { started_at: 1000, output_at: None, commit_at: None, store_at: None };

    #[test]
    fn verdicts() {
        check(0, Policy::Stop, START, 99_999, expect!["Off"]);
        check(1800, Policy::Warn, START, 1000, expect!["Active { recheck_at: 2800 }"]);
        check(1800, Policy::Warn, START, 2799, expect!["Active { recheck_at: 2800 }"]);
        check(
            1800,
            Policy::Warn,
            START,
            2800,
            expect![[
                r#"Stalled { idle_secs: 1800, reason: "no output, commit or closeout for 30 min", stop: false }"#
            ]],
        );
        check(
            5,
            Policy::Stop,
            START,
            1007,
            expect![[r#"Stalled { idle_secs: 7, reason: "no output, commit or closeout for 7 s", stop: true }"#]],
        );
        // Any kind of activity re-arms the watch from its own time.
        let output = Activity { output_at: Some(2500), ..START };
        check(1800, Policy::Stop, output, 2900, expect!["Active { recheck_at: 4300 }"]);
        let commit = Activity { commit_at: Some(2600), ..START };
        check(1800, Policy::Stop, commit, 2900, expect!["Active { recheck_at: 4400 }"]);
        let store = Activity { store_at: Some(2700), ..START };
        check(1800, Policy::Stop, store, 2900, expect!["Active { recheck_at: 4500 }"]);
        // A commit older than the iteration (the base) counts from the iteration's start.
        let old = Activity { commit_at: Some(10), ..START };
        check(60, Policy::Warn, old, 1030, expect!["Active { recheck_at: 1060 }"]);
    }

    #[test]
    fn policies_parse() {
        assert_eq!((Policy::parse("warn"), Policy::parse(" STOP ")), (Some(Policy::Warn), Some(Policy::Stop)));
        assert_eq!(Policy::parse("kill"), None);
    }
}
