//! The terminal emulator's state: a `vt100` parser and what is drawn of its screen — one signal
//! per row, set only when that row's spans change — with its size and screen modes.

use leptos::prelude::*;

use super::screen::{self, Span};

/// The parser and its drawn screen. `Copy`: handlers and callbacks take it by value.
#[derive(Clone, Copy)]
pub(super) struct Emulator {
    parser: StoredValue<vt100::Parser, LocalStorage>,
    /// The screen's rows, top first.
    pub(super) rows: RwSignal<Vec<RwSignal<Vec<Span>>>>,
    /// Whether the program switched to the alternate screen.
    pub(super) alternate: RwSignal<bool>,
    /// (cols, rows), as the parser has it: what the last resize asked the pane for.
    pub(super) size: RwSignal<(u16, u16)>,
}

impl Emulator {
    /// An 80 × 24 screen until the element is measured.
    pub(super) fn new() -> Self {
        Self {
            parser: StoredValue::new_local(vt100::Parser::new(24, 80, 0)),
            rows: RwSignal::new(Vec::new()),
            alternate: RwSignal::new(false),
            size: RwSignal::new((80, 24)),
        }
    }

    /// Feeds output from the program.
    pub(super) fn process(self, bytes: &[u8]) {
        self.parser.update_value(|p| p.process(bytes));
        self.refresh();
    }

    /// Starts over with a blank screen of the same size (a new connection replays the screen).
    pub(super) fn reset(self) {
        self.parser.update_value(|p| {
            let (r, c) = p.screen().size();
            *p = vt100::Parser::new(r, c, 0);
        });
        self.refresh();
    }

    /// `(rows, cols)` of the screen.
    pub(super) fn dimensions(self) -> (u16, u16) {
        self.parser.with_value(|p| p.screen().size())
    }

    /// Resizes the screen; whether the size changed.
    pub(super) fn resize(self, rows: u16, cols: u16) -> bool {
        if self.dimensions() == (rows, cols) {
            return false;
        }
        self.parser.update_value(|p| p.set_size(rows, cols));
        self.refresh();
        true
    }

    /// Whether arrows send `ESC O x` (the program asked for application cursor keys).
    pub(super) fn application_cursor(self) -> bool {
        self.parser.with_value(|p| p.screen().application_cursor())
    }

    /// Whether the program asked for bracketed paste.
    pub(super) fn bracketed_paste(self) -> bool {
        self.parser.with_value(|p| p.screen().bracketed_paste())
    }

    /// Copies the parser's screen into the signals, touching only rows that changed.
    fn refresh(self) {
        self.parser.with_value(|parser| {
            let screen = parser.screen();
            self.alternate.set(screen.alternate_screen());
            let (count, cols) = screen.size();
            if self.size.get_untracked() != (cols, count) {
                self.size.set((cols, count));
            }
            let current = self.rows.get_untracked();
            if current.len() != usize::from(count) {
                self.rows.set((0..count).map(|r| RwSignal::new(screen::row(screen, r))).collect());
                return;
            }
            for (r, row) in (0..count).zip(current) {
                let spans = screen::row(screen, r);
                if row.with_untracked(|old| *old != spans) {
                    row.set(spans);
                }
            }
        });
    }
}
