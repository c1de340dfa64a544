//! Settling runs: a stopping run stops its items that have not started and becomes `stopped`
//! once nothing is in flight; a running run succeeds or fails by [`plan::outcome`], and the items
//! a failure blocks say so ([`plan::blocked`]).

use std::collections::HashMap;

use qcold_core::ItemId;
use qcold_core::queue::plan::{self, ItemFacts, RunOutcome};
use qcold_core::queue::wire::Run;
use qcold_core::queue::{ItemRecord, ItemStatus, RunStatus};

use crate::store::{ItemUpdate, Store, StoreError};

/// Planning facts of an item at `now`.
pub(super) fn facts(item: &ItemRecord, now: i64) -> ItemFacts {
    ItemFacts {
        id: item.id.clone(),
        position: item.position,
        status: item.status,
        depends_on: item.depends_on.clone(),
        next_attempt_at: item.next_attempt_at,
        waiting_for: item.waiting_for,
        leased: item.lease.owner.is_some() && item.lease.expires_at > now,
    }
}

/// The run's items by id, to map plan answers (ids) back to items in constant time.
pub(super) fn by_id(run: &Run) -> HashMap<&ItemId, &ItemRecord> {
    run.items.iter().map(|i| (&i.id, i)).collect()
}

/// Settles one run.
pub(super) fn run(store: &mut Store, run: &Run, now: i64) -> Result<(), StoreError> {
    match run.status {
        RunStatus::Stopping => {
            for item in run.items.iter().filter(|i| matches!(i.status, ItemStatus::Pending | ItemStatus::Waiting)) {
                // An unleased item: its current epoch fences the write against a concurrent grant.
                let update = ItemUpdate::of(
                    item,
                    ItemStatus::Stopped,
                    "stopped by the operator; `qcold queue continue` resumes it",
                );
                match store.update_item(&run.id, &item.id, item.lease.epoch, &update, now) {
                    Ok(()) | Err(StoreError::Fenced { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
            if !run.items.iter().any(|i| i.status.is_in_flight()) {
                store.set_run_status(
                    &run.id,
                    RunStatus::Stopped,
                    "stopped by the operator; `qcold queue continue` resumes it",
                    now,
                )?;
            }
        }
        RunStatus::Running => {
            let facts: Vec<ItemFacts> = run.items.iter().map(|i| facts(i, now)).collect();
            match plan::outcome(&facts) {
                RunOutcome::Open => {}
                RunOutcome::Success => {
                    let reason = format!("all {} item(s) succeeded", run.items.len());
                    store.set_run_status(&run.id, RunStatus::Success, &reason, now)?;
                }
                RunOutcome::Failed(id) => {
                    let bad = run.items.iter().find(|i| i.id == id);
                    let reason = bad.map_or_else(
                        || format!("item {id} failed"),
                        |i| format!("item {id} is {}: {}; its dependents will not start", i.status, i.reason),
                    );
                    // Before the run's status, so whoever sees the run failed sees why its
                    // dependents wait.
                    mark_blocked(store, run, now)?;
                    store.set_run_status(&run.id, RunStatus::Failed, &reason, now)?;
                }
            }
        }
        // A failed run still in flight (its other items finishing) may see another failure.
        RunStatus::Failed => mark_blocked(store, run, now)?,
        RunStatus::Stopped | RunStatus::Success => {}
    }
    Ok(())
}

/// Gives each pending item a failure blocks the reason `blocked by <item>`; an item that already
/// says so is not written again, so a second pass changes nothing.
fn mark_blocked(store: &mut Store, run: &Run, now: i64) -> Result<(), StoreError> {
    let facts: Vec<ItemFacts> = run.items.iter().map(|i| facts(i, now)).collect();
    let by_id = by_id(run);
    for blocked in plan::blocked(run.mode, &facts) {
        let Some(item) = by_id.get(&blocked.item) else { continue };
        let reason = blocked.reason();
        if item.reason == reason {
            continue;
        }
        let update = ItemUpdate::of(item, item.status, reason);
        // Unleased: its current epoch fences the write against a concurrent grant.
        match store.update_item(&run.id, &item.id, item.lease.epoch, &update, now) {
            Ok(()) | Err(StoreError::Fenced { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
