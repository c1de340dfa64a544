//! The daemon's shared state: caches of what handlers serve, and the hub that pushes changes.
//!
//! Each cache has exactly one writer task (the store watcher for repositories, the sampler for
//! the node snapshot). Handlers only read the caches, so a read never waits for a rebuild.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use qcold_core::api::StateResponse;
use qcold_core::queue::admission::HostSample;
use qcold_core::queue::wire::QueueView;
use qcold_core::{Event, NodeSnapshot, RepositoryList};
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::{TaskTracker, task_tracker::TaskTrackerToken};

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
    repositories: watch::Sender<RepositoryList>,
    node: watch::Sender<Arc<NodeSnapshot>>,
    queue: watch::Sender<Arc<QueueView>>,
    /// The node sampler's recent samples, oldest first, for `GET /api/node/history`.
    history: Mutex<VecDeque<HostSample>>,
    scheduler: Notify,
    events: broadcast::Sender<Event>,
    cancel: CancellationToken,
    connections: TaskTracker,
}

impl AppState {
    /// Opens the store, fills the caches and starts the background tasks (store watcher, node
    /// sampler). They stop when `cancel` is cancelled.
    pub async fn start(config: Config, cancel: CancellationToken) -> anyhow::Result<Self> {
        let (store, repositories, queue, sampler, first) = tokio::task::spawn_blocking({
            let config = config.clone();
            move || -> anyhow::Result<_> {
                let store = Store::open(&config.state_dir, config.sqlite_busy_timeout)
                    .with_context(|| format!("cannot open the store in {}", config.state_dir.display()))?;
                let repositories = store.repositories()?;
                let queue = store.queue_view()?;
                let mut sampler = NodeSampler::new(&config);
                std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
                let first = sampler.sample(&store, unix_now());
                Ok((store, repositories, queue, sampler, first))
            }
        })
        .await??;
        let state = Self {
            inner: Arc::new(Inner {
                config,
                store: Arc::new(Mutex::new(store)),
                repositories: watch::Sender::new(repositories),
                node: watch::Sender::new(Arc::new(first)),
                queue: watch::Sender::new(Arc::new(queue)),
                history: Mutex::new(VecDeque::new()),
                scheduler: Notify::new(),
                events: broadcast::Sender::new(EVENT_BUFFER),
                cancel,
                connections: TaskTracker::new(),
            }),
        };
        crate::watch::spawn(state.clone());
        spawn_sampler(state.clone(), sampler);
        crate::scheduler::spawn(state.clone());
        Ok(state)
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

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// The latest node snapshot, aged to now: a sample older than three intervals is `stale`.
    pub fn node(&self) -> NodeSnapshot {
        let snapshot = NodeSnapshot::clone(&self.inner.node.borrow());
        let max_age =
            i64::try_from(self.inner.config.node_sample_interval.as_secs().saturating_mul(3)).unwrap_or(i64::MAX);
        snapshot.aged(unix_now(), max_age)
    }

    /// The full state, assembled from the caches.
    pub fn state(&self) -> StateResponse {
        StateResponse {
            build_id: self.inner.config.build_id.clone(),
            generated_at: unix_now(),
            repositories: self.inner.repositories.borrow().clone(),
            node: self.node(),
            queue: QueueView::clone(&self.inner.queue.borrow()),
        }
    }

    /// Re-reads the repositories from the store and pushes them if they changed.
    pub async fn reload_repositories(&self) -> anyhow::Result<()> {
        let store = Arc::clone(&self.inner.store);
        let list = tokio::task::spawn_blocking(move || {
            let store = store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            anyhow::Ok(store.repositories()?)
        })
        .await??;
        let changed = self.inner.repositories.send_if_modified(|current| {
            if *current == list {
                false
            } else {
                *current = list.clone();
                true
            }
        });
        if changed {
            self.publish(Event::Repositories(list));
        }
        Ok(())
    }

    /// The registered repositories, as last published.
    pub fn repositories(&self) -> RepositoryList {
        self.inner.repositories.borrow().clone()
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
        Arc::clone(&self.inner.queue.borrow())
    }

    /// Runs `f` on the store in a blocking task. A poisoned lock only means another blocking
    /// task panicked; the store itself is fine.
    pub async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let store = Arc::clone(&self.inner.store);
        Ok(tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut store)
        })
        .await?)
    }

    /// Re-reads the queue from the store; pushes it when it changed in more than lease
    /// heartbeats (which only refresh the cache).
    pub async fn reload_queue(&self) -> anyhow::Result<()> {
        let view = self.with_store(|store| store.queue_view()).await??;
        let mut news = false;
        self.inner.queue.send_if_modified(|current| {
            if **current == view {
                false
            } else {
                news = current.differs_beyond_heartbeats(&view);
                *current = Arc::new(view.clone());
                true
            }
        });
        if news {
            self.publish(Event::Queue(Box::new(view)));
        }
        Ok(())
    }

    /// Asks the scheduler for a pass; wake-ups that arrive during a pass coalesce into one more.
    pub fn wake_scheduler(&self) {
        self.inner.scheduler.notify_one();
    }

    /// Resolves when someone asked the scheduler for a pass.
    pub async fn scheduler_woken(&self) {
        self.inner.scheduler.notified().await;
    }

    fn publish_node(&self, snapshot: NodeSnapshot) {
        {
            let mut history = self.inner.history.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if history.len() == HISTORY_CAP {
                history.pop_front();
            }
            history.push_back(crate::scheduler::host_sample(&snapshot, snapshot.heartbeat.sampled_at));
        }
        self.inner.node.send_replace(Arc::new(snapshot.clone()));
        self.publish(Event::Node(Box::new(snapshot)));
    }

    fn publish(&self, event: Event) {
        // An error only means nobody is subscribed right now.
        let _ = self.inner.events.send(event);
    }
}

/// Samples the node every `node_sample_interval` and publishes each sample. Sampling is the one
/// periodic job of the daemon: host load changes without telling anyone, so it has to be looked
/// at. It runs in-process (no child processes) and refreshes only what the snapshot reports.
fn spawn_sampler(state: AppState, sampler: NodeSampler) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(state.config().node_sample_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        let mut sampler = Some(sampler);
        loop {
            tokio::select! {
                () = state.cancelled() => break,
                _ = interval.tick() => {}
            }
            let Some(mut taken) = sampler.take() else { break };
            let store = Arc::clone(&state.inner.store);
            let result = tokio::task::spawn_blocking(move || {
                // A poisoned lock only means another blocking task panicked; the store itself is fine.
                let store = store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let snapshot = taken.sample(&store, unix_now());
                (taken, snapshot)
            })
            .await;
            match result {
                Ok((back, snapshot)) => {
                    sampler = Some(back);
                    state.publish_node(snapshot);
                }
                Err(err) => {
                    tracing::error!("node sampler stopped: {err}");
                    break;
                }
            }
        }
    });
}
