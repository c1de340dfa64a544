//! Reconciliation: from the evidence about an item — its task record, its agent, whether a
//! worker is launching it — to its effective status and the one action to take.
//!
//! Evidence is typed (statuses, exit codes, the classified closeout failure), never screen text
//! or message strings, and the function is idempotent: applying its verdict and asking again
//! yields no further action.
//!
//! A task in `failed-closeout` is judged in this order: while its agent is alive, the agent keeps
//! its chance to repair and close out again (the item stays `running`); once the agent ended, an
//! infrastructure failure of delivery ([`FailureKind::Infrastructure`]) is delivered again by the
//! scheduler (delivery-retry budget), and anything else is a failed iteration (semantic budget).

use serde::{Deserialize, Serialize};

use super::ItemStatus;
use crate::TaskStatus;
use crate::task::CloseoutPhase;
use crate::task::delivery::{CloseoutFailure, FailureKind};

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

/// How the task's last success closeout failed, while it is `failed-closeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CloseoutEvidence {
    /// The phase that failed.
    pub phase: CloseoutPhase,
    /// Whose fault, and the error's first line; `None` for a record written before closeouts
    /// were classified (judged as the task's own).
    pub failure: Option<CloseoutFailure>,
}

/// Everything reconciliation looks at for one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The task's failed closeout, while it is `failed-closeout` with a failed phase recorded.
    #[serde(default)]
    pub closeout: Option<CloseoutEvidence>,
    /// The task is open, its agent ended, and its branch's own commits are already in the base
    /// branch: a closeout delivered it and was stopped before recording `closed:success`.
    #[serde(default)]
    pub delivered: bool,
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
    /// The task's work is committed but its delivery failed for the infrastructure: run its
    /// closeout again, without a new agent (delivery-retry budget).
    Redeliver {
        /// Why, naming the phase and the error's first line.
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
        // The task closed but its agent still runs (finishing its turn after the closeout):
        // the iteration ends when the agent does, so its worktree (left for the daemon to
        // remove) is never pulled from under it and its terminal gets its last output.
        Some(TaskStatus::ClosedSuccess | TaskStatus::ClosedBlocked | TaskStatus::ClosedFailed)
            if e.agent == AgentEvidence::Alive && matches!(e.item, I::Running | I::Starting) =>
        {
            set(e.item, I::Running)
        }
        Some(TaskStatus::ClosedSuccess) => set(e.item, I::Success),
        Some(TaskStatus::ClosedBlocked) => set(e.item, I::Blocked),
        Some(TaskStatus::Paused) => set(e.item, I::Paused),
        Some(TaskStatus::ClosedFailed) => {
            Verdict { status: I::Waiting, action: Action::Recover { failure: "the task closed as failed".to_owned() } }
        }
        Some(TaskStatus::FailedCloseout) => {
            if e.agent == AgentEvidence::Alive {
                // The agent is still there and may repair and close out again.
                return set(e.item, I::Running);
            }
            failed_closeout(e.closeout.as_ref())
        }
        Some(TaskStatus::Open) => match (e.agent, e.launching) {
            (AgentEvidence::Alive, _) => set(e.item, if held { e.item } else { I::Running }),
            (AgentEvidence::None, true) => set(e.item, I::Starting),
            _ if held => set(e.item, e.item),
            // The work is delivered; only the record is missing. Closing out again is idempotent
            // (every phase finds its work done) and costs no iteration.
            (_, _) if e.delivered => Verdict {
                status: I::Waiting,
                action: Action::Redeliver { failure: "its closeout stopped after delivering the work".to_owned() },
            },
            (agent, _) => {
                let failure = ended(agent).map_or_else(
                    || "the task is open but has no agent".to_owned(),
                    |why| format!("{why} before closing out the task"),
                );
                Verdict { status: I::Waiting, action: Action::Recover { failure } }
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

/// A failed closeout whose agent ended: deliver again when the infrastructure failed it,
/// otherwise a failed iteration. The failure names the phase and the error's first line.
fn failed_closeout(closeout: Option<&CloseoutEvidence>) -> Verdict {
    let Some(CloseoutEvidence { phase, failure }) = closeout else {
        let failure = "the task's closeout failed".to_owned();
        return Verdict { status: ItemStatus::Waiting, action: Action::Recover { failure } };
    };
    match failure {
        Some(CloseoutFailure { kind: FailureKind::Infrastructure, first_line }) => Verdict {
            status: ItemStatus::Waiting,
            action: Action::Redeliver { failure: format!("the delivery failed at {phase}: {first_line}") },
        },
        Some(CloseoutFailure { kind: FailureKind::Task, first_line }) => Verdict {
            status: ItemStatus::Waiting,
            action: Action::Recover { failure: format!("the task's closeout failed at {phase}: {first_line}") },
        },
        None => Verdict {
            status: ItemStatus::Waiting,
            action: Action::Recover { failure: format!("the task's closeout failed at {phase}") },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(v: Verdict) -> String {
        let action = match v.action {
            Action::None => "none".to_owned(),
            Action::SetStatus => "set".to_owned(),
            Action::Recover { failure } => format!("recover: {failure}"),
            Action::Relaunch { failure } => format!("relaunch: {failure}"),
            Action::Redeliver { failure } => format!("redeliver: {failure}"),
        };
        format!("{} {action}", v.status)
    }

    fn check(item: ItemStatus, task: Option<TaskStatus>, agent: AgentEvidence, launching: bool) -> String {
        verdict(reconcile(&Evidence { item, task, agent, launching, closeout: None, delivered: false }))
    }

    #[test]
    fn a_closeout_stopped_after_delivering_is_finished_not_repeated() {
        let e = |agent, delivered| Evidence {
            item: ItemStatus::Running,
            task: Some(TaskStatus::Open),
            agent,
            launching: false,
            closeout: None,
            delivered,
        };
        let exited = AgentEvidence::Exited { code: 137 };
        assert_eq!(
            verdict(reconcile(&e(exited, true))),
            "waiting redeliver: its closeout stopped after delivering the work"
        );
        assert_eq!(verdict(reconcile(&e(AgentEvidence::Alive, true))), "running none", "a live agent keeps its turn");
        assert!(verdict(reconcile(&e(exited, false))).starts_with("waiting recover:"), "nothing delivered: a failure");
    }

    #[test]
    fn table() {
        use AgentEvidence::{Alive, Exited, None as NoAgent, Vanished};
        use ItemStatus::*;
        use TaskStatus as T;
        let cases: &[(ItemStatus, Option<TaskStatus>, AgentEvidence, bool, &str)] = &[
            (Running, Some(T::ClosedSuccess), Exited { code: 0 }, false, "success set"),
            (Running, Some(T::ClosedSuccess), Alive, false, "running none"),
            (Starting, Some(T::ClosedBlocked), Alive, false, "running set"),
            (Running, Some(T::ClosedFailed), Alive, false, "running none"),
            (Success, Some(T::ClosedFailed), NoAgent, false, "success none"),
            (Running, Some(T::ClosedBlocked), Exited { code: 10 }, false, "blocked set"),
            (Running, Some(T::Paused), Alive, false, "paused set"),
            (Running, Some(T::ClosedFailed), Exited { code: 11 }, false, "waiting recover: the task closed as failed"),
            (
                Running,
                Some(T::FailedCloseout),
                Exited { code: 12 },
                false,
                "waiting recover: the task's closeout failed",
            ),
            (Running, Some(T::FailedCloseout), Alive, false, "running none"),
            (Starting, Some(T::Open), Alive, false, "running set"),
            (Running, Some(T::Open), Alive, false, "running none"),
            (
                Running,
                Some(T::Open),
                Exited { code: 0 },
                false,
                "waiting recover: the agent exited with code 0 before closing out the task",
            ),
            (
                Running,
                Some(T::Open),
                Vanished,
                false,
                "waiting recover: the agent's processes vanished before closing out the task",
            ),
            (Running, Some(T::Open), NoAgent, false, "waiting recover: the task is open but has no agent"),
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

    /// A failed closeout by whose fault it is: the agent first, then delivery or recovery.
    #[test]
    fn failed_closeouts_by_their_classification() {
        use AgentEvidence::{Alive, Exited, Vanished};
        use CloseoutPhase::{FastForward, Push, Rebase, Verify};
        use FailureKind::{Infrastructure as Infra, Task};
        let lock = "error: Unable to create '/w/.git/index.lock': File exists.";
        let cases: &[(AgentEvidence, CloseoutPhase, Option<FailureKind>, &str)] = &[
            (Alive, FastForward, Some(Infra), "running none"),
            (Alive, Verify, Some(Task), "running none"),
            (
                Exited { code: 12 },
                FastForward,
                Some(Infra),
                "waiting redeliver: the delivery failed at fast-forward: error: Unable to create '/w/.git/index.lock': File exists.",
            ),
            (
                Vanished,
                Push,
                Some(Infra),
                "waiting redeliver: the delivery failed at push: error: Unable to create '/w/.git/index.lock': File exists.",
            ),
            (
                Exited { code: 12 },
                Rebase,
                Some(Task),
                "waiting recover: the task's closeout failed at rebase: error: Unable to create '/w/.git/index.lock': File exists.",
            ),
            (Exited { code: 12 }, Verify, None, "waiting recover: the task's closeout failed at verify"),
        ];
        for (agent, phase, kind, want) in cases {
            let closeout = CloseoutEvidence {
                phase: *phase,
                failure: kind.map(|kind| CloseoutFailure { kind, first_line: lock.to_owned() }),
            };
            let e = Evidence {
                item: ItemStatus::Running,
                task: Some(TaskStatus::FailedCloseout),
                agent: *agent,
                launching: false,
                closeout: Some(closeout),
                delivered: false,
            };
            assert_eq!(verdict(reconcile(&e)), *want, "{agent:?} {phase} {kind:?}");
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
                        let first = reconcile(&Evidence {
                            item,
                            task,
                            agent,
                            launching,
                            closeout: Option::None,
                            delivered: false,
                        });
                        if first.action == Action::SetStatus {
                            let again = Evidence {
                                item: first.status,
                                task,
                                agent,
                                launching,
                                closeout: Option::None,
                                delivered: false,
                            };
                            let second = reconcile(&again);
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
