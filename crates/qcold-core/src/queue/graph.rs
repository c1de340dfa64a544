//! Graph normalisation: from a package to a run's items with resolved dependencies, canonical
//! wave indexes and typed diagnostics.
//!
//! Rules: item ids default to `item-<position>`; slugs default to the id when it is a valid slug,
//! else to words of the prompt. Dependencies resolve by id, then by slug. Empty, self, duplicate
//! and missing dependencies are dropped with warnings; duplicate ids or slugs, invalid ids or slugs,
//! empty prompts and cycles are errors (a cycle is one error per item on it, each naming the
//! item and listing the whole cycle). The canonical wave index of an item
//! is the length of the longest dependency chain leading to it. In sequence mode dependencies are
//! ignored (with a warning when given) and every wave index is 0.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::package::{Package, slugify};
use super::{ExecutionMode, TaskClass};
use crate::{ItemId, TaskSlug};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Something was dropped or adjusted; the run is accepted.
    Warning,
    /// The run is rejected.
    Error,
}

/// What a diagnostic is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosticKind {
    /// An item id is not a valid id.
    InvalidId,
    /// Two items share an id.
    DuplicateId,
    /// A slug is not a valid task slug.
    InvalidSlug,
    /// Two items share a slug.
    DuplicateSlug,
    /// An item has an empty prompt.
    EmptyPrompt,
    /// An empty dependency was dropped.
    EmptyDependency,
    /// An item depended on itself; dropped.
    SelfDependency,
    /// A dependency was listed twice; the repeat was dropped.
    DuplicateDependency,
    /// A dependency names no item; dropped.
    MissingDependency,
    /// Dependencies form a cycle.
    Cycle,
    /// The author's wave index differs from the canonical one.
    WaveConflict,
    /// Dependencies were given in sequence mode, where they are ignored.
    DependenciesIgnored,
}

/// One finding of normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Diagnostic {
    /// What it is about.
    pub kind: DiagnosticKind,
    /// Whether it rejects the run.
    pub severity: Severity,
    /// What happened, in words.
    pub message: String,
    /// The item it concerns, if one.
    #[serde(default)]
    pub item: Option<String>,
}

fn warning(kind: DiagnosticKind, item: &str, message: String) -> Diagnostic {
    Diagnostic { kind, severity: Severity::Warning, message, item: Some(item.to_owned()) }
}

fn error(kind: DiagnosticKind, item: Option<&str>, message: String) -> Diagnostic {
    Diagnostic { kind, severity: Severity::Error, message, item: item.map(str::to_owned) }
}

/// A normalised item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Item {
    /// Its id.
    pub id: ItemId,
    /// Its task slug.
    pub slug: TaskSlug,
    /// Its prompt.
    pub prompt: String,
    /// Resolved dependency ids.
    pub depends_on: Vec<ItemId>,
    /// The canonical wave index.
    pub wave_index: u32,
    /// Its load class.
    pub task_class: TaskClass,
    /// Its agent command, if the package named one for it or for the run.
    pub agent: Option<String>,
}

/// The result of normalisation: items and diagnostics (warnings only; errors reject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Normalized {
    /// The run's mode.
    pub mode: ExecutionMode,
    /// The items, in position order.
    pub items: Vec<Item>,
    /// Warnings.
    pub diagnostics: Vec<Diagnostic>,
}

/// A package that cannot become a run; every diagnostic, errors and warnings, is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[error("the queue package was rejected: {}", errors(.diagnostics))]
pub struct Rejected {
    /// Every diagnostic.
    pub diagnostics: Vec<Diagnostic>,
}

/// The error messages, each once (a cycle's is on every item of it), joined by `; `.
fn errors(diagnostics: &[Diagnostic]) -> String {
    let mut messages: Vec<&str> = Vec::new();
    for d in diagnostics.iter().filter(|d| d.severity == Severity::Error) {
        if !messages.contains(&d.message.as_str()) {
            messages.push(&d.message);
        }
    }
    messages.join("; ")
}

/// Normalises a package. `first_position` numbers default ids (1 for a new run; after the last
/// item when appending).
pub fn normalize(package: &Package, first_position: usize) -> Result<Normalized, Rejected> {
    let mut diagnostics = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut raw_deps: Vec<Vec<String>> = Vec::new();
    for (offset, raw) in package.items.iter().enumerate() {
        let position = first_position + offset;
        let id_text = raw.id.clone().unwrap_or_else(|| format!("item-{position}"));
        let Ok(id) = ItemId::new(id_text.clone()) else {
            diagnostics.push(error(
                DiagnosticKind::InvalidId,
                Some(&id_text),
                format!("item id {id_text:?} is not a valid id"),
            ));
            continue;
        };
        let slug_text = match &raw.slug {
            Some(slug) => slug.clone(),
            None if TaskSlug::new(id_text.clone()).is_ok() && raw.id.is_some() => id_text.clone(),
            None => slugify(&raw.prompt.split_whitespace().take(6).collect::<Vec<_>>().join(" ")),
        };
        let slug = match TaskSlug::new(slug_text.clone()) {
            Ok(slug) => slug,
            Err(e) => {
                diagnostics.push(error(DiagnosticKind::InvalidSlug, Some(&id_text), e.to_string()));
                continue;
            }
        };
        if raw.prompt.trim().is_empty() {
            diagnostics.push(error(
                DiagnosticKind::EmptyPrompt,
                Some(&id_text),
                format!("item {id_text} has an empty prompt"),
            ));
        }
        if items.iter().any(|i| i.id == id) {
            diagnostics.push(error(
                DiagnosticKind::DuplicateId,
                Some(&id_text),
                format!("item id {id_text} is used twice"),
            ));
            continue;
        }
        if items.iter().any(|i| i.slug == slug) {
            diagnostics.push(error(
                DiagnosticKind::DuplicateSlug,
                Some(&id_text),
                format!("slug {slug} is used twice"),
            ));
            continue;
        }
        items.push(Item {
            id,
            slug,
            prompt: raw.prompt.clone(),
            depends_on: Vec::new(),
            wave_index: 0,
            task_class: raw.task_class,
            agent: raw.agent.clone().or_else(|| package.agent.clone()),
        });
        raw_deps.push(raw.depends_on.clone());
    }

    match package.execution_mode {
        ExecutionMode::Sequence => {
            for (item, deps) in items.iter().zip(&raw_deps) {
                if !deps.is_empty() {
                    diagnostics.push(warning(
                        DiagnosticKind::DependenciesIgnored,
                        item.id.as_str(),
                        format!("item {} lists dependencies, which sequence mode ignores", item.id),
                    ));
                }
            }
        }
        ExecutionMode::Graph => resolve_dependencies(&mut items, &raw_deps, &mut diagnostics),
    }
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        return Err(Rejected { diagnostics });
    }
    if let Err(cycle) = assign_waves(&mut items) {
        // One error per item on the cycle, each naming it, so an editor can show it on each.
        let message = format!("dependency cycle: {}", cycle.join(" -> "));
        for id in &cycle[..cycle.len() - 1] {
            diagnostics.push(error(DiagnosticKind::Cycle, Some(id), message.clone()));
        }
        return Err(Rejected { diagnostics });
    }
    for (item, raw) in items.iter().zip(package.items.iter()) {
        if let Some(hint) = raw.wave_index.filter(|w| *w != item.wave_index) {
            diagnostics.push(warning(
                DiagnosticKind::WaveConflict,
                item.id.as_str(),
                format!("item {} says wave {hint}, but its dependencies put it in wave {}", item.id, item.wave_index),
            ));
        }
    }
    Ok(Normalized { mode: package.execution_mode, items, diagnostics })
}

fn resolve_dependencies(items: &mut [Item], raw_deps: &[Vec<String>], diagnostics: &mut Vec<Diagnostic>) {
    let by_id: HashMap<String, ItemId> = items.iter().map(|i| (i.id.to_string(), i.id.clone())).collect();
    let by_slug: HashMap<String, ItemId> = items.iter().map(|i| (i.slug.to_string(), i.id.clone())).collect();
    for (item, deps) in items.iter_mut().zip(raw_deps) {
        for dep in deps {
            let dep = dep.trim();
            let target = by_id.get(dep).or_else(|| by_slug.get(dep));
            let (kind, message) = match target {
                _ if dep.is_empty() => {
                    (DiagnosticKind::EmptyDependency, format!("item {} has an empty dependency; dropped", item.id))
                }
                Some(target) if *target == item.id => {
                    (DiagnosticKind::SelfDependency, format!("item {} depends on itself; dropped", item.id))
                }
                Some(target) if item.depends_on.contains(target) => (
                    DiagnosticKind::DuplicateDependency,
                    format!("item {} lists {dep} twice; the repeat was dropped", item.id),
                ),
                Some(target) => {
                    item.depends_on.push(target.clone());
                    continue;
                }
                None => (
                    DiagnosticKind::MissingDependency,
                    format!("item {} depends on {dep:?}, which is no item of the run; dropped", item.id),
                ),
            };
            diagnostics.push(warning(kind, item.id.as_str(), message));
        }
    }
}

/// Sets each item's wave to the length of its longest dependency chain; on a cycle returns it.
fn assign_waves(items: &mut [Item]) -> Result<(), Vec<String>> {
    let index: HashMap<&ItemId, usize> = items.iter().enumerate().map(|(i, item)| (&item.id, i)).collect();
    let deps: Vec<Vec<usize>> =
        items.iter().map(|i| i.depends_on.iter().filter_map(|d| index.get(d).copied()).collect()).collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks = vec![Mark::New; items.len()];
    let mut waves = vec![0u32; items.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        n: usize,
        deps: &[Vec<usize>],
        marks: &mut [Mark],
        waves: &mut [u32],
        stack: &mut Vec<usize>,
    ) -> Result<u32, Vec<usize>> {
        match marks[n] {
            Mark::Done => return Ok(waves[n]),
            Mark::Active => {
                let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(n);
                return Err(cycle);
            }
            Mark::New => {}
        }
        marks[n] = Mark::Active;
        stack.push(n);
        let mut wave = 0;
        for &d in &deps[n] {
            wave = wave.max(visit(d, deps, marks, waves, stack)? + 1);
        }
        stack.pop();
        marks[n] = Mark::Done;
        waves[n] = wave;
        Ok(wave)
    }
    for n in 0..items.len() {
        visit(n, &deps, &mut marks, &mut waves, &mut stack)
            .map_err(|cycle| cycle.iter().map(|i| items[*i].id.to_string()).collect::<Vec<_>>())?;
    }
    for (item, wave) in items.iter_mut().zip(waves) {
        item.wave_index = wave;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::package::parse_json;
    use super::*;

    fn run(json: &str) -> Result<Normalized, Rejected> {
        normalize(&parse_json(json).unwrap(), 1)
    }

    fn kinds(diagnostics: &[Diagnostic]) -> Vec<DiagnosticKind> {
        diagnostics.iter().map(|d| d.kind).collect()
    }

    #[test]
    fn dependencies_resolve_by_id_then_slug_and_waves_follow_the_longest_chain() {
        let n = run(r#"{"execution_mode": "graph", "items": [
            {"id": "a", "prompt": "root"},
            {"id": "b", "slug": "build-it", "prompt": "after a", "depends_on": "a"},
            {"id": "c", "prompt": "after a and b", "depends_on": ["build-it", "a"], "wave_index": 1},
            {"id": "d", "prompt": "alone"}
        ]}"#)
        .unwrap();
        let view: Vec<(&str, Vec<&str>, u32)> = n
            .items
            .iter()
            .map(|i| (i.id.as_str(), i.depends_on.iter().map(ItemId::as_str).collect(), i.wave_index))
            .collect();
        assert_eq!(view, [("a", vec![], 0), ("b", vec!["a"], 1), ("c", vec!["b", "a"], 2), ("d", vec![], 0)]);
        assert_eq!(kinds(&n.diagnostics), [DiagnosticKind::WaveConflict]);
        assert_eq!(n.diagnostics[0].message, "item c says wave 1, but its dependencies put it in wave 2");
    }

    #[test]
    fn bad_dependencies_are_dropped_with_warnings() {
        let n = run(r#"{"execution_mode": "graph", "items": [
            {"id": "a", "prompt": "x", "depends_on": ["", "a", "zzz"]},
            {"id": "b", "prompt": "y", "depends_on": ["a", "a"]}
        ]}"#)
        .unwrap();
        assert_eq!(
            kinds(&n.diagnostics),
            [
                DiagnosticKind::EmptyDependency,
                DiagnosticKind::SelfDependency,
                DiagnosticKind::MissingDependency,
                DiagnosticKind::DuplicateDependency
            ]
        );
        assert!(n.diagnostics.iter().all(|d| d.severity == Severity::Warning));
        assert_eq!(n.items[1].depends_on.len(), 1);
    }

    #[test]
    fn cycles_and_duplicates_reject_the_run() {
        let cycle = run(r#"{"execution_mode": "graph", "items": [
            {"id": "a", "prompt": "x", "depends_on": "c"},
            {"id": "b", "prompt": "y", "depends_on": "a"},
            {"id": "c", "prompt": "z", "depends_on": "b"}
        ]}"#)
        .unwrap_err();
        assert_eq!(cycle.to_string(), "the queue package was rejected: dependency cycle: a -> c -> b -> a");
        let on: Vec<(DiagnosticKind, Option<&str>)> =
            cycle.diagnostics.iter().map(|d| (d.kind, d.item.as_deref())).collect();
        assert_eq!(
            on,
            [
                (DiagnosticKind::Cycle, Some("a")),
                (DiagnosticKind::Cycle, Some("c")),
                (DiagnosticKind::Cycle, Some("b"))
            ],
            "one error per item on the cycle, each naming it"
        );
        let dup = run(r#"{"items": [{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}, {"id": "bad id", "prompt": "z"}, {"id": "e", "prompt": " "}]}"#)
            .unwrap_err();
        assert_eq!(
            kinds(&dup.diagnostics),
            [DiagnosticKind::DuplicateId, DiagnosticKind::InvalidId, DiagnosticKind::EmptyPrompt]
        );
        let slugs =
            run(r#"{"items": [{"slug": "same", "prompt": "x"}, {"slug": "same", "prompt": "y"}]}"#).unwrap_err();
        assert_eq!(kinds(&slugs.diagnostics), [DiagnosticKind::DuplicateSlug]);
    }

    #[test]
    fn sequence_mode_ignores_dependencies_and_defaults_names() {
        let n = run(r#"{"agent": "c1", "items": [{"prompt": "Fix the login page now"}, {"id": "two", "prompt": "y", "depends_on": "item-1", "agent": "c2"}]}"#).unwrap();
        assert_eq!(n.items[0].id.as_str(), "item-1");
        assert_eq!(n.items[0].slug.as_str(), "fix-the-login-page-now");
        assert_eq!(n.items[1].slug.as_str(), "two");
        assert!(n.items[1].depends_on.is_empty());
        assert_eq!((n.items[0].agent.as_deref(), n.items[1].agent.as_deref()), (Some("c1"), Some("c2")));
        assert_eq!(kinds(&n.diagnostics), [DiagnosticKind::DependenciesIgnored]);
    }
}
