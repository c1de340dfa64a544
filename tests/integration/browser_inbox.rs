//! The dashboard's inbox and agents pages in real headless Chromium: a failed queue item shows in
//! the inbox and `continue` there recovers it; agent commands show their readiness and refresh
//! re-probes it; an agent started from the page is stopped from it.

use std::time::Duration;

use fantoccini::{Client, Locator};
use qcold_tests::{Daemon, Env};
use serde_json::json;

use crate::browser::{Driver, connect, text_containing, text_of};
use crate::queue::Fixture;

/// Asserts that the page, at a phone's 390 px width, scrolls nowhere sideways.
async fn fits_a_phone(client: &Client, page: &str) {
    client.set_window_size(390, 844).await.unwrap();
    let overflow = client
        .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth;", vec![])
        .await
        .unwrap();
    assert!(overflow.as_i64().is_some_and(|o| o <= 0), "the {page} overflows a 390 px screen by {overflow} px");
}

async fn click(client: &Client, css: &str) {
    let element = client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"));
    element.click().await.unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_item_shows_in_the_inbox_and_continue_there_recovers_it() {
    // One iteration per budget: the first failure fails the item; the second run succeeds.
    let fx = Fixture::new(&[("QCOLD_QUEUE_MAX_ITERATIONS", "1")]);
    let driver = Driver::start();
    let client = connect(&driver, &fx.env.path().join("chromium-profile")).await;
    client.goto(&fx.daemon().url).await.expect("open the inbox");
    text_containing(&client, "[data-testid='inbox-empty']", "Nothing needs you.").await;
    text_containing(&client, "[data-testid='inbox-summary']", "0 runs in flight").await;

    let package = json!({"agent": "scripted", "items": [{"id": "flaky", "prompt": "try directive: fail-times 1"}]});
    let (fx, run) = tokio::task::spawn_blocking(move || {
        let run = fx.run(&package);
        (fx, run)
    })
    .await
    .unwrap();
    let entry = format!("[data-testid='inbox-entry-item-failed:{run}/flaky']");
    let text = text_containing(&client, &entry, "scripted failure 1").await;
    assert!(text.contains(&format!("{run}/flaky failed")), "the title names the item: {text}");
    assert!(text.contains("item-failed"), "the kind badge: {text}");
    assert!(text.contains("just now"), "its age: {text}");
    assert!(client.find(Locator::Css("[data-testid='inbox-empty']")).await.is_err(), "not empty now");
    assert_eq!(fx.agent_runs("flaky"), 1);
    fits_a_phone(&client, "inbox").await;

    click(&client, &format!("{entry} [data-testid='inbox-action-continue-run']")).await;
    let (fx, done) = tokio::task::spawn_blocking(move || {
        let done = fx.wait_status(&run, "success", Duration::from_secs(120));
        (fx, done)
    })
    .await
    .unwrap();
    assert_eq!(done["items"][0]["status"], "success", "{done}");
    assert_eq!(fx.agent_runs("flaky"), 2, "continue ran the item again");
    let inbox = text_containing(&client, "[data-testid='inbox']", "Needs you").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.find(Locator::Css(&entry)).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "the recovered item stays in the inbox: {inbox}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The run's exited agents are still registered (the snapshot's `managed` block says "prune
    // me"): that is no news, and the inbox is empty without a prune.
    text_containing(&client, "[data-testid='inbox']", "Nothing needs you.").await;
    text_containing(&client, "[data-testid='inbox-summary']", "0 runs in flight, 0 agents running.").await;
    drop(fx);
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_page_shows_readiness_refreshes_it_and_starts_and_stops_an_agent() {
    let env = Env::new();
    let flag = env.path().join("ready-flag");
    let probe = format!("test -e {}", flag.display());
    env.qcold(&["agent", "command", "add", "sleeper", "--probe", &probe, "--", "/bin/sleep", "600"]).ok();
    let daemon = Daemon::start(&env);
    let driver = Driver::start();
    let client = connect(&driver, &env.path().join("chromium-profile")).await;
    client.goto(&format!("{}/agents", daemon.url)).await.expect("open the agents page");

    let row = "[data-testid='agent-command-sleeper']";
    let text = text_containing(&client, row, "not ready").await;
    assert!(text.contains("/bin/sleep 600"), "the argv: {text}");
    // The probe would pass now, but the readiness shown is the one recorded until refreshed.
    std::fs::write(&flag, "").unwrap();
    click(&client, "[data-testid='agent-command-refresh-sleeper']").await;
    text_containing(&client, "[data-testid='agent-commands-outcome-ok']", "probed 1").await;
    let readiness = text_of(&client, &format!("{row} [data-testid='agent-command-readiness']")).await;
    assert_eq!(readiness, "ready", "refresh probed again");

    // Start it from the form, in the temp dir.
    let select = client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("[data-testid='agent-start-command'] option[value='sleeper']"))
        .await
        .expect("the ready command is offered");
    select.click().await.unwrap();
    let cwd = client.find(Locator::Css("[data-testid='agent-start-cwd']")).await.unwrap();
    cwd.send_keys(env.path().to_str().unwrap()).await.unwrap();
    click(&client, "[data-testid='agent-start-submit']").await;
    let started = text_containing(&client, "[data-testid='agent-start-outcome-ok']", "started agent").await;
    let id = started.trim_start_matches("started agent ").trim().to_owned();
    let agent = format!("[data-testid='agent-{id}']");
    text_containing(&client, &format!("{agent} [data-testid='agent-state']"), "running").await;
    let (_, body) = daemon.get("/api/agents");
    assert!(body.contains("\"/bin/sleep\"") && body.contains(&id), "the daemon runs it: {body}");

    // Stop it: the page says what ended, and its state turns exited.
    click(&client, &format!("{agent} [data-testid='agent-stop']")).await;
    text_containing(&client, &format!("{agent} [data-testid='agent-stop-outcome-ok']"), "stopped").await;
    text_containing(&client, &format!("{agent} [data-testid='agent-state']"), "exited").await;
    assert!(client.find(Locator::Css(&format!("{agent} [data-testid='agent-stop']"))).await.is_err(), "no stop");
    fits_a_phone(&client, "agents page").await;
    client.close().await.unwrap();
}
