//! The node snapshot protocol, version 1: one JSON document describing a node's health.
//!
//! A snapshot has five blocks — [`Heartbeat`], [`Managed`], [`QueueBlock`], [`Resources`],
//! [`Proxy`] — and each carries a [`BlockStatus`]. The top-level status is the worst block status
//! ([`worst`]), and the top-level `issues` concatenate the blocks' issues, so a client that only
//! reads the top level still learns what is missing and why.
//!
//! Compatibility: fields are only ever added, and every field added after v1 carries
//! `#[serde(default)]`, so old snapshots keep parsing (see the frozen fixture test). Unknown fields
//! are ignored, so old clients read new snapshots.

mod proxy;
mod resources;
mod workload;

use serde::{Deserialize, Serialize};

pub use proxy::{PortForward, Proxy, ProxyVar, redact_credentials};
pub use resources::{Cpu, Disk, Interface, Io, Load, Memory, Network, Pids, Resources, Swap};
pub use workload::{Managed, ManagedAgent, ManagedSession, QueueBlock, QueueCounts, QueueRunSummary, QueueTabSummary};

/// The protocol version this crate writes.
pub const PROTOCOL_VERSION: u32 = 1;

/// How trustworthy a block is, from best to worst. The order of the variants is the ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum BlockStatus {
    /// Collected just now, complete.
    #[default]
    Fresh,
    /// Collected, but describes something that has not moved for too long.
    Stale,
    /// Collected with gaps; the block's issues say which.
    Partial,
    /// Could not be collected at all.
    Unavailable,
}

impl BlockStatus {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            BlockStatus::Fresh => "fresh",
            BlockStatus::Stale => "stale",
            BlockStatus::Partial => "partial",
            BlockStatus::Unavailable => "unavailable",
        }
    }
}

/// The worst of `statuses`; [`BlockStatus::Fresh`] when there are none.
pub fn worst(statuses: impl IntoIterator<Item = BlockStatus>) -> BlockStatus {
    statuses.into_iter().max().unwrap_or_default()
}

/// One thing that made a block less than fresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Issue {
    /// Which block or sub-block, e.g. `heartbeat` or `resources.disk`.
    pub block: String,
    /// The status this issue implies for that block.
    pub status: BlockStatus,
    /// What is wrong, in words.
    pub message: String,
}

impl Issue {
    /// Builds an issue.
    pub fn new(block: impl Into<String>, status: BlockStatus, message: impl Into<String>) -> Self {
        Self { block: block.into(), status, message: message.into() }
    }
}

/// Identity and liveness of the node's qcold process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Heartbeat {
    /// See [`BlockStatus`]; set by [`Heartbeat::new`] and [`NodeSnapshot::aged`].
    pub status: BlockStatus,
    /// The qcold build id, `<version>.<commits> <hash>`.
    pub version: String,
    /// The host name, if readable.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The kernel boot id, if readable; changes on every reboot.
    #[serde(default)]
    pub boot_id: Option<String>,
    /// When the snapshot was taken, Unix seconds.
    pub sampled_at: i64,
    /// Seconds since boot, if readable.
    #[serde(default)]
    pub uptime_seconds: Option<u64>,
    /// The process id of the qcold process that took the snapshot.
    pub pid: u32,
    /// Why the block is not fresh.
    #[serde(default)]
    pub issues: Vec<Issue>,
}

impl Heartbeat {
    /// Builds the heartbeat; it is `partial` when the host name, boot id or uptime is missing.
    pub fn new(
        version: String,
        hostname: Option<String>,
        boot_id: Option<String>,
        sampled_at: i64,
        uptime_seconds: Option<u64>,
        pid: u32,
    ) -> Self {
        let missing: Vec<&str> =
            [("host name", hostname.is_none()), ("boot id", boot_id.is_none()), ("uptime", uptime_seconds.is_none())]
                .into_iter()
                .filter_map(|(name, missing)| missing.then_some(name))
                .collect();
        let issues = if missing.is_empty() {
            Vec::new()
        } else {
            vec![Issue::new("heartbeat", BlockStatus::Partial, format!("could not read {}", missing.join(", ")))]
        };
        let status = worst(issues.iter().map(|i| i.status));
        Self { status, version, hostname, boot_id, sampled_at, uptime_seconds, pid, issues }
    }
}

/// A whole node snapshot, protocol version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NodeSnapshot {
    /// Always [`PROTOCOL_VERSION`] when written by this crate.
    pub protocol_version: u32,
    /// The worst block status.
    pub status: BlockStatus,
    /// Every block's issues, in block order.
    #[serde(default)]
    pub issues: Vec<Issue>,
    /// Identity and liveness.
    pub heartbeat: Heartbeat,
    /// Managed agents and terminal sessions.
    pub managed: Managed,
    /// Queue visibility.
    pub queue: QueueBlock,
    /// Host resources.
    pub resources: Resources,
    /// Proxy environment and port forwards.
    pub proxy: Proxy,
}

impl NodeSnapshot {
    /// Assembles a snapshot from its blocks and derives the top-level status and issues.
    pub fn assemble(
        heartbeat: Heartbeat,
        managed: Managed,
        queue: QueueBlock,
        resources: Resources,
        proxy: Proxy,
    ) -> Self {
        let mut snapshot = Self {
            protocol_version: PROTOCOL_VERSION,
            status: BlockStatus::Fresh,
            issues: Vec::new(),
            heartbeat,
            managed,
            queue,
            resources,
            proxy,
        };
        snapshot.derive_summary();
        snapshot
    }

    /// The statuses of the five blocks, in block order.
    pub fn block_statuses(&self) -> [BlockStatus; 5] {
        [self.heartbeat.status, self.managed.status, self.queue.status, self.resources.status, self.proxy.status]
    }

    /// Recomputes `status` and `issues` from the blocks.
    fn derive_summary(&mut self) {
        self.status = worst(self.block_statuses());
        self.issues = [
            &self.heartbeat.issues,
            &self.managed.issues,
            &self.queue.issues,
            &self.resources.issues,
            &self.proxy.issues,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    }

    /// The snapshot as seen at `now`: when it was sampled more than `max_age_secs` ago, the
    /// heartbeat turns `stale` (if it was better) with an issue saying how old it is.
    pub fn aged(mut self, now: i64, max_age_secs: i64) -> Self {
        let age = now - self.heartbeat.sampled_at;
        if age > max_age_secs && self.heartbeat.status < BlockStatus::Stale {
            self.heartbeat.status = BlockStatus::Stale;
            self.heartbeat.issues.push(Issue::new(
                "heartbeat",
                BlockStatus::Stale,
                format!("sampled {age} s ago, more than the {max_age_secs} s allowed"),
            ));
            self.derive_summary();
        }
        self
    }
}

#[cfg(test)]
mod tests;
