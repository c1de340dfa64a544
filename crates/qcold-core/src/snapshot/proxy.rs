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
/// Only the authority is inspected: an `@` in a path or query is left alone.
pub fn redact_credentials(value: &str) -> String {
    let authority_start = value.find("://").map_or(0, |i| i + 3);
    let rest = &value[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}[redacted]{}", &value[..authority_start], &rest[at..]),
        None => value.to_owned(),
    }
}
