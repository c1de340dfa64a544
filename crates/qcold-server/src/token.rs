//! The operator's write token: where it comes from, how it is made, and how it is compared.
//!
//! A token comes from `QCOLD_WEBAPP_WRITE_TOKEN` (read by [`crate::config`]) or from the token
//! file `<state>/webapp-write-token`, which `qcold serve token new` creates with mode `0600`.
//! The value is wrapped in [`WriteToken`], whose `Debug` never shows it, so a logged `Config` or
//! error cannot leak it; it is compared in constant time, as SHA-256 digests so that not even its
//! length shows in the time a comparison takes.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The header that carries the token.
pub const HEADER: &str = "x-qcold-write-token";

/// How a browser's WebSocket offers the token (browsers cannot set headers on one): as the
/// subprotocol `qcold-token.<token>`, next to the protocol `qcold` the daemon selects.
pub const WS_PROTOCOL_PREFIX: &str = "qcold-token.";

/// The token file's name in the state dir.
const FILE: &str = "webapp-write-token";

/// Random bytes in a generated token (hex-encoded, so 64 characters).
const BYTES: usize = 32;

/// A write token; its value is never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteToken(String);

impl fmt::Debug for WriteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteToken(<redacted>)")
    }
}

/// Why a token could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is empty or holds characters a header cannot carry.
    #[error("a write token must be 16 to 256 visible ASCII characters without spaces")]
    Malformed,
    /// The token file could not be read or written.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The system's random source failed.
    #[error("cannot get random bytes for a token: {0}")]
    Random(String),
}

impl WriteToken {
    /// A token from an operator's setting; refuses values a header could not carry.
    pub fn parse(value: &str) -> Result<Self, TokenError> {
        let value = value.trim();
        let printable = value.bytes().all(|b| b.is_ascii_graphic());
        if !(16..=256).contains(&value.len()) || !printable {
            return Err(TokenError::Malformed);
        }
        Ok(Self(value.to_owned()))
    }

    /// A new random token.
    pub fn generate() -> Result<Self, TokenError> {
        let mut bytes = [0u8; BYTES];
        getrandom::fill(&mut bytes).map_err(|err| TokenError::Random(err.to_string()))?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// Whether `candidate` is this token, in time that does not depend on where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let want = Sha256::digest(self.0.as_bytes());
        let got = Sha256::digest(candidate);
        bool::from(want.ct_eq(&got))
    }

    /// The value, for the one place that has to show it: `qcold serve token new` printing it to
    /// the operator, and the CLI sending it to its own daemon.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

/// The token file of a state dir.
pub fn file(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Reads the token file, if there is one.
pub fn load(state_dir: &Path) -> Result<Option<WriteToken>, TokenError> {
    let path = file(state_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => WriteToken::parse(&text).map(Some),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TokenError::Io { what: "read", path, source }),
    }
}

/// Makes a new token and stores it in the token file (mode `0600`), replacing an earlier one
/// atomically: a daemon or CLI reading at the same moment sees the old token or the new, whole.
pub fn create(state_dir: &Path) -> Result<WriteToken, TokenError> {
    let token = WriteToken::generate()?;
    let path = file(state_dir);
    let io = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| TokenError::Io { what, path, source }
    };
    std::fs::create_dir_all(state_dir).map_err(io("create", state_dir))?;
    let scratch = state_dir.join(format!(".{FILE}.{}", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&scratch)
        .map_err(io("create", &scratch))?;
    out.write_all(token.0.as_bytes()).and_then(|()| out.sync_all()).map_err(io("write", &scratch))?;
    std::fs::rename(&scratch, &path).map_err(io("replace", &path))?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn tokens_match_only_themselves_and_never_print() {
        let token = WriteToken::parse("0123456789abcdef-token").unwrap();
        assert!(token.matches(b"0123456789abcdef-token"));
        assert!(!token.matches(b"0123456789abcdef-toke"));
        assert!(!token.matches(b""));
        assert_eq!(format!("{token:?}"), "WriteToken(<redacted>)");
        for bad in ["", "short", "has a space in it ok", "tab\tinside-the-token-x"] {
            assert!(WriteToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_token_file_is_private_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let first = create(dir.path()).unwrap();
        assert_eq!(first.reveal().len(), 64);
        let mode = std::fs::metadata(file(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load(dir.path()).unwrap(), Some(first.clone()));
        let second = create(dir.path()).unwrap();
        assert_ne!(first, second);
        assert_eq!(load(dir.path()).unwrap(), Some(second));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "only the token file remains");
    }
}
