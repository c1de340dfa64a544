use axum::http::{HeaderName, HeaderValue};

use super::*;

fn door(listen: &str, token: Option<&str>, hosts: &[&str], origins: &[&str]) -> Door {
    let mut config = Config::new(std::env::temp_dir().join("qcold-door-tests-no-state"), "test");
    config.http.write_token = token.map(|t| WriteToken::parse(t).unwrap());
    config.http.allowed_hosts = hosts.iter().map(|h| (*h).to_owned()).collect();
    config.http.allowed_origins = origins.iter().map(|o| (*o).to_owned()).collect();
    config.http.body_limit = 1000;
    Door::new(&config, listen.parse().unwrap()).unwrap()
}

/// Checks one request and renders the outcome as `ok` or `<status> <kind>`.
fn check(door: &Door, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    match door.check(&method.parse().unwrap(), path, &map) {
        Ok(()) => "ok".to_owned(),
        Err(err) => format!("{} {:?}", err.kind().status(), err.kind()),
    }
}

const JSON: (&str, &str) = ("content-type", "application/json");

/// A table row: method, headers, expected outcome.
type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn hosts_must_name_the_daemon() {
    let d = door("127.0.0.1:8787", None, &["box.lan", "qcold.example:443"], &[]);
    let table = [
        ("127.0.0.1:8787", "ok"),
        ("localhost:8787", "ok"),
        ("LOCALHOST:8787", "ok"),
        ("localhost.:8787", "ok"),
        ("[::1]:8787", "ok"),
        ("box.lan:9999", "ok"),
        ("box.lan", "ok"),
        ("qcold.example:443", "ok"),
        ("qcold.example:444", "421 MisdirectedRequest"),
        ("localhost:8788", "421 MisdirectedRequest"),
        ("localhost", "421 MisdirectedRequest"),
        ("evil.example:8787", "421 MisdirectedRequest"),
        ("127.0.0.1.evil.example:8787", "421 MisdirectedRequest"),
        ("127.0.0.1:8787@evil", "421 MisdirectedRequest"),
        ("", "421 MisdirectedRequest"),
    ];
    for (host, want) in table {
        assert_eq!(check(&d, "GET", "/api/state", &[("host", host)]), want, "Host: {host}");
    }
    assert_eq!(check(&d, "GET", "/api/state", &[]), "421 MisdirectedRequest", "no Host at all");
    let on_80 = door("127.0.0.1:80", None, &[], &[]);
    assert_eq!(check(&on_80, "GET", "/", &[("host", "localhost")]), "ok", "port 80 may be implied");
}

#[test]
fn foreign_origins_and_cross_site_writes_are_refused() {
    let d = door("127.0.0.1:8787", None, &[], &["https://web.telegram.org"]);
    let host = ("host", "127.0.0.1:8787");
    let table: [Row<'_>; 11] = [
        ("POST", &[host, JSON, ("origin", "http://127.0.0.1:8787")], "ok"),
        ("POST", &[host, JSON, ("origin", "https://web.telegram.org")], "ok"),
        ("POST", &[host, JSON, ("origin", "http://evil.example")], "403 Forbidden"),
        ("POST", &[host, JSON, ("origin", "http://localhost:8787")], "403 Forbidden"),
        ("POST", &[host, JSON, ("origin", "null")], "403 Forbidden"),
        ("GET", &[host, ("origin", "http://evil.example")], "403 Forbidden"),
        ("POST", &[host, JSON, ("sec-fetch-site", "cross-site")], "403 Forbidden"),
        ("POST", &[host, JSON, ("sec-fetch-site", "same-site")], "403 Forbidden"),
        ("POST", &[host, JSON, ("sec-fetch-site", "same-origin")], "ok"),
        ("POST", &[host, JSON], "ok"),
        ("GET", &[host, ("upgrade", "websocket"), ("sec-fetch-site", "cross-site")], "403 Forbidden"),
    ];
    for (method, headers, want) in table {
        assert_eq!(check(&d, method, "/api/queue/run", headers), want, "{method} {headers:?}");
    }
}

#[test]
fn writes_must_be_json() {
    let d = door("127.0.0.1:8787", None, &[], &[]);
    let host = ("host", "127.0.0.1:8787");
    for (content_type, want) in [
        ("application/json", "ok"),
        ("application/json; charset=utf-8", "ok"),
        ("Application/JSON", "ok"),
        ("text/plain", "415 UnsupportedMediaType"),
        ("application/x-www-form-urlencoded", "415 UnsupportedMediaType"),
        ("multipart/form-data; boundary=x", "415 UnsupportedMediaType"),
        ("application/jsonp", "415 UnsupportedMediaType"),
    ] {
        assert_eq!(
            check(&d, "POST", "/api/queue/run", &[host, ("content-type", content_type)]),
            want,
            "{content_type}"
        );
    }
    assert_eq!(check(&d, "POST", "/api/queue/run", &[host]), "415 UnsupportedMediaType", "no content type");
    assert_eq!(check(&d, "GET", "/api/queue", &[host]), "ok", "reads need no content type");
}

#[test]
fn the_token_guards_writes_and_websockets() {
    let token = "0123456789abcdef0123";
    let d = door("127.0.0.1:8787", Some(token), &[], &[]);
    let host = ("host", "127.0.0.1:8787");
    let right = ("x-qcold-write-token", token);
    let wrong = ("x-qcold-write-token", "0123456789abcdef0124");
    let table: [Row<'_>; 8] = [
        ("POST", &[host, JSON], "401 Unauthorized"),
        ("POST", &[host, JSON, wrong], "401 Unauthorized"),
        ("POST", &[host, JSON, right], "ok"),
        ("POST", &[host, JSON, wrong, right], "ok"),
        ("GET", &[host], "ok"),
        ("GET", &[host, ("upgrade", "websocket")], "401 Unauthorized"),
        (
            "GET",
            &[host, ("upgrade", "websocket"), ("sec-websocket-protocol", "qcold, qcold-token.0123456789abcdef0123")],
            "ok",
        ),
        (
            "GET",
            &[host, ("upgrade", "websocket"), ("sec-websocket-protocol", "qcold, qcold-token.nope")],
            "401 Unauthorized",
        ),
    ];
    for (method, headers, want) in table {
        assert_eq!(check(&d, method, "/api/agents/a/terminal", headers), want, "{method} {headers:?}");
    }
    // A token in a subprotocol counts only for a WebSocket.
    let protocol = ("sec-websocket-protocol", "qcold-token.0123456789abcdef0123");
    assert_eq!(check(&d, "POST", "/api/queue/run", &[host, JSON, protocol]), "401 Unauthorized");
}

#[test]
fn beyond_loopback_reads_need_the_token_and_no_token_means_no_start() {
    let token = "0123456789abcdef0123";
    let d = door("0.0.0.0:8787", Some(token), &["box.lan"], &[]);
    let host = ("host", "box.lan:8787");
    assert_eq!(check(&d, "GET", "/api/state", &[host]), "401 Unauthorized");
    assert_eq!(check(&d, "GET", "/api/state", &[host, ("x-qcold-write-token", token)]), "ok");
    assert_eq!(check(&d, "GET", "/healthz", &[host]), "ok", "health needs no token");
    assert_eq!(check(&d, "GET", "/index.html", &[host]), "ok", "the dashboard's files hold no data");

    let config = Config::new(std::env::temp_dir().join("qcold-door-tests-no-state"), "test");
    let err = Door::new(&config, "0.0.0.0:8787".parse().unwrap()).unwrap_err().to_string();
    assert!(err.contains("qcold serve token new") && err.contains("127.0.0.1"), "{err}");
    let mut required = config.clone();
    required.http.require_write_token = true;
    let err = Door::new(&required, "127.0.0.1:8787".parse().unwrap()).unwrap_err().to_string();
    assert!(err.contains("QCOLD_WEBAPP_REQUIRE_WRITE_TOKEN"), "{err}");
    let mut bad_origin = config;
    bad_origin.http.allowed_origins = vec!["https://x.example/path".into()];
    assert!(Door::new(&bad_origin, "127.0.0.1:8787".parse().unwrap()).is_err());
}

#[test]
fn declared_bodies_beyond_the_limit_are_refused() {
    let d = door("127.0.0.1:8787", None, &[], &[]);
    let host = ("host", "127.0.0.1:8787");
    assert_eq!(check(&d, "POST", "/api/queue/run", &[host, JSON, ("content-length", "1000")]), "ok");
    assert_eq!(check(&d, "POST", "/api/queue/run", &[host, JSON, ("content-length", "1001")]), "413 PayloadTooLarge");
}

const BOT: &str = "123456789:door-test-bot-token";

/// A door with a write token and Telegram sign-in for user 4242.
fn telegram_door(listen: &str, with_telegram: bool) -> Door {
    let mut config = Config::new(std::env::temp_dir().join("qcold-door-tests-no-state"), "test");
    config.http.write_token = Some(WriteToken::parse("0123456789abcdef0123").unwrap());
    config.http.body_limit = 1000;
    let mut settings = telegram::Settings::new(telegram::BotToken::parse(BOT).unwrap());
    settings.allowed_users = vec![4242];
    config.http.telegram = with_telegram.then_some(settings);
    Door::new(&config, listen.parse().unwrap()).unwrap()
}

/// `initData` for `user_id`, signed by `bot`, `age` seconds old.
fn init_data(bot: &str, user_id: i64, age: i64) -> String {
    let user = format!(r#"{{"id":{user_id},"first_name":"T"}}"#);
    let auth_date = (crate::unix_now() - age).to_string();
    telegram::sign(&telegram::BotToken::parse(bot).unwrap(), &[("auth_date", &auth_date), ("user", &user)])
}

#[test]
fn telegram_init_data_stands_in_for_the_token_and_keeps_every_other_rule() {
    let d = telegram_door("127.0.0.1:8787", true);
    let host = ("host", "127.0.0.1:8787");
    let good = init_data(BOT, 4242, 5);
    let forged = init_data("987:another-bot", 4242, 5);
    let stranger = init_data(BOT, 7, 5);
    let stale = init_data(BOT, 4242, 24 * 3600 + 60);
    fn tg(value: &str) -> (&'static str, &str) {
        ("x-telegram-init-data", value)
    }
    let (good_h, forged_h, stale_h, stranger_h, empty_h) = (tg(&good), tg(&forged), tg(&stale), tg(&stranger), tg(""));
    let table: [Row<'_>; 14] = [
        ("POST", &[host, JSON, good_h], "ok"),
        ("POST", &[host, JSON, forged_h], "401 Unauthorized"),
        ("POST", &[host, JSON, stale_h], "401 Unauthorized"),
        ("POST", &[host, JSON, stranger_h], "403 Forbidden"),
        ("POST", &[host, JSON, empty_h], "401 Unauthorized"),
        ("POST", &[host, JSON, good_h, good_h], "401 Unauthorized"),
        ("POST", &[host, JSON], "401 Unauthorized"),
        // A bad `initData` is refused even where no token would be asked for.
        ("GET", &[host, forged_h], "401 Unauthorized"),
        ("GET", &[host, good_h], "ok"),
        ("GET", &[host], "ok"),
        // Every other rule holds for a signed-in request.
        ("POST", &[host, ("content-type", "text/plain"), good_h], "415 UnsupportedMediaType"),
        ("POST", &[host, JSON, ("origin", "http://evil.example"), good_h], "403 Forbidden"),
        ("POST", &[host, JSON, ("sec-fetch-site", "cross-site"), good_h], "403 Forbidden"),
        ("POST", &[host, JSON, ("content-length", "1001"), good_h], "413 PayloadTooLarge"),
    ];
    for (method, headers, want) in table {
        assert_eq!(check(&d, method, "/api/queue/run", headers), want, "{method} {headers:?}");
    }
    let rebound = [("host", "evil.example:8787"), JSON, ("x-telegram-init-data", good.as_str())];
    assert_eq!(check(&d, "POST", "/api/queue/run", &rebound), "421 MisdirectedRequest");

    // The refusal names the reason, never the data.
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8787"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(telegram::HEADER, HeaderValue::from_str(&forged).unwrap());
    let refusal = d.check(&Method::POST, "/api/queue/run", &headers).unwrap_err();
    assert!(refusal.message().contains("not signed by this daemon's bot"), "{}", refusal.message());
    assert!(!refusal.message().contains("auth_date") && !refusal.message().contains("hash"), "{}", refusal.message());
}

#[test]
fn a_websocket_offers_telegram_init_data_as_a_subprotocol() {
    use base64::Engine as _;
    let d = telegram_door("127.0.0.1:8787", true);
    let host = ("host", "127.0.0.1:8787");
    let ws = ("upgrade", "websocket");
    let encode = |init: &str| {
        format!(
            "qcold, {}{}",
            telegram::WS_PROTOCOL_PREFIX,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(init)
        )
    };
    let (good, forged, stranger) = (
        encode(&init_data(BOT, 4242, 5)),
        encode(&init_data("987:another-bot", 4242, 5)),
        encode(&init_data(BOT, 7, 5)),
    );
    let protocol = |p: &str| ("sec-websocket-protocol", p.to_owned());
    let good_p = protocol(&good);
    let table: [(&[(&str, &str)], &str); 6] = [
        (&[host, ws, (good_p.0, &good_p.1)], "ok"),
        (&[host, ws, ("sec-websocket-protocol", &forged)], "401 Unauthorized"),
        (&[host, ws, ("sec-websocket-protocol", &stranger)], "403 Forbidden"),
        (&[host, ws, ("sec-websocket-protocol", "qcold, qcold-telegram.not*base64")], "401 Unauthorized"),
        (&[host, ws, ("sec-websocket-protocol", "qcold")], "401 Unauthorized"),
        // Twice is refused, as the header twice is.
        (&[host, ws, (good_p.0, &good_p.1), (good_p.0, &good_p.1)], "401 Unauthorized"),
    ];
    for (headers, want) in table {
        assert_eq!(check(&d, "GET", "/api/agents/a/terminal", headers), want, "{headers:?}");
    }
    // The subprotocol counts only for a WebSocket: a write must use the header.
    assert_eq!(check(&d, "POST", "/api/queue/run", &[host, JSON, (good_p.0, &good_p.1)]), "401 Unauthorized");
}

#[test]
fn telegram_init_data_opens_reads_beyond_loopback_and_counts_only_when_configured() {
    let exposed = telegram_door("0.0.0.0:8787", true);
    let host = ("host", "127.0.0.1:8787");
    let good = init_data(BOT, 4242, 5);
    let tg = ("x-telegram-init-data", good.as_str());
    assert_eq!(check(&exposed, "GET", "/api/state", &[host]), "401 Unauthorized");
    assert_eq!(check(&exposed, "GET", "/api/state", &[host, tg]), "ok");
    assert_eq!(exposed.telegram_users(), Some(1));

    // Without a bot token the header means nothing: the write token is still asked for.
    let plain = telegram_door("127.0.0.1:8787", false);
    assert_eq!(check(&plain, "POST", "/api/queue/run", &[host, JSON, tg]), "401 Unauthorized");
    assert_eq!(check(&plain, "GET", "/api/state", &[host, ("x-telegram-init-data", "garbage")]), "ok");
    assert_eq!(plain.telegram_users(), None);
}
