//! Every page at a phone's 390 × 844 in real headless Chromium, with some state on it (a
//! repository, a queue run and its task, a terminal agent): each is screenshotted and must not
//! scroll sideways.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::Client;
use qcold_tests::{tmux, wait_until};

use crate::browser::{Driver, connect, text_containing};

/// Ends Q-COLD's tmux server of an environment on drop, so a failing test leaves no agent behind.
struct KillServer<'a>(&'a qcold_tests::Env);

impl Drop for KillServer<'_> {
    fn drop(&mut self) {
        let _ = tmux(self.0, &["kill-server"]);
    }
}

/// Where the screenshots go: kept after the test, beside cargo's other test files.
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The page's width against the window's, once it has settled.
async fn overflow(client: &Client) -> (i64, i64) {
    let widths =
        client.execute("return [document.documentElement.scrollWidth, window.innerWidth];", vec![]).await.unwrap();
    (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_screen() {
    let fx = crate::queue::Fixture::new(&[]);
    let package = serde_json::json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [{"id": "first", "prompt": "a first item with a long prompt that would push a narrow page sideways if it did not wrap"}]
    });
    let fx = tokio::task::spawn_blocking(move || {
        fx.run(&package);
        fx
    })
    .await
    .unwrap();
    let _kill = KillServer(&fx.env);
    let daemon = fx.daemon();
    assert!(
        wait_until(Duration::from_secs(60), || daemon.get("/api/tasks").1.contains("\"status\":\"closed")),
        "the queue run's task closed: {}",
        daemon.get("/api/tasks").1
    );
    let tasks: serde_json::Value = serde_json::from_str(&daemon.get("/api/tasks").1).unwrap();
    let task = tasks.as_array().and_then(|t| t.first()).or_else(|| tasks["tasks"].as_array().and_then(|t| t.first()));
    let task = task.expect("a task")["id"].as_str().unwrap().to_owned();
    fx.env
        .qcold(&["agent", "start", "--track", "t", "--id", "term", "--terminal", "--", "bash", "-c", "echo ready; cat"])
        .ok();

    let driver = Driver::start();
    let client = connect(&driver, &fx.env.path().join("chromium-profile")).await;
    client.set_window_size(390, 844).await.unwrap();
    let task_page = format!("/tasks/{task}");
    let pages: [(&str, &str, &str, &str); 8] = [
        ("inbox", "/", "[data-testid='inbox']", ""),
        ("node", "/node", "[data-testid='chart-cpu-now']", "%"),
        ("agents", "/agents", "[data-testid='agent-commands']", "scripted"),
        ("queue", "/queue", "main", "first"),
        ("tasks", "/tasks", "[data-testid='tasks']", "first"),
        ("task", &task_page, "[data-testid='task']", "first"),
        ("terminals", "/terminals", "[data-testid='terminal-entry-term']", "running"),
        ("terminal", "/terminals/term", "[data-testid='terminal-screen']", "ready"),
    ];
    let dir = screenshots();
    let mut wide = Vec::new();
    for (name, path, ready, needle) in pages {
        client.goto(&format!("{}{path}", daemon.url)).await.unwrap();
        text_containing(&client, ready, needle).await;
        let png = client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("phone-{name}.png")), png).unwrap();
        let (scroll, inner) = overflow(&client).await;
        if scroll > inner {
            wide.push(format!("{name} ({path}): {scroll} px wide in a {inner} px window"));
        }
    }
    assert!(wide.is_empty(), "pages scroll sideways at 390 px (screenshots in {}): {wide:#?}", dir.display());
    client.close().await.unwrap();
}
