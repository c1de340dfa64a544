//! `cargo xtask`: all of Q-COLD's automation, in Rust so it runs wherever cargo does.
//!
//! - `ci`: everything CI checks, from a clean clone (installs what is missing first);
//! - `demo`: builds everything and runs the daemon on a fresh state dir with a sample repository;
//! - `web`: builds the dashboard with trunk into `crates/qcold-web/dist`;
//! - `setup`: installs the tools the other tasks need, skipping what is present;
//! - `bench`: measures the release daemon (idle CPU, read latency, push latency) and the
//!   dashboard (bundle size, first paint, push to page); `bench web` only the dashboard;
//! - `chaos`: the chaos suite's long form (random kills of a large graph run, every fault point);
//! - `real-agents`: queues run by the pinned Codex and Claude Code CLIs against scripted models.

mod bench;
mod chaos;
mod ci;
mod demo;
mod process;
mod real_agents;
mod setup;
mod web;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <ci|demo|web|setup|bench|chaos|real-agents>

  ci      fmt, clippy, wasm32 check, dashboard build, all tests (incl. headless Chromium)
  demo    build everything, start the daemon on a fresh state dir with a sample repo
          [--listen ADDR]  (default 127.0.0.1:8787)
  web     build the dashboard (trunk, offline) into crates/qcold-web/dist
  setup   install missing tools: wasm32 target, trunk, wasm-bindgen-cli, binaryen, chromium, tmux
  bench   measure the release daemon: idle CPU, /api/state latency, push latency, and the
          dashboard: bundle gzip size, first paint, push to page  [web: the dashboard only]
  real-agents
          install the pinned @openai/codex and @anthropic-ai/claude-code (npm) and run
          queues with their presets against scripted model endpoints on loopback";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(),
        Some("demo") => demo::run(&args[1..]),
        Some("web") => setup::web_tools().and_then(|tools| web::build(&tools)),
        Some("setup") => setup::all().map(|_| ()),
        Some("bench") => bench::run(&args[1..]),
        Some("chaos") => chaos::run(&args[1..]),
        Some("real-agents") => real_agents::run(),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}\n{}", chaos::usage());
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown task {other:?}\n\n{USAGE}\n{}", chaos::usage())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

/// Prints a step heading, so a CI log reads as a list of what happened.
fn step(name: &str) {
    eprintln!("\n==> {name}");
}
