//! The launch rules as tables: every combination of evidence and the step it leads to, so each
//! crash window's rule reads in one place.

use expect_test::{Expect, expect};

use super::*;

fn task_name(t: TaskTrace) -> String {
    match t {
        TaskTrace::Unrecorded => "unrecorded".into(),
        TaskTrace::Open => "open".into(),
        TaskTrace::MovedOn { status } => format!("moved-on:{status}"),
        TaskTrace::Missing => "missing".into(),
    }
}

fn step_name(s: &Step) -> String {
    match s {
        Step::Abandon { reason } => format!("abandon ({reason})"),
        other => serde_json::to_value(other).unwrap()["step"].as_str().unwrap().to_owned(),
    }
}

/// Renders `next_step` for every evidence with the given row flag, one line each.
fn table(row: bool) -> String {
    let tasks = [
        TaskTrace::Unrecorded,
        TaskTrace::Open,
        TaskTrace::MovedOn { status: TaskStatus::ClosedSuccess },
        TaskTrace::MovedOn { status: TaskStatus::FailedCloseout },
        TaskTrace::Missing,
    ];
    let agents = [AgentTrace::None, AgentTrace::Recorded, AgentTrace::Session, AgentTrace::Exited, AgentTrace::Stale];
    let mut out = String::new();
    for task in tasks {
        for packet in [false, true] {
            for agent in agents {
                let e = LaunchEvidence { row, task, packet, agent };
                let agent_name = serde_json::to_value(agent).unwrap().as_str().unwrap().to_owned();
                out.push_str(&format!(
                    "{:<24} packet={:<5} agent={:<8} -> {}\n",
                    task_name(task),
                    packet,
                    agent_name,
                    step_name(&next_step(&e))
                ));
            }
        }
    }
    out
}

fn check(row: bool, expect: Expect) {
    expect.assert_eq(&table(row));
}

#[test]
fn without_a_row_every_launch_begins_with_one() {
    // Nothing of an iteration exists before its row, whatever older traces say.
    let lines = table(false);
    assert!(lines.lines().all(|l| l.ends_with("-> begin-row")), "{lines}");
}

#[test]
fn each_crash_window_resumes_at_its_first_unconfirmed_step() {
    check(
        true,
        expect![[r#"
            unrecorded               packet=false agent=none     -> open-task
            unrecorded               packet=false agent=recorded -> judge
            unrecorded               packet=false agent=session  -> adopt-agent
            unrecorded               packet=false agent=exited   -> adopt-agent
            unrecorded               packet=false agent=stale    -> clear-stale-exit
            unrecorded               packet=true  agent=none     -> open-task
            unrecorded               packet=true  agent=recorded -> judge
            unrecorded               packet=true  agent=session  -> adopt-agent
            unrecorded               packet=true  agent=exited   -> adopt-agent
            unrecorded               packet=true  agent=stale    -> clear-stale-exit
            open                     packet=false agent=none     -> write-packet
            open                     packet=false agent=recorded -> run
            open                     packet=false agent=session  -> adopt-agent
            open                     packet=false agent=exited   -> adopt-agent
            open                     packet=false agent=stale    -> clear-stale-exit
            open                     packet=true  agent=none     -> start-agent
            open                     packet=true  agent=recorded -> run
            open                     packet=true  agent=session  -> adopt-agent
            open                     packet=true  agent=exited   -> adopt-agent
            open                     packet=true  agent=stale    -> clear-stale-exit
            moved-on:closed:success  packet=false agent=none     -> judge
            moved-on:closed:success  packet=false agent=recorded -> judge
            moved-on:closed:success  packet=false agent=session  -> adopt-agent
            moved-on:closed:success  packet=false agent=exited   -> adopt-agent
            moved-on:closed:success  packet=false agent=stale    -> clear-stale-exit
            moved-on:closed:success  packet=true  agent=none     -> judge
            moved-on:closed:success  packet=true  agent=recorded -> judge
            moved-on:closed:success  packet=true  agent=session  -> adopt-agent
            moved-on:closed:success  packet=true  agent=exited   -> adopt-agent
            moved-on:closed:success  packet=true  agent=stale    -> clear-stale-exit
            moved-on:failed-closeout packet=false agent=none     -> judge
            moved-on:failed-closeout packet=false agent=recorded -> judge
            moved-on:failed-closeout packet=false agent=session  -> adopt-agent
            moved-on:failed-closeout packet=false agent=exited   -> adopt-agent
            moved-on:failed-closeout packet=false agent=stale    -> clear-stale-exit
            moved-on:failed-closeout packet=true  agent=none     -> judge
            moved-on:failed-closeout packet=true  agent=recorded -> judge
            moved-on:failed-closeout packet=true  agent=session  -> adopt-agent
            moved-on:failed-closeout packet=true  agent=exited   -> adopt-agent
            moved-on:failed-closeout packet=true  agent=stale    -> clear-stale-exit
            missing                  packet=false agent=none     -> abandon (its task record or worktree disappeared before its agent started)
            missing                  packet=false agent=recorded -> judge
            missing                  packet=false agent=session  -> adopt-agent
            missing                  packet=false agent=exited   -> adopt-agent
            missing                  packet=false agent=stale    -> clear-stale-exit
            missing                  packet=true  agent=none     -> abandon (its task record or worktree disappeared before its agent started)
            missing                  packet=true  agent=recorded -> judge
            missing                  packet=true  agent=session  -> adopt-agent
            missing                  packet=true  agent=exited   -> adopt-agent
            missing                  packet=true  agent=stale    -> clear-stale-exit
        "#]],
    );
}

#[test]
fn re_driving_converges_in_a_bounded_number_of_steps() {
    // Apply each step's effect to the evidence as the daemon does (`after`); every start ends in a final
    // step within six steps, and no path starts an agent where one exists.
    let tasks = [TaskTrace::Unrecorded, TaskTrace::Open, TaskTrace::MovedOn { status: TaskStatus::ClosedSuccess }];
    let agents = [AgentTrace::None, AgentTrace::Recorded, AgentTrace::Session, AgentTrace::Exited, AgentTrace::Stale];
    for row in [false, true] {
        for task in tasks {
            for agent in agents {
                for packet in [false, true] {
                    let mut e = LaunchEvidence { row, task, packet, agent };
                    let had_agent = matches!(agent, AgentTrace::Recorded | AgentTrace::Session | AgentTrace::Exited);
                    let mut steps = Vec::new();
                    loop {
                        let step = next_step(&e);
                        steps.push(step.clone());
                        assert!(steps.len() <= 6, "{e:?} does not converge: {steps:?}");
                        if step.is_final() {
                            break;
                        }
                        e = e.after(&step);
                    }
                    if had_agent && row {
                        assert!(!steps.contains(&Step::StartAgent), "{agent:?} would start a second agent: {steps:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn only_a_branch_without_work_is_removed() {
    let cases = [(false, false, Leftover::Remove), (true, false, Leftover::Keep), (false, true, Leftover::Keep)];
    for (own_commits, worktree_changes, want) in cases {
        assert_eq!(leftover(BranchTrace { own_commits, worktree_changes }), want, "{own_commits} {worktree_changes}");
    }
}
