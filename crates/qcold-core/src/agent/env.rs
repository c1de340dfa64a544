//! An agent command's own environment: which variable names it may set, and the env-file format.
//!
//! An env file holds `KEY=VALUE` lines; blank lines and lines starting with `#` are skipped, an
//! optional `export ` prefix is dropped, and a value wrapped in one pair of matching quotes loses
//! them. Nothing is expanded: `$HOME` stays `$HOME`.

/// A variable an agent command cannot set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// Not a portable variable name.
    #[error("{0:?} is not a variable name (letters, digits and _, not starting with a digit)")]
    BadKey(String),
    /// A name qcold sets for every agent.
    #[error("{0} is set by qcold for every agent and cannot be given")]
    Reserved(String),
    /// A line of an env file that is not `KEY=VALUE` (never quoted: it may hold a secret).
    #[error("line {0} is not KEY=VALUE with a variable name as KEY")]
    BadLine(usize),
}

/// Checks a variable name an agent command sets.
pub fn check_key(key: &str) -> Result<(), EnvError> {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(EnvError::BadKey(key.to_owned()));
    }
    if key.starts_with("QCOLD_") {
        return Err(EnvError::Reserved(key.to_owned()));
    }
    Ok(())
}

/// Parses an env file's text into `(key, value)` pairs, in order.
pub fn parse_file(text: &str) -> Result<Vec<(String, String)>, EnvError> {
    let mut pairs = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let bad = || EnvError::BadLine(n + 1);
        let (key, value) = line.split_once('=').ok_or_else(bad)?;
        let key = key.trim();
        check_key(key).map_err(|e| if matches!(e, EnvError::BadKey(_)) { bad() } else { e })?;
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .filter(|_| value.len() >= 2)
            .unwrap_or(value);
        pairs.push((key.to_owned(), unquoted.to_owned()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(check_key("CODEX_HOME"), Ok(()));
        assert_eq!(check_key("_x1"), Ok(()));
        assert_eq!(check_key("1X"), Err(EnvError::BadKey("1X".into())));
        assert_eq!(check_key(""), Err(EnvError::BadKey(String::new())));
        assert_eq!(check_key("A-B"), Err(EnvError::BadKey("A-B".into())));
        assert_eq!(
            check_key("QCOLD_BIN").unwrap_err().to_string(),
            "QCOLD_BIN is set by qcold for every agent and cannot be given"
        );
    }

    #[test]
    fn env_files() {
        let text = "# keys\n\nOPENAI_API_KEY=sk-1=2\nexport CODEX_HOME=\"/srv/codex home\"\n  B = 'x' \nEMPTY=\nRAW=$HOME\nQ=\"\n";
        let pairs = parse_file(text).unwrap();
        let want = [
            ("OPENAI_API_KEY", "sk-1=2"),
            ("CODEX_HOME", "/srv/codex home"),
            ("B", "x"),
            ("EMPTY", ""),
            ("RAW", "$HOME"),
            ("Q", "\""),
        ];
        assert_eq!(pairs, want.map(|(k, v)| (k.to_owned(), v.to_owned())));
        assert_eq!(
            parse_file("A=1\nsecret-value-without-key\n").unwrap_err().to_string(),
            "line 2 is not KEY=VALUE with a variable name as KEY"
        );
        assert_eq!(parse_file("QCOLD_STATE_DIR=/x").unwrap_err(), EnvError::Reserved("QCOLD_STATE_DIR".into()));
    }
}
