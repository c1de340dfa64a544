//! Telegram WebApp sign-in against a real daemon: a phone with the bot's signed `initData` writes
//! without the write token; forged, stale or unlisted `initData` is refused, says why, and stores
//! nothing.
//!
//! `initData` is signed here with the `hmac` crate directly, as Telegram does it, not with the
//! daemon's code, so a mistake shared by signer and verifier cannot hide.

use hmac::{Hmac, Mac as _};
use qcold_core::api::ErrorKind;
use std::time::Duration;

use qcold_tests::{Daemon, Env, wait_until};
use serde_json::Value;
use sha2::Sha256;

use crate::security::{kind, raw};

pub(crate) const BOT: &str = "123456789:integration-bot-token-Zq";
pub(crate) const WRITE_TOKEN: &str = "integration-write-token-0123";
pub(crate) const ALLOWED: i64 = 4242;

fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

/// Percent-encodes everything but unreserved characters, as Telegram's clients do.
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The `initData` a Telegram client would send for `user_id`, `age` seconds old, signed by `bot`.
pub(crate) fn init_data(bot: &str, user_id: i64, age: i64) -> String {
    let user = format!(r#"{{"id":{user_id},"first_name":"Ann Lee","username":"ann"}}"#);
    let mut fields = [
        ("query_id", "AAHdF6IQAAAAAN0XohDhrOrc".to_owned()),
        ("user", user),
        ("auth_date", (now() - age).to_string()),
        ("signature", "c2lnbmF0dXJl".to_owned()),
    ];
    let mut secret = Hmac::<Sha256>::new_from_slice(b"WebAppData").unwrap();
    secret.update(bot.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.finalize().into_bytes()).unwrap();
    let mut sorted = fields.clone();
    sorted.sort();
    mac.update(sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n").as_bytes());
    let hash: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    fields.iter_mut().for_each(|(_, v)| *v = encode(v));
    let query: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}&hash={hash}", query.join("&"))
}

/// A daemon that requires its write token and lets user 4242 sign in through Telegram.
pub(crate) fn daemon(env: &Env) -> Daemon {
    Daemon::start_with(
        env,
        &[
            ("QCOLD_WEBAPP_WRITE_TOKEN", WRITE_TOKEN),
            ("QCOLD_WEBAPP_REQUIRE_WRITE_TOKEN", "1"),
            ("QCOLD_TELEGRAM_BOT_TOKEN", BOT),
            ("QCOLD_TELEGRAM_ALLOWED_USERS", "1, 4242"),
        ],
    )
}

/// Creates a queue tab labelled `label`, sending `init_data` if any (and never the token).
fn create_tab(daemon: &Daemon, label: &str, init_data: Option<&str>) -> (u16, String) {
    let listen = daemon.listen();
    let mut headers = vec![("Host", listen), ("Content-Type", "application/json")];
    headers.extend(init_data.map(|d| ("X-Telegram-Init-Data", d)));
    raw(listen, "POST", "/api/queue/tab/create", &headers, &format!(r#"{{"label":"{label}"}}"#))
}

fn tabs(daemon: &Daemon) -> Vec<String> {
    let (code, body) = daemon.get("/api/queue");
    assert_eq!(code, 200, "{body}");
    let view: Value = serde_json::from_str(&body).unwrap();
    view["tabs"].as_array().unwrap().iter().map(|t| t["label"].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn a_phone_with_the_bots_signed_init_data_writes_without_the_token() {
    let env = Env::new();
    let daemon = daemon(&env);
    let signed = init_data(BOT, ALLOWED, 30);
    let (code, body) = create_tab(&daemon, "from-phone", Some(&signed));
    assert_eq!(code, 200, "{body}");
    assert!(tabs(&daemon).contains(&"from-phone".to_owned()), "the write was stored");
    // Reads with the header are judged by it too, and pass.
    let listen = daemon.listen().to_owned();
    let headers = [("Host", listen.as_str()), ("X-Telegram-Init-Data", signed.as_str())];
    assert_eq!(raw(&listen, "GET", "/api/state", &headers, "").0, 200);
    let (_, state) = daemon.get("/api/state");
    assert!(!state.contains("integration-bot-token"), "the bot token is never served");
    drop(daemon);
    let log = std::fs::read_to_string(env.path().join("daemon.log")).unwrap();
    assert!(log.contains("Telegram WebApp sign-in is on for 2 allowed user(s)"), "{log}");
    assert!(!log.contains("integration-bot-token"), "the log never carries the bot token");
}

#[test]
fn forged_stale_and_unlisted_init_data_are_refused_say_why_and_store_nothing() {
    let env = Env::new();
    let daemon = daemon(&env);
    let before = tabs(&daemon);
    let forged = init_data("987654321:some-other-bot-token", ALLOWED, 30);
    let tampered = init_data(BOT, ALLOWED, 30).replace("4242", "4243");
    let stale = init_data(BOT, ALLOWED, 2 * 86_400);
    let unlisted = init_data(BOT, 777, 30);
    let table = [
        (Some(forged.as_str()), 401, ErrorKind::Unauthorized, "not signed by this daemon's bot"),
        (Some(tampered.as_str()), 401, ErrorKind::Unauthorized, "not signed by this daemon's bot"),
        (Some(stale.as_str()), 401, ErrorKind::Unauthorized, "stale"),
        (Some(unlisted.as_str()), 403, ErrorKind::Forbidden, "Telegram user 777 is not allowed"),
        (Some("user=%7B%7D"), 401, ErrorKind::Unauthorized, "malformed"),
        (None, 401, ErrorKind::Unauthorized, "X-QCOLD-Write-Token"),
    ];
    for (init_data, code, want_kind, reason) in table {
        let (got, body) = create_tab(&daemon, "pwned", init_data);
        assert_eq!((got, kind(&body)), (code, want_kind), "{init_data:?}: {body}");
        assert!(body.contains(reason), "{init_data:?}: the refusal names the reason: {body}");
        assert!(!body.contains("auth_date") && !body.contains("query_id"), "never echoes the data: {body}");
    }
    assert_eq!(tabs(&daemon), before, "nothing was stored");
}

#[test]
fn unusable_telegram_settings_stop_the_start_without_echoing_the_bot_token() {
    let env = Env::new();
    for (vars, needle) in [
        (
            vec![("QCOLD_TELEGRAM_BOT_TOKEN", BOT), ("QCOLD_TELEGRAM_ALLOWED_USERS", "@ann")],
            "QCOLD_TELEGRAM_ALLOWED_USERS",
        ),
        (vec![("QCOLD_TELEGRAM_BOT_TOKEN", "no colon integration-bot-token")], "QCOLD_TELEGRAM_BOT_TOKEN"),
        (vec![("QCOLD_TELEGRAM_ALLOWED_USERS", "4242")], "need QCOLD_TELEGRAM_BOT_TOKEN"),
    ] {
        // Bounded: a daemon that ignored the settings would serve until killed.
        let stderr = env.path().join("refused.log");
        let mut child = env
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .envs(vars)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let exited = wait_until(Duration::from_secs(30), || child.try_wait().unwrap().is_some());
        let _ = child.kill();
        let status = child.wait().unwrap();
        let stderr = std::fs::read_to_string(&stderr).unwrap();
        assert!(exited && !status.success(), "the daemon refused to start: {stderr}");
        assert!(stderr.contains(needle) && !stderr.contains("integration-bot-token"), "{stderr}");
    }
}
