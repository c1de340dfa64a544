//! A `vt100` screen as rows of styled spans: what the terminal view draws, one row at a time.
//!
//! Consecutive cells with the same attributes make one span; the cursor cell is a span of its
//! own. Colours become inline CSS (`color:#rrggbb`), so the 16 named colours, the 256-colour cube
//! and 24-bit colours all render the same way, with inverse video swapping them.

use vt100::{Color, Screen};

/// One run of cells drawn alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    /// The characters.
    pub(crate) text: String,
    /// Inline CSS: colours and weight.
    pub(crate) style: String,
    /// CSS classes: `u` underline, `cursor` the cursor cell.
    pub(crate) class: &'static str,
}

/// xterm's default 16-colour palette.
const PALETTE: [(u8, u8, u8); 16] = [
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
];

/// A colour as `#rrggbb`, or `None` for the terminal's default.
fn css(color: Color) -> Option<String> {
    let (r, g, b) = match color {
        Color::Default => return None,
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Idx(i) if i < 16 => PALETTE[usize::from(i)],
        Color::Idx(i) if i < 232 => {
            // The 6×6×6 cube: levels 0, 95, 135, 175, 215, 255.
            let level = |n: u8| if n == 0 { 0 } else { 55 + n * 40 };
            let i = i - 16;
            (level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        Color::Idx(i) => {
            let grey = 8 + (i - 232) * 10;
            (grey, grey, grey)
        }
    };
    Some(format!("#{r:02x}{g:02x}{b:02x}"))
}

/// The attributes that decide how a cell is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Look {
    fg: Color,
    bg: Color,
    bold: bool,
    italic: bool,
    underline: bool,
    inverse: bool,
    cursor: bool,
}

impl Look {
    fn style(self) -> String {
        let (mut fg, mut bg) = (css(self.fg), css(self.bg));
        if self.inverse {
            (fg, bg) = (
                Some(bg.unwrap_or_else(|| "var(--term-bg)".to_owned())),
                Some(fg.unwrap_or_else(|| "var(--term-fg)".to_owned())),
            );
        }
        let mut style = String::new();
        if let Some(fg) = fg {
            style.push_str(&format!("color:{fg};"));
        }
        if let Some(bg) = bg {
            style.push_str(&format!("background:{bg};"));
        }
        if self.bold {
            style.push_str("font-weight:bold;");
        }
        if self.italic {
            style.push_str("font-style:italic;");
        }
        style
    }

    fn class(self) -> &'static str {
        match (self.underline, self.cursor) {
            (false, false) => "",
            (true, false) => "u",
            (false, true) => "cursor",
            (true, true) => "u cursor",
        }
    }
}

/// Row `row` of `screen` as spans; the cursor is marked when it is on this row and shown.
pub(crate) fn row(screen: &Screen, row: u16) -> Vec<Span> {
    let (_, cols) = screen.size();
    let (cursor_row, cursor_col) = screen.cursor_position();
    let cursor_col = (cursor_row == row && !screen.hide_cursor()).then_some(cursor_col);
    let mut spans: Vec<Span> = Vec::new();
    let mut current: Option<(Look, String)> = None;
    for col in 0..cols {
        let Some(cell) = screen.cell(row, col) else { break };
        if cell.is_wide_continuation() {
            continue;
        }
        let look = Look {
            fg: cell.fgcolor(),
            bg: cell.bgcolor(),
            bold: cell.bold(),
            italic: cell.italic(),
            underline: cell.underline(),
            inverse: cell.inverse(),
            cursor: cursor_col == Some(col),
        };
        let contents = cell.contents();
        let text = if contents.is_empty() { " " } else { contents.as_str() };
        match &mut current {
            Some((same, buffer)) if *same == look => buffer.push_str(text),
            _ => {
                if let Some((look, text)) = current.take() {
                    spans.push(Span { text, style: look.style(), class: look.class() });
                }
                current = Some((look, text.to_owned()));
            }
        }
    }
    if let Some((look, mut text)) = current {
        // Trailing blanks in the default look draw nothing; dropping them keeps rows short.
        if look == Look::plain() {
            text.truncate(text.trim_end_matches(' ').len());
        }
        if !text.is_empty() {
            spans.push(Span { text, style: look.style(), class: look.class() });
        }
    }
    spans
}

impl Look {
    fn plain() -> Self {
        Self {
            fg: Color::Default,
            bg: Color::Default,
            bold: false,
            italic: false,
            underline: false,
            inverse: false,
            cursor: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(bytes: &[u8]) -> Vec<Vec<Span>> {
        let mut parser = vt100::Parser::new(3, 10, 0);
        parser.process(bytes);
        (0..3).map(|r| row(parser.screen(), r)).collect()
    }

    #[test]
    fn colours_split_spans_and_mark_the_cursor() {
        let rows = rows(b"\x1b[31mred\x1b[0m \x1b[38;5;196mx\x1b[38;2;1;2;3my\x1b[0m\r\n\x1b[7mi");
        let first: Vec<_> = rows[0].iter().map(|s| (s.text.as_str(), s.style.as_str())).collect();
        assert_eq!(first, [("red", "color:#cd0000;"), (" ", ""), ("x", "color:#ff0000;"), ("y", "color:#010203;")]);
        assert_eq!(rows[1][0].style, "color:var(--term-bg);background:var(--term-fg);");
        assert_eq!((rows[1][1].text.as_str(), rows[1][1].class), (" ", "cursor"));
    }
}
