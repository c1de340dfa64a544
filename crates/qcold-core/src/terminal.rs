//! The wire messages of an agent's live terminal socket, `GET /api/agents/{id}/terminal`.
//!
//! The socket is a WebSocket speaking the subprotocol [`PROTOCOL`]. The client sends text frames,
//! each the JSON of one [`ClientMessage`]. The server sends binary frames with raw terminal
//! output (the current screen first, then everything the program writes, byte for byte, ANSI
//! escapes included) and text frames with the JSON of a [`ServerMessage`].
//!
//! ```
//! use qcold_core::terminal::{ClientMessage, ServerMessage};
//!
//! let typed = ClientMessage::parse(r#"{"type": "input", "data": "ls\r"}"#).unwrap();
//! assert_eq!(typed, ClientMessage::Input { data: "ls\r".into() });
//! let too_wide = ClientMessage::parse(r#"{"type": "resize", "cols": 5000, "rows": 40}"#);
//! assert_eq!(too_wide.unwrap_err().to_string(), "cols must be between 2 and 1000, got 5000");
//! assert_eq!(serde_json::to_string(&ServerMessage::Exit { code: Some(0) }).unwrap(), r#"{"type":"exit","code":0}"#);
//! ```

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::agent::Key;

/// The WebSocket subprotocol of the terminal socket; the server selects it when offered.
pub const PROTOCOL: &str = "qcold";

/// The prefix of the subprotocol that carries the write token for browsers, which cannot set
/// headers on a WebSocket: `qcold-token.<token>`, offered next to [`PROTOCOL`].
pub const TOKEN_PROTOCOL_PREFIX: &str = "qcold-token.";

/// The subprotocol prefix that carries a Telegram WebApp's `initData`, unpadded base64url (RFC
/// 4648 §5) so it is a valid protocol token: `qcold-telegram.<base64url>`, offered next to
/// [`PROTOCOL`] where a request would send the `X-Telegram-Init-Data` header.
pub const TELEGRAM_PROTOCOL_PREFIX: &str = "qcold-telegram.";

/// The terminal widths a `resize` may ask for.
pub const COLS: RangeInclusive<u32> = 2..=1000;

/// The terminal heights a `resize` may ask for.
pub const ROWS: RangeInclusive<u32> = 1..=500;

/// The most bytes one `input` message may carry; a client splits longer pastes.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

/// A text frame from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Bytes typed by the operator, sent to the pane as they are (`\r` is Enter).
    Input {
        /// The text; control characters and escape sequences are passed through.
        data: String,
    },
    /// A named key, pressed once.
    Key {
        /// The key, by its variant name (`"Enter"`, `"CtrlC"`, `"PageUp"`, …).
        key: Key,
    },
    /// The client's terminal size changed; the pane follows it.
    Resize {
        /// Columns, within [`COLS`].
        cols: u32,
        /// Rows, within [`ROWS`].
        rows: u32,
    },
}

/// Why a client frame was refused. The server answers it with [`ServerMessage::Error`] and keeps
/// the socket open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The frame is not the JSON of a [`ClientMessage`].
    #[error("invalid terminal message: {0}")]
    Json(String),
    /// A number is outside its range.
    #[error("{field} must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// The field, `cols` or `rows`.
        field: &'static str,
        /// What was sent.
        value: u32,
        /// The smallest allowed value.
        min: u32,
        /// The largest allowed value.
        max: u32,
    },
    /// An `input` message is longer than [`MAX_INPUT_BYTES`].
    #[error("data must be at most {max} bytes, got {len}")]
    TooLong {
        /// The length sent.
        len: usize,
        /// [`MAX_INPUT_BYTES`].
        max: usize,
    },
}

impl ClientMessage {
    /// Parses and validates one text frame.
    pub fn parse(text: &str) -> Result<Self, MessageError> {
        let message: Self = serde_json::from_str(text).map_err(|e| MessageError::Json(e.to_string()))?;
        message.validate()?;
        Ok(message)
    }

    /// Checks the bounds: a `resize` within [`COLS`] × [`ROWS`], an `input` of at most
    /// [`MAX_INPUT_BYTES`].
    pub fn validate(&self) -> Result<(), MessageError> {
        match self {
            ClientMessage::Input { data } if data.len() > MAX_INPUT_BYTES => {
                Err(MessageError::TooLong { len: data.len(), max: MAX_INPUT_BYTES })
            }
            ClientMessage::Input { .. } | ClientMessage::Key { .. } => Ok(()),
            ClientMessage::Resize { cols, rows } => {
                within("cols", *cols, &COLS)?;
                within("rows", *rows, &ROWS)
            }
        }
    }
}

fn within(field: &'static str, value: u32, range: &RangeInclusive<u32>) -> Result<(), MessageError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(MessageError::OutOfRange { field, value, min: *range.start(), max: *range.end() })
    }
}

/// A text frame from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    /// The terminal session ended; the server closes the socket after this message.
    Exit {
        /// The agent's exit code, when its wrapper recorded one (none when it was killed).
        code: Option<i32>,
    },
    /// A client message was refused or could not be delivered; the socket stays open.
    Error {
        /// What went wrong, lowercase.
        message: String,
    },
}

/// A terminal's raw output as plain text, for a log tail in a packet or a listing: escape
/// sequences (CSI, OSC and two-byte ones) and control characters other than newline and tab are
/// dropped, and a carriage return keeps only what was written after it on its line (progress
/// bars redraw themselves that way).
pub fn plain_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut line = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates, then one final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\n' => {
                out.push_str(line.trim_end());
                out.push('\n');
                line.clear();
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => line.clear(),
            '\t' => line.push('\t'),
            c if c.is_control() => {}
            c => line.push(c),
        }
    }
    out.push_str(line.trim_end());
    out
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(frame: &str, expect: Expect) {
        let actual = match ClientMessage::parse(frame) {
            Ok(message) => format!("{message:?} = {}", serde_json::to_string(&message).unwrap()),
            Err(err) => format!("error: {err}"),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn client_messages() {
        check(
            r#"{"type":"input","data":"hi\r\u001b[A"}"#,
            expect![[r#"Input { data: "hi\r\u{1b}[A" } = {"type":"input","data":"hi\r\u001b[A"}"#]],
        );
        check(r#"{"type":"key","key":"CtrlC"}"#, expect![[r#"Key { key: CtrlC } = {"type":"key","key":"CtrlC"}"#]]);
        check(
            r#"{"type":"resize","cols":80,"rows":24}"#,
            expect![[r#"Resize { cols: 80, rows: 24 } = {"type":"resize","cols":80,"rows":24}"#]],
        );
        check(
            r#"{"type":"resize","cols":2,"rows":1}"#,
            expect![[r#"Resize { cols: 2, rows: 1 } = {"type":"resize","cols":2,"rows":1}"#]],
        );
        check(r#"{"type":"resize","cols":1,"rows":24}"#, expect!["error: cols must be between 2 and 1000, got 1"]);
        check(r#"{"type":"resize","cols":80,"rows":501}"#, expect!["error: rows must be between 1 and 500, got 501"]);
        check(r#"{"type":"resize","cols":80}"#, expect!["error: invalid terminal message: missing field `rows`"]);
        check(
            r#"{"type":"resize","cols":-3,"rows":2}"#,
            expect!["error: invalid terminal message: invalid value: integer `-3`, expected u32"],
        );
        check(
            r#"{"type":"key","key":"F13"}"#,
            expect![
                "error: invalid terminal message: unknown variant `F13`, expected one of `Enter`, `Escape`, `Tab`, `Up`, `Down`, `Left`, `Right`, `Backspace`, `Delete`, `Home`, `End`, `PageUp`, `PageDown`, `CtrlC`"
            ],
        );
        check(
            r#"{"type":"paste","data":"x"}"#,
            expect![
                "error: invalid terminal message: unknown variant `paste`, expected one of `input`, `key`, `resize` at line 1 column 15"
            ],
        );
        check(
            r#"{"type":"input","data":"x","extra":1}"#,
            expect!["error: invalid terminal message: unknown field `extra`, expected `data`"],
        );
        check("not json", expect!["error: invalid terminal message: expected ident at line 1 column 2"]);
    }

    #[test]
    fn input_is_bounded() {
        let big = serde_json::json!({"type": "input", "data": "x".repeat(MAX_INPUT_BYTES + 1)}).to_string();
        assert_eq!(ClientMessage::parse(&big).unwrap_err().to_string(), "data must be at most 65536 bytes, got 65537");
        let fits = serde_json::json!({"type": "input", "data": "x".repeat(MAX_INPUT_BYTES)}).to_string();
        assert!(ClientMessage::parse(&fits).is_ok());
    }

    #[test]
    fn server_messages() {
        let json = |m: &ServerMessage| serde_json::to_string(m).unwrap();
        expect![[r#"{"type":"exit","code":3}"#]].assert_eq(&json(&ServerMessage::Exit { code: Some(3) }));
        expect![[r#"{"type":"exit","code":null}"#]].assert_eq(&json(&ServerMessage::Exit { code: None }));
        expect![[r#"{"type":"error","message":"cols must be between 2 and 1000, got 1"}"#]]
            .assert_eq(&json(&ServerMessage::Error { message: "cols must be between 2 and 1000, got 1".into() }));
        let back: ServerMessage = serde_json::from_str(r#"{"type":"exit","code":null}"#).unwrap();
        assert_eq!(back, ServerMessage::Exit { code: None });
    }

    #[test]
    fn plain_text_drops_escapes_and_redrawn_progress() {
        let raw = "\u{1b}[1;36mdemo agent\u{1b}[0m step 1\r\n\u{1b}]0;title\u{7}50%\r100% done\n\ttab\u{8}\n";
        assert_eq!(plain_text(raw), "demo agent step 1\n100% done\n\ttab\n");
    }
}
