//! `Deserialize` for [`Event`], written by hand so each payload type is parsed by one code path.
//!
//! The derived impl of an adjacently tagged enum also accepts `data` before `kind`, by buffering
//! `data` into serde's private `Content` and parsing every payload type a second time from that
//! buffer. Compiled into the dashboard's wasm, that second copy of the parser of every record
//! (state, items, tasks, agents, node) was about a tenth of the bundle. The daemon always writes
//! `kind` first (the derived `Serialize` does), so this impl requires `kind` before `data` and
//! reads `data` straight from the input; unknown keys are ignored, as the derived impl did.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Event;
use crate::{AgentId, ItemId, RunId};

/// A key of an event's object.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Kind,
    Data,
    #[serde(other)]
    Other,
}

/// The `kind` tag: one per variant of [`Event`], named as [`Event::name`] names it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    State,
    Repositories,
    Node,
    Tabs,
    Run,
    RunRemoved,
    Item,
    ItemRemoved,
    Task,
    TaskRemoved,
    Agent,
    AgentRemoved,
}

#[derive(Deserialize)]
struct RunRemoved {
    run_id: RunId,
}

#[derive(Deserialize)]
struct ItemRemoved {
    run_id: RunId,
    item_id: ItemId,
}

#[derive(Deserialize)]
struct TaskRemoved {
    task_id: String,
}

#[derive(Deserialize)]
struct AgentRemoved {
    agent_id: AgentId,
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("Event", &["kind", "data"], EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object: `kind`, then `data`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut kind = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Kind => kind = Some(map.next_value::<Kind>()?),
                Field::Data => {
                    let kind =
                        kind.ok_or_else(|| de::Error::custom("an event's `kind` must come before its `data`"))?;
                    let event = data(kind, &mut map)?;
                    while map.next_key::<Field>()?.is_some() {
                        map.next_value::<IgnoredAny>()?;
                    }
                    return Ok(event);
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Err(de::Error::missing_field(if kind.is_some() { "data" } else { "kind" }))
    }
}

/// Reads the `data` of an event of `kind`, the map's next value.
fn data<'de, A: MapAccess<'de>>(kind: Kind, map: &mut A) -> Result<Event, A::Error> {
    Ok(match kind {
        Kind::State => Event::State(map.next_value()?),
        Kind::Repositories => Event::Repositories(map.next_value()?),
        Kind::Node => Event::Node(map.next_value()?),
        Kind::Tabs => Event::Tabs(map.next_value()?),
        Kind::Run => Event::Run(map.next_value()?),
        Kind::RunRemoved => {
            let RunRemoved { run_id } = map.next_value()?;
            Event::RunRemoved { run_id }
        }
        Kind::Item => Event::Item(map.next_value()?),
        Kind::ItemRemoved => {
            let ItemRemoved { run_id, item_id } = map.next_value()?;
            Event::ItemRemoved { run_id, item_id }
        }
        Kind::Task => Event::Task(map.next_value()?),
        Kind::TaskRemoved => {
            let TaskRemoved { task_id } = map.next_value()?;
            Event::TaskRemoved { task_id }
        }
        Kind::Agent => Event::Agent(map.next_value()?),
        Kind::AgentRemoved => {
            let AgentRemoved { agent_id } = map.next_value()?;
            Event::AgentRemoved { agent_id }
        }
    })
}
