//! `cargo xtask ci`: the definition of green.

use crate::process::{self, cargo};

pub(crate) fn run() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let tools = crate::setup::all()?;

    crate::step("fmt");
    process::run(cargo().args(["fmt", "--all", "--check"]))?;

    crate::step("clippy (native)");
    process::run(cargo().args(["clippy", "--all-targets", "--locked", "--", "-D", "warnings"]))?;

    crate::step("clippy (wasm32: qcold-core, qcold-web)");
    process::run(cargo().args([
        "clippy",
        "--locked",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "qcold-core",
        "-p",
        "qcold-web",
        "--",
        "-D",
        "warnings",
    ]))?;

    crate::web::build(&tools)?;

    crate::step("build qcold (embeds the dashboard)");
    process::run(cargo().args(["build", "--locked", "-p", "qcold-cli"]))?;

    crate::step("tests");
    // No backtraces: a failing test's own message is what names the fault, and a CI log that is
    // shown shortened keeps it only if no backtrace pushes it out (rerun locally for one).
    process::run(cargo().args(["test", "--locked"]).env("RUST_BACKTRACE", "0"))?;

    // The real agent CLIs, last: everything they rely on is proven by then.
    crate::real_agents::run()?;

    eprintln!("\nci: all green in {:.0?}", started.elapsed());
    Ok(())
}
