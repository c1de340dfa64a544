//! The dashboard's speed in real headless Chromium, against a real daemon holding 10,000 tasks
//! and a 1,000-item queue run: first meaningful paint and how fast one pushed item change shows.
//! A benchmark, not a test: it prints numbers and asserts only that the page works;
//! `cargo xtask bench` runs it (`--ignored`, release build). Speed is never a test assertion.

use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::{Driver, connect, text_of};

const TASKS: u32 = 10_000;
const ITEMS: usize = 1_000;
/// Items the queue page renders at first: it pages a run's items 50 at a time.
const FIRST_PAGE: usize = 50;
const PAINTS: usize = 5;
const UPDATES: usize = 10;

/// Resolves with `performance.now()` (milliseconds since navigation started) at the first frame
/// after `arguments[0]` (a CSS selector) is in the document.
const PAINTED_AT: &str = r"
const [selector, done] = [arguments[0], arguments[arguments.length - 1]];
const frame = () => requestAnimationFrame(() => done(performance.now()));
if (document.querySelector(selector)) { frame(); return; }
const seen = new MutationObserver(() => {
  if (document.querySelector(selector)) { seen.disconnect(); frame(); }
});
seen.observe(document, { childList: true, subtree: true });
";

/// POSTs `arguments[1]` to `/api/queue/update` from the page and resolves with the milliseconds
/// until the frame after the element `arguments[0]` shows the text `arguments[2]`.
const UPDATE_SHOWN_AFTER: &str = r"
const [selector, body, want, done] = arguments;
const started = performance.now();
const shown = () => document.querySelector(selector)?.textContent === want;
const seen = new MutationObserver(() => {
  if (shown()) { seen.disconnect(); requestAnimationFrame(() => done(performance.now() - started)); }
});
seen.observe(document, { childList: true, subtree: true, characterData: true });
fetch('/api/queue/update', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })
  .then(r => { if (!r.ok) r.text().then(t => done('refused: ' + t)); });
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: `cargo xtask bench` runs it"]
async fn bench_dashboard_paint_and_push() {
    let fx = crate::queue::Fixture::new(&[]);
    let daemon = fx.daemon();
    let db = fx.env.state_dir().join("qcold.sqlite3");
    let mut conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let tasks: Vec<(String, &str, u32, String, i64)> = (0..TASKS)
        .map(|i| (format!("bulk/{:03}-t{i}", i + 1), "bulk", i + 1, format!("t{i}"), 1_000_000 + i64::from(i)))
        .collect();
    crate::api_tasks::insert(&mut conn, &tasks);
    drop(conn);

    // A sequence whose first item waits: the other 999 stay pending, so they can be changed.
    let gate = fx.file("never");
    let items: Vec<Value> = (0..ITEMS)
        .map(|i| {
            let prompt = if i == 0 { format!("directive: wait-for {}", gate.display()) } else { format!("item {i}") };
            json!({"id": format!("i{i}"), "prompt": prompt, "task_class": "cheap"})
        })
        .collect();
    let run = fx.run(&json!({"repo": "web", "agent": "scripted", "execution_mode": "sequence", "items": items}));
    // Meaningful: the run's first page of items, down to its last card.
    let last = format!("[data-testid='queue-item-{run}-i{}']", FIRST_PAGE - 1);

    let driver = Driver::start();
    let client = connect(&driver, &fx.env.path().join("chromium-profile")).await;
    let mut paints = Vec::new();
    for _ in 0..PAINTS {
        client.goto(&format!("{}/queue", daemon.url)).await.expect("open the queue page");
        let at = client.execute_async(PAINTED_AT, vec![json!(last)]).await.expect("the first page's last item renders");
        paints.push(at.as_f64().expect("a time"));
    }
    let first = text_of(&client, &format!("[data-testid='queue-item-{run}-i1']")).await;
    assert!(first.contains("pending"), "the second item waits its turn: {first}");

    // The item's class is the first `.meta` of its card's head.
    let cell = format!("[data-testid='queue-item-{run}-i40'] .head .meta");
    let mut updates = Vec::new();
    for n in 0..UPDATES {
        let class = if n % 2 == 0 { "heavy" } else { "mid" };
        let body = json!({"run_id": run, "item_id": "i40", "task_class": class}).to_string();
        let took =
            client.execute_async(UPDATE_SHOWN_AFTER, vec![json!(cell), json!(body), json!(class)]).await.unwrap();
        updates.push(took.as_f64().unwrap_or_else(|| panic!("the update failed: {took}")));
    }
    client.close().await.unwrap();
    std::fs::write(&gate, "").unwrap();

    paints.sort_by(f64::total_cmp);
    updates.sort_by(f64::total_cmp);
    println!(
        "dashboard first meaningful paint, /queue with {ITEMS} items and {TASKS} tasks  p50 {:.0} ms  max {:.0} ms (budget 500 ms)",
        paints[paints.len() / 2],
        paints[paints.len() - 1]
    );
    println!(
        "dashboard one pushed item change shown, {FIRST_PAGE} of {ITEMS} items on the page  p50 {:.0} ms  max {:.0} ms",
        updates[updates.len() / 2],
        updates[updates.len() - 1]
    );
}
