//! Claude Code (`@anthropic-ai/claude-code`, pinned by `cargo xtask real-agents`) against the
//! scripted Anthropic endpoint: first the CLI alone, then queues run through the `claude` preset.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use qcold_tests::{Env, git, wait_until};
use serde_json::json;

use crate::anthropic::Endpoint;
use crate::world::{LONG, World, agents_bin};

/// `claude -p --dangerously-skip-permissions <prompt>` in `dir`, with its own home and config
/// dir, pointed at `endpoint`; returns (exit code, stdout, stderr).
fn claude_alone(env: &Env, endpoint: &Endpoint, dir: &Path, prompt: &str) -> (i32, String, String) {
    let home = env.path().join("claude-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(agents_bin().join("claude"))
        .args(["-p", "--dangerously-skip-permissions", prompt])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))
        .env("HOME", &home)
        .env("CLAUDE_CONFIG_DIR", home.join(".claude"))
        .env("IS_SANDBOX", "1")
        .envs(endpoint.claude_env())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn claude_alone_runs_the_scripted_models_shell_steps_in_a_git_repo() {
    let env = Env::new();
    let repo = env.git_repo("plain");
    let endpoint = Endpoint::start();
    // Not a packet, but it prints a closeout line as packets do, with `echo` for qcold.
    let prompt = "Make a file.\n\
        model: run echo made > made.txt && git add made.txt && git commit -q -m 'made by claude' && echo committed\n\
        - `echo task closeout --outcome success --message \"<commit message>\"` delivers it\n";
    let (code, stdout, stderr) = claude_alone(&env, &endpoint, &repo, prompt);
    let requests = endpoint.requests();
    let summary: Vec<String> = requests.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(code, 0, "claude exits 0\nstdout: {stdout}\nstderr: {stderr}\nrequests: {summary:?}");
    assert_eq!(std::fs::read_to_string(repo.join("made.txt")).unwrap(), "made\n", "the shell step ran");
    assert_eq!(git(&repo, &["log", "-1", "--format=%s"]).trim(), "made by claude");
    let turns = endpoint.turns();
    assert_eq!(turns.len(), 3, "the step, the closeout line, the end: {summary:?}");
    assert!(turns[0].prompt().contains("model: run echo made"), "{}", turns[0].prompt());
    assert_eq!(turns[1].tool_outputs(), ["committed"], "the shell step's output came back as its tool result");
    assert_eq!(turns[2].tool_outputs()[1], "task closeout --outcome success --message item: scripted change");
    for turn in &turns {
        assert_eq!(turn.body["stream"], true, "Claude Code streams its turns");
    }
    assert!(stdout.contains("scripted model: closed out"), "-p prints the final text: {stdout}");
    assert!(requests.iter().all(|r| r.method != "POST" || r.path.starts_with("/v1/messages")), "{summary:?}");
    assert_eq!(endpoint.outside(), Vec::<String>::new(), "Claude Code reached for nothing but its model");
}

/// A world with a `cc` command of the `claude` preset pointed at its own scripted endpoint.
struct Queue {
    world: World,
    endpoint: Endpoint,
}

impl Queue {
    fn new() -> Self {
        let world = World::new();
        let endpoint = Endpoint::start();
        let config = world.file("claude-config");
        let mut vars: Vec<(&str, String)> = endpoint.claude_env().into_iter().map(|(k, v)| (leak(k), v)).collect();
        vars.push(("CLAUDE_CONFIG_DIR", config.display().to_string()));
        world.add_command("cc", "claude", &vars);
        let reason = world.assert_ready("cc");
        assert!(reason.contains("ANTHROPIC_API_KEY"), "the command's own key logs it in: {reason}");
        Self { world, endpoint }
    }

    /// The packets the endpoint received for item `slug` (its first user messages), in order.
    fn packets_of(&self, slug: &str) -> Vec<String> {
        let title = format!("# Q-COLD task packet: {slug}\n");
        self.endpoint.packets().into_iter().filter(|p| p.starts_with(&title)).collect()
    }

    /// Asserts that the agents asked for nothing but their model (the endpoint is their proxy).
    #[track_caller]
    fn assert_offline(&self) {
        assert_eq!(self.endpoint.outside(), Vec::<String>::new(), "Claude Code reached for nothing but its model");
    }

    fn show_requests(&self) -> String {
        self.endpoint.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect::<Vec<_>>().join(", ")
    }
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// A prompt whose model commits `<slug>.txt`, then closes out as the packet says.
fn committing(slug: &str) -> String {
    format!(
        "Add {slug}.txt.\n\
         model: run echo {slug} > {slug}.txt && git add {slug}.txt && git commit -q -m 'add {slug}'\n"
    )
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn claude_delivers_a_graph_run_through_its_preset() {
    let q = Queue::new();
    let run = q.world.run(&json!({
        "execution_mode": "graph",
        "agent": "cc",
        "items": [
            {"id": "one", "prompt": committing("one")},
            {"id": "two", "prompt": committing("two"), "depends_on": "one"},
            {"id": "three", "prompt": committing("three")}
        ]
    }));
    let done = q.world.wait_status(&run, "success");
    for slug in ["one", "two", "three"] {
        assert!(q.world.delivered(&format!("{slug}.txt")), "{slug}.txt reached the base: {done}");
        let shown = git(&q.world.repo, &["show", &format!("main:{slug}.txt")]);
        assert_eq!(shown, format!("{slug}\n"));
        assert_eq!(q.packets_of(slug).len(), 1, "one iteration for {slug}: {}", q.show_requests());
    }
    // `two` depends on `one`: its task branched from a base that already held one's delivery,
    // while `three`, independent, may not have.
    let base = |slug: &str| {
        let packet = q.packets_of(slug).remove(0);
        let line = packet.lines().find(|l| l.starts_with("- base branch: main at ")).expect("a base line").to_owned();
        line.rsplit(' ').next().unwrap().to_owned()
    };
    let (one_base, two_base) = (base("one"), base("two"));
    assert_ne!(one_base, two_base, "two started after one was delivered");
    let at_two = git(&q.world.repo, &["ls-tree", "--name-only", &two_base]);
    assert!(at_two.lines().any(|f| f == "one.txt"), "two's base holds one.txt: {at_two}");
    // Each agent was told to close out with the packet's own line, qcold by its absolute path.
    let qcold = qcold_tests::qcold_bin().display().to_string();
    for slug in ["one", "two", "three"] {
        let packet = q.packets_of(slug).remove(0);
        let asked: Vec<String> = q
            .endpoint
            .turns()
            .iter()
            .filter(|t| t.prompt() == packet)
            .filter_map(|t| t.asked().map(str::to_owned))
            .collect();
        let closeout = format!("\"{qcold}\" task closeout --outcome success");
        assert!(asked.last().is_some_and(|c| c.starts_with(&closeout)), "{slug} closed out last: {asked:?}");
        // The closeout's own exit is clean although cleanup removes the worktree the agent
        // stands in: Claude reports its output back as a result that is no error.
        let mut after = None;
        let reported = wait_until(LONG, || {
            after = q.endpoint.turns().into_iter().find(|t| {
                t.prompt() == packet && t.tool_outputs().last().is_some_and(|o| o.contains("closed:success"))
            });
            after.is_some()
        });
        assert!(reported, "{slug}'s closeout output reached the model: {}", q.show_requests());
        assert_eq!(after.unwrap().failed_tool_results(), 0, "{slug}: no step failed, the closeout included");
    }
    q.assert_offline();
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn claude_ending_its_turn_without_closing_out_recovers_with_the_failure_and_log_tail() {
    let q = Queue::new();
    let prompt = format!("{}model: quit on iteration 1\n", committing("quit"));
    let run = q.world.run(&json!({"agent": "cc", "items": [{"id": "quit", "prompt": prompt}]}));
    let done = q.world.wait_status(&run, "success");
    let attempts = done["items"][0]["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 2, "{done}");
    let failure = attempts[0]["failure"].as_str().unwrap();
    assert!(failure.contains("before closing out"), "{failure}");
    assert!(attempts[1]["failure"].is_null(), "{}", attempts[1]);
    let packets = q.packets_of("quit");
    assert_eq!(packets.len(), 2, "two iterations reached the model: {}", q.show_requests());
    assert!(!packets[0].contains("## Recovery"), "{}", packets[0]);
    let second = &packets[1];
    assert!(second.contains("## Recovery") && second.contains("### Iteration 1"), "{second}");
    assert!(second.contains(failure), "the failure is in the packet the model got: {second}");
    // The tail comes from the attempt's log, which the wrapper writes from the first byte: a
    // terminal captured at the end is gone by then, as Claude exits at once after its turn.
    assert!(second.contains("the end of its terminal"), "the log tail is in it: {second}");
    // What the first iteration said before it quit is in that tail.
    let tail = second.split("the end of its terminal").nth(1).unwrap();
    assert!(tail.contains("scripted model: stopping here without closing out"), "{second}");
    assert!(q.world.delivered("quit.txt"));
    q.assert_offline();
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn claude_closing_out_blocked_gives_the_item_its_reason() {
    let q = Queue::new();
    let prompt = "Needs a key.\nmodel: block needs an API key\n";
    let run = q.world.run(&json!({"agent": "cc", "items": [{"id": "stuck", "prompt": prompt}]}));
    let view = q.world.wait_run(&run, "the item blocked", |r| r["items"][0]["status"] == "blocked");
    let item = &view["items"][0];
    assert!(item["reason"].as_str().unwrap_or_default().contains("needs an API key"), "{item}");
    assert_eq!(q.packets_of("stuck").len(), 1, "a blocked item is not retried: {}", q.show_requests());
    // The model's one shell step was the packet's blocked closeout, its reason quoted.
    let asked: Vec<String> = q.endpoint.turns().iter().filter_map(|t| t.asked().map(str::to_owned)).collect();
    assert_eq!(asked.len(), 1, "one shell step, the closeout: {asked:?}");
    assert!(asked[0].ends_with("task closeout --outcome blocked --reason 'needs an API key'"), "{asked:?}");
    q.assert_offline();
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn claude_gets_a_100_kb_prompt_whole_and_delivers() {
    let q = Queue::new();
    let mut prompt = committing("big");
    let mut n = 0;
    while prompt.len() < 100 * 1024 {
        prompt.push_str(&format!("context line {n:05}: the quick brown fox jumps over the lazy dog\n"));
        n += 1;
    }
    prompt.push_str("END OF THE BIG PROMPT\n");
    let run = q.world.run(&json!({"agent": "cc", "items": [{"id": "big", "prompt": prompt}]}));
    q.world.wait_status(&run, "success");
    let packets = q.packets_of("big");
    assert_eq!(packets.len(), 1, "{}", q.show_requests());
    assert!(packets[0].contains(prompt.trim_end()), "the whole prompt reached the model ({} bytes)", packets[0].len());
    assert!(q.world.delivered("big.txt"));
    q.assert_offline();
}

#[test]
#[ignore = "needs the pinned agent CLIs: cargo xtask real-agents"]
fn claude_shows_readable_progress_in_agent_tail_while_it_works() {
    let q = Queue::new();
    let gate = q.world.file("gate");
    let thinking = q.world.file("thinking");
    // A shell step holds the turn open until `gate` exists; then the model itself "thinks"
    // (the endpoint holds its reply) until `thinking` exists.
    let prompt = format!(
        "Wait for the gate.\nmodel: run echo progress-$((6 * 7))\n\
         model: run while [ ! -e {gate} ]; do sleep 0.2; done; echo gate seen\nmodel: wait-for {thinking}\n{}",
        committing("gated").lines().skip(1).collect::<Vec<_>>().join("\n"),
        gate = gate.display(),
        thinking = thinking.display()
    );
    let run = q.world.run(&json!({"agent": "cc", "items": [{"id": "gated", "prompt": prompt}]}));
    let running = q.world.wait_run(&run, "the item running", |r| {
        r["items"][0]["status"] == "running" && r["items"][0]["agent_id"].is_string()
    });
    let agent = running["items"][0]["agent_id"].as_str().unwrap().to_owned();
    // The turn is held open by the second shell step until the gate exists.
    assert!(
        wait_until(LONG, || q.endpoint.turns().iter().any(|t| t.prompt().contains("Wait for the gate"))),
        "the agent reached the model"
    );
    let mut tail = String::new();
    let shown = wait_until(Duration::from_secs(60), || {
        tail = q.world.tail(&agent, 200);
        tail.contains("progress-42") && tail.contains("while [ ! -e")
    });
    // `claude -p` in text mode prints nothing until its turn ends: this is the preset's
    // `--output-format stream-json --verbose`, rendered by the wrapper.
    assert!(shown, "agent tail shows a finished step's output and the step in flight:\n{tail}");
    assert!(tail.contains(&format!("while [ ! -e {} ]", gate.display())), "and the step it runs:\n{tail}");
    assert!(!tail.contains("\"type\":"), "the tail is readable text, not raw stream JSON:\n{tail}");
    std::fs::write(&gate, "").unwrap();
    let shown = wait_until(Duration::from_secs(60), || {
        tail = q.world.tail(&agent, 200);
        tail.contains("gate seen")
    });
    assert!(shown, "the step's end shows while the model thinks:\n{tail}");
    assert_eq!(q.world.item(&run, "gated")["status"], "running", "the held reply keeps the agent at work");
    assert!(!q.world.delivered("gated.txt"));
    std::fs::write(&thinking, "").unwrap();
    q.world.wait_status(&run, "success");
    assert!(q.world.delivered("gated.txt"));
    q.assert_offline();
}
