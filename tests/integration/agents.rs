//! `qcold agent …` with real tmux and small scripted agents.

use std::collections::BTreeSet;
use std::time::Duration;

use qcold_tests::{Env, wait_until};

fn list(env: &Env) -> Vec<serde_json::Value> {
    serde_json::from_str(&env.qcold(&["agent", "list", "--json"]).ok()).unwrap()
}

fn agent(env: &Env, id: &str) -> serde_json::Value {
    list(env).into_iter().find(|a| a["id"] == id).unwrap_or_else(|| panic!("no agent {id}"))
}

fn tail(env: &Env, selector: &str) -> String {
    env.qcold(&["agent", "tail", selector, "--lines", "50"]).ok()
}

/// `(pid, ppid, pgid, zombie)` of every process.
fn processes() -> Vec<(u32, u32, u32, bool)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let fields: Vec<String> = stat.rsplit_once(')')?.1.split_whitespace().map(str::to_owned).collect();
            Some((pid, fields[1].parse().ok()?, fields[2].parse().ok()?, fields[0] == "Z"))
        })
        .collect()
}

/// The live descendants of `root`, itself included.
fn live_tree(root: u32) -> BTreeSet<u32> {
    let table = processes();
    let mut tree = BTreeSet::from([root]);
    loop {
        let before = tree.len();
        for (pid, ppid, _, _) in &table {
            if tree.contains(ppid) {
                tree.insert(*pid);
            }
        }
        if tree.len() == before {
            return tree.into_iter().filter(|p| table.iter().any(|(pid, _, _, zombie)| pid == p && !zombie)).collect();
        }
    }
}

#[test]
fn detached_agent_records_its_exit_code_and_output() {
    let env = Env::new();
    let out = env
        .qcold(&[
            "agent",
            "start",
            "--track",
            "t",
            "--id",
            "once",
            "--",
            "sh",
            "-c",
            "echo from-agent; echo oops >&2; exit 3",
        ])
        .ok();
    assert!(out.contains("started agent once"), "{out}");
    assert!(
        wait_until(Duration::from_secs(10), || agent(&env, "once")["state"] == "exited"),
        "{:?}",
        agent(&env, "once")
    );
    let record = agent(&env, "once");
    assert_eq!(record["code"], 3);
    assert_eq!(record["argv"], serde_json::json!(["sh", "-c", "echo from-agent; echo oops >&2; exit 3"]));
    assert_eq!(tail(&env, "once"), "from-agent\n");
    let stderr_log = record["stderr_log"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(stderr_log).unwrap(), "oops\n");
    assert!(env.qcold(&["agent", "list"]).ok().contains("exited 3"));
}

#[test]
fn terminal_agent_shows_colour_takes_input_and_records_its_exit() {
    let env = Env::new();
    let script = r#"printf '\033[31mready\033[0m\n'; read line; echo "got:$line"; read key; echo "then:$key"; exit 5"#;
    env.qcold(&[
        "agent",
        "start",
        "--track",
        "t",
        "--id",
        "term",
        "--name",
        "Chatty",
        "--terminal",
        "--",
        "sh",
        "-c",
        script,
    ])
    .ok();
    assert!(wait_until(Duration::from_secs(10), || tail(&env, "term").contains("ready")));
    let coloured = tail(&env, "chatty");
    assert!(coloured.contains("\u{1b}[31mready"), "ANSI colours are kept: {coloured:?}");

    env.qcold(&["agent", "send", "term", "hello agent"]).ok();
    assert!(
        wait_until(Duration::from_secs(10), || tail(&env, "term").contains("got:hello agent")),
        "{}",
        tail(&env, "term")
    );
    env.qcold(&["agent", "send", "term", "partial", "--literal"]).ok();
    assert!(wait_until(Duration::from_secs(5), || tail(&env, "term").contains("partial")));
    assert!(!tail(&env, "term").contains("then:"), "--literal does not submit");
    env.qcold(&["agent", "send", "term", "--key", "Enter"]).ok();
    assert!(wait_until(Duration::from_secs(10), || agent(&env, "term")["state"] == "exited"), "{}", tail(&env, "term"));
    assert_eq!(agent(&env, "term")["code"], 5, "the terminal agent's exit code is recorded");
}

#[test]
fn stop_ends_the_whole_tree_of_both_kinds() {
    let env = Env::new();
    // Children in the background, one of which escapes the process group with setsid.
    let script = "sleep 300 & setsid sleep 301 & (sleep 302 &) ; sleep 303";
    env.qcold(&["agent", "start", "--track", "t", "--id", "bg", "--", "sh", "-c", script]).ok();
    env.qcold(&["agent", "start", "--track", "t", "--id", "tm", "--terminal", "--", "sh", "-c", script]).ok();
    for id in ["bg", "tm"] {
        let pid = u32::try_from(agent(&env, id)["pid"].as_u64().unwrap()).unwrap();
        assert!(wait_until(Duration::from_secs(10), || live_tree(pid).len() >= 5), "{id}: {:?}", live_tree(pid));
        let before = live_tree(pid);
        let out = env.qcold(&["agent", "stop", id]).ok();
        assert!(out.contains("none survive"), "{out}");
        let survivors: Vec<u32> =
            before.iter().copied().filter(|p| processes().iter().any(|(q, _, _, z)| q == p && !z)).collect();
        assert!(survivors.is_empty(), "{id}: processes of the agent survived: {survivors:?}");
        assert_ne!(agent(&env, id)["state"], "running");
    }
}

#[test]
fn selectors_labels_and_prune() {
    let env = Env::new();
    for id in ["a1", "a2"] {
        env.qcold(&["agent", "start", "--track", "t", "--id", id, "--name", "twin", "--", "true"]).ok();
    }
    env.qcold(&["agent", "tail", "twin"]).fails_with("\"twin\" matches several agents: a1, a2; use an id");
    env.qcold(&["agent", "stop", "ghost"]).fails_with("no agent matches \"ghost\"; agents: a1, a2");
    let out = env.qcold(&["agent", "label", "a2", "--name", "  Review   bot ", "--scope", "web"]).ok();
    assert!(out.contains("name Review bot, scope web"), "{out}");
    assert_eq!(agent(&env, "a2")["scope"], "web");
    env.qcold(&["agent", "tail", "review bot"]).ok();

    assert!(wait_until(Duration::from_secs(10), || list(&env).iter().all(|a| a["state"] == "exited")));
    let dry = env.qcold(&["agent", "prune", "--max-age-hours", "0", "--dry-run"]).ok();
    assert!(dry.contains("would prune 2 agent(s)"), "{dry}");
    assert_eq!(list(&env).len(), 2);
    env.qcold(&["agent", "prune", "--max-age-hours", "0"]).ok();
    assert!(list(&env).is_empty());
    assert!(!env.state_dir().join("agents/a1").exists(), "prune removes the agent's files");
}

#[test]
fn bad_input_starts_nothing() {
    let env = Env::new();
    env.qcold(&["agent", "start", "--track", "t", "--"]).fails_with("required arguments were not provided");
    env.qcold(&["agent", "start", "--track", "t", "--", "no-such-agent-binary"])
        .fails_with("command not found: no-such-agent-binary");
    env.qcold(&["agent", "start", "--track", "t", "--cwd", "missing-dir", "--", "true"])
        .fails_with("working directory missing-dir does not exist");
    env.qcold(&["agent", "start", "--track", "bad track", "--", "true"])
        .fails_with("track \"bad track\" must be non-empty");
    env.qcold(&["agent", "start", "--track", "t", "--id", "-x", "--", "true"]).fails_with("unexpected argument");
    // A PATH without tmux.
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    let out = env
        .command()
        .args(["agent", "start", "--track", "t", "--terminal", "--", "sh"])
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tmux is not installed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(list(&env).is_empty(), "nothing was started");

    env.qcold(&["agent", "start", "--track", "t", "--id", "plain", "--", "true"]).ok();
    env.qcold(&["agent", "start", "--track", "t", "--id", "plain", "--", "true"])
        .fails_with("an agent with id plain already exists");
    env.qcold(&["agent", "send", "plain", "hi"]).fails_with("runs without a terminal");
    env.qcold(&["agent", "attach", "plain"]).fails_with("runs without a terminal");
    env.qcold(&["agent", "attach", "nobody"]).fails_with("no agent matches \"nobody\"; agents: plain");
    env.qcold(&["agent", "send", "plain", "--key", "F13"]).fails_with("unknown key \"F13\"");
}

fn commands(env: &Env, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["agent", "command", "list", "--json"];
    args.extend(extra);
    serde_json::from_str(&env.qcold(&args).ok()).unwrap()
}

#[test]
fn agent_commands_report_readiness_with_reasons_and_cache_it() {
    let env = Env::new();
    let counter = env.path().join("probes");
    let probe = format!("sh -c 'echo run >> {}; echo agent-cli 1.2.3'", counter.display());
    env.qcold(&["agent", "command", "add", "good", "--probe", &probe, "--", "sh", "-c", "exit 0"]).ok();
    env.qcold(&[
        "agent",
        "command",
        "add",
        "limited",
        "--probe",
        "sh -c 'echo quota exhausted >&2; exit 4'",
        "--",
        "true",
    ])
    .ok();
    env.qcold(&["agent", "command", "add", "missing", "--", "no-such-agent-cli-qcold", "{packet}"]).ok();

    let listed = commands(&env, &[]);
    let by_name = |name: &str| listed.iter().find(|c| c["name"] == name).unwrap().clone();
    assert_eq!(by_name("good")["readiness"]["ready"], true);
    assert_eq!(by_name("good")["readiness"]["reason"], "agent-cli 1.2.3");
    assert_eq!(by_name("limited")["readiness"]["ready"], false);
    assert_eq!(by_name("limited")["readiness"]["reason"], "probe exited 4: quota exhausted");
    assert_eq!(by_name("missing")["readiness"]["reason"], "no-such-agent-cli-qcold not found");

    commands(&env, &[]);
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        1,
        "a fresh result is served from the cache"
    );
    commands(&env, &["--refresh"]);
    assert_eq!(std::fs::read_to_string(&counter).unwrap().lines().count(), 2, "--refresh probes again");

    // An expired result is served at once and refreshed by a background probe.
    let conn = rusqlite::Connection::open(env.state_dir().join("qcold.sqlite3")).unwrap();
    conn.execute("UPDATE agent_command_readiness SET checked_at = checked_at - 3600 WHERE name = 'good'", []).unwrap();
    let table = env.qcold(&["agent", "command", "list"]).ok();
    assert!(table.lines().any(|l| l.starts_with("good") && l.contains("ready (refreshing)")), "{table}");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&counter).unwrap().lines().count() == 3),
        "the background probe ran"
    );
    let now =
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap();
    let checked_at = || {
        conn.query_row("SELECT checked_at FROM agent_command_readiness WHERE name = 'good'", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    assert!(wait_until(Duration::from_secs(10), || checked_at() >= now - 60), "the cache holds a fresh result again");

    assert_eq!(env.qcold(&["agent", "command", "choose", "limited", "good"]).ok().trim(), "good");
    env.qcold(&["agent", "command", "choose", "limited", "missing", "ghost"]).fails_with(
        "no agent command is ready: limited: probe exited 4: quota exhausted; missing: no-such-agent-cli-qcold not found; ghost: no such agent command",
    );
}

#[test]
fn agent_commands_get_the_packet_as_an_argument_or_on_stdin_and_never_an_open_pipe() {
    let env = Env::new();
    let packet = env.path().join("packet.md");
    std::fs::write(&packet, "Fix the login; don't `rm -rf` anything.\n").unwrap();
    env.qcold(&[
        "agent",
        "command",
        "add",
        "arg",
        "--",
        "sh",
        "-c",
        "read x || echo stdin-empty; printf 'packet=%s\\n' \"$1\"; echo cwd={cwd}",
        "sh",
        "{packet}",
    ])
    .ok();
    env.qcold(&["agent", "command", "add", "piped", "--stdin", "--", "sh", "-c", "cat; echo file={packet_file}"]).ok();
    for name in ["arg", "piped"] {
        env.qcold(&["agent", "command", "run", name, "--packet-file", packet.to_str().unwrap(), "--track", "t"]).ok();
    }
    assert!(wait_until(Duration::from_secs(10), || list(&env).iter().all(|a| a["state"] == "exited")));
    let agents = list(&env);
    let out = |name: &str| {
        let agent = agents.iter().find(|a| a["name"] == name).unwrap();
        std::fs::read_to_string(agent["stdout_log"].as_str().unwrap()).unwrap()
    };
    let cwd = env.path().canonicalize().unwrap();
    assert_eq!(
        out("arg"),
        format!("stdin-empty\npacket=Fix the login; don't `rm -rf` anything.\n\ncwd={}\n", cwd.display())
    );
    assert_eq!(
        out("piped"),
        format!("Fix the login; don't `rm -rf` anything.\nfile={}\n", packet.canonicalize().unwrap().display())
    );

    // In a terminal, stdin would be the tty and `read` would wait forever; it gets /dev/null.
    let started =
        env.qcold(&["agent", "command", "run", "arg", "--packet-file", packet.to_str().unwrap(), "--terminal"]).ok();
    let id = started.split_whitespace().nth(2).unwrap().to_owned();
    assert!(
        wait_until(Duration::from_secs(10), || agent(&env, &id)["state"] == "exited"),
        "the terminal agent was left waiting on stdin"
    );
    assert_eq!(agent(&env, &id)["code"], 0);
}

#[test]
fn codex_and_claude_on_path_are_offered_and_bad_commands_refused() {
    let env = Env::new();
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("codex");
    std::fs::write(&fake, "#!/bin/sh\necho codex-cli 0.99\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let out = env.command().args(["agent", "command", "list", "--json"]).env("PATH", &path).output().unwrap();
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let codex = listed.iter().find(|c| c["name"] == "codex").expect("codex is offered");
    assert_eq!(codex["source"], "default");
    assert_eq!(codex["preset"], "codex");
    // This codex prints its version for `exec --help` too, so it lacks the flag the preset passes.
    assert_eq!(codex["readiness"]["ready"], false);
    assert!(codex["readiness"]["reason"].as_str().unwrap().contains("does not list --dangerously-bypass"), "{codex}");
    assert!(!listed.iter().any(|c| c["name"] == "claude"), "claude is not on this PATH");

    env.qcold(&["agent", "command", "add", "x", "--", "tool", "{prompt}"])
        .fails_with("unknown placeholder \"{prompt}\"");
    env.qcold(&["agent", "command", "add", "x", "--", "{packet}"]).fails_with("must be a name or path");
    env.qcold(&["agent", "command", "add", "x", "--probe", "sh -c 'unclosed", "--", "true"])
        .fails_with("cannot be split into arguments");
    env.qcold(&["agent", "command", "add", "bad name", "--", "true"]).fails_with("agent command name \"bad name\"");
    env.qcold(&["agent", "command", "remove", "x"]).fails_with("no agent command \"x\" is registered");
    assert!(commands(&env, &[]).iter().all(|c| c["name"] != "x"));
}

#[test]
fn node_snapshot_reports_managed_agents_and_their_sessions() {
    let env = Env::new();
    env.qcold(&["agent", "start", "--track", "t", "--id", "watched", "--terminal", "--", "sleep", "300"]).ok();
    let snapshot: qcold_core::NodeSnapshot = serde_json::from_str(&env.qcold(&["node", "snapshot"]).ok()).unwrap();
    let managed = &snapshot.managed;
    assert_eq!(managed.agents.len(), 1);
    assert!(managed.agents[0].running && managed.agents[0].id == "watched");
    assert_eq!(managed.sessions[0].session, "qcold-watched");
    assert_eq!(managed.status, qcold_core::BlockStatus::Fresh);

    env.qcold(&["agent", "stop", "watched"]).ok();
    let snapshot: qcold_core::NodeSnapshot = serde_json::from_str(&env.qcold(&["node", "snapshot"]).ok()).unwrap();
    assert!(!snapshot.managed.agents[0].running);
    assert!(snapshot.managed.sessions.is_empty());
    assert_eq!(snapshot.managed.status, qcold_core::BlockStatus::Stale, "an exited agent still registered is stale");
    env.qcold(&["agent", "prune", "--max-age-hours", "0"]).ok();
    let snapshot: qcold_core::NodeSnapshot = serde_json::from_str(&env.qcold(&["node", "snapshot"]).ok()).unwrap();
    assert_eq!(snapshot.managed.status, qcold_core::BlockStatus::Fresh);
}

#[test]
fn the_listing_is_one_line_per_agent_whatever_its_arguments_hold() {
    let env = Env::new();
    // A packet given as an argument is pages of text.
    let packet = "# Q-COLD task packet\n\n- run: r1\n".repeat(40);
    env.qcold(&["agent", "start", "--track", "t", "--id", "p1", "--", "echo", &packet]).ok();
    env.qcold(&["agent", "start", "--track", "t", "--id", "p2", "--", "true"]).ok();
    let listing = env.qcold(&["agent", "list"]).ok();
    let rows: Vec<&str> = listing.lines().filter(|l| l.starts_with("p1") || l.starts_with("p2")).collect();
    assert_eq!(rows.len(), 2, "{listing}");
    assert!(listing.lines().count() <= 3, "a header and one line each: {listing}");
    assert!(rows[0].contains("echo # Q-COLD task packet - run: r1") && rows[0].ends_with('…'), "{listing}");
}
