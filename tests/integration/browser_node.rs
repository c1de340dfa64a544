//! The node page in real headless Chromium: the snapshot's blocks with their status, and the
//! last hour as charts fetched once and then moved by the `node` events alone.

use std::time::Duration;

use fantoccini::{Client, Locator};
use qcold_tests::{Daemon, Env};

use crate::browser::{Driver, connect, text_containing, text_of};

/// How many points the `metric` chart's line has.
async fn points(client: &Client, metric: &str) -> usize {
    let d = client
        .execute(
            &format!("const p = document.querySelector(\"[data-testid='chart-{metric}'] path\"); return p ? p.getAttribute('d') : '';"),
            vec![],
        )
        .await
        .unwrap();
    d.as_str().unwrap_or_default().split(' ').filter(|p| !p.is_empty()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_page_charts_the_last_hour_and_moves_with_the_stream() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    // The sampler runs every second in the tests: wait for a history of a few samples.
    assert!(qcold_tests::wait_until(Duration::from_secs(30), || {
        let (_, body) = daemon.get("/api/node/history");
        serde_json::from_str::<serde_json::Value>(&body)
            .is_ok_and(|h| h["samples"].as_array().is_some_and(|s| s.len() >= 3))
    }));
    let driver = Driver::start();
    let client = connect(&driver, &env.path().join("chromium-profile")).await;
    client.set_window_size(360, 800).await.unwrap();
    client.goto(&format!("{}/node", daemon.url)).await.expect("open the node page");

    text_containing(&client, "[data-testid='block-heartbeat']", "heartbeat").await;
    let blocks = text_of(&client, "[data-testid='node-blocks']").await;
    for block in ["heartbeat", "managed", "queue", "resources", "proxy"] {
        assert!(blocks.contains(block), "{blocks}");
    }
    assert!(blocks.contains("fresh") || blocks.contains("partial") || blocks.contains("stale"), "{blocks}");
    text_containing(&client, "[data-testid='chart-cpu-now']", "%").await;
    let memory = text_containing(&client, "[data-testid='chart-memory-now']", "B").await;
    assert!(memory.chars().any(|c| c.is_ascii_digit()), "{memory}");
    text_containing(&client, "[data-testid='chart-disk-now']", "B").await;
    let load = text_of(&client, "[data-testid='chart-load-now']").await;
    assert!(load.parse::<f64>().is_ok(), "the current load: {load}");

    // The fetched history draws a line at once; new samples extend it, with no second fetch.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let first = loop {
        let n = points(&client, "load").await;
        if n >= 3 {
            break n;
        }
        assert!(std::time::Instant::now() < deadline, "the history never drew a line ({n} points)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while points(&client, "load").await <= first + 1 {
        assert!(std::time::Instant::now() < deadline, "the line never grew from the node events");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fetches = client
        .execute(
            "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/node/history')).length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fetches, serde_json::json!(1), "the history is fetched once, then the stream appends");
    let wide =
        client.execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![]).await.unwrap();
    assert_eq!(wide, serde_json::json!(true), "the charts fit 360 px");
    assert!(client.find(Locator::Css("[data-testid='node-history-error']")).await.is_err());
    client.close().await.unwrap();
}
