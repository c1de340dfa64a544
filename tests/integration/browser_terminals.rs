//! The terminals pages in real headless Chromium: a terminal agent's screen rendered with its
//! colours, typing echoed back, the window's size reaching the tmux pane, and the soft keys of a
//! phone-sized screen pressing Ctrl-C.

use std::time::Duration;

use fantoccini::{Client, Locator};
use qcold_tests::{Daemon, Env, tmux, wait_until};

use crate::browser::{Driver, connect, text_containing};

/// Prints a red marker, then echoes each line it reads as `got:<line>`; Ctrl-C ends it (130).
const SCRIPT: &str =
    r#"printf '\033[31mred-marker\033[0m plain\n'; while IFS= read -r line; do printf 'got:%s\n' "$line"; done"#;

/// Ends Q-COLD's tmux server of an environment on drop, so a failing test leaves no agent behind.
struct KillServer<'a>(&'a Env);

impl Drop for KillServer<'_> {
    fn drop(&mut self) {
        let _ = tmux(self.0, &["kill-server"]);
    }
}

/// The pane's size as tmux has it, `<cols>x<rows>`.
fn pane_size(env: &Env) -> String {
    tmux(env, &["display-message", "-p", "-t", "=qcold-web:", "#{window_width}x#{window_height}"])
}

/// Evaluates `script` (a function body returning a value) until it returns `want`.
async fn until_js(client: &Client, script: &str, want: serde_json::Value, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut last = serde_json::Value::Null;
    while std::time::Instant::now() < deadline {
        last = client.execute(script, vec![]).await.unwrap_or(serde_json::Value::Null);
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: wanted {want}, last {last}");
}

/// The page's terminal size, `data-size` (`<cols>x<rows>`).
async fn page_size(client: &Client) -> String {
    let size = client
        .execute("return document.querySelector(\"[data-testid='terminal']\").dataset.size;", vec![])
        .await
        .unwrap();
    size.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_renders_colours_takes_typing_follows_resizes_and_soft_keys() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let _kill = KillServer(&env);
    env.qcold(&["agent", "start", "--track", "t", "--id", "web", "--terminal", "--", "bash", "-c", SCRIPT]).ok();
    let driver = Driver::start();
    let client = connect(&driver, &env.path().join("chromium-profile")).await;
    client.set_window_size(1000, 800).await.unwrap();

    // The list names the agent and its state; its label is editable there, and an update of the
    // same agent arriving mid-typing neither wipes what was typed nor hides what changed.
    client.goto(&format!("{}/terminals", daemon.url)).await.expect("open the terminals page");
    text_containing(&client, "[data-testid='terminal-entry-web']", "running").await;
    let name =
        client.find(Locator::Css("[data-testid='terminal-entry-web'] [data-testid='terminal-name']")).await.unwrap();
    name.send_keys("buil").await.unwrap();
    let (code, answer) = daemon.post("/api/agents/web/label", &serde_json::json!({"scope": "remote"}));
    assert_eq!(code, 200, "{answer}");
    let scope =
        "return document.querySelector(\"[data-testid='terminal-entry-web'] [data-testid='terminal-scope']\").value;";
    until_js(&client, scope, serde_json::json!("remote"), "the remote scope in the untouched field").await;
    name.send_keys("der").await.unwrap();
    client
        .find(Locator::Css("[data-testid='terminal-entry-web'] button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_containing(&client, "[data-testid='terminal-entry-web'] a", "builder").await;
    let (_, agents) = daemon.get("/api/agents");
    assert!(agents.contains(r#""name":"builder""#), "the label reached the daemon: {agents}");
    assert!(agents.contains(r#""scope":"remote""#), "the remote scope was kept: {agents}");

    // The terminal: the red marker is a span coloured red by the emulator, not text with escapes.
    client.find(Locator::Css("[data-testid='terminal-entry-web'] a")).await.unwrap().click().await.unwrap();
    text_containing(&client, "[data-testid='terminal-link']", "connected").await;
    let red = "return [...document.querySelectorAll(\"[data-testid='terminal-screen'] .row span\")]\
               .filter(s => s.textContent === 'red-marker').map(s => s.style.color);";
    until_js(&client, red, serde_json::json!(["rgb(205, 0, 0)"]), "the marker in red").await;
    let screen = text_containing(&client, "[data-testid='terminal-screen']", "plain").await;
    assert!(!screen.contains("[31m"), "escapes are interpreted, not shown: {screen}");

    // Typing goes to the program, Enter as a carriage return; its echo comes back.
    let input = client.find(Locator::Css("[data-testid='terminal-input']")).await.unwrap();
    input.send_keys("hello there\u{E007}").await.unwrap();
    text_containing(&client, "[data-testid='terminal-screen']", "got:hello there").await;
    text_containing(&client, "[data-testid='terminal-activity']", "active").await;

    // The size follows the window: the pane takes the page's cols × rows.
    let before = page_size(&client).await;
    assert!(
        wait_until(Duration::from_secs(20), || pane_size(&env) == before),
        "the pane took {before}: {}",
        pane_size(&env)
    );
    client.set_window_size(1400, 900).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut after = page_size(&client).await;
    while after == before && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = page_size(&client).await;
    }
    assert_ne!(after, before, "a wider window, a wider terminal");
    assert!(
        wait_until(Duration::from_secs(20), || pane_size(&env) == after),
        "the pane ({}) never took the new size {after}",
        pane_size(&env)
    );

    // A phone: the soft keys show, nothing overflows sideways, and Ctrl-C ends the program.
    client.set_window_size(390, 844).await.unwrap();
    let softkeys = client.find(Locator::Css("[data-testid='softkeys']")).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !softkeys.is_displayed().await.unwrap() {
        assert!(std::time::Instant::now() < deadline, "the soft keys never showed at 390 px");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let overflow = "const t = document.querySelector(\"[data-testid='terminal-page']\"); \
                    return t.scrollWidth <= t.clientWidth && t.getBoundingClientRect().right <= window.innerWidth;";
    until_js(&client, overflow, serde_json::json!(true), "no horizontal overflow at 390 px").await;
    client.find(Locator::Css("[data-testid='softkey-CtrlC']")).await.unwrap().click().await.unwrap();
    text_containing(&client, "[data-testid='terminal-link']", "exit code 130").await;

    // Reconnecting to an ended session says it is refused; the state stream says the agent exited.
    client.find(Locator::Css("[data-testid='terminal-reconnect']")).await.unwrap().click().await.unwrap();
    text_containing(&client, "[data-testid='terminal-link']", "refused").await;
    text_containing(&client, "[data-testid='terminal-state']", "exited 130").await;
    client.close().await.unwrap();
}
