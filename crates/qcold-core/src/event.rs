//! The events the daemon pushes on `GET /api/events`.
//!
//! Each server-sent event has the event name [`Event::name`] and, as data, the JSON of the whole
//! [`Event`] (tagged by `kind`), so a client can parse the data without looking at the name.
//! The first event of every stream is [`Event::State`]; after that the daemon pushes a delta
//! whenever something changes, never on a timer.

use serde::{Deserialize, Serialize};

use crate::api::StateResponse;
use crate::queue::wire::QueueView;
use crate::{NodeSnapshot, RepositoryList};

/// A change the daemon announces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "data", rename_all = "kebab-case")]
pub enum Event {
    /// The full state: sent first, and again when a client fell too far behind.
    State(Box<StateResponse>),
    /// The registered repositories or the active one changed.
    Repositories(RepositoryList),
    /// A new node sample was taken.
    Node(Box<NodeSnapshot>),
    /// A queue tab, run or item changed; carries the whole queue view.
    Queue(Box<QueueView>),
}

impl Event {
    /// Every SSE event name, for clients that subscribe by name (a browser `EventSource`).
    pub const NAMES: [&'static str; 4] = ["state", "repositories", "node", "queue"];

    /// The SSE event name.
    pub const fn name(&self) -> &'static str {
        match self {
            Event::State(_) => "state",
            Event::Repositories(_) => "repositories",
            Event::Node(_) => "node",
            Event::Queue(_) => "queue",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_by_kind() {
        let event = Event::Repositories(RepositoryList::default());
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(json, r#"{"kind":"repositories","data":{"active":null,"repositories":[]}}"#);
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        assert_eq!(event.name(), "repositories");
        let queue = Event::Queue(Box::default());
        for name in [event.name(), queue.name(), "state", "node"] {
            assert!(Event::NAMES.contains(&name), "{name} is missing from Event::NAMES");
        }
    }

    #[test]
    fn applying_events_keeps_a_state_current() {
        let fixture = include_str!("../tests/fixtures/node-snapshot-v1.json");
        let node: NodeSnapshot = serde_json::from_str(fixture).unwrap();
        let mut state = StateResponse {
            build_id: "b".into(),
            generated_at: 1,
            repositories: RepositoryList::default(),
            node: node.clone(),
            queue: QueueView::default(),
        };
        let repo: crate::Repository = serde_json::from_str(
            r#"{"id":"web","root":"/r","adapter":"command","default_branch":"main","created_at":1,"updated_at":1}"#,
        )
        .unwrap();
        let list = RepositoryList { active: Some(repo.id.clone()), repositories: vec![repo] };
        state.apply(Event::Repositories(list.clone()));
        assert_eq!(state.repositories, list);

        let mut newer = node;
        newer.heartbeat.sampled_at = 2_000_000_000;
        state.apply(Event::Node(Box::new(newer.clone())));
        assert_eq!((state.node.heartbeat.sampled_at, state.generated_at), (2_000_000_000, 2_000_000_000));

        let replacement = StateResponse { build_id: "c".into(), ..state.clone() };
        state.apply(Event::State(Box::new(replacement.clone())));
        assert_eq!(state, replacement);
    }
}
