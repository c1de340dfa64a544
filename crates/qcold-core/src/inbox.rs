//! The inbox: everything that needs the operator, fleet-wide, decided from the state a client
//! already holds ([`StateResponse`], kept current by [`StateResponse::apply`]).
//!
//! [`needs_you`] is pure: the dashboard runs it on every state change, the CLI or daemon may run
//! it on a fresh `GET /api/state`, and all three agree. It reads statuses, typed evidence and
//! numbers — never a `reason` text, and never screen text; reasons are only copied into
//! [`Attention::detail`] for people.
//!
//! The rules, one entry per thing to act on:
//!
//! - **Queue items** `failed` or `blocked`, with their reason; `continue` resumes them. A
//!   `pending` item is never an entry: when it is held back by a failed dependency, that
//!   dependency is the entry.
//! - **Failed closeouts** (`failed-closeout` tasks) with the phase and failure as recorded, unless
//!   a queue item in the view owns the task: then the scheduler is still on it (delivery retry,
//!   recovery) or the item's own entry carries it.
//! - **Agents** that ended abnormally while their work had not: vanished, or exited non-zero. A
//!   queue agent counts only while its item is in flight (or paused) and still names it — once
//!   the scheduler moved the item on, the item speaks for it. Any other agent counts while the
//!   unfinished task whose worktree it ran in is still open; an agent with no known work counts
//!   only when it vanished (an operator's shell exiting non-zero is no news). Pruning the agent
//!   (`qcold agent prune`) dismisses it.
//! - **The node**: a snapshot older than [`NODE_STALE_AFTER_SECS`] at `now` (the daemon or the
//!   event stream is gone), any block `stale` or `unavailable`, a `partial` block of Q-COLD's own
//!   (`managed`, `queue`: the store could not be read) — a `partial` host block (a counter the
//!   kernel does not offer) is no news — and a state-dir disk with less than
//!   [`DISK_LOW_PERCENT`] % or [`DISK_LOW_BYTES`] available.
//!
//! Not decided here, for want of typed evidence in the state: a **stalled** agent (the stall
//! watch writes only the item's reason text, and an [`AgentView`] has no output time) and an
//! admission that **can never fit** (admission says so only in the waiting reason). Both need a
//! typed field before the inbox can show them.
//!
//! Order: most urgent kind first ([`AttentionKind`]'s variant order is the ranking), then the
//! longest-standing (`since` ascending, unknown last), then [`Attention::key`].

use serde::{Deserialize, Serialize};

use crate::agent::{AgentState, AgentView};
use crate::api::StateResponse;
use crate::queue::wire::Run;
use crate::queue::{ItemRecord, ItemStatus, WaitingFor};
use crate::snapshot::{BlockStatus, Issue};
use crate::task::TaskRecord;
use crate::units::format_bytes;
use crate::{AgentId, ItemId, NodeSnapshot, RunId, TaskStatus};

/// A node snapshot older than this at `now` (seconds) makes the heartbeat `stale`: no sample
/// reached the client for that long (the daemon samples every 5 s by default).
pub const NODE_STALE_AFTER_SECS: i64 = 120;

/// The state-dir disk is low below this many bytes available…
pub const DISK_LOW_BYTES: u64 = 1024 * 1024 * 1024;

/// …or below this percentage of its size.
pub const DISK_LOW_PERCENT: u64 = 5;

/// What kind of thing needs the operator. The order of the variants is the urgency ranking:
/// what stops all work first, then failed work, then agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AttentionKind {
    /// The state-dir disk is nearly full: nothing more can be stored.
    DiskLow,
    /// A node snapshot block is stale or unavailable (or Q-COLD's own block is partial).
    Node,
    /// A queue item waits for admission that can never fit this host as configured; the reason
    /// names the setting to change.
    NeverFits,
    /// A queue item failed: a budget is spent.
    ItemFailed,
    /// A task's success closeout stopped in a phase; its worktree is kept.
    CloseoutFailed,
    /// A queue item's task closed as blocked.
    ItemBlocked,
    /// A queue item's agent runs but has shown no output, commit or store write for the stall
    /// window (`ItemRecord::stalled_since`): stuck, or waiting for input nobody gives.
    AgentStalled,
    /// An agent exited non-zero while its work had not ended.
    AgentFailed,
    /// An agent's processes are gone without an exit code.
    AgentVanished,
}

impl AttentionKind {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            AttentionKind::DiskLow => "disk-low",
            AttentionKind::Node => "node",
            AttentionKind::NeverFits => "never-fits",
            AttentionKind::ItemFailed => "item-failed",
            AttentionKind::CloseoutFailed => "closeout-failed",
            AttentionKind::ItemBlocked => "item-blocked",
            AttentionKind::AgentStalled => "agent-stalled",
            AttentionKind::AgentFailed => "agent-failed",
            AttentionKind::AgentVanished => "agent-vanished",
        }
    }
}

/// What an entry is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "subject", rename_all = "kebab-case")]
pub enum Subject {
    /// A queue item of a run.
    Item {
        /// The run.
        run_id: RunId,
        /// The item.
        item_id: ItemId,
    },
    /// A task record.
    Task {
        /// The task id, `<repo>/<NNN>-<slug>`.
        task_id: String,
    },
    /// A managed agent.
    Agent {
        /// The agent.
        agent_id: AgentId,
    },
    /// A block (or sub-block) of the node snapshot: `heartbeat`, `resources.disk`, ….
    Node {
        /// The block's name.
        block: String,
    },
}

/// Something the operator can do about an entry; the dashboard turns each into a button. Writes
/// map to one HTTP route each ([`Action::route`]); the rest open a page.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// `POST /api/queue/continue {run_id}`: failed and blocked items start again with fresh budgets.
    ContinueRun {
        /// The run.
        run_id: RunId,
    },
    /// `POST /api/queue/clear {run_id}`: forgets the run (tasks and worktrees stay). Offered only
    /// when nothing of the run is in flight, as the daemon requires.
    ClearRun {
        /// The run.
        run_id: RunId,
    },
    /// `POST /api/tasks/{task_id}/clear {reason}`: snapshots and closes the task as failed.
    ClearTask {
        /// The task.
        task_id: String,
    },
    /// Opens the agent's live terminal (`GET /api/agents/{agent_id}/terminal`); offered only
    /// for a running agent.
    OpenTerminal {
        /// The agent.
        agent_id: AgentId,
    },
    /// Opens the task's page (`GET /api/tasks/{task_id}`).
    OpenTask {
        /// The task.
        task_id: String,
    },
    /// Opens the run's page in the queue view.
    OpenRun {
        /// The run.
        run_id: RunId,
    },
}

impl Action {
    /// The route of a write (`POST`), or `None` for an action that only opens a page. Task ids
    /// are URL-safe and go into the path as they are.
    pub fn route(&self) -> Option<String> {
        match self {
            Action::ContinueRun { .. } => Some("/api/queue/continue".to_owned()),
            Action::ClearRun { .. } => Some("/api/queue/clear".to_owned()),
            Action::ClearTask { task_id } => Some(format!("/api/tasks/{task_id}/clear")),
            Action::OpenTerminal { .. } | Action::OpenTask { .. } | Action::OpenRun { .. } => None,
        }
    }
}

/// One thing that needs the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Attention {
    /// What kind of thing.
    pub kind: AttentionKind,
    /// One line: what happened to what.
    pub title: String,
    /// Why, as recorded (a reason, a failure line, a block's issues); may be empty.
    pub detail: String,
    /// Since when, Unix seconds, when known.
    #[serde(default)]
    pub since: Option<i64>,
    /// What it is about.
    pub subject: Subject,
    /// What can be done, most useful first.
    pub actions: Vec<Action>,
}

impl Attention {
    /// A key unique within one inbox and stable across updates of the same thing: the kind and
    /// the subject, e.g. `item-failed:run-1/a` — for keyed lists.
    pub fn key(&self) -> String {
        let subject = match &self.subject {
            Subject::Item { run_id, item_id } => format!("{run_id}/{item_id}"),
            Subject::Task { task_id } => task_id.clone(),
            Subject::Agent { agent_id } => agent_id.to_string(),
            Subject::Node { block } => block.clone(),
        };
        format!("{}:{subject}", self.kind.as_str())
    }
}

/// Everything in `state` that needs the operator at `now` (Unix seconds), most urgent first, in
/// a deterministic order; empty for a healthy state. See the module docs for the rules.
pub fn needs_you(state: &StateResponse, now: i64) -> Vec<Attention> {
    let mut out = node(&state.node, now);
    for run in &state.queue.runs {
        out.extend(run.items.iter().filter_map(|item| item_entry(state, run, item)));
    }
    out.extend(state.tasks.iter().filter_map(|task| closeout_entry(state, task)));
    out.extend(state.agents.iter().filter_map(|agent| agent_entry(state, agent)));
    out.sort_by_cached_key(|a| (a.kind, a.since.is_none(), a.since, a.key()));
    out
}

/// The node's entries: its blocks as seen at `now`, and the disk.
fn node(snapshot: &NodeSnapshot, now: i64) -> Vec<Attention> {
    let snapshot = snapshot.clone().aged(now, NODE_STALE_AFTER_SECS);
    let blocks: [(&str, BlockStatus, &[Issue], bool); 5] = [
        ("heartbeat", snapshot.heartbeat.status, &snapshot.heartbeat.issues, false),
        ("managed", snapshot.managed.status, &snapshot.managed.issues, true),
        ("queue", snapshot.queue.status, &snapshot.queue.issues, true),
        ("resources", snapshot.resources.status, &snapshot.resources.issues, false),
        ("proxy", snapshot.proxy.status, &snapshot.proxy.issues, false),
    ];
    let mut out: Vec<Attention> = blocks
        .into_iter()
        .filter(|(block, status, _, own)| match status {
            BlockStatus::Fresh => false,
            BlockStatus::Partial => *own,
            // `managed` is stale while exited agents are still registered (the snapshot's word for
            // "prune me"): each agent that needs the operator is judged on its own below.
            BlockStatus::Stale if *block == "managed" => false,
            BlockStatus::Stale | BlockStatus::Unavailable => true,
        })
        .map(|(block, status, issues, _)| Attention {
            kind: AttentionKind::Node,
            title: format!("node: {block} is {}", status.as_str()),
            detail: issues.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join("; "),
            since: (block == "heartbeat" && status == BlockStatus::Stale).then_some(snapshot.heartbeat.sampled_at),
            subject: Subject::Node { block: block.to_owned() },
            actions: Vec::new(),
        })
        .collect();
    if let Some(disk) = &snapshot.resources.disk {
        let low = disk.available_bytes < DISK_LOW_BYTES
            || u128::from(disk.available_bytes) * 100 < u128::from(disk.total_bytes) * u128::from(DISK_LOW_PERCENT);
        if low && disk.total_bytes > 0 {
            out.push(Attention {
                kind: AttentionKind::DiskLow,
                title: format!("disk {} is nearly full", disk.mount_point),
                detail: format!(
                    "{} available of {}; free space there, or nothing more can be stored",
                    format_bytes(disk.available_bytes),
                    format_bytes(disk.total_bytes)
                ),
                since: None,
                subject: Subject::Node { block: "resources.disk".to_owned() },
                actions: Vec::new(),
            });
        }
    }
    out
}

/// A failed or blocked item, or one whose admission can never fit; nothing for any other.
fn item_entry(state: &StateResponse, run: &Run, item: &ItemRecord) -> Option<Attention> {
    let kind = match (item.status, item.waiting_for) {
        (ItemStatus::Failed, _) => AttentionKind::ItemFailed,
        (ItemStatus::Blocked, _) => AttentionKind::ItemBlocked,
        (ItemStatus::Waiting, Some(WaitingFor::NeverFits)) => AttentionKind::NeverFits,
        (ItemStatus::Running, _) if item.stalled_since.is_some() => AttentionKind::AgentStalled,
        _ => return None,
    };
    let place = format!("{}/{}", run.id, item.id);
    let (title, since, actions) = match kind {
        AttentionKind::AgentStalled => {
            let mut actions: Vec<Action> = item
                .agent_id
                .iter()
                .filter_map(|id| AgentId::new(id.clone()).ok())
                .map(|agent_id| Action::OpenTerminal { agent_id })
                .collect();
            actions.push(Action::OpenRun { run_id: run.id.clone() });
            actions.extend(item.task_id.iter().map(|id| Action::OpenTask { task_id: id.clone() }));
            (format!("{place}: its agent shows no sign of life ({})", run.repo), item.stalled_since, actions)
        }
        // Nothing the dashboard can do but show the run; the reason names the setting.
        AttentionKind::NeverFits => (
            format!("{place} can never start on this host ({})", run.repo),
            Some(item.updated_at),
            vec![Action::OpenRun { run_id: run.id.clone() }],
        ),
        _ => (
            format!("{place} {} ({})", item.status, run.repo),
            Some(item.updated_at),
            recovery_actions(state, run, item),
        ),
    };
    Some(Attention {
        kind,
        title,
        detail: item.reason.clone(),
        since,
        subject: Subject::Item { run_id: run.id.clone(), item_id: item.id.clone() },
        actions,
    })
}

/// What recovers a failed or blocked item: continue the run, clear it when nothing is in flight,
/// open it, and open (or clear, while unfinished) the item's latest task.
fn recovery_actions(state: &StateResponse, run: &Run, item: &ItemRecord) -> Vec<Action> {
    let mut actions = vec![Action::ContinueRun { run_id: run.id.clone() }];
    if !run.items.iter().any(|i| i.status.is_in_flight()) {
        actions.push(Action::ClearRun { run_id: run.id.clone() });
    }
    actions.push(Action::OpenRun { run_id: run.id.clone() });
    let task_id = item.task_id.clone().or_else(|| item.attempts.iter().rev().find_map(|a| a.task_id.clone()));
    if let Some(task_id) = task_id {
        let unfinished = state.tasks.iter().any(|t| t.id == task_id && !t.status.is_terminal());
        actions.push(Action::OpenTask { task_id: task_id.clone() });
        if unfinished {
            actions.push(Action::ClearTask { task_id });
        }
    }
    actions
}

/// Whether a queue item in the view owns the task (now or in an earlier iteration).
fn queue_owns_task(state: &StateResponse, task_id: &str) -> bool {
    state.queue.runs.iter().flat_map(|r| &r.items).any(|i| {
        i.task_id.as_deref() == Some(task_id) || i.attempts.iter().any(|a| a.task_id.as_deref() == Some(task_id))
    })
}

/// Whether `cwd` is the worktree `root` or inside it.
fn inside(cwd: &str, root: &str) -> bool {
    let root = root.trim_end_matches('/');
    cwd.strip_prefix(root).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The running agent working in a task's worktree, oldest first.
fn running_agent_in<'a>(state: &'a StateResponse, task: &TaskRecord) -> Option<&'a AgentView> {
    state.agents.iter().find(|a| a.state == AgentState::Running && inside(&a.agent.cwd, &task.worktree))
}

/// A failed closeout that no queue item speaks for.
fn closeout_entry(state: &StateResponse, task: &TaskRecord) -> Option<Attention> {
    if task.status != TaskStatus::FailedCloseout || queue_owns_task(state, &task.id) {
        return None;
    }
    let phase = task.failed_phase.map_or_else(|| "a phase".to_owned(), |p| p.as_str().to_owned());
    let detail = task
        .closeout_failure
        .as_ref()
        .map_or_else(String::new, |f| format!("{} failure: {}", f.kind.as_str(), f.first_line));
    let mut actions = Vec::new();
    if let Some(agent) = running_agent_in(state, task) {
        actions.push(Action::OpenTerminal { agent_id: agent.agent.id.clone() });
    }
    actions.push(Action::OpenTask { task_id: task.id.clone() });
    actions.push(Action::ClearTask { task_id: task.id.clone() });
    Some(Attention {
        kind: AttentionKind::CloseoutFailed,
        title: format!("closeout of {} failed in {phase}", task.id),
        detail,
        since: Some(task.updated_at),
        subject: Subject::Task { task_id: task.id.clone() },
        actions,
    })
}

/// An agent that ended abnormally while its work had not.
fn agent_entry(state: &StateResponse, view: &AgentView) -> Option<Attention> {
    let agent = &view.agent;
    let (kind, what) = match view.state {
        AgentState::Running | AgentState::Exited { code: 0 } => return None,
        AgentState::Exited { code } => (AttentionKind::AgentFailed, format!("exited with code {code}")),
        AgentState::Vanished => (AttentionKind::AgentVanished, "vanished".to_owned()),
    };
    let id = agent.id.as_str();
    let mut items = state.queue.runs.iter().flat_map(|r| r.items.iter().map(move |i| (r, i)));
    let by_queue = items.clone().any(|(_, i)| {
        i.agent_id.as_deref() == Some(id) || i.attempts.iter().any(|a| a.agent_id.as_deref() == Some(id))
    });
    let mut actions = Vec::new();
    let detail;
    if by_queue {
        let (run, item) = items.find(|(_, i)| {
            i.agent_id.as_deref() == Some(id) && (i.status.is_in_flight() || i.status == ItemStatus::Paused)
        })?;
        detail = format!("{}/{} is still {}: {}", run.id, item.id, item.status, item.reason);
        actions.push(Action::OpenRun { run_id: run.id.clone() });
        if let Some(task_id) = &item.task_id {
            actions.push(Action::OpenTask { task_id: task_id.clone() });
        }
    } else if let Some(task) = state.tasks.iter().find(|t| !t.status.is_terminal() && inside(&agent.cwd, &t.worktree)) {
        detail = format!("its task {} is still {}", task.id, task.status);
        actions.push(Action::OpenTask { task_id: task.id.clone() });
        actions.push(Action::ClearTask { task_id: task.id.clone() });
    } else if view.state == AgentState::Vanished {
        detail = format!("in {}; `qcold agent prune` forgets it", agent.cwd);
    } else {
        return None;
    }
    let name = agent.name.as_deref().map_or_else(String::new, |n| format!(" ({n})"));
    Some(Attention {
        kind,
        title: format!("agent {id}{name} {what}"),
        detail,
        since: Some(agent.exited_at.unwrap_or(agent.started_at)),
        subject: Subject::Agent { agent_id: agent.id.clone() },
        actions,
    })
}

#[cfg(test)]
pub(crate) mod tests;
