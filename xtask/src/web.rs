//! Builds the dashboard with trunk, offline, into `crates/qcold-web/dist`.

use std::process::Command;

use crate::process;
use crate::setup::WebTools;

/// Runs `trunk build --release` with our `wasm-opt` first on PATH.
pub(crate) fn build(tools: &WebTools) -> anyhow::Result<()> {
    crate::step("web: trunk build --release (offline)");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![tools.binaryen_bin.clone()];
    dirs.extend(std::env::split_paths(&path));
    let web = crate::root().join("crates/qcold-web");
    process::run(
        Command::new("trunk")
            .args(["build", "--release"])
            .current_dir(&web)
            .env("PATH", std::env::join_paths(dirs)?)
            // trunk reads NO_COLOR as a boolean flag and rejects the common `NO_COLOR=1`.
            .env_remove("NO_COLOR"),
    )?;
    let index = web.join("dist/index.html");
    anyhow::ensure!(index.is_file(), "trunk reported success but {} is missing", index.display());
    Ok(())
}
