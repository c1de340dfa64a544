//! `qcold demo-agent`: the built-in agent of `cargo xtask demo`. It needs no model: it reads its
//! task packet, makes a small real change in the worktree (a note holding the prompt), shows its
//! progress over a few seconds, and closes the task out like any agent would — so a newcomer
//! sees tasks, terminals and deliveries move before wiring up Codex or Claude.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

/// Runs the demo agent on the packet at `packet_file` in the task worktree `worktree`.
pub(crate) fn run(packet_file: &Path, worktree: &Path, pace: Duration) -> anyhow::Result<ExitCode> {
    let packet = std::fs::read_to_string(packet_file)
        .map_err(|e| anyhow::anyhow!("cannot read the packet {}: {e}", packet_file.display()))?;
    let (slug, prompt) = parse(&packet);
    let step = |text: &str| {
        println!("\x1b[1;36mdemo agent\x1b[0m {text}");
        std::thread::sleep(pace);
    };
    step(&format!("read the packet for {slug}"));
    step(&format!("the prompt: {}", prompt.lines().next().unwrap_or("(empty)")));
    let note = worktree.join("notes").join(format!("{slug}.md"));
    std::fs::create_dir_all(note.parent().unwrap_or(worktree))?;
    std::fs::write(&note, format!("# {slug}\n\n{prompt}\n"))?;
    step(&format!("wrote {}", note.strip_prefix(worktree).unwrap_or(&note).display()));
    step("closing the task out");
    let qcold = std::env::current_exe()?;
    let status = Command::new(qcold)
        .args(["task", "closeout", "--outcome", "success", "--message", &format!("demo: note for {slug}")])
        .current_dir(worktree)
        .status()?;
    println!("\x1b[1;36mdemo agent\x1b[0m done ({status})");
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The slug (from the packet's title) and the prompt (its `## Prompt` section).
fn parse(packet: &str) -> (String, String) {
    let slug = packet
        .lines()
        .next()
        .and_then(|l| l.rsplit_once(": "))
        .map_or_else(|| "task".to_owned(), |(_, s)| s.trim().to_owned());
    let mut prompt = Vec::new();
    let mut inside = false;
    for line in packet.lines() {
        if line.starts_with("## ") {
            inside = line == "## Prompt";
            continue;
        }
        if inside {
            prompt.push(line);
        }
    }
    (slug, prompt.join("\n").trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_slug_and_prompt_from_a_packet() {
        let packet = "# Q-COLD task packet: add-notes\n\n- run: r\n\n## Prompt\n\nWrite notes.\nTwo lines.\n\n## How to close out\n\nx\n";
        assert_eq!(parse(packet), ("add-notes".to_owned(), "Write notes.\nTwo lines.".to_owned()));
    }
}
