//! Everything `qcold` prints to stdout: lines, aligned tables and JSON of qcold-core types.
//!
//! Writes go through here so a closed pipe (`qcold repo list | head -1`) ends the program
//! quietly instead of panicking.

use std::io::Write as _;

use serde::Serialize;

/// Prints one line.
pub(crate) fn line(text: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

/// Prints `value` as JSON, compact or pretty.
pub(crate) fn json(value: &impl Serialize, pretty: bool) -> anyhow::Result<()> {
    let text = if pretty { serde_json::to_string_pretty(value)? } else { serde_json::to_string(value)? };
    line(text)
}

/// Prints rows as columns aligned under `header`; the last column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 == widths.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        text.trim_end().to_owned()
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", render(&mut header.iter().copied()))?;
    for row in rows {
        writeln!(out, "{}", render(&mut row.iter().map(String::as_str)))?;
    }
    Ok(())
}

/// Whether `err` is a write to a closed pipe, which is how `| head` ends a listing.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
