//! `qcold node snapshot`: collect locally, or fetch from a daemon.

use std::time::Duration;

use anyhow::Context as _;
use qcold_core::NodeSnapshot;
use qcold_server::{Config, unix_now};

use crate::cli::SnapshotArgs;
use crate::output;

const SNAPSHOT_PATH: &str = "/api/node/snapshot";

pub(crate) fn snapshot(config: &Config, args: &SnapshotArgs) -> anyhow::Result<()> {
    let snapshot = match &args.endpoint {
        Some(endpoint) => fetch(endpoint)?,
        None => {
            let store = qcold_server::store::Store::open(&config.state_dir, config.sqlite_busy_timeout)?;
            qcold_server::node::collect_once(config, &store, unix_now())
        }
    };
    output::json(&snapshot, args.pretty)
}

/// Fetches a snapshot; `endpoint` is a base URL, or the full snapshot URL.
fn fetch(endpoint: &str) -> anyhow::Result<NodeSnapshot> {
    let url = snapshot_url(endpoint)?;
    let response =
        ureq::get(&url).timeout(Duration::from_secs(10)).call().with_context(|| format!("cannot fetch {url}"))?;
    response.into_json().with_context(|| format!("{url} did not answer with a node snapshot"))
}

fn snapshot_url(endpoint: &str) -> anyhow::Result<String> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        anyhow::bail!("--endpoint must be an http:// or https:// URL, got {endpoint:?}");
    }
    Ok(if endpoint.ends_with(SNAPSHOT_PATH) { endpoint.to_owned() } else { format!("{endpoint}{SNAPSHOT_PATH}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_forms() {
        let url = |e| snapshot_url(e).map_err(|e| e.to_string());
        assert_eq!(url("http://h:1").unwrap(), "http://h:1/api/node/snapshot");
        assert_eq!(url("http://h:1/").unwrap(), "http://h:1/api/node/snapshot");
        assert_eq!(url("https://h/api/node/snapshot").unwrap(), "https://h/api/node/snapshot");
        assert_eq!(url("h:1").unwrap_err(), "--endpoint must be an http:// or https:// URL, got \"h:1\"");
    }
}
