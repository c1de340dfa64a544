//! Rendering an agent CLI's machine-readable output stream as text an operator can read in its
//! terminal, its `agent tail` and its log.
//!
//! Claude Code in print mode (`claude -p`) shows nothing until it ends unless asked for
//! `--output-format stream-json --verbose`: one JSON object per line (`system`, `assistant`,
//! `user`, `result`). The wrapper (`qcold agent-run --render claude-stream-json`) passes each
//! line through [`Render::line`], so the terminal shows each step as it happens: the assistant's
//! words, the tools it calls, a few lines of what they returned, and the result with its cost.
//!
//! Rendering is tolerant: a line that is not JSON (a warning the CLI printed) passes through as
//! it is, and an object of a kind not known here is left out rather than shown raw.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How an agent's standard output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Render {
    /// As the command writes it.
    #[default]
    Plain,
    /// Claude Code's `--output-format stream-json` events, rendered as text.
    ClaudeStreamJson,
}

/// How many lines of a tool's result are shown; the rest are counted.
pub const RESULT_LINES: usize = 6;

/// How many characters of one shown line are kept.
const LINE_CHARS: usize = 200;

impl Render {
    /// The name `agent-run --render` takes.
    pub fn name(self) -> &'static str {
        match self {
            Render::Plain => "plain",
            Render::ClaudeStreamJson => "claude-stream-json",
        }
    }

    /// The rendering named `name`, if any.
    pub fn from_name(name: &str) -> Option<Render> {
        [Render::Plain, Render::ClaudeStreamJson].into_iter().find(|r| r.name() == name)
    }

    /// The text one output line (without its newline) becomes: `None` for nothing to show.
    /// Every line of the text ends with a newline.
    pub fn line(self, line: &str) -> Option<String> {
        match self {
            Render::Plain => Some(format!("{line}\n")),
            Render::ClaudeStreamJson => claude(line),
        }
    }
}

fn claude(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return None;
    }
    let Ok(event) = serde_json::from_str::<Value>(trimmed) else { return Some(format!("{line}\n")) };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut out = String::new();
    match event.get("type").and_then(Value::as_str) {
        Some("system") if event.get("subtype").and_then(Value::as_str) == Some("init") => {
            let model = text(&event, "model").unwrap_or_else(|| "?".into());
            let cwd = text(&event, "cwd").unwrap_or_default();
            let _ = writeln!(out, "● claude started: model {model}, in {cwd}");
        }
        Some("assistant") => {
            for block in content(&event) {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let words = text(block, "text").unwrap_or_default();
                        for l in words.trim().lines() {
                            let _ = writeln!(out, "{}", clip(l));
                        }
                    }
                    Some("tool_use") => {
                        let name = text(block, "name").unwrap_or_else(|| "tool".into());
                        let _ = writeln!(out, "▸ {name}: {}", clip(&tool_input(block.get("input"))));
                    }
                    _ => {}
                }
            }
        }
        Some("user") => {
            for block in content(&event) {
                if block.get("type").and_then(Value::as_str) == Some("tool_result") {
                    let failed = block.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                    result_lines(&mut out, &result_text(block.get("content")), failed);
                }
            }
        }
        Some("result") => {
            let subtype = text(&event, "subtype").unwrap_or_else(|| "ended".into());
            let failed = event.get("is_error").and_then(Value::as_bool).unwrap_or(false);
            let mut facts = Vec::new();
            if let Some(ms) = event.get("duration_ms").and_then(Value::as_f64) {
                facts.push(format!("{:.1} s", ms / 1000.0));
            }
            if let Some(turns) = event.get("num_turns").and_then(Value::as_u64) {
                facts.push(format!("{turns} turns"));
            }
            if let Some(cost) = event.get("total_cost_usd").and_then(Value::as_f64) {
                facts.push(format!("${cost:.4}"));
            }
            let verdict = if failed { "failed" } else { "done" };
            let facts = if facts.is_empty() { String::new() } else { format!(": {}", facts.join(", ")) };
            let _ = writeln!(out, "● claude {verdict} ({subtype}){facts}");
            if failed && let Some(result) = text(&event, "result") {
                let _ = writeln!(out, "  {}", clip(result.trim()));
            }
        }
        _ => {}
    }
    (!out.is_empty()).then_some(out)
}

/// The content blocks of an `assistant` or `user` event's message.
fn content(event: &Value) -> impl Iterator<Item = &Value> {
    event.pointer("/message/content").and_then(Value::as_array).into_iter().flatten()
}

/// A tool's input in one line: the command of a shell tool, a file path, else compact JSON.
fn tool_input(input: Option<&Value>) -> String {
    let Some(input) = input else { return String::new() };
    for key in ["command", "file_path", "path", "pattern", "url"] {
        if let Some(value) = input.get(key).and_then(Value::as_str) {
            return value.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }
    input.to_string()
}

/// A tool result's text: a string, or the text blocks of a list.
fn result_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => {
            blocks.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

fn result_lines(out: &mut String, text: &str, failed: bool) {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mark = if failed { "✗" } else { "│" };
    if lines.is_empty() {
        let _ = writeln!(out, "  {mark} (no output)");
    }
    for l in lines.iter().take(RESULT_LINES) {
        let _ = writeln!(out, "  {mark} {}", clip(l));
    }
    if lines.len() > RESULT_LINES {
        let _ = writeln!(out, "  {mark} … {} more lines", lines.len() - RESULT_LINES);
    }
}

/// `line` cut to [`LINE_CHARS`] characters.
fn clip(line: &str) -> String {
    match line.char_indices().nth(LINE_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn render(lines: &[&str]) -> String {
        lines.iter().filter_map(|l| Render::ClaudeStreamJson.line(l)).collect()
    }

    #[test]
    fn a_claude_stream_reads_as_its_steps() {
        let long: String = (1..=9).map(|i| format!("line {i}\\n")).collect();
        let stream = [
            r#"{"type":"system","subtype":"init","cwd":"/w/web/task-001","session_id":"s","model":"claude-x","tools":["Bash"]}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"I will commit the change.\n"},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"git add -A &&\n  git commit -m 'note'","description":"commit"}}]}}"#,
            &format!(
                r#"{{"type":"user","message":{{"content":[{{"type":"tool_result","tool_use_id":"t1","content":"{long}"}}]}}}}"#
            ),
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t2","is_error":true,"content":[{"type":"text","text":"qcold: command not found"}]}]}}"#,
            r#"{"type":"stream_event","event":{}}"#,
            "warning: not json",
            "",
            r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":12345,"num_turns":3,"total_cost_usd":0.0123,"result":"ok"}"#,
        ];
        expect![[r#"
            ● claude started: model claude-x, in /w/web/task-001
            I will commit the change.
            ▸ Bash: git add -A && git commit -m 'note'
              │ line 1
              │ line 2
              │ line 3
              │ line 4
              │ line 5
              │ line 6
              │ … 3 more lines
              ✗ qcold: command not found
            warning: not json
            ● claude done (success): 12.3 s, 3 turns, $0.0123
        "#]]
        .assert_eq(&render(&stream));
    }

    #[test]
    fn a_failed_result_says_why() {
        let stream =
            [r#"{"type":"result","subtype":"error_during_execution","is_error":true,"result":"API Error: 401"}"#];
        expect![[r#"
            ● claude failed (error_during_execution)
              API Error: 401
        "#]]
        .assert_eq(&render(&stream));
    }

    #[test]
    fn plain_output_passes_unchanged_and_names_round_trip() {
        assert_eq!(Render::Plain.line("{\"type\":\"x\"}"), Some("{\"type\":\"x\"}\n".into()));
        for render in [Render::Plain, Render::ClaudeStreamJson] {
            assert_eq!(Render::from_name(render.name()), Some(render));
        }
        assert_eq!(Render::from_name("html"), None);
    }
}
