//! A scripted Anthropic Messages endpoint on loopback for the real Claude Code CLI: it answers
//! `POST /v1/messages` (streamed as server-sent events, or whole), token counting and any other
//! request, records every one, and decides each reply from directives in the conversation.
//!
//! The model is [`crate::script`]'s, shared with the Codex endpoint: it reads the packet (the
//! first user message) for `model: …` directives and the tool results in the conversation for
//! how far it is, so replies depend only on the request and concurrent agents share one
//! endpoint. Its commands go through the tool Claude Code offers for shell commands (found in the
//! request's `tools`: the one whose only required input is a string `command`, `Bash` in 2.1).
//! A `wait-for` hold streams `message_start` at once and the rest when the file exists.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::script::{self, Next, Outcome};

/// The longest a `wait-for` directive holds a reply open.
const HOLD_LIMIT: Duration = Duration::from_secs(150);

/// One request as the endpoint received it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// `POST`, `GET`, …
    pub method: String,
    /// The path and query (`/v1/messages?beta=true`).
    pub path: String,
    /// The JSON body (`null` when empty or not JSON).
    pub body: Value,
    /// What the scripted model answered, for a Messages call.
    pub reply: Option<Reply>,
}

impl Recorded {
    /// The shell command the model's reply asked for, if any.
    pub(crate) fn asked(&self) -> Option<&str> {
        self.reply.as_ref()?.tool.as_ref()?.1["command"].as_str()
    }

    /// How many tool results in the conversation are marked as errors (`is_error`).
    pub(crate) fn failed_tool_results(&self) -> usize {
        user_messages(&self.body)
            .filter_map(|m| m["content"].as_array())
            .flatten()
            .filter(|b| b["type"] == "tool_result" && b["is_error"] == true)
            .count()
    }

    /// Whether this came through the endpoint as the agent's proxy: a request for elsewhere
    /// (`CONNECT host:443`, or an absolute URI for another host).
    pub(crate) fn is_outside(&self) -> bool {
        self.method == "CONNECT" || self.path.starts_with("http")
    }

    /// Whether this is a model turn of the agent (a Messages call offering a shell tool).
    pub(crate) fn is_turn(&self) -> bool {
        self.path.starts_with("/v1/messages") && !self.path.contains("count_tokens") && shell_tool(&self.body).is_some()
    }

    /// The text of the first user message (the packet, for a queue agent).
    pub(crate) fn prompt(&self) -> String {
        first_user_text(&self.body)
    }

    /// The text of every tool result in the conversation, oldest first (what the shell steps
    /// printed, as Claude Code reports it back).
    pub(crate) fn tool_outputs(&self) -> Vec<String> {
        user_messages(&self.body)
            .filter_map(|m| m["content"].as_array())
            .flatten()
            .filter(|b| b["type"] == "tool_result")
            .map(|b| result_text(&b["content"]))
            .collect()
    }
}

/// The endpoint; it stops when dropped.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// `http://127.0.0.1:<port>`, for `ANTHROPIC_BASE_URL`.
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The placeholder key the CLI is given; the endpoint checks it arrives.
pub(crate) const API_KEY: &str = "sk-ant-test-qcold-scripted";

impl Endpoint {
    /// Starts the endpoint on `127.0.0.1:0`.
    pub(crate) fn start() -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&requests);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
                addr_tx.send(listener.local_addr().expect("local addr")).expect("send addr");
                let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
                    let shared = Arc::clone(&shared);
                    async move { handle(&shared, &method, &uri, &body).await }
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("the endpoint binds");
        Self { url: format!("http://{addr}"), requests, stop: Some(stop), thread: Some(thread) }
    }

    /// Every request so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// The model turns so far (Messages calls offering the shell tool).
    pub(crate) fn turns(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(Recorded::is_turn).collect()
    }

    /// Requests for anywhere but the endpoint itself (refused): Claude Code reaching for the
    /// network beyond its model.
    pub(crate) fn outside(&self) -> Vec<String> {
        self.requests().iter().filter(|r| r.is_outside()).map(|r| format!("{} {}", r.method, r.path)).collect()
    }

    /// The distinct packets (first user messages) the agents sent, in order of first arrival.
    pub(crate) fn packets(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for turn in self.turns() {
            let prompt = turn.prompt();
            if !seen.contains(&prompt) {
                seen.push(prompt);
            }
        }
        seen
    }

    /// The environment that points Claude Code at this endpoint and keeps it off the network.
    pub(crate) fn claude_env(&self) -> Vec<(String, String)> {
        [
            ("ANTHROPIC_BASE_URL", self.url.as_str()),
            ("ANTHROPIC_API_KEY", API_KEY),
            // The one that matters: without it Claude Code resolves api.anthropic.com (measured
            // with strace on 2.1.197); the others name what it turns off.
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("DISABLE_ERROR_REPORTING", "1"),
            // The endpoint is also its proxy, so anything else it asks for is recorded, refused.
            ("HTTPS_PROXY", self.url.as_str()),
            ("HTTP_PROXY", self.url.as_str()),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn handle(shared: &Mutex<Vec<Recorded>>, method: &Method, uri: &Uri, body: &[u8]) -> Response {
    // A proxied request names its target whole (`CONNECT host:443`, `GET http://host/…`).
    let proxied = method == Method::CONNECT || uri.host().is_some();
    let path = if proxied {
        uri.to_string()
    } else {
        uri.path_and_query().map_or_else(|| uri.path().to_owned(), ToString::to_string)
    };
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let messages = !proxied && method == Method::POST && uri.path() == "/v1/messages";
    let reply = messages.then(|| decide(&body));
    shared.lock().expect("requests lock").push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        body: body.clone(),
        reply: reply.clone(),
    });
    if proxied {
        eprintln!("scripted Anthropic endpoint: refused a request for elsewhere: {method} {path}");
        return StatusCode::FORBIDDEN.into_response();
    }
    match (method, uri.path(), reply) {
        (&Method::POST, "/v1/messages/count_tokens", _) => {
            let tokens = body.to_string().len() / 4;
            axum::Json(json!({"input_tokens": tokens})).into_response()
        }
        (_, _, Some(reply)) => {
            let model = body["model"].as_str().unwrap_or("scripted").to_owned();
            if body["stream"] == true {
                let (start, rest) = sse(&model, &reply);
                let hold = reply.hold.clone();
                let held = futures_util::stream::once(async move {
                    if let Some(path) = hold {
                        let deadline = Instant::now() + HOLD_LIMIT;
                        while !path.exists() && Instant::now() < deadline {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    rest
                });
                let chunks = futures_util::stream::iter([start]).chain(held).map(Ok::<_, std::convert::Infallible>);
                ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(chunks)).into_response()
            } else {
                axum::Json(whole(&model, &reply)).into_response()
            }
        }
        // Claude Code probes the base URL (`GET /`) before its first call.
        (_, "/", _) => StatusCode::OK.into_response(),
        _ => {
            eprintln!("scripted Anthropic endpoint: unknown request {method} {path}");
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"type": "error", "error": {"type": "not_found_error", "message": path}})),
            )
                .into_response()
        }
    }
}

/// What the model says next: text, then optionally one shell command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// Text streamed first (may be empty).
    pub text: String,
    /// The shell tool's name and its input, when the turn calls it.
    pub tool: Option<(String, Value)>,
    /// The step this reply is (how many tool results came before it); part of the tool call's id.
    pub step: usize,
    /// A file the reply waits for before its content is streamed.
    pub hold: Option<PathBuf>,
}

/// The scripted decision for one Messages request.
pub(crate) fn decide(body: &Value) -> Reply {
    let Some((tool, schema)) = shell_tool(body) else {
        // A side request (a title, a summary): any short text does.
        return Reply { text: "ok".into(), tool: None, step: 0, hold: None };
    };
    let packet = first_user_text(body);
    let done = tool_outcomes(body);
    let step = done.len();
    match script::next(&packet, &done) {
        Next::Say(text) => Reply { text, tool: None, step, hold: None },
        Next::Run { command, hold } => Reply {
            text: format!("scripted model: step {}", step + 1),
            tool: Some((tool, shell_input(&schema, &command))),
            step,
            hold,
        },
    }
}

/// The outcomes of the commands already run: Claude Code marks a command that failed with
/// `is_error` and puts `Exit code <n>` first in its result.
fn tool_outcomes(body: &Value) -> Vec<Outcome> {
    user_messages(body)
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| {
            if b["is_error"] == true {
                let text = result_text(&b["content"]);
                Outcome::Failed(text.lines().next().unwrap_or("failed").to_lowercase())
            } else {
                Outcome::Ok
            }
        })
        .collect()
}

fn result_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        other => other.as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect(),
    }
}

/// The tool among the request's `tools` that runs a shell command: the one whose only required
/// input is a string `command` (Claude Code 2.1 calls it `Bash`). Its name and input schema.
pub(crate) fn shell_tool(body: &Value) -> Option<(String, Value)> {
    body["tools"].as_array()?.iter().find_map(|t| {
        let schema = &t["input_schema"];
        let required = schema["required"].as_array()?;
        let is_shell = required.len() == 1
            && required[0] == "command"
            && schema["properties"]["command"]["type"] == "string"
            && t["description"].as_str().is_some_and(|d| d.to_lowercase().contains("bash"));
        is_shell.then(|| (t["name"].as_str().unwrap_or_default().to_owned(), schema.clone()))
    })
}

fn shell_input(schema: &Value, command: &str) -> Value {
    let mut input = json!({"command": command});
    if schema["properties"]["description"].is_object() {
        input["description"] = json!("Run a scripted step");
    }
    input
}

fn user_messages(body: &Value) -> impl Iterator<Item = &Value> {
    body["messages"].as_array().into_iter().flatten().filter(|m| m["role"] == "user")
}

fn first_user_text(body: &Value) -> String {
    let Some(first) = user_messages(body).next() else { return String::new() };
    match &first["content"] {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .filter(|t| !t.trim_start().starts_with("<system-reminder>"))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn message_start(model: &str) -> Value {
    json!({
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    })
}

fn tool_id(reply: &Reply, input: &Value) -> String {
    // Unique per conversation step; Claude Code pairs results with it.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("{}{input}", reply.step).bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("toolu_scripted_{hash:016x}")
}

/// The reply as a streamed Messages response: `message_start`, and the rest.
fn sse(model: &str, reply: &Reply) -> (String, String) {
    let start = json!({"type": "message_start", "message": message_start(model)});
    let start = format!("event: message_start\ndata: {start}\n\n");
    let mut events = Vec::new();
    let mut index = 0;
    if !reply.text.is_empty() {
        events.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
        ));
        for chunk in chunks(&reply.text, 40) {
            events.push((
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": chunk}}),
            ));
        }
        events.push(("content_block_stop", json!({"type": "content_block_stop", "index": index})));
        index += 1;
    }
    if let Some((name, input)) = &reply.tool {
        let block = json!({"type": "tool_use", "id": tool_id(reply, input), "name": name, "input": {}});
        events.push((
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        for chunk in chunks(&input.to_string(), 64) {
            events.push(("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": chunk}})));
        }
        events.push(("content_block_stop", json!({"type": "content_block_stop", "index": index})));
    }
    let stop = if reply.tool.is_some() { "tool_use" } else { "end_turn" };
    events.push(("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 20}})));
    events.push(("message_stop", json!({"type": "message_stop"})));
    (start, events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect())
}

/// The reply as a whole (non-streamed) Messages response.
fn whole(model: &str, reply: &Reply) -> Value {
    let mut message = message_start(model);
    let mut content = Vec::new();
    if !reply.text.is_empty() {
        content.push(json!({"type": "text", "text": reply.text}));
    }
    if let Some((name, input)) = &reply.tool {
        content.push(json!({"type": "tool_use", "id": tool_id(reply, input), "name": name, "input": input}));
    }
    message["content"] = Value::Array(content);
    message["stop_reason"] = json!(if reply.tool.is_some() { "tool_use" } else { "end_turn" });
    message
}

fn chunks(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_tool_is_found_by_its_schema_and_failed_results_are_failed_steps() {
        let bash = json!({"name": "Bash", "description": "Executes a given bash command",
            "input_schema": {"required": ["command"],
                "properties": {"command": {"type": "string"}, "description": {"type": "string"}}}});
        let read = json!({"name": "Read", "description": "Reads a file", "input_schema": {"required": ["file_path"]}});
        let packet = "# Q-COLD task packet: a\n\nmodel: run false\n\n\
            - `\"/q/qcold\" task closeout --outcome failed --reason \"<why>\"` when\n";
        let results = [json!({"type": "tool_result", "tool_use_id": "t", "is_error": true, "content": "Exit code 1"})];
        let body = json!({"tools": [read, bash], "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                                         {"type": "text", "text": packet}]},
            {"role": "assistant", "content": []},
            {"role": "user", "content": results}]});
        assert_eq!(shell_tool(&body).map(|(name, _)| name).as_deref(), Some("Bash"));
        assert_eq!(tool_outcomes(&body), [Outcome::Failed("exit code 1".into())]);
        let reply = decide(&body);
        let (name, input) = reply.tool.expect("a shell call");
        assert_eq!(name, "Bash");
        assert_eq!(input["command"], "\"/q/qcold\" task closeout --outcome failed --reason '`false` exit code 1'");
        assert_eq!(input["description"], "Run a scripted step", "the schema's optional description is given");
        let (start, rest) = sse("m", &decide(&body));
        assert!(start.starts_with("event: message_start\n"));
        assert!(rest.contains("\"input_json_delta\"") && rest.contains("\"stop_reason\":\"tool_use\""), "{rest}");
    }
}
