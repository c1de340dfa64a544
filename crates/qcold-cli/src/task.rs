//! `qcold task …`: the task flow.

use std::process::ExitCode;
use std::time::Duration;

use qcold_core::health::Action;
use qcold_core::task::Outcome;
use qcold_core::task::{TaskDetails, TaskRecord};
use qcold_server::store::Store;
use qcold_server::taskflow::{self, CloseoutRequest, OpenRequest, Opened, Progress};
use qcold_server::{Config, unix_now};

use crate::cli::TaskCommand;
use crate::output;

pub(crate) fn run(config: &Config, command: TaskCommand) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&config.state_dir, config.sqlite_busy_timeout)?;
    match command {
        TaskCommand::Open(args) => {
            let request = OpenRequest { repo: args.repo, slug: args.slug, profile: args.profile, prompt: args.prompt };
            // The CLI waits for a busy repository (another closeout delivering), saying for whom.
            let mut waiting = |who: &str| eprintln!("waiting for the repository lock, held by {who}");
            let wait = taskflow::LockWait::Wait(&mut waiting);
            let (verb, task) = match taskflow::open_with(config, &mut store, &request, wait, unix_now())? {
                Opened::Created(task) => ("opened", task),
                Opened::Resumed(task) => ("resumed", task),
            };
            output::line(format_args!("{verb} task {} on {} at {}", task.id, task.branch, task.worktree))?;
            output::line(format_args!("TASK_WORKTREE={}", task.worktree))?;
        }
        TaskCommand::Enter(key) => {
            let task = taskflow::find(&store, key.repo.as_ref(), &key.task)?;
            if task.status.is_terminal() || !std::path::Path::new(&task.worktree).is_dir() {
                anyhow::bail!("task {} is {} and has no worktree to enter", task.id, task.status);
            }
            output::line(taskflow::enter_snippet(&task).trim_end())?;
        }
        TaskCommand::List(args) => {
            let tasks = store.tasks(args.repo.as_ref(), args.status)?;
            if args.json {
                output::json(&tasks, false)?;
            } else if tasks.is_empty() {
                output::line("no tasks; `qcold task open <slug>` opens one")?;
            } else {
                let rows: Vec<Vec<String>> = tasks.iter().map(row).collect();
                output::table(&["ID", "STATUS", "BRANCH", "WORKTREE"], &rows)?;
            }
        }
        TaskCommand::Show(args) => {
            let task = taskflow::find(&store, args.key.repo.as_ref(), &args.key.task)?;
            let details =
                TaskDetails { events: store.task_events(&task.id)?, bundles: store.task_bundles(&task.id)?, task };
            if args.json {
                output::json(&details, true)?;
            } else {
                show(&details)?;
            }
        }
        TaskCommand::Closeout(args) => return closeout(config, &mut store, args),
        TaskCommand::Clear { key, reason } => {
            let mut task = taskflow::find(&store, key.repo.as_ref(), &key.task)?;
            let mut warnings = Vec::new();
            let closed = taskflow::clear(config, &mut store, &mut task, &reason, unix_now, &mut |p| {
                if let Progress::Warning(w) = p {
                    warnings.push(w);
                }
            })?;
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
            output::line(format_args!("cleared task {} ({})", closed.task.id, closed.task.status))?;
            if let Some(reference) = &closed.snapshot {
                output::line(format_args!("SNAPSHOT_REF={reference}"))?;
            }
            if let Some(bundle) = &closed.bundle {
                output::line(format_args!("BUNDLE_PATH={}", bundle.display()))?;
            }
        }
        TaskCommand::Snapshots { slug, repo } => {
            let repo = qcold_server::repos::resolve(&store, repo.as_ref())?;
            let snapshots = taskflow::preserve::list(std::path::Path::new(&repo.root), slug.as_ref())?;
            if snapshots.is_empty() {
                output::line("no snapshots")?;
            } else {
                let rows: Vec<Vec<String>> = snapshots
                    .into_iter()
                    .map(|(name, commit, at)| vec![name, commit[..12.min(commit.len())].to_owned(), at.to_string()])
                    .collect();
                output::table(&["REF", "COMMIT", "TIME"], &rows)?;
            }
        }
        TaskCommand::Health(args) => {
            let repo = qcold_server::repos::resolve(&store, args.repo.as_ref())?;
            let options = taskflow::HealthOptions {
                dry_run: args.dry_run,
                paused_ttl: args.paused_ttl_hours.map_or(config.paused_task_ttl, |h| Duration::from_secs(h * 3600)),
                bundle_retention: args
                    .bundle_retention_days
                    .map_or(config.bundle_retention, |d| Duration::from_secs(d * 86_400)),
            };
            let report = taskflow::health(config, &mut store, &repo, options, unix_now())?;
            if args.json {
                output::json(&report, false)?;
            } else if report.entries.is_empty() {
                output::line(format_args!("nothing under the worktree root of {}", repo.id))?;
            } else {
                for entry in &report.entries {
                    let verb = match (entry.action, report.dry_run) {
                        (Action::Remove, false) => "removed",
                        (Action::Remove, true) => "would remove",
                        (Action::Keep, _) => "kept",
                    };
                    output::line(format_args!("{verb} {}: {}", entry.path, entry.reason))?;
                    if let Some(reference) = &entry.snapshot_ref {
                        output::line(format_args!("  undelivered work kept at {reference}"))?;
                    }
                }
            }
        }
        TaskCommand::Pause { reason } => {
            let cwd = std::env::current_dir()?;
            let task = taskflow::pause(&mut store, &cwd, &reason, unix_now())?;
            output::line(format_args!("paused task {}; `qcold task open {}` resumes it", task.id, task.slug))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn row(task: &TaskRecord) -> Vec<String> {
    vec![task.id.clone(), task.status.to_string(), task.branch.clone(), task.worktree.clone()]
}

fn show(details: &TaskDetails) -> anyhow::Result<()> {
    let task = &details.task;
    output::line(format_args!("task      {}", task.id))?;
    output::line(format_args!("status    {}", task.status))?;
    if let Some(phase) = task.failed_phase {
        output::line(format_args!("failed in {phase}"))?;
    }
    output::line(format_args!("branch    {} from {} at {}", task.branch, task.base_branch, task.base_commit))?;
    output::line(format_args!("worktree  {}", task.worktree))?;
    if let Some(prompt) = &task.prompt {
        output::line(format_args!("prompt    {prompt}"))?;
    }
    output::line("events")?;
    for event in &details.events {
        let kind = serde_json::to_value(event.kind)?;
        output::line(format_args!("  {} {} {}", event.at, kind.as_str().unwrap_or("?"), event.message))?;
    }
    if !details.bundles.is_empty() {
        output::line("bundles")?;
        for bundle in &details.bundles {
            output::line(format_args!("  {} {}", bundle.status, bundle.path))?;
        }
    }
    Ok(())
}

fn closeout(config: &Config, store: &mut Store, args: crate::cli::TaskCloseoutArgs) -> anyhow::Result<ExitCode> {
    let text = match (args.outcome, args.message, args.reason) {
        (Outcome::Success, Some(message), None) if !message.trim().is_empty() => message,
        (Outcome::Success, _, Some(_)) => anyhow::bail!("a success closeout takes --message, not --reason"),
        (Outcome::Success, _, None) => anyhow::bail!("a success closeout needs --message with the commit message"),
        (_, None, Some(reason)) if !reason.trim().is_empty() => reason,
        (outcome, Some(_), _) => anyhow::bail!("a {outcome} closeout takes --reason, not --message"),
        (outcome, None, _) => anyhow::bail!("a {outcome} closeout needs --reason"),
    };
    let cwd = std::env::current_dir()?;
    let request = CloseoutRequest { outcome: args.outcome, text };
    let mut printed = Ok(());
    let mut report = |progress: Progress| {
        let line = match progress {
            Progress::Start(phase) => format!("phase {phase}: start"),
            Progress::Done(phase, detail) => format!("phase {phase}: ok ({detail})"),
            Progress::Waiting(what) => what,
            Progress::Warning(what) => format!("warning: {what}"),
        };
        if printed.is_ok() {
            printed = output::line(line);
        }
    };
    let closed = taskflow::closeout(config, store, &cwd, &request, unix_now, &mut report)?;
    printed?;
    if let Some((phase, error)) = &closed.failure {
        eprintln!("error: closeout of {} failed in phase {phase}: {error}", closed.task.id);
        output::line(format_args!("CLOSEOUT_FAILURE_PHASE={phase}"))?;
        output::line(format_args!("TASK_WORKTREE={}", closed.task.worktree))?;
    } else {
        output::line(format_args!("closed task {} as {}", closed.task.id, closed.task.status))?;
    }
    if let Some(reference) = &closed.snapshot {
        output::line(format_args!("SNAPSHOT_REF={reference}"))?;
    }
    if let Some(bundle) = &closed.bundle {
        output::line(format_args!("BUNDLE_PATH={}", bundle.display()))?;
    }
    Ok(ExitCode::from(closed.exit_code(request.outcome)))
}
