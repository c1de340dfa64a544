//! `qcold agent …`: managed agents and their terminals.

use std::os::unix::process::CommandExt as _;
use std::time::Duration;

use anyhow::Context as _;

use qcold_core::agent::AgentState;
use qcold_core::api::agents::AddCommandRequest;
use qcold_server::agents::{self, AgentView, Input, StartRequest, commands as agent_commands};
use qcold_server::store::Store;
use qcold_server::{Config, unix_now};

use crate::cli::{AgentCommand, CommandsCommand};
use crate::output;

pub(crate) fn run(config: &Config, command: AgentCommand) -> anyhow::Result<()> {
    let mut store = Store::open(&config.state_dir, config.sqlite_busy_timeout)?;
    match command {
        AgentCommand::Start(args) => {
            let request = StartRequest {
                track: args.track,
                id: args.id,
                name: args.name,
                cwd: match args.cwd {
                    Some(cwd) => cwd,
                    None => std::env::current_dir()?,
                },
                terminal: args.terminal,
                env: Vec::new(),
                stdin: None,
                argv: args.command,
                arg_files: Vec::new(),
                log: None,
                render: Default::default(),
            };
            let qcold = std::env::current_exe()?;
            let agent = agents::start(config, &mut store, &qcold, &request, unix_now())?;
            match &agent.terminal {
                Some(terminal) => output::line(format_args!(
                    "started agent {} in tmux session {} (pid {})",
                    agent.id, terminal.session, agent.pid
                )),
                None => output::line(format_args!(
                    "started agent {} (pid {}); output in {}",
                    agent.id,
                    agent.pid,
                    agent.stdout_log.as_deref().unwrap_or("-")
                )),
            }
        }
        AgentCommand::List(flag) => {
            let views = agents::list(&store)?;
            if flag.json {
                return output::json(&views, false);
            }
            if views.is_empty() {
                return output::line("no agents; `qcold agent start --track T -- CMD` starts one");
            }
            let rows: Vec<Vec<String>> = views.iter().map(row).collect();
            output::table(&["ID", "STATE", "TRACK", "NAME", "TERMINAL", "COMMAND"], &rows)
        }
        AgentCommand::Attach(selector) => {
            let agent = agents::find(&store, &selector.selector)?;
            let mut attach = agents::attach_command(config, &agent)?;
            // exec only returns on failure.
            Err(anyhow::Error::new(attach.exec()).context("cannot run tmux attach"))
        }
        AgentCommand::Stop(selector) => {
            let (agent, count) = agents::stop(config, &mut store, &selector.selector, unix_now())?;
            output::line(format_args!("stopped agent {}: {count} process(es) ended, none survive", agent.id))
        }
        AgentCommand::Prune { max_age_hours, dry_run } => {
            let pruned =
                agents::prune(config, &mut store, Duration::from_secs(max_age_hours * 3600), dry_run, unix_now())?;
            let verb = if dry_run { "would prune" } else { "pruned" };
            for view in &pruned {
                output::line(format_args!("{verb} agent {} ({})", view.agent.id, state_text(view.state)))?;
            }
            output::line(format_args!("{verb} {} agent(s)", pruned.len()))
        }
        AgentCommand::Tail { agent, lines } => {
            let agent = agents::find(&store, &agent.selector)?;
            output::line(agents::tail(config, &agent, lines)?)
        }
        AgentCommand::Send(args) => {
            let agent = agents::find(&store, &args.agent.selector)?;
            let input = match (args.key, args.text, args.literal) {
                (Some(key), _, _) => Input::Key(key),
                (None, Some(text), true) => Input::Literal(text),
                (None, Some(text), false) => Input::Submit(text),
                (None, None, _) => anyhow::bail!("give TEXT or --key"),
            };
            agents::send(config, &agent, &input)?;
            output::line(format_args!("sent to {}", agent.id))
        }
        AgentCommand::Command(command) => commands(config, &mut store, command),
        AgentCommand::Label { agent, name, scope } => {
            let agent = agents::label(&mut store, &agent.selector, name.as_deref(), scope.as_deref())?;
            output::line(format_args!(
                "agent {}: name {}, scope {}",
                agent.id,
                agent.name.as_deref().unwrap_or("(none)"),
                agent.scope.as_deref().unwrap_or("(none)")
            ))
        }
    }
}

fn state_text(state: AgentState) -> String {
    match state {
        AgentState::Running => "running".into(),
        AgentState::Exited { code } => format!("exited {code}"),
        AgentState::Vanished => "vanished".into(),
    }
}

fn row(view: &AgentView) -> Vec<String> {
    let agent = &view.agent;
    vec![
        agent.id.to_string(),
        state_text(view.state),
        agent.track.clone(),
        agent.name.clone().unwrap_or_default(),
        agent.terminal.as_ref().map(|t| t.target.clone()).unwrap_or_default(),
        // One line per agent, whatever its arguments hold (a packet given as one is pages long).
        qcold_core::agent::command_line(&agent.argv, 60),
    ]
}

fn commands(config: &Config, store: &mut Store, command: CommandsCommand) -> anyhow::Result<()> {
    match command {
        CommandsCommand::Add { name, preset, stdin, interactive, probe, env, env_file, argv } => {
            let mut vars = std::collections::BTreeMap::new();
            if let Some(file) = env_file {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read the env file {}", file.display()))?;
                let pairs = qcold_core::agent::env::parse_file(&text)
                    .with_context(|| format!("the env file {}", file.display()))?;
                vars.extend(pairs);
            }
            vars.extend(env);
            let request = AddCommandRequest { name, argv, stdin, interactive, probe, preset, env: vars };
            let added = agent_commands::add(store, request, unix_now())?;
            let env = if added.env.is_empty() { String::new() } else { format!(" (env: {})", added.env.join(", ")) };
            output::line(format_args!("registered agent command {}: {}{env}", added.name, added.argv.join(" ")))
        }
        CommandsCommand::List { refresh, json } => {
            let statuses = agent_commands::statuses(store, refresh, unix_now())?;
            refresh_in_background(&statuses.stale);
            if json {
                return output::json(&statuses.list, false);
            }
            if statuses.list.is_empty() {
                return output::line("no agent commands; `qcold agent command add <name> -- ARGV` registers one");
            }
            let rows: Vec<Vec<String>> = statuses
                .list
                .iter()
                .map(|s| {
                    let ready = if s.readiness.ready { "ready" } else { "not ready" };
                    let source = match s.command.source {
                        qcold_core::agent::command::Source::Registered => "registered",
                        qcold_core::agent::command::Source::Default => "default",
                    };
                    let stale = if statuses.stale.contains(&s.command.name) { " (refreshing)" } else { "" };
                    vec![
                        s.command.name.to_string(),
                        format!("{ready}{stale}"),
                        source.into(),
                        s.command.argv.join(" "),
                        s.command.env.join(","),
                        s.readiness.reason.clone(),
                    ]
                })
                .collect();
            output::table(&["NAME", "READY", "SOURCE", "ARGV", "ENV", "PROBE SAID"], &rows)
        }
        CommandsCommand::Probe { names } => {
            agent_commands::refresh(store, &names, unix_now())?;
            Ok(())
        }
        CommandsCommand::Choose { names } => {
            let statuses = agent_commands::statuses(store, false, unix_now())?;
            refresh_in_background(&statuses.stale);
            let chosen = agent_commands::choose(&statuses, &names)?;
            output::line(chosen.name)
        }
        CommandsCommand::Run { name, packet_file, cwd, track, terminal } => {
            let packet_file = packet_file
                .canonicalize()
                .with_context(|| format!("cannot read the packet {}", packet_file.display()))?;
            let command = agent_commands::all(store)?
                .into_iter()
                .find(|c| c.name == name)
                .ok_or_else(|| anyhow::anyhow!("no agent command {name:?}; `qcold agent command list` shows them"))?;
            let cwd = match cwd {
                Some(cwd) => cwd,
                None => std::env::current_dir()?,
            };
            let track = track.unwrap_or_else(|| name.to_string());
            let mut request = agent_commands::invocation(&command, &packet_file, &cwd, &track, terminal);
            request.env = agent_commands::environment(store, &command)?;
            let agent = agents::start(config, store, &std::env::current_exe()?, &request, unix_now())?;
            output::line(format_args!("started agent {} running {}", agent.id, command.name))
        }
        CommandsCommand::Remove { name } => {
            agent_commands::remove(store, &name)?;
            output::line(format_args!("removed agent command {name}"))
        }
    }
}

/// Re-probes expired readiness results in a detached `qcold agent command probe` process, so the
/// operator gets the cached answer now and the next call gets a fresh one.
fn refresh_in_background(stale: &[qcold_core::CommandName]) {
    if stale.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let spawned = std::process::Command::new(exe)
        .args(["agent", "command", "probe"])
        .args(stale.iter().map(|n| n.as_str()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    if let Err(e) = spawned {
        eprintln!("warning: cannot refresh readiness in the background: {e}");
    }
}
