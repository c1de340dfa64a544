//! The dashboard's state: a keyed store patched from `/api/events` deltas.
//!
//! Every event is applied to a plain [`StateResponse`] (with [`StateResponse::apply`], so the
//! browser's state follows the same rules as any other client's), and then the part the event
//! touched is copied into signals: one signal per singleton (repositories, node, tabs, …) and one
//! signal per row of each collection (runs, items, tasks, agents), keyed by id. A signal is set
//! only when its value changed, so an update re-renders exactly the rows it changed: an item's
//! heartbeat never redraws another item, and a form inside a row (a label being typed, a reason
//! for "clear") keeps what the operator typed.
//!
//! Views that are computed across collections (the inbox) read the whole state with
//! [`Fleet::with`], which tracks every change; they produce keyed lists of their own.

use std::collections::HashMap;
use std::hash::Hash;

use leptos::prelude::*;
use qcold_core::agent::AgentView;
use qcold_core::api::StateResponse;
use qcold_core::queue::ItemRecord;
use qcold_core::queue::wire::{RunSummary, Tab};
use qcold_core::task::TaskRecord;
use qcold_core::{AgentId, Event, ItemId, NodeSnapshot, RepositoryList, RunId};

/// Sets `signal` to `value` unless it already holds an equal value.
fn set_if_changed<T: PartialEq + Send + Sync + 'static>(signal: RwSignal<T>, value: T) {
    if signal.with_untracked(|current| *current != value) {
        signal.set(value);
    }
}

/// A keyed collection: the keys in order, and one signal per row.
pub(crate) struct Rows<K: Send + Sync + 'static, T: Send + Sync + 'static> {
    order: RwSignal<Vec<K>>,
    rows: StoredValue<HashMap<K, ArcRwSignal<T>>>,
}

impl<K: Send + Sync + 'static, T: Send + Sync + 'static> Clone for Rows<K, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Send + Sync + 'static, T: Send + Sync + 'static> Copy for Rows<K, T> {}

impl<K, T> Rows<K, T>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    T: Clone + PartialEq + Send + Sync + 'static,
{
    fn new() -> Self {
        Self { order: RwSignal::new(Vec::new()), rows: StoredValue::new(HashMap::new()) }
    }

    /// The keys in the state's order; tracks additions, removals and reorderings only.
    pub(crate) fn keys(&self) -> Vec<K> {
        self.order.get()
    }

    /// Reads the keys without cloning them; tracked like [`Rows::keys`].
    pub(crate) fn with_keys<R>(&self, f: impl FnOnce(&[K]) -> R) -> R {
        self.order.with(|keys| f(keys))
    }

    /// A row's signal, while the row exists. A row removed later keeps its last value in the
    /// returned signal; the keyed list that rendered it drops it at the same time.
    pub(crate) fn row(&self, key: &K) -> Option<ReadSignal<T>> {
        self.rows.with_value(|rows| rows.get(key).cloned()).map(|row| ReadSignal::from(row.read_only()))
    }

    /// A row's current value, tracked: re-evaluates when the row appears, changes or goes.
    pub(crate) fn get(&self, key: &K) -> Option<T> {
        self.order.track();
        self.rows.with_value(|rows| rows.get(key).cloned()).map(|row| row.get())
    }

    /// Makes the rows those of `fresh` (in its order): changed rows are set, new ones created,
    /// missing ones dropped, and the order is set only if it changed.
    fn sync<'a>(&self, fresh: impl IntoIterator<Item = &'a T>, key: impl Fn(&T) -> K)
    where
        T: 'a,
    {
        let mut keys = Vec::new();
        self.rows.update_value(|rows| {
            let mut kept = HashMap::with_capacity(rows.len());
            for value in fresh {
                let k = key(value);
                match rows.remove(&k) {
                    Some(row) => {
                        if row.with_untracked(|current| current != value) {
                            row.set(value.clone());
                        }
                        kept.insert(k.clone(), row);
                    }
                    None => {
                        kept.insert(k.clone(), ArcRwSignal::new(value.clone()));
                    }
                }
                keys.push(k);
            }
            *rows = kept;
        });
        set_if_changed(self.order, keys);
    }
}

/// The key of a queue item: its run and its id.
pub(crate) type ItemKey = (RunId, ItemId);

/// The state, as signals. `Copy`: pages take it by value.
#[derive(Clone, Copy)]
pub(crate) struct Fleet {
    state: StoredValue<Option<StateResponse>>,
    version: RwSignal<u64>,
    build_id: RwSignal<String>,
    writes_need_token: RwSignal<bool>,
    repositories: RwSignal<Option<RepositoryList>>,
    node: RwSignal<Option<NodeSnapshot>>,
    tabs: RwSignal<Vec<Tab>>,
    /// The runs of the queue view, oldest first (summaries; their items are [`Fleet::items`]).
    pub(crate) runs: Rows<RunId, RunSummary>,
    /// Every item of those runs, run by run in position order.
    pub(crate) items: Rows<ItemKey, ItemRecord>,
    /// The state's tasks, most recently updated first.
    pub(crate) tasks: Rows<String, TaskRecord>,
    /// Every agent, oldest first.
    pub(crate) agents: Rows<AgentId, AgentView>,
}

impl Fleet {
    /// An empty store; [`Fleet::loaded`] is false until the first state arrives.
    pub(crate) fn new() -> Self {
        Self {
            state: StoredValue::new(None),
            version: RwSignal::new(0),
            build_id: RwSignal::new(String::new()),
            writes_need_token: RwSignal::new(false),
            repositories: RwSignal::new(None),
            node: RwSignal::new(None),
            tabs: RwSignal::new(Vec::new()),
            runs: Rows::new(),
            items: Rows::new(),
            tasks: Rows::new(),
            agents: Rows::new(),
        }
    }

    /// Takes a whole state (the first load, or the stream's `state` event).
    pub(crate) fn load(&self, state: StateResponse) {
        self.apply(Event::State(Box::new(state)));
    }

    /// Applies one event and updates the signals it touched. An event that arrives before the
    /// first state is dropped, unless it is a whole state.
    pub(crate) fn apply(&self, event: Event) {
        let touched = Touched::of(&event);
        let applied = self.state.try_update_value(|state| match (state.as_mut(), event) {
            (_, Event::State(full)) => {
                *state = Some(*full);
                true
            }
            (Some(current), event) => {
                current.apply(event);
                true
            }
            (None, _) => false,
        });
        if applied != Some(true) {
            return;
        }
        self.state.with_value(|state| {
            let Some(state) = state else { return };
            self.copy(state, touched);
        });
        self.version.update(|v| *v += 1);
    }

    fn copy(&self, state: &StateResponse, touched: Touched) {
        if touched.all {
            set_if_changed(self.build_id, state.build_id.clone());
            set_if_changed(self.writes_need_token, state.writes_need_token);
        }
        if touched.all || touched.repositories {
            set_if_changed(self.repositories, Some(state.repositories.clone()));
        }
        if touched.all || touched.node {
            set_if_changed(self.node, Some(state.node.clone()));
        }
        if touched.all || touched.queue {
            set_if_changed(self.tabs, state.queue.tabs.clone());
            let summaries: Vec<RunSummary> = state.queue.runs.iter().map(|r| r.summary()).collect();
            self.runs.sync(&summaries, |r| r.id.clone());
            self.items.sync(state.queue.runs.iter().flat_map(|r| &r.items), |i| (i.run_id.clone(), i.id.clone()));
        }
        if touched.all || touched.tasks {
            self.tasks.sync(&state.tasks, |t| t.id.clone());
        }
        if touched.all || touched.agents {
            self.agents.sync(&state.agents, |a| a.agent.id.clone());
        }
    }

    /// Whether a state has arrived.
    pub(crate) fn loaded(&self) -> bool {
        self.version.get() > 0
    }

    /// Reads the whole state; tracks every change. For views computed across collections.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&StateResponse) -> R) -> Option<R> {
        self.version.track();
        self.state.with_value(|state| state.as_ref().map(f))
    }

    /// The daemon's build id (empty before the first state).
    pub(crate) fn build_id(&self) -> Signal<String> {
        self.build_id.into()
    }

    /// Whether the daemon refuses writes without its write token.
    pub(crate) fn writes_need_token(&self) -> Signal<bool> {
        self.writes_need_token.into()
    }

    /// The registered repositories.
    pub(crate) fn repositories(&self) -> Signal<Option<RepositoryList>> {
        self.repositories.into()
    }

    /// The latest node snapshot.
    pub(crate) fn node(&self) -> Signal<Option<NodeSnapshot>> {
        self.node.into()
    }

    /// The queue tabs, oldest first.
    pub(crate) fn tabs(&self) -> Signal<Vec<Tab>> {
        self.tabs.into()
    }

    /// The keys of one run's items, in position order; tracked like [`Rows::keys`].
    pub(crate) fn items_of(&self, run: &RunId) -> Vec<ItemKey> {
        self.items.with_keys(|keys| keys.iter().filter(|(r, _)| r == run).cloned().collect())
    }
}

/// Which parts of the state an event changes.
#[derive(Debug, Clone, Copy, Default)]
struct Touched {
    all: bool,
    repositories: bool,
    node: bool,
    queue: bool,
    tasks: bool,
    agents: bool,
}

impl Touched {
    fn of(event: &Event) -> Self {
        let mut touched = Self::default();
        match event {
            Event::State(_) => touched.all = true,
            Event::Repositories(_) => touched.repositories = true,
            Event::Node(_) => touched.node = true,
            Event::Tabs(_) | Event::Run(_) | Event::RunRemoved { .. } | Event::Item(_) | Event::ItemRemoved { .. } => {
                touched.queue = true;
            }
            Event::Task(_) | Event::TaskRemoved { .. } => touched.tasks = true,
            Event::Agent(_) | Event::AgentRemoved { .. } => touched.agents = true,
        }
        touched
    }
}
