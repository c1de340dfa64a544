//! Queries on the attempt ledger: one row per semantic iteration of a queue item.

use std::collections::HashMap;

use qcold_core::queue::Attempt;
use qcold_core::{ItemId, RunId};
use rusqlite::{TransactionBehavior, params};

use super::queue::write_item;
use super::{ItemUpdate, Store, StoreError};

/// How an iteration ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptEnd {
    /// How it failed; `None` for a success.
    pub failure: Option<String>,
    /// The captured end of its terminal.
    pub log: Option<String>,
    /// The evidence bundle its task left.
    pub bundle: Option<String>,
}

impl Store {
    /// Records the start of an iteration.
    pub fn insert_attempt(&mut self, run: &RunId, item: &ItemId, attempt: &Attempt) -> Result<(), StoreError> {
        insert(&self.conn, run, item, attempt)
    }

    /// Begins an iteration: its ledger row and the item's update (its new iteration), in one
    /// transaction under the worker's lease, so a crash leaves either both or neither.
    pub fn begin_attempt(
        &mut self,
        run: &RunId,
        item: &ItemId,
        epoch: u64,
        attempt: &Attempt,
        update: &ItemUpdate,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        write_item(&tx, run, item, epoch, update, now)?;
        insert(&tx, run, item, attempt)?;
        tx.commit()?;
        Ok(())
    }

    /// Records the task of an open iteration on its row and on the item, in one transaction.
    pub fn record_attempt_task(
        &mut self,
        run: &RunId,
        item: &ItemId,
        epoch: u64,
        row: u32,
        update: &ItemUpdate,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        write_item(&tx, run, item, epoch, update, now)?;
        tx.execute(
            "UPDATE queue_attempts SET task_id = ?4 WHERE run_id = ?1 AND item_id = ?2 AND iteration = ?3 AND finished_at IS NULL",
            params![run.as_str(), item.as_str(), row, update.task_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets an open row whose agent never started (a launch failure is not an iteration) and
    /// writes the item's update, in one transaction. The caller has checked that the agent left
    /// no trace: a row whose agent may be alive is never deleted.
    pub fn abandon_attempt(
        &mut self,
        run: &RunId,
        item: &ItemId,
        epoch: u64,
        row: u32,
        update: &ItemUpdate,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        write_item(&tx, run, item, epoch, update, now)?;
        tx.execute(
            "DELETE FROM queue_attempts WHERE run_id = ?1 AND item_id = ?2 AND iteration = ?3 AND finished_at IS NULL",
            params![run.as_str(), item.as_str(), row],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// One item's ledger, oldest first.
    pub fn item_attempts(&self, run: &RunId, item: &ItemId) -> Result<Vec<Attempt>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT iteration, agent_command, agent_id, terminal, packet, task_id, log, bundle, failure, started_at, finished_at
             FROM queue_attempts WHERE run_id = ?1 AND item_id = ?2 ORDER BY iteration",
        )?;
        let rows = stmt.query_map([run.as_str(), item.as_str()], |r| read_attempt(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Closes an iteration that is still open (no `finished_at`); a second call changes nothing.
    pub fn finish_attempt(
        &mut self,
        run: &RunId,
        item: &ItemId,
        iteration: u32,
        end: &AttemptEnd,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE queue_attempts SET failure = ?4, log = coalesce(?5, log), bundle = coalesce(?6, bundle), finished_at = ?7
             WHERE run_id = ?1 AND item_id = ?2 AND iteration = ?3 AND finished_at IS NULL",
            params![run.as_str(), item.as_str(), iteration, end.failure, end.log, end.bundle, now],
        )?;
        Ok(())
    }

    /// The ledger of every item of a run, by item id, each oldest first: one query for the run,
    /// not one per item (the scheduler reads live runs on every pass).
    pub fn run_attempts(&self, run: &RunId) -> Result<HashMap<String, Vec<Attempt>>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT item_id, iteration, agent_command, agent_id, terminal, packet, task_id, log, bundle, failure, started_at, finished_at
             FROM queue_attempts WHERE run_id = ?1 ORDER BY item_id, iteration",
        )?;
        let rows = stmt.query_map([run.as_str()], |r| Ok((r.get::<_, String>(0)?, read_attempt(r, 1)?)))?;
        let mut ledger: HashMap<String, Vec<Attempt>> = HashMap::new();
        for row in rows {
            let (item, attempt) = row?;
            ledger.entry(item).or_default().push(attempt);
        }
        Ok(ledger)
    }
}

fn insert(conn: &rusqlite::Connection, run: &RunId, item: &ItemId, attempt: &Attempt) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO queue_attempts (run_id, item_id, iteration, agent_command, agent_id, terminal, packet, task_id, log, bundle, failure, started_at, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            run.as_str(),
            item.as_str(),
            attempt.iteration,
            attempt.agent_command,
            attempt.agent_id,
            attempt.terminal,
            attempt.packet,
            attempt.task_id,
            attempt.log,
            attempt.bundle,
            attempt.failure,
            attempt.started_at,
            attempt.finished_at
        ],
    )?;
    Ok(())
}

/// An attempt from the row's columns starting at `at` (in the order the queries select them).
fn read_attempt(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        iteration: r.get(at)?,
        agent_command: r.get(at + 1)?,
        agent_id: r.get(at + 2)?,
        terminal: r.get(at + 3)?,
        packet: r.get(at + 4)?,
        task_id: r.get(at + 5)?,
        log: r.get(at + 6)?,
        bundle: r.get(at + 7)?,
        failure: r.get(at + 8)?,
        started_at: r.get(at + 9)?,
        finished_at: r.get(at + 10)?,
    })
}
