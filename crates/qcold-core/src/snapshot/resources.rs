//! The `resources` block: CPU, load, memory, swap, disk, processes, IO and network counters.

use serde::{Deserialize, Serialize};

use super::{BlockStatus, Issue, worst};

/// CPU facts and the usage measured between the last two samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cpu {
    /// Logical CPUs (hardware threads) the kernel reports.
    pub logical_cpus: u32,
    /// Physical cores, when known.
    #[serde(default)]
    pub physical_cores: Option<u32>,
    /// Busy share of all CPUs, 0–100, since the previous sample.
    pub usage_percent: f32,
}

/// Load averages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Load {
    /// One-minute load average.
    pub one: f64,
    /// Five-minute load average.
    pub five: f64,
    /// Fifteen-minute load average.
    pub fifteen: f64,
}

/// Physical memory, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Memory {
    /// Installed memory.
    pub total_bytes: u64,
    /// Memory available to new work without swapping.
    pub available_bytes: u64,
    /// Memory not used for anything, caches included.
    pub free_bytes: u64,
    /// `total - available`.
    pub used_bytes: u64,
}

/// Swap space, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Swap {
    /// Configured swap.
    pub total_bytes: u64,
    /// Unused swap.
    pub free_bytes: u64,
    /// Used swap.
    pub used_bytes: u64,
}

/// The file system that holds the state dir, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Disk {
    /// Where it is mounted.
    pub mount_point: String,
    /// Its size.
    pub total_bytes: u64,
    /// Space available to unprivileged users.
    pub available_bytes: u64,
    /// `total - available`.
    pub used_bytes: u64,
}

/// Process counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Pids {
    /// Processes alive now.
    pub count: u64,
    /// The kernel's pid limit, when readable.
    #[serde(default)]
    pub pid_max: Option<u64>,
}

/// Cumulative disk IO of all disks since boot, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Io {
    /// Disks counted.
    pub device_count: u32,
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub written_bytes: u64,
}

/// One network interface's cumulative counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

/// Network counters summed over all interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Network {
    /// Interfaces counted.
    pub interface_count: u32,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Per-interface counters.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
}

/// Host resources. Every sub-block is optional: a host that cannot report one still reports the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Resources {
    /// `unavailable` when every sub-block is missing, `partial` when any issue exists.
    pub status: BlockStatus,
    /// CPU.
    #[serde(default)]
    pub cpu: Option<Cpu>,
    /// Load averages.
    #[serde(default)]
    pub load: Option<Load>,
    /// Memory.
    #[serde(default)]
    pub memory: Option<Memory>,
    /// Swap.
    #[serde(default)]
    pub swap: Option<Swap>,
    /// Disk of the state dir.
    #[serde(default)]
    pub disk: Option<Disk>,
    /// Processes.
    #[serde(default)]
    pub pids: Option<Pids>,
    /// Disk IO.
    #[serde(default)]
    pub io: Option<Io>,
    /// Network.
    #[serde(default)]
    pub network: Option<Network>,
    /// Why the block is not fresh.
    #[serde(default)]
    pub issues: Vec<Issue>,
}

impl Resources {
    /// Derives `status` from the sub-blocks present and the issues met while collecting them.
    pub fn with_derived_status(mut self) -> Self {
        let present = [
            self.cpu.is_some(),
            self.load.is_some(),
            self.memory.is_some(),
            self.swap.is_some(),
            self.disk.is_some(),
            self.pids.is_some(),
            self.io.is_some(),
            self.network.is_some(),
        ];
        self.status = if !present.contains(&true) {
            BlockStatus::Unavailable
        } else if self.issues.is_empty() {
            BlockStatus::Fresh
        } else {
            worst(self.issues.iter().map(|i| i.status)).max(BlockStatus::Partial)
        };
        self
    }
}
