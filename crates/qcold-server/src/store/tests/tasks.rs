//! Task queries: keyset paging (order, filters, text search with LIKE's wildcards taken
//! literally) and the recent tasks of the state.

use qcold_core::TaskStatus;
use qcold_core::api::tasks::{TaskCursor, TaskFilter, TaskPage};
use qcold_core::task::{EventKind, TaskEvent, TaskRecord};

use super::*;

pub(super) fn task(
    repo: &str,
    sequence: u32,
    slug: &str,
    status: TaskStatus,
    created_at: i64,
    prompt: Option<&str>,
) -> TaskRecord {
    let repo_id = RepoId::new(repo).unwrap();
    let slug = qcold_core::TaskSlug::new(slug).unwrap();
    TaskRecord {
        id: qcold_core::task::task_id(&repo_id, sequence, &slug),
        branch: qcold_core::task::branch_name(&slug),
        repo: repo_id,
        slug,
        sequence,
        status,
        profile: None,
        prompt: prompt.map(str::to_owned),
        worktree: format!("/wt/{repo}/{sequence}"),
        primary: format!("/r/{repo}"),
        base_branch: BranchName::new("main").unwrap(),
        base_commit: "0".repeat(40),
        failed_phase: None,
        closeout_failure: None,
        created_at,
        updated_at: created_at,
        closed_at: None,
    }
}

fn filled() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let rows = [
        task("web", 1, "login", TaskStatus::ClosedSuccess, 100, Some("make login work")),
        task("web", 2, "signup", TaskStatus::Open, 100, Some("100% done_ish")),
        task("api", 1, "login", TaskStatus::Open, 100, None),
        task("api", 2, "rate-limit", TaskStatus::Paused, 200, Some("throttle")),
        task("web", 3, "docs", TaskStatus::Open, 300, Some("LOGIN page docs")),
    ];
    for row in &rows {
        store
            .insert_task(row, &TaskEvent { kind: EventKind::Open, message: String::new(), at: row.created_at })
            .unwrap();
    }
    (dir, store)
}

fn filter(limit: u32) -> TaskFilter {
    TaskFilter { status: None, repo: None, text: None, limit, after: None }
}

fn ids(page: &TaskPage) -> Vec<&str> {
    page.tasks.iter().map(|t| t.id.as_str()).collect()
}

#[test]
fn pages_are_newest_first_by_time_then_id_and_chain_by_cursor() {
    let (_dir, store) = filled();
    let mut seen = Vec::new();
    let mut query = filter(2);
    loop {
        let page = store.task_page(&query).unwrap();
        assert!(page.tasks.len() <= 2);
        seen.extend(ids(&page).into_iter().map(str::to_owned));
        let Some(cursor) = page.next_cursor else { break };
        query.after = Some(TaskCursor::decode(&cursor).unwrap());
    }
    assert_eq!(seen, ["web/003-docs", "api/002-rate-limit", "web/002-signup", "web/001-login", "api/001-login"]);
    let all = store.task_page(&filter(5)).unwrap();
    assert_eq!((all.tasks.len(), all.next_cursor), (5, None), "an exactly full last page has no next cursor");
}

#[test]
fn filters_and_text_search() {
    let (_dir, store) = filled();
    let check = |status: Option<TaskStatus>, repo: Option<&str>, text: Option<&str>| {
        let query = TaskFilter {
            status,
            repo: repo.map(|r| RepoId::new(r).unwrap()),
            text: text.map(str::to_owned),
            ..filter(50)
        };
        ids(&store.task_page(&query).unwrap()).join(" ")
    };
    assert_eq!(check(Some(TaskStatus::Open), None, None), "web/003-docs web/002-signup api/001-login");
    assert_eq!(check(None, Some("api"), None), "api/002-rate-limit api/001-login");
    assert_eq!(check(Some(TaskStatus::Open), Some("web"), None), "web/003-docs web/002-signup");
    assert_eq!(check(None, Some("nope"), None), "");
    // Id, slug, prompt and branch are searched, ASCII case-insensitively.
    assert_eq!(check(None, None, Some("login")), "web/003-docs web/001-login api/001-login");
    assert_eq!(check(None, None, Some("task/rate")), "api/002-rate-limit");
    assert_eq!(check(None, None, Some("api/")), "api/002-rate-limit api/001-login");
    assert_eq!(check(None, Some("web"), Some("LOGIN")), "web/003-docs web/001-login");
    // `%` and `_` are literal text, not wildcards.
    assert_eq!(check(None, None, Some("100%")), "web/002-signup");
    assert_eq!(check(None, None, Some("0% d")), "web/002-signup");
    assert_eq!(check(None, None, Some("%")), "web/002-signup");
    assert_eq!(check(None, None, Some("e_i")), "web/002-signup");
    assert_eq!(check(None, None, Some("_")), "web/002-signup");
    assert_eq!(check(None, None, Some("\\")), "");
}

#[test]
fn paging_walks_an_index_instead_of_sorting() {
    let (_dir, store) = filled();
    let plan = |filter: &TaskFilter| -> String {
        let (sql, values) = crate::store::tasks::page_query(filter);
        let mut stmt = store.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    let after = Some(TaskCursor { created_at: 200, id: "api/002-rate-limit".into() });
    let newest = plan(&TaskFilter { after: after.clone(), ..filter(3) });
    assert!(newest.contains("tasks_by_time") && !newest.contains("TEMP B-TREE"), "{newest}");
    let by_repo = plan(&TaskFilter { repo: Some(RepoId::new("web").unwrap()), after, ..filter(3) });
    assert!(by_repo.contains("tasks_by_repo_time") && !by_repo.contains("TEMP B-TREE"), "{by_repo}");
}

#[test]
fn recent_tasks_are_every_unfinished_one_and_the_latest_closed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let statuses = [
        TaskStatus::ClosedSuccess,
        TaskStatus::Open,
        TaskStatus::ClosedFailed,
        TaskStatus::Paused,
        TaskStatus::ClosedBlocked,
        TaskStatus::ClosedSuccess,
    ];
    for (n, status) in (1..).zip(statuses) {
        let mut row = task("web", n, &format!("t{n}"), status, 10, None);
        // The oldest closed task (t1) was updated last, so recency is not creation order.
        row.updated_at = if n == 1 { 100 } else { 10 + i64::from(n) };
        store.insert_task(&row, &TaskEvent { kind: EventKind::Open, message: String::new(), at: 10 }).unwrap();
    }
    let mut tasks = store.recent_tasks(2).unwrap();
    qcold_core::api::bound_tasks(&mut tasks);
    let slugs: Vec<&str> = tasks.iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(slugs, ["t1", "t6", "t4", "t2"], "the two latest closed ones and every unfinished one");

    let mut stmt = store.conn.prepare(&format!("EXPLAIN QUERY PLAN {}", crate::store::tasks::recent_query())).unwrap();
    let plan: Vec<String> = stmt.query_map([2], |r| r.get::<_, String>(3)).unwrap().map(Result::unwrap).collect();
    let plan = plan.join("; ");
    assert!(
        plan.contains("tasks_by_update")
            && plan.contains("tasks_one_unfinished_per_slug")
            && !plan.contains("TEMP B-TREE"),
        "{plan}"
    );
}
