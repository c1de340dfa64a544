//! What a key pressed in a terminal types: the bytes a terminal sends for it (Enter `\r`,
//! Backspace DEL, arrows as escape sequences, Ctrl-letter as control bytes).
//!
//! Printable characters are not mapped here: they reach the page as `input` events from the
//! hidden text field, which is also how phone keyboards and IMEs deliver them.

/// The bytes for `key` (a `KeyboardEvent.key`) with Ctrl/Alt held, or `None` when the key is
/// left to the text field. `application_cursor` is the mode in which arrows send `ESC O x`.
pub(crate) fn bytes(key: &str, ctrl: bool, alt: bool, application_cursor: bool) -> Option<String> {
    let arrow = |c: char| Some(if application_cursor { format!("\x1bO{c}") } else { format!("\x1b[{c}") });
    let plain = match key {
        "Enter" => Some("\r".to_owned()),
        "Backspace" => Some("\x7f".to_owned()),
        "Tab" => Some("\t".to_owned()),
        "Escape" => Some("\x1b".to_owned()),
        "ArrowUp" => arrow('A'),
        "ArrowDown" => arrow('B'),
        "ArrowRight" => arrow('C'),
        "ArrowLeft" => arrow('D'),
        "Home" => Some("\x1b[H".to_owned()),
        "End" => Some("\x1b[F".to_owned()),
        "Delete" => Some("\x1b[3~".to_owned()),
        "PageUp" => Some("\x1b[5~".to_owned()),
        "PageDown" => Some("\x1b[6~".to_owned()),
        _ => None,
    };
    if plain.is_some() {
        return plain.map(|s| if alt { format!("\x1b{s}") } else { s });
    }
    let mut chars = key.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else { return None };
    if ctrl {
        let byte = match c.to_ascii_lowercase() {
            c @ 'a'..='z' => c as u8 - b'a' + 1,
            '@' | ' ' | '2' => 0,
            '[' | '3' => 0x1b,
            '\\' | '4' => 0x1c,
            ']' | '5' => 0x1d,
            '^' | '6' => 0x1e,
            '_' | '7' | '-' => 0x1f,
            _ => return None,
        };
        let byte = char::from(byte).to_string();
        return Some(if alt { format!("\x1b{byte}") } else { byte });
    }
    alt.then(|| format!("\x1b{c}"))
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn keys_map_to_terminal_bytes() {
        let cases: &[(&str, bool, bool, bool, Option<&str>)] = &[
            ("Enter", false, false, false, Some("\r")),
            ("Backspace", false, false, false, Some("\x7f")),
            ("ArrowUp", false, false, false, Some("\x1b[A")),
            ("ArrowLeft", false, false, true, Some("\x1bOD")),
            ("c", true, false, false, Some("\x03")),
            ("D", true, false, false, Some("\x04")),
            ("x", false, true, false, Some("\x1bx")),
            ("a", false, false, false, None),
            ("Shift", false, false, false, None),
        ];
        for &(key, ctrl, alt, app, want) in cases {
            assert_eq!(bytes(key, ctrl, alt, app).as_deref(), want, "{key} ctrl={ctrl} alt={alt}");
        }
    }
}
