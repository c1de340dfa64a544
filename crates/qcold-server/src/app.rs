//! The daemon's shared state: caches of what handlers serve, and the hub that pushes changes.
//!
//! Each cache is written only by reloads (the store watcher reloads repositories, tasks and
//! agents; the scheduler reloads the queue, tasks and agents after every pass; queue handlers
//! reload the queue after a command) and by the sampler for the node snapshot. A reload re-reads
//! its collection from the store, diffs it against the cache with [`qcold_core::delta`] and
//! publishes only the deltas. Handlers only read the caches, so a read never waits for a rebuild.
//!
//! Reloads of one cache run one at a time, so a slower read never overwrites a newer one. A cache
//! changes and its deltas are published under one lock (`hub`), which a new subscriber also takes
//! to read its first state: its stream then starts exactly where that state ends, and applying
//! every event to it with `StateResponse::apply` keeps it equal to a fresh [`AppState::state`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use qcold_core::api::{STATE_CLOSED_TASKS, StateResponse, bound_tasks};
use qcold_core::queue::admission::HostSample;
use qcold_core::queue::wire::QueueView;
use qcold_core::snapshot::QueueBlock;
use qcold_core::task::TaskRecord;
use qcold_core::{Event, NodeSnapshot, RepositoryList, delta};
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::{TaskTracker, task_tracker::TaskTrackerToken};

use crate::agents::{self, AgentView};
use crate::node::NodeSampler;
use crate::store::Store;
use crate::{Config, unix_now};

/// How many events a slow subscriber may fall behind before it is resynchronised with a full
/// `state` event instead.
const EVENT_BUFFER: usize = 256;

/// How many node samples the history keeps: an hour at the fastest sampling rate (1 s).
const HISTORY_CAP: usize = 3600;

/// Cheap to clone; every clone shares the same caches and hub.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    store: Arc<Mutex<Store>>,
    repositories: Cache<RepositoryList>,
    node: watch::Sender<Arc<NodeSnapshot>>,
    queue: Cache<QueueView>,
    tasks: Cache<Vec<TaskRecord>>,
    agents: Cache<Vec<AgentView>>,
    /// The node sampler's recent samples, oldest first, for `GET /api/node/history`.
    history: Mutex<VecDeque<HostSample>>,
    scheduler: Wake,
    events: broadcast::Sender<Event>,
    /// Held while a cache changes and its events are published, and while a subscriber reads its
    /// first state.
    hub: Mutex<()>,
    cancel: CancellationToken,
    connections: TaskTracker,
    /// Whether the door requires the write token for writes; told by [`crate::http::router`],
    /// served in the state so the dashboard knows to stay read-only without it.
    writes_need_token: AtomicBool,
    /// `GET /api/state`'s last answer, serialized once and shared by every read until a part
    /// of it changes or the second turns.
    state_json: Mutex<Option<SerializedState>>,
}

/// What a serialized state was made of: the cached parts (their `Arc`s, held so that an
/// unchanged part is the same pointer), the token setting and the second it was made in.
#[derive(Debug)]
struct SerializedState {
    parts: StateParts,
    json: axum::body::Bytes,
}

type StateParts =
    (Arc<RepositoryList>, Arc<NodeSnapshot>, Arc<QueueView>, Arc<Vec<TaskRecord>>, Arc<Vec<AgentView>>, bool, i64);

fn same_parts(a: &StateParts, b: &StateParts) -> bool {
    Arc::ptr_eq(&a.0, &b.0)
        && Arc::ptr_eq(&a.1, &b.1)
        && Arc::ptr_eq(&a.2, &b.2)
        && Arc::ptr_eq(&a.3, &b.3)
        && Arc::ptr_eq(&a.4, &b.4)
        && (a.5, a.6) == (b.5, b.6)
}

/// A cached collection of the state.
#[derive(Debug)]
struct Cache<T> {
    value: watch::Sender<Arc<T>>,
    /// Held for a whole reload (read, diff, publish), so reloads run one at a time.
    reload: tokio::sync::Mutex<()>,
}

impl<T> Cache<T> {
    fn new(value: T) -> Self {
        Self { value: watch::Sender::new(Arc::new(value)), reload: tokio::sync::Mutex::new(()) }
    }

    fn get(&self) -> Arc<T> {
        Arc::clone(&self.value.borrow())
    }
}

/// The tasks of the state, read from the store: every unfinished one and the most recent closed.
fn state_tasks(store: &Store) -> anyhow::Result<Vec<TaskRecord>> {
    let mut tasks = store.recent_tasks(STATE_CLOSED_TASKS)?;
    bound_tasks(&mut tasks);
    Ok(tasks)
}

impl AppState {
    /// Opens the store and fills the caches. Nothing is spawned here: the caller ([`crate::serve`])
    /// owns every background task — the store watcher, the node sampler (given the returned
    /// [`NodeSampler`]) and the scheduler — each handed the narrow handle it needs
    /// ([`Publisher`], [`Wake`]). They stop when `cancel` is cancelled.
    pub async fn open(config: Config, cancel: CancellationToken) -> anyhow::Result<(Self, NodeSampler)> {
        let (store, repositories, queue, tasks, agents, sampler, first) = tokio::task::spawn_blocking({
            let config = config.clone();
            move || -> anyhow::Result<_> {
                let mut store = Store::open(&config.state_dir, config.sqlite_busy_timeout)
                    .with_context(|| format!("cannot open the store in {}", config.state_dir.display()))?;
                let repositories = store.repositories()?;
                let queue = store.queue_view()?;
                let tasks = state_tasks(&store)?;
                let agents = agents::list_recording_exits(&mut store)?;
                let mut sampler = NodeSampler::new(&config);
                let first = sampler.sample(&store, QueueBlock::of(&queue), unix_now());
                Ok((store, repositories, queue, tasks, agents, sampler, first))
            }
        })
        .await??;
        let state = Self {
            inner: Arc::new(Inner {
                config,
                store: Arc::new(Mutex::new(store)),
                repositories: Cache::new(repositories),
                node: watch::Sender::new(Arc::new(first)),
                queue: Cache::new(queue),
                tasks: Cache::new(tasks),
                agents: Cache::new(agents),
                history: Mutex::new(VecDeque::new()),
                state_json: Mutex::new(None),
                scheduler: Wake { notify: Arc::new(Notify::new()), asked: Arc::new(AtomicBool::new(false)) },
                events: broadcast::Sender::new(EVENT_BUFFER),
                hub: Mutex::new(()),
                cancel,
                connections: TaskTracker::new(),
                writes_need_token: AtomicBool::new(false),
            }),
        };
        Ok((state, sampler))
    }

    /// Records whether the door requires the write token for writes, for [`Self::state`].
    pub(crate) fn set_writes_need_token(&self, needed: bool) {
        self.inner.writes_need_token.store(needed, Ordering::Relaxed);
    }

    /// The publishing side of the state, for a background task.
    pub fn publisher(&self) -> Publisher {
        Publisher { inner: Arc::clone(&self.inner) }
    }

    /// What wakes the scheduler, for a background task.
    pub fn wake(&self) -> Wake {
        self.inner.scheduler.clone()
    }

    /// The configuration the daemon runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Cancelled when the daemon shuts down.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.inner.cancel.clone().cancelled_owned()
    }

    /// Whether the daemon is shutting down.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Held by a connection the HTTP server no longer tracks (an upgraded WebSocket) until it
    /// has closed, so that shutdown can wait for its close frame to reach the client.
    pub fn connection_token(&self) -> TaskTrackerToken {
        self.inner.connections.token()
    }

    /// Waits, at most `timeout`, until every connection holding a token has closed.
    pub async fn connections_closed(&self, timeout: std::time::Duration) {
        self.inner.connections.close();
        let _ = tokio::time::timeout(timeout, self.inner.connections.wait()).await;
    }

    /// The full state and a receiver of every event published after it, taken together so
    /// that no event falls between the two and none is already part of the state.
    pub fn subscribe(&self) -> (StateResponse, broadcast::Receiver<Event>) {
        let _hub = self.inner.hub();
        (self.state(), self.inner.events.subscribe())
    }

    /// The latest node snapshot, aged to now: a sample older than three intervals is `stale`.
    pub fn node(&self) -> NodeSnapshot {
        self.inner.node()
    }

    /// [`AppState::state`] as JSON. Serialized once per change of any of its parts (and at most
    /// once a second, for `generated_at` and the node's age) and shared: a read between changes
    /// clones a pointer, not a megabyte.
    pub fn state_json(&self) -> Result<axum::body::Bytes, serde_json::Error> {
        let parts = self.inner.state_parts();
        let mut cached = self.inner.state_json.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(hit) = cached.as_ref().filter(|c| same_parts(&c.parts, &parts)) {
            return Ok(hit.json.clone());
        }
        let json = axum::body::Bytes::from(serde_json::to_vec(&self.inner.assemble(&parts))?);
        *cached = Some(SerializedState { parts, json: json.clone() });
        Ok(json)
    }

    /// The full state, assembled from the caches; bounded as [`StateResponse`] describes.
    pub fn state(&self) -> StateResponse {
        self.inner.assemble(&self.inner.state_parts())
    }

    /// The state's tasks as last published.
    pub fn tasks(&self) -> Arc<Vec<TaskRecord>> {
        self.inner.tasks.get()
    }

    /// The agents as last published.
    pub fn agents(&self) -> Arc<Vec<AgentView>> {
        self.inner.agents.get()
    }

    /// The registered repositories, as last published.
    pub fn repositories(&self) -> RepositoryList {
        RepositoryList::clone(&self.inner.repositories.get())
    }

    /// The node sampler's samples taken at or after `since`, oldest first.
    pub fn node_history(&self, since: i64) -> Vec<HostSample> {
        let history = self.inner.history.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        history.iter().filter(|s| s.at >= since).copied().collect()
    }

    /// Runs `f` in a blocking task on a store connection of its own. For work that runs git,
    /// tmux or a probe: the shared connection ([`AppState::with_store`]) stays free meanwhile,
    /// so no other request waits behind a child process.
    pub async fn with_own_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Config, &mut Store) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let config = self.inner.config.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = Store::open(&config.state_dir, config.sqlite_busy_timeout)?;
            Ok(f(&config, &mut store))
        })
        .await?
    }

    /// The queue view as last published.
    pub fn queue(&self) -> Arc<QueueView> {
        self.inner.queue.get()
    }

    /// Runs `f` on the store in a blocking task. A poisoned lock only means another blocking
    /// task panicked; the store itself is fine.
    pub async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        self.inner.with_store(f).await
    }

    /// Asks the scheduler for a pass; wake-ups that arrive during a pass coalesce into one more.
    pub fn wake_scheduler(&self) {
        self.inner.scheduler.wake();
    }
}

impl Inner {
    /// The latest node snapshot, aged to now: a sample older than three intervals is `stale`.
    fn node(&self) -> NodeSnapshot {
        let snapshot = NodeSnapshot::clone(&self.node.borrow());
        snapshot.aged(unix_now(), self.node_max_age())
    }

    /// What the state is made of now: the caches' current values and this second.
    fn state_parts(&self) -> StateParts {
        (
            self.repositories.get(),
            Arc::clone(&self.node.borrow()),
            self.queue.get(),
            self.tasks.get(),
            self.agents.get(),
            self.writes_need_token.load(Ordering::Relaxed),
            unix_now(),
        )
    }

    /// The state made of `parts`, its node aged to their second.
    fn assemble(&self, parts: &StateParts) -> StateResponse {
        StateResponse {
            build_id: self.config.build_id.clone(),
            generated_at: parts.6,
            repositories: RepositoryList::clone(&parts.0),
            node: NodeSnapshot::clone(&parts.1).aged(parts.6, self.node_max_age()),
            queue: QueueView::clone(&parts.2),
            tasks: parts.3.to_vec(),
            agents: parts.4.to_vec(),
            writes_need_token: parts.5,
        }
    }

    /// How old a node sample may be before it reads as stale: three sampling intervals.
    fn node_max_age(&self) -> i64 {
        i64::try_from(self.config.node_sample_interval.as_secs().saturating_mul(3)).unwrap_or(i64::MAX)
    }

    /// Runs `f` on the store in a blocking task. A poisoned lock only means another blocking
    /// task panicked; the store itself is fine.
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let store = Arc::clone(&self.store);
        Ok(tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut store)
        })
        .await?)
    }

    /// The hub lock. A poisoned lock guards nothing that could be half-changed.
    fn hub(&self) -> std::sync::MutexGuard<'_, ()> {
        self.hub.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends an event to every subscriber; called with the hub lock held.
    fn send(&self, event: Event) {
        // An error only means nobody is subscribed right now.
        let _ = self.events.send(event);
    }
}

/// The publishing side of the state, for the background tasks that change it (the scheduler,
/// the store watcher, the node sampler): reloads a cache from the store and pushes the deltas.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

impl Publisher {
    /// The configuration the daemon runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Cancelled when the daemon shuts down.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.inner.cancel.clone().cancelled_owned()
    }

    /// The latest node snapshot, aged to now.
    pub fn node(&self) -> NodeSnapshot {
        self.inner.node()
    }

    /// Re-reads the repositories from the store and pushes them if they changed.
    pub async fn reload_repositories(&self) -> anyhow::Result<()> {
        self.reload(&self.inner.repositories, |store| Ok(store.repositories()?), delta::repositories).await
    }

    /// Re-reads the state's tasks from the store and pushes those that changed.
    pub async fn reload_tasks(&self) -> anyhow::Result<()> {
        self.reload(&self.inner.tasks, |store| state_tasks(store), |old, new| delta::tasks(old, new)).await
    }

    /// Re-reads the agents from the store, derives their states from evidence (recording the
    /// exits it finds, so an ended agent is never examined again), and pushes those that changed.
    pub async fn reload_agents(&self) -> anyhow::Result<()> {
        self.reload(
            &self.inner.agents,
            |store| Ok(agents::list_recording_exits(store)?),
            |old, new| delta::agents(old, new),
        )
        .await
    }

    /// Reloads the state's tasks and the agents; a failure is logged, and the next reload
    /// catches up.
    pub async fn reload_tasks_and_agents(&self) {
        if let Err(err) = self.reload_tasks().await {
            tracing::error!("cannot reload tasks: {err:#}");
        }
        if let Err(err) = self.reload_agents().await {
            tracing::error!("cannot reload agents: {err:#}");
        }
    }

    /// Re-reads the queue from the store and pushes what changed in more than lease heartbeats
    /// (which only refresh the cache).
    pub async fn reload_queue(&self) -> anyhow::Result<()> {
        self.reload(&self.inner.queue, |store| Ok(store.queue_view()?), delta::queue).await
    }

    /// Re-reads one cached collection, replaces the cache when it changed and publishes the
    /// deltas from the old value to the new one (none when only lease heartbeats moved).
    async fn reload<T: PartialEq + Send + Sync + 'static>(
        &self,
        cache: &Cache<T>,
        read: impl FnOnce(&mut Store) -> anyhow::Result<T> + Send + 'static,
        diff: impl Fn(&T, &T) -> Vec<Event>,
    ) -> anyhow::Result<()> {
        let _one_at_a_time = cache.reload.lock().await;
        let new = self.inner.with_store(move |store| read(store)).await??;
        // Only a reload changes the cache, and this one holds the reload lock.
        let old = cache.get();
        if *old == new {
            return Ok(());
        }
        let events = diff(&old, &new);
        let _hub = self.inner.hub();
        cache.value.send_replace(Arc::new(new));
        for event in events {
            self.inner.send(event);
        }
        Ok(())
    }

    /// Keeps a node sample in the history and pushes it.
    pub fn publish_node(&self, snapshot: NodeSnapshot) {
        {
            let mut history = self.inner.history.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let sample = crate::node::host_sample(&snapshot, snapshot.heartbeat.sampled_at);
            // The history has a resolution of a second: a sample delayed into its successor's
            // second (a busy store, a loaded host) is replaced by the newer one, never doubled.
            if history.back().is_some_and(|last| last.at >= sample.at) {
                history.pop_back();
            }
            if history.len() == HISTORY_CAP {
                history.pop_front();
            }
            history.push_back(sample);
        }
        let _hub = self.inner.hub();
        self.inner.node.send_replace(Arc::new(snapshot.clone()));
        self.inner.send(Event::Node(Box::new(snapshot)));
    }
}

/// Wakes the scheduler: held by whatever learns that the queue may move (the store watcher, the
/// queue routes), awaited by the scheduler. Wake-ups that arrive during a pass coalesce into one
/// more pass.
#[derive(Debug, Clone)]
pub struct Wake {
    notify: Arc<Notify>,
    /// Whether a wake-up since the last [`Wake::take_asked`] asked for a pass outright, rather
    /// than only reporting that the store file changed.
    asked: Arc<AtomicBool>,
}

impl Wake {
    /// Asks for a pass.
    pub fn wake(&self) {
        self.asked.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Reports that the store file changed: the scheduler passes only if a connection other than
    /// its own committed since its last pass began (the change may be the daemon's own write).
    pub fn store_changed(&self) {
        self.notify.notify_one();
    }

    /// Resolves when someone asked for a pass or reported a store change.
    pub async fn woken(&self) {
        self.notify.notified().await;
    }

    /// Whether a pass was asked for outright since the last call; clears it.
    pub fn take_asked(&self) -> bool {
        self.asked.swap(false, Ordering::SeqCst)
    }
}

impl Publisher {
    /// Samples the node every `node_sample_interval` and publishes each sample, until shutdown.
    /// Sampling is the one periodic job of the daemon: host load changes without telling anyone,
    /// so it has to be looked at. It runs in-process (no child processes) and refreshes only what
    /// the snapshot reports.
    pub async fn sample_node(self, sampler: NodeSampler) {
        let mut interval = tokio::time::interval(self.config().node_sample_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        let mut sampler = Some(sampler);
        loop {
            tokio::select! {
                () = self.cancelled() => break,
                _ = interval.tick() => {}
            }
            let Some(mut taken) = sampler.take() else { break };
            let store = Arc::clone(&self.inner.store);
            let queue = self.inner.queue.get();
            let result = tokio::task::spawn_blocking(move || {
                // A poisoned lock only means another blocking task panicked; the store itself is fine.
                let store = store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let snapshot = taken.sample(&store, QueueBlock::of(&queue), unix_now());
                (taken, snapshot)
            })
            .await;
            match result {
                Ok((back, snapshot)) => {
                    sampler = Some(back);
                    self.publish_node(snapshot);
                }
                Err(err) => {
                    tracing::error!("node sampler stopped: {err}");
                    break;
                }
            }
        }
    }
}
