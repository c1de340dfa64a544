//! The launch of one iteration as a recorded state machine.
//!
//! Starting an item's iteration takes several effects, each of which a crash can interrupt:
//! the ledger row, the task (branch, worktree and record), the packet, the agent (its tmux
//! session, then its record), and the item's `running` status. A launch never remembers where it
//! was: the worker gathers what each effect left behind ([`LaunchEvidence`]) and [`next_step`]
//! names the first effect not yet confirmed. Each effect is written so that it can be recognised
//! afterwards and repeated without harm, so a launch re-driven after a `kill -9` — at any point —
//! resumes where the dead one stopped and produces exactly one task, one agent start and one
//! ledger row for the iteration.
//!
//! The order of the effects is the order of their intents:
//!
//! 1. the **ledger row** comes first: it names the iteration's deterministic agent id and packet
//!    file before anything exists, so every later effect can be found again;
//! 2. the **task** is opened (or, when a dead launch opened it, adopted) and recorded on the row;
//! 3. the **packet** is written next to the row's other files;
//! 4. the **agent** is started under the row's id — but only after looking for that id's tmux
//!    session and exit file, which a launch killed before recording the agent leaves behind;
//! 5. the item is marked **running**.
//!
//! A task that moved on while no daemon watched (the agent closed it out) is not opened again:
//! the launch hands the item to reconciliation ([`Step::Judge`]).

use serde::{Deserialize, Serialize};

use crate::TaskStatus;

/// What is known about the task of the open ledger row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "task", rename_all = "kebab-case")]
pub enum TaskTrace {
    /// The row names no task yet.
    Unrecorded,
    /// The row's task is open and its worktree exists.
    Open,
    /// The row's task is no longer open: it closed, paused or failed its closeout while no
    /// daemon watched.
    MovedOn {
        /// Its status now.
        status: TaskStatus,
    },
    /// The row's task record or its worktree is gone.
    Missing,
}

/// What is known about the agent of the open ledger row (its id is the row's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AgentTrace {
    /// No record, no tmux session, no exit file: it was never started.
    None,
    /// The store has the agent's record.
    Recorded,
    /// The agent's tmux session exists but no record: a launch died between the two.
    Session,
    /// The agent's exit file was written after the row began, without a record or a session: it
    /// was started, and ended while no daemon watched.
    Exited,
    /// An exit file older than the row: left by an earlier agent that had the same id.
    Stale,
}

/// Everything the next launch step depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LaunchEvidence {
    /// The item has an open ledger row (an iteration begun and not finished).
    pub row: bool,
    /// The row's task.
    pub task: TaskTrace,
    /// The row's packet file exists.
    pub packet: bool,
    /// The row's agent.
    pub agent: AgentTrace,
}

/// The next effect of a launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Choose the agent command and write the ledger row with its agent id and packet path,
    /// together with the item's new iteration.
    BeginRow,
    /// Open the task (or adopt the one a dead launch opened, or resume a paused one) and record
    /// it on the row and the item.
    OpenTask,
    /// Write the packet.
    WritePacket,
    /// Remove an earlier agent's exit file, so the new agent is not judged finished at once.
    ClearStaleExit,
    /// Start the agent under the row's id.
    StartAgent,
    /// Record the agent a dead launch started (its session, or its exit file).
    AdoptAgent,
    /// Mark the item running: the launch is complete.
    Run,
    /// The task moved on while no daemon watched: mark the item running with what exists and
    /// let reconciliation decide from the task's status.
    Judge,
    /// The launch cannot go on: its task is gone. A launch failure.
    Abandon {
        /// Why.
        reason: String,
    },
}

impl Step {
    /// Whether the launch ends with this step.
    pub const fn is_final(&self) -> bool {
        matches!(self, Step::Run | Step::Judge | Step::Abandon { .. })
    }
}

impl LaunchEvidence {
    /// The evidence once `step`'s effect is confirmed: what a worker that just applied it knows
    /// without looking again. Final steps change nothing.
    #[must_use]
    pub fn after(self, step: &Step) -> Self {
        match step {
            Step::BeginRow => {
                LaunchEvidence { row: true, task: TaskTrace::Unrecorded, packet: false, agent: AgentTrace::None }
            }
            Step::OpenTask => LaunchEvidence { task: TaskTrace::Open, ..self },
            Step::WritePacket => LaunchEvidence { packet: true, ..self },
            Step::ClearStaleExit => LaunchEvidence { agent: AgentTrace::None, ..self },
            Step::StartAgent | Step::AdoptAgent => LaunchEvidence { agent: AgentTrace::Recorded, ..self },
            Step::Run | Step::Judge | Step::Abandon { .. } => self,
        }
    }
}

/// The first effect of the launch not yet confirmed by `e`.
///
/// An agent trace wins over the task: an agent that exists must be recorded before anything else
/// is decided, or a second one would be started under another row.
pub fn next_step(e: &LaunchEvidence) -> Step {
    if !e.row {
        return Step::BeginRow;
    }
    match e.agent {
        AgentTrace::Session | AgentTrace::Exited => return Step::AdoptAgent,
        AgentTrace::Recorded => return if e.task == TaskTrace::Open { Step::Run } else { Step::Judge },
        AgentTrace::Stale => return Step::ClearStaleExit,
        AgentTrace::None => {}
    }
    match e.task {
        TaskTrace::Unrecorded => Step::OpenTask,
        TaskTrace::MovedOn { .. } => Step::Judge,
        TaskTrace::Missing => {
            Step::Abandon { reason: "its task record or worktree disappeared before its agent started".to_owned() }
        }
        TaskTrace::Open if !e.packet => Step::WritePacket,
        TaskTrace::Open => Step::StartAgent,
    }
}

/// What a branch `task/<slug>` that no task record uses is to a new open of that slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BranchTrace {
    /// The branch has commits its base does not.
    pub own_commits: bool,
    /// Its worktree (if it has one) holds changes or files beyond Q-COLD's own `.task/`.
    pub worktree_changes: bool,
}

/// What to do with a branch left without a task record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Leftover {
    /// Nothing in it is work: it is the remains of a launch that died between creating the
    /// branch and storing the task. Remove it (worktree and branch) and open afresh.
    Remove,
    /// It holds work: refuse the open and name it; the operator decides.
    Keep,
}

/// Whether an unrecorded branch may be removed: only when removing it loses nothing.
pub const fn leftover(trace: BranchTrace) -> Leftover {
    if trace.own_commits || trace.worktree_changes { Leftover::Keep } else { Leftover::Remove }
}

#[cfg(test)]
mod tests;
