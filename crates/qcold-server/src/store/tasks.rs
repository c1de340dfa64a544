//! Queries on the `tasks`, `task_sequences`, `task_events` and `task_bundles` tables.

use qcold_core::api::tasks::{TaskCursor, TaskFilter, TaskPage};
use qcold_core::task::delivery::CloseoutFailure;
use qcold_core::task::{Bundle, CloseoutPhase, TaskEvent, TaskRecord};
use qcold_core::{BranchName, RepoId, TaskSlug, TaskStatus};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, conversion_error, enum_from, enum_text};

const COLUMNS: &str = "id, repo_id, slug, sequence, status, profile, prompt, branch, worktree, primary_root, \
    base_branch, base_commit, failed_phase, created_at, updated_at, closed_at, failure_kind, failure_line";

impl Store {
    /// The sequence number the next task of `repo` gets; nothing is reserved until
    /// [`Store::insert_task`] stores a task with it.
    pub fn next_task_sequence(&self, repo: &RepoId) -> Result<u32, StoreError> {
        let last: i64 = self.conn.query_row(
            "SELECT max(coalesce((SELECT last FROM task_sequences WHERE repo_id = ?1), 0),
                        coalesce((SELECT max(sequence) FROM tasks WHERE repo_id = ?1), 0))",
            [repo.as_str()],
            |r| r.get(0),
        )?;
        Ok(u32::try_from(last + 1).unwrap_or(u32::MAX))
    }

    /// Stores a new task and its first event, and advances the repository's sequence.
    pub fn insert_task(&mut self, task: &TaskRecord, event: &TaskEvent) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            &format!("INSERT INTO tasks ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"),
            params![
                task.id,
                task.repo.as_str(),
                task.slug.as_str(),
                task.sequence,
                task.status.as_str(),
                task.profile,
                task.prompt,
                task.branch,
                task.worktree,
                task.primary,
                task.base_branch.as_str(),
                task.base_commit,
                task.failed_phase.map(CloseoutPhase::as_str),
                task.created_at,
                task.updated_at,
                task.closed_at,
                task.closeout_failure.as_ref().map(|f| f.kind.as_str()),
                task.closeout_failure.as_ref().map(|f| f.first_line.as_str())
            ],
        )?;
        tx.execute(
            "INSERT INTO task_sequences (repo_id, last) VALUES (?1, ?2)
             ON CONFLICT (repo_id) DO UPDATE SET last = max(last, excluded.last)",
            params![task.repo.as_str(), task.sequence],
        )?;
        insert_event(&tx, &task.id, event)?;
        tx.commit()?;
        Ok(())
    }

    /// Changes a task's status (and failed phase), recording `event` in the same transaction; a
    /// classified closeout failure is cleared.
    pub fn update_task_status(
        &mut self,
        id: &str,
        status: TaskStatus,
        failed_phase: Option<CloseoutPhase>,
        event: &TaskEvent,
    ) -> Result<(), StoreError> {
        self.update_task_failure(id, status, failed_phase, None, event)
    }

    /// [`Store::update_task_status`] with the classified failure of the failed phase.
    pub fn update_task_failure(
        &mut self,
        id: &str,
        status: TaskStatus,
        failed_phase: Option<CloseoutPhase>,
        failure: Option<&CloseoutFailure>,
        event: &TaskEvent,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let closed_at = status.is_terminal().then_some(event.at);
        let changed = tx.execute(
            "UPDATE tasks SET status = ?2, failed_phase = ?3, updated_at = ?4, closed_at = coalesce(?5, closed_at),
                 failure_kind = ?6, failure_line = ?7
             WHERE id = ?1",
            params![
                id,
                status.as_str(),
                failed_phase.map(CloseoutPhase::as_str),
                event.at,
                closed_at,
                failure.map(|f| f.kind.as_str()),
                failure.map(|f| f.first_line.as_str())
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::UnknownTask(id.to_owned()));
        }
        insert_event(&tx, id, event)?;
        tx.commit()?;
        Ok(())
    }

    /// Records an event for a task.
    pub fn add_task_event(&mut self, id: &str, event: &TaskEvent) -> Result<(), StoreError> {
        insert_event(&self.conn, id, event)
    }

    /// Records a bundle written for a task.
    ///
    /// A queue iteration of the task that ended before its bundle existed (the scheduler may
    /// judge the closed task in the moment between the status and the bundle) gets the bundle on
    /// its ledger row in the same transaction, so the ledger never misses it.
    pub fn add_task_bundle(&mut self, id: &str, bundle: &Bundle) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR REPLACE INTO task_bundles (path, task_id, status, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![bundle.path, id, bundle.status.as_str(), bundle.created_at],
        )?;
        // Only the iteration that wrote it: the latest one of the task started by then. Earlier
        // iterations of the same task (an agent that exited without closing out) made no bundle.
        tx.execute(
            "UPDATE queue_attempts SET bundle = ?2
             WHERE task_id = ?1 AND bundle IS NULL AND finished_at IS NOT NULL AND started_at <= ?3
               AND iteration = (SELECT max(iteration) FROM queue_attempts
                                WHERE task_id = ?1 AND started_at <= ?3)",
            params![id, bundle.path, bundle.created_at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// One task by id.
    pub fn task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        Ok(self.conn.query_row(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"), [id], read_task).optional()?)
    }

    /// The newest task of `repo` with `slug`: the unfinished one if there is one.
    pub fn task_by_slug(&self, repo: &RepoId, slug: &TaskSlug) -> Result<Option<TaskRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM tasks WHERE repo_id = ?1 AND slug = ?2
                     ORDER BY status LIKE 'closed:%', sequence DESC LIMIT 1"
                ),
                [repo.as_str(), slug.as_str()],
                read_task,
            )
            .optional()?)
    }

    /// Tasks, newest first, optionally of one repository and one status.
    pub fn tasks(&self, repo: Option<&RepoId>, status: Option<TaskStatus>) -> Result<Vec<TaskRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE (?1 IS NULL OR repo_id = ?1) AND (?2 IS NULL OR status = ?2)
             ORDER BY created_at DESC, sequence DESC"
        ))?;
        let rows = stmt.query_map(params![repo.map(RepoId::as_str), status.map(TaskStatus::as_str)], read_task)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One page of tasks, newest first by `(created_at, id)`, after `filter.after`.
    ///
    /// Keyset paging: each page starts strictly after the last task of the previous one, so a
    /// client paging through while tasks are added sees every task that existed when it started
    /// exactly once and in one order.
    pub fn task_page(&self, filter: &TaskFilter) -> Result<TaskPage, StoreError> {
        let (sql, values) = page_query(filter);
        let mut stmt = self.conn.prepare(&sql)?;
        let mut tasks: Vec<TaskRecord> =
            stmt.query_map(rusqlite::params_from_iter(values), read_task)?.collect::<Result<_, _>>()?;
        let limit = usize::try_from(filter.limit).unwrap_or(usize::MAX);
        let next_cursor = (tasks.len() > limit).then(|| {
            tasks.truncate(limit);
            tasks.last().map(|t| TaskCursor::of(t).encode())
        });
        Ok(TaskPage { tasks, next_cursor: next_cursor.flatten() })
    }

    /// Every unfinished task and the `closed` most recently updated closed ones: what
    /// `StateResponse::tasks` holds (`qcold_core::api::bound_tasks` orders them). Both halves
    /// walk an index (the unfinished-slug index, `tasks_by_update`), so the cost follows what is
    /// returned, not how long the history is.
    pub fn recent_tasks(&self, closed: usize) -> Result<Vec<TaskRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&recent_query())?;
        let limit = i64::try_from(closed).unwrap_or(i64::MAX);
        let rows = stmt.query_map([limit], read_task)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A task's events, oldest first.
    pub fn task_events(&self, id: &str) -> Result<Vec<TaskEvent>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT kind, message, at FROM task_events WHERE task_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([id], |row| {
            Ok(TaskEvent { kind: enum_from(0, row.get(0)?)?, message: row.get(1)?, at: row.get(2)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A task's bundles, oldest first.
    pub fn task_bundles(&self, id: &str) -> Result<Vec<Bundle>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT path, status, created_at FROM task_bundles WHERE task_id = ?1 ORDER BY created_at, path",
        )?;
        let rows = stmt.query_map([id], |row| {
            Ok(Bundle {
                path: row.get(0)?,
                status: row.get::<_, String>(1)?.parse().map_err(|e| conversion_error(1, e))?,
                created_at: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The query of [`Store::recent_tasks`]; its one parameter is the number of closed tasks.
pub(super) fn recent_query() -> String {
    format!(
        "SELECT {COLUMNS} FROM tasks WHERE status NOT LIKE 'closed:%'
         UNION ALL
         SELECT * FROM (SELECT {COLUMNS} FROM tasks WHERE status LIKE 'closed:%'
                        ORDER BY updated_at DESC, id DESC LIMIT ?1)"
    )
}

/// The SQL of [`Store::task_page`] and its values. Only the filters that are set become clauses,
/// so the `tasks_by_time` and `tasks_by_repo_time` indexes serve the order and the cursor; one
/// row more than the page is asked for, to tell whether there is a next page.
pub(super) fn page_query(filter: &TaskFilter) -> (String, Vec<Value>) {
    let mut values: Vec<Value> = Vec::new();
    let mut clauses: Vec<String> = Vec::new();
    if let Some(status) = filter.status {
        values.push(status.as_str().to_owned().into());
        clauses.push(format!("status = ?{}", values.len()));
    }
    if let Some(repo) = &filter.repo {
        values.push(repo.as_str().to_owned().into());
        clauses.push(format!("repo_id = ?{}", values.len()));
    }
    if let Some(text) = &filter.text {
        values.push(format!("%{}%", like_escape(text)).into());
        let n = values.len();
        clauses.push(format!(
            "(id LIKE ?{n} ESCAPE '\\' OR slug LIKE ?{n} ESCAPE '\\' OR prompt LIKE ?{n} ESCAPE '\\' \
             OR branch LIKE ?{n} ESCAPE '\\')"
        ));
    }
    if let Some(after) = &filter.after {
        values.push(after.created_at.into());
        values.push(after.id.clone().into());
        clauses.push(format!("(created_at, id) < (?{}, ?{})", values.len() - 1, values.len()));
    }
    values.push((i64::from(filter.limit) + 1).into());
    let filters = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let sql = format!("SELECT {COLUMNS} FROM tasks{filters} ORDER BY created_at DESC, id DESC LIMIT ?{}", values.len());
    (sql, values)
}

/// `text` with LIKE's wildcards (`%`, `_`) and the escape character itself escaped by `\\`.
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn insert_event(conn: &rusqlite::Connection, id: &str, event: &TaskEvent) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO task_events (task_id, kind, message, at) VALUES (?1, ?2, ?3, ?4)",
        params![id, enum_text(event.kind), event.message, event.at],
    )?;
    Ok(())
}

fn read_task(row: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRecord> {
    let text = |i: usize| row.get::<_, String>(i);
    Ok(TaskRecord {
        id: text(0)?,
        repo: RepoId::new(text(1)?).map_err(|e| conversion_error(1, e))?,
        slug: TaskSlug::new(text(2)?).map_err(|e| conversion_error(2, e))?,
        sequence: row.get(3)?,
        status: text(4)?.parse().map_err(|e| conversion_error(4, e))?,
        profile: row.get(5)?,
        prompt: row.get(6)?,
        branch: text(7)?,
        worktree: text(8)?,
        primary: text(9)?,
        base_branch: BranchName::new(text(10)?).map_err(|e| conversion_error(10, e))?,
        base_commit: text(11)?,
        failed_phase: row.get::<_, Option<String>>(12)?.map(|p| enum_from(12, p)).transpose()?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
        closed_at: row.get(15)?,
        closeout_failure: match row.get::<_, Option<String>>(16)? {
            Some(kind) => Some(CloseoutFailure {
                kind: enum_from(16, kind)?,
                first_line: row.get::<_, Option<String>>(17)?.unwrap_or_default(),
            }),
            None => None,
        },
    })
}
