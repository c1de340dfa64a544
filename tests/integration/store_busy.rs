//! A store held by another writer past the busy timeout: the API answers 503 with
//! `Retry-After` and changes nothing, the CLI says to retry, and once the writer is gone the
//! same request goes through.

use std::time::Duration;

use qcold_core::api::{ErrorBody, ErrorKind};
use qcold_tests::{Daemon, Env};
use serde_json::{Value, json};

fn create_tab(daemon: &Daemon, label: &str) -> (u16, Option<String>, Value) {
    let url = format!("{}/api/queue/tab/create", daemon.url);
    match ureq::post(&url).timeout(Duration::from_secs(30)).send_json(json!({ "label": label })) {
        Ok(r) => (r.status(), r.header("retry-after").map(str::to_owned), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.header("retry-after").map(str::to_owned), r.into_json().unwrap()),
        Err(err) => panic!("POST {url}: {err}"),
    }
}

fn labels(daemon: &Daemon) -> Vec<String> {
    let (code, body) = daemon.get("/api/queue");
    assert_eq!(code, 200, "{body}");
    let view: Value = serde_json::from_str(&body).unwrap();
    view["tabs"].as_array().unwrap().iter().map(|t| t["label"].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn a_store_busy_past_its_timeout_answers_503_with_retry_after_and_changes_nothing() {
    let env = Env::new();
    let daemon = Daemon::start_with(&env, &[("QCOLD_SQLITE_BUSY_TIMEOUT_MS", "200")]);
    let before = labels(&daemon);

    let holder = rusqlite::Connection::open(env.state_dir().join("qcold.sqlite3")).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (code, retry_after, body) = create_tab(&daemon, "while-busy");
    assert_eq!(code, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    let refusal: ErrorBody = serde_json::from_value(body).unwrap();
    assert_eq!(refusal.kind, ErrorKind::StoreBusy, "{}", refusal.error);
    let listen = daemon.listen().to_owned();
    let cli = env.qcold(&["queue", "create", "from-cli", "--listen", &listen, "--no-start-daemon"]);
    let message = cli.fails_with("store is busy");
    assert!(message.contains("retry after 1 s"), "{message}");
    // Reads answer from the daemon's caches and never wait for the writer.
    assert_eq!(labels(&daemon), before);
    holder.execute_batch("ROLLBACK").unwrap();

    let (code, _, body) = create_tab(&daemon, "while-busy");
    assert_eq!(code, 200, "{body}");
    let mut want = before.clone();
    want.push("while-busy".to_owned());
    assert_eq!(labels(&daemon), want, "one tab, made by the retry; nothing half-written by the refusals");
    let conn = rusqlite::Connection::open(env.state_dir().join("qcold.sqlite3")).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}
