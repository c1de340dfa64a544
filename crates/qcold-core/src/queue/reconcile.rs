//! Reconciliation: from the evidence about an item — its task record, its agent, whether a
//! worker is launching it — to its effective status and the one action to take.
//!
//! Evidence is typed (statuses and exit codes), never screen text or message strings, and the
//! function is idempotent: applying its verdict and asking again yields no further action.

use serde::{Deserialize, Serialize};

use super::ItemStatus;
use crate::TaskStatus;

/// What is known about an item's agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "agent", rename_all = "kebab-case")]
pub enum AgentEvidence {
    /// No agent was started for the current attempt.
    None,
    /// The agent's wrapper is alive.
    Alive,
    /// The agent ended with this exit code.
    Exited {
        /// Its exit code.
        code: i32,
    },
    /// The agent's processes are gone without a recorded exit.
    Vanished,
}

/// Everything reconciliation looks at for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Evidence {
    /// The item's stored status.
    pub item: ItemStatus,
    /// The status of the item's task record, if the agent has opened it.
    pub task: Option<TaskStatus>,
    /// The item's agent.
    pub agent: AgentEvidence,
    /// A worker holds the item's lease and is starting it.
    pub launching: bool,
}

/// What to do about an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Nothing; the stored status is right.
    None,
    /// Store the effective status (no budget is involved).
    SetStatus,
    /// The task failed semantically: start a recovery iteration (semantic budget).
    Recover {
        /// Why, for the attempt ledger and the next packet.
        failure: String,
    },
    /// The executor never got the task going: launch again (launch-retry budget).
    Relaunch {
        /// Why.
        failure: String,
    },
}

/// The effective status of an item and the action that gets it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Verdict {
    /// The status the item should have.
    pub status: ItemStatus,
    /// What to do.
    pub action: Action,
}

fn set(item: ItemStatus, status: ItemStatus) -> Verdict {
    Verdict { status, action: if item == status { Action::None } else { Action::SetStatus } }
}

fn ended(agent: AgentEvidence) -> Option<String> {
    match agent {
        AgentEvidence::Exited { code } => Some(format!("the agent exited with code {code}")),
        AgentEvidence::Vanished => Some("the agent's processes vanished".to_owned()),
        AgentEvidence::None | AgentEvidence::Alive => None,
    }
}

/// The verdict for one item.
pub fn reconcile(e: &Evidence) -> Verdict {
    use ItemStatus as I;
    if e.item.is_terminal() {
        return Verdict { status: e.item, action: Action::None };
    }
    // Stopped and paused items wait for the operator unless their task moved on by itself.
    let held = matches!(e.item, I::Stopped | I::Paused);
    match e.task {
        Some(TaskStatus::ClosedSuccess) => set(e.item, I::Success),
        Some(TaskStatus::ClosedBlocked) => set(e.item, I::Blocked),
        Some(TaskStatus::Paused) => set(e.item, I::Paused),
        Some(status @ (TaskStatus::ClosedFailed | TaskStatus::FailedCloseout)) => {
            if status == TaskStatus::FailedCloseout && e.agent == AgentEvidence::Alive {
                // The agent is still there and may repair and close out again.
                return set(e.item, I::Running);
            }
            let failure = match status {
                TaskStatus::FailedCloseout => "the task's closeout failed".to_owned(),
                _ => "the task closed as failed".to_owned(),
            };
            Verdict { status: I::Pending, action: Action::Recover { failure } }
        }
        Some(TaskStatus::Open) => match (e.agent, e.launching) {
            (AgentEvidence::Alive, _) => set(e.item, if held { e.item } else { I::Running }),
            (AgentEvidence::None, true) => set(e.item, I::Starting),
            _ if held => set(e.item, e.item),
            (agent, _) => {
                let failure = ended(agent).map_or_else(
                    || "the task is open but has no agent".to_owned(),
                    |why| format!("{why} before closing out the task"),
                );
                Verdict { status: I::Pending, action: Action::Recover { failure } }
            }
        },
        None => match (e.agent, e.launching) {
            (AgentEvidence::Alive, _) => set(e.item, if held { e.item } else { I::Starting }),
            (AgentEvidence::None, true) => set(e.item, I::Starting),
            (AgentEvidence::None, false) => set(e.item, e.item),
            _ if held => set(e.item, e.item),
            (agent, _) => {
                let why = ended(agent).unwrap_or_default();
                Verdict {
                    status: I::Waiting,
                    action: Action::Relaunch { failure: format!("{why} before opening its task") },
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(item: ItemStatus, task: Option<TaskStatus>, agent: AgentEvidence, launching: bool) -> String {
        let v = reconcile(&Evidence { item, task, agent, launching });
        let action = match v.action {
            Action::None => "none".to_owned(),
            Action::SetStatus => "set".to_owned(),
            Action::Recover { failure } => format!("recover: {failure}"),
            Action::Relaunch { failure } => format!("relaunch: {failure}"),
        };
        format!("{} {action}", v.status)
    }

    #[test]
    fn table() {
        use AgentEvidence::{Alive, Exited, None as NoAgent, Vanished};
        use ItemStatus::*;
        use TaskStatus as T;
        let cases: &[(ItemStatus, Option<TaskStatus>, AgentEvidence, bool, &str)] = &[
            (Running, Some(T::ClosedSuccess), Exited { code: 0 }, false, "success set"),
            (Success, Some(T::ClosedFailed), NoAgent, false, "success none"),
            (Running, Some(T::ClosedBlocked), Exited { code: 10 }, false, "blocked set"),
            (Running, Some(T::Paused), Alive, false, "paused set"),
            (Running, Some(T::ClosedFailed), Exited { code: 11 }, false, "pending recover: the task closed as failed"),
            (
                Running,
                Some(T::FailedCloseout),
                Exited { code: 12 },
                false,
                "pending recover: the task's closeout failed",
            ),
            (Running, Some(T::FailedCloseout), Alive, false, "running none"),
            (Starting, Some(T::Open), Alive, false, "running set"),
            (Running, Some(T::Open), Alive, false, "running none"),
            (
                Running,
                Some(T::Open),
                Exited { code: 0 },
                false,
                "pending recover: the agent exited with code 0 before closing out the task",
            ),
            (
                Running,
                Some(T::Open),
                Vanished,
                false,
                "pending recover: the agent's processes vanished before closing out the task",
            ),
            (Running, Some(T::Open), NoAgent, false, "pending recover: the task is open but has no agent"),
            (Admitted, Some(T::Open), NoAgent, true, "starting set"),
            (Admitted, None, NoAgent, true, "starting set"),
            (Starting, None, Alive, false, "starting none"),
            (Pending, None, NoAgent, false, "pending none"),
            (
                Starting,
                None,
                Exited { code: 127 },
                false,
                "waiting relaunch: the agent exited with code 127 before opening its task",
            ),
            (Stopped, Some(T::Open), Exited { code: 143 }, false, "stopped none"),
            (Stopped, None, Vanished, false, "stopped none"),
            (Stopped, Some(T::ClosedSuccess), NoAgent, false, "success set"),
        ];
        for (item, task, agent, launching, want) in cases {
            assert_eq!(check(*item, *task, *agent, *launching), *want, "{item} {task:?} {agent:?} {launching}");
        }
    }

    #[test]
    fn applying_a_verdict_is_idempotent() {
        use AgentEvidence::*;
        use ItemStatus::*;
        let agents = [None, Alive, Exited { code: 0 }, Exited { code: 1 }, Vanished];
        let tasks = [
            Option::None,
            Some(TaskStatus::Open),
            Some(TaskStatus::Paused),
            Some(TaskStatus::FailedCloseout),
            Some(TaskStatus::ClosedFailed),
            Some(TaskStatus::ClosedSuccess),
            Some(TaskStatus::ClosedBlocked),
        ];
        for item in [Pending, Admitted, Starting, Running, Waiting, Stopped, Paused] {
            for task in tasks {
                for agent in agents {
                    for launching in [false, true] {
                        let first = reconcile(&Evidence { item, task, agent, launching });
                        if first.action == Action::SetStatus {
                            let second = reconcile(&Evidence { item: first.status, task, agent, launching });
                            assert_eq!(
                                second.action,
                                Action::None,
                                "{item} {task:?} {agent:?} {launching} -> {first:?} -> {second:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}
