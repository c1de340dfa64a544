//! A scripted model behind the streaming OpenAI Responses API, on loopback, for Codex.
//!
//! Codex (0.171) sends `POST <base_url>/responses` with the whole conversation in `input` —
//! developer and user messages, its earlier `function_call` items and their
//! `function_call_output`s — and the tools it offers in `tools`; it reads back server-sent
//! events: `response.created`, `response.output_item.added`/`.done` (a `message` or a
//! `function_call`), `response.output_text.delta`, and `response.completed` with usage. Its
//! shell tool is `exec_command` (`{"cmd": …, "yield_time_ms": …}`); a command still running when
//! the yield time ends answers "Process running with session ID N", polled with `write_stdin`.
//!
//! The model's decisions are [`crate::script`]'s; this file speaks them as Responses items.
//!
//! Every request is recorded, for the scenarios to assert on what Codex sent. The endpoint is
//! also the agent's HTTP(S) proxy ([`Endpoint::proxy_env`]): a request for anywhere but
//! loopback lands here, is refused and recorded, so a scenario proves no other network is used.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, State};
use axum::response::sse::{Event, Sse};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::{Stream, StreamExt as _, stream};
use serde_json::{Value, json};

use crate::script::{self, Next, Outcome};

/// The name Codex's `config.toml` gives the scripted provider.
pub(crate) const PROVIDER: &str = "scripted";

/// The shell tool the scripted model calls; [`Endpoint`] checks Codex offers it.
const SHELL_TOOL: &str = "exec_command";

/// The longest a `wait-for` directive holds a reply open.
const HOLD_LIMIT: Duration = Duration::from_secs(150);

type Requests = Arc<Mutex<Vec<Value>>>;

/// Requests for anywhere else, as `METHOD uri`: the endpoint is also the agent's HTTP(S) proxy.
type Outside = Arc<Mutex<Vec<String>>>;

/// The running endpoint; stopped when dropped.
pub(crate) struct Endpoint {
    base_url: String,
    requests: Requests,
    outside: Outside,
    _runtime: tokio::runtime::Runtime,
}

impl Endpoint {
    /// Starts the endpoint on `127.0.0.1:0`.
    pub(crate) fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let requests = Requests::default();
        let outside = Outside::default();
        let refuse = {
            let outside = outside.clone();
            move |request: axum::extract::Request| async move {
                outside.lock().expect("outside lock").push(format!("{} {}", request.method(), request.uri()));
                axum::http::StatusCode::FORBIDDEN
            }
        };
        let app = Router::new()
            .route("/v1/responses", post(respond))
            .layer(DefaultBodyLimit::disable())
            .with_state(requests.clone())
            .fallback(refuse);
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self { base_url: format!("http://{addr}/v1"), requests, outside, _runtime: runtime }
    }

    /// The environment that makes this endpoint the agent's proxy for everything but loopback,
    /// so a request for anywhere else is seen (and refused) here instead of leaving the host.
    pub(crate) fn proxy_env(&self) -> Vec<(&'static str, String)> {
        let proxy = self.base_url.trim_end_matches("/v1").to_owned();
        let mut vars = Vec::new();
        for key in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
            vars.push((key, proxy.clone()));
        }
        vars.push(("NO_PROXY", "127.0.0.1,localhost".to_owned()));
        vars.push(("no_proxy", "127.0.0.1,localhost".to_owned()));
        vars
    }

    /// Every request that was not for the model (`METHOD uri`), through the proxy or not.
    pub(crate) fn outside(&self) -> Vec<String> {
        self.outside.lock().expect("outside lock").clone()
    }

    /// Every request body received so far, in order.
    pub(crate) fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// The task packets of the requests that opened a turn (one per agent iteration), in order.
    pub(crate) fn packets(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for request in self.requests() {
            if let Some(packet) = packet(&request)
                && !seen.contains(&packet)
            {
                seen.push(packet);
            }
        }
        seen
    }

    /// Writes a `CODEX_HOME` at `dir` whose `config.toml` points Codex at this endpoint, with
    /// its update check, analytics, feedback, OpenTelemetry export and plugins off; returns `dir`.
    /// Measured on 0.171 (strace, and [`Endpoint::proxy_env`]): without `[features] plugins =
    /// false` its plugin sync reaches for github.com, api.github.com and chatgpt.com.
    pub(crate) fn codex_home(&self, dir: PathBuf) -> PathBuf {
        std::fs::create_dir_all(&dir).expect("CODEX_HOME");
        let config = format!(
            "model = \"scripted-model\"\n\
             model_provider = \"{PROVIDER}\"\n\
             check_for_update_on_startup = false\n\
             \n\
             [model_providers.{PROVIDER}]\n\
             name = \"Q-COLD scripted model\"\n\
             base_url = \"{}\"\n\
             wire_api = \"responses\"\n\
             request_max_retries = 0\n\
             stream_max_retries = 0\n\
             \n\
             [analytics]\n\
             enabled = false\n\
             \n\
             [feedback]\n\
             enabled = false\n\
             \n\
             [otel]\n\
             exporter = \"none\"\n\
             \n\
             [features]\n\
             plugins = false\n",
            self.base_url
        );
        std::fs::write(dir.join("config.toml"), config).expect("config.toml");
        dir
    }
}

/// The text of the request's task packet: the last user message starting with the header.
pub(crate) fn packet(request: &Value) -> Option<String> {
    let input = request["input"].as_array()?;
    input
        .iter()
        .filter(|i| i["type"] == "message" && i["role"] == "user")
        .flat_map(|i| i["content"].as_array().into_iter().flatten())
        .filter_map(|c| c["text"].as_str())
        .rfind(|t| t.starts_with(script::PACKET_HEADER))
        .map(str::to_owned)
}

async fn respond(
    State(requests): State<Requests>,
    Json(request): Json<Value>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let first = requests.lock().expect("requests lock").is_empty();
    if first {
        let names: Vec<&str> =
            request["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
        eprintln!("scripted model: Codex offers the tools {names:?}");
    }
    requests.lock().expect("requests lock").push(request.clone());
    let turn = decide(&request);
    let number = requests.lock().expect("requests lock").len();
    let id = format!("resp_{number}");
    let created = event("response.created", json!({"type": "response.created", "response": {"id": id}}));
    let hold = turn.hold.clone();
    let rest = reply_events(&id, &turn.reply, number);
    let held = stream::once(async move {
        if let Some(path) = hold {
            let deadline = Instant::now() + HOLD_LIMIT;
            while !path.exists() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    Sse::new(stream::iter([created]).chain(held.flat_map(move |()| stream::iter(rest.clone()))).map(Ok))
}

/// One reply of the model: text that ends its turn, or a tool call.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Say(String),
    Call { name: &'static str, arguments: Value },
}

/// The model's next reply, and a file to wait for before giving it.
#[derive(Debug, Clone)]
struct Turn {
    reply: Reply,
    hold: Option<PathBuf>,
}

/// What the scripted model does next, from the packet and the calls it already made.
fn decide(request: &Value) -> Turn {
    let say = |text: &str| Turn { reply: Reply::Say(text.to_owned()), hold: None };
    let offered = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["name"] == SHELL_TOOL && t["parameters"]["properties"]["cmd"]["type"] == "string");
    if !offered {
        return say(&format!("scripted model: no {SHELL_TOOL} tool with a `cmd` string among the tools offered"));
    }
    let Some(packet) = packet(request) else {
        return say("scripted model: no task packet in the conversation");
    };
    let outputs: Vec<&str> = request["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == "function_call_output")
        .filter_map(|i| i["output"].as_str())
        .collect();
    // A command still running is polled until it ends.
    if let Some(session) = outputs.last().and_then(|o| running_session(o)) {
        let arguments = json!({"session_id": session, "chars": "", "yield_time_ms": 30000});
        return Turn { reply: Reply::Call { name: "write_stdin", arguments }, hold: None };
    }
    let done: Vec<Outcome> = outputs
        .iter()
        .filter(|o| running_session(o).is_none())
        .map(|o| failure(o).map_or(Outcome::Ok, |code| Outcome::Failed(format!("exited with code {code}"))))
        .collect();
    match script::next(&packet, &done) {
        Next::Say(text) => say(&text),
        Next::Run { command, hold } => {
            let arguments = json!({"cmd": command, "yield_time_ms": 30000});
            Turn { reply: Reply::Call { name: SHELL_TOOL, arguments }, hold }
        }
    }
}

/// The session id of a command the shell tool reports as still running.
fn running_session(output: &str) -> Option<u64> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Process running with session ID "))
        .and_then(|n| n.trim().parse().ok())
}

/// The exit code of a finished command, when it is not zero.
fn failure(output: &str) -> Option<i64> {
    let code: i64 =
        output.lines().find_map(|l| l.trim().strip_prefix("Process exited with code "))?.trim().parse().ok()?;
    (code != 0).then_some(code)
}

fn event(name: &str, data: Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// The events after `response.created` that carry `reply` and complete the response.
fn reply_events(id: &str, reply: &Reply, number: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let item = match reply {
        Reply::Say(text) => {
            let item_id = format!("msg_{number}");
            let empty = json!({"type": "message", "role": "assistant", "id": item_id, "content": []});
            events.push(event(
                "response.output_item.added",
                json!({"type": "response.output_item.added", "output_index": 0, "item": empty}),
            ));
            for delta in text.split_inclusive(' ') {
                events.push(event(
                    "response.output_text.delta",
                    json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0, "content_index": 0, "delta": delta}),
                ));
            }
            json!({"type": "message", "role": "assistant", "id": item_id, "content": [{"type": "output_text", "text": text}]})
        }
        Reply::Call { name, arguments } => {
            let item = json!({
                "type": "function_call",
                "id": format!("fc_{number}"),
                "call_id": format!("call_{number}"),
                "name": name,
                "arguments": arguments.to_string(),
            });
            events.push(event(
                "response.output_item.added",
                json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
            ));
            item
        }
    };
    events.push(event(
        "response.output_item.done",
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
    ));
    let usage = json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15});
    events.push(event(
        "response.completed",
        json!({"type": "response.completed", "response": {"id": id, "usage": usage}}),
    ));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request as Codex sends it: the packet, then each call with its output.
    fn request(outputs: &[&str]) -> Value {
        let packet = "# Q-COLD task packet: a\n\nmodel: run echo hi\n\n\
            - `qcold task closeout --outcome success --message \"<m>\"` delivers\n\
            - `qcold task closeout --outcome failed --reason \"<why>\"` when\n";
        let mut input =
            vec![json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": packet}]})];
        for (n, out) in outputs.iter().enumerate() {
            input.push(
                json!({"type": "function_call", "call_id": format!("c{n}"), "name": SHELL_TOOL, "arguments": "{}"}),
            );
            input.push(json!({"type": "function_call_output", "call_id": format!("c{n}"), "output": out}));
        }
        let tools = json!([{"type": "function", "name": SHELL_TOOL, "parameters": {"properties": {"cmd": {"type": "string"}}}}]);
        json!({"input": input, "tools": tools})
    }

    fn call(turn: &Turn) -> (&'static str, Value) {
        match &turn.reply {
            Reply::Call { name, arguments } => (*name, arguments.clone()),
            Reply::Say(text) => panic!("said {text}"),
        }
    }

    #[test]
    fn outputs_of_the_shell_tool_become_outcomes_and_a_running_command_is_polled() {
        assert_eq!(call(&decide(&request(&[]))), (SHELL_TOOL, json!({"cmd": "echo hi", "yield_time_ms": 30000})));
        let ok = "Chunk ID: 1\nWall time: 0.2 seconds\nProcess exited with code 0\nOutput:\nhi\n";
        assert!(call(&decide(&request(&[ok]))).1["cmd"].as_str().unwrap().contains("--outcome success"));
        let bad = "Process exited with code 2\nOutput:\n";
        let (_, failed) = call(&decide(&request(&[bad])));
        assert!(failed["cmd"].as_str().unwrap().ends_with("--reason '`echo hi` exited with code 2'"), "{failed}");
        let running = "Process running with session ID 7\nOutput:\n";
        let poll = call(&decide(&request(&[running])));
        assert_eq!(poll, ("write_stdin", json!({"session_id": 7, "chars": "", "yield_time_ms": 30000})));
        let polled = "Process exited with code 0\nOutput:\n";
        assert!(call(&decide(&request(&[running, polled]))).1["cmd"].as_str().unwrap().contains("--outcome success"));
    }
}
