//! The real-agent lane: queues run by the pinned agent CLIs (`@openai/codex`,
//! `@anthropic-ai/claude-code`) through their presets, against scripted model endpoints on
//! loopback — no other network.
//!
//! Every scenario is `#[ignore]`d: it needs the CLIs that `cargo xtask real-agents` installs
//! and names in `QCOLD_REAL_AGENTS_BIN`; that task (run by `cargo xtask ci`) runs them all.

// Each agent's scenarios use their own part of the shared frame.
#[allow(dead_code)]
mod world;

mod anthropic;
mod claude;
mod codex;
mod openai;
mod script;
