use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use qcold_core::NodeSnapshot;
use qcold_core::api::ErrorBody;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::*;
use crate::Config;
use crate::token::WriteToken;

const HOST: &str = "127.0.0.1:8787";
const TOKEN: &str = "right-token-0123456789";

async fn app_with(token: Option<&str>) -> (Router, tempfile::TempDir, CancellationToken) {
    app_configured(|config| config.http.write_token = token.map(|t| WriteToken::parse(t).unwrap())).await
}

async fn app_configured(adjust: impl FnOnce(&mut Config)) -> (Router, tempfile::TempDir, CancellationToken) {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let mut config = Config::new(dir.path().join("state"), "9.9.9.1 abcdefabcdef");
    adjust(&mut config);
    let door = Door::new(&config, HOST.parse().unwrap()).unwrap();
    let (state, _sampler) = AppState::open(config, cancel.clone()).await.unwrap();
    (router(state, door), dir, cancel)
}

async fn app() -> (Router, tempfile::TempDir, CancellationToken) {
    app_with(None).await
}

async fn call(router: &Router, method: Method, path: &str) -> (StatusCode, String, Option<String>) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", HOST)
        .header("content-type", "application/json")
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let cache = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), cache)
}

#[tokio::test]
async fn routes_answer_with_core_types() {
    let (router, _dir, cancel) = app().await;
    assert_eq!(call(&router, Method::GET, "/healthz").await.1, "ok\n");

    let (status, body, cache) = call(&router, Method::GET, "/api/state").await;
    assert_eq!((status, cache.as_deref()), (StatusCode::OK, Some("no-store")));
    let state: StateResponse = serde_json::from_str(&body).unwrap();
    assert_eq!(state.build_id, "9.9.9.1 abcdefabcdef");
    assert!(state.repositories.repositories.is_empty());
    assert_eq!(state.node.heartbeat.version, state.build_id);

    let (status, body, _) = call(&router, Method::GET, "/api/node/snapshot").await;
    assert_eq!(status, StatusCode::OK);
    let node: NodeSnapshot = serde_json::from_str(&body).unwrap();
    assert!(node.resources.cpu.is_some());
    cancel.cancel();
}

#[tokio::test]
async fn unknown_api_routes_and_methods_are_refused_in_one_shape() {
    let (router, _dir, cancel) = app().await;
    let (status, body, _) = call(&router, Method::GET, "/api/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: ErrorBody = serde_json::from_str(&body).unwrap();
    assert_eq!((body.kind, body.error.as_str()), (ErrorKind::NotFound, "no api route /api/nope"));
    let (status, body, _) = call(&router, Method::PUT, "/api/state").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(serde_json::from_str::<ErrorBody>(&body).unwrap().kind, ErrorKind::MethodNotAllowed);
    cancel.cancel();
}

#[tokio::test]
async fn the_missing_dashboard_page_says_how_to_build_it() {
    let response = assets::missing_dashboard();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("cargo xtask web"), "{body}");
}

/// Every row of every table, so a test can tell whether a request stored anything.
fn dump(state_dir: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(state_dir.join("qcold.sqlite3")).unwrap();
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // The node's host samples change with time, not with requests.
    tables.retain(|t| t != "host_samples");
    let mut out = String::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1")).unwrap();
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |row| {
                Ok((0..columns).map(|i| format!("{:?}", row.get_ref(i).unwrap())).collect::<Vec<_>>().join("|"))
            })
            .unwrap();
        for row in rows {
            out.push_str(&format!("{table}: {}\n", row.unwrap()));
        }
    }
    out
}

/// A concrete path for a route's pattern.
fn concrete(path: &str) -> String {
    path.split('/').map(|part| if part.starts_with('{') { "x" } else { part }).collect::<Vec<_>>().join("/")
}

/// A request a hostile page (or a confused client) could send; `None` leaves a header out.
struct Attempt {
    name: &'static str,
    host: &'static str,
    origin: Option<&'static str>,
    content_type: Option<&'static str>,
    token: Option<&'static str>,
}

async fn status_of(router: &Router, method: &Method, path: &str, attempt: &Attempt) -> StatusCode {
    let mut request = Request::builder().method(method.clone()).uri(path).header("host", attempt.host);
    if let Some(origin) = attempt.origin {
        request = request.header("origin", origin);
    }
    if let Some(content_type) = attempt.content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(token) = attempt.token {
        request = request.header(crate::token::HEADER, token);
    }
    let body = if *method == Method::GET { Body::empty() } else { Body::from(r#"{"label":"pwned","id":"pwned"}"#) };
    router.clone().oneshot(request.body(body).unwrap()).await.unwrap().status()
}

#[tokio::test]
async fn every_route_refuses_foreign_hosts_origins_plain_text_and_bad_tokens_and_stores_nothing() {
    let (router, dir, cancel) = app_with(Some(TOKEN)).await;
    let state_dir = dir.path().join("state");
    let json = Some("application/json");
    let good = Some(TOKEN);
    let attempts = [
        Attempt { name: "foreign host", host: "evil.example:8787", origin: None, content_type: json, token: good },
        Attempt {
            name: "foreign origin",
            host: HOST,
            origin: Some("http://evil.example"),
            content_type: json,
            token: good,
        },
        Attempt { name: "text/plain", host: HOST, origin: None, content_type: Some("text/plain"), token: good },
        Attempt { name: "missing token", host: HOST, origin: None, content_type: json, token: None },
        Attempt {
            name: "wrong token",
            host: HOST,
            origin: None,
            content_type: json,
            token: Some("wrong-token-0123456789"),
        },
    ];
    let before = dump(&state_dir);
    let routes = routes();
    assert!(routes.len() >= 20, "the table covers every route");
    for route in &routes {
        let path = concrete(route.path);
        for attempt in &attempts {
            let want = match attempt.name {
                "foreign host" => Some(StatusCode::MISDIRECTED_REQUEST),
                "foreign origin" => Some(StatusCode::FORBIDDEN),
                _ if !route.is_mutating() => None,
                "text/plain" => Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                _ => Some(StatusCode::UNAUTHORIZED),
            };
            let got = status_of(&router, &route.method, &path, attempt).await;
            match want {
                Some(want) => assert_eq!(got, want, "{} {path} with {}", route.method, attempt.name),
                None => {
                    assert!(
                        got != StatusCode::UNAUTHORIZED,
                        "{} {path}: reads on loopback need no token",
                        route.method
                    );
                }
            }
            assert_eq!(dump(&state_dir), before, "{} {path} with {} changed the store", route.method, attempt.name);
        }
        // With everything right the door lets the request through (what the handler makes of
        // the sample body is the handler's business).
        let right = Attempt {
            name: "right",
            host: HOST,
            origin: Some("http://127.0.0.1:8787"),
            content_type: json,
            token: good,
        };
        let got = status_of(&router, &route.method, &path, &right).await;
        let door_statuses = [
            StatusCode::MISDIRECTED_REQUEST,
            StatusCode::FORBIDDEN,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::UNAUTHORIZED,
        ];
        assert!(!door_statuses.contains(&got), "{} {path} with everything right: {got}", route.method);
    }
    cancel.cancel();
}

#[tokio::test]
async fn every_route_judges_telegram_init_data_first_and_refusals_store_nothing() {
    let bot = crate::telegram::BotToken::parse("123456789:http-test-bot").unwrap();
    let settings =
        crate::telegram::Settings { allowed_users: vec![4242], ..crate::telegram::Settings::new(bot.clone()) };
    let (router, dir, cancel) = app_configured(|config| {
        config.http.write_token = Some(WriteToken::parse(TOKEN).unwrap());
        config.http.telegram = Some(settings);
    })
    .await;
    let state_dir = dir.path().join("state");
    let signed = |bot: &crate::telegram::BotToken, id: i64, age: i64| {
        let auth_date = (crate::unix_now() - age).to_string();
        crate::telegram::sign(bot, &[("auth_date", &auth_date), ("user", &format!(r#"{{"id":{id}}}"#))])
    };
    let other_bot = crate::telegram::BotToken::parse("987:another-bot").unwrap();
    let attempts = [
        ("forged", signed(&other_bot, 4242, 5), StatusCode::UNAUTHORIZED),
        ("stale", signed(&bot, 4242, 2 * 86_400), StatusCode::UNAUTHORIZED),
        ("not allowed", signed(&bot, 7, 5), StatusCode::FORBIDDEN),
    ];
    let send = |method: &Method, path: &str, init_data: &str| {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("host", HOST)
            .header("content-type", "application/json")
            .header(crate::telegram::HEADER, init_data)
            .body(if *method == Method::GET { Body::empty() } else { Body::from(r#"{"label":"pwned","id":"pwned"}"#) })
            .unwrap();
        router.clone().oneshot(request)
    };
    let before = dump(&state_dir);
    for route in routes() {
        let path = concrete(route.path);
        for (name, init_data, want) in &attempts {
            let got = send(&route.method, &path, init_data).await.unwrap().status();
            assert_eq!(got, *want, "{} {path} with {name} init data", route.method);
            assert_eq!(dump(&state_dir), before, "{} {path} with {name} init data changed the store", route.method);
        }
        let got = send(&route.method, &path, &signed(&bot, 4242, 5)).await.unwrap().status();
        assert!(
            ![StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&got),
            "{} {path} with good init data: {got}",
            route.method
        );
    }
    cancel.cancel();
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_they_are_read() {
    let (router, dir, cancel) = app().await;
    let before = dump(&dir.path().join("state"));
    let big = format!(r#"{{"label":"{}"}}"#, "x".repeat(2 << 20));
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/queue/tab/create")
        .header("host", HOST)
        .header("content-type", "application/json")
        .body(Body::from(big))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(serde_json::from_slice::<ErrorBody>(&body).unwrap().kind, ErrorKind::PayloadTooLarge);
    assert_eq!(dump(&dir.path().join("state")), before);
    cancel.cancel();
}

/// Sends `body` as JSON to `path` with everything else right; answers the status and the body.
async fn post_json(router: &Router, path: &str, body: &'static str) -> (StatusCode, String) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", HOST)
        .header("content-type", "application/json")
        .header(crate::token::HEADER, TOKEN)
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn every_post_route_refuses_bodies_that_are_not_its_object_and_stores_nothing() {
    let (router, dir, cancel) = app_with(Some(TOKEN)).await;
    let state_dir = dir.path().join("state");
    // A second tab, so that a `switch` or `delete` let through would have something to change.
    let (status, answer) = post_json(&router, "/api/queue/tab/create", r#"{"label":"second"}"#).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let before = dump(&state_dir);
    let bodies = ["[]", "null", r#""x""#, "1", "true", r#"{"qcold-no-such-field":true}"#];
    let mut posts = 0;
    for route in routes().iter().filter(|r| r.method == Method::POST) {
        posts += 1;
        let path = concrete(route.path);
        for body in bodies {
            let (status, answer) = post_json(&router, &path, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "POST {path} with {body}: {answer}");
            let answer: ErrorBody = serde_json::from_str(&answer).unwrap();
            assert_eq!(answer.kind, ErrorKind::BadRequest, "POST {path} with {body}");
            assert_eq!(dump(&state_dir), before, "POST {path} with {body} changed the store");
        }
    }
    assert!(posts >= 15, "the walk covers every POST route, found {posts}");
    cancel.cancel();
}

#[tokio::test]
async fn the_state_is_serialized_once_per_change_and_shared_between_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let config = Config::new(dir.path().join("state"), "9.9.9.1 abcdefabcdef");
    let (state, _sampler) = AppState::open(config, cancel.clone()).await.unwrap();
    let parse = |json: &axum::body::Bytes| serde_json::from_slice::<StateResponse>(json).unwrap();

    // Two reads in one second with nothing changed share one serialization.
    let (first, second) = loop {
        let (a, b) = (state.state_json().unwrap(), state.state_json().unwrap());
        if parse(&a).generated_at == parse(&b).generated_at {
            break (a, b);
        }
    };
    assert_eq!(first.as_ptr(), second.as_ptr(), "the second read is the first one's bytes");
    let served = parse(&first);
    let assembled = state.state();
    assert_eq!(
        StateResponse { generated_at: assembled.generated_at, ..served.clone() },
        assembled,
        "what state() says"
    );

    // A change is served at once.
    let mut sample = served.node.clone();
    sample.heartbeat.sampled_at += 1;
    state.publisher().publish_node(sample.clone());
    let changed = parse(&state.state_json().unwrap());
    assert_eq!(changed.node.heartbeat.sampled_at, sample.heartbeat.sampled_at);
    cancel.cancel();
}
