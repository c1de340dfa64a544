use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::*;
use crate::Config;

async fn app() -> (Router, tempfile::TempDir, CancellationToken) {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let state =
        AppState::start(Config::new(dir.path().join("state"), "9.9.9.1 abcdefabcdef"), cancel.clone()).await.unwrap();
    (router(state), dir, cancel)
}

async fn call(router: &Router, method: Method, path: &str) -> (StatusCode, String, Option<String>) {
    let response =
        router.clone().oneshot(Request::builder().method(method).uri(path).body(Body::empty()).unwrap()).await.unwrap();
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
async fn unknown_api_routes_and_methods_are_refused() {
    let (router, _dir, cancel) = app().await;
    let (status, body, _) = call(&router, Method::GET, "/api/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(serde_json::from_str::<ErrorBody>(&body).unwrap().error, "no api route /api/nope");
    let (status, _, _) = call(&router, Method::POST, "/api/state").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
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
