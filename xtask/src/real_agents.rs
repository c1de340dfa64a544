//! `cargo xtask real-agents`: the real-CLI lane — installs the pinned agent CLIs from npm and
//! runs the queue scenarios of `tests/real_agents` with them, against scripted model endpoints
//! on loopback.
//!
//! The CLIs go into `<target dir>/real-agents/npm` (npm is asked only when an installed
//! `package.json` names another version), and the tests find them through
//! `QCOLD_REAL_AGENTS_BIN`. Versions are pinned so the lane tests what operators are told to
//! install, not whatever npm serves today.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{self, cargo};

/// The agent CLIs the lane runs, at the versions it runs.
pub(crate) const PINNED: [(&str, &str); 2] = [("@openai/codex", "0.171.0"), ("@anthropic-ai/claude-code", "2.1.197")];

/// The variable that tells the tests where the CLIs are.
const BIN_VAR: &str = "QCOLD_REAL_AGENTS_BIN";

pub(crate) fn run() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let bin = install()?;
    crate::step("real agents");
    process::run(
        cargo()
            // The workspace's selection, as the test step's, so no dependency is built again
            // with other features (`-p qcold-tests` alone unifies them differently).
            .args(["test", "--locked", "--test", "real_agents", "--", "--ignored"])
            .args(["--test-threads", "1"])
            .env(BIN_VAR, &bin),
    )?;
    eprintln!("\nreal-agents: green in {:.0?}", started.elapsed());
    Ok(())
}

/// Ensures node and npm, then the [`PINNED`] CLIs; returns their `node_modules/.bin`.
pub(crate) fn install() -> anyhow::Result<PathBuf> {
    crate::step("setup: node and npm");
    if process::output("npm", &["--version"]).is_some() && process::output("node", &["--version"]).is_some() {
        eprintln!("node and npm are installed");
    } else {
        crate::setup::apt_install(&["nodejs", "npm"])?;
    }

    crate::step("setup: agent CLIs");
    let prefix = target_dir().join("real-agents/npm");
    let stale: Vec<String> = PINNED
        .iter()
        .filter(|(package, version)| installed(&prefix, package).as_deref() != Some(*version))
        .map(|(package, version)| format!("{package}@{version}"))
        .collect();
    if stale.is_empty() {
        eprintln!("{} are installed in {}", names(), prefix.display());
    } else {
        std::fs::create_dir_all(&prefix)?;
        process::run(
            Command::new("npm")
                .args(["install", "--save-exact", "--no-audit", "--no-fund", "--prefix"])
                .arg(&prefix)
                .args(&stale),
        )?;
        for (package, version) in PINNED {
            let found = installed(&prefix, package);
            anyhow::ensure!(found.as_deref() == Some(version), "npm installed {package} {found:?}, not {version}");
        }
    }
    Ok(prefix.join("node_modules/.bin"))
}

/// The version in `node_modules/<package>/package.json` under `prefix`, if installed.
fn installed(prefix: &Path, package: &str) -> Option<String> {
    let text = std::fs::read_to_string(prefix.join("node_modules").join(package).join("package.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    manifest["version"].as_str().map(str::to_owned)
}

fn names() -> String {
    PINNED.iter().map(|(p, v)| format!("{p}@{v}")).collect::<Vec<_>>().join(", ")
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else the workspace's `target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => crate::root().join(dir),
        None => crate::root().join("target"),
    }
}
