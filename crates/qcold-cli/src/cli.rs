//! The whole clap surface of `qcold`, in one place.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};
use qcold_core::task::Outcome;
use qcold_core::{AdapterKind, BranchName, RepoId, TaskSlug, TaskStatus};

/// The address the daemon listens on unless told otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// Q-COLD: run many AI coding agents in parallel, each in its own git worktree.
#[derive(Debug, Parser)]
#[command(name = "qcold", disable_version_flag = true, arg_required_else_help = true, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Print the build id (`<version>.<commits> <hash>[-dirty]`) and exit.
    #[arg(short = 'V', long)]
    pub(crate) version: bool,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

const EXAMPLES: &str = "Examples:
  qcold repo add web ~/src/web --set-active
  qcold status
  qcold serve --daemon        # dashboard on http://127.0.0.1:8787
  qcold queue run --from queue.json --follow
  qcold node snapshot --pretty";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Register and select repositories.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Show the active repository and its primary checkout.
    Status(StatusArgs),
    /// Tasks: one worktree and branch each, from open to closeout.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Node health.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Queues of prompts run by the daemon: sequences or dependency graphs, with retries.
    Queue(QueueArgs),
    /// Run the daemon (HTTP API and dashboard), or manage a detached one.
    Serve(ServeCommand),
    /// Managed agents: detached process groups or tmux terminals, with recorded exit codes.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Internal: the wrapper every agent runs under; records the exit code.
    #[command(hide = true)]
    AgentRun {
        /// Where to write the exit code.
        #[arg(long)]
        exit_file: std::path::PathBuf,
        /// Standard input for the command.
        #[arg(long)]
        stdin_file: Option<std::path::PathBuf>,
        /// A JSON file of `[[KEY, VALUE], …]` added to the command's environment; removed once read.
        #[arg(long)]
        env_file: Option<std::path::PathBuf>,
        /// `N=PATH`: each `{packet}` in the command's argument N (0 is the program) is replaced
        /// by PATH's contents before it runs; repeatable.
        #[arg(long, value_parser = parse_arg_file)]
        arg_file: Vec<(usize, std::path::PathBuf)>,
        /// Also append everything the command writes to this log.
        #[arg(long)]
        log: Option<std::path::PathBuf>,
        /// How the command's standard output is shown: plain or claude-stream-json.
        #[arg(long, default_value = "plain", value_parser = parse_render)]
        render: qcold_core::agent::stream::Render,
        /// Running in a tmux pane: keep the screen the command leaves beside the exit code.
        #[arg(long)]
        keep_screen: bool,
        /// The command.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Internal: the built-in demo agent of `cargo xtask demo` (no model needed): writes a note
    /// into the task's worktree and closes the task out.
    #[command(hide = true)]
    DemoAgent {
        /// The task packet.
        #[arg(long)]
        packet_file: std::path::PathBuf,
        /// The task's worktree.
        #[arg(long)]
        worktree: std::path::PathBuf,
        /// Seconds between its steps, so its progress can be watched.
        #[arg(long, default_value_t = 2)]
        pace_seconds: u64,
    },
    /// Run a command, replaying its output and exit code, but stop it and print a one-line
    /// summary instead (exit 2) once its combined output passes a limit.
    Guard(GuardArgs),
    /// The original Q-COLD's spelling of `serve`.
    #[command(subcommand)]
    Telegram(TelegramCommand),
}

fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    let pair = text.split_once('=').filter(|(key, _)| !key.is_empty());
    pair.map(|(key, value)| (key.to_owned(), value.to_owned())).ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

fn parse_render(text: &str) -> Result<qcold_core::agent::stream::Render, String> {
    qcold_core::agent::stream::Render::from_name(text)
        .ok_or_else(|| format!("{text:?} is not a rendering; known: plain, claude-stream-json"))
}

fn parse_arg_file(text: &str) -> Result<(usize, std::path::PathBuf), String> {
    let pair = text.split_once('=').and_then(|(index, path)| Some((index.parse().ok()?, path.into())));
    pair.ok_or_else(|| format!("{text:?} is not N=PATH"))
}

#[derive(Debug, Args)]
pub(crate) struct QueueArgs {
    #[command(subcommand)]
    pub(crate) command: QueueCommand,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// Start a run from a package file or directory, or from prompts.
    Run(QueueRunArgs),
    /// Add items to a run (the active tab's by default).
    Append(QueueAppendArgs),
    /// Show tabs, runs and items.
    List {
        /// Print the queue view as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop a run: nothing new starts; items in flight finish their iteration.
    Stop {
        /// The run [default: the active tab's].
        run: Option<qcold_core::RunId>,
        /// Also stop the agents of its items in flight now (their worktrees are kept;
        /// `qcold queue continue` starts them again).
        #[arg(long)]
        kill: bool,
    },
    /// Continue a stopped or failed run, or wake a running run's waiting items.
    Continue {
        /// The run [default: the active tab's].
        run: Option<qcold_core::RunId>,
    },
    /// Forget a run that has nothing in flight (tasks, worktrees and agents are kept).
    Clear {
        /// The run [default: the active tab's].
        #[arg(long)]
        run_id: Option<qcold_core::RunId>,
    },
    /// Create a tab and make it active.
    Create {
        /// Its label (at most 48 characters).
        label: Option<String>,
    },
    /// Make a tab the active one.
    Switch {
        /// The tab.
        tab: qcold_core::TabId,
    },
    /// Delete a tab (not the default one, nor one showing an unfinished run).
    Delete {
        /// The tab.
        tab: qcold_core::TabId,
    },
}

/// How queue commands reach the daemon.
#[derive(Debug, Args, Clone, Copy)]
pub(crate) struct ClientArgs {
    /// The daemon's address.
    #[arg(long, global = true, default_value = DEFAULT_LISTEN)]
    pub(crate) listen: SocketAddr,
    /// Fail instead of starting a daemon when none answers.
    #[arg(long, global = true)]
    pub(crate) no_start_daemon: bool,
}

/// Where a package comes from.
#[derive(Debug, Args)]
pub(crate) struct PackageArgs {
    /// A JSON package file, or a directory of `*.md` prompt files run in name order.
    #[arg(long, conflicts_with = "prompt")]
    pub(crate) from: Option<std::path::PathBuf>,
    /// A prompt; repeat for several items.
    #[arg(long, required_unless_present = "from")]
    pub(crate) prompt: Vec<String>,
    /// The slug of the single prompt's task.
    #[arg(long, requires = "prompt")]
    pub(crate) slug: Option<TaskSlug>,
    /// The agent command [default: the package's, else the first ready one].
    #[arg(long)]
    pub(crate) agent: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct QueueRunArgs {
    #[command(flatten)]
    pub(crate) package: PackageArgs,
    /// The repository [default: the package's, else the active one].
    #[arg(long)]
    pub(crate) repo: Option<RepoId>,
    /// The execution mode [default: the package's, else sequence].
    #[arg(long, value_enum)]
    pub(crate) mode: Option<Mode>,
    /// The tab to show the run in [default: the active one].
    #[arg(long)]
    pub(crate) tab: Option<qcold_core::TabId>,
    /// Show progress until the run ends; exit 1 when it fails.
    #[arg(long)]
    pub(crate) follow: bool,
}

#[derive(Debug, Args)]
pub(crate) struct QueueAppendArgs {
    /// The run [default: the active tab's].
    pub(crate) run: Option<qcold_core::RunId>,
    #[command(flatten)]
    pub(crate) package: PackageArgs,
    /// Show progress until the run ends; exit 1 when it fails.
    #[arg(long)]
    pub(crate) follow: bool,
}

/// A run's execution mode.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Mode {
    /// One item at a time, in order.
    Sequence,
    /// Every item whose dependencies succeeded.
    Graph,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RepoCommand {
    /// Register a repository, or change an existing registration.
    Add(RepoAddArgs),
    /// List registered repositories.
    List(JsonFlag),
    /// Forget a repository (its files are not touched).
    Remove {
        /// The repository id.
        id: RepoId,
    },
    /// Make a repository the active one.
    SetActive {
        /// The repository id.
        id: RepoId,
    },
    /// Show the active repository.
    Current(JsonFlag),
    /// Run git's maintenance (`git maintenance run`: gc unless the repository's configuration
    /// names other tasks) in the repository now. Q-COLD's own git commands never start git's
    /// automatic maintenance, so this is when it happens.
    Maintain {
        /// The repository id [default: the active repository].
        id: Option<RepoId>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RepoAddArgs {
    /// The id: ASCII letters, digits, '-' and '_', at most 64, no leading '-'.
    pub(crate) id: RepoId,
    /// The primary checkout (top level of a git work tree).
    pub(crate) root: std::path::PathBuf,
    /// How changes are validated: xtask-process or command [default: xtask-process when
    /// xtask/Cargo.toml exists, else command].
    #[arg(long)]
    pub(crate) adapter: Option<AdapterKind>,
    /// The xtask manifest [default: <root>/xtask/Cargo.toml].
    #[arg(long)]
    pub(crate) xtask_manifest: Option<std::path::PathBuf>,
    /// The verify command line of the command adapter, run without a shell.
    #[arg(long)]
    pub(crate) verify_command: Option<String>,
    /// The branch tasks start from and deliver to [default: the branch checked out in <root>].
    #[arg(long)]
    pub(crate) default_branch: Option<BranchName>,
    /// Where task worktrees go [default: <root's parent>/WT/<root's name>].
    #[arg(long)]
    pub(crate) worktree_root: Option<std::path::PathBuf>,
    /// Also make it the active repository.
    #[arg(long)]
    pub(crate) set_active: bool,
}

#[derive(Debug, Args)]
pub(crate) struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Print this node's snapshot (protocol v1), or fetch one from a daemon.
    Snapshot(SnapshotArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SnapshotArgs {
    /// Pretty-print the JSON.
    #[arg(long)]
    pub(crate) pretty: bool,
    /// Fetch from a daemon, e.g. http://127.0.0.1:8787, instead of collecting locally.
    #[arg(long)]
    pub(crate) endpoint: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TelegramCommand {
    /// Same as `qcold serve`.
    Serve(ServeCommand),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ServeCommand {
    #[command(subcommand)]
    pub(crate) action: Option<ServeAction>,
    #[command(flatten)]
    pub(crate) run: ServeArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; a non-loopback address exposes the API to the network.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub(crate) listen: SocketAddr,
    /// Detach: run in a new session with a pid file and logs under the state dir, replacing a
    /// daemon already started for the same address.
    #[arg(long)]
    pub(crate) daemon: bool,
    /// Internal: the detached daemon process itself.
    #[arg(long, hide = true)]
    pub(crate) daemon_child: bool,
    /// Also accept this name in the Host header (`name` or `name:port`; repeatable), e.g. the
    /// machine's name when listening beyond loopback; adds to QCOLD_ALLOWED_HOSTS.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub(crate) allow_hosts: Vec<String>,
    /// Also accept requests from pages of this origin (`https://host[:port]`; repeatable), e.g.
    /// a Telegram WebApp's; adds to QCOLD_ALLOWED_ORIGINS.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub(crate) allow_origins: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ServeAction {
    /// Is a detached daemon running for this address?
    Status(ServeTarget),
    /// Stop the detached daemon for this address.
    Stop(ServeTarget),
    /// The write token that dashboard and API writes must carry.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Make a new write token, store it (mode 0600) in the state dir and print it once; restart
    /// the daemon to use it. From then on every write needs it.
    New,
}

#[derive(Debug, Args)]
pub(crate) struct ServeTarget {
    /// The address the daemon was started with.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub(crate) listen: SocketAddr,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TaskCommand {
    /// Open a task: branch `task/<slug>` in a new worktree (or resume a paused one).
    Open(TaskOpenArgs),
    /// Print `cd` and exports for a task's worktree, for `eval "$(qcold task enter <slug>)"`.
    Enter(TaskKey),
    /// List tasks, newest first.
    List(TaskListArgs),
    /// Show a task's record, events and bundles.
    Show(TaskShowArgs),
    /// Close out the task of the current worktree. Exit codes: 0 success, 10 blocked, 11 failed,
    /// 12 failed-closeout (a success closeout stopped in a phase; repair and run it again).
    Closeout(TaskCloseoutArgs),
    /// Stop an unfinished task from anywhere: snapshot its undelivered work, close it as
    /// `closed:failed`, remove its worktree and branch.
    Clear {
        #[command(flatten)]
        key: TaskKey,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
    },
    /// List the snapshots of undelivered work (refs/qcold/snapshots/…) of the active repository.
    Snapshots {
        /// Only this slug's snapshots.
        slug: Option<TaskSlug>,
        /// The repository [default: the active one].
        #[arg(long)]
        repo: Option<RepoId>,
    },
    /// Remove what closed, expired and orphaned work left behind (snapshotting undelivered work
    /// first); keeps open, failed-closeout and recently paused tasks. Prints what and why.
    Health(TaskHealthArgs),
    /// Pause the task of the current worktree; the worktree is kept.
    Pause {
        /// Why, for the record.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct TaskOpenArgs {
    /// The slug: ASCII letters, digits, '-' and '_', at most 64, no leading '-'.
    pub(crate) slug: TaskSlug,
    /// The repository [default: the active one].
    #[arg(long)]
    pub(crate) repo: Option<RepoId>,
    /// A profile name, recorded with the task.
    #[arg(long)]
    pub(crate) profile: Option<String>,
    /// The prompt, recorded with the task.
    #[arg(long)]
    pub(crate) prompt: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TaskKey {
    /// A task id (`<repo>/<NNN>-<slug>`) or a slug of the repository.
    pub(crate) task: String,
    /// The repository a slug belongs to [default: the active one].
    #[arg(long)]
    pub(crate) repo: Option<RepoId>,
}

#[derive(Debug, Args)]
pub(crate) struct TaskListArgs {
    /// Only tasks with this status.
    #[arg(long)]
    pub(crate) status: Option<TaskStatus>,
    /// Only tasks of this repository [default: all].
    #[arg(long)]
    pub(crate) repo: Option<RepoId>,
    /// Print JSON (a list of TaskRecord).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TaskShowArgs {
    #[command(flatten)]
    pub(crate) key: TaskKey,
    /// Print JSON (a TaskDetails).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TaskCloseoutArgs {
    /// success delivers the branch; blocked and failed stop the task with its evidence kept.
    #[arg(long)]
    pub(crate) outcome: Outcome,
    /// The commit message of a success closeout.
    #[arg(long)]
    pub(crate) message: Option<String>,
    /// Why the task is blocked or failed.
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TaskHealthArgs {
    /// Report what would be removed; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print JSON (a health Report).
    #[arg(long)]
    pub(crate) json: bool,
    /// The repository [default: the active one].
    #[arg(long)]
    pub(crate) repo: Option<RepoId>,
    /// How long a paused task keeps its worktree [default: QCOLD_PAUSED_TASK_TTL_HOURS or 2].
    #[arg(long)]
    pub(crate) paused_ttl_hours: Option<u64>,
    /// How long bundles are kept [default: QCOLD_BUNDLE_RETENTION_DAYS or 7].
    #[arg(long)]
    pub(crate) bundle_retention_days: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct GuardArgs {
    /// Most combined stdout+stderr bytes allowed.
    #[arg(long, default_value_t = 16_384)]
    pub(crate) max_bytes: u64,
    /// Most combined stdout+stderr lines allowed.
    #[arg(long, default_value_t = 400)]
    pub(crate) max_lines: u64,
    /// The command and its arguments, after `--`; run without a shell.
    #[arg(last = true, required = true)]
    pub(crate) command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Start a command as an agent: a detached process group, or a tmux terminal (--terminal).
    Start(AgentStartArgs),
    /// List agents: running, exited (with code) or vanished.
    List(JsonFlag),
    /// Attach this terminal to an agent's tmux session.
    Attach(AgentSelector),
    /// End an agent's whole process tree and terminal, and confirm nothing of it survives.
    Stop(AgentSelector),
    /// Remove exited agents (rows, logs, leftover sessions).
    Prune {
        /// Only agents that ended at least this many hours ago.
        #[arg(long, default_value_t = 2)]
        max_age_hours: u64,
        /// List what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the last lines of an agent's terminal (colours kept) or output log.
    Tail {
        #[command(flatten)]
        agent: AgentSelector,
        /// How many lines.
        #[arg(long, default_value_t = 40)]
        lines: u32,
    },
    /// Type into an agent's terminal: paste TEXT and press Enter, type it (--literal), or press a key.
    Send(AgentSendArgs),
    /// Agent commands: how to run an agent CLI on a task packet, and their readiness.
    #[command(subcommand)]
    Command(CommandsCommand),
    /// Name a terminal and give it a scope; an empty value clears it.
    Label {
        #[command(flatten)]
        agent: AgentSelector,
        /// The display name.
        #[arg(long)]
        name: Option<String>,
        /// The scope.
        #[arg(long)]
        scope: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AgentStartArgs {
    /// The track (grouping) to start it under.
    #[arg(long)]
    pub(crate) track: String,
    /// The agent id [default: <track>-<time>].
    #[arg(long)]
    pub(crate) id: Option<qcold_core::AgentId>,
    /// A display name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// The working directory [default: the current one].
    #[arg(long)]
    pub(crate) cwd: Option<std::path::PathBuf>,
    /// Run in a tmux terminal the operator can attach to.
    #[arg(long)]
    pub(crate) terminal: bool,
    /// The command and its arguments, after `--`; run without a shell.
    #[arg(last = true, required = true)]
    pub(crate) command: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AgentSelector {
    /// An agent id, name, tmux session or tmux target.
    pub(crate) selector: String,
}

#[derive(Debug, Args)]
pub(crate) struct AgentSendArgs {
    #[command(flatten)]
    pub(crate) agent: AgentSelector,
    /// The text to paste (and submit).
    #[arg(required_unless_present = "key", conflicts_with = "key")]
    pub(crate) text: Option<String>,
    /// Type the text without pressing Enter.
    #[arg(long, requires = "text")]
    pub(crate) literal: bool,
    /// Press a named key: Enter, Escape, Tab, Up, Down, Left, Right, Backspace, Delete, Home, End, PageUp, PageDown, C-c.
    #[arg(long)]
    pub(crate) key: Option<qcold_core::agent::Key>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CommandsCommand {
    /// Register how to run an agent non-interactively: a preset, or an argv that may use
    /// {packet}, {packet_file}, {cwd}.
    Add {
        /// The command's name.
        name: qcold_core::CommandName,
        /// A known CLI's way to run (codex, claude, gemini, opencode) instead of an argv.
        #[arg(long, conflicts_with_all = ["stdin", "interactive", "argv"])]
        preset: Option<qcold_core::agent::preset::Preset>,
        /// Feed the packet on standard input (otherwise stdin is empty).
        #[arg(long)]
        stdin: bool,
        /// The agent reads its terminal (an interactive CLI, or one that asks): its standard
        /// input is the terminal, so text typed into it (dashboard, `agent send`) reaches it.
        #[arg(long, conflicts_with = "stdin")]
        interactive: bool,
        /// The readiness probe, split into words without a shell [default: a preset's checks,
        /// else only that the program exists and is executable].
        #[arg(long)]
        probe: Option<String>,
        /// `KEY=VALUE` set for the command's agents and probe; repeatable; stored, never shown.
        #[arg(long, value_parser = parse_env_pair)]
        env: Vec<(String, String)>,
        /// A file of `KEY=VALUE` lines (`#` comments), read now and stored; `--env` wins.
        #[arg(long)]
        env_file: Option<std::path::PathBuf>,
        /// The argv, after `--`.
        #[arg(last = true, required_unless_present = "preset")]
        argv: Vec<String>,
    },
    /// List agent commands with their readiness: cached for 30 min, then served while a background
    /// probe refreshes it.
    List {
        /// Probe every command now.
        #[arg(long)]
        refresh: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Internal: probe these commands now and cache the results (the background refresh).
    #[command(hide = true)]
    Probe {
        /// Command names.
        names: Vec<qcold_core::CommandName>,
    },
    /// Print the first ready command of NAMES, or why none is ready.
    Choose {
        /// Command names, in order of preference.
        #[arg(required = true)]
        names: Vec<qcold_core::CommandName>,
    },
    /// Start an agent that runs a command on a packet file.
    Run {
        /// The command's name.
        name: qcold_core::CommandName,
        /// The task packet.
        #[arg(long)]
        packet_file: std::path::PathBuf,
        /// The working directory [default: the current one].
        #[arg(long)]
        cwd: Option<std::path::PathBuf>,
        /// The track [default: the command's name].
        #[arg(long)]
        track: Option<String>,
        /// Run in a tmux terminal.
        #[arg(long)]
        terminal: bool,
    },
    /// Forget a registered command.
    Remove {
        /// The command's name.
        name: qcold_core::CommandName,
    },
}
