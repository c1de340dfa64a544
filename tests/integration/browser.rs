//! The dashboard in real headless Chromium, driven through Debian's chromedriver.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use qcold_tests::{Daemon, Env, host_cpu_count, wait_until};

/// A chromedriver on a free loopback port; killed on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub(crate) fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (`cargo xtask setup` installs Debian's chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        assert!(
            wait_until(Duration::from_secs(20), || ureq::get(&status).call().is_ok()),
            "chromedriver did not come up on {url}"
        );
        Self { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn connect(driver: &Driver, profile: &std::path::Path) -> Client {
    // Chromium runs as root here, so without its sandbox; the network flags stop it from
    // reaching for Google services this machine cannot reach, and every name but loopback's
    // fails at once: a page that reaches out (the Telegram path loads Telegram's SDK) never waits
    // on a resolver that may hang where there is no network, so its load event comes on time.
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--no-first-run".to_owned(),
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".to_owned(), serde_json::json!({ "args": args }));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// The element at `css`, once it is in the page (at most 30 s).
pub(crate) async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// Clicks the element at `css` once it is in the page.
pub(crate) async fn click(client: &Client, css: &str) {
    find(client, css).await.click().await.unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
}

/// Selects the option of value `value` in the `<select>` at `css`, once that option exists.
pub(crate) async fn choose(client: &Client, css: &str, value: &str) {
    find(client, &format!("{css} option[value='{value}']")).await;
    find(client, css).await.select_by_value(value).await.unwrap_or_else(|e| panic!("cannot choose {value}: {e}"));
}

/// Replaces the text of the input or textarea at `css` with `text`, as typed.
pub(crate) async fn type_into(client: &Client, css: &str, text: &str) {
    let field = find(client, css).await;
    field.clear().await.unwrap();
    if text.is_empty() {
        // `clear` fires no input event; a typed-and-erased character does.
        field.send_keys("x\u{E003}").await.unwrap();
    } else {
        field.send_keys(text).await.unwrap();
    }
}

pub(crate) async fn text_of(client: &Client, css: &str) -> String {
    let element =
        client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css(css)).await.unwrap_or_else(|e| {
            panic!("{css} never appeared: {e}");
        });
    element.text().await.expect("element text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_renders_state_and_live_updates() {
    let env = Env::new();
    env.git_repo("alpha");
    env.qcold(&["repo", "add", "alpha", "alpha", "--set-active"]).ok();
    let daemon = Daemon::start(&env);
    let driver = Driver::start();
    let client = connect(&driver, &env.path().join("chromium-profile")).await;

    client.goto(&format!("{}/node", daemon.url)).await.expect("open the node page");
    let alpha = text_of(&client, "[data-testid='repo-alpha']").await;
    assert!(alpha.contains("alpha") && alpha.contains("main"), "{alpha}");
    let cpus = text_of(&client, "[data-testid='cpu-count']").await;
    assert_eq!(cpus, host_cpu_count().to_string(), "the dashboard shows the host's CPU count");
    let memory = text_of(&client, "[data-testid='memory']").await;
    assert!(memory.contains("used of"), "{memory}");

    // A marker on `window` survives only if the page is never reloaded.
    client.execute("window.__qcoldMarker = 'kept'; return null;", vec![]).await.unwrap();
    env.git_repo("beta");
    tokio::task::spawn_blocking({
        let mut cmd = env.command();
        cmd.args(["repo", "add", "beta", "beta"]);
        move || assert!(cmd.output().unwrap().status.success())
    })
    .await
    .unwrap();
    let beta = text_of(&client, "[data-testid='repo-beta']").await;
    assert!(beta.contains("beta"), "{beta}");
    let marker = client.execute("return window.__qcoldMarker;", vec![]).await.unwrap();
    assert_eq!(marker, serde_json::json!("kept"), "the new repository arrived without a reload");
    let link = text_of(&client, "[data-testid='connection']").await;
    assert_eq!(link, "live");
    assert!(client.find(Locator::Css("[data-testid='read-only-note']")).await.is_err(), "no token, no note");

    // The nav bar switches pages in place: the queue page, then back, without a reload.
    client.find(Locator::Css("[data-testid='nav'] a[href='/queue']")).await.unwrap().click().await.unwrap();
    text_containing(&client, "[data-testid='queue']", "No runs").await;
    assert!(client.find(Locator::Css("[data-testid='repositories']")).await.is_err(), "one page at a time");
    client.find(Locator::Css("[data-testid='nav'] a[href='/node']")).await.unwrap().click().await.unwrap();
    text_containing(&client, "[data-testid='repo-beta']", "beta").await;
    let marker = client.execute("return window.__qcoldMarker;", vec![]).await.unwrap();
    assert_eq!(marker, serde_json::json!("kept"), "navigation never reloaded the page");

    client.close().await.unwrap();
}

/// Waits until the element's text contains `needle`; returns the text. The queue panel re-renders
/// on every change, so an element found a moment ago may be gone: such reads are retried.
pub(crate) async fn text_containing(client: &Client, css: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text.contains(needle) {
                return text;
            }
            last = text;
        }
        assert!(std::time::Instant::now() < deadline, "{css} never showed {needle:?}; last: {last:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_follows_a_queue_run_live() {
    let fx = crate::queue::Fixture::new(&[]);
    let driver = Driver::start();
    let client = connect(&driver, &fx.env.path().join("chromium-profile")).await;
    // A deep link: the daemon serves the app for /queue, and the router shows the queue page.
    client.goto(&format!("{}/queue", fx.daemon().url)).await.expect("open the queue page");
    text_containing(&client, "[data-testid='queue']", "No runs").await;
    text_containing(&client, "[data-testid='queue-tab-default']", "Task Queue").await;

    let gate = fx.file("gate");
    let package = serde_json::json!({
        "execution_mode": "graph",
        "agent": "scripted",
        "items": [
            {"id": "first", "prompt": format!("slow directive: wait-for {}", gate.display()), "task_class": "cheap"},
            {"id": "second", "prompt": "after first", "depends_on": "first"}
        ]
    });
    let run = tokio::task::spawn_blocking(move || {
        let run = fx.run(&package);
        (fx, run)
    })
    .await
    .unwrap();
    let (fx, run) = run;
    let first = format!("[data-testid='queue-item-{run}-first']");
    let row = text_containing(&client, &first, "running").await;
    assert!(row.contains("cheap"), "{row}");
    let second = text_containing(&client, &format!("[data-testid='queue-item-{run}-second']"), "pending").await;
    assert!(second.contains("1"), "wave 1, not started: {second}");
    std::fs::write(&gate, "").unwrap();
    text_containing(&client, &format!("[data-testid='queue-run-{run}']"), "success").await;
    let second = text_containing(&client, &format!("[data-testid='queue-item-{run}-second']"), "success").await;
    assert!(second.contains("its task closed successfully"), "{second}");
    drop(fx);
    client.close().await.unwrap();
}

/// Waits until the element matching `css` is (or is not) disabled.
async fn wait_disabled(client: &Client, css: &str, disabled: bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(attr) = element.attr("disabled").await
            && attr.is_some() == disabled
        {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{css} never became disabled={disabled}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `token` into the header's write-token field and submits it.
async fn enter_token(client: &Client, token: &str) {
    let input =
        client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("[data-testid='token-input']")).await;
    input.expect("the token field").send_keys(token).await.unwrap();
    client.find(Locator::Css("[data-testid='token-save']")).await.unwrap().click().await.unwrap();
    text_of(client, "[data-testid='token-held']").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_required_the_dashboard_is_read_only_until_the_token_is_entered() {
    let env = Env::new();
    let token = "browser-session-token-0123456789";
    let daemon = Daemon::start_with(&env, &[("QCOLD_WEBAPP_WRITE_TOKEN", token)]);
    let driver = Driver::start();
    let client = connect(&driver, &env.path().join("chromium-profile")).await;
    client.goto(&format!("{}/queue", daemon.url)).await.expect("open the queue page");
    let create = "[data-testid='queue-tab-create']";

    // No token: the note says how to enable writes, and the write is off.
    let note = text_containing(&client, "[data-testid='read-only-note']", "write token").await;
    assert!(note.contains("qcold serve token new"), "{note}");
    wait_disabled(&client, create, true).await;
    // Forced anyway, the write goes out without the token; the daemon refuses it and the page says so.
    client
        .execute(
            &format!("const b = document.querySelector(\"{create}\"); b.disabled = false; b.click(); return null;"),
            vec![],
        )
        .await
        .unwrap();
    let refused = text_containing(&client, "[data-testid='queue-action-error']", "401").await;
    assert!(refused.contains("requires its write token"), "{refused}");

    // A wrong token: the note goes, the write is refused, inline, and changes nothing.
    enter_token(&client, "not-the-token-0123456789abcdef").await;
    assert!(client.find(Locator::Css("[data-testid='read-only-note']")).await.is_err(), "a token is held");
    wait_disabled(&client, create, false).await;
    client.find(Locator::Css(create)).await.unwrap().click().await.unwrap();
    let refused = text_containing(&client, "[data-testid='queue-action-error']", "the write token is wrong").await;
    assert!(refused.contains("enter the daemon's write token"), "{refused}");
    let queue = text_of(&client, "[data-testid='queue']").await;
    assert!(!queue.contains("Queue 2"), "a refused write changes nothing: {queue}");

    // Cleared, the dashboard is read-only again; with the right token the same write succeeds.
    client.find(Locator::Css("[data-testid='token-clear']")).await.unwrap().click().await.unwrap();
    text_containing(&client, "[data-testid='read-only-note']", "write token").await;
    enter_token(&client, token).await;
    wait_disabled(&client, create, false).await;
    client.find(Locator::Css(create)).await.unwrap().click().await.unwrap();
    text_of(&client, "[data-testid='queue-action-ok']").await;
    text_containing(&client, "[data-testid='queue']", "Queue 2").await;

    // The token lives in sessionStorage only, and in no URL the page requested or shows.
    let stored = client
        .execute("return [sessionStorage.getItem('qcold-write-token'), localStorage.length];", vec![])
        .await
        .unwrap();
    assert_eq!(stored, serde_json::json!([token, 0]));
    let urls = client
        .execute("return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);", vec![])
        .await
        .unwrap();
    let urls: Vec<String> = serde_json::from_value(urls).unwrap();
    assert!(urls.iter().any(|u| u.ends_with("/api/state")), "the page's requests are listed: {urls:?}");
    assert!(urls.iter().all(|u| !u.contains(token)), "a URL carries the token: {urls:?}");
    // The page as served holds no token either.
    let (_, html) = daemon.get("/queue");
    assert!(!html.contains(token));

    // The session keeps it across a reload.
    client.refresh().await.unwrap();
    text_of(&client, "[data-testid='token-held']").await;
    wait_disabled(&client, create, false).await;
    client.close().await.unwrap();
}
