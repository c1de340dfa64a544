//! `qcold queue`: build packages, post them to the daemon (starting it when needed), list and
//! follow runs. The daemon owns the queue; this file only talks HTTP to it.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use qcold_core::Event;
use qcold_core::RunId;
use qcold_core::api::{ErrorBody, StateResponse};
use qcold_core::queue::graph::Severity;
use qcold_core::queue::package::{self, Package};
use qcold_core::queue::wire::{
    AppendRequest, QueueAnswer, QueueView, Run, RunRequest, RunSelector, StopRequest, TabCreate, TabSelector,
};
use qcold_core::queue::{ExecutionMode, ItemStatus, RunStatus};
use qcold_server::Config;
use serde::Serialize;

use crate::cli::{ClientArgs, Mode, PackageArgs, QueueArgs, QueueCommand};
use crate::{daemon, output};

pub(crate) fn run(config: &Config, args: QueueArgs) -> anyhow::Result<ExitCode> {
    let client = args.client;
    match args.command {
        QueueCommand::Run(args) => {
            let mut request = RunRequest {
                package: read_package(&args.package)?,
                repo: args.repo,
                agent: args.package.agent.clone(),
                execution_mode: args.mode.map(|m| match m {
                    Mode::Sequence => ExecutionMode::Sequence,
                    Mode::Graph => ExecutionMode::Graph,
                }),
                tab_id: args.tab,
            };
            if request.agent.is_some() {
                request.package.agent = None;
            }
            let answer = post(config, client, "run", &request)?;
            finish(config, client, &answer, args.follow)
        }
        QueueCommand::Append(args) => {
            let mut package = read_package(&args.package)?;
            if args.package.agent.is_some() {
                package.agent = args.package.agent.clone();
            }
            let answer = post(config, client, "append", &AppendRequest { run_id: args.run, package })?;
            finish(config, client, &answer, args.follow)
        }
        QueueCommand::List { json } => {
            let view = fetch_view(config, client.listen)?;
            if json {
                output::json(&view, false)?;
            } else {
                print_view(&view)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        QueueCommand::Stop { run, kill } => simple(config, client, "stop", &StopRequest { run_id: run, kill }),
        QueueCommand::Continue { run } => simple(config, client, "continue", &RunSelector { run_id: run }),
        QueueCommand::Clear { run_id } => simple(config, client, "clear", &RunSelector { run_id }),
        QueueCommand::Create { label } => simple(config, client, "tab/create", &TabCreate { label }),
        QueueCommand::Switch { tab } => simple(config, client, "tab/switch", &TabSelector { tab_id: tab }),
        QueueCommand::Delete { tab } => simple(config, client, "tab/delete", &TabSelector { tab_id: tab }),
    }
}

fn simple(config: &Config, client: ClientArgs, route: &str, body: &impl Serialize) -> anyhow::Result<ExitCode> {
    let answer = post(config, client, route, body)?;
    output::line(&answer.message)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the answer to run/append with its warnings, then follows the run when asked.
fn finish(config: &Config, client: ClientArgs, answer: &QueueAnswer, follow: bool) -> anyhow::Result<ExitCode> {
    output::line(&answer.message)?;
    for d in &answer.diagnostics {
        output::line(format_args!("warning: {}", d.message))?;
    }
    match (&answer.run_id, follow) {
        (Some(run), true) => follow_run(config, client.listen, run),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The package from `--from` (a JSON file or a directory of `*.md` prompts) or `--prompt`s.
fn read_package(args: &PackageArgs) -> anyhow::Result<Package> {
    let Some(path) = &args.from else {
        if args.slug.is_some() && args.prompt.len() != 1 {
            bail!("--slug names a single prompt's task; {} prompts were given", args.prompt.len());
        }
        if let Some(empty) = args.prompt.iter().position(|p| p.trim().is_empty()) {
            bail!("prompt {} is empty", empty + 1);
        }
        return Ok(package::from_prompts(&args.prompt, args.slug.as_ref().map(|s| s.as_str())));
    };
    if path.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".md") && entry.file_type()?.is_file() {
                let text = std::fs::read_to_string(entry.path())
                    .with_context(|| format!("cannot read {}", entry.path().display()))?;
                files.push((name, text));
            }
        }
        return package::from_prompt_files(&files).with_context(|| format!("cannot use {}", path.display()));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    package::parse_json(&text).with_context(|| format!("cannot use {}", path.display()))
}

fn url(listen: SocketAddr, path: &str) -> String {
    format!("http://{listen}{path}")
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(2)).timeout_read(Duration::from_secs(60)).build()
}

/// A request to the daemon, carrying the write token when this state dir has one (a daemon
/// beyond loopback wants it on reads too).
fn with_token(config: &Config, request: ureq::Request) -> ureq::Request {
    let token = config.http.write_token.clone().or_else(|| qcold_server::token::load(&config.state_dir).ok().flatten());
    match token {
        Some(token) => request.set(qcold_server::token::HEADER, token.reveal()),
        None => request,
    }
}

/// Posts to `/api/queue/<route>`, starting the daemon first when none answers (unless told not to).
/// A refusal becomes an error carrying the daemon's reason and diagnostics.
fn post(config: &Config, client: ClientArgs, route: &str, body: &impl Serialize) -> anyhow::Result<QueueAnswer> {
    if !reachable(client.listen) {
        if client.no_start_daemon {
            bail!("no qcold daemon answers on {}; start one with `qcold serve --daemon`", client.listen);
        }
        daemon::detach(config, client.listen)?;
    }
    let target = url(client.listen, &format!("/api/queue/{route}"));
    match with_token(config, agent().post(&target)).send_json(body) {
        Ok(response) => Ok(response.into_json().with_context(|| format!("unreadable answer from {target}"))?),
        Err(ureq::Error::Status(code, response)) => {
            // A busy store changed nothing, so saying so is enough: the operator (or a script)
            // sends the command again. Retrying here would hide a store that stays busy.
            let retry_after = response.header("retry-after").map(str::to_owned);
            let refusal: ErrorBody = response.into_json().with_context(|| format!("{target} answered {code}"))?;
            let mut message = refusal.error;
            if code == 503 {
                let after = retry_after.as_deref().unwrap_or("a few");
                message.push_str(&format!(" (the daemon asks to retry after {after} s)"));
            }
            for d in refusal.diagnostics.iter().filter(|d| d.severity == Severity::Error) {
                message.push_str(&format!("\n  {}: {}", d.item.as_deref().unwrap_or("package"), d.message));
            }
            bail!("{message}")
        }
        Err(err) => Err(err).with_context(|| format!("cannot reach the daemon at {target}")),
    }
}

fn reachable(listen: SocketAddr) -> bool {
    agent().get(&url(listen, "/healthz")).call().is_ok()
}

fn fetch_view(config: &Config, listen: SocketAddr) -> anyhow::Result<QueueView> {
    if !reachable(listen) {
        bail!("no qcold daemon answers on {listen}; start one with `qcold serve --daemon`");
    }
    Ok(with_token(config, agent().get(&url(listen, "/api/queue"))).call()?.into_json()?)
}

fn print_view(view: &QueueView) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = view
        .tabs
        .iter()
        .map(|t| {
            let status = t.run_id.as_ref().and_then(|r| view.run(r)).map_or("-", |r| r.status.as_str());
            vec![
                if t.active { "*".into() } else { String::new() },
                t.id.to_string(),
                t.label.clone(),
                t.run_id.as_ref().map_or_else(|| "-".into(), ToString::to_string),
                status.to_owned(),
            ]
        })
        .collect();
    output::table(&["", "TAB", "LABEL", "RUN", "STATUS"], &rows)?;
    for run in &view.runs {
        // A finished run whose tab a newer run took is still listed (the view keeps the recent
        // ones); saying which tab shows it tells the two apart.
        let tab = view
            .tabs
            .iter()
            .find(|t| t.run_id.as_ref() == Some(&run.id))
            .map_or_else(|| "in no tab".to_owned(), |t| format!("tab {}", t.id));
        output::line("")?;
        output::line(format_args!(
            "run {} · {} · {} · {} · {tab} · {}",
            run.id,
            run.repo,
            run.mode.as_str(),
            run.status.as_str(),
            run.reason
        ))?;
        let rows: Vec<Vec<String>> = run
            .items
            .iter()
            .map(|i| {
                vec![
                    i.position.to_string(),
                    i.id.to_string(),
                    i.slug.to_string(),
                    i.status.to_string(),
                    i.task_class.as_str().to_owned(),
                    i.wave_index.to_string(),
                    i.attempts.len().to_string(),
                    i.reason.clone(),
                ]
            })
            .collect();
        output::table(&["#", "ITEM", "SLUG", "STATUS", "CLASS", "WAVE", "ATTEMPTS", "REASON"], &rows)?;
    }
    Ok(())
}

/// Follows `/api/events`, keeping the first state current with every delta, and prints each
/// item status change of the run until it ends. Exit 1 when it fails.
fn follow_run(config: &Config, listen: SocketAddr, run: &RunId) -> anyhow::Result<ExitCode> {
    let events =
        ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(2)).build().get(&url(listen, "/api/events"));
    let response = with_token(config, events).call().context("cannot follow the daemon's events")?;
    let mut seen: Vec<(String, ItemStatus, String)> = Vec::new();
    let mut state: Option<StateResponse> = None;
    let mut reader = std::io::BufReader::new(response.into_reader());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("the daemon closed the event stream before run {run} ended");
        }
        let Some(data) = line.trim_end().strip_prefix("data:") else { continue };
        let Ok(event) = serde_json::from_str::<Event>(data.trim_start()) else { continue };
        match (&mut state, event) {
            (_, Event::State(fresh)) => state = Some(*fresh),
            (Some(current), delta) => current.apply(delta),
            (None, _) => continue,
        }
        let Some(current) = state.as_ref().and_then(|s| s.queue.run(run)) else {
            bail!("run {run} is gone (cleared?)")
        };
        report(current, &mut seen)?;
        match current.status {
            RunStatus::Success => {
                output::line(format_args!("run {run} succeeded: {}", current.reason))?;
                return Ok(ExitCode::SUCCESS);
            }
            RunStatus::Failed => {
                output::line(format_args!("run {run} failed: {}", current.reason))?;
                return Ok(ExitCode::FAILURE);
            }
            RunStatus::Stopped => {
                output::line(format_args!("run {run} stopped: {}", current.reason))?;
                return Ok(ExitCode::SUCCESS);
            }
            RunStatus::Running | RunStatus::Stopping => {}
        }
    }
}

fn report(run: &Run, seen: &mut Vec<(String, ItemStatus, String)>) -> anyhow::Result<()> {
    for item in &run.items {
        let now = (item.id.to_string(), item.status, item.reason.clone());
        if !seen.contains(&now) {
            seen.retain(|(id, ..)| id != item.id.as_str());
            output::line(format_args!("{:<9} {} ({})", item.status.as_str(), item.slug, item.reason))?;
            seen.push(now);
        }
    }
    Ok(())
}
