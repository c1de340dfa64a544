//! Which items may start now, and what the items' statuses mean for the run.

use std::collections::HashMap;

use super::{ExecutionMode, ItemStatus, WaitingFor};
use crate::ItemId;

/// What planning needs to know about one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFacts {
    /// Its id.
    pub id: ItemId,
    /// Its position in the run.
    pub position: u32,
    /// Its status.
    pub status: ItemStatus,
    /// Its resolved dependencies.
    pub depends_on: Vec<ItemId>,
    /// Not before this time (Unix seconds), when waiting.
    pub next_attempt_at: Option<i64>,
    /// What it waits for, when waiting.
    pub waiting_for: Option<WaitingFor>,
    /// A worker holds an unexpired lease on it.
    pub leased: bool,
}

/// The items that may start at `now`, in position order. Sequence mode: the lowest unfinished
/// item, if it may start. Graph mode: every item whose dependencies all succeeded. An item
/// waiting for a delivery retry never starts: its work is done, the scheduler delivers it.
pub fn ready(mode: ExecutionMode, items: &[ItemFacts], now: i64) -> Vec<ItemId> {
    let mut sorted: Vec<&ItemFacts> = items.iter().collect();
    sorted.sort_by_key(|i| i.position);
    let by_id = index(items);
    let startable = |item: &ItemFacts| {
        matches!(item.status, ItemStatus::Pending | ItemStatus::Waiting)
            && !item.leased
            && item.waiting_for != Some(WaitingFor::DeliveryRetry)
            && item.next_attempt_at.is_none_or(|t| t <= now)
            && item.depends_on.iter().all(|dep| by_id.get(dep).is_none_or(|i| i.status == ItemStatus::Success))
    };
    match mode {
        ExecutionMode::Sequence => sorted
            .into_iter()
            .find(|i| !i.status.is_terminal())
            .filter(|i| startable(i))
            .map(|i| vec![i.id.clone()])
            .unwrap_or_default(),
        ExecutionMode::Graph => sorted.into_iter().filter(|i| startable(i)).map(|i| i.id.clone()).collect(),
    }
}

/// The items by id: each lookup is constant time, so a pass is linear in the run's size.
fn index(items: &[ItemFacts]) -> HashMap<&ItemId, &ItemFacts> {
    items.iter().map(|i| (&i.id, i)).collect()
}

/// Where a run stands, judged from its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Work remains.
    Open,
    /// Every item succeeded.
    Success,
    /// An item failed or is blocked; the run fails and that item's dependents never start.
    Failed(ItemId),
}

/// The run's outcome: the first failed or blocked item (by position) fails it.
pub fn outcome(items: &[ItemFacts]) -> RunOutcome {
    let mut sorted: Vec<&ItemFacts> = items.iter().collect();
    sorted.sort_by_key(|i| i.position);
    if let Some(bad) = sorted.iter().find(|i| matches!(i.status, ItemStatus::Failed | ItemStatus::Blocked)) {
        return RunOutcome::Failed(bad.id.clone());
    }
    if !sorted.is_empty() && sorted.iter().all(|i| i.status == ItemStatus::Success) {
        RunOutcome::Success
    } else {
        RunOutcome::Open
    }
}

/// An item that has not started and cannot while the run stands: it waits on an item that
/// failed or is blocked, directly or through other dependencies that have not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The item that cannot start.
    pub item: ItemId,
    /// The failed or blocked item at the root.
    pub by: ItemId,
    /// That item's status (`failed` or `blocked`).
    pub by_status: ItemStatus,
    /// The dependency of `item` it waits on when that is not `by` itself.
    pub through: Option<ItemId>,
}

impl Blocked {
    /// The item's reason: `blocked by b (failed)`, or `blocked by b (failed) through c`.
    pub fn reason(&self) -> String {
        match &self.through {
            None => format!("blocked by {} ({})", self.by, self.by_status),
            Some(through) => format!("blocked by {} ({}) through {through}", self.by, self.by_status),
        }
    }
}

/// The pending items that cannot start because of a failed or blocked item, in position order.
/// Graph mode: an item with a failed or blocked dependency, or a pending dependency that is
/// itself blocked (the root is named). Sequence mode: every pending item after the first failed
/// or blocked one.
pub fn blocked(mode: ExecutionMode, items: &[ItemFacts]) -> Vec<Blocked> {
    let mut sorted: Vec<&ItemFacts> = items.iter().collect();
    sorted.sort_by_key(|i| i.position);
    let stops = |i: &ItemFacts| matches!(i.status, ItemStatus::Failed | ItemStatus::Blocked);
    match mode {
        ExecutionMode::Sequence => {
            let Some(first) = sorted.iter().find(|i| stops(i)) else { return Vec::new() };
            sorted
                .iter()
                .filter(|i| i.position > first.position && i.status == ItemStatus::Pending)
                .map(|i| Blocked { item: i.id.clone(), by: first.id.clone(), by_status: first.status, through: None })
                .collect()
        }
        ExecutionMode::Graph => {
            let by_id = index(items);
            let mut roots = HashMap::new();
            sorted
                .iter()
                .filter(|i| i.status == ItemStatus::Pending)
                .filter_map(|item| {
                    let bad = root(item, &by_id, &mut roots)?;
                    let through = if item.depends_on.contains(&bad.id) {
                        None
                    } else {
                        item.depends_on
                            .iter()
                            .filter_map(|dep| by_id.get(dep).copied())
                            .find(|dep| dep.status == ItemStatus::Pending && root(dep, &by_id, &mut roots).is_some())
                            .map(|dep| dep.id.clone())
                    };
                    Some(Blocked { item: item.id.clone(), by: bad.id.clone(), by_status: bad.status, through })
                })
                .collect()
        }
    }
}

/// The failed or blocked item `item` waits on, if any: a dependency that failed or is blocked
/// itself is named before one further up, through the first pending dependency that has one.
/// Each item's answer is computed once (`roots`), so the walk is linear in the graph's size; an
/// item met again while its own answer is being computed (a malformed cycle) has none.
fn root<'a>(
    item: &'a ItemFacts,
    by_id: &HashMap<&ItemId, &'a ItemFacts>,
    roots: &mut HashMap<&'a ItemId, Option<&'a ItemFacts>>,
) -> Option<&'a ItemFacts> {
    if let Some(known) = roots.get(&item.id) {
        return *known;
    }
    roots.insert(&item.id, None);
    let deps = || item.depends_on.iter().filter_map(|dep| by_id.get(dep).copied());
    let found = match deps().find(|dep| matches!(dep.status, ItemStatus::Failed | ItemStatus::Blocked)) {
        Some(bad) => Some(bad),
        None => deps().filter(|dep| dep.status == ItemStatus::Pending).find_map(|dep| root(dep, by_id, roots)),
    };
    roots.insert(&item.id, found);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, position: u32, status: ItemStatus, deps: &[&str]) -> ItemFacts {
        ItemFacts {
            id: id.parse().unwrap(),
            position,
            status,
            depends_on: deps.iter().map(|d| d.parse().unwrap()).collect(),
            next_attempt_at: None,
            waiting_for: None,
            leased: false,
        }
    }

    fn ids(v: Vec<ItemId>) -> Vec<String> {
        v.into_iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn sequence_runs_the_lowest_unfinished_item() {
        use ItemStatus::*;
        let table: [(Vec<ItemFacts>, Vec<&str>); 4] = [
            (vec![item("a", 1, Pending, &[]), item("b", 2, Pending, &[])], vec!["a"]),
            (vec![item("a", 1, Success, &[]), item("b", 2, Pending, &[])], vec!["b"]),
            (vec![item("a", 1, Running, &[]), item("b", 2, Pending, &[])], vec![]),
            (vec![item("b", 2, Pending, &[]), item("a", 1, Stopped, &[])], vec![]),
        ];
        for (items, want) in table {
            assert_eq!(ids(ready(ExecutionMode::Sequence, &items, 0)), want, "{items:?}");
        }
    }

    #[test]
    fn graph_runs_everything_whose_dependencies_succeeded() {
        use ItemStatus::*;
        let mut items = vec![
            item("a", 1, Success, &[]),
            item("b", 2, Pending, &["a"]),
            item("c", 3, Pending, &["b"]),
            item("d", 4, Waiting, &[]),
            item("e", 5, Pending, &[]),
            item("f", 6, Failed, &[]),
            item("g", 7, Pending, &["f"]),
        ];
        items[3].next_attempt_at = Some(100);
        items[4].leased = true;
        assert_eq!(
            ids(ready(ExecutionMode::Graph, &items, 50)),
            ["b"],
            "waiting until 100, leased, and dependents of failures wait"
        );
        assert_eq!(ids(ready(ExecutionMode::Graph, &items, 100)), ["b", "d"]);
        items[3].waiting_for = Some(WaitingFor::DeliveryRetry);
        assert_eq!(ids(ready(ExecutionMode::Graph, &items, 100)), ["b"], "a delivery retry is never launched");
        items[3].waiting_for = Some(WaitingFor::RecoveryBackoff);
        assert_eq!(ids(ready(ExecutionMode::Graph, &items, 100)), ["b", "d"]);
        let sequence = [item("a", 1, Waiting, &[]), item("b", 2, Pending, &[])];
        let mut delivering = sequence.clone();
        delivering[0].waiting_for = Some(WaitingFor::DeliveryRetry);
        assert_eq!(ids(ready(ExecutionMode::Sequence, &sequence, 0)), ["a"]);
        assert!(ready(ExecutionMode::Sequence, &delivering, 0).is_empty(), "and nothing passes it in a sequence");
        assert_eq!(outcome(&items), RunOutcome::Failed("f".parse().unwrap()));
    }

    #[test]
    fn dependents_of_a_failed_or_blocked_item_name_it() {
        use ItemStatus::*;
        let graph = [
            item("a", 1, Failed, &[]),
            item("b", 2, Pending, &["a"]),
            item("c", 3, Pending, &["b"]),
            item("d", 4, Blocked, &[]),
            item("e", 5, Pending, &["c", "d"]),
            item("f", 6, Pending, &[]),
            item("g", 7, Running, &["a"]),
            item("h", 8, Pending, &["f"]),
        ];
        let reasons = |mode, items: &[ItemFacts]| -> Vec<String> {
            blocked(mode, items).iter().map(|b| format!("{}: {}", b.item, b.reason())).collect()
        };
        assert_eq!(
            reasons(ExecutionMode::Graph, &graph),
            ["b: blocked by a (failed)", "c: blocked by a (failed) through b", "e: blocked by d (blocked)"],
            "e names its own blocked dependency first; f and h wait on nothing that failed"
        );
        let sequence = [item("a", 1, Success, &[]), item("b", 2, Blocked, &[]), item("c", 3, Pending, &[])];
        assert_eq!(reasons(ExecutionMode::Sequence, &sequence), ["c: blocked by b (blocked)"]);
        assert!(blocked(ExecutionMode::Graph, &[item("a", 1, Success, &[]), item("b", 2, Pending, &["a"])]).is_empty());
        let cycle = [item("x", 1, Pending, &["y"]), item("y", 2, Pending, &["x"])];
        assert!(blocked(ExecutionMode::Graph, &cycle).is_empty(), "a malformed cycle ends");
    }

    #[test]
    fn a_wide_pending_graph_beside_a_failure_is_walked_once_per_item() {
        use ItemStatus::*;
        // A ladder: each item needs the two before it, so it has Fibonacci-many paths to its
        // start (≈10^41 for 200 items). None leads to a failure: a walk that followed each path
        // would not end; one that answers each item once ends at once.
        let names: Vec<String> = (0..200).map(|n| format!("i{n}")).collect();
        let mut graph = vec![item("bad", 1, Failed, &[])];
        for (n, name) in names.iter().enumerate() {
            let deps: Vec<&str> = names[n.saturating_sub(2)..n].iter().map(String::as_str).collect();
            graph.push(item(name, u32::try_from(n).unwrap() + 2, Pending, &deps));
        }
        graph.push(item("child", 300, Pending, &["i199", "bad"]));
        let found = blocked(ExecutionMode::Graph, &graph);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].reason(), "blocked by bad (failed)");
        graph[1].status = Blocked;
        let found = blocked(ExecutionMode::Graph, &graph);
        assert_eq!(found.len(), 200, "every later rung and the child wait on i0");
        assert_eq!(found[198].reason(), "blocked by i0 (blocked) through i197", "{:?}", found[198]);
        assert_eq!(found[199].reason(), "blocked by bad (failed)", "its own failed dependency first");
    }

    #[test]
    fn outcomes() {
        use ItemStatus::*;
        assert_eq!(outcome(&[item("a", 1, Success, &[]), item("b", 2, Success, &[])]), RunOutcome::Success);
        assert_eq!(outcome(&[item("a", 1, Success, &[]), item("b", 2, Running, &[])]), RunOutcome::Open);
        assert_eq!(
            outcome(&[item("a", 1, Blocked, &[]), item("b", 2, Failed, &[])]),
            RunOutcome::Failed("a".parse().unwrap())
        );
        assert_eq!(outcome(&[]), RunOutcome::Open);
    }
}
