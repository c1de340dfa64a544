//! `qcold status`: the active repository, its branch and uncommitted files.

use qcold_server::Config;
use qcold_server::store::Store;

use crate::cli::StatusArgs;
use crate::output;

pub(crate) fn run(config: &Config, args: &StatusArgs) -> anyhow::Result<()> {
    let store = Store::open(&config.state_dir, config.sqlite_busy_timeout)?;
    let report = qcold_server::status::report(&store)?;
    if args.json {
        return output::json(&report, false);
    }
    let Some(repo) = &report.repository else {
        return output::line("no active repository; `qcold repo add <id> <root> --set-active` registers one");
    };
    output::line(format_args!("repository  {} ({})", repo.id, repo.root))?;
    let branch = report.branch.as_deref().unwrap_or("(detached HEAD)");
    output::line(format_args!("branch      {branch} (default {})", repo.default_branch))?;
    if report.dirty_files.is_empty() {
        return output::line("primary     clean");
    }
    output::line(format_args!("primary     {} uncommitted file(s)", report.dirty_files.len()))?;
    for file in &report.dirty_files {
        output::line(format_args!("  {} {}", file.code, file.path))?;
    }
    Ok(())
}
