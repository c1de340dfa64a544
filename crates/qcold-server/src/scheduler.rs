//! The queue scheduler: the one task of the daemon that moves queue items forward.
//!
//! Each *pass* gathers evidence, asks the pure decisions of [`qcold_core::queue`] what it means,
//! and applies the answer: reconcile items in flight ([`reconcile`](qcold_core::queue::reconcile)),
//! settle runs (stop, success, failure), then admit ready items and hand each launch ([`launch`])
//! to a thread of its own (`launches`). A pass is idempotent: over unchanged evidence it writes
//! nothing.
//!
//! Passes are event-driven. The scheduler sleeps until one of: an operator command or a store
//! write by another process (an agent closing out its task), a launch reporting back, an agent's
//! exit file appearing, the earliest `next_attempt_at` of a waiting item, the next lease
//! heartbeat while it holds leases, or the reconciliation interval
//! (`QCOLD_WEB_QUEUE_STATUS_SYNC_INTERVAL_SECONDS`), which catches what leaves no trace (an agent
//! killed with its wrapper). The first pass after start-up is the start-up reconciliation: it
//! re-attaches to agents that are still alive and re-drives launches a killed daemon left half
//! done, so nothing is launched twice.

mod deliver;
mod halt;
mod launch;
mod launches;
mod packet;
mod reconcile;
mod settle;
mod stall;
mod steps;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use qcold_core::queue::admission::HostSample;
use qcold_core::queue::lease::Grant;
#[cfg(test)]
use qcold_core::queue::wire::QueueView;
use qcold_core::queue::{ItemRecord, ItemStatus};
use qcold_core::{ItemId, RunId};

use crate::agents::procs;
use crate::app::{Publisher, Wake};
use crate::store::{ItemUpdate, Store, StoreError};
use crate::{Config, unix_now};

/// The scheduler task: passes until the daemon shuts down. It gets what it needs as narrow
/// handles — `publisher` to push what a pass changed, `wake` to learn that something happened —
/// and owns a store connection of its own.
pub async fn run(publisher: Publisher, wake: Wake) {
    let config = publisher.config().clone();
    let qcold = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("qcold"));
    // A pass runs git and tmux between its writes, and a request on the shared connection must
    // never wait for that. SQLite's WAL lets both connections read at once and serialises only
    // the writes themselves.
    let opened = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || Store::open(&config.state_dir, config.sqlite_busy_timeout))
            .await
            .map_err(anyhow::Error::new)
            .and_then(|opened| opened.map_err(anyhow::Error::new))
    };
    let store = match opened {
        Ok(store) => store,
        Err(err) => {
            tracing::error!("the queue scheduler cannot open the store: {err:#}");
            return;
        }
    };
    let ended = wake.clone();
    let scheduler = Scheduler::new(config.clone(), qcold).on_launch_end(std::sync::Arc::new(move || ended.wake()));
    let mut scheduler = Some((scheduler, store));
    let sync = config.queue.sync_interval;
    let mut next_sync = tokio::time::Instant::now() + sync;
    let mut backoff = Backoff::default();
    // The store's version the last pass began at: a store change that leaves it so was the
    // daemon's own write, seen already.
    let mut seen: Option<i64>;
    'passes: while let Some((mut taken, mut store)) = scheduler.take() {
        let host = crate::node::host_sample(&publisher.node(), unix_now());
        let result = tokio::task::spawn_blocking(move || {
            // Taken before the pass reads: another connection's commit during the pass moves it.
            let version = store.data_version().ok();
            let outcome = taken.pass(&mut store, host, unix_now());
            (taken, store, outcome, version)
        })
        .await;
        let (wake_at, failing) = match result {
            Ok((back, store, outcome, version)) => {
                seen = version;
                let holding = !back.held.is_empty();
                scheduler = Some((back, store));
                match outcome {
                    Ok(next_attempt_at) => {
                        backoff.reset();
                        (wake_time(next_attempt_at, holding, &config, next_sync), false)
                    }
                    Err(err) => {
                        let delay = backoff.next();
                        tracing::error!("queue pass failed (next attempt in {} s): {err:#}", delay.as_secs());
                        (tokio::time::Instant::now() + delay, true)
                    }
                }
            }
            Err(err) => {
                tracing::error!("queue scheduler stopped: {err:#}");
                break;
            }
        };
        // A pass opens tasks and starts agents, and reconciliation notices agents that died
        // without a trace; whatever it changed reaches the clients as deltas.
        if let Err(err) = publisher.reload_queue().await {
            tracing::error!("cannot reload the queue: {err:#}");
        }
        publisher.reload_tasks_and_agents().await;
        if failing {
            // A failing store (full disk, busy past its timeout) is not hurried by wake-ups: the
            // pass's own failed writes wake the watcher, which would otherwise spin it.
            tokio::select! {
                () = publisher.cancelled() => break,
                () = tokio::time::sleep_until(wake_at) => {}
            }
        } else {
            loop {
                tokio::select! {
                    () = publisher.cancelled() => break 'passes,
                    () = wake.woken() => {
                        let version = scheduler.as_ref().and_then(|(_, store)| store.data_version().ok());
                        if wake.take_asked() || version.is_none() || version != seen {
                            break;
                        }
                        tracing::trace!("the store changed by the scheduler's own writes: no pass");
                    }
                    () = tokio::time::sleep_until(wake_at) => break,
                }
            }
        }
        if tokio::time::Instant::now() >= next_sync {
            next_sync = tokio::time::Instant::now() + sync;
        }
    }
}

/// The delay after consecutive failed passes: 1 s, doubling, at most a minute.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        Duration::from_secs(1u64 << self.failures.saturating_sub(1).min(6)).min(Duration::from_secs(60))
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The earliest of: a waiting item's retry time, the next heartbeat while leases are held, the
/// next reconciliation.
fn wake_time(
    next_attempt_at: Option<i64>,
    holding: bool,
    config: &Config,
    next_sync: tokio::time::Instant,
) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let mut at = next_sync;
    if let Some(t) = next_attempt_at {
        let secs = u64::try_from((t - unix_now()).max(0)).unwrap_or(0);
        at = at.min(now + Duration::from_secs(secs));
    }
    if holding {
        at = at.min(now + config.queue.heartbeat);
    }
    at
}

/// Reads the live runs into `runs` again if this connection wrote since `mark`
/// ([`Store::rows_written`]).
fn reread_if_written(store: &Store, mark: u64, runs: &mut Vec<qcold_core::queue::wire::Run>) -> Result<(), StoreError> {
    if store.rows_written() != mark {
        *runs = store.live_runs()?;
    }
    Ok(())
}

/// How soon a worktree removal that met a busy repository lock is tried again.
const CLEANUP_RETRY_SECS: i64 = 2;

/// The scheduler's memory: who it is and which leases it holds. Everything else is in the store.
#[derive(Debug)]
pub struct Scheduler {
    config: Config,
    qcold: PathBuf,
    owner: String,
    /// Leases held, by item, with their epochs.
    held: HashMap<(RunId, ItemId), u64>,
    last_heartbeat: i64,
    /// An item in flight ended during this pass, freeing its reservation.
    freed: bool,
    /// When to look again at each running item for a stall.
    stall: stall::Watch,
    /// An ended iteration's worktree removal met a busy repository lock during this pass; its
    /// item is judged again shortly.
    cleanup_waiting: bool,
    /// Launches running on threads of their own.
    launches: launches::Launches,
}

impl Scheduler {
    /// A scheduler for this process; `qcold` is the binary agents get as `QCOLD_BIN`.
    pub fn new(config: Config, qcold: PathBuf) -> Self {
        let owner = format!("daemon-{}-{}", std::process::id(), unix_now());
        Self {
            config,
            qcold,
            owner,
            held: HashMap::new(),
            last_heartbeat: 0,
            cleanup_waiting: false,
            freed: false,
            stall: stall::Watch::default(),
            launches: launches::Launches::default(),
        }
    }

    /// One pass; returns the earliest future retry time of a waiting item or stall recheck.
    pub fn pass(&mut self, store: &mut Store, host: HostSample, now: i64) -> anyhow::Result<Option<i64>> {
        self.heartbeat(store, now)?;
        self.cleanup_waiting = false;
        // One item that cannot be advanced (its launch met a busy store, a vanished directory)
        // must not hold up the others: its error is kept, the pass goes on, and the pass then
        // fails with it so the run loop backs off and tries again.
        let mut stuck: Option<anyhow::Error> = self.absorb_launches(false);
        // The live runs are read once, and again only after a phase wrote to the store: a pass
        // over unchanged evidence reads each item once and writes nothing.
        let mut runs = store.live_runs()?;
        let mark = store.rows_written();
        for run in &runs {
            for item in &run.items {
                if let Err(err) = self.reconcile(store, run, item, now) {
                    tracing::warn!("{}/{} cannot be advanced now: {err:#}", item.run_id, item.id);
                    stuck.get_or_insert(err);
                }
            }
        }
        reread_if_written(store, mark, &mut runs)?;
        self.stall.retain_running(&runs);
        let mark = store.rows_written();
        for run in &runs {
            settle::run(store, run, now)?;
        }
        reread_if_written(store, mark, &mut runs)?;
        // Capacity given back lets items refused for it be considered now rather than when
        // their timer runs out; nothing is written for that, and one refused again for the same
        // reason keeps its row.
        let reconsider = std::mem::take(&mut self.freed);
        if let Err(err) = self.launch_ready(store, &runs, host, reconsider, now) {
            stuck.get_or_insert(err);
        }
        if let Some(err) = stuck {
            return Err(err);
        }
        // Capacity freed by this pass's own writes is offered by the next pass, right away.
        let again = self.freed.then_some(now);
        // Only future retry times: a due item this pass could not take (another daemon leases it,
        // its run failed) must not turn the wait into a busy loop; reconciliation looks again.
        let retry = store.next_retry_after(now)?;
        // A stall recheck wakes the scheduler like a retry time does, and so does a cleanup that
        // waits for a busy repository.
        let cleanup = self.cleanup_waiting.then_some(now + CLEANUP_RETRY_SECS);
        Ok(retry.into_iter().chain(self.stall.next_recheck(now)).chain(cleanup).chain(again).min())
    }

    /// Extends every held lease when a heartbeat is due; a refused heartbeat means another
    /// worker owns the item now, so it is forgotten.
    fn heartbeat(&mut self, store: &mut Store, now: i64) -> Result<(), StoreError> {
        let every = i64::try_from(self.config.queue.heartbeat.as_secs()).unwrap_or(5).max(1);
        if now - self.last_heartbeat < every {
            return Ok(());
        }
        self.last_heartbeat = now;
        let mut lost = Vec::new();
        for ((run, item), epoch) in &self.held {
            if !store.heartbeat_item(run, item, *epoch, now)? {
                tracing::warn!("lost the lease of {run}/{item}; another worker owns it");
                lost.push((run.clone(), item.clone()));
            }
        }
        for key in lost {
            self.held.remove(&key);
        }
        Ok(())
    }

    /// The epoch of the item's lease, taking it if needed; `None` while another live worker
    /// holds it.
    fn lease(&mut self, store: &mut Store, item: &ItemRecord, now: i64) -> Result<Option<u64>, StoreError> {
        let key = (item.run_id.clone(), item.id.clone());
        if let Some(epoch) = self.held.get(&key)
            && item.lease.epoch == *epoch
            && item.lease.owner.as_deref() == Some(self.owner.as_str())
        {
            return Ok(Some(*epoch));
        }
        let me = std::process::id();
        let alive = |holder: &str| holder_alive(holder, me);
        match store.acquire_item_lease(&item.run_id, &item.id, &self.owner, now, &alive)? {
            Some(Grant::Acquired { epoch, reclaimed }) => {
                if reclaimed {
                    tracing::info!("reclaimed the lease of {}/{} from {:?}", item.run_id, item.id, item.lease.owner);
                }
                self.held.insert(key, epoch);
                Ok(Some(epoch))
            }
            Some(Grant::Busy { owner, .. }) => {
                tracing::debug!("{}/{} is leased by {owner}", item.run_id, item.id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Gives a lease back once the item needs no worker (ended, or waiting for its turn).
    fn release(&mut self, store: &mut Store, item: &ItemRecord, epoch: u64) -> Result<(), StoreError> {
        self.held.remove(&(item.run_id.clone(), item.id.clone()));
        store.release_item(&item.run_id, &item.id, epoch)
    }

    /// Writes an update under the held lease, then releases it when the item no longer needs a
    /// worker.
    fn write(
        &mut self,
        store: &mut Store,
        item: &ItemRecord,
        epoch: u64,
        update: &ItemUpdate,
        now: i64,
    ) -> Result<(), StoreError> {
        store.update_item(&item.run_id, &item.id, epoch, update, now)?;
        if item.status.is_in_flight() && !update.status.is_in_flight() {
            self.freed = true;
        }
        if !update.status.is_in_flight() && update.status != ItemStatus::Paused {
            self.release(store, item, epoch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

/// Whether a lease holder (`daemon-<pid>-<start>`) is a live process other than this one. A
/// holder id this process did not write but that names its pid is a predecessor whose pid was
/// reused, hence dead.
fn holder_alive(holder: &str, me: u32) -> bool {
    let pid =
        holder.strip_prefix("daemon-").and_then(|rest| rest.split('-').next()).and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) if pid == me => false,
        Some(pid) => {
            procs::alive(pid)
                && procs::cmdline(pid)
                    .first()
                    .is_some_and(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with("qcold")))
        }
        // A holder of another shape is not ours to judge; respect its lease until it lapses.
        None => true,
    }
}
