//! The dashboard's queue page in real headless Chromium: a two-item graph composed in the
//! browser (its agent chosen from the registered commands), checked live by qcold-core's graph
//! checks (a cycle shown on its items) and run by the scripted agent; a draft that survives a
//! reload; tabs, a pending item's update and removal, stop and continue, each with its outcome
//! inline; a tab showing only its run, with unfinished runs of no tab listed below, and stop and
//! kill; and every write off while the dashboard is read-only.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use qcold_tests::{Daemon, Env};
use serde_json::{Value, json};

use crate::browser::{Driver, choose, click, connect, find, text_containing, text_of, type_into};
use crate::queue::Fixture;

/// Clicks the button at `css` once it is enabled (a write in flight disables its neighbours).
async fn click_enabled(client: &Client, css: &str) {
    disabled(client, css, false).await;
    click(client, css).await;
}

/// Waits until nothing matches `css`.
async fn gone(client: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.find(Locator::Css(css)).await.is_ok() {
        assert!(Instant::now() < deadline, "{css} stays");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the element at `css` is (or is not) disabled.
async fn disabled(client: &Client, css: &str, want: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(attr) = element.attr("disabled").await
            && attr.is_some() == want
        {
            return;
        }
        assert!(Instant::now() < deadline, "{css} never became disabled={want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a blocking fixture call off the async runtime.
async fn blocking<T: Send + 'static>(fx: Fixture, f: impl FnOnce(&Fixture) -> T + Send + 'static) -> (Fixture, T) {
    tokio::task::spawn_blocking(move || {
        let out = f(&fx);
        (fx, out)
    })
    .await
    .unwrap()
}

fn overflow_js() -> &'static str {
    "return document.documentElement.scrollWidth - document.documentElement.clientWidth;"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_composed_in_the_browser_is_checked_live_and_runs_by_waves() {
    let fx = Fixture::new(&[]);
    let driver = Driver::start();
    let client = connect(&driver, &fx.env.path().join("chromium-profile")).await;
    client.goto(&format!("{}/queue", fx.daemon().url)).await.expect("open the queue page");
    text_containing(&client, "[data-testid='queue-main']", "No runs in this tab").await;

    // The agent: a registered command, with its readiness; the first option is the first ready one.
    let agent = "[data-testid='composer-agent']";
    choose(&client, agent, "scripted").await;
    let option = text_of(&client, &format!("{agent} option[value='scripted']")).await;
    assert!(option.starts_with("scripted · "), "{option}");
    let first_option = find(&client, &format!("{agent} option")).await;
    assert_eq!(first_option.attr("value").await.unwrap().as_deref(), Some(""));
    let first = "[data-testid='composer-item-1']";
    type_into(&client, &format!("{first} [data-testid='composer-item-id']"), "first").await;
    type_into(&client, &format!("{first} [data-testid='composer-item-prompt']"), "the first step").await;
    click(&client, "[data-testid='composer-add']").await;
    let second = "[data-testid='composer-item-2']";
    type_into(&client, &format!("{second} [data-testid='composer-item-id']"), "second").await;
    // An empty prompt is an error of qcold-core's graph check: shown on that item, and Run is off.
    let empty =
        text_containing(&client, &format!("{second} [data-testid='composer-diagnostic']"), "empty prompt").await;
    assert!(empty.contains("second"), "{empty}");
    disabled(&client, "[data-testid='composer-run']", true).await;
    type_into(&client, &format!("{second} [data-testid='composer-item-prompt']"), "after the first").await;
    // A dependency on an unknown item: qcold-core's warning, on the item that names it.
    type_into(&client, &format!("{second} [data-testid='composer-item-depends']"), "frist").await;
    let missing = text_containing(&client, &format!("{second} [data-testid='composer-diagnostic']"), "frist").await;
    assert!(missing.contains("no item of the run"), "{missing}");
    assert!(
        client.find(Locator::Css(&format!("{first} [data-testid='composer-diagnostic']"))).await.is_err(),
        "the first item is fine"
    );
    type_into(&client, &format!("{second} [data-testid='composer-item-depends']"), "first").await;
    gone(&client, "[data-testid='composer-diagnostic']").await;
    // A cycle: qcold-core's error on each item of it, none composer-wide.
    type_into(&client, &format!("{first} [data-testid='composer-item-depends']"), "second").await;
    for item in [first, second] {
        let cycle = text_containing(&client, &format!("{item} [data-testid='composer-diagnostic']"), "cycle").await;
        assert!(cycle.contains("first -> second -> first"), "{cycle}");
    }
    let general = "[data-testid='composer-diagnostics'] [data-testid='composer-diagnostic']";
    assert!(client.find(Locator::Css(general)).await.is_err(), "the cycle is shown on its items only");
    disabled(&client, "[data-testid='composer-run']", true).await;
    type_into(&client, &format!("{first} [data-testid='composer-item-depends']"), "").await;
    gone(&client, "[data-testid='composer-diagnostic']").await;
    disabled(&client, "[data-testid='composer-run']", false).await;
    click(&client, "[data-testid='composer-run']").await;
    text_of(&client, "[data-testid='composer-outcome-ok']").await;

    let (fx, run) = blocking(fx, |fx| fx.view()["runs"][0]["id"].as_str().expect("a run").to_owned()).await;
    text_containing(&client, &format!("[data-testid='queue-run-{run}'] h3"), "success").await;
    for id in ["first", "second"] {
        let row = text_containing(&client, &format!("[data-testid='queue-item-{run}-{id}']"), "success").await;
        assert!(row.contains("its task closed successfully"), "{row}");
    }
    // The graph: one column per wave, the dependency drawn as an arrow.
    let node = |id: &str| format!("[data-testid='queue-graph-{run}'] [data-testid='queue-node-{run}-{id}']");
    assert_eq!(find(&client, &node("first")).await.attr("data-wave").await.unwrap().as_deref(), Some("0"));
    assert_eq!(find(&client, &node("second")).await.attr("data-wave").await.unwrap().as_deref(), Some("1"));
    find(&client, &format!("[data-testid='queue-edge-{run}-first-second']")).await;
    let after =
        text_of(&client, &format!("[data-testid='queue-item-{run}-second'] [data-testid='queue-item-after']")).await;
    assert_eq!(after, "after first");
    // The attempt, with its agent's output log.
    let item = format!("[data-testid='queue-item-{run}-first']");
    click(&client, &format!("{item} [data-testid='queue-item-attempts'] summary")).await;
    text_containing(&client, &format!("{item} [data-testid='attempt-1']"), "iteration 1").await;
    click(&client, &format!("{item} [data-testid='attempt-log-fetch']")).await;
    text_containing(&client, &format!("{item} [data-testid='attempt-log']"), "scripted agent: run 1 of first").await;

    client.set_window_size(390, 844).await.unwrap();
    let overflow = client.execute(overflow_js(), vec![]).await.unwrap();
    assert!(overflow.as_i64().is_some_and(|o| o <= 0), "the queue page overflows 390 px by {overflow}");
    click(&client, "[data-testid='nav'] a[href='/']").await;
    text_containing(&client, "[data-testid='inbox']", "Nothing needs you.").await;
    drop(fx);
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_survives_a_reload() {
    let env = Env::new();
    env.qcold(&["agent", "command", "add", "scripted", "--probe", "true", "--", "true"]).ok();
    let daemon = Daemon::start(&env);
    let driver = Driver::start();
    let client = connect(&driver, &env.path().join("chromium-profile")).await;
    client.goto(&format!("{}/queue", daemon.url)).await.expect("open the queue page");
    choose(&client, "[data-testid='composer-agent']", "scripted").await;
    type_into(&client, "[data-testid='composer-item-1'] [data-testid='composer-item-prompt']", "keep me").await;
    click(&client, "[data-testid='composer-add']").await;
    type_into(&client, "[data-testid='composer-item-2'] [data-testid='composer-item-prompt']", "and me").await;
    type_into(&client, "[data-testid='composer-item-2'] [data-testid='composer-item-depends']", "item-1").await;

    client.refresh().await.unwrap();
    let value = |css: &'static str| {
        let client = client.clone();
        async move { find(&client, css).await.prop("value").await.unwrap().unwrap_or_default() }
    };
    assert_eq!(value("[data-testid='composer-agent']").await, "scripted");
    assert_eq!(value("[data-testid='composer-item-1'] [data-testid='composer-item-prompt']").await, "keep me");
    assert_eq!(value("[data-testid='composer-item-2'] [data-testid='composer-item-prompt']").await, "and me");
    assert_eq!(value("[data-testid='composer-item-2'] [data-testid='composer-item-depends']").await, "item-1");
    let stored = client.execute("return Object.keys(localStorage);", vec![]).await.unwrap();
    assert_eq!(stored, json!(["qcold-queue-draft"]), "the draft, and nothing else, is kept");

    // A new draft forgets the old one.
    click(&client, "[data-testid='composer-reset']").await;
    gone(&client, "[data-testid='composer-item-2']").await;
    let stored = client.execute("return localStorage.length;", vec![]).await.unwrap();
    assert_eq!(stored, json!(0));
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_pending_items_and_stop_continue_are_driven_from_the_page() {
    let fx = Fixture::new(&[]);
    let driver = Driver::start();
    let client = connect(&driver, &fx.env.path().join("chromium-profile")).await;
    client.goto(&format!("{}/queue", fx.daemon().url)).await.expect("open the queue page");

    // Tabs: create one (it turns active), switch back to the default, delete the new one.
    type_into(&client, "[data-testid='queue-tab-label']", "Second").await;
    click(&client, "[data-testid='queue-tab-create']").await;
    text_of(&client, "[data-testid='queue-action-ok']").await;
    let (fx, tab) = blocking(fx, |fx| {
        let view = fx.view();
        let tabs = view["tabs"].as_array().unwrap();
        tabs.iter().find(|t| t["label"] == "Second").expect("the new tab")["id"].as_str().unwrap().to_owned()
    })
    .await;
    let chip = format!("[data-testid='queue-tab-{tab}']");
    text_containing(&client, &chip, "Second").await;
    // A new tab is the active one (its switch is off), until another is switched to.
    disabled(&client, &chip, true).await;
    click_enabled(&client, "[data-testid='queue-tab-default']").await;
    disabled(&client, "[data-testid='queue-tab-default']", true).await;
    click_enabled(&client, &format!("[data-testid='queue-tab-delete-{tab}']")).await;
    gone(&client, &chip).await;
    text_of(&client, "[data-testid='queue-action-ok']").await;

    // A run whose first item waits on a gate: the others stay pending meanwhile.
    let gate = fx.file("gate");
    let package = json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [
            {"id": "first", "prompt": format!("slow directive: wait-for {}", gate.display())},
            {"id": "second", "prompt": "after first", "depends_on": "first"},
            {"id": "third", "prompt": "also after first", "depends_on": "first"}
        ]
    });
    let (fx, run) = blocking(fx, move |fx| fx.run(&package)).await;
    let item = |id: &str| format!("[data-testid='queue-item-{run}-{id}']");
    text_containing(&client, &item("first"), "running").await;

    // Update the pending second item, remove the third.
    click(&client, &format!("{} [data-testid='queue-item-edit-open']", item("second"))).await;
    type_into(&client, &format!("{} [data-testid='queue-item-edit-prompt']", item("second")), "a new prompt").await;
    click(&client, &format!("{} [data-testid='queue-item-save']", item("second"))).await;
    text_of(&client, &format!("{} [data-testid='queue-item-outcome-ok']", item("second"))).await;
    gone(&client, &format!("{} [data-testid='queue-item-edit']", item("second"))).await;
    click(&client, &format!("{} [data-testid='queue-item-remove']", item("third"))).await;
    gone(&client, &item("third")).await;
    let (fx, (second, third)) = blocking(fx, {
        let run = run.clone();
        move |fx| (fx.item(&run, "second"), fx.item(&run, "third"))
    })
    .await;
    assert_eq!(second["prompt"], "a new prompt", "{second}");
    assert_eq!(third, Value::Null, "removed");
    // An item in flight offers neither.
    assert!(client.find(Locator::Css(&format!("{} [data-testid='queue-item-remove']", item("first")))).await.is_err());

    // Stop: the first finishes, the second is stopped until continue.
    let run_css = format!("[data-testid='queue-run-{run}']");
    click(&client, &format!("{run_css} [data-testid='queue-run-stop']")).await;
    text_of(&client, &format!("{run_css} [data-testid='queue-run-outcome-ok']")).await;
    std::fs::write(&gate, "").unwrap();
    text_containing(&client, &format!("{run_css} h3"), "stopped").await;
    text_containing(&client, &item("first"), "success").await;
    text_containing(&client, &item("second"), "stopped by the operator").await;
    click(&client, &format!("{run_css} [data-testid='queue-run-continue']")).await;
    text_of(&client, &format!("{run_css} [data-testid='queue-run-outcome-ok']")).await;
    text_containing(&client, &format!("{run_css} h3"), "success").await;
    text_containing(&client, &item("second"), "success").await;
    drop(fx);
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_shows_its_run_other_unfinished_runs_are_listed_and_stop_kills_agents() {
    let fx = Fixture::new(&[]);
    // A run that fails three times, then (continued) waits on a gate.
    let gate = fx.file("gate");
    let flaky = format!("x directive: fail-times 3 directive: wait-for {}", gate.display());
    let package = json!({"agent": "scripted", "items": [{"id": "flaky", "prompt": flaky}]});
    let (fx, old) = blocking(fx, move |fx| {
        let run = fx.run(&package);
        fx.wait_status(&run, "failed", Duration::from_secs(90));
        run
    })
    .await;
    let driver = Driver::start();
    let client = connect(&driver, &fx.env.path().join("chromium-profile")).await;
    client.goto(&format!("{}/queue", fx.daemon().url)).await.expect("open the queue page");
    let main = |run: &str| format!("[data-testid='queue-main'] [data-testid='queue-run-{run}']");
    text_containing(&client, &format!("{} h3", main(&old)), "failed").await;

    // A new run in the default tab replaces the finished one there, live.
    let hold = fx.file("hold");
    let package = json!({"agent": "scripted", "items": [{"id": "held", "prompt": format!("slow directive: wait-for {}", hold.display())}]});
    let (fx, new) = blocking(fx, move |fx| fx.run(&package)).await;
    text_containing(
        &client,
        &format!("[data-testid='queue-run-{new}'] [data-testid='queue-item-{new}-held']"),
        "running",
    )
    .await;
    gone(&client, &format!("[data-testid='queue-run-{old}']")).await;
    // Continued, the old run is unfinished and shown by no tab: listed below, folded.
    let (fx, (code, answer)) = blocking(fx, {
        let old = old.clone();
        move |fx| fx.post("continue", &json!({"run_id": old}))
    })
    .await;
    assert_eq!(code, 200, "{answer}");
    let other = format!("[data-testid='queue-other-runs'] [data-testid='queue-other-{old}']");
    text_containing(&client, &format!("{other} summary"), "running").await;
    assert!(client.find(Locator::Css(&main(&old))).await.is_err(), "not the tab's run");
    assert!(client.find(Locator::Css(&format!("[data-testid='queue-other-{new}']"))).await.is_err(), "in a tab");

    // A new tab shows no run; switching back shows the default tab's again.
    type_into(&client, "[data-testid='queue-tab-label']", "Empty").await;
    click(&client, "[data-testid='queue-tab-create']").await;
    text_containing(&client, "[data-testid='queue-main']", "No runs in this tab").await;
    gone(&client, &main(&new)).await;
    assert!(client.find(Locator::Css(&format!("[data-testid='queue-other-{new}']"))).await.is_err(), "in a tab");
    click_enabled(&client, "[data-testid='queue-tab-default']").await;
    text_containing(&client, &format!("{} h3", main(&new)), "running").await;

    // Stop and kill: the agents waiting on their gates are stopped; their runs end stopped.
    click(&client, &format!("{} [data-testid='queue-run-kill']", main(&new))).await;
    let ok = text_of(&client, &format!("{} [data-testid='queue-run-outcome-ok']", main(&new))).await;
    assert!(ok.contains("kill"), "{ok}");
    text_containing(&client, &format!("{} h3", main(&new)), "stopped").await;
    click(&client, &format!("{other} summary")).await;
    click(&client, &format!("{other} [data-testid='queue-run-kill']")).await;
    text_of(&client, &format!("{other} [data-testid='queue-run-outcome-ok']")).await;
    text_containing(&client, &format!("{other} summary"), "stopped").await;
    let (fx, (held, flaky)) = blocking(fx, move |fx| (fx.item(&new, "held"), fx.item(&old, "flaky"))).await;
    assert_eq!((held["status"].as_str(), flaky["status"].as_str()), (Some("stopped"), Some("stopped")));
    assert!(!hold.exists() && !gate.exists(), "stopped by the kill, not by their gates");
    drop(fx);
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_dashboard_turns_every_queue_write_off() {
    let token = "queue-page-token-0123456789abcdef";
    let fx = Fixture::new(&[("QCOLD_WEBAPP_WRITE_TOKEN", token)]);
    let driver = Driver::start();
    let client = connect(&driver, &fx.env.path().join("chromium-profile")).await;
    client.goto(&format!("{}/queue", fx.daemon().url)).await.expect("open the queue page");
    // With the token, compose and run a graph whose second item stays pending.
    find(&client, "[data-testid='token-input']").await.send_keys(token).await.unwrap();
    click(&client, "[data-testid='token-save']").await;
    choose(&client, "[data-testid='composer-agent']", "scripted").await;
    let gate = fx.file("never");
    let prompt = format!("slow directive: wait-for {}", gate.display());
    type_into(&client, "[data-testid='composer-item-1'] [data-testid='composer-item-prompt']", &prompt).await;
    click(&client, "[data-testid='composer-add']").await;
    type_into(&client, "[data-testid='composer-item-2'] [data-testid='composer-item-prompt']", "later").await;
    type_into(&client, "[data-testid='composer-item-2'] [data-testid='composer-item-depends']", "item-1").await;
    click(&client, "[data-testid='composer-run']").await;
    text_of(&client, "[data-testid='composer-outcome-ok']").await;
    let (fx, run) = blocking(fx, |fx| fx.view()["runs"][0]["id"].as_str().expect("a run").to_owned()).await;
    let pending = format!("[data-testid='queue-item-{run}-item-2']");
    text_containing(&client, &pending, "pending").await;
    let writes = [
        "[data-testid='queue-tab-create']".to_owned(),
        "[data-testid='composer-run']".to_owned(),
        "[data-testid='composer-append']".to_owned(),
        format!("[data-testid='queue-run-{run}'] [data-testid='queue-run-stop']"),
        format!("[data-testid='queue-run-{run}'] [data-testid='queue-run-kill']"),
        format!("[data-testid='queue-run-{run}'] [data-testid='queue-run-continue']"),
        format!("[data-testid='queue-run-{run}'] [data-testid='queue-run-clear']"),
        format!("{pending} [data-testid='queue-item-edit-open']"),
        format!("{pending} [data-testid='queue-item-remove']"),
    ];
    for css in &writes {
        disabled(&client, css, false).await;
    }
    // Without it, every write is off.
    click(&client, "[data-testid='token-clear']").await;
    text_containing(&client, "[data-testid='read-only-note']", "write token").await;
    for css in &writes {
        disabled(&client, css, true).await;
    }
    // Let the run end, so no agent outlives the test.
    std::fs::write(&gate, "").unwrap();
    let (fx, done) = blocking(fx, move |fx| fx.wait_status(&run, "success", Duration::from_secs(60))).await;
    assert_eq!(done["status"], "success", "{done}");
    drop(fx);
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_a_thousand_items_renders_a_page_of_them_and_its_waves_summarised() {
    let fx = Fixture::new(&[]);
    let gate = fx.file("gate");
    let mut items = vec![json!({"id": "i0", "prompt": format!("slow directive: wait-for {}", gate.display())})];
    items.extend((1..1000).map(|n| json!({"id": format!("i{n}"), "prompt": format!("step {n}")})));
    let package = json!({"agent": "scripted", "items": items});
    let (fx, run) = blocking(fx, move |fx| fx.run(&package)).await;
    let driver = Driver::start();
    let client = connect(&driver, &fx.env.path().join("chromium-profile")).await;
    let started = Instant::now();
    client.goto(&format!("{}/queue", fx.daemon().url)).await.expect("open the queue page");
    let summary = text_containing(&client, &format!("[data-testid='queue-graph-{run}']"), "1000 items").await;
    assert!(summary.contains("wave 0: 1000"), "a sequence is one wave: {summary}");
    let count = format!("return document.querySelectorAll(\"[data-testid^='queue-item-{run}-']\").length;");
    assert_eq!(client.execute(&count, vec![]).await.unwrap(), json!(50), "one page of items");
    let shown = started.elapsed();
    assert!(shown < Duration::from_secs(10), "a 1,000-item run took {shown:?} to show");
    click(&client, "[data-testid='queue-run-more']").await;
    text_of(&client, &format!("[data-testid='queue-item-{run}-i99']")).await;
    assert_eq!(client.execute(&count, vec![]).await.unwrap(), json!(100), "the next page");
    // Live updates still arrive: the first item runs, then succeeds once its gate opens.
    text_containing(&client, &format!("[data-testid='queue-item-{run}-i0']"), "running").await;
    std::fs::write(&gate, "").unwrap();
    text_containing(&client, &format!("[data-testid='queue-item-{run}-i0']"), "success").await;
    drop(fx);
    client.close().await.unwrap();
}
