//! The daemon: routes, pushed events, graceful shutdown and the detached mode.

use std::time::Duration;

use qcold_core::api::{ErrorBody, StateResponse};
use qcold_core::{Event, NodeSnapshot};
use qcold_tests::{Daemon, Env, SseEvent, alive, http_get, subscribe, wait_until};

fn next_event(events: &std::sync::mpsc::Receiver<SseEvent>, name: &str) -> Event {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let event = events.recv_timeout(left).unwrap_or_else(|_| panic!("no {name:?} event within 20 s"));
        let parsed: Event = serde_json::from_str(&event.data).expect("event data is a qcold-core Event");
        assert_eq!(parsed.name(), event.name, "the SSE name matches the payload");
        if event.name == name {
            return parsed;
        }
    }
}

#[test]
fn routes_serve_core_types() {
    let env = Env::new();
    env.git_repo("web");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    let daemon = Daemon::start(&env);

    assert_eq!(daemon.get("/healthz"), (200, "ok\n".to_owned()));
    let (code, body) = daemon.get("/api/state");
    assert_eq!(code, 200);
    let state: StateResponse = serde_json::from_str(&body).unwrap();
    assert_eq!(state.repositories.active.as_ref().map(|a| a.as_str()), Some("web"));
    assert_eq!(state.build_id, env.qcold(&["--version"]).ok().trim(), "the daemon reports the build id");

    let (code, body) = daemon.get("/api/node/snapshot");
    assert_eq!(code, 200);
    let node: NodeSnapshot = serde_json::from_str(&body).unwrap();
    assert_eq!(node.heartbeat.pid, daemon.pid());

    let (code, body) = daemon.get("/api/does-not-exist");
    assert_eq!(code, 404);
    assert_eq!(serde_json::from_str::<ErrorBody>(&body).unwrap().error, "no api route /api/does-not-exist");
    let post = ureq::post(&format!("{}/api/state", daemon.url)).send_json(serde_json::json!({}));
    let Err(ureq::Error::Status(405, refusal)) = post else { panic!("GET-only routes refuse other methods: {post:?}") };
    assert_eq!(refusal.into_json::<ErrorBody>().unwrap().kind, qcold_core::api::ErrorKind::MethodNotAllowed);

    let (code, page) = daemon.get("/");
    assert_eq!(code, 200, "the dashboard is embedded: {page}");
    assert!(page.contains("<title>Q-COLD</title>") && page.contains(".wasm"), "{page}");

    // The wasm goes gzip-encoded to a browser that accepts it, and as it is to any other client.
    let wasm = page.split('"').find(|s| s.starts_with('/') && s.ends_with(".wasm")).expect("the wasm's path");
    let fetch = |accept: Option<&str>| {
        let request = ureq::get(&format!("{}{wasm}", daemon.url));
        let response = match accept {
            Some(accept) => request.set("Accept-Encoding", accept),
            None => request,
        }
        .call()
        .unwrap();
        let encoding = response.header("Content-Encoding").map(str::to_owned);
        let vary = response.header("Vary").map(str::to_owned);
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
        (encoding, vary, body)
    };
    let (encoding, vary, plain) = fetch(None);
    assert_eq!((encoding, vary.as_deref()), (None, Some("accept-encoding")));
    assert_eq!(&plain[..4], b"\0asm", "the identity response is the wasm itself");
    let (encoding, _, packed) = fetch(Some("gzip, deflate, br, zstd"));
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert!(packed.len() * 2 < plain.len(), "{} bytes gzip of {}", packed.len(), plain.len());
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&packed[..]), &mut unpacked).unwrap();
    assert!(unpacked == plain, "the gzip copy decompresses to the asset");
    assert_eq!(fetch(Some("gzip;q=0, br")).0, None, "a refused gzip is not sent");

    // API answers are gzip-encoded on the fly for a client that accepts it; the event stream never.
    let response = ureq::get(&format!("{}/api/state", daemon.url)).set("Accept-Encoding", "gzip").call().unwrap();
    assert_eq!(response.header("Content-Encoding"), Some("gzip"));
    let mut json = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(response.into_reader()), &mut json).unwrap();
    let unpacked: StateResponse = serde_json::from_str(&json).unwrap();
    assert_eq!(unpacked.repositories, state.repositories);
    let plain = ureq::get(&format!("{}/api/state", daemon.url)).call().unwrap();
    assert_eq!(plain.header("Content-Encoding"), None, "no Accept-Encoding, no gzip");
    let events = ureq::get(&format!("{}/api/events", daemon.url)).set("Accept-Encoding", "gzip").call().unwrap();
    assert_eq!(events.header("Content-Type"), Some("text/event-stream"));
    assert_eq!(events.header("Content-Encoding"), None, "events are pushed as they happen, uncompressed");
}

#[test]
fn events_push_new_repositories_and_node_samples() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let events = subscribe(&format!("{}/api/events", daemon.url));
    let Event::State(first) = next_event(&events, "state") else { unreachable!() };
    assert!(first.repositories.repositories.is_empty());

    env.git_repo("second");
    env.qcold(&["repo", "add", "second", "second"]).ok();
    let Event::Repositories(list) = next_event(&events, "repositories") else { unreachable!() };
    assert_eq!(list.repositories.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["second"]);

    let Event::Node(node) = next_event(&events, "node") else { unreachable!() };
    assert!(node.heartbeat.sampled_at >= first.node.heartbeat.sampled_at);

    env.qcold(&["repo", "set-active", "second"]).ok();
    let Event::Repositories(list) = next_event(&events, "repositories") else { unreachable!() };
    assert_eq!(list.active.as_ref().map(|a| a.as_str()), Some("second"), "a new active repository is pushed too");
}

#[test]
fn sigterm_shuts_down_gracefully_even_with_open_streams() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let events = subscribe(&format!("{}/api/events", daemon.url));
    let _ = next_event(&events, "state");
    assert_eq!(daemon.terminate(), Some(0), "SIGTERM ends the daemon with success");
}

#[test]
fn foreground_daemon_refuses_a_taken_address() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let listen = daemon.url.trim_start_matches("http://").to_owned();
    env.qcold(&["serve", "--listen", &listen]).fails_with(&format!("cannot listen on {listen}"));
    env.qcold(&["serve", "--listen", "not-an-address"]).fails_with("invalid value 'not-an-address'");
}

fn pid_file(env: &Env) -> std::path::PathBuf {
    env.state_dir().join("daemon/127-0-0-1-0.pid")
}

fn pid_file_url(env: &Env) -> String {
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pid_file(env)).unwrap()).unwrap();
    info["url"].as_str().unwrap().to_owned()
}

fn pid_file_pid(env: &Env) -> u32 {
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pid_file(env)).unwrap()).unwrap();
    u32::try_from(info["pid"].as_u64().unwrap()).unwrap()
}

#[test]
fn detached_daemon_lifecycle() {
    let env = Env::new();
    let listen = ["--listen", "127.0.0.1:0"];
    let out = env.qcold(&["serve", "--daemon", listen[0], listen[1]]).ok();
    assert!(out.contains("qcold daemon started"), "{out}");
    let first_pid = pid_file_pid(&env);
    let url = pid_file_url(&env);
    assert_eq!(http_get(&format!("{url}/healthz")).0, 200);
    let session = std::fs::read_to_string(format!("/proc/{first_pid}/stat")).unwrap();
    let fields: Vec<&str> = session.rsplit_once(')').unwrap().1.split_whitespace().collect();
    assert_eq!(fields[3], first_pid.to_string(), "the daemon leads its own session");
    assert!(env.state_dir().join("logs/daemon-127-0-0-1-0.log").is_file());

    let status = env.qcold(&["serve", "status", listen[0], listen[1]]).ok();
    assert!(status.contains(&format!("running pid {first_pid}")) && status.contains("healthy"), "{status}");

    // The original's spelling starts a replacement for the same address.
    let out = env.qcold(&["telegram", "serve", "--daemon", listen[0], listen[1]]).ok();
    assert!(out.contains(&format!("replaced daemon pid {first_pid}")), "{out}");
    assert!(wait_until(Duration::from_secs(10), || !alive(first_pid)), "the replaced daemon is gone");
    let second_pid = pid_file_pid(&env);
    assert_ne!(first_pid, second_pid);

    let out = env.qcold(&["serve", "stop", listen[0], listen[1]]).ok();
    assert!(out.contains(&format!("stopped daemon pid {second_pid}")), "{out}");
    assert!(!alive(second_pid));
    assert!(!pid_file(&env).exists());
    env.qcold(&["serve", "status", listen[0], listen[1]]).fails_with("no qcold daemon is running for 127.0.0.1:0");
    let out = env.qcold(&["serve", "stop", listen[0], listen[1]]).ok();
    assert!(out.contains("no qcold daemon is running"), "{out}");
}

#[test]
fn refuses_to_signal_a_pid_of_another_program() {
    let env = Env::new();
    let mut stranger = std::process::Command::new("sleep").arg("300").spawn().unwrap();
    std::fs::create_dir_all(env.state_dir().join("daemon")).unwrap();
    let info = serde_json::json!({"pid": stranger.id(), "listen": "127.0.0.1:0", "url": "http://127.0.0.1:1"});
    std::fs::write(pid_file(&env), info.to_string()).unwrap();

    for args in [&["serve", "stop"][..], &["serve", "--daemon"][..], &["serve", "status"][..]] {
        let mut full = args.to_vec();
        full.extend(["--listen", "127.0.0.1:0"]);
        env.qcold(&full).fails_with("which is not a qcold daemon for 127.0.0.1:0");
    }
    assert!(matches!(stranger.try_wait(), Ok(None)), "the other program was never signalled");
    assert!(pid_file(&env).exists(), "the pid file is left for the operator to judge");
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}
