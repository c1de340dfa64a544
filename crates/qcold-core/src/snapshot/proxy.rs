//! The `proxy` block: proxy environment (credentials redacted) and port forwards.

use serde::{Deserialize, Serialize};

use super::{BlockStatus, Issue, worst};

/// One proxy environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProxyVar {
    /// Variable name, e.g. `https_proxy`.
    pub name: String,
    /// Its value with credentials replaced by `[redacted]`.
    pub value: String,
}

/// A port forward the node relies on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PortForward {
    /// Who asked for it, e.g. `item:<id>`.
    pub source: String,
    /// `local-proxy` or `remote-proxy`.
    pub direction: String,
    /// `host:port`.
    pub endpoint: String,
    /// `listening`, `not-listening` or `unknown`.
    pub observed_state: String,
}

/// Proxy environment and port forwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Proxy {
    /// The worst status of the issues.
    pub status: BlockStatus,
    /// Proxy variables set in the daemon's environment.
    #[serde(default)]
    pub env: Vec<ProxyVar>,
    /// Port forwards.
    #[serde(default)]
    pub port_forwards: Vec<PortForward>,
    /// Why the block is not fresh.
    #[serde(default)]
    pub issues: Vec<Issue>,
}

impl Proxy {
    /// Builds the block from raw `(name, value)` variables, redacting every value.
    pub fn new(
        env: impl IntoIterator<Item = (String, String)>,
        port_forwards: Vec<PortForward>,
        issues: Vec<Issue>,
    ) -> Self {
        let env = env.into_iter().map(|(name, value)| ProxyVar { value: redact_credentials(&value), name }).collect();
        let status = worst(issues.iter().map(|i| i.status));
        Self { status, env, port_forwards, issues }
    }
}

/// Replaces the `user:password@` part of a proxy URL (with or without a scheme) by `[redacted]@`.
///
/// The authority normally ends at the first `/`, `?` or `#`, and an `@` after it (in a path or
/// query) is left alone. But a password may hold those characters unescaped
/// (`http://user:pa/ss@proxy:3128`): when the text before that first delimiter is `name:rest`
/// and `rest` is not a port number, the `:` began a password, and everything up to the *last*
/// `@` of the value is redacted — more than the password when the path holds an `@` too, which
/// errs on the side of hiding. A password that is all digits up to a raw `/` cannot be told from
/// a port followed by a path (`http://proxy:3128/path@odd`); escape it as `%2F`.
pub fn redact_credentials(value: &str) -> String {
    let authority_start = value.find("://").map_or(0, |i| i + 3);
    let rest = &value[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = match rest[..authority_end].rfind('@') {
        Some(at) => Some(at),
        None if password_holds_a_delimiter(&rest[..authority_end]) => rest.rfind('@'),
        None => None,
    };
    match at {
        Some(at) => format!("{}[redacted]{}", &value[..authority_start], &rest[at..]),
        None => value.to_owned(),
    }
}

/// Whether `head`, the text before the first `/`, `?` or `#` of an authority without `@`, is
/// `user:` and the start of a password rather than `host:port` (or `[v6]:port`).
fn password_holds_a_delimiter(head: &str) -> bool {
    if head.starts_with('[') {
        return false;
    }
    match head.split_once(':') {
        Some((_, after)) => !after.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}
