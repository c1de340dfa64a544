//! The repository, agent, agent-command and node routes against a real daemon: each with good
//! input (it does what the CLI would) and bad input (a clear error naming what is wrong, and
//! nothing changed).

use std::time::Duration;

use qcold_tests::{Daemon, Env, wait_until};
use serde_json::{Value, json};

fn post(daemon: &Daemon, path: &str, body: &Value) -> (u16, Value) {
    let url = format!("{}{path}", daemon.url);
    match ureq::post(&url).timeout(Duration::from_secs(60)).send_json(body.clone()) {
        Ok(r) if r.status() == 204 => (204, Value::Null),
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
        Err(err) => panic!("POST {url}: {err}"),
    }
}

fn get(daemon: &Daemon, path: &str) -> (u16, Value) {
    let (code, body) = daemon.get(path);
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[track_caller]
fn refused(answer: (u16, Value), code: u16, kind: &str, needle: &str) {
    assert_eq!(answer.0, code, "{}", answer.1);
    assert_eq!(answer.1["kind"], kind, "{}", answer.1);
    assert!(answer.1["error"].as_str().unwrap().contains(needle), "{} lacks {needle:?}", answer.1);
}

#[test]
fn repositories_are_registered_activated_and_removed_over_http() {
    let env = Env::new();
    let web = env.git_repo("web");
    let api = env.git_repo("api");
    let daemon = Daemon::start(&env);

    let (code, added) = post(&daemon, "/api/repos/add", &json!({"id": "web", "root": web, "set_active": true}));
    assert_eq!(code, 200, "{added}");
    assert_eq!(
        (added["created"].as_bool(), added["repository"]["default_branch"].as_str()),
        (Some(true), Some("main"))
    );
    let before = get(&daemon, "/api/repos").1;
    refused(
        post(&daemon, "/api/repos/add", &json!({"id": "x", "root": env.path().join("nowhere")})),
        400,
        "bad-request",
        "does not exist",
    );
    refused(post(&daemon, "/api/repos/add", &json!({"id": "Bad Id", "root": api})), 400, "bad-request", "id");
    refused(
        post(&daemon, "/api/repos/add", &json!({"id": "api", "root": api, "colour": "red"})),
        400,
        "bad-request",
        "unknown field `colour`",
    );
    refused(
        post(&daemon, "/api/repos/add", &json!({"id": "again", "root": web})),
        409,
        "conflict",
        "already registered",
    );
    refused(post(&daemon, "/api/repos/set-active", &json!({"id": "nope"})), 404, "not-found", "nope");
    refused(post(&daemon, "/api/repos/remove", &json!({"id": "nope"})), 404, "not-found", "nope");
    assert_eq!(get(&daemon, "/api/repos").1, before, "refusals changed nothing");

    assert_eq!(post(&daemon, "/api/repos/add", &json!({"id": "api", "root": api})).0, 200);
    let (code, list) = post(&daemon, "/api/repos/set-active", &json!({"id": "api"}));
    assert_eq!((code, list["active"].as_str()), (200, Some("api")));
    let cli = env.qcold(&["repo", "current", "--json"]).ok();
    assert!(cli.contains("\"api\""), "the CLI sees what the API did: {cli}");
    let (code, list) = post(&daemon, "/api/repos/remove", &json!({"id": "web"}));
    assert_eq!(code, 200);
    assert_eq!(list["repositories"].as_array().unwrap().len(), 1);
    assert!(web.join("README.md").is_file(), "its files are untouched");
}

#[test]
fn agents_start_label_tail_take_input_and_stop_over_http() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let cwd = env.path().to_str().unwrap().to_owned();
    let script = env.path().join("echoer.sh");
    std::fs::write(&script, "#!/bin/sh\necho ready\nwhile read line; do echo \"got:$line\"; done\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    refused(
        post(&daemon, "/api/agents/start", &json!({"track": "t", "cwd": cwd, "argv": []})),
        400,
        "bad-request",
        "no command",
    );
    refused(
        post(&daemon, "/api/agents/start", &json!({"track": "t", "cwd": "relative", "argv": ["true"]})),
        400,
        "bad-request",
        "absolute",
    );
    refused(
        post(&daemon, "/api/agents/start", &json!({"track": "t", "cwd": cwd, "argv": ["no-such-program-x"]})),
        400,
        "bad-request",
        "not found",
    );
    refused(
        post(&daemon, "/api/agents/start", &json!({"track": "has space", "cwd": cwd, "argv": ["true"]})),
        400,
        "bad-request",
        "track",
    );
    assert_eq!(get(&daemon, "/api/agents").1, json!([]), "refused starts started nothing");

    let (code, agent) = post(
        &daemon,
        "/api/agents/start",
        &json!({"track": "echo", "id": "echo-1", "cwd": cwd, "terminal": true, "argv": [script]}),
    );
    assert_eq!(code, 200, "{agent}");
    let tail = |lines: &str| get(&daemon, &format!("/api/agents/echo-1/tail?lines={lines}"));
    assert!(wait_until(Duration::from_secs(20), || tail("20").1["text"].as_str().is_some_and(|t| t.contains("ready"))));
    assert_eq!(post(&daemon, "/api/agents/echo-1/send", &json!({"mode": "paste", "text": "hello"})).0, 204);
    assert!(wait_until(Duration::from_secs(20), || tail("20").1["text"]
        .as_str()
        .is_some_and(|t| t.contains("got:hello"))));
    refused(
        post(&daemon, "/api/agents/echo-1/send", &json!({"mode": "paste", "text": ""})),
        400,
        "bad-request",
        "empty",
    );
    refused(
        post(&daemon, "/api/agents/echo-1/send", &json!({"mode": "shout", "text": "x"})),
        400,
        "bad-request",
        "shout",
    );
    let (code, bad) = tail("0");
    assert_eq!((code, bad["field"].as_str()), (400, Some("lines")), "{bad}");
    assert_eq!(tail("abc").0, 400);

    let (code, labelled) = post(&daemon, "/api/agents/echo-1/label", &json!({"name": "the  echoer", "scope": "demo"}));
    assert_eq!((code, labelled["name"].as_str(), labelled["scope"].as_str()), (200, Some("the echoer"), Some("demo")));
    let (_, agents) = get(&daemon, "/api/agents");
    assert_eq!((agents[0]["id"].as_str(), agents[0]["state"].as_str()), (Some("echo-1"), Some("running")), "{agents}");

    let (code, plain) = post(
        &daemon,
        "/api/agents/start",
        &json!({"track": "plain", "id": "plain-1", "cwd": cwd, "argv": ["sleep", "30"]}),
    );
    assert_eq!(code, 200, "{plain}");
    refused(
        post(&daemon, "/api/agents/plain-1/send", &json!({"mode": "key", "key": "Enter"})),
        409,
        "conflict",
        "without a terminal",
    );
    refused(
        post(&daemon, "/api/agents/start", &json!({"track": "plain", "id": "plain-1", "cwd": cwd, "argv": ["true"]})),
        409,
        "conflict",
        "already exists",
    );

    for id in ["echo-1", "plain-1"] {
        let (code, stopped) = post(&daemon, &format!("/api/agents/{id}/stop"), &json!({}));
        assert_eq!(code, 200, "{stopped}");
        assert!(stopped["ended"].as_u64().unwrap() >= 1, "{stopped}");
    }
    refused(post(&daemon, "/api/agents/nobody/stop", &json!({})), 404, "not-found", "nobody");
    let (_, agents) = get(&daemon, "/api/agents");
    assert!(agents.as_array().unwrap().iter().all(|a| a["state"] != "running"), "{agents}");
}

#[test]
fn agent_commands_are_added_probed_and_removed_over_http_and_the_node_keeps_history() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let names = |daemon: &Daemon| -> Vec<String> {
        get(daemon, "/api/agent-commands")
            .1
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = names(&daemon);
    refused(post(&daemon, "/api/agent-commands/add", &json!({"name": "x", "argv": []})), 400, "bad-request", "");
    refused(
        post(&daemon, "/api/agent-commands/add", &json!({"name": "x", "argv": ["{packet}"]})),
        400,
        "bad-request",
        "",
    );
    refused(
        post(&daemon, "/api/agent-commands/add", &json!({"name": "x", "argv": ["true"], "probe": "'unclosed"})),
        400,
        "bad-request",
        "probe",
    );
    refused(post(&daemon, "/api/agent-commands/remove", &json!({"names": ["ghost"]})), 404, "not-found", "ghost");
    refused(post(&daemon, "/api/agent-commands/remove", &json!({"names": []})), 400, "bad-request", "at least one");
    assert_eq!(names(&daemon), before, "refusals changed nothing");

    let (code, added) = post(
        &daemon,
        "/api/agent-commands/add",
        &json!({"name": "mine", "argv": ["true", "{packet_file}"], "probe": "true"}),
    );
    assert_eq!(code, 200, "{added}");
    let (code, probed) = post(&daemon, "/api/agent-commands/refresh", &json!({"names": ["mine"]}));
    assert_eq!((code, probed[0]["readiness"]["ready"].as_bool()), (200, Some(true)), "{probed}");
    let (_, list) = get(&daemon, "/api/agent-commands");
    let mine = list.as_array().unwrap().iter().find(|c| c["name"] == "mine").cloned().unwrap();
    assert_eq!(mine["readiness"]["ready"], true, "{mine}");
    let cli = env.qcold(&["agent", "command", "list", "--json"]).ok();
    assert!(cli.contains("\"mine\""), "{cli}");
    refused(post(&daemon, "/api/agent-commands/refresh", &json!({"names": ["ghost"]})), 404, "not-found", "ghost");
    let (code, left) = post(&daemon, "/api/agent-commands/remove", &json!({"names": ["mine"]}));
    assert_eq!(code, 200);
    assert!(left.as_array().unwrap().iter().all(|c| c["name"] != "mine"));

    // The sampler runs every second in the tests: the history grows without anyone asking.
    assert!(wait_until(Duration::from_secs(30), || {
        get(&daemon, "/api/node/history").1["samples"].as_array().is_some_and(|s| s.len() >= 2)
    }));
    let history = get(&daemon, "/api/node/history").1;
    assert_eq!(history["window_secs"], 3600);
    let times: Vec<i64> = history["samples"].as_array().unwrap().iter().map(|s| s["at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "oldest first, one per second: {times:?}");
    let last = history["samples"].as_array().unwrap().last().unwrap();
    assert!(last["cpu_usage_percent"].is_number() && last["disk_available"].is_number(), "for the charts: {last}");
    let (code, doc) = get(&daemon, "/api/openapi.json");
    assert_eq!((code, doc["openapi"].as_str()), (200, Some("3.1.0")));
    assert!(doc["paths"]["/api/agent-commands/add"]["post"].is_object());
}
