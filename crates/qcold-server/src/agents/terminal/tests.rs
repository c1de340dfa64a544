//! The live terminal against a real tmux server in a temp dir.

use std::time::Duration;

use super::*;

/// A tmux server of its own with one session running `script` in bash, killed on drop.
struct Session {
    tmux: Tmux,
    terminal: Terminal,
    dir: tempfile::TempDir,
}

impl Session {
    fn start(script: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tmux = Tmux::new(dir.path());
        let session = "qcold-t".to_owned();
        let argv = ["bash".to_owned(), "-c".to_owned(), script.to_owned()];
        tmux.new_session(&session, dir.path(), &argv).unwrap();
        Self { tmux, terminal: Terminal { target: format!("{session}:0.0"), session }, dir }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(self.tmux.socket())
            .arg("kill-server")
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The text of a rendered screen: escape sequences dropped, a cursor move to a row is a line
/// break (that is how [`control::render`] places lines).
fn screen_text(painted: &[u8]) -> String {
    let text = String::from_utf8_lossy(painted);
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        let mut sequence = String::new();
        for c in chars.by_ref() {
            sequence.push(c);
            if c.is_ascii_alphabetic() && c != '[' {
                break;
            }
        }
        if sequence.ends_with(";1H") {
            out.push('\n');
        }
    }
    out
}

/// Reads updates until `done` holds for the output so far; fails after ten seconds.
async fn read_until(live: &mut LiveTerminal, mut done: impl FnMut(&str) -> bool) -> String {
    let mut seen = Vec::new();
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        while !done(&String::from_utf8_lossy(&seen)) {
            match live.next().await {
                Update::Output(bytes) => seen.extend_from_slice(&bytes),
                Update::Refused(message) => panic!("refused: {message}"),
                Update::Ended => panic!("ended early; output so far: {:?}", String::from_utf8_lossy(&seen)),
            }
        }
    });
    let outcome = wait.await;
    let seen = String::from_utf8_lossy(&seen).into_owned();
    assert!(outcome.is_ok(), "timed out; output so far: {seen:?}");
    seen
}

#[tokio::test]
async fn screen_then_stream_without_gap_or_repeat() {
    // Counts as fast as bash can, so the attach lands in the middle of a flood of output.
    let session = Session::start("i=0; while true; do i=$((i+1)); echo $i; done");
    let flooding = || {
        let last = session.tmux.capture(&session.terminal.target, 2).unwrap_or_default();
        last.lines().filter_map(|l| l.parse::<u64>().ok()).any(|n| n > 2000)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !flooding() {
        assert!(std::time::Instant::now() < deadline, "the counter never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut live, painted) = LiveTerminal::attach(&session.tmux, &session.terminal).await.unwrap();
    let screen = screen_text(&painted);
    let stream = read_until(&mut live, |s| s.matches('\n').count() > 3000).await;
    // The cursor's line may hold half a number whose rest is the first output of the stream.
    // The stream may also end in the middle of a number: its last, unfinished line is dropped.
    let stream = stream.replace("\r\n", "\n");
    let complete = &stream[..stream.rfind('\n').map_or(0, |end| end + 1)];
    let joined = format!("{screen}{complete}");
    let numbers: Vec<u64> = joined.lines().filter(|l| !l.is_empty()).map(|l| l.parse().unwrap()).collect();
    assert!(numbers.len() > 3000 && numbers[0] > 1000, "{joined}");
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "a gap or a repeat between screen and stream:\n{screen}\n---\n{stream}");
    }
}

#[tokio::test]
async fn typed_bytes_arrive_verbatim_and_the_end_is_reported() {
    let session = Session::start("printf 'ready\\n'; read -r line; printf 'got:%s\\n' \"$line\"; read -r; exit 4");
    let (mut live, painted) = LiveTerminal::attach(&session.tmux, &session.terminal).await.unwrap();
    if !screen_text(&painted).contains("ready") {
        read_until(&mut live, |s| s.contains("ready")).await;
    }
    let nasty = "'; $(touch pwned) `id` \\x";
    live.input(format!("{nasty}\r").as_bytes()).await.unwrap();
    read_until(&mut live, |s| s.contains(&format!("got:{nasty}"))).await;
    assert!(!session.dir.path().join("pwned").exists(), "typed text never runs");

    live.resize(90, 20).await.unwrap();
    live.key(Key::Enter).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match live.next().await {
                Update::Ended => break,
                Update::Refused(message) => panic!("refused: {message}"),
                Update::Output(_) => {}
            }
        }
    });
    assert!(ended.await.is_ok(), "the end of the session ends the stream");
}

#[tokio::test]
async fn a_missing_session_is_gone_not_a_hang() {
    let session = Session::start("sleep 30");
    let missing = Terminal { session: "qcold-nope".into(), target: "qcold-nope:0.0".into() };
    let err = LiveTerminal::attach(&session.tmux, &missing).await.unwrap_err();
    assert_eq!(err.to_string(), "terminal session qcold-nope has ended (can't find session: qcold-nope)");

    let no_pane = Terminal { session: "qcold-t".into(), target: "qcold-t:5.0".into() };
    let err = LiveTerminal::attach(&session.tmux, &no_pane).await.unwrap_err();
    assert_eq!(err.to_string(), "terminal session qcold-t has ended (can't find window: 5)");

    let no_server = Tmux::new(&session.dir.path().join("elsewhere"));
    let err = LiveTerminal::attach(&no_server, &session.terminal).await.unwrap_err();
    assert!(matches!(err, TerminalError::Gone { .. }), "{err}");

    let odd = Terminal { session: "qcold-t".into(), target: "qcold-t:0.0 ; kill-server".into() };
    let err = LiveTerminal::attach(&session.tmux, &odd).await.unwrap_err();
    assert!(matches!(err, TerminalError::BadTarget(_)), "{err}");
    assert!(session.tmux.has_session("qcold-t"));
}

#[tokio::test]
async fn a_refused_command_is_reported_and_the_terminal_goes_on() {
    let session = Session::start("read -r line; echo \"got:$line\"; sleep 30");
    let (mut live, _) = LiveTerminal::attach(&session.tmux, &session.terminal).await.unwrap();
    // tmux refuses a client size it cannot use.
    live.command("the resize", "refresh-client -C 0x0").await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), live.next()).await.unwrap();
    assert!(matches!(&refused, Update::Refused(m) if m.starts_with("tmux refused the resize: ")), "{refused:?}");
    live.input(b"still\r").await.unwrap();
    read_until(&mut live, |s| s.contains("got:still")).await;
}
