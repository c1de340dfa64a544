//! The queue package format: what `qcold queue run --from FILE|DIR` and `POST /api/queue/run`
//! accept, parsed and validated.
//!
//! JSON: `{"agent"?, "repo"?, "execution_mode"?: "sequence"|"graph", "items": [...]}` where each
//! item is `{"id"?, "slug"?, "prompt", "depends_on"?: id-or-slug | [..], "wave_index"?,
//! "task_class"? | "class"?: "cheap"|"mid"|"heavy", "agent"?}`. A directory of `*.md` prompt files
//! is a sequence package, one item per file in name order, slug from the file stem.

use serde::{Deserialize, Serialize};

use super::{ExecutionMode, TaskClass};

/// A package as written, before normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// The agent command for every item that names none.
    #[serde(default)]
    pub agent: Option<String>,
    /// The repository id.
    #[serde(default)]
    pub repo: Option<String>,
    /// Sequence (default) or graph.
    #[serde(default)]
    pub execution_mode: ExecutionMode,
    /// The items, in position order.
    pub items: Vec<PackageItem>,
}

/// One prompt of a package.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PackageItem {
    /// The item id; defaults to `item-<position>`.
    #[serde(default)]
    pub id: Option<String>,
    /// The task slug; defaults to the id when that is a valid slug, else to words of the prompt.
    #[serde(default)]
    pub slug: Option<String>,
    /// What the agent is asked to do.
    pub prompt: String,
    /// Ids or slugs of items that must succeed first (graph mode).
    #[serde(default, deserialize_with = "one_or_many")]
    pub depends_on: Vec<String>,
    /// The author's idea of the item's wave; checked against the canonical one.
    #[serde(default)]
    pub wave_index: Option<u32>,
    /// The load class.
    #[serde(default, alias = "class")]
    pub task_class: TaskClass,
    /// This item's agent command.
    #[serde(default)]
    pub agent: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(one)) => vec![one],
        Some(OneOrMany::Many(many)) => many,
    })
}

/// Why a package cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    /// The JSON does not parse or has unknown fields.
    #[error("the queue package is not valid JSON of the package format: {0}")]
    Json(String),
    /// There are no items.
    #[error("the queue package has no items")]
    Empty,
    /// A directory has no prompt files.
    #[error("the directory holds no *.md prompt files")]
    NoPromptFiles,
}

/// Parses a JSON package.
pub fn parse_json(text: &str) -> Result<Package, PackageError> {
    let package: Package = serde_json::from_str(text).map_err(|e| PackageError::Json(e.to_string()))?;
    if package.items.is_empty() {
        return Err(PackageError::Empty);
    }
    Ok(package)
}

/// A sequence package from prompt files `(file name, contents)`: `*.md` files in name order,
/// slug from the stem. Other files are ignored.
pub fn from_prompt_files(files: &[(String, String)]) -> Result<Package, PackageError> {
    let mut prompts: Vec<&(String, String)> = files.iter().filter(|(name, _)| name.ends_with(".md")).collect();
    prompts.sort_by(|a, b| a.0.cmp(&b.0));
    if prompts.is_empty() {
        return Err(PackageError::NoPromptFiles);
    }
    let items = prompts
        .into_iter()
        .map(|(name, text)| {
            let stem = name.trim_end_matches(".md");
            PackageItem {
                id: Some(slugify(stem)),
                slug: Some(slugify(stem)),
                prompt: text.clone(),
                ..PackageItem::default()
            }
        })
        .collect();
    Ok(Package { items, ..Package::default() })
}

/// A package from plain prompts (`--prompt P…`); `slug` names the single item when there is one.
pub fn from_prompts(prompts: &[String], slug: Option<&str>) -> Package {
    let items = prompts
        .iter()
        .map(|prompt| PackageItem { slug: slug.map(str::to_owned), prompt: prompt.clone(), ..PackageItem::default() })
        .collect();
    Package { items, ..Package::default() }
}

/// Turns text into a slug: lowercase ASCII letters and digits, other runs become `-`, at most
/// 48 characters, never empty.
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_matches('-').to_owned();
    if slug.is_empty() { "task".to_owned() } else { slug }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        let package = parse_json(
            r#"{"agent": "c1", "execution_mode": "graph", "items": [
                {"id": "a", "prompt": "first"},
                {"id": "b", "prompt": "second", "depends_on": "a", "class": "heavy", "agent": "c2"},
                {"prompt": "third", "depends_on": ["a", "b"], "wave_index": 2}
            ]}"#,
        )
        .unwrap();
        assert_eq!(package.execution_mode, ExecutionMode::Graph);
        assert_eq!(package.items[1].depends_on, ["a"]);
        assert_eq!(package.items[1].task_class, TaskClass::Heavy);
        assert_eq!(package.items[2].task_class, TaskClass::Mid, "the class defaults to mid");
        assert_eq!(package.items[2].depends_on, ["a", "b"]);
        assert_eq!(parse_json(r#"{"items": []}"#), Err(PackageError::Empty));
        let unknown = parse_json(r#"{"items": [{"prompt": "x", "promt": "typo"}]}"#).unwrap_err();
        assert!(unknown.to_string().contains("unknown field `promt`"), "{unknown}");
        assert!(parse_json(r#"{"items": [{"prompt": "x", "class": "huge"}]}"#).is_err());
    }

    #[test]
    fn prompt_files_run_in_name_order() {
        let files = vec![
            ("20-Second Step.md".to_owned(), "two".to_owned()),
            ("notes.txt".to_owned(), "ignored".to_owned()),
            ("10-first.md".to_owned(), "one".to_owned()),
        ];
        let package = from_prompt_files(&files).unwrap();
        let slugs: Vec<_> = package.items.iter().map(|i| i.slug.clone().unwrap()).collect();
        assert_eq!(slugs, ["10-first", "20-second-step"]);
        assert_eq!(package.execution_mode, ExecutionMode::Sequence);
        assert_eq!(from_prompt_files(&files[1..2]), Err(PackageError::NoPromptFiles));
    }

    #[test]
    fn slugs() {
        let table = [
            ("Fix the Login page!", "fix-the-login-page"),
            ("", "task"),
            ("---", "task"),
            ("a__b", "a__b"),
            ("Ünïcode ok", "n-code-ok"),
        ];
        for (text, want) in table {
            assert_eq!(slugify(text), want, "{text:?}");
        }
        assert!(slugify(&"x".repeat(100)).len() <= 48);
    }
}
