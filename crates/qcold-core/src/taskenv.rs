//! The `.task/task.env` file: `KEY=value` lines a shell can `source`, and Q-COLD can parse back.
//!
//! Values are written bare when they only hold safe characters and single-quoted otherwise
//! (a `'` inside becomes `'\''`), so any value — newlines included — survives a round trip and
//! sourcing the file never runs anything.

/// Renders `pairs` as a task env file. Keys must be shell identifiers.
pub fn render<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        debug_assert!(is_identifier(key), "task env key {key:?} is not a shell identifier");
        out.push_str(key);
        out.push('=');
        out.push_str(&quote(value));
        out.push('\n');
    }
    out
}

/// Quotes one value for a POSIX shell.
pub fn quote(value: &str) -> String {
    let safe = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@%+,=".contains(c));
    if safe { value.to_owned() } else { format!("'{}'", value.replace('\'', r"'\''")) }
}

/// A line of a task env file that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task env line {line}: {problem}")]
pub struct ParseError {
    /// The 1-based line number where the entry starts.
    pub line: usize,
    /// What is wrong.
    pub problem: &'static str,
}

/// Parses a task env file written by [`render`] (or by hand, in the same dialect: bare,
/// single-quoted and `'\''`-joined values; blank lines and `#` comments are skipped).
pub fn parse(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start_line = line;
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == '\n' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.peek() == Some(&'\n') || chars.peek().is_none() {
            chars.next();
            line += 1;
            let trimmed = key.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            return Err(ParseError { line: start_line, problem: "expected KEY=value" });
        }
        chars.next(); // '='
        if !is_identifier(&key) {
            return Err(ParseError { line: start_line, problem: "the key is not a shell identifier" });
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                None => break,
                Some('\n') => {
                    line += 1;
                    break;
                }
                Some('\'') => loop {
                    match chars.next() {
                        None => return Err(ParseError { line: start_line, problem: "unterminated single quote" }),
                        Some('\'') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            value.push(c);
                        }
                    }
                },
                Some('\\') => match chars.next() {
                    Some(c) => value.push(c),
                    None => return Err(ParseError { line: start_line, problem: "trailing backslash" }),
                },
                Some(c) => value.push(c),
            }
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_values() {
        let values = ["plain", "", "two words", "it's", "line1\nline2", "$HOME `x` \"q\"", "a\\b", "'''"];
        let pairs: Vec<(String, &str)> = values.iter().enumerate().map(|(i, v)| (format!("K{i}"), *v)).collect();
        let text = render(pairs.iter().map(|(k, v)| (k.as_str(), *v)));
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.len(), values.len());
        for ((_, want), (_, got)) in pairs.iter().zip(&parsed) {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(quote("task/fix-1"), "task/fix-1");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn parse_errors_name_the_line() {
        assert_eq!(parse("A=1\nnot a pair\n").unwrap_err().to_string(), "task env line 2: expected KEY=value");
        assert_eq!(parse("A='open\n").unwrap_err().to_string(), "task env line 1: unterminated single quote");
        assert_eq!(parse("1A=x\n").unwrap_err().problem, "the key is not a shell identifier");
        assert_eq!(parse("# comment\n\nA=1\n").unwrap(), [("A".to_owned(), "1".to_owned())]);
    }
}
