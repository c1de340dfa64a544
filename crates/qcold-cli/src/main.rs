//! `qcold`: the operator's command line and the daemon, in one binary.

mod agent;
mod cli;
mod daemon;
mod demo_agent;
mod guard;
mod node;
mod output;
mod queue;
mod repo;
mod status;
mod task;

use std::process::ExitCode;

use clap::Parser as _;

/// `<package version>.<git commit count> <12-hex git hash>[-dirty]`, set by `build.rs`.
pub(crate) const BUILD_ID: &str = env!("QCOLD_BUILD_ID");

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    if cli.version {
        output::line(BUILD_ID)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(command) = cli.command else {
        anyhow::bail!("no command given; `qcold --help` lists them");
    };
    // The wrapper runs first and needs no configuration: until it takes the stop signals, one
    // meant for its command would end it (and with it the record of its exit code).
    if let cli::Command::AgentRun { exit_file, stdin_file, env_file, arg_file, log, render, keep_screen, command } =
        command
    {
        let options = qcold_server::agents::wrapper::Options {
            exit_file,
            stdin_file,
            env_file,
            arg_files: arg_file,
            log,
            render,
            keep_screen,
        };
        let code = qcold_server::agents::wrapper::run(&options, &command);
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    let config = qcold_server::Config::from_env(BUILD_ID)?;
    // Before any command runs git: every git this process runs gets these deadlines.
    qcold_server::git::limits::init(config.git);
    match command {
        cli::Command::Repo(cmd) => repo::run(&config, cmd),
        cli::Command::Status(args) => status::run(&config, &args),
        cli::Command::Task(cmd) => return task::run(&config, cmd),
        cli::Command::Guard(args) => return guard::run(&args),
        cli::Command::Agent(cmd) => agent::run(&config, cmd),
        cli::Command::AgentRun { .. } => unreachable!("the wrapper ran above"),
        cli::Command::DemoAgent { packet_file, worktree, pace_seconds } => {
            return demo_agent::run(&packet_file, &worktree, std::time::Duration::from_secs(pace_seconds));
        }
        cli::Command::Node(cli::NodeCommand::Snapshot(args)) => node::snapshot(&config, &args),
        cli::Command::Queue(cmd) => return queue::run(&config, cmd),
        cli::Command::Serve(cmd) | cli::Command::Telegram(cli::TelegramCommand::Serve(cmd)) => daemon::run(config, cmd),
    }
    .map(|()| ExitCode::SUCCESS)
}
