//! The cockpit end to end in real headless Chromium: a two-item graph composed in the browser,
//! run by an interactive scripted agent that asks the operator a question in its terminal; the
//! operator opens that terminal from the queue, watches the question stream in, types the answer,
//! and sees both items succeed with the inbox empty throughout.

use std::time::Duration;

use qcold_tests::{git, wait_until};

use crate::browser::{Driver, choose, click, connect, find, text_containing, type_into};
use crate::queue::Fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_composed_in_the_browser_runs_and_its_agent_is_answered_in_its_terminal() {
    let fx = Fixture::new(&[]);
    let agent = fx.env.path().join("agent.sh");
    let agent = agent.to_str().unwrap();
    fx.env.qcold(&["agent", "command", "add", "asking", "--interactive", "--probe", "true", "--", agent]).ok();
    let url = fx.daemon().url.clone();
    let driver = Driver::start();
    let client = connect(&driver, &fx.env.path().join("chromium-profile")).await;
    client.goto(&format!("{url}/queue")).await.expect("open the queue page");

    // Compose: the first item asks the operator, the second runs after it.
    choose(&client, "[data-testid='composer-agent']", "asking").await;
    let first = "[data-testid='composer-item-1']";
    type_into(&client, &format!("{first} [data-testid='composer-item-id']"), "ask").await;
    type_into(&client, &format!("{first} [data-testid='composer-item-prompt']"), "directive: ask").await;
    click(&client, "[data-testid='composer-add']").await;
    let second = "[data-testid='composer-item-2']";
    type_into(&client, &format!("{second} [data-testid='composer-item-id']"), "then").await;
    type_into(&client, &format!("{second} [data-testid='composer-item-prompt']"), "the second step").await;
    type_into(&client, &format!("{second} [data-testid='composer-item-depends']"), "ask").await;
    click(&client, "[data-testid='composer-run']").await;
    text_containing(&client, "[data-testid='composer-outcome-ok']", "queued").await;

    // The run's first item reaches its agent; its card links to the agent's terminal.
    let (fx, view) = tokio::task::spawn_blocking(move || {
        let mut seen = fx.view();
        let started = wait_until(Duration::from_secs(120), || {
            seen = fx.view();
            seen["runs"][0]["items"][0]["agent_id"].is_string()
        });
        assert!(started, "the first item never got an agent: {seen}");
        (fx, seen)
    })
    .await
    .unwrap();
    let run = view["runs"][0]["id"].as_str().unwrap().to_owned();
    let ask = format!("[data-testid='queue-item-{run}-ask']");
    click(&client, &format!("{ask} [data-testid='queue-item-terminal']")).await;
    text_containing(&client, "[data-testid='terminal-link']", "connected").await;
    text_containing(&client, "[data-testid='terminal-screen']", "waiting for the operator").await;

    // Nothing needs the operator while the agent asks: its question is not a fault.
    client.goto(&format!("{url}/")).await.unwrap();
    text_containing(&client, "[data-testid='inbox']", "Nothing needs you.").await;
    client.back().await.unwrap();
    text_containing(&client, "[data-testid='terminal-screen']", "waiting for the operator").await;

    // The answer typed into the terminal reaches the agent, which commits it.
    // What the agent does with it streams into the same terminal: its closeout, ending in the
    // closed task. (The echoed answer itself may already have scrolled off the screen by then;
    // that it arrived is proven by what reaches main below.)
    find(&client, "[data-testid='terminal-input']").await.send_keys("ship it\u{E007}").await.unwrap();
    text_containing(&client, "[data-testid='terminal-screen']", "as closed:success").await;

    click(&client, "[data-testid='nav'] a[href='/queue']").await;
    text_containing(&client, &format!("[data-testid='queue-run-{run}'] h3"), "success").await;
    for id in ["ask", "then"] {
        text_containing(
            &client,
            &format!("[data-testid='queue-item-{run}-{id}'] [data-testid='queue-item-status']"),
            "success",
        )
        .await;
    }
    click(&client, "[data-testid='nav'] a[href='/']").await;
    text_containing(&client, "[data-testid='inbox']", "Nothing needs you.").await;
    let answer = git(&fx.repo, &["show", "main:ask.answer"]);
    assert_eq!(answer.trim(), "ship it", "the typed answer was delivered on main");
    client.close().await.unwrap();
}
