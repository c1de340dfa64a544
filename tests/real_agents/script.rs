//! The scripted model's mind, agent-neutral: what it does next, read from directives in the task
//! packet's prompt and the results of the commands it already ran.
//!
//! Directives are prompt lines starting `model: `:
//! - `model: run <shell command>`: run the command through the agent's shell tool, in order; a
//!   command that fails makes the model close out as failed, naming it;
//! - `model: wait-for <path>`: hold the next step (a model thinking) until the file exists;
//! - `model: quit on iteration <n>`: on that iteration, end the turn without closing out;
//! - `model: block <reason>`: close out as blocked with that reason;
//! - otherwise, after the commands, run the packet's own success closeout line.
//!
//! The closeout commands are the packet's own (qcold by the absolute path it prints), so a
//! scenario proves an agent can close out from what the packet says alone.

use std::path::PathBuf;

/// How every task packet starts.
pub(crate) const PACKET_HEADER: &str = "# Q-COLD task packet";

/// How a command the model ran ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It succeeded.
    Ok,
    /// It failed; how (`exited with code 2`).
    Failed(String),
}

/// What the model does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Run a shell command, after waiting for `hold` to exist.
    Run { command: String, hold: Option<PathBuf> },
    /// Say this and end the turn.
    Say(String),
}

/// The next step for `packet`, given the outcomes of the commands already run, in order.
pub(crate) fn next(packet: &str, done: &[Outcome]) -> Next {
    let plan = Plan::read(packet);
    if plan.quit {
        return Next::Say("scripted model: stopping here without closing out".into());
    }
    let step = done.len();
    let failed = done.iter().take(plan.commands.len()).enumerate().find_map(|(k, o)| match o {
        Outcome::Failed(how) => Some((k, how)),
        Outcome::Ok => None,
    });
    if let Some((k, how)) = failed {
        if step > k + 1 {
            return Next::Say("scripted model: closed out as failed".into());
        }
        let reason = format!("`{}` {how}", plan.commands[k].0);
        return Next::Run { command: closeout(packet, "failed", &reason), hold: None };
    }
    match plan.commands.get(step) {
        Some((command, hold)) => Next::Run { command: command.clone(), hold: hold.clone() },
        None if step == plan.commands.len() => {
            let command = match &plan.block {
                Some(reason) => closeout(packet, "blocked", reason),
                None => closeout(packet, "success", &format!("{}: scripted change", slug(packet))),
            };
            Next::Run { command, hold: plan.final_hold }
        }
        None => Next::Say("scripted model: closed out".into()),
    }
}

/// The directives of a packet.
#[derive(Debug, Default)]
struct Plan {
    /// Commands in order, each with the file to wait for before running it.
    commands: Vec<(String, Option<PathBuf>)>,
    /// A file to wait for before the closeout.
    final_hold: Option<PathBuf>,
    block: Option<String>,
    quit: bool,
}

impl Plan {
    fn read(packet: &str) -> Self {
        let iteration = packet
            .lines()
            .find_map(|l| l.strip_prefix("- iteration: "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or("1");
        let mut plan = Self::default();
        let mut hold = None;
        // Directives are the item's prompt's (all of a text that is no packet); a recovery
        // section quotes an earlier terminal, which may echo that prompt (Codex prints it), and
        // must not add them a second time.
        let sectioned = packet.lines().any(|l| l.trim_end() == "## Prompt");
        let prompt = packet
            .lines()
            .skip_while(|l| sectioned && l.trim_end() != "## Prompt")
            .skip(usize::from(sectioned))
            .take_while(|l| !sectioned || !l.starts_with("## "));
        for line in prompt.filter_map(|l| l.trim().strip_prefix("model: ")) {
            if let Some(cmd) = line.strip_prefix("run ") {
                plan.commands.push((cmd.to_owned(), hold.take()));
            } else if let Some(path) = line.strip_prefix("wait-for ") {
                hold = Some(PathBuf::from(path.trim()));
            } else if let Some(n) = line.strip_prefix("quit on iteration ") {
                plan.quit |= n.trim() == iteration;
            } else if let Some(reason) = line.strip_prefix("block ") {
                plan.block = Some(reason.trim().to_owned());
            }
        }
        plan.final_hold = hold;
        plan
    }
}

/// The item's slug, from the packet's header.
fn slug(packet: &str) -> &str {
    packet
        .lines()
        .next()
        .and_then(|l| l.strip_prefix(PACKET_HEADER))
        .and_then(|l| l.strip_prefix(": "))
        .unwrap_or("item")
        .trim()
}

/// The packet's own closeout command for `outcome` (its qcold named as the packet names it),
/// with `text` as the message or reason.
fn closeout(packet: &str, outcome: &str, text: &str) -> String {
    let needle = format!(" task closeout --outcome {outcome} ");
    let bin = packet
        .lines()
        .find_map(|l| l.split_once('`').and_then(|(_, rest)| rest.split_once(needle.as_str())).map(|(bin, _)| bin))
        .unwrap_or("qcold-closeout-line-not-found");
    let flag = if outcome == "success" { "--message" } else { "--reason" };
    format!("{bin} task closeout --outcome {outcome} {flag} {}", shell_quote(text))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: &str = "# Q-COLD task packet: a\n\n- iteration: 1 of at most 3\n\n## Prompt\n\nmodel: run echo hi\n\n\
        - `\"/opt/q cold/qcold\" task closeout --outcome success --message \"<commit message>\"` delivers\n\
        - `\"/opt/q cold/qcold\" task closeout --outcome blocked --reason \"<why>\"` when\n\
        - `\"/opt/q cold/qcold\" task closeout --outcome failed --reason \"<why>\"` when\n";

    fn run(command: &str) -> Next {
        Next::Run { command: command.into(), hold: None }
    }

    #[test]
    fn the_model_runs_its_commands_then_the_packets_own_closeout() {
        assert_eq!(next(PACKET, &[]), run("echo hi"));
        assert_eq!(
            next(PACKET, &[Outcome::Ok]),
            run("\"/opt/q cold/qcold\" task closeout --outcome success --message 'a: scripted change'")
        );
        assert_eq!(next(PACKET, &[Outcome::Ok, Outcome::Ok]), Next::Say("scripted model: closed out".into()));
        let failed = [Outcome::Failed("exited with code 2".into())];
        assert_eq!(
            next(PACKET, &failed),
            run("\"/opt/q cold/qcold\" task closeout --outcome failed --reason '`echo hi` exited with code 2'")
        );
    }

    #[test]
    fn directives_hold_quit_and_block() {
        let held = PACKET.replace("model: run echo hi", "model: wait-for /g\nmodel: run echo hi\nmodel: wait-for /h");
        assert_eq!(next(&held, &[]), Next::Run { command: "echo hi".into(), hold: Some("/g".into()) });
        assert!(
            matches!(next(&held, &[Outcome::Ok]), Next::Run { hold: Some(h), .. } if h.as_path() == std::path::Path::new("/h"))
        );
        let quit = PACKET.replace("model: run echo hi", "model: quit on iteration 1");
        assert_eq!(next(&quit, &[]), Next::Say("scripted model: stopping here without closing out".into()));
        let later = quit.replace("- iteration: 1 of", "- iteration: 2 of");
        assert!(matches!(next(&later, &[]), Next::Run { command, .. } if command.contains("--outcome success")));
        // A recovery section quoting the earlier terminal's echo of the prompt adds nothing.
        let recovery = format!("{PACKET}\n## Recovery: earlier attempts failed\n\n```text\nmodel: run echo hi\n```\n");
        assert_eq!(next(&recovery, &[Outcome::Ok]), next(PACKET, &[Outcome::Ok]));
        let block = PACKET.replace("model: run echo hi", "model: block needs an API key");
        assert_eq!(
            next(&block, &[]),
            run("\"/opt/q cold/qcold\" task closeout --outcome blocked --reason 'needs an API key'")
        );
    }
}
