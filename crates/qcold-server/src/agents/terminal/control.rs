//! tmux control mode's line protocol, as pure functions: reading its notifications and reply
//! blocks, and writing the commands a live terminal sends.
//!
//! A control client (`tmux -C`) prints one line per notification (`%output %3 hi\015\012`,
//! `%exit`, …) and wraps every command's answer in a block, `%begin <time> <number> <flags>` …
//! `%end` (or `%error`) with the same number. Lines inside a block are the command's output and
//! may themselves start with `%`, so the [`Parser`] keeps the open block as state.
//!
//! Commands written to the client are parsed by tmux's command parser. User text therefore never
//! appears in one: typed bytes travel as hexadecimal (`send-keys -H 68 69`), and targets are
//! checked to be plain words.

use qcold_core::agent::Key;

/// What one line (or the last line of a block) of a control client's output means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A pane wrote these bytes.
    Output {
        /// The pane id, `%<n>`.
        pane: String,
        /// The raw bytes, decoded from tmux's octal escapes.
        data: Vec<u8>,
    },
    /// A command finished.
    Reply(Reply),
    /// The client is leaving: its session ended, the server exited, or its input closed.
    Exit {
        /// tmux's reason, when it gave one.
        reason: Option<String>,
    },
}

/// A command's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Whether the command was read from the client's standard input (tmux's block flag 1),
    /// rather than being the `attach-session` on its command line.
    pub from_input: bool,
    /// `%end` rather than `%error`.
    pub ok: bool,
    /// The output lines.
    pub lines: Vec<Vec<u8>>,
}

/// Reads a control client's output line by line.
#[derive(Debug, Default)]
pub struct Parser {
    open: Option<Block>,
}

#[derive(Debug)]
struct Block {
    number: String,
    from_input: bool,
    lines: Vec<Vec<u8>>,
}

impl Parser {
    /// Feeds one line (without its `\n`); returns what it completes. Lines that are neither
    /// output, a reply nor the exit (window and session notifications) yield nothing.
    pub fn feed(&mut self, line: &[u8]) -> Option<Notice> {
        if let Some(block) = &mut self.open {
            let end = guard(line, b"%end ").map(|g| (g, true)).or_else(|| guard(line, b"%error ").map(|g| (g, false)));
            return match end {
                Some(((number, _), ok)) if number == block.number => {
                    let block = self.open.take()?;
                    Some(Notice::Reply(Reply { from_input: block.from_input, ok, lines: block.lines }))
                }
                _ => {
                    block.lines.push(line.to_vec());
                    None
                }
            };
        }
        if let Some((number, flags)) = guard(line, b"%begin ") {
            self.open = Some(Block { number, from_input: flags == "1", lines: Vec::new() });
            return None;
        }
        if let Some(rest) = line.strip_prefix(b"%output ") {
            let (pane, data) = split_word(rest);
            return Some(Notice::Output { pane: String::from_utf8_lossy(pane).into_owned(), data: decode_octal(data) });
        }
        if line == b"%exit" || line.starts_with(b"%exit ") {
            let reason = line.get(6..).map(|r| String::from_utf8_lossy(r).into_owned()).filter(|r| !r.is_empty());
            return Some(Notice::Exit { reason });
        }
        None
    }
}

/// `<prefix><time> <number> <flags>` → `(number, flags)`.
fn guard(line: &[u8], prefix: &[u8]) -> Option<(String, String)> {
    let rest = std::str::from_utf8(line.strip_prefix(prefix)?).ok()?;
    let mut fields = rest.split(' ');
    let (_time, number, flags) = (fields.next()?, fields.next()?, fields.next()?);
    fields.next().is_none().then(|| (number.to_owned(), flags.to_owned()))
}

fn split_word(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|b| *b == b' ') {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &[]),
    }
}

/// Decodes `%output` data: tmux writes control characters and backslashes as `\ooo` (three
/// octal digits) and every other byte as it is. A backslash not followed by three octal digits
/// is kept.
pub fn decode_octal(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let digits = data.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (data[i], digits) {
            (b'\\', Some(d)) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                // `\777` is not a byte tmux writes; keep the text rather than wrap around.
                match u8::try_from(value) {
                    Ok(byte) => out.push(byte),
                    Err(_) => out.extend_from_slice(&data[i..i + 4]),
                }
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// The most bytes one `send-keys -H` command carries; longer input becomes several commands.
pub const KEYS_PER_COMMAND: usize = 256;

/// The `send-keys` commands that type `bytes` into `pane`, as hexadecimal so that no byte is
/// ever interpreted by tmux's parser or a key table.
pub fn type_bytes(pane: &PaneId, bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(KEYS_PER_COMMAND)
        .map(|chunk| {
            let mut line = format!("send-keys -t {} -H", pane.0);
            for byte in chunk {
                line.push_str(&format!(" {byte:02x}"));
            }
            line
        })
        .collect()
}

/// The command that presses a named key in `pane`.
pub fn press(pane: &PaneId, key: Key) -> String {
    format!("send-keys -t {} {}", pane.0, key.tmux_name())
}

/// The command that sets the control client's size, which the window follows.
pub fn resize(cols: u16, rows: u16) -> String {
    format!("refresh-client -C {cols}x{rows}")
}

/// The format [`screen`] asks tmux to print, read back by [`Cursor::parse`].
const CURSOR_FORMAT: &str = "#{pane_id} #{cursor_x} #{cursor_y} #{cursor_flag}";

/// The arguments of the command list that prints `target`'s screen (colours as escapes) and
/// then its id and cursor ([`CURSOR_FORMAT`]): for a control client ([`screen`]) and for the
/// `tmux` command line alike.
pub(crate) fn screen_args(target: &str) -> [&str; 11] {
    ["capture-pane", "-p", "-e", "-t", target, ";", "display-message", "-p", "-t", target, CURSOR_FORMAT]
}

/// The command line that asks for the pane's screen and then its id and cursor. Both run as one
/// command list, so no output can reach the pane between them; `None` when the target is not a
/// plain word (it comes from the store, but it is still never trusted into a command).
pub fn screen(target: &str) -> Option<String> {
    let plain = !target.is_empty()
        && target.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'=' | b'%'));
    // Every argument is a plain word but the format, which is quoted.
    plain.then(|| {
        screen_args(target).map(|a| if a == CURSOR_FORMAT { format!("'{a}'") } else { a.to_owned() }).join(" ")
    })
}

/// A pane id as tmux prints it, `%<n>` (empty until known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaneId(String);

impl PaneId {
    /// The id as text, the prefix of its `%output` lines.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the pane's cursor is, and which pane it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The pane.
    pub pane: PaneId,
    /// Column, from 0.
    pub x: u32,
    /// Row, from 0.
    pub y: u32,
    /// Whether the cursor is shown.
    pub visible: bool,
}

impl Cursor {
    /// Reads the answer to [`CURSOR_FORMAT`]: `%3 12 4 1`.
    pub fn parse(line: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(line).ok()?;
        let mut fields = text.split(' ');
        let pane = fields
            .next()
            .filter(|p| p.len() > 1 && p.starts_with('%') && p[1..].bytes().all(|b| b.is_ascii_digit()))?;
        let x = fields.next()?.parse().ok()?;
        let y = fields.next()?.parse().ok()?;
        let visible = fields.next()? != "0";
        fields.next().is_none().then(|| Cursor { pane: PaneId(pane.to_owned()), x, y, visible })
    }
}

/// The bytes that paint a captured screen on a fresh terminal: reset and clear, each non-empty
/// line at its row (so a line as wide as the terminal never scrolls it), attributes reset, then
/// the cursor where the pane has it.
pub fn render(lines: &[Vec<u8>], cursor: &Cursor) -> Vec<u8> {
    let mut out = b"\x1b[0m\x1b[H\x1b[2J".to_vec();
    for (row, line) in lines.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
        out.extend_from_slice(format!("\x1b[{};1H", row + 1).as_bytes());
        out.extend_from_slice(line);
    }
    out.extend_from_slice(format!("\x1b[0m\x1b[{};{}H", cursor.y + 1, cursor.x + 1).as_bytes());
    out.extend_from_slice(if cursor.visible { b"\x1b[?25h" } else { b"\x1b[?25l" });
    out
}

#[cfg(test)]
mod tests;
