//! Queries on queue runs as a whole: the queue view, run status, dedupe facts and the
//! operator's edits (stop, continue, clear, update and remove of items that have not started).

use std::collections::HashMap;

use qcold_core::queue::dedupe::Unfinished;
use qcold_core::queue::wire::{QueueView, RECENT_FINISHED_RUNS, Run};
use qcold_core::queue::{ItemRecord, ItemStatus, RunStatus, TaskClass};
use qcold_core::{ItemId, RepoId, RunId};
use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use super::kept::Kept;
use super::queue::{ITEM_COLUMNS, read_item};
use super::{Store, StoreError, conversion_error, enum_from, enum_text};

const RUN_COLUMNS: &str = "id, repo_id, mode, agent, status, reason, created_at, updated_at";

impl Store {
    /// The queue view: every tab, and the runs still unfinished, shown in a tab or among the
    /// [`RECENT_FINISHED_RUNS`] most recently finished, with their items and attempt ledgers.
    pub fn queue_view(&self) -> Result<QueueView, StoreError> {
        let tabs = self.tabs()?;
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM queue_runs
             WHERE status NOT IN ('success', 'failed')
                OR id IN (SELECT run_id FROM queue_tabs WHERE run_id IS NOT NULL)
                OR id IN (SELECT id FROM queue_runs WHERE status IN ('success', 'failed')
                          ORDER BY updated_at DESC, id DESC LIMIT ?1)
             ORDER BY created_at, id"
        ))?;
        let runs: Vec<Run> = stmt.query_map([RECENT_FINISHED_RUNS], read_run)?.collect::<Result<_, _>>()?;
        let runs = runs.into_iter().map(|run| self.with_items(run)).collect::<Result<_, _>>()?;
        Ok(QueueView { tabs, runs })
    }

    /// One run with its items and their attempt ledgers.
    pub fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError> {
        let run = self
            .conn
            .query_row(&format!("SELECT {RUN_COLUMNS} FROM queue_runs WHERE id = ?1"), [id.as_str()], read_run)
            .optional()?;
        run.map(|run| self.with_items(run)).transpose()
    }

    /// The runs the scheduler looks at: those not finished, and finished ones that still have an
    /// item whose agent may be working (a failed run lets its other running items finish).
    pub fn live_runs(&self) -> Result<Vec<Run>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {RUN_COLUMNS} FROM queue_runs
             WHERE status IN ('running', 'stopping', 'stopped')
                OR id IN (SELECT run_id FROM queue_items WHERE status IN ('admitted', 'starting', 'running'))
             ORDER BY created_at, id"
        ))?;
        let runs: Vec<Run> = stmt.query_map([], read_run)?.collect::<Result<_, _>>()?;
        runs.into_iter().map(|run| self.with_items(run)).collect()
    }

    /// The run with its items and their ledgers, from this connection's [`ItemCache`]: only the
    /// items written since the cache last read the run are read again (all of them when one was
    /// deleted, or the first time), so a pass over a run of a thousand items after one of them
    /// changed reads one row, not a thousand. The reads share one snapshot of the store.
    fn with_items(&self, mut run: Run) -> Result<Run, StoreError> {
        if !self.conn.is_autocommit() {
            // Inside a transaction that may yet roll back: what it reads must not be kept, as
            // its revisions would be handed out again.
            let mut items = self.run_items(&run.id)?;
            let mut ledger = self.run_attempts(&run.id)?;
            for item in &mut items {
                item.attempts = ledger.remove(item.id.as_str()).unwrap_or_default();
            }
            run.items = items;
            return Ok(run);
        }
        let snapshot = self.conn.unchecked_transaction()?;
        let epoch: i64 = self
            .conn
            .prepare_cached("SELECT items_epoch FROM queue_runs WHERE id = ?1")?
            .query_row([run.id.as_str()], |r| r.get(0))?;
        let mut cache = self.items.borrow_mut();
        let kept = cache.take(&run.id, epoch);
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {ITEM_COLUMNS}, rev FROM queue_items WHERE run_id = ?1 AND rev > ?2"))?;
        let since = kept.as_ref().map_or(-1, Kept::since);
        let mut changed = stmt
            .query_map(params![run.id.as_str(), since], |r| Ok((read_item(r)?, r.get::<_, i64>(23)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        self.rows_read.set(self.rows_read.get() + u64::try_from(changed.len()).unwrap_or(u64::MAX));
        // A first read takes the run's whole ledger at once; a later one, the changed items'.
        let mut ledger = if kept.is_none() { self.run_attempts(&run.id)? } else { HashMap::new() };
        for (item, _) in &mut changed {
            item.attempts = match ledger.remove(item.id.as_str()) {
                Some(attempts) => attempts,
                None if kept.is_none() => Vec::new(),
                None => self.item_attempts(&run.id, &item.id)?,
            };
        }
        let mut entry = kept.unwrap_or_else(|| Kept::new(epoch));
        entry.merge(changed, |a, b| a.position.cmp(&b.position));
        run.items = entry.rows.clone();
        cache.keep(run.id.clone(), entry);
        drop(cache);
        snapshot.commit()?;
        Ok(run)
    }

    /// Sets a run's status; false when the run is gone.
    pub fn set_run_status(
        &mut self,
        id: &RunId,
        status: RunStatus,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE queue_runs SET status = ?2, reason = ?3, updated_at = ?4 WHERE id = ?1",
            params![id.as_str(), status.as_str(), reason, now],
        )?;
        Ok(changed == 1)
    }

    /// Records that the operator wants the agents of the run's items in flight stopped
    /// (`queue stop --kill`); `continue` forgets it.
    pub fn request_run_kill(&mut self, id: &RunId, now: i64) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE queue_runs SET kill_requested = 1, updated_at = ?2 WHERE id = ?1",
            params![id.as_str(), now],
        )?;
        Ok(changed == 1)
    }

    /// Whether the operator asked for the run's agents in flight to be stopped.
    pub fn run_kill_requested(&self, id: &RunId) -> Result<bool, StoreError> {
        let flag: Option<i64> = self
            .conn
            .query_row("SELECT kill_requested FROM queue_runs WHERE id = ?1", [id.as_str()], |r| r.get(0))
            .optional()?;
        Ok(flag == Some(1))
    }

    /// Items of runs other than `except` that did not succeed, for slug dedupe.
    pub fn unfinished_items(&self, except: Option<&RunId>) -> Result<Vec<Unfinished>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT run_id, slug, status FROM queue_items WHERE status != 'success' AND run_id != ?1 ORDER BY run_id, position",
        )?;
        let rows = stmt.query_map([except.map_or("", RunId::as_str)], |r| {
            Ok(Unfinished { run_id: r.get(0)?, slug: r.get(1)?, status: enum_from(2, r.get(2)?)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Continues a run in one transaction: stopped items, and failed or blocked ones with fresh
    /// budgets, become pending; waiting items are woken; the run runs again. Returns how many
    /// items were reset.
    pub fn continue_run(&mut self, id: &RunId, now: i64) -> Result<usize, StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let reset = tx.execute(
            "UPDATE queue_items SET status = 'pending', reason = 'pending after queue continue', next_attempt_at = NULL,
                 launch_failures = CASE WHEN status IN ('failed', 'blocked') THEN 0 ELSE launch_failures END,
                 iteration = CASE WHEN status IN ('failed', 'blocked') THEN 0 ELSE iteration END,
                 delivery_retries = 0,
                 agent_id = NULL, updated_at = ?2
             WHERE run_id = ?1 AND status IN ('stopped', 'failed', 'blocked')",
            params![id.as_str(), now],
        )?;
        let woken = tx.execute(
            "UPDATE queue_items SET next_attempt_at = NULL, reason = 'retry awakened by queue continue', updated_at = ?2
             WHERE run_id = ?1 AND status = 'waiting'",
            params![id.as_str(), now],
        )?;
        // Items that never started may have said whose failure blocked them; that item is pending again.
        tx.execute(
            "UPDATE queue_items SET reason = 'pending after queue continue', updated_at = ?2
             WHERE run_id = ?1 AND status = 'pending' AND reason != 'pending after queue continue'",
            params![id.as_str(), now],
        )?;
        tx.execute(
            "UPDATE queue_runs SET status = 'running', reason = 'continued', kill_requested = 0, updated_at = ?2
             WHERE id = ?1",
            params![id.as_str(), now],
        )?;
        tx.commit()?;
        Ok(reset + woken)
    }

    /// Deletes a run with its items and ledger; tabs that showed it show nothing.
    pub fn delete_run(&mut self, id: &RunId) -> Result<bool, StoreError> {
        Ok(self.conn.execute("DELETE FROM queue_runs WHERE id = ?1", [id.as_str()])? == 1)
    }

    /// Edits an item that has not started (pending or waiting, no lease held); false when it
    /// has started or does not exist.
    pub fn edit_item(
        &mut self,
        run: &RunId,
        item: &ItemId,
        prompt: Option<&str>,
        class: Option<TaskClass>,
        agent: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE queue_items SET prompt = coalesce(?3, prompt), task_class = coalesce(?4, task_class),
                 agent = coalesce(?5, agent), updated_at = ?6
             WHERE run_id = ?1 AND id = ?2 AND status IN ('pending', 'waiting') AND iteration = 0
                 AND (lease_owner IS NULL OR lease_expires_at <= ?6)",
            params![run.as_str(), item.as_str(), prompt, class.map(enum_text), agent, now],
        )?;
        Ok(changed == 1)
    }

    /// Removes an item that has not started or has ended, and drops it from the other items'
    /// dependencies; false when it is in flight or does not exist.
    pub fn remove_item(&mut self, run: &RunId, item: &ItemId, now: i64) -> Result<bool, StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let removed = tx.execute(
            "DELETE FROM queue_items WHERE run_id = ?1 AND id = ?2
                 AND status NOT IN ('admitted', 'starting', 'running', 'paused')
                 AND (lease_owner IS NULL OR lease_expires_at <= ?3)",
            params![run.as_str(), item.as_str(), now],
        )?;
        if removed == 1 {
            let mut stmt = tx.prepare("SELECT id, depends_on FROM queue_items WHERE run_id = ?1")?;
            let rows: Vec<(String, String)> =
                stmt.query_map([run.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            drop(stmt);
            for (id, deps) in rows {
                let mut list: Vec<ItemId> = serde_json::from_str(&deps).map_err(|e| conversion_error(1, e))?;
                let before = list.len();
                list.retain(|d| d != item);
                if list.len() != before {
                    let text = serde_json::to_string(&list).map_err(|e| conversion_error(1, e))?;
                    tx.execute(
                        "UPDATE queue_items SET depends_on = ?3, updated_at = ?4 WHERE run_id = ?1 AND id = ?2",
                        params![run.as_str(), id, text, now],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(removed == 1)
    }

    /// One item.
    pub fn item(&self, run: &RunId, item: &ItemId) -> Result<Option<ItemRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {ITEM_COLUMNS} FROM queue_items WHERE run_id = ?1 AND id = ?2"),
                [run.as_str(), item.as_str()],
                read_item,
            )
            .optional()?)
    }

    /// Items in a status, across runs; used for admission's live reservations.
    pub fn items_in(&self, statuses: &[ItemStatus]) -> Result<Vec<ItemRecord>, StoreError> {
        let list = statuses.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ITEM_COLUMNS} FROM queue_items WHERE status IN ({list}) ORDER BY run_id, position"
        ))?;
        let rows = stmt.query_map([], read_item)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn read_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        id: RunId::new(row.get::<_, String>(0)?).map_err(|e| conversion_error(0, e))?,
        repo: RepoId::new(row.get::<_, String>(1)?).map_err(|e| conversion_error(1, e))?,
        mode: enum_from(2, row.get(2)?)?,
        agent: row.get(3)?,
        status: enum_from(4, row.get(4)?)?,
        reason: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        items: Vec::new(),
    })
}

/// The items of the runs a connection reads again and again (the live runs, the queue view),
/// kept between reads so that a read asks SQLite only for what changed. At most [`Self::RUNS`]
/// runs are kept, the least recently read dropped first.
#[derive(Debug, Default)]
pub(super) struct ItemCache {
    runs: Vec<(RunId, Kept<ItemRecord>)>,
}

impl ItemCache {
    const RUNS: usize = 32;

    /// Takes out the run's entry if it is still valid for `epoch` (no item deleted since).
    fn take(&mut self, run: &RunId, epoch: i64) -> Option<Kept<ItemRecord>> {
        let at = self.runs.iter().position(|(id, _)| id == run)?;
        let (_, entry) = self.runs.remove(at);
        (entry.epoch == epoch).then_some(entry)
    }

    /// Keeps the run's entry as the most recently read.
    fn keep(&mut self, run: RunId, entry: Kept<ItemRecord>) {
        if self.runs.len() >= Self::RUNS {
            self.runs.remove(0);
        }
        self.runs.push((run, entry));
    }
}
