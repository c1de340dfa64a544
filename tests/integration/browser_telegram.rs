//! The dashboard as a Telegram WebApp in real headless Chromium: opened with a `#tgWebAppData`
//! fragment signed by the test bot, it writes without the write token and takes Telegram's theme;
//! with forged `initData` the write is refused and the page says so; opened plainly it never
//! asks Telegram's CDN for anything.

use std::time::Duration;

use fantoccini::{Client, Locator};
use qcold_tests::Env;
use serde_json::json;

use crate::browser::{Driver, connect, text_containing, text_of};
use crate::telegram::{ALLOWED, BOT, daemon, encode, init_data};

/// What the page asked for (`performance` resource entries) and its `<script>`s naming Telegram.
async fn telegram_requests(client: &Client) -> serde_json::Value {
    client
        .execute(
            "return [performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('telegram')),
                     document.querySelectorAll('script[src*=telegram]').length];",
            vec![],
        )
        .await
        .unwrap()
}

/// Clicks "refresh all" on the agents page once it is enabled.
async fn refresh_all(client: &Client) {
    let button = "[data-testid='agent-commands-refresh-all']";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(element) = client.find(Locator::Css(button)).await
            && element.attr("disabled").await.is_ok_and(|d| d.is_none())
        {
            element.click().await.unwrap();
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{button} never became enabled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_telegram_the_dashboard_writes_with_signed_init_data_and_says_when_it_is_forged() {
    let env = Env::new();
    let daemon = daemon(&env);
    let driver = Driver::start();
    let client = connect(&driver, &env.path().join("chromium-profile")).await;

    // Plain local use: read-only for want of the token, and Telegram's CDN is never touched.
    client.goto(&format!("{}/agents", daemon.url)).await.unwrap();
    text_containing(&client, "[data-testid='read-only-note']", "write token").await;
    assert!(client.find(Locator::Css("[data-testid='telegram-note']")).await.is_err());
    assert_eq!(telegram_requests(&client).await, json!([[], 0]), "no launch parameters, no Telegram");

    // Launched by Telegram with initData the bot signed: writes go through without the token.
    let theme = r##"{"bg_color":"#17212b","text_color":"#f5f5f5","button_color":"#5288c1"}"##;
    let launch = |data: &str| {
        format!(
            "{}/agents#tgWebAppData={}&tgWebAppVersion=7.0&tgWebAppThemeParams={}",
            daemon.url,
            encode(data),
            encode(theme)
        )
    };
    client.goto("about:blank").await.unwrap();
    client.goto(&launch(&init_data(BOT, ALLOWED, 30))).await.unwrap();
    text_containing(&client, "[data-testid='telegram-note']", "Telegram").await;
    assert!(client.find(Locator::Css("[data-testid='read-only-note']")).await.is_err(), "not read-only in Telegram");
    let colours = client
        .execute(
            "const s = getComputedStyle(document.documentElement);
             return [s.getPropertyValue('--bg').trim(), s.getPropertyValue('--text').trim()];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(colours, json!(["#17212b", "#f5f5f5"]), "Telegram's theme is applied");
    assert_eq!(telegram_requests(&client).await[1], json!(1), "the SDK is loaded inside Telegram");
    refresh_all(&client).await;
    text_of(&client, "[data-testid='agent-commands-outcome-ok']").await;

    // Forged initData (another bot's signature): the same write is refused, and the page says why.
    client.goto("about:blank").await.unwrap();
    client.goto(&launch(&init_data("987654321:some-other-bot-token", ALLOWED, 30))).await.unwrap();
    text_containing(&client, "[data-testid='telegram-note']", "Telegram").await;
    refresh_all(&client).await;
    let refused = text_containing(&client, "[data-testid='agent-commands-outcome-error']", "401").await;
    assert!(refused.contains("not signed by this daemon's bot"), "{refused}");
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_telegram_a_terminal_takes_typing_without_the_token() {
    let env = Env::new();
    let daemon = daemon(&env);
    let script = r#"while IFS= read -r line; do printf 'got:%s\n' "$line"; done"#;
    let mut start = env.command();
    start.args(["agent", "start", "--track", "t", "--id", "tg", "--terminal", "--", "bash", "-c", script]);
    start.env("QCOLD_WEBAPP_WRITE_TOKEN", crate::telegram::WRITE_TOKEN);
    let started = start.output().unwrap();
    assert!(started.status.success(), "{started:?}");
    let driver = Driver::start();
    let client = connect(&driver, &env.path().join("chromium-profile")).await;
    let launch = |data: &str| format!("{}/terminals/tg#tgWebAppData={}&tgWebAppVersion=7.0", daemon.url, encode(data));

    // A WebSocket cannot carry headers: the initData rides as a subprotocol, and the door takes it.
    client.goto(&launch(&init_data(BOT, ALLOWED, 30))).await.unwrap();
    text_containing(&client, "[data-testid='terminal-link']", "connected").await;
    let input = client.find(Locator::Css("[data-testid='terminal-input']")).await.unwrap();
    input.send_keys("from the phone\u{E007}").await.unwrap();
    text_containing(&client, "[data-testid='terminal-screen']", "got:from the phone").await;

    // Forged initData opens nothing, and the page says why.
    client.goto("about:blank").await.unwrap();
    client.goto(&launch(&init_data("987654321:some-other-bot-token", ALLOWED, 30))).await.unwrap();
    text_containing(&client, "[data-testid='terminal-link']", "not signed by this daemon's bot").await;
    client.close().await.unwrap();
    let _ = qcold_tests::tmux(&env, &["kill-server"]);
}
