//! The queue through the daemon: graphs, sequences, admission, stop/continue, append, dedupe and
//! refusals. Agents are a scripted executable that acts on directives in its packet.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qcold_tests::{Daemon, Env, RELAXED_ADMISSION, git, subscribe, wait_until};
use serde_json::{Value, json};

/// What the scripted agent does, chosen by lines in its prompt:
/// `directive: exit-early` exits 3 without closing out (saying so on stderr); `directive: fail-times N` closes out as
/// failed on its first N runs; `directive: wait-for FILE` waits for FILE; `directive: ask` reads a
/// line from its standard input and commits it as `<slug>.answer`; otherwise it commits a
/// file and closes out with success. Every run appends a line to `<env>/runs/<slug>` and writes
/// what it saw (cwd, env, `qcold` on PATH) to `<env>/seen/<slug>-<n>`.
const AGENT: &str = r#"#!/bin/sh
[ "$1" = "--version" ] && { echo "scripted-agent 1.0"; exit 0; }
root="$(dirname "$0")"
packet="${1:-$QCOLD_PACKET_FILE}"
mkdir -p "$root/runs" "$root/seen"
echo run >> "$root/runs/$QCOLD_TASK_SLUG"
n=$(wc -l < "$root/runs/$QCOLD_TASK_SLUG" | tr -d ' ')
{
  echo "cwd=$(pwd -P)"
  echo "slug=$QCOLD_TASK_SLUG"
  echo "worktree=$QCOLD_TASK_WORKTREE"
  echo "packet=$QCOLD_PACKET_FILE"
  echo "bin=$QCOLD_BIN"
  echo "path_qcold=$(command -v qcold)"
  echo "greeting=$AGENT_GREETING"
} > "$root/seen/$QCOLD_TASK_SLUG-$n"
echo "scripted agent: run $n of $QCOLD_TASK_SLUG"
grep -q "directive: exit-early" "$packet" && { echo "scripted agent: giving up on run $n" >&2; exit 3; }
grep -q "directive: block" "$packet" && exec qcold task closeout --outcome blocked --reason "needs an API key"
fails=$(sed -n 's/.*directive: fail-times \([0-9]*\).*/\1/p' "$packet" | head -n 1)
if [ -n "$fails" ] && [ "$n" -le "$fails" ]; then
  exec qcold task closeout --outcome failed --reason "scripted failure $n"
fi
wait_for=$(sed -n 's/.*directive: wait-for \([^ ]*\).*/\1/p' "$packet" | head -n 1)
if [ -n "$wait_for" ]; then
  while [ ! -e "$wait_for" ]; do sleep 0.1; done
fi
if grep -q "directive: ask" "$packet"; then
  echo "scripted agent: waiting for the operator"
  IFS= read -r answer
  echo "$answer" > "$QCOLD_TASK_SLUG.answer" && git add "$QCOLD_TASK_SLUG.answer"
fi
echo "$QCOLD_TASK_SLUG $n" > "$QCOLD_TASK_SLUG.txt"
git add "$QCOLD_TASK_SLUG.txt" && git commit -q -m "$QCOLD_TASK_SLUG"
if grep -q "directive: linger" "$packet"; then
  qcold task closeout --outcome success --message "deliver $QCOLD_TASK_SLUG"; rc=$?
  sleep 1
  pwd -P > "$root/linger-$QCOLD_TASK_SLUG" || echo "cwd gone" > "$root/linger-$QCOLD_TASK_SLUG"
  exit $rc
fi
exec qcold task closeout --outcome success --message "deliver $QCOLD_TASK_SLUG"
"#;

/// Budgets every queue test runs with: a recovery iteration waits one second, not the 30 s and
/// 2 min an operator gets (the back-off itself is table-tested in qcold-core and proven by
/// `queue_delivery`).
const TEST_BUDGETS: [(&str, &str); 1] = [("QCOLD_QUEUE_RECOVERY_DELAY_SECONDS", "1")];

/// A registered repository with an origin, the scripted agent registered as `scripted`, and a
/// daemon started with [`RELAXED_ADMISSION`] (the heavy-limit test adds its own), [`TEST_BUDGETS`]
/// and `vars` (which win).
pub(crate) struct Fixture {
    pub(crate) env: Env,
    pub(crate) daemon: Option<Daemon>,
    pub(crate) repo: PathBuf,
    pub(crate) vars: Vec<(&'static str, &'static str)>,
}

impl Fixture {
    pub(crate) fn new(vars: &[(&'static str, &'static str)]) -> Self {
        let mut fx = Self::without_daemon(vars);
        fx.daemon = Some(Daemon::start_with(&fx.env, &fx.vars));
        fx
    }

    /// The same set-up with no daemon running; [`Fixture::vars`] are what one should get.
    pub(crate) fn without_daemon(vars: &[(&'static str, &'static str)]) -> Self {
        let env = Env::new();
        let (repo, _origin) = env.git_repo_with_origin("web");
        env.qcold(&["repo", "add", "web", "web", "--set-active", "--verify-command", "true"]).ok();
        let agent = env.path().join("agent.sh");
        std::fs::write(&agent, AGENT).unwrap();
        std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        env.qcold(&["agent", "command", "add", "scripted", "--probe", "true", "--", agent.to_str().unwrap()]).ok();
        let mut all = RELAXED_ADMISSION.to_vec();
        all.extend_from_slice(&TEST_BUDGETS);
        all.extend_from_slice(vars);
        Self { env, daemon: None, repo, vars: all }
    }

    pub(crate) fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("a running daemon")
    }

    /// A path in the temp dir, for `wait-for` directives.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.env.path().join(name)
    }

    /// Writes `package` to a file and runs `qcold queue run --from` it; returns the run id.
    pub(crate) fn run(&self, package: &Value) -> String {
        let out = self.cli_run(package).ok();
        let id = out.split_whitespace().nth(2).expect("queued run <id>").to_owned();
        assert!(id.starts_with("run-"), "{out}");
        id
    }

    pub(crate) fn cli_run(&self, package: &Value) -> qcold_tests::Run {
        let file = self.env.path().join("package.json");
        std::fs::write(&file, package.to_string()).unwrap();
        let listen = self.daemon().listen().to_owned();
        self.env.qcold(&["queue", "run", "--from", file.to_str().unwrap(), "--listen", &listen, "--no-start-daemon"])
    }

    /// `qcold queue <args> --listen <daemon> --no-start-daemon`.
    pub(crate) fn queue(&self, args: &[&str]) -> qcold_tests::Run {
        let listen = self.daemon().listen().to_owned();
        let mut all: Vec<&str> = vec!["queue"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--listen", &listen, "--no-start-daemon"]);
        self.env.qcold(&all)
    }

    pub(crate) fn view(&self) -> Value {
        let (code, body) = self.daemon().get("/api/queue");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    pub(crate) fn run_view(&self, run: &str) -> Value {
        self.view()["runs"].as_array().unwrap().iter().find(|r| r["id"] == run).cloned().unwrap_or(Value::Null)
    }

    pub(crate) fn item(&self, run: &str, id: &str) -> Value {
        let run = self.run_view(run);
        run["items"].as_array().into_iter().flatten().find(|i| i["id"] == id).cloned().unwrap_or(Value::Null)
    }

    /// Waits until `check` holds for the run; panics with the run's view otherwise.
    pub(crate) fn wait_run(&self, run: &str, timeout: Duration, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let ok = wait_until(timeout, || {
            last = self.run_view(run);
            check(&last)
        });
        assert!(
            ok,
            "timed out waiting for {what}: {}\ndaemon warnings:\n{}",
            serde_json::to_string_pretty(&last).unwrap(),
            self.daemon_warnings()
        );
        last
    }

    /// The warnings and errors the daemon logged, for failure messages.
    pub(crate) fn daemon_warnings(&self) -> String {
        let log = std::fs::read_to_string(self.env.path().join("daemon.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect::<Vec<_>>().join("\n")
    }

    /// Waits for the run to reach `status`.
    pub(crate) fn wait_status(&self, run: &str, status: &str, timeout: Duration) -> Value {
        self.wait_run(run, timeout, &format!("run status {status}"), |r| r["status"] == status)
    }

    /// How many times the scripted agent ran for `slug`.
    pub(crate) fn agent_runs(&self, slug: &str) -> usize {
        std::fs::read_to_string(self.file("runs").join(slug)).map_or(0, |t| t.lines().count())
    }

    /// Kills the daemon with SIGKILL and starts a new one on the same state dir.
    pub(crate) fn crash_and_restart(&mut self) {
        self.daemon.take().expect("a daemon").kill();
        self.daemon = Some(Daemon::start_with(&self.env, &self.vars));
    }

    pub(crate) fn post(&self, route: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}/api/queue/{route}", self.daemon().url);
        match ureq::post(&url).timeout(Duration::from_secs(30)).send_json(body.clone()) {
            Ok(r) => (r.status(), r.into_json().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
            Err(err) => panic!("POST {url}: {err}"),
        }
    }
}

pub(crate) fn statuses(run: &Value) -> Vec<(String, String)> {
    run["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i["status"].as_str().unwrap().to_owned()))
        .collect()
}

fn delivered(repo: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    files.sort();
    files
}

const LONG: Duration = Duration::from_secs(120);

#[test]
fn a_six_item_graph_runs_in_two_waves_to_success() {
    let fx = Fixture::new(&[]);
    let events = subscribe(&format!("{}/api/events", fx.daemon().url));
    let run = fx.run(&json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [
            {"id": "a", "prompt": "build a"},
            {"id": "b", "prompt": "build b"},
            {"id": "c", "prompt": "build c", "task_class": "cheap"},
            {"id": "d", "prompt": "join a and b", "depends_on": ["a", "b"]},
            {"id": "e", "prompt": "extend b", "depends_on": "b"},
            {"id": "f", "prompt": "extend c", "depends_on": ["c"], "wave_index": 1}
        ]
    }));
    let done = fx.wait_status(&run, "success", LONG);
    let items = done["items"].as_array().unwrap();
    let waves: Vec<(String, u64)> =
        items.iter().map(|i| (i["id"].as_str().unwrap().to_owned(), i["wave_index"].as_u64().unwrap())).collect();
    let want: Vec<(String, u64)> = [("a", 0), ("b", 0), ("c", 0), ("d", 1), ("e", 1), ("f", 1)]
        .iter()
        .map(|(i, w)| ((*i).to_owned(), *w))
        .collect();
    assert_eq!(waves, want);
    assert!(statuses(&done).iter().all(|(_, s)| s == "success"));
    for item in items {
        assert_eq!(item["attempts"].as_array().unwrap().len(), 1, "{item}");
    }
    // A dependent started only after every dependency had finished.
    let attempt = |id: &str| items.iter().find(|i| i["id"] == id).unwrap()["attempts"][0].clone();
    for (dependent, deps) in [("d", &["a", "b"][..]), ("e", &["b"]), ("f", &["c"])] {
        for dep in deps {
            assert!(
                attempt(dependent)["started_at"].as_i64() >= attempt(dep)["finished_at"].as_i64(),
                "{dependent} started before {dep} finished"
            );
        }
    }
    let repo = &fx.repo;
    assert_eq!(delivered(repo), ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt"]);

    // The execution contract: cwd is the worktree, the env names task, packet and qcold.
    let seen = std::fs::read_to_string(fx.file("seen").join("d-1")).unwrap();
    let field = |name: &str| seen.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap().to_owned();
    assert_eq!(field("cwd"), field("worktree"));
    assert!(field("worktree").ends_with("-d"), "{seen}");
    assert_eq!(field("slug"), "d");
    assert_eq!(field("path_qcold"), field("bin"), "the running qcold is first on PATH");
    let packet = std::fs::read_to_string(field("packet")).unwrap();
    let closeout = format!("\"{}\" task closeout --outcome success", field("bin"));
    for needle in ["join a and b", &closeout, "base branch: main", &field("worktree")] {
        assert!(packet.contains(needle), "packet lacks {needle:?}:\n{packet}");
    }

    // The run's progress was pushed as deltas, ending with the run's success.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut pushed_success = false;
    while !pushed_success && std::time::Instant::now() < deadline {
        let Ok(event) = events.recv_timeout(Duration::from_secs(1)) else { continue };
        if event.name == "run" {
            let pushed: Value = serde_json::from_str(&event.data).unwrap();
            pushed_success = pushed["data"]["id"] == run && pushed["data"]["status"] == "success";
        }
    }
    assert!(pushed_success, "a run event announced the run's success");
}

#[test]
fn a_third_heavy_item_waits_with_its_reason_while_two_run() {
    let fx = Fixture::new(&[
        ("QCOLD_QUEUE_ADMISSION_HEAVY_MEMORY_MIB", "16"),
        ("QCOLD_QUEUE_ADMISSION_HEAVY_CPU_MILLI", "10"),
        // Far beyond the test's patience: the third item must start because capacity was freed.
        ("QCOLD_QUEUE_ADMISSION_RETRY_SECONDS", "600"),
    ]);
    let gate = fx.file("gate");
    let prompt = format!("compile everything directive: wait-for {}", gate.display());
    let run = fx.run(&json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [
            {"id": "h1", "prompt": prompt, "task_class": "heavy"},
            {"id": "h2", "prompt": prompt, "task_class": "heavy"},
            {"id": "h3", "prompt": prompt, "task_class": "heavy"}
        ]
    }));
    let view = fx.wait_run(&run, LONG, "two heavy items running and the third waiting for the heavy limit", |r| {
        let items = r["items"].as_array().cloned().unwrap_or_default();
        let running = items.iter().filter(|i| i["status"] == "running").count();
        let third = items.iter().find(|i| i["id"] == "h3");
        running == 2
            && third.is_some_and(|i| {
                i["status"] == "waiting" && i["reason"].as_str().unwrap_or("").contains("heavy task limit")
            })
    });
    let third = view["items"].as_array().unwrap().iter().find(|i| i["id"] == "h3").unwrap().clone();
    assert!(third["next_attempt_at"].as_i64().is_some(), "a waiting item has a retry time: {third}");
    assert!(third["reason"].as_str().unwrap().contains('2'), "the reason names the limit: {third}");
    std::fs::write(&gate, "").unwrap();
    // h3 waited 600 s for admission; it starts as soon as h1 or h2 ends and frees a heavy slot.
    fx.wait_status(&run, "success", LONG);
}

#[test]
fn an_item_that_can_never_fit_says_so_in_a_typed_field_while_the_rest_goes_on() {
    let fx = Fixture::new(&[("QCOLD_QUEUE_ADMISSION_HEAVY_MAX_TASKS", "0")]);
    let run = fx.run(&json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [
            {"id": "huge", "prompt": "render the world", "task_class": "heavy"},
            {"id": "small", "prompt": "fix a typo"}
        ]
    }));
    let view = fx.wait_run(&run, LONG, "small delivered and huge marked never-fits", |r| {
        let items = r["items"].as_array().cloned().unwrap_or_default();
        let of = |id: &str| items.iter().find(|i| i["id"] == id).cloned().unwrap_or_default();
        of("small")["status"] == "success" && of("huge")["waiting_for"] == "never-fits"
    });
    let huge = view["items"].as_array().unwrap().iter().find(|i| i["id"] == "huge").unwrap().clone();
    assert_eq!(huge["status"], "waiting", "{huge}");
    assert!(huge["reason"].as_str().unwrap().contains("QCOLD_QUEUE_ADMISSION_HEAVY_MAX_TASKS"), "{huge}");
}

#[test]
fn stop_lets_work_in_flight_finish_and_continue_resumes_the_rest() {
    let fx = Fixture::new(&[]);
    let gate = fx.file("gate");
    let run = fx.run(&json!({
        "agent": "scripted",
        "items": [
            {"id": "one", "prompt": format!("first directive: wait-for {}", gate.display())},
            {"id": "two", "prompt": "second"},
            {"id": "three", "prompt": "third"}
        ]
    }));
    fx.wait_run(&run, LONG, "the first item running", |r| r["items"][0]["status"] == "running");
    assert!(fx.queue(&["stop"]).ok().contains("stop requested"));
    let stopping = fx.wait_run(&run, LONG, "the run stopping with the rest stopped", |r| {
        r["status"] == "stopping" && r["items"][1]["status"] == "stopped" && r["items"][2]["status"] == "stopped"
    });
    assert_eq!(stopping["items"][0]["status"], "running", "work in flight is never killed");
    std::fs::write(&gate, "").unwrap();
    let stopped = fx.wait_status(&run, "stopped", LONG);
    assert_eq!(statuses(&stopped)[0].1, "success");
    assert_eq!(fx.agent_runs("two"), 0, "nothing started while stopped");
    fx.queue(&["stop"]).fails_with("only a running run can be stopped");

    assert!(fx.queue(&["continue", &run]).ok().contains("continued run"));
    let done = fx.wait_status(&run, "success", LONG);
    assert!(statuses(&done).iter().all(|(_, s)| s == "success"));
    assert_eq!((fx.agent_runs("one"), fx.agent_runs("two"), fx.agent_runs("three")), (1, 1, 1));
}

#[test]
fn appending_to_a_running_graph_extends_it() {
    let fx = Fixture::new(&[]);
    let gate = fx.file("gate");
    let run = fx.run(&json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [{"id": "base", "prompt": format!("base directive: wait-for {}", gate.display())}]
    }));
    fx.wait_run(&run, LONG, "the base item running", |r| r["items"][0]["status"] == "running");
    let extra = fx.file("extra.json");
    std::fs::write(
        &extra,
        json!({"items": [
            {"id": "top", "prompt": "on top of base", "depends_on": "base"},
            {"id": "side", "prompt": "independent"}
        ]})
        .to_string(),
    )
    .unwrap();
    let out = fx.queue(&["append", &run, "--from", extra.to_str().unwrap(), "--agent", "scripted"]).ok();
    assert!(out.contains("appended 2 item(s)"), "{out}");
    let top = fx.item(&run, "top");
    assert_eq!((top["position"].as_u64(), top["wave_index"].as_u64()), (Some(2), Some(1)));
    fx.wait_run(&run, LONG, "the independent item done while base still runs", |r| {
        r["items"][2]["status"] == "success" && r["items"][0]["status"] == "running"
    });
    assert_eq!(fx.agent_runs("top"), 0, "the dependent waits for base");
    std::fs::write(&gate, "").unwrap();
    let done = fx.wait_status(&run, "success", LONG);
    assert_eq!(statuses(&done).len(), 3);
}

#[test]
fn a_slug_unfinished_in_another_run_is_refused_with_the_way_out() {
    let fx = Fixture::new(&[]);
    let gate = fx.file("gate");
    let first = fx.run(&json!({
        "agent": "scripted",
        "items": [{"slug": "fix-login", "prompt": format!("fix directive: wait-for {}", gate.display())}]
    }));
    fx.queue(&["create", "second"]).ok();
    let err = fx
        .cli_run(
            &json!({"agent": "scripted", "items": [{"slug": "fix-login-after-repair-20261124", "prompt": "again"}]}),
        )
        .fails_with(&first);
    for needle in ["fix-login", "append", "continue", "clear"] {
        assert!(err.contains(needle), "{needle:?} missing from {err}");
    }
    let runs = fx.view()["runs"].as_array().unwrap().len();
    assert_eq!(runs, 1, "the refused run stored nothing");
    std::fs::write(&gate, "").unwrap();
    fx.wait_status(&first, "success", LONG);
    // Once the first run succeeded, the same slug may run again.
    let again = fx.run(&json!({"agent": "scripted", "items": [{"slug": "fix-login-2", "prompt": "more"}]}));
    fx.wait_status(&again, "success", LONG);
}

#[test]
fn malformed_packages_are_refused_with_diagnostics_and_nothing_stored() {
    let fx = Fixture::new(&[]);
    let bad_json = fx.file("bad.json");
    std::fs::write(&bad_json, "{\"items\": [").unwrap();
    let listen = fx.daemon().listen().to_owned();
    let err = fx
        .env
        .qcold(&["queue", "run", "--from", bad_json.to_str().unwrap(), "--listen", &listen, "--no-start-daemon"])
        .fails_with("not valid JSON");
    assert!(err.contains("bad.json"), "{err}");

    let cases = [
        (
            json!({"execution_mode": "graph", "items": [
                {"id": "a", "prompt": "x", "depends_on": "c"},
                {"id": "b", "prompt": "y", "depends_on": "a"},
                {"id": "c", "prompt": "z", "depends_on": "b"}]}),
            "cycle",
            "dependency cycle: ",
        ),
        (
            json!({"execution_mode": "graph", "items": [{"id": "a", "prompt": "x", "depends_on": "ghost"}]}),
            "missing-dependency",
            "ghost",
        ),
        (json!({"items": [{"id": "a", "prompt": "  "}]}), "empty-prompt", "a"),
        (json!({"items": [{"slug": "Not a slug!", "prompt": "x"}]}), "invalid-slug", "Not a slug!"),
        (json!({"items": [{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}]}), "duplicate-id", "a"),
    ];
    for (package, kind, needle) in cases {
        let (code, answer) = fx.post("run", &json!({"package": package, "agent": "scripted"}));
        assert_eq!(code, 400, "{answer}");
        assert_eq!((answer["kind"].as_str(), answer["field"].as_str()), (Some("bad-request"), Some("package")));
        let diagnostic = answer["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["kind"] == kind && d["severity"] == "error")
            .unwrap_or_else(|| panic!("no {kind} error in {answer}"))
            .clone();
        assert!(diagnostic["message"].as_str().unwrap().contains(needle), "{diagnostic}");
        // The CLI shows the same diagnostics.
        let err = fx.cli_run(&package).fails_with("rejected");
        assert!(err.contains(needle), "{err}");
    }
    let (code, answer) = fx.post("run", &json!({"package": {"items": [{"prompt": "x"}]}, "agent": "nope"}));
    assert_eq!(code, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("no agent command \"nope\""), "{answer}");
    let (code, answer) = fx.post("run", &json!({"package": {"items": []}}));
    assert_eq!(code, 400, "{answer}");
    let (code, _) = fx.post("stop", &json!({"run_id": "no-such-run"}));
    assert_eq!(code, 404);
    let (code, answer) = fx.post("tab/delete", &json!({"tab_id": "default"}));
    assert_eq!((code, answer["error"].as_str().unwrap()), (409, "the default tab cannot be deleted"));

    let view = fx.view();
    assert_eq!(view["runs"], json!([]), "nothing was stored");
    assert_eq!(view["tabs"].as_array().unwrap().len(), 1);
}

#[test]
fn update_and_remove_touch_only_items_that_never_started() {
    let fx = Fixture::new(&[]);
    let gate = fx.file("gate");
    let run = fx.run(&json!({
        "agent": "scripted",
        "items": [
            {"id": "one", "prompt": format!("first directive: wait-for {}", gate.display())},
            {"id": "two", "prompt": "second, as first written"},
            {"id": "three", "prompt": "third", "depends_on": []}
        ]
    }));
    fx.wait_run(&run, LONG, "the first item running", |r| r["items"][0]["status"] == "running");
    let (code, answer) = fx.post(
        "update",
        &json!({"run_id": run, "item_id": "two", "prompt": "second, as revised", "task_class": "cheap"}),
    );
    assert_eq!((code, answer["ok"].as_bool()), (200, Some(true)), "{answer}");
    let (code, answer) = fx.post("update", &json!({"run_id": run, "item_id": "one", "prompt": "too late"}));
    assert_eq!(code, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("has started"), "{answer}");
    let (code, answer) = fx.post("update", &json!({"run_id": run, "item_id": "two", "prompt": " "}));
    assert_eq!(code, 400, "{answer}");
    let (code, answer) = fx.post("remove", &json!({"run_id": run, "item_id": "one"}));
    assert_eq!(code, 409, "an item in flight stays: {answer}");
    let (code, answer) = fx.post("remove", &json!({"run_id": run, "item_id": "three"}));
    assert_eq!(code, 200, "{answer}");
    let (code, _) = fx.post("remove", &json!({"run_id": run, "item_id": "three"}));
    assert_eq!(code, 400, "it is gone");

    std::fs::write(&gate, "").unwrap();
    let done = fx.wait_status(&run, "success", LONG);
    assert_eq!(statuses(&done), [("one".to_owned(), "success".to_owned()), ("two".to_owned(), "success".to_owned())]);
    let two = &done["items"][1];
    assert_eq!(two["task_class"], "cheap");
    let packet = std::fs::read_to_string(two["attempts"][0]["packet"].as_str().unwrap()).unwrap();
    assert!(packet.contains("second, as revised"), "{packet}");
    assert_eq!(fx.agent_runs("three"), 0);
}

/// The demo's built-in agent (`qcold demo-agent`, what `cargo xtask demo` registers) needs no
/// model: it writes a note into the worktree and closes out, and a graph run of it delivers.
#[test]
fn the_built_in_demo_agent_delivers_a_graph_run() {
    let fx = Fixture::new(&[]);
    let qcold = qcold_tests::qcold_bin();
    fx.env
        .qcold(&[
            "agent",
            "command",
            "add",
            "demo",
            "--probe",
            "true",
            "--",
            qcold.to_str().unwrap(),
            "demo-agent",
            "--packet-file",
            "{packet_file}",
            "--worktree",
            "{cwd}",
            "--pace-seconds",
            "0",
        ])
        .ok();
    let run = fx.run(&json!({
        "execution_mode": "graph",
        "agent": "demo",
        "items": [
            {"id": "hello", "prompt": "Greet the team."},
            {"id": "summary", "prompt": "Summarise.", "depends_on": "hello"}
        ]
    }));
    let done = fx.wait_status(&run, "success", LONG);
    assert!(statuses(&done).iter().all(|(_, s)| s == "success"), "{done}");
    let note = std::fs::read_to_string(fx.repo.join("notes/hello.md")).expect("the note was delivered to main");
    assert_eq!(note, "# hello\n\nGreet the team.\n");
    assert!(fx.repo.join("notes/summary.md").is_file());
}

/// An agent that goes on after its closeout (as Claude finishes its turn) still stands in its
/// worktree: the closeout leaves removing it to the daemon, which does once the agent exited;
/// only then does the item succeed.
#[test]
fn a_successful_closeout_leaves_the_agent_its_worktree_until_it_exits() {
    let fx = Fixture::new(&[]);
    let run = fx.run(&json!({"agent": "scripted", "items": [{"id": "tidy", "prompt": "directive: linger"}]}));
    let done = fx.wait_status(&run, "success", LONG);
    let seen = std::fs::read_to_string(fx.env.path().join("linger-tidy")).expect("the agent ran on after its closeout");
    assert!(seen.contains("/001-tidy"), "its cwd still existed after the closeout: {seen}");
    let item = &done["items"][0];
    let agent = item["attempts"][0]["agent_id"].as_str().unwrap();
    let task = item["task_id"].as_str().unwrap();
    let worktree = fx.env.path().join("WT/web/001-tidy");
    assert!(!worktree.exists(), "the daemon removed the worktree once agent {agent} had exited ({task})");
    assert!(git(&fx.repo, &["branch", "--list", "task/tidy"]).trim().is_empty(), "and its branch");
}

/// A command's own environment (`agent command add --env`) reaches the agents the queue starts
/// with it, and stays out of the listing.
#[test]
fn a_commands_own_environment_reaches_its_queue_agents() {
    let fx = Fixture::new(&[]);
    let agent = fx.env.path().join("agent.sh");
    fx.env
        .qcold(&[
            "agent",
            "command",
            "add",
            "greeter",
            "--probe",
            "true",
            "--env",
            "AGENT_GREETING=hello-from-env",
            "--",
            agent.to_str().unwrap(),
        ])
        .ok();
    let listing = fx.env.qcold(&["agent", "command", "list", "--json"]).ok();
    assert!(!listing.contains("hello-from-env"), "values stay out of the listing: {listing}");
    let run = fx.run(&json!({"agent": "greeter", "items": [{"id": "hi", "prompt": "say hi"}]}));
    fx.wait_status(&run, "success", LONG);
    let seen = std::fs::read_to_string(fx.env.path().join("seen/hi-1")).unwrap();
    assert!(seen.contains("greeting=hello-from-env"), "{seen}");
}

/// A queue agent whose command reads the packet from a file (stdin `/dev/null`) never sees text
/// typed into its terminal: `agent send` says so instead of letting the text vanish; keys still go.
#[test]
fn sending_text_to_an_agent_that_does_not_read_its_terminal_says_why() {
    let fx = Fixture::new(&[]);
    let gate = fx.file("gate");
    let run = fx.run(&json!({
        "agent": "scripted",
        "items": [{"id": "quiet", "prompt": format!("directive: wait-for {}", gate.display())}]
    }));
    let running = fx.wait_run(&run, LONG, "the agent works", |r| r["items"][0]["status"] == "running");
    let agent = running["items"][0]["agent_id"].as_str().unwrap().to_owned();
    let refused =
        fx.env.qcold(&["agent", "send", &agent, "hello"]).fails_with("reads its standard input from /dev/null");
    assert!(refused.contains("not its terminal"), "{refused}");
    fx.env.qcold(&["agent", "send", &agent, "--key", "Enter"]).ok();
    std::fs::write(&gate, "").unwrap();
    fx.wait_status(&run, "success", LONG);
}

/// An interactive command's queue agent reads its terminal: text typed into it (here with
/// `agent send`, as the dashboard's terminal does through the same tmux paste) reaches the agent,
/// and its answer is delivered. Registering a command both `--stdin` and `--interactive` is
/// refused and stores nothing.
#[test]
fn an_interactive_commands_queue_agent_reads_what_is_typed_into_its_terminal() {
    let fx = Fixture::new(&[]);
    let agent = fx.env.path().join("agent.sh");
    let agent = agent.to_str().unwrap();
    let refused = fx.env.qcold(&["agent", "command", "add", "both", "--stdin", "--interactive", "--", agent]);
    assert_ne!(refused.code, 0, "{refused:?}");
    let (code, answer) = fx
        .daemon()
        .post("/api/agent-commands/add", &json!({"name": "both", "argv": [agent], "stdin": true, "interactive": true}));
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("choose one") && answer.contains(r#""field":"interactive""#), "{answer}");
    assert!(!fx.env.qcold(&["agent", "command", "list"]).ok().contains("both"), "nothing stored");

    fx.env.qcold(&["agent", "command", "add", "asking", "--interactive", "--probe", "true", "--", agent]).ok();
    let run = fx.run(&json!({"agent": "asking", "items": [{"id": "asks", "prompt": "directive: ask"}]}));
    let running = fx.wait_run(&run, LONG, "the agent asks", |r| r["items"][0]["agent_id"].is_string());
    let agent_id = running["items"][0]["agent_id"].as_str().unwrap().to_owned();
    assert!(
        wait_until(LONG, || fx.env.qcold(&["agent", "tail", &agent_id]).stdout.contains("waiting for the operator")),
        "the question shows in the terminal"
    );
    fx.env.qcold(&["agent", "send", &agent_id, "ship it"]).ok();
    let done = fx.wait_status(&run, "success", LONG);
    let answer = git(&fx.repo, &["show", "main:asks.answer"]);
    assert_eq!(answer.trim(), "ship it");
    // Its terminal was its own, unlogged: the attempt keeps the screen its wrapper kept at the end.
    let log = done["items"][0]["attempts"][0]["log"].as_str().expect("the attempt has a log").to_owned();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("as closed:success"), "{log}: {text:?}");
    assert!(fx.env.qcold(&["agent", "tail", &agent_id]).ok().contains("as closed:success"));
}
