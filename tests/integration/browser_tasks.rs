//! The dashboard's tasks pages in real headless Chromium: tasks opened, committed to, paused and
//! cleared with the real `qcold` in real repositories, then listed, filtered, searched, shown with
//! their diff, downloaded and paused from the browser.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use qcold_core::api::tasks::TaskDetail;
use qcold_tests::{Daemon, Env, Run, git};

use crate::browser::{Driver, connect, text_containing, text_of};

fn open(env: &Env, args: &[&str]) -> PathBuf {
    let mut argv = vec!["task", "open"];
    argv.extend_from_slice(args);
    let out = env.qcold(&argv).ok();
    PathBuf::from(out.lines().find_map(|l| l.strip_prefix("TASK_WORKTREE=")).expect("TASK_WORKTREE line"))
}

/// `web` (active) and `api`, each a real repository.
fn two_repositories(env: &Env) {
    env.git_repo("web");
    env.git_repo("api");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    env.qcold(&["repo", "add", "api", "api"]).ok();
}

/// Waits until no element matches `css`.
async fn wait_gone(client: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.find(Locator::Css(css)).await.is_ok() {
        assert!(Instant::now() < deadline, "{css} never went away");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the page's URL contains `needle`.
async fn wait_url(client: &Client, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = client.current_url().await.unwrap().to_string();
        if url.contains(needle) {
            return url;
        }
        assert!(Instant::now() < deadline, "the URL never held {needle:?}: {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a `qcold` command off the async runtime and asserts success.
async fn qcold_in(env: &Env, dir: Option<PathBuf>, args: &[&str]) {
    let mut cmd = env.command();
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    tokio::task::spawn_blocking(move || Run::from(cmd.output().unwrap()).ok()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_list_filters_searches_keeps_the_query_and_updates_live() {
    let env = Env::new();
    two_repositories(&env);
    let login = open(&env, &["fix-login", "--prompt", "make login work"]);
    open(&env, &["rate-limit", "--repo", "api", "--prompt", "throttle attempts"]);
    open(&env, &["docs", "--prompt", "write the docs"]);
    env.qcold(&["task", "clear", "docs", "--reason", "superseded"]).ok();
    let daemon = Daemon::start(&env);
    let driver = Driver::start();
    let client = connect(&driver, &env.path().join("chromium-profile")).await;

    client.goto(&format!("{}/tasks", daemon.url)).await.expect("open the tasks page");
    let row = text_containing(&client, "[data-testid='task-row-web/001-fix-login']", "open").await;
    assert!(row.contains("make login work") && row.contains("task/fix-login"), "{row}");
    text_containing(&client, "[data-testid='task-row-api/001-rate-limit']", "open").await;
    text_containing(&client, "[data-testid='task-row-web/002-docs']", "closed:failed").await;

    // The status filter narrows the list and goes into the URL.
    let status = client.find(Locator::Css("[data-testid='tasks-status']")).await.unwrap();
    status.select_by_value("closed:failed").await.unwrap();
    wait_url(&client, "status=closed%3Afailed").await;
    wait_gone(&client, "[data-testid='task-row-web/001-fix-login']").await;
    text_of(&client, "[data-testid='task-row-web/002-docs']").await;
    let status = client.find(Locator::Css("[data-testid='tasks-status']")).await.unwrap();
    status.select_by_value("").await.unwrap();
    text_of(&client, "[data-testid='task-row-web/001-fix-login']").await;

    // The repository filter too.
    let repo = client.find(Locator::Css("[data-testid='tasks-repo']")).await.unwrap();
    repo.select_by_value("api").await.unwrap();
    wait_url(&client, "repo=api").await;
    wait_gone(&client, "[data-testid='task-row-web/001-fix-login']").await;
    text_of(&client, "[data-testid='task-row-api/001-rate-limit']").await;
    let repo = client.find(Locator::Css("[data-testid='tasks-repo']")).await.unwrap();
    repo.select_by_value("").await.unwrap();
    text_of(&client, "[data-testid='task-row-web/001-fix-login']").await;

    // The search box asks once typing pauses; the query survives a reload.
    let search = client.find(Locator::Css("[data-testid='tasks-search']")).await.unwrap();
    search.send_keys("THROTTLE").await.unwrap();
    wait_url(&client, "q=THROTTLE").await;
    wait_gone(&client, "[data-testid='task-row-web/001-fix-login']").await;
    text_of(&client, "[data-testid='task-row-api/001-rate-limit']").await;
    client.refresh().await.unwrap();
    text_of(&client, "[data-testid='task-row-api/001-rate-limit']").await;
    assert!(client.find(Locator::Css("[data-testid='task-row-web/002-docs']")).await.is_err(), "still narrowed");
    let kept = client.find(Locator::Css("[data-testid='tasks-search']")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("THROTTLE"), "the search box shows the query from the URL");

    // Pages of two: **More** fetches the next page from the cursor, and goes when none is left.
    client.goto(&format!("{}/tasks?limit=2", daemon.url)).await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("[data-testid='tasks-more']"))
        .await
        .unwrap();
    let rows = client.find_all(Locator::Css(".task-row")).await.unwrap();
    assert_eq!(rows.len(), 2, "one page of two");
    client.find(Locator::Css("[data-testid='tasks-more']")).await.unwrap().click().await.unwrap();
    wait_gone(&client, "[data-testid='tasks-more']").await;
    assert_eq!(client.find_all(Locator::Css(".task-row")).await.unwrap().len(), 3, "the next page appended");

    // Live: a task paused by the CLI changes its row without a reload.
    client.goto(&format!("{}/tasks", daemon.url)).await.unwrap();
    text_containing(&client, "[data-testid='task-row-web/001-fix-login']", "open").await;
    client.execute("window.__qcoldMarker = 'kept'; return null;", vec![]).await.unwrap();
    qcold_in(&env, Some(login), &["task", "pause", "--reason", "later"]).await;
    text_containing(&client, "[data-testid='task-row-web/001-fix-login']", "paused").await;
    let marker = client.execute("return window.__qcoldMarker;", vec![]).await.unwrap();
    assert_eq!(marker, serde_json::json!("kept"), "the row changed without a reload");
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_page_shows_the_diff_bundles_snapshots_and_pauses() {
    let env = Env::new();
    two_repositories(&env);
    let feature = open(&env, &["feature", "--prompt", "add a feature"]);
    std::fs::write(feature.join("feature.txt"), "the added line\n").unwrap();
    git(&feature, &["add", "feature.txt"]);
    git(&feature, &["commit", "-q", "-m", "add the feature"]);
    let half = open(&env, &["half-done"]);
    std::fs::write(half.join("work.txt"), "unfinished work\n").unwrap();
    env.qcold(&["task", "clear", "half-done", "--reason", "abandoned"]).ok();
    let daemon = Daemon::start(&env);
    let driver = Driver::start();
    let client = connect(&driver, &env.path().join("chromium-profile")).await;

    // A deep link to a task whose id holds a slash.
    client.goto(&format!("{}/tasks/web/001-feature", daemon.url)).await.expect("open the task page");
    text_containing(&client, "[data-testid='task-status']", "open").await;
    let record = text_of(&client, "[data-testid='task-record']").await;
    assert!(record.contains("task/feature") && record.contains(&feature.display().to_string()), "{record}");
    let file = text_containing(&client, "[data-testid='diff-file-feature.txt']", "+the added line").await;
    assert!(file.contains("@@"), "the hunk header is shown: {file}");
    let added = client.find(Locator::Css("[data-testid='diff-file-feature.txt'] .add")).await.unwrap();
    assert_eq!(added.text().await.unwrap(), "+the added line");
    let colour = added.css_value("color").await.unwrap();
    let plain = client.find(Locator::Css("[data-testid='diff-file-feature.txt'] .meta")).await.unwrap();
    assert_ne!(colour, plain.css_value("color").await.unwrap(), "the added line is coloured");
    assert_eq!(colour, "rgba(31, 138, 76, 1)", "added lines are green");
    text_containing(&client, "[data-testid='task-timeline']", "open").await;

    // Pause from the page: a reason is required, then the status changes live.
    client.find(Locator::Css("[data-testid='task-pause']")).await.unwrap().click().await.unwrap();
    text_containing(&client, "[data-testid='task-action-error']", "give a reason").await;
    let reason = client.find(Locator::Css("[data-testid='task-reason']")).await.unwrap();
    reason.send_keys("waiting for review").await.unwrap();
    client.find(Locator::Css("[data-testid='task-pause']")).await.unwrap().click().await.unwrap();
    text_containing(&client, "[data-testid='task-action-ok']", "paused").await;
    text_containing(&client, "[data-testid='task-status']", "paused").await;
    text_containing(&client, "[data-testid='task-timeline']", "waiting for review").await;
    let listed = env.qcold(&["task", "list", "--json"]).ok();
    assert!(listed.contains("\"paused\""), "the daemon paused it: {listed}");

    // The cleared task: its bundle downloads as a zip, its snapshot's restore command is shown.
    client.goto(&format!("{}/tasks/web/002-half-done", daemon.url)).await.unwrap();
    text_containing(&client, "[data-testid='task-status']", "closed:failed").await;
    let (_, body) = daemon.get("/api/tasks/web/002-half-done");
    let detail: TaskDetail = serde_json::from_str(&body).unwrap();
    let link = client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("[data-testid='task-bundle']"));
    let href = link.await.unwrap().attr("href").await.unwrap().expect("an href");
    assert_eq!(href, format!("/api/tasks/web/002-half-done/bundles/{}", detail.bundles[0].file_name()));
    let zip = ureq::get(&format!("{}{href}", daemon.url)).call().expect("the bundle downloads");
    assert_eq!((zip.status(), zip.content_type()), (200, "application/zip"));
    let restore = text_of(&client, "[data-testid='task-restore']").await;
    assert_eq!(restore, detail.snapshots[0].restore, "the exact restore command");

    // On a phone's width neither page scrolls sideways (a long diff line scrolls inside its box).
    client.set_window_size(390, 844).await.unwrap();
    for path in ["/tasks/web/001-feature", "/tasks?q=feature"] {
        client.goto(&format!("{}{path}", daemon.url)).await.unwrap();
        text_of(&client, "[data-testid='task-row-web/001-feature'], [data-testid='diff-file-feature.txt']").await;
        let overflow = client
            .execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];", vec![])
            .await
            .unwrap();
        let [scroll, client_width]: [u64; 2] = serde_json::from_value(overflow).unwrap();
        assert!(scroll <= client_width, "{path} overflows at 390 px: {scroll} > {client_width}");
    }
    client.close().await.unwrap();
}
