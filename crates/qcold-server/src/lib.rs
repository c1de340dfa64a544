//! Q-COLD's engines and daemon, as a library the `qcold` binary links.
//!
//! # Design
//!
//! The store ([`store`]) is the source of truth: one SQLite file in the state dir. Everything the
//! daemon holds in memory ([`app::AppState`]) can be rebuilt from it at start-up.
//!
//! The daemon is event-driven. Handlers answer from in-memory caches and never wait for a
//! rebuild; when something changes — a repository registered by the CLI (seen through a file
//! watch on the store, [`watch`]), a new node sample ([`node`]) — the owning task updates the
//! cache and pushes one typed [`qcold_core::Event`] to every `/api/events` subscriber. Nothing
//! rebuilds the whole state on a timer, and no process is spawned periodically.
//!
//! Shutdown is passed in: [`serve`] takes a future that resolves when the daemon should stop,
//! and every background task and event stream ends with it.
//!
//! # Map
//!
//! - [`config`]: the only place that reads the environment.
//! - [`store`]: SQLite schema, migrations and queries (the only SQL in the workspace).
//! - [`repos`]: registering and resolving repositories (path checks, adapter defaults).
//! - [`git`]: the git commands Q-COLD runs.
//! - [`adapter`]: how a repository verifies a change (command or xtask).
//! - [`guard`]: the output guard (`qcold guard`).
//! - [`deadline`]: child processes with a timeout that kills their process group.
//! - [`agents`]: managed agents and their terminals (tmux), process trees, the exit-code wrapper.
//! - [`status`]: the `qcold status` report.
//! - [`taskflow`]: task worktrees from open to closeout.
//! - [`fault`]: named crash points for the chaos suite (`QCOLD_FAULT_POINT`).
//! - [`lock`]: cross-process locks (one delivery per repository at a time).
//! - [`node`]: node snapshot collection with `sysinfo`.
//! - [`app`]: the daemon's shared state and event hub.
//! - [`watch`]: the store watcher that turns CLI writes into events.
//! - [`http`]: the axum router, its security door, handlers and embedded dashboard assets.
//! - [`token`]: the operator's write token (file, generation, constant-time comparison).
//! - [`telegram`]: verifying a Telegram WebApp's signed `initData` (the token-less path from a phone).

pub mod adapter;
pub mod agents;
pub mod app;
pub mod config;
pub mod deadline;
pub mod fault;
pub mod git;
pub mod guard;
pub mod http;
pub mod lock;
pub mod node;
pub mod queue;
pub mod repos;
pub mod scheduler;
pub mod status;
pub mod store;
pub mod taskflow;
pub mod telegram;
pub mod token;
pub mod watch;

use std::future::Future;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// The current time as Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Runs the daemon on `listener` until `shutdown` resolves, then stops gracefully: open event
/// streams end, background tasks stop, in-flight requests finish. Refuses to start when the API
/// would be open beyond loopback without a write token (see [`http::door`]).
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listen = listener.local_addr().context("cannot read the listening address")?;
    // Decided before anything starts: a daemon that would be open to the network does not start.
    let door = http::Door::new(&config, listen)?;
    if door.requires_token() {
        tracing::info!("writes need the write token{}", if listen.ip().is_loopback() { "" } else { "; so do reads" });
    }
    if let Some(users) = door.telegram_users() {
        tracing::info!("Telegram WebApp sign-in is on for {users} allowed user(s)");
    }
    // The CLI has set them already when it runs the daemon; an embedding caller gets them here.
    git::limits::init(config.git);
    let cancel = CancellationToken::new();
    let (state, sampler) = app::AppState::open(config, cancel.clone()).await?;
    // serve owns every background task; each ends with the cancellation and is waited for
    // below, so none outlives the daemon and a panic in one is reported, not lost.
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(watching) = watch::watch(state.publisher(), state.wake()) {
        tasks.spawn(watching);
    }
    tasks.spawn(state.publisher().sample_node(sampler));
    tasks.spawn(scheduler::run(state.publisher(), state.wake()));
    let router = http::router(state.clone(), door);
    let stop = cancel.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .await
        .context("http server failed");
    cancel.cancel();
    // Upgraded sockets outlive the server's own connection tracking; they close on the
    // cancellation, and get a moment to say so to their clients.
    state.connections_closed(std::time::Duration::from_secs(5)).await;
    join_background(&mut tasks).await;
    result
}

/// Waits for the background tasks to end after the cancellation. A scheduler pass in the middle
/// of a git or tmux call ends within that call's deadline; past the grace period the rest are
/// aborted, which is safe: a launch is re-driven from what it recorded by the next daemon.
async fn join_background(tasks: &mut tokio::task::JoinSet<()>) {
    let grace = tokio::time::sleep(std::time::Duration::from_secs(10));
    tokio::pin!(grace);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => return,
                Some(Err(err)) if err.is_panic() => tracing::error!("a background task panicked: {err}"),
                Some(_) => {}
            },
            () = &mut grace => {
                tracing::warn!("{} background task(s) still busy at shutdown; aborting them", tasks.len());
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                return;
            }
        }
    }
}
