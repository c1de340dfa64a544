//! The task packet: everything an agent needs to do one queue item, written to a file it is
//! pointed at (`QCOLD_PACKET_FILE`, or the `{packet_file}`/`{packet}` placeholders).
//!
//! Its commands name qcold by absolute path: agents run them in shells of their own (Codex in a
//! login shell, whose `/etc/profile` resets `PATH`), where `qcold` alone may not be found.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use qcold_core::queue::wire::Run;
use qcold_core::queue::{Attempt, ItemRecord};
use qcold_core::task::TaskRecord;
use qcold_core::{ItemId, RunId};

use crate::Config;

/// Where an item's packets and captured logs live.
pub(super) fn dir(config: &Config, run: &RunId, item: &ItemId) -> PathBuf {
    config.state_dir.join("queue").join(run.as_str()).join(item.as_str())
}

/// Where the terminal log of the iteration run by `agent` is kept: beside the item's packets.
pub(super) fn attempt_log(config: &Config, run: &RunId, item: &ItemId, agent: &str) -> PathBuf {
    dir(config, run, item).join(format!("attempt-{agent}.log"))
}

/// `path` as one shell word: in double quotes, as the packet shows it, unless it holds a
/// character double quotes do not protect.
fn shell_word(path: &Path) -> String {
    let text = path.to_string_lossy();
    if text.contains(['"', '$', '`', '\\', '!']) {
        shell_words::quote(&text).into_owned()
    } else {
        format!("\"{text}\"")
    }
}

/// The packet of iteration `iteration` (from 1) of `item`; earlier attempts are listed so a
/// recovery knows what was tried and how it failed. `qcold` is the binary the closeout
/// commands name.
pub(super) fn render(
    qcold: &Path,
    run: &Run,
    item: &ItemRecord,
    task: &TaskRecord,
    iteration: u32,
    max_iterations: u32,
    earlier: &[Attempt],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Q-COLD task packet: {}", item.slug);
    let _ = writeln!(out);
    let _ = writeln!(out, "- run: {} (item {}, position {})", run.id, item.id, item.position);
    let _ = writeln!(out, "- repository: {} at {}", task.repo, task.primary);
    let _ = writeln!(out, "- task: {} on branch {}", task.id, task.branch);
    let _ = writeln!(out, "- worktree: {}", task.worktree);
    let _ = writeln!(out, "- base branch: {} at {}", task.base_branch, task.base_commit);
    let _ = writeln!(out, "- iteration: {iteration} of at most {max_iterations}");
    let _ = writeln!(out);
    let _ = writeln!(out, "## Prompt");
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", item.prompt.trim_end());
    let _ = writeln!(out);
    let _ = writeln!(out, "## How to close out");
    let _ = writeln!(out);
    let _ = writeln!(out, "Work only in the worktree above and commit your changes there. Then, from the worktree:");
    let _ = writeln!(out);
    let bin = shell_word(qcold);
    let _ =
        writeln!(out, "- `{bin} task closeout --outcome success --message \"<commit message>\"` delivers the branch");
    let _ = writeln!(out, "  through the repository's validation; if validation fails, fix it and run it again;");
    let _ = writeln!(out, "- `{bin} task closeout --outcome blocked --reason \"<why>\"` when you cannot proceed;");
    let _ = writeln!(out, "- `{bin} task closeout --outcome failed --reason \"<why>\"` when the task cannot be done.");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "qcold is named by its full path because your shell's PATH may not hold it; `$QCOLD_BIN` holds the same path."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Exiting without closing out counts as a failed iteration.");
    let failed: Vec<&Attempt> = earlier.iter().filter(|a| a.failure.is_some()).collect();
    if !failed.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "## Recovery: earlier attempts failed");
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "This is a recovery. Read what the earlier attempts left (task records, bundles, logs), find why they \
             failed, and make one careful attempt that avoids it."
        );
        for a in failed {
            let _ = writeln!(out);
            let _ = writeln!(out, "### Iteration {}", a.iteration);
            let _ = writeln!(out, "- failure: {}", a.failure.as_deref().unwrap_or(""));
            let _ = writeln!(out, "- agent command: {}", a.agent_command);
            for (label, value) in [
                ("agent", &a.agent_id),
                ("task", &a.task_id),
                ("terminal", &a.terminal),
                ("log", &a.log),
                ("bundle", &a.bundle),
            ] {
                if let Some(value) = value {
                    let _ = writeln!(out, "- {label}: {value}");
                }
            }
            if let Some(tail) = a.log.as_deref().and_then(|log| log_tail(Path::new(log), LOG_TAIL_LINES)) {
                let _ = writeln!(out, "- the end of its terminal:");
                let _ = writeln!(out);
                let _ = writeln!(out, "```text");
                let _ = writeln!(out, "{tail}");
                let _ = writeln!(out, "```");
            }
        }
    }
    out
}

/// How many lines of a failed iteration's terminal a recovery packet carries.
const LOG_TAIL_LINES: usize = 40;

/// The last `lines` non-blank lines of a terminal log, as plain text; `None` without one.
fn log_tail(log: &Path, lines: usize) -> Option<String> {
    let raw = std::fs::read(log).ok()?;
    // Only the end matters, and a log may be large.
    let start = raw.len().saturating_sub(64 * 1024);
    let text = qcold_core::terminal::plain_text(&String::from_utf8_lossy(&raw[start..]));
    let kept: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = kept[kept.len().saturating_sub(lines)..].join("\n");
    (!tail.is_empty()).then_some(tail)
}

#[cfg(test)]
mod tests {
    use qcold_core::queue::ExecutionMode;
    use qcold_core::queue::graph::normalize;
    use qcold_core::queue::package::parse_json;

    use super::*;
    use crate::store::Store;

    #[test]
    fn every_closeout_command_names_qcold_by_its_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), std::time::Duration::from_secs(5)).unwrap();
        let package = parse_json(r#"{"items": [{"id": "a", "prompt": "do a"}]}"#).unwrap();
        let id: RunId = "run-1".parse().unwrap();
        let items = normalize(&package, 1).unwrap().items;
        store.insert_run(&id, &"web".parse().unwrap(), ExecutionMode::Sequence, None, &items, 1).unwrap();
        let run = store.run(&id).unwrap().unwrap();
        let task = TaskRecord {
            id: "web/001-a".into(),
            repo: "web".parse().unwrap(),
            slug: "a".parse().unwrap(),
            sequence: 1,
            status: qcold_core::TaskStatus::Open,
            profile: None,
            prompt: None,
            branch: "task/a".into(),
            worktree: "/wt/a".into(),
            primary: "/repo".into(),
            base_branch: "main".parse().unwrap(),
            base_commit: "0".repeat(40),
            failed_phase: None,
            closeout_failure: None,
            created_at: 1,
            updated_at: 1,
            closed_at: None,
        };
        let qcold = Path::new("/opt/q cold/bin/qcold");
        let packet = render(qcold, &run, &run.items[0], &task, 1, 3, &[]);
        let closeouts: Vec<&str> = packet.lines().filter(|l| l.contains("task closeout")).collect();
        assert_eq!(closeouts.len(), 3, "{packet}");
        for line in &closeouts {
            assert!(line.starts_with("- `\"/opt/q cold/bin/qcold\" task closeout --outcome "), "{line}");
        }
        assert!(packet.contains("`$QCOLD_BIN`"), "{packet}");
        assert_eq!(shell_word(Path::new("/a/$x/qcold")), "'/a/$x/qcold'");
    }
}
