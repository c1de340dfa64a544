//! Launches in flight: each admitted item's launch runs on a thread of its own, with a store
//! connection of its own, so neither the pass nor the next ready item waits for a worktree
//! checkout or an agent's start.
//!
//! The pass hands a launch over with the item's lease ([`Scheduler::hand_over`]) and leaves the
//! item alone until the launch reports back: no reconciliation, no second launch, no admission.
//! The launch works on a fork of the scheduler that holds only that lease; its report carries
//! the fork back, and the next pass folds it in ([`Scheduler::absorb_launches`]): the lease kept
//! or given back, capacity freed. A report wakes the scheduler. A launch cut short by a crash is
//! the half-done launch start-up reconciliation already re-drives from what it left behind.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, mpsc};

use qcold_core::queue::ItemRecord;
use qcold_core::queue::wire::Run;
use qcold_core::{ItemId, RunId};

use super::{Scheduler, stall};
use crate::store::Store;

/// What the scheduler calls when a launch has reported back: it asks for a pass.
type OnLaunchEnd = Arc<dyn Fn() + Send + Sync>;

/// A launch's report: its fork of the scheduler, its store connection (kept for the next
/// launch), and how it ended.
struct Ended {
    key: (RunId, ItemId),
    worker: Scheduler,
    store: Store,
    result: anyhow::Result<()>,
}

/// The launches in flight, their reports, and the store connections idle launches left.
pub(super) struct Launches {
    running: HashSet<(RunId, ItemId)>,
    sender: mpsc::Sender<Ended>,
    receiver: mpsc::Receiver<Ended>,
    spare: Vec<Store>,
    on_end: OnLaunchEnd,
}

impl Default for Launches {
    fn default() -> Self {
        let (sender, receiver) = mpsc::channel();
        Self { running: HashSet::new(), sender, receiver, spare: Vec::new(), on_end: Arc::new(|| {}) }
    }
}

impl std::fmt::Debug for Launches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launches").field("running", &self.running).field("spare", &self.spare.len()).finish()
    }
}

impl Launches {
    /// Whether the item's launch is in flight.
    pub(super) fn busy(&self, item: &ItemRecord) -> bool {
        !self.running.is_empty() && self.running.contains(&(item.run_id.clone(), item.id.clone()))
    }
}

impl Scheduler {
    /// Calls `on_end` whenever a launch reports back (the daemon asks for a pass with it).
    #[must_use]
    pub fn on_launch_end(mut self, on_end: Arc<dyn Fn() + Send + Sync>) -> Self {
        self.launches.on_end = on_end;
        self
    }

    /// Starts the launch of `item` (leased with `epoch`) on a thread of its own.
    pub(super) fn hand_over(&mut self, run: &Run, item: &ItemRecord, epoch: u64, now: i64) -> anyhow::Result<()> {
        let key = (item.run_id.clone(), item.id.clone());
        let mut store = match self.launches.spare.pop() {
            Some(store) => store,
            None => Store::open(&self.config.state_dir, self.config.sqlite_busy_timeout)?,
        };
        let mut worker = self.fork(&key, epoch);
        let (run, item) = (run.clone(), item.clone());
        let sender = self.launches.sender.clone();
        let on_end = Arc::clone(&self.launches.on_end);
        let report = key.clone();
        std::thread::Builder::new().name(format!("launch {}", item.id)).spawn(move || {
            let result = worker.launch(&mut store, &run, &item, epoch, now);
            // The receiver lives as long as the scheduler; a report to one shut down is moot.
            let _ = sender.send(Ended { key: report, worker, store, result });
            on_end();
        })?;
        self.launches.running.insert(key);
        Ok(())
    }

    /// Folds in the launches that reported back; with `wait`, waits for every launch in flight
    /// first. Returns the first launch's error: its item stays as the launch left it, for the
    /// next pass to re-drive.
    pub(super) fn absorb_launches(&mut self, wait: bool) -> Option<anyhow::Error> {
        let mut first = None;
        loop {
            let ended = if wait && !self.launches.running.is_empty() {
                self.launches.receiver.recv().ok()
            } else {
                self.launches.receiver.try_recv().ok()
            };
            let Some(Ended { key, worker, store, result }) = ended else { break };
            self.launches.running.remove(&key);
            if !worker.held.contains_key(&key) {
                self.held.remove(&key);
            }
            self.freed |= worker.freed;
            self.cleanup_waiting |= worker.cleanup_waiting;
            self.launches.spare.push(store);
            if let Err(err) = result {
                tracing::warn!("{}/{}: launch interrupted: {err:#}", key.0, key.1);
                first.get_or_insert(err);
            }
        }
        first
    }

    /// A scheduler for one launch: this one's identity, holding only the item's lease.
    fn fork(&self, key: &(RunId, ItemId), epoch: u64) -> Self {
        Self {
            config: self.config.clone(),
            qcold: self.qcold.clone(),
            owner: self.owner.clone(),
            held: HashMap::from([(key.clone(), epoch)]),
            last_heartbeat: self.last_heartbeat,
            freed: false,
            stall: stall::Watch::default(),
            cleanup_waiting: false,
            launches: Launches::default(),
        }
    }
}
