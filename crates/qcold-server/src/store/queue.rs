//! Queries on the queue tables: runs, items with their worker leases, host samples.
//!
//! Every write a worker makes to an item carries the lease epoch it was granted and lands only
//! while that epoch is current (`WHERE lease_epoch = ?`): a worker whose lease was reclaimed can
//! no longer change the item.

use qcold_core::queue::admission::HostSample;
use qcold_core::queue::graph::Item;
use qcold_core::queue::lease::{self, Grant, LEASE_TTL_SECS, Lease};
use qcold_core::queue::{ExecutionMode, ItemRecord, RunStatus};
use qcold_core::{ItemId, RepoId, RunId, TaskSlug};
use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use super::{Store, StoreError, conversion_error, enum_from, enum_text};

pub(super) const ITEM_COLUMNS: &str = "run_id, id, position, slug, prompt, depends_on, wave_index, task_class, agent, status, reason, \
    next_attempt_at, launch_failures, iteration, task_id, agent_id, lease_owner, lease_epoch, lease_expires_at, updated_at, waiting_for, \
    delivery_retries, stalled_since";

pub use qcold_core::queue::update::ItemUpdate;

impl Store {
    /// Stores a run and its items (all `pending`) in one transaction.
    pub fn insert_run(
        &mut self,
        id: &RunId,
        repo: &RepoId,
        mode: ExecutionMode,
        agent: Option<&str>,
        items: &[Item],
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO queue_runs (id, repo_id, mode, agent, status, reason, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'running', 'queued', ?5, ?5)",
            params![id.as_str(), repo.as_str(), enum_text(mode), agent, now],
        )?;
        insert_items(&tx, id, items, 1, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Adds items after the run's last position and sets the run running again, in one
    /// transaction. `items` carry their canonical wave indexes over the combined set.
    pub fn append_items(&mut self, id: &RunId, items: &[Item], now: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: u32 =
            tx.query_row("SELECT coalesce(max(position), 0) FROM queue_items WHERE run_id = ?1", [id.as_str()], |r| {
                r.get(0)
            })?;
        insert_items(&tx, id, items, last + 1, now)?;
        tx.execute(
            "UPDATE queue_runs SET status = 'running', reason = 'items appended', updated_at = ?2
             WHERE id = ?1 AND status IN ('running', 'success')",
            params![id.as_str(), now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A run's status.
    pub fn run_status(&self, id: &RunId) -> Result<Option<RunStatus>, StoreError> {
        let status: Option<String> = self
            .conn
            .query_row("SELECT status FROM queue_runs WHERE id = ?1", [id.as_str()], |r| r.get(0))
            .optional()?;
        Ok(status.map(|s| enum_from(0, s)).transpose()?)
    }

    /// A run's items, in position order.
    pub fn run_items(&self, id: &RunId) -> Result<Vec<ItemRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {ITEM_COLUMNS} FROM queue_items WHERE run_id = ?1 ORDER BY position"))?;
        let rows = stmt.query_map([id.as_str()], read_item)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Asks for an item's lease on behalf of `owner`; a grant bumps the epoch and is stored in the
    /// same transaction, so two workers can never both hold it. `holder_alive` tells whether the
    /// current holder still exists.
    pub fn acquire_item_lease(
        &mut self,
        run: &RunId,
        item: &ItemId,
        owner: &str,
        now: i64,
        holder_alive: &dyn Fn(&str) -> bool,
    ) -> Result<Option<Grant>, StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<Lease> = tx
            .query_row(
                "SELECT lease_owner, lease_epoch, lease_expires_at FROM queue_items WHERE run_id = ?1 AND id = ?2",
                [run.as_str(), item.as_str()],
                |r| Ok(Lease { owner: r.get(0)?, epoch: r.get(1)?, expires_at: r.get(2)? }),
            )
            .optional()?;
        let Some(current) = current else { return Ok(None) };
        let alive = current.owner.as_deref().is_some_and(holder_alive);
        let grant = lease::acquire(Some(&current), owner, now, alive);
        if let Grant::Acquired { epoch, .. } = &grant {
            tx.execute(
                "UPDATE queue_items SET lease_owner = ?3, lease_epoch = ?4, lease_expires_at = ?5 WHERE run_id = ?1 AND id = ?2",
                params![run.as_str(), item.as_str(), owner, epoch, now + LEASE_TTL_SECS],
            )?;
        }
        tx.commit()?;
        Ok(Some(grant))
    }

    /// Extends a held lease; false when the epoch moved on (the worker must stop).
    pub fn heartbeat_item(&mut self, run: &RunId, item: &ItemId, epoch: u64, now: i64) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE queue_items SET lease_expires_at = ?4 WHERE run_id = ?1 AND id = ?2 AND lease_epoch = ?3 AND lease_owner IS NOT NULL",
            params![run.as_str(), item.as_str(), epoch, now + LEASE_TTL_SECS],
        )?;
        Ok(changed == 1)
    }

    /// Writes a worker's status change, fenced by its epoch.
    pub fn update_item(
        &mut self,
        run: &RunId,
        item: &ItemId,
        epoch: u64,
        update: &ItemUpdate,
        now: i64,
    ) -> Result<(), StoreError> {
        write_item(&self.conn, run, item, epoch, update, now)
    }

    /// Writes updates that hold no lease — a pass's admission refusals — in one transaction, so
    /// a pass that refuses a thousand items commits once, not a thousand times. Each is fenced by
    /// the epoch it was read with; one fenced by a concurrent grant is skipped, as it would be
    /// alone.
    pub fn update_items_unleased(
        &mut self,
        updates: &[(RunId, ItemId, u64, ItemUpdate)],
        now: i64,
    ) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (run, item, epoch, update) in updates {
            match write_item(&tx, run, item, *epoch, update, now) {
                Ok(()) | Err(StoreError::Fenced { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The earliest retry time after `now` of a waiting item, computed by SQLite: the pass needs
    /// one number, not every waiting item.
    pub fn next_retry_after(&self, now: i64) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT MIN(next_attempt_at) FROM queue_items WHERE status = 'waiting' AND next_attempt_at > ?1",
            [now],
            |row| row.get(0),
        )?)
    }

    /// Gives a lease up (the epoch stays, so later writes with it are still refused once reclaimed).
    pub fn release_item(&mut self, run: &RunId, item: &ItemId, epoch: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE queue_items SET lease_owner = NULL, lease_expires_at = 0 WHERE run_id = ?1 AND id = ?2 AND lease_epoch = ?3",
            params![run.as_str(), item.as_str(), epoch],
        )?;
        Ok(())
    }

    /// Records a host sample and forgets those older than `keep_secs`.
    pub fn record_host_sample(&mut self, sample: &HostSample, keep_secs: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO host_samples (at, logical_cpus, load_one, memory_total, memory_available, reserved_tasks, reserved_heavy)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                sample.at,
                sample.logical_cpus,
                sample.load_one,
                i64::try_from(sample.memory_total).unwrap_or(i64::MAX),
                i64::try_from(sample.memory_available).unwrap_or(i64::MAX),
                sample.reserved_tasks,
                sample.reserved_heavy
            ],
        )?;
        tx.execute("DELETE FROM host_samples WHERE at < ?1", [sample.at - keep_secs])?;
        tx.commit()?;
        Ok(())
    }

    /// Host samples taken at or after `since`, oldest first.
    pub fn host_samples(&self, since: i64) -> Result<Vec<HostSample>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT at, logical_cpus, load_one, memory_total, memory_available, reserved_tasks, reserved_heavy
             FROM host_samples WHERE at >= ?1 ORDER BY at",
        )?;
        let rows = stmt.query_map([since], |r| {
            Ok(HostSample {
                at: r.get(0)?,
                logical_cpus: r.get(1)?,
                load_one: r.get(2)?,
                memory_total: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                memory_available: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                reserved_tasks: r.get(5)?,
                reserved_heavy: r.get(6)?,
                cpu_usage_percent: None,
                disk_total: None,
                disk_available: None,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn insert_items(
    tx: &rusqlite::Transaction<'_>,
    run: &RunId,
    items: &[Item],
    first_position: u32,
    now: i64,
) -> Result<(), StoreError> {
    for (position, item) in (first_position..).zip(items) {
        let deps = serde_json::to_string(&item.depends_on).map_err(|e| conversion_error(5, e))?;
        tx.execute(
            "INSERT INTO queue_items (run_id, id, position, slug, prompt, depends_on, wave_index, task_class, agent, status, reason, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', 'queued', ?10)",
            params![
                run.as_str(),
                item.id.as_str(),
                position,
                item.slug.as_str(),
                item.prompt,
                deps,
                item.wave_index,
                enum_text(item.task_class),
                item.agent,
                now
            ],
        )?;
    }
    Ok(())
}

pub(super) fn read_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<ItemRecord> {
    let deps: String = row.get(5)?;
    Ok(ItemRecord {
        run_id: RunId::new(row.get::<_, String>(0)?).map_err(|e| conversion_error(0, e))?,
        id: ItemId::new(row.get::<_, String>(1)?).map_err(|e| conversion_error(1, e))?,
        position: row.get(2)?,
        slug: TaskSlug::new(row.get::<_, String>(3)?).map_err(|e| conversion_error(3, e))?,
        prompt: row.get(4)?,
        depends_on: serde_json::from_str(&deps).map_err(|e| conversion_error(5, e))?,
        wave_index: row.get(6)?,
        task_class: enum_from(7, row.get(7)?)?,
        agent: row.get(8)?,
        status: enum_from(9, row.get(9)?)?,
        reason: row.get(10)?,
        next_attempt_at: row.get(11)?,
        launch_failures: row.get(12)?,
        iteration: row.get(13)?,
        task_id: row.get(14)?,
        agent_id: row.get(15)?,
        lease: Lease { owner: row.get(16)?, epoch: row.get(17)?, expires_at: row.get(18)? },
        updated_at: row.get(19)?,
        waiting_for: row.get::<_, Option<String>>(20)?.map(|w| enum_from(20, w)).transpose()?,
        delivery_retries: row.get(21)?,
        stalled_since: row.get(22)?,
        attempts: Vec::new(),
    })
}

/// [`Store::update_item`] on a connection or inside a transaction.
pub(super) fn write_item(
    conn: &rusqlite::Connection,
    run: &RunId,
    item: &ItemId,
    epoch: u64,
    update: &ItemUpdate,
    now: i64,
) -> Result<(), StoreError> {
    // Cached: a pass writes this statement once per refused item.
    let changed = conn
        .prepare_cached(
            "UPDATE queue_items SET status = ?4, reason = ?5, next_attempt_at = ?6, updated_at = ?7,
             launch_failures = ?8, iteration = ?9, task_id = ?10, agent_id = ?11, waiting_for = ?12,
         delivery_retries = ?13, stalled_since = ?14
         WHERE run_id = ?1 AND id = ?2 AND lease_epoch = ?3",
        )?
        .execute(params![
            run.as_str(),
            item.as_str(),
            epoch,
            update.status.as_str(),
            update.reason,
            update.next_attempt_at,
            now,
            update.launch_failures,
            update.iteration,
            update.task_id,
            update.agent_id,
            update.waiting_for.map(enum_text),
            update.delivery_retries,
            update.stalled_since
        ])?;
    if changed == 0 {
        return Err(StoreError::Fenced { item: item.to_string(), epoch });
    }
    Ok(())
}
