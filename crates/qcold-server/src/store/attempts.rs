//! Queries on the attempt ledger: one row per semantic iteration of a queue item.

use std::collections::HashMap;

use qcold_core::queue::Attempt;
use qcold_core::{ItemId, RunId};
use rusqlite::params;

use super::{Store, StoreError};

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
        self.conn.execute(
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

    /// Forgets a row whose agent never started (a launch failure is not an iteration).
    pub fn delete_attempt(&mut self, run: &RunId, item: &ItemId, iteration: u32) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM queue_attempts WHERE run_id = ?1 AND item_id = ?2 AND iteration = ?3 AND finished_at IS NULL",
            params![run.as_str(), item.as_str(), iteration],
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
        let rows = stmt.query_map([run.as_str()], |r| {
            let attempt = Attempt {
                iteration: r.get(1)?,
                agent_command: r.get(2)?,
                agent_id: r.get(3)?,
                terminal: r.get(4)?,
                packet: r.get(5)?,
                task_id: r.get(6)?,
                log: r.get(7)?,
                bundle: r.get(8)?,
                failure: r.get(9)?,
                started_at: r.get(10)?,
                finished_at: r.get(11)?,
            };
            Ok((r.get::<_, String>(0)?, attempt))
        })?;
        let mut ledger: HashMap<String, Vec<Attempt>> = HashMap::new();
        for row in rows {
            let (item, attempt) = row?;
            ledger.entry(item).or_default().push(attempt);
        }
        Ok(ledger)
    }
}
