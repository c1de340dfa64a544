//! `qcold guard -- CMD …`: the output guard.

use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitCode;

use anyhow::Context as _;
use qcold_server::guard::{self, Guarded, Limits};

use crate::cli::GuardArgs;

pub(crate) fn run(args: &GuardArgs) -> anyhow::Result<ExitCode> {
    let limits = Limits { max_bytes: args.max_bytes, max_lines: args.max_lines };
    match guard::run(&args.command, limits).with_context(|| format!("cannot run {:?}", args.command[0]))? {
        Guarded::Finished { status, stdout, stderr } => {
            std::io::stdout().lock().write_all(&stdout)?;
            std::io::stderr().lock().write_all(&stderr)?;
            // A signal death is reported the way shells do: 128 + the signal number.
            let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        Guarded::Overflowed { bytes, lines } => {
            eprintln!("{}", Guarded::summary(bytes, lines, limits));
            Ok(ExitCode::from(2))
        }
    }
}
