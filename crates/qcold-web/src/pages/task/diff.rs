//! A task's diff rendered per file: hunk headers, added, removed and context lines coloured.

use leptos::prelude::*;
use qcold_core::api::tasks::{DiffSource, TaskDiff};

/// What a line of a unified diff is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// `diff --git`, `index`, `---`/`+++` and other file header lines.
    Meta,
    /// `@@ … @@`.
    Hunk,
    /// `+…` inside a hunk.
    Added,
    /// `-…` inside a hunk.
    Removed,
    /// ` …` inside a hunk.
    Context,
}

impl Line {
    fn class(self) -> &'static str {
        match self {
            Self::Meta => "meta",
            Self::Hunk => "hunk",
            Self::Added => "add",
            Self::Removed => "del",
            Self::Context => "ctx",
        }
    }
}

/// One file's part of the diff: its path and its classified lines.
#[derive(Debug, Clone, PartialEq, Eq)]
struct File {
    path: String,
    lines: Vec<(Line, String)>,
}

/// Splits a unified diff into files at `diff --git` lines; a `+`/`-` counts as a change only
/// after the file's first hunk header, so `--- a/x` and `+++ b/x` stay headers.
fn split(diff: &str) -> Vec<File> {
    let mut files: Vec<File> = Vec::new();
    let mut in_hunk = false;
    for text in diff.lines() {
        if let Some(rest) = text.strip_prefix("diff --git ") {
            let path = rest.rsplit_once(" b/").map_or(rest, |(_, b)| b).to_owned();
            files.push(File { path, lines: Vec::new() });
            in_hunk = false;
        }
        if files.is_empty() {
            files.push(File { path: String::new(), lines: Vec::new() });
        }
        let kind = if text.starts_with("diff --git ") {
            Line::Meta
        } else if text.starts_with("@@") {
            in_hunk = true;
            Line::Hunk
        } else if !in_hunk {
            Line::Meta
        } else if text.starts_with('+') {
            Line::Added
        } else if text.starts_with('-') {
            Line::Removed
        } else if text.starts_with(' ') || text.is_empty() {
            Line::Context
        } else {
            Line::Meta
        };
        if let Some(file) = files.last_mut() {
            file.lines.push((kind, text.to_owned()));
        }
    }
    files
}

/// The diff section.
#[component]
pub(crate) fn DiffView(diff: TaskDiff) -> impl IntoView {
    let source = match diff.source {
        DiffSource::Worktree => "from the worktree (uncommitted changes included)",
        DiffSource::Branch => "from the task branch (its worktree is gone)",
        DiffSource::Snapshot => "from the newest snapshot (worktree and branch are gone)",
        DiffSource::Nothing => "nothing of the task's work is left to compare",
    };
    let head = diff.head.as_deref().map(short).unwrap_or("—").to_owned();
    let summary = format!("{} → {head}, {source}", short(&diff.base_commit));
    let files = split(&diff.diff);
    let empty = files.is_empty() && diff.source != DiffSource::Nothing;
    let files = files
        .into_iter()
        .map(|file| {
            let lines = file
                .lines
                .into_iter()
                .map(|(kind, text)| view! { <div class=kind.class()>{text}</div> })
                .collect_view();
            view! {
                <details class="diff-file" open data-testid=format!("diff-file-{}", file.path)>
                    <summary>{file.path.clone()}</summary>
                    <pre class="diff">{lines}</pre>
                </details>
            }
        })
        .collect_view();
    view! {
        <section class="task-diff" data-testid="task-diff">
            <h2>"Diff"</h2>
            <p class="reason" data-testid="diff-source">{summary}</p>
            {diff.truncated.then(|| view! {
                <p class="error" data-testid="diff-truncated">"The diff is longer than 1 MiB and was cut; what follows is its beginning only."</p>
            })}
            {empty.then(|| view! { <p class="empty">"No changes against the base."</p> })}
            {files}
        </section>
    }
}

/// The first 10 characters of a commit id.
pub(crate) fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}
