//! The composer's draft: what the operator typed, turned into a qcold-core [`Package`] and kept
//! in `localStorage` (under [`KEY`]) so it survives a reload. Only the draft is kept there —
//! never the write token — and a blank draft removes the key.

use qcold_core::queue::package::{Package, PackageItem};
use qcold_core::queue::{ExecutionMode, TaskClass};
use serde::{Deserialize, Serialize};

/// The `localStorage` key.
pub(super) const KEY: &str = "qcold-queue-draft";

/// The composer's fields, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Draft {
    /// The repository id; empty: the active one.
    pub(super) repo: String,
    /// The agent command; empty: the first ready one.
    pub(super) agent: String,
    /// Sequence or graph.
    pub(super) mode: ExecutionMode,
    /// One editor per item.
    pub(super) items: Vec<DraftItem>,
    /// A package being pasted, not yet loaded into the editors.
    pub(super) pasted: String,
}

/// One item's editor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(super) struct DraftItem {
    /// Its id.
    pub(super) id: String,
    /// Its prompt.
    pub(super) prompt: String,
    /// Ids or slugs it depends on, separated by commas or spaces.
    pub(super) depends_on: String,
    /// Its load class.
    pub(super) task_class: TaskClass,
}

impl DraftItem {
    /// An empty editor for the item at `position` (from 1), with the id the daemon would give it.
    pub(super) fn at(position: usize) -> Self {
        Self { id: format!("item-{position}"), ..Self::default() }
    }
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

impl Draft {
    /// A fresh draft: one empty item of a graph.
    pub(super) fn blank() -> Self {
        Self {
            repo: String::new(),
            agent: String::new(),
            mode: ExecutionMode::Graph,
            items: vec![DraftItem::at(1)],
            pasted: String::new(),
        }
    }

    /// The package the draft describes, for qcold-core's checks and for the daemon.
    pub(super) fn package(&self) -> Package {
        let items = self
            .items
            .iter()
            .map(|item| PackageItem {
                id: some(&item.id),
                prompt: item.prompt.clone(),
                depends_on: item
                    .depends_on
                    .split([',', ' ', '\n'])
                    .filter(|d| !d.trim().is_empty())
                    .map(|d| d.trim().to_owned())
                    .collect(),
                task_class: item.task_class,
                ..PackageItem::default()
            })
            .collect();
        Package { agent: some(&self.agent), repo: some(&self.repo), execution_mode: self.mode, items }
    }

    /// The editors for a pasted package: its items, with the ids the daemon would give them.
    pub(super) fn items_of(package: &Package) -> Vec<DraftItem> {
        package
            .items
            .iter()
            .enumerate()
            .map(|(offset, item)| DraftItem {
                id: item.id.clone().unwrap_or_else(|| format!("item-{}", offset + 1)),
                prompt: item.prompt.clone(),
                depends_on: item.depends_on.join(", "),
                task_class: item.task_class,
            })
            .collect()
    }

    /// The draft kept by an earlier visit, or a blank one.
    pub(super) fn load() -> Self {
        storage()
            .and_then(|s| s.get_item(KEY).ok().flatten())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_else(Self::blank)
    }

    /// Keeps the draft; a blank one is forgotten.
    pub(super) fn save(&self) {
        let Some(storage) = storage() else { return };
        if *self == Self::blank() {
            let _ = storage.remove_item(KEY);
            return;
        }
        match serde_json::to_string(self) {
            Ok(text) => {
                if let Err(err) = storage.set_item(KEY, &text) {
                    leptos::logging::warn!("cannot keep the queue draft in localStorage: {err:?}");
                }
            }
            Err(err) => leptos::logging::warn!("cannot serialise the queue draft: {err}"),
        }
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}
