//! The tasks resource of the HTTP API against a real daemon: tasks opened with the real `qcold`
//! in real repositories, then listed, searched, paged, shown, diffed, downloaded, paused and
//! cleared over HTTP.

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use qcold_core::TaskStatus;
use qcold_core::api::tasks::{DiffSource, TaskDetail, TaskDiff, TaskPage};
use qcold_core::task::{EventKind, TaskRecord};
use qcold_tests::{Daemon, Env, Run, git, wait_until};
use serde_json::{Value, json};

fn open(env: &Env, args: &[&str]) -> PathBuf {
    let mut argv = vec!["task", "open"];
    argv.extend_from_slice(args);
    let out = env.qcold(&argv).ok();
    PathBuf::from(out.lines().find_map(|l| l.strip_prefix("TASK_WORKTREE=")).expect("TASK_WORKTREE line"))
}

/// GETs `path` (with query pairs) and returns the status and the JSON body.
fn get(daemon: &Daemon, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let mut request = ureq::get(&format!("{}{path}", daemon.url)).timeout(Duration::from_secs(30));
    for (key, value) in query {
        request = request.query(key, value);
    }
    answer(request.call())
}

fn post(daemon: &Daemon, path: &str, body: &Value) -> (u16, Value) {
    answer(ureq::post(&format!("{}{path}", daemon.url)).timeout(Duration::from_secs(60)).send_json(body.clone()))
}

fn post_text(daemon: &Daemon, path: &str, body: &str) -> (u16, Value) {
    let request = ureq::post(&format!("{}{path}", daemon.url)).set("Content-Type", "application/json");
    answer(request.timeout(Duration::from_secs(30)).send_string(body))
}

fn answer(result: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    match result {
        Ok(r) => (r.status(), r.into_json().expect("a JSON body")),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().expect("a JSON error body")),
        Err(err) => panic!("request failed: {err}"),
    }
}

/// The body of a 200 answer as a core type (`parse` is `serde_json::from_value`).
#[track_caller]
fn typed<T>((code, body): (u16, Value), parse: fn(Value) -> serde_json::Result<T>) -> T {
    assert_eq!(code, 200, "{body}");
    parse(body).expect("the body is the core type")
}

fn page_ids(daemon: &Daemon, query: &[(&str, &str)]) -> Vec<String> {
    let page: TaskPage = typed(get(daemon, "/api/tasks", query), serde_json::from_value);
    page.tasks.into_iter().map(|t| t.id).collect()
}

fn detail(daemon: &Daemon, id: &str) -> TaskDetail {
    typed(get(daemon, &format!("/api/tasks/{id}"), &[]), serde_json::from_value)
}

/// Asserts a refusal: the status, and an error message containing `needle`.
#[track_caller]
fn refused((code, body): (u16, Value), status: u16, needle: &str) {
    assert_eq!(code, status, "{body}");
    let error = body["error"].as_str().expect("an ErrorBody");
    assert!(error.contains(needle), "{error:?} lacks {needle:?}");
}

/// `web` (active) and `api`, each a real repository.
fn two_repositories(env: &Env) -> PathBuf {
    let web = env.git_repo("web");
    env.git_repo("api");
    env.qcold(&["repo", "add", "web", "web", "--set-active"]).ok();
    env.qcold(&["repo", "add", "api", "api"]).ok();
    web
}

#[test]
fn lists_filter_search_and_page() {
    let env = Env::new();
    two_repositories(&env);
    open(&env, &["fix-login", "--prompt", "make login work"]);
    open(&env, &["docs", "--prompt", "100% of the docs_page"]);
    open(&env, &["rate-limit", "--repo", "api", "--prompt", "throttle LOGIN attempts"]);
    let slow = open(&env, &["slow"]);
    let pause = env.command().args(["task", "pause", "--reason", "later"]).current_dir(&slow).output().unwrap();
    Run::from(pause).ok();
    let daemon = Daemon::start(&env);

    let all = page_ids(&daemon, &[]);
    assert_eq!(all.len(), 4);
    let cli: Vec<TaskRecord> = serde_json::from_str(&env.qcold(&["task", "list", "--json"]).ok()).unwrap();
    let mut cli_ids: Vec<String> = cli.into_iter().map(|t| t.id).collect();
    let mut sorted = all.clone();
    cli_ids.sort();
    sorted.sort();
    assert_eq!(sorted, cli_ids, "the API lists what the CLI lists");

    assert_eq!(page_ids(&daemon, &[("repo", "api")]), ["api/001-rate-limit"]);
    assert_eq!(page_ids(&daemon, &[("status", "paused")]), ["web/003-slow"]);
    assert_eq!(page_ids(&daemon, &[("status", "open"), ("repo", "web")]).len(), 2);
    let mut login = page_ids(&daemon, &[("q", "login")]);
    login.sort();
    assert_eq!(login, ["api/001-rate-limit", "web/001-fix-login"], "id, slug, prompt and branch, any case");
    assert_eq!(page_ids(&daemon, &[("q", "100%")]), ["web/002-docs"]);
    assert_eq!(page_ids(&daemon, &[("q", "%")]), ["web/002-docs"], "% is text, not a wildcard");
    assert_eq!(page_ids(&daemon, &[("q", "task/rate")]), ["api/001-rate-limit"]);
    assert!(page_ids(&daemon, &[("q", "nothing like it")]).is_empty());

    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: TaskPage =
            typed(get(&daemon, "/api/tasks", &[("limit", "1"), ("cursor", &cursor)]), serde_json::from_value);
        paged.extend(page.tasks.into_iter().map(|t| t.id));
        match page.next_cursor {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(paged, all, "pages of one chain to the whole list in its order");
}

#[test]
fn detail_and_diff_show_committed_and_uncommitted_work() {
    let env = Env::new();
    let repo = two_repositories(&env);
    let worktree = open(&env, &["feature", "--prompt", "add a feature"]);
    std::fs::write(worktree.join("committed.txt"), "committed line\n").unwrap();
    git(&worktree, &["add", "committed.txt"]);
    git(&worktree, &["commit", "-q", "-m", "commit some work"]);
    std::fs::write(worktree.join("README.md"), "# web\nan uncommitted line\n").unwrap();
    std::fs::write(worktree.join("untracked.txt"), "untracked line\n").unwrap();
    let daemon = Daemon::start(&env);

    let shown = detail(&daemon, "web/001-feature");
    assert_eq!((shown.task.status, shown.task.prompt.as_deref()), (TaskStatus::Open, Some("add a feature")));
    assert_eq!(shown.events.iter().map(|e| e.kind).collect::<Vec<_>>(), [EventKind::Open]);
    assert!(shown.bundles.is_empty() && shown.snapshots.is_empty());

    let diff: TaskDiff = typed(get(&daemon, "/api/tasks/web/001-feature/diff", &[]), serde_json::from_value);
    assert_eq!(diff.base_commit, git(&repo, &["rev-parse", "main"]).trim());
    assert_eq!(diff.head.as_deref(), Some(git(&worktree, &["rev-parse", "HEAD"]).trim()));
    assert_eq!((diff.source, diff.truncated), (DiffSource::Worktree, false));
    for line in ["+committed line", "+an uncommitted line", "+untracked line", "+++ b/untracked.txt"] {
        assert!(diff.diff.contains(line), "the diff lacks {line:?}:\n{}", diff.diff);
    }
    assert!(!diff.diff.contains(".task/"), "task files are left out:\n{}", diff.diff);
    let status = git(&worktree, &["status", "--porcelain"]);
    assert!(
        status.contains(" M README.md") && status.contains("?? untracked.txt"),
        "reading changed nothing: {status}"
    );
}

#[test]
fn pause_conflicts_on_a_second_pause_and_clear_keeps_the_work() {
    let env = Env::new();
    let repo = two_repositories(&env);
    let worktree = open(&env, &["half-done"]);
    std::fs::write(worktree.join("work.txt"), "unfinished work\n").unwrap();
    let daemon = Daemon::start(&env);
    let base = "/api/tasks/web/001-half-done";

    let paused: TaskRecord = typed(
        post(&daemon, &format!("{base}/pause"), &json!({"reason": "waiting for review"})),
        serde_json::from_value,
    );
    assert_eq!(paused.status, TaskStatus::Paused);
    assert!(std::fs::read_to_string(worktree.join(".task/task.env")).unwrap().contains("TASK_STATUS=paused"));
    refused(post(&daemon, &format!("{base}/pause"), &json!({"reason": "again"})), 409, "only open tasks can pause");
    let shown = detail(&daemon, "web/001-half-done");
    assert_eq!(
        shown.events.last().map(|e| (e.kind, e.message.as_str())),
        Some((EventKind::Pause, "waiting for review"))
    );
    assert_eq!(shown.events.len(), 2, "the refused pause recorded nothing");

    let cleared: TaskRecord =
        typed(post(&daemon, &format!("{base}/clear"), &json!({"reason": "abandoned"})), serde_json::from_value);
    assert_eq!(cleared.status, TaskStatus::ClosedFailed);
    assert!(!worktree.exists(), "the worktree is removed");
    refused(post(&daemon, &format!("{base}/clear"), &json!({"reason": "again"})), 409, "already closed");

    let shown = detail(&daemon, "web/001-half-done");
    assert_eq!(shown.task, cleared);
    assert!(shown.events.iter().any(|e| e.kind == EventKind::Closeout && e.message == "failed: cleared: abandoned"));
    let [snapshot] = shown.snapshots.as_slice() else { panic!("one snapshot: {:?}", shown.snapshots) };
    assert!(snapshot.reference.starts_with("refs/qcold/snapshots/half-done/"), "{}", snapshot.reference);
    assert_eq!(snapshot.commit, git(&repo, &["rev-parse", &snapshot.reference]).trim());
    let restore = std::process::Command::new("sh").args(["-c", &snapshot.restore]).output().unwrap();
    assert!(restore.status.success(), "{}: {}", snapshot.restore, String::from_utf8_lossy(&restore.stderr));
    let branch = snapshot.restore.split(' ').nth(4).unwrap();
    assert_eq!(git(&repo, &["show", &format!("{branch}:work.txt")]), "unfinished work\n", "the restore command works");

    let diff: TaskDiff = typed(get(&daemon, &format!("{base}/diff"), &[]), serde_json::from_value);
    assert_eq!((diff.source, diff.head.as_deref()), (DiffSource::Snapshot, Some(snapshot.commit.as_str())));
    assert!(diff.diff.contains("+unfinished work"), "{}", diff.diff);

    let [bundle] = shown.bundles.as_slice() else { panic!("one bundle: {:?}", shown.bundles) };
    let entries = download(&daemon, &format!("{base}/bundles/{}", bundle.file_name()));
    assert!(entries.iter().any(|e| e == "receipt.json") && entries.iter().any(|e| e == "diff.patch"), "{entries:?}");
}

/// Downloads a bundle, checks its headers and returns the names of the zip's entries.
fn download(daemon: &Daemon, path: &str) -> Vec<String> {
    let response = ureq::get(&format!("{}{path}", daemon.url)).call().expect("the bundle downloads");
    assert_eq!(response.header("content-type"), Some("application/zip"));
    let name = path.rsplit('/').next().unwrap();
    assert_eq!(response.header("content-disposition"), Some(format!("attachment; filename=\"{name}\"").as_str()));
    let mut bytes = Vec::new();
    response.into_reader().read_to_end(&mut bytes).unwrap();
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a valid zip");
    archive.file_names().map(str::to_owned).collect()
}

#[test]
fn a_delivered_task_serves_its_bundle_and_has_no_diff_left() {
    let env = Env::new();
    two_repositories(&env);
    let worktree = open(&env, &["ship"]);
    std::fs::write(worktree.join("shipped.txt"), "shipped\n").unwrap();
    let closeout = env
        .command()
        .args(["task", "closeout", "--outcome", "success", "--message", "Ship it"])
        .current_dir(&worktree)
        .output()
        .unwrap();
    Run::from(closeout).ok();
    let daemon = Daemon::start(&env);

    let shown = detail(&daemon, "web/001-ship");
    assert_eq!(shown.task.status, TaskStatus::ClosedSuccess);
    let [bundle] = shown.bundles.as_slice() else { panic!("one bundle: {:?}", shown.bundles) };
    let entries = download(&daemon, &format!("/api/tasks/web/001-ship/bundles/{}", bundle.file_name()));
    for entry in ["receipt.json", "task.json", "events.ndjson", "diff.patch"] {
        assert!(entries.iter().any(|e| e == entry), "the bundle lacks {entry}: {entries:?}");
    }
    let diff: TaskDiff = typed(get(&daemon, "/api/tasks/web/001-ship/diff", &[]), serde_json::from_value);
    assert_eq!((diff.source, diff.head, diff.diff.as_str()), (DiffSource::Nothing, None, ""));
    refused(post(&daemon, "/api/tasks/web/001-ship/pause", &json!({"reason": "x"})), 409, "closed:success");
}

#[test]
fn unknown_tasks_and_bundles_are_404() {
    let env = Env::new();
    two_repositories(&env);
    open(&env, &["real"]);
    std::fs::write(env.state_dir().join("secret.zip"), "not yours").unwrap();
    let daemon = Daemon::start(&env);
    for path in ["/api/tasks/web/009-ghost", "/api/tasks/web/009-ghost/diff", "/api/tasks/ghost/001-real"] {
        refused(get(&daemon, path, &[]), 404, "no task");
    }
    // (A bare `%2E%2E` is not tried: the client itself would resolve it as `..`.)
    for name in ["nope.zip", "..%2F..%2Fsecret.zip", "%2E%2E%2Fsecret.zip", "..%2Fqcold.sqlite3", "qcold.sqlite3"] {
        refused(get(&daemon, &format!("/api/tasks/web/001-real/bundles/{name}"), &[]), 404, "has no bundle");
    }
    refused(post(&daemon, "/api/tasks/web/009-ghost/pause", &json!({"reason": "x"})), 404, "no task");
    refused(post(&daemon, "/api/tasks/web/009-ghost/clear", &json!({"reason": "x"})), 404, "no task");
    refused(get(&daemon, "/api/tasks/web", &[]), 404, "no api route");
}

#[test]
fn bad_requests_are_400_naming_the_parameter_and_change_nothing() {
    let env = Env::new();
    two_repositories(&env);
    let worktree = open(&env, &["steady"]);
    let daemon = Daemon::start(&env);
    let before = detail(&daemon, "web/001-steady");

    for (key, value) in [
        ("limit", "0"),
        ("limit", "501"),
        ("limit", "abc"),
        ("cursor", "garbage"),
        ("cursor", "00ff"),
        ("status", "bogus"),
        ("repo", "no/such"),
        ("page", "2"),
    ] {
        let (code, body) = get(&daemon, "/api/tasks", &[(key, value)]);
        assert_eq!(code, 400, "{key}={value}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.starts_with(&format!("invalid query parameter {key}: ")), "{key}={value}: {error}");
    }
    let pause = "/api/tasks/web/001-steady/pause";
    refused(post_text(&daemon, pause, "not json"), 400, "invalid request body");
    refused(post(&daemon, pause, &json!({})), 400, "missing field `reason`");
    refused(post(&daemon, pause, &json!({"reason": "x", "force": true})), 400, "unknown field `force`");
    refused(post(&daemon, pause, &json!({"reason": "   "})), 400, "reason: must not be empty");
    refused(post(&daemon, "/api/tasks/web/001-steady/clear", &json!({"reason": ""})), 400, "reason: must not be empty");

    assert_eq!(detail(&daemon, "web/001-steady"), before, "refusals changed nothing");
    assert!(worktree.join(".task/task.env").is_file());
}

/// Inserts tasks straight into the store's SQLite file: `(id, repo, sequence, slug, created_at)`.
pub(crate) fn insert(conn: &mut rusqlite::Connection, rows: &[(String, &str, u32, String, i64)]) {
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO tasks (id, repo_id, slug, sequence, status, profile, prompt, branch, worktree, primary_root,
                    base_branch, base_commit, failed_phase, created_at, updated_at, closed_at)
                 VALUES (?1, ?2, ?4, ?3, 'closed:success', NULL, 'bulk', 'task/' || ?4, '/gone', '/gone',
                    'main', 'abc', NULL, ?5, ?5, ?5)",
            )
            .unwrap();
        for (id, repo, sequence, slug, created_at) in rows {
            stmt.execute(rusqlite::params![id, repo, sequence, slug, created_at]).unwrap();
        }
    }
    tx.commit().unwrap();
}

#[test]
fn ten_thousand_tasks_page_in_stable_order_while_tasks_are_added() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    // The daemon answers once its store is open and migrated.
    assert_eq!(daemon.get("/api/tasks").0, 200);
    let db = env.state_dir().join("qcold.sqlite3");
    let mut conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    // Seven tasks share each second, so the id decides the order within a second.
    let mut original: Vec<(String, &str, u32, String, i64)> = (0..10_000u32)
        .map(|i| (format!("bulk/{:03}-t{i}", i + 1), "bulk", i + 1, format!("t{i}"), 1_000_000 + i64::from(i / 7)))
        .collect();
    insert(&mut conn, &original);
    original.sort_by(|a, b| (b.4, &b.0).cmp(&(a.4, &a.0)));
    let expected: Vec<String> = original.into_iter().map(|row| row.0).collect();

    let done = Arc::new(AtomicBool::new(false));
    let added = Arc::new(AtomicUsize::new(0));
    let writer = std::thread::spawn({
        let (done, added, db) = (Arc::clone(&done), Arc::clone(&added), db.clone());
        move || {
            let mut conn = rusqlite::Connection::open(db).unwrap();
            conn.busy_timeout(Duration::from_secs(10)).unwrap();
            let mut n = 0u32;
            while !done.load(Ordering::SeqCst) {
                n += 1;
                // New tasks land everywhere: before, inside and after the pages already read.
                let created_at = [2_000_000, 1_000_000 + i64::from(n * 37 % 1500), 999_999][n as usize % 3];
                insert(&mut conn, &[(format!("late/{n:03}-n{n}"), "late", n, format!("n{n}"), created_at)]);
                added.store(n as usize, Ordering::SeqCst);
            }
        }
    });

    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        // Every page is asked for after at least one more task was added.
        let before = added.load(Ordering::SeqCst);
        assert!(wait_until(Duration::from_secs(30), || added.load(Ordering::SeqCst) > before), "the writer writes");
        let page: TaskPage =
            typed(get(&daemon, "/api/tasks", &[("limit", "97"), ("cursor", &cursor)]), serde_json::from_value);
        assert!(page.tasks.len() <= 97);
        pages += 1;
        seen.extend(page.tasks.into_iter().map(|t| t.id));
        match page.next_cursor {
            Some(next) => cursor = next,
            None => break,
        }
    }
    done.store(true, Ordering::SeqCst);
    writer.join().unwrap();

    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no task appears twice");
    let originals: Vec<&String> = seen.iter().filter(|id| id.starts_with("bulk/")).collect();
    assert_eq!(originals.len(), expected.len(), "every original task appears");
    assert!(originals.iter().zip(&expected).all(|(a, b)| *a == b), "in newest-first order, without gaps");
    assert!(pages > 10_000 / 97, "{pages} pages");
    assert!(seen.iter().any(|id| id.starts_with("late/")), "tasks added while paging show up on later pages");
}
