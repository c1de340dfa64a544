//! Installs the tools the other tasks need, idempotently: each check looks for the exact
//! version first and installs only what is missing.
//!
//! Versions are pinned because the dashboard build is offline (trunk must not download):
//! - trunk 0.21.14 (0.22 needs a newer rustc than ours);
//! - wasm-bindgen-cli 0.2.130, matching the `wasm-bindgen` the dashboard links (installed
//!   without `--locked`: its lock file wants a crate the registry mirror lacks);
//! - binaryen 132 from npm: Debian's binaryen 108 `wasm-opt` produces wasm that breaks at
//!   runtime in Chromium, so our own `wasm-opt` goes first on trunk's PATH.

use std::path::PathBuf;
use std::process::Command;

use crate::process::{self, cargo};

const TRUNK_VERSION: &str = "0.21.14";
const WASM_BINDGEN_VERSION: &str = "0.2.130";
const BINARYEN_VERSION: &str = "132";
const APT_PACKAGES: [(&str, &str); 3] =
    [("chromium", "chromium"), ("chromedriver", "chromium-driver"), ("tmux", "tmux")];

/// Where the tools of the dashboard build are.
#[derive(Debug, Clone)]
pub(crate) struct WebTools {
    /// A directory holding `wasm-opt` 132, to be put first on trunk's PATH.
    pub(crate) binaryen_bin: PathBuf,
}

/// Installs everything: the dashboard tools and the system packages the tests use.
pub(crate) fn all() -> anyhow::Result<WebTools> {
    let tools = web_tools()?;
    apt_packages()?;
    Ok(tools)
}

/// Installs what the dashboard build needs.
pub(crate) fn web_tools() -> anyhow::Result<WebTools> {
    crate::step("setup: wasm32 target");
    let installed = process::output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|t| t == "wasm32-unknown-unknown") {
        eprintln!("wasm32-unknown-unknown is installed");
    } else {
        process::run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }

    crate::step("setup: trunk");
    cargo_tool(
        "trunk",
        &format!("trunk {TRUNK_VERSION}"),
        &["install", &format!("trunk@{TRUNK_VERSION}"), "--locked"],
    )?;

    crate::step("setup: wasm-bindgen-cli");
    cargo_tool(
        "wasm-bindgen",
        &format!("wasm-bindgen {WASM_BINDGEN_VERSION}"),
        &["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION],
    )?;

    crate::step("setup: binaryen (wasm-opt)");
    let prefix = crate::root().join("target/xtask-tools").join(format!("binaryen-{BINARYEN_VERSION}"));
    let bin = prefix.join("node_modules/.bin");
    let wanted = format!("version {BINARYEN_VERSION}");
    if process::output(bin.join("wasm-opt"), &["--version"]).is_some_and(|v| v.contains(&wanted)) {
        eprintln!("wasm-opt {BINARYEN_VERSION} is installed in {}", bin.display());
    } else {
        std::fs::create_dir_all(&prefix)?;
        process::run(
            Command::new("npm")
                .args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"])
                .arg(&prefix)
                .arg(format!("binaryen@{BINARYEN_VERSION}")),
        )?;
        let version = process::output(bin.join("wasm-opt"), &["--version"]).unwrap_or_default();
        anyhow::ensure!(version.contains(&wanted), "npm installed a wasm-opt that reports {version:?}, not {wanted}");
    }
    Ok(WebTools { binaryen_bin: bin })
}

/// Installs a cargo-installed tool unless `<program> --version` already starts with `want`.
fn cargo_tool(program: &str, want: &str, install_args: &[&str]) -> anyhow::Result<()> {
    match process::output(program, &["--version"]) {
        Some(version) if version.starts_with(want) => {
            eprintln!("{version} is installed");
            Ok(())
        }
        found => {
            if let Some(other) = found {
                eprintln!("found {other}, need {want}");
            }
            process::run(cargo().args(install_args))
        }
    }
}

/// Installs the Debian packages the tests need (Chromium, ChromeDriver, tmux).
pub(crate) fn apt_packages() -> anyhow::Result<()> {
    crate::step("setup: system packages");
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .filter(|(program, _)| process::output("which", &[program]).is_none())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        eprintln!("chromium, chromedriver and tmux are installed");
        return Ok(());
    }
    apt_install(&missing)
}

/// Installs Debian packages with apt-get (through `sudo -n` unless root), updating the package
/// lists first if the install fails on a fresh machine.
pub(crate) fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    let as_root = process::output("id", &["-u"]).as_deref() == Some("0");
    let apt = |args: &[&str]| {
        let mut cmd = if as_root { Command::new("apt-get") } else { Command::new("sudo") };
        if !as_root {
            cmd.args(["-n", "apt-get"]);
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    let mut install: Vec<&str> = vec!["install", "-y", "-q"];
    install.extend(packages);
    if process::run(&mut apt(&install)).is_err() {
        // A fresh machine may have no package lists yet.
        process::run(&mut apt(&["update", "-q"]))?;
        process::run(&mut apt(&install))?;
    }
    Ok(())
}
