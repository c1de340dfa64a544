//! `GET /api/agents/{id}/terminal`: a terminal agent's live WebSocket against a real daemon and
//! real tmux.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use qcold_core::api::ErrorBody;
use qcold_core::terminal::ServerMessage;
use qcold_tests::{Daemon, Env, tmux, wait_until};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any one expected frame may take.
const WAIT: Duration = Duration::from_secs(10);

/// An agent that prints a banner, then echoes each line as `got:<line>` until it reads `quit`.
const ECHO: &str = r#"echo banner-ready; while read -r line; do [ "$line" = quit ] && exit 7; echo "got:$line"; done"#;

fn start_terminal_agent(env: &Env, id: &str, script: &str) {
    env.qcold(&["agent", "start", "--track", "t", "--id", id, "--terminal", "--", "bash", "-c", script]).ok();
}

fn url(daemon: &Daemon, id: &str) -> String {
    format!("ws://{}/api/agents/{id}/terminal", daemon.listen())
}

/// Connects offering the `qcold` subprotocol, as the dashboard does.
async fn connect(daemon: &Daemon, id: &str) -> Result<Socket, tungstenite::Error> {
    let mut request = url(daemon, id).into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "qcold".parse().expect("header"));
    let (socket, response) = tokio_tungstenite::connect_async(request).await?;
    assert_eq!(response.headers()["sec-websocket-protocol"], "qcold", "the server selects the qcold subprotocol");
    Ok(socket)
}

/// The HTTP status and error body of a refused upgrade.
async fn refused(daemon: &Daemon, id: &str) -> (u16, String) {
    match connect(daemon, id).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            let error = serde_json::from_slice::<ErrorBody>(&body).map(|b| b.error).unwrap_or_default();
            (response.status().as_u16(), error)
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, the socket opened"),
    }
}

async fn next(socket: &mut Socket) -> Message {
    match tokio::time::timeout(WAIT, socket.next()).await {
        Ok(Some(Ok(message))) => message,
        Ok(other) => panic!("the socket ended: {other:?}"),
        Err(_) => panic!("no frame within {WAIT:?}"),
    }
}

/// Reads output frames until their text contains `needle`; returns all of it. A text frame on the
/// way fails the test.
async fn output_until(socket: &mut Socket, needle: &str) -> String {
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match next(socket).await {
            Message::Binary(bytes) => seen.extend_from_slice(&bytes),
            other => {
                panic!("unexpected {other:?} while waiting for {needle:?} in {:?}", String::from_utf8_lossy(&seen))
            }
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Reads until a text frame, skipping output.
async fn message(socket: &mut Socket) -> ServerMessage {
    loop {
        match next(socket).await {
            Message::Binary(_) => {}
            Message::Text(text) => return serde_json::from_str(&text).expect("a ServerMessage"),
            other => panic!("expected a server message, got {other:?}"),
        }
    }
}

async fn send(socket: &mut Socket, json: &str) {
    socket.send(Message::Text(json.into())).await.expect("send");
}

fn window_size(env: &Env, session: &str) -> String {
    tmux(env, &["display-message", "-p", "-t", &format!("={session}:"), "#{window_width}x#{window_height}"])
}

/// Ends Q-COLD's tmux server of an environment on drop, so a failing test leaves no agent behind.
struct KillServer<'a>(&'a Env);

impl Drop for KillServer<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(self.0.state_dir().join("tmux.sock"))
            .arg("kill-server")
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// How many clients (the daemon's control clients) are attached to Q-COLD's tmux server.
fn clients(env: &Env) -> usize {
    let out = tmux(env, &["list-clients", "-F", "#{client_name}"]);
    out.lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_socket_shows_the_screen_streams_output_and_takes_input() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let _tmux = KillServer(&env);
    start_terminal_agent(&env, "term", ECHO);
    let tail = || env.qcold(&["agent", "tail", "term"]).ok();
    assert!(wait_until(WAIT, || tail().contains("banner-ready")), "{}", tail());

    let mut socket = connect(&daemon, "term").await.expect("connect");
    let Message::Binary(screen) = next(&mut socket).await else { panic!("the first frame is the screen") };
    let screen = String::from_utf8_lossy(&screen).into_owned();
    assert!(screen.starts_with("\u{1b}[0m\u{1b}[H\u{1b}[2J") && screen.contains("banner-ready"), "{screen:?}");

    send(&mut socket, r#"{"type":"input","data":"hello\r"}"#).await;
    output_until(&mut socket, "got:hello").await;

    assert_eq!(window_size(&env, "qcold-term"), "200x50");
    send(&mut socket, r#"{"type":"resize","cols":100,"rows":30}"#).await;
    assert!(wait_until(WAIT, || window_size(&env, "qcold-term") == "100x30"), "{}", window_size(&env, "qcold-term"));

    send(&mut socket, "this is not json").await;
    let ServerMessage::Error { message: bad } = message(&mut socket).await else { panic!("an error message") };
    assert!(bad.starts_with("invalid terminal message: "), "{bad}");
    send(&mut socket, r#"{"type":"resize","cols":1,"rows":30}"#).await;
    assert_eq!(
        message(&mut socket).await,
        ServerMessage::Error { message: "cols must be between 2 and 1000, got 1".into() }
    );
    // The socket stays open after bad frames: keys and input still arrive.
    send(&mut socket, r#"{"type":"input","data":"after"}"#).await;
    send(&mut socket, r#"{"type":"key","key":"Enter"}"#).await;
    output_until(&mut socket, "got:after").await;
    assert_eq!(clients(&env), 1, "one control client serves the socket");
    socket.close(None).await.expect("close");
    assert!(wait_until(WAIT, || clients(&env) == 0), "the control client detaches when its socket goes");

    // A reconnecting client first gets the screen, with what was said before.
    let mut again = connect(&daemon, "term").await.expect("reconnect");
    let Message::Binary(screen) = next(&mut again).await else { panic!("the first frame is the screen") };
    let screen = String::from_utf8_lossy(&screen).into_owned();
    assert!(
        screen.contains("banner-ready") && screen.contains("got:hello") && screen.contains("got:after"),
        "{screen:?}"
    );

    assert_eq!(refused(&daemon, "nobody").await, (404, "no agent nobody".to_owned()));
    assert_eq!(daemon.get("/api/agents/nobody/terminal").0, 404, "a plain GET is refused the same way");
    env.qcold(&["agent", "start", "--track", "t", "--id", "plain", "--", "true"]).ok();
    assert_eq!(refused(&daemon, "plain").await, (409, "agent plain runs without a terminal".to_owned()));

    // The end of the session: `exit` with the agent's code, then a normal close.
    send(&mut again, r#"{"type":"input","data":"quit\r"}"#).await;
    assert_eq!(message(&mut again).await, ServerMessage::Exit { code: Some(7) });
    let Message::Close(Some(frame)) = next(&mut again).await else { panic!("a close frame follows the exit") };
    assert_eq!(frame.code, CloseCode::Normal);
    let (status, error) = refused(&daemon, "term").await;
    assert_eq!(status, 409, "{error}");
    assert!(error.starts_with("terminal session qcold-term has ended"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_socket_closes_when_the_daemon_shuts_down() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let _tmux = KillServer(&env);
    start_terminal_agent(&env, "held", ECHO);
    let mut socket = connect(&daemon, "held").await.expect("connect");
    assert!(matches!(next(&mut socket).await, Message::Binary(_)), "the screen comes first");

    let stopped = tokio::task::spawn_blocking(move || daemon.terminate());
    let mut closed = None;
    while closed.is_none() {
        match next(&mut socket).await {
            Message::Close(frame) => closed = Some(frame),
            Message::Binary(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(closed.flatten().map(|f| f.code), Some(CloseCode::Away));
    assert_eq!(stopped.await.expect("join"), Some(0), "the daemon exits cleanly with a socket open");
    // The agent outlives the daemon and its socket.
    env.qcold(&["agent", "stop", "held"]).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_lines_of_an_agent_that_exits_at_once_reach_the_socket_before_its_exit() {
    let env = Env::new();
    let daemon = Daemon::start(&env);
    let _tmux = KillServer(&env);
    // Told to go, it writes a burst and exits in the same instant: tmux drops pane output it had
    // not yet handed to the socket's control client when the pane closes.
    let script = r#"echo armed; read -r _; seq 1 50000; echo last-words; exit 4"#;
    start_terminal_agent(&env, "burst", script);
    let mut socket = connect(&daemon, "burst").await.expect("connect");
    output_until(&mut socket, "armed").await;
    send(&mut socket, r#"{"type":"input","data":"go\r"}"#).await;
    let mut seen = Vec::new();
    let code = loop {
        match next(&mut socket).await {
            Message::Binary(bytes) => seen.extend_from_slice(&bytes),
            Message::Text(text) => match serde_json::from_str(&text).expect("a ServerMessage") {
                ServerMessage::Exit { code } => break code,
                other => panic!("unexpected {other:?}"),
            },
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(code, Some(4));
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.contains("last-words"), "the agent's last line never reached the socket: {seen:?}");
    // Its session is gone and it kept its terminal to itself (no log): `tail` reads the kept screen.
    let tail = env.qcold(&["agent", "tail", "burst", "--lines", "3"]).ok();
    assert!(tail.trim_end().ends_with("last-words"), "{tail:?}");
}
