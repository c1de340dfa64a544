//! Queries on queue tabs: exactly one is active, `default` always exists, each shows one run.

use qcold_core::queue::wire::Tab;
use qcold_core::{RunId, TabId};
use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use super::{Store, StoreError, conversion_error};

/// The tab that always exists and is never deleted.
pub const DEFAULT_TAB: &str = "default";

impl Store {
    /// Every tab, oldest first.
    pub fn tabs(&self) -> Result<Vec<Tab>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, label, run_id, active, created_at FROM queue_tabs ORDER BY created_at, id")?;
        let rows = stmt.query_map([], |r| {
            Ok(Tab {
                id: TabId::new(r.get::<_, String>(0)?).map_err(|e| conversion_error(0, e))?,
                label: r.get(1)?,
                run_id: r
                    .get::<_, Option<String>>(2)?
                    .map(RunId::new)
                    .transpose()
                    .map_err(|e| conversion_error(2, e))?,
                active: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Creates a tab and makes it the active one.
    pub fn create_tab(&mut self, id: &TabId, label: &str, now: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("UPDATE queue_tabs SET active = 0 WHERE active = 1", [])?;
        tx.execute(
            "INSERT INTO queue_tabs (id, label, run_id, active, created_at) VALUES (?1, ?2, NULL, 1, ?3)",
            params![id.as_str(), label, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Makes a tab the active one; false when there is no such tab.
    pub fn switch_tab(&mut self, id: &TabId) -> Result<bool, StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM queue_tabs WHERE id = ?1)", [id.as_str()], |r| r.get(0))?;
        if exists {
            tx.execute("UPDATE queue_tabs SET active = 0 WHERE active = 1", [])?;
            tx.execute("UPDATE queue_tabs SET active = 1 WHERE id = ?1", [id.as_str()])?;
        }
        tx.commit()?;
        Ok(exists)
    }

    /// Deletes a tab (never `default`); when it was active, the default tab becomes active.
    pub fn delete_tab(&mut self, id: &TabId) -> Result<bool, StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let was_active: Option<bool> = tx
            .query_row("SELECT active FROM queue_tabs WHERE id = ?1 AND id != ?2", [id.as_str(), DEFAULT_TAB], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(active) = was_active {
            tx.execute("DELETE FROM queue_tabs WHERE id = ?1", [id.as_str()])?;
            if active {
                tx.execute("UPDATE queue_tabs SET active = 1 WHERE id = ?1", [DEFAULT_TAB])?;
            }
        }
        tx.commit()?;
        Ok(was_active.is_some())
    }

    /// Shows `run` in `tab`, replacing what the tab showed.
    pub fn show_run_in_tab(&mut self, tab: &TabId, run: &RunId) -> Result<(), StoreError> {
        self.conn.execute("UPDATE queue_tabs SET run_id = ?2 WHERE id = ?1", params![tab.as_str(), run.as_str()])?;
        Ok(())
    }
}
