//! `cargo xtask chaos`: the chaos suite's long form — many trials of a large graph run whose
//! daemon is killed at random moments, then every fault point — with the figures printed.
//!
//! The trials themselves are the ignored test `chaos::chaos_long_form` of the integration suite
//! (the short form runs in `cargo xtask ci`); this task passes its parameters and runs it.

use crate::process::{self, cargo};

const FLAGS: [(&str, &str, &str); 6] = [
    ("--trials", "QCOLD_CHAOS_TRIALS", "10"),
    ("--kills", "QCOLD_CHAOS_KILLS", "20"),
    ("--items", "QCOLD_CHAOS_ITEMS", "50"),
    ("--waves", "QCOLD_CHAOS_WAVES", "4"),
    ("--gap-ms", "QCOLD_CHAOS_GAP_MS", "1000"),
    ("--seed", "QCOLD_CHAOS_SEED", "from the clock"),
];

/// The usage lines of `cargo xtask chaos`.
pub(crate) fn usage() -> String {
    let mut text =
        String::from("  chaos   the chaos suite's long form: random kill -9 trials, then every fault point\n");
    for (flag, var, default) in FLAGS {
        text.push_str(&format!("          [{flag} N]  (or {var}; default {default})\n"));
    }
    text.trim_end().to_owned()
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut cmd = cargo();
    cmd.args(["test", "-p", "qcold-tests", "--test", "integration", "--", "--ignored", "--exact"]).args([
        "chaos::chaos_long_form",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let Some((_, var, _)) = FLAGS.iter().find(|(f, _, _)| f == flag) else {
            anyhow::bail!("unknown flag {flag:?} for chaos\n{}", usage());
        };
        let value = rest.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a number"))?;
        anyhow::ensure!(value.parse::<u64>().is_ok(), "{flag} needs a whole number, got {value:?}");
        cmd.env(var, value);
    }
    crate::step("chaos (long form)");
    let started = std::time::Instant::now();
    process::run(&mut cmd)?;
    eprintln!("\nchaos: clean in {:.0?}", started.elapsed());
    Ok(())
}
