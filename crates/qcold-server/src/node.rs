//! Node snapshot collection with `sysinfo`.
//!
//! A [`NodeSampler`] keeps its `sysinfo` handles between samples, so CPU usage is measured over
//! the interval since the previous sample and each sample only refreshes what it reports.
//! Three facts are read from `/proc` directly: the kernel boot id, the pid limit, and the CPU
//! times of `/proc/stat`, from which CPU usage is the busy share of the time since the previous
//! reading — the sampler's last sample, or for a one-shot snapshot the reading the last one left
//! in the state dir (`node-cpu`), or else the time since boot. No sample ever sleeps to measure.

use std::path::{Path, PathBuf};

use qcold_core::agent::AgentState;
use qcold_core::queue::admission::HostSample;
use qcold_core::snapshot::{
    BlockStatus, Cpu, Disk, Heartbeat, Interface, Io, Issue, Load, Managed, ManagedAgent, ManagedSession, Memory,
    Network, NodeSnapshot, Pids, Proxy, QueueBlock, QueueCounts, Resources, Swap,
};
use sysinfo::{Disks, Networks, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::Config;
use crate::agents;
use crate::store::Store;

/// Collects node snapshots; keep one alive to get meaningful CPU usage.
#[derive(Debug)]
pub struct NodeSampler {
    build_id: String,
    state_dir: PathBuf,
    proxy_env: Vec<(String, String)>,
    system: System,
    disks: Disks,
    networks: Networks,
    /// The CPU times of the previous sample (`None`: measure since boot).
    previous_cpu: Option<CpuTimes>,
}

/// Jiffies the CPUs spent in all, and busy (all but idle and I/O wait), since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    /// The first line of `/proc/stat`: `cpu user nice system idle iowait irq softirq steal …`
    /// (guest time is already counted in user and nice).
    fn parse(stat: &str) -> Option<Self> {
        let line = stat.lines().next()?;
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let values: Vec<u64> = fields.take(8).map(str::parse).collect::<Result<_, _>>().ok()?;
        let (idle, iowait) = (*values.get(3)?, values.get(4).copied().unwrap_or(0));
        let total: u64 = values.iter().sum();
        Some(Self { busy: total.saturating_sub(idle + iowait), total })
    }

    fn read() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The busy share since `earlier` (or since boot), in percent; `None` when no time passed.
    fn usage_since(self, earlier: Option<Self>) -> Option<f32> {
        let earlier = earlier.filter(|e| e.total <= self.total && e.busy <= self.busy);
        let (busy, total) = match earlier {
            Some(e) => (self.busy - e.busy, self.total - e.total),
            None => (self.busy, self.total),
        };
        #[allow(clippy::cast_precision_loss)] // a percentage to one decimal
        (total > 0).then(|| (busy as f64 / total as f64 * 100.0) as f32)
    }

    fn load(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        let (busy, total) = text.trim().split_once(' ')?;
        Some(Self { busy: busy.parse().ok()?, total: total.parse().ok()? })
    }

    /// Leaves the reading for the next one-shot snapshot (best effort: a missing reading only
    /// means that snapshot measures since boot). Written aside and renamed, so never half.
    fn store(self, path: &Path) {
        let aside = path.with_extension("tmp");
        if std::fs::write(&aside, format!("{} {}\n", self.busy, self.total)).is_ok() {
            let _ = std::fs::rename(&aside, path);
        }
    }
}

impl NodeSampler {
    /// A sampler for this process. Its first sample's CPU usage covers the time since the
    /// reading a one-shot snapshot left in the state dir, or else since boot.
    pub fn new(config: &Config) -> Self {
        let mut system = System::new();
        system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
        Self {
            previous_cpu: CpuTimes::load(&cpu_reading_path(&config.state_dir)),
            build_id: config.build_id.clone(),
            state_dir: config.state_dir.clone(),
            proxy_env: config.proxy_env.clone(),
            system,
            disks: Disks::new_with_refreshed_list(),
            networks: Networks::new_with_refreshed_list(),
        }
    }

    /// Takes one sample at `now` (Unix seconds); the managed agents come from `store`. The
    /// daemon passes the `queue` block of its published queue view, so nothing is re-read for it.
    pub fn sample(&mut self, store: &Store, queue: QueueBlock, now: i64) -> NodeSnapshot {
        let heartbeat = Heartbeat::new(
            self.build_id.clone(),
            System::host_name(),
            read_trimmed("/proc/sys/kernel/random/boot_id"),
            now,
            Some(System::uptime()),
            std::process::id(),
        );
        let managed = managed(store);
        let resources = self.resources();
        let proxy = Proxy::new(self.proxy_env.iter().cloned(), Vec::new(), Vec::new());
        NodeSnapshot::assemble(heartbeat, managed, queue, resources, proxy)
    }

    fn resources(&mut self) -> Resources {
        let mut issues = Vec::new();
        self.system.refresh_memory();
        self.system.refresh_processes_specifics(ProcessesToUpdate::All, true, ProcessRefreshKind::nothing());
        self.disks.refresh(true);
        self.networks.refresh(true);

        let cpus = self.system.cpus();
        let cpu = if cpus.is_empty() {
            issues.push(Issue::new("resources.cpu", BlockStatus::Partial, "the kernel reported no CPUs"));
            None
        } else {
            Some(Cpu {
                logical_cpus: u32::try_from(cpus.len()).unwrap_or(u32::MAX),
                physical_cores: System::physical_core_count().and_then(|n| u32::try_from(n).ok()),
                usage_percent: self.cpu_usage(),
            })
        };
        let load = System::load_average();
        let total = self.system.total_memory();
        let memory = (total > 0).then(|| Memory {
            total_bytes: total,
            available_bytes: self.system.available_memory(),
            free_bytes: self.system.free_memory(),
            used_bytes: total.saturating_sub(self.system.available_memory()),
        });
        if memory.is_none() {
            issues.push(Issue::new("resources.memory", BlockStatus::Partial, "the kernel reported no memory"));
        }
        let swap = Swap {
            total_bytes: self.system.total_swap(),
            free_bytes: self.system.free_swap(),
            used_bytes: self.system.used_swap(),
        };
        let disk = self.state_disk();
        if disk.is_none() {
            issues.push(Issue::new(
                "resources.disk",
                BlockStatus::Partial,
                format!("no mounted file system holds {}", self.state_dir.display()),
            ));
        }
        Resources {
            status: BlockStatus::Fresh,
            cpu,
            load: Some(Load { one: load.one, five: load.five, fifteen: load.fifteen }),
            memory,
            swap: Some(swap),
            disk,
            pids: Some(Pids {
                count: self.system.processes().len() as u64,
                pid_max: read_trimmed("/proc/sys/kernel/pid_max").and_then(|v| v.parse().ok()),
            }),
            io: Some(self.io()),
            network: Some(self.network()),
            issues,
        }
        .with_derived_status()
    }

    /// The busy share of the CPUs since the previous sample; where `/proc/stat` cannot be read,
    /// sysinfo's figure (since its previous refresh).
    fn cpu_usage(&mut self) -> f32 {
        let Some(now) = CpuTimes::read() else {
            self.system.refresh_cpu_usage();
            return self.system.global_cpu_usage();
        };
        let usage = now.usage_since(self.previous_cpu).or_else(|| now.usage_since(None)).unwrap_or(0.0);
        self.previous_cpu = Some(now);
        usage
    }

    /// The file system holding the state dir: the mount point that is the longest prefix of it.
    fn state_disk(&self) -> Option<Disk> {
        let target = nearest_existing(&self.state_dir);
        self.disks
            .list()
            .iter()
            .filter(|d| target.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len())
            .map(|d| Disk {
                mount_point: d.mount_point().to_string_lossy().into_owned(),
                total_bytes: d.total_space(),
                available_bytes: d.available_space(),
                used_bytes: d.total_space().saturating_sub(d.available_space()),
            })
    }

    fn io(&self) -> Io {
        // Several mounts can share one device (bind mounts); count each device once.
        let mut seen = std::collections::HashSet::new();
        let mut io = Io { device_count: 0, read_bytes: 0, written_bytes: 0 };
        for disk in self.disks.list().iter().filter(|d| seen.insert(d.name().to_owned())) {
            let usage = disk.usage();
            io.device_count += 1;
            io.read_bytes = io.read_bytes.saturating_add(usage.total_read_bytes);
            io.written_bytes = io.written_bytes.saturating_add(usage.total_written_bytes);
        }
        io
    }

    fn network(&self) -> Network {
        let mut net = Network {
            interface_count: 0,
            rx_bytes: 0,
            tx_bytes: 0,
            rx_packets: 0,
            tx_packets: 0,
            rx_errors: 0,
            tx_errors: 0,
            interfaces: Vec::new(),
        };
        let mut names: Vec<_> = self.networks.list().iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        for (name, data) in names {
            net.interface_count += 1;
            net.rx_bytes = net.rx_bytes.saturating_add(data.total_received());
            net.tx_bytes = net.tx_bytes.saturating_add(data.total_transmitted());
            net.rx_packets = net.rx_packets.saturating_add(data.total_packets_received());
            net.tx_packets = net.tx_packets.saturating_add(data.total_packets_transmitted());
            net.rx_errors = net.rx_errors.saturating_add(data.total_errors_on_received());
            net.tx_errors = net.tx_errors.saturating_add(data.total_errors_on_transmitted());
            net.interfaces.push(Interface {
                name: name.clone(),
                rx_bytes: data.total_received(),
                tx_bytes: data.total_transmitted(),
            });
        }
        net
    }
}

/// Collects a snapshot without a running daemon, at once: CPU usage covers the time since the
/// previous one-shot snapshot (whose reading it finds in the state dir), or since boot; the
/// reading it takes is left there for the next one.
pub fn collect_once(config: &Config, store: &Store, now: i64) -> NodeSnapshot {
    let mut sampler = NodeSampler::new(config);
    let queue = store.queue_view().map_or_else(
        |err| {
            let issue = Issue::new("queue", BlockStatus::Partial, format!("cannot read the queue: {err}"));
            QueueBlock::new(QueueCounts::default(), None, Vec::new(), Vec::new(), vec![issue])
        },
        |view| QueueBlock::of(&view),
    );
    let snapshot = sampler.sample(store, queue, now);
    if let Some(reading) = sampler.previous_cpu {
        reading.store(&cpu_reading_path(&config.state_dir));
    }
    snapshot
}

/// Where a one-shot snapshot leaves its CPU reading.
fn cpu_reading_path(state_dir: &Path) -> PathBuf {
    state_dir.join("node-cpu")
}

/// The `managed` block: registered agents with their liveness, and their terminal sessions.
fn managed(store: &Store) -> Managed {
    let views = match agents::list(store) {
        Ok(views) => views,
        Err(e) => {
            return Managed::new(
                Vec::new(),
                Vec::new(),
                vec![Issue::new("managed", BlockStatus::Partial, format!("cannot read agents: {e}"))],
            );
        }
    };
    let sessions = views
        .iter()
        .filter(|v| v.state == AgentState::Running)
        .filter_map(|v| {
            let terminal = v.agent.terminal.as_ref()?;
            Some(ManagedSession {
                agent_id: v.agent.id.to_string(),
                session: terminal.session.clone(),
                target: terminal.target.clone(),
            })
        })
        .collect();
    let agents = views
        .into_iter()
        .map(|v| ManagedAgent {
            id: v.agent.id.to_string(),
            track: v.agent.track,
            pid: v.agent.pid,
            running: v.state == AgentState::Running,
            started_at: v.agent.started_at,
            command: v.agent.argv,
        })
        .collect();
    Managed::new(agents, sessions, Vec::new())
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The state dir may not exist yet; its nearest existing ancestor lives on the same file system.
fn nearest_existing(path: &Path) -> PathBuf {
    path.ancestors().find_map(|p| p.canonicalize().ok()).unwrap_or_else(|| PathBuf::from("/"))
}

/// A host sample from the node snapshot; unknown figures fall back to a generous host so a
/// missing sensor never blocks the queue (8 CPUs, 128 GiB). CPU use and disk, which admission
/// does not read, stay unknown when unmeasured.
pub fn host_sample(node: &NodeSnapshot, now: i64) -> HostSample {
    let resources = &node.resources;
    let memory = resources.memory.as_ref();
    HostSample {
        at: now,
        logical_cpus: resources.cpu.as_ref().map_or(8, |c| c.logical_cpus),
        load_one: resources.load.as_ref().map_or(0.0, |l| l.one),
        memory_total: memory.map_or(128 << 30, |m| m.total_bytes),
        memory_available: memory.map_or(128 << 30, |m| m.available_bytes),
        reserved_tasks: 0,
        reserved_heavy: 0,
        cpu_usage_percent: resources.cpu.as_ref().map(|c| c.usage_percent),
        disk_total: resources.disk.as_ref().map(|d| d.total_bytes),
        disk_available: resources.disk.as_ref().map(|d| d.available_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_on_this_host_has_resources_and_identity() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path().join("state"), "0.0.0.0 test");
        config.proxy_env = vec![("https_proxy".into(), "http://u:p@proxy:1".into())];
        let store = Store::open(&config.state_dir, std::time::Duration::from_secs(5)).unwrap();
        let snapshot = collect_once(&config, &store, 1_000);
        assert_eq!(snapshot.protocol_version, 1);
        assert_eq!(snapshot.heartbeat.sampled_at, 1_000);
        assert_eq!(snapshot.heartbeat.pid, std::process::id());
        let cpus = snapshot.resources.cpu.as_ref().expect("cpu block").logical_cpus;
        assert!(cpus >= 1);
        assert!(snapshot.resources.memory.as_ref().expect("memory block").total_bytes > 0);
        assert!(snapshot.resources.disk.is_some(), "the temp dir lives on some mounted file system");
        assert_eq!(snapshot.proxy.env[0].value, "http://[redacted]@proxy:1");
        let left = CpuTimes::load(&cpu_reading_path(&config.state_dir)).expect("the reading left for the next one");
        let usage = collect_once(&config, &store, 1_001).resources.cpu.expect("cpu block").usage_percent;
        assert!((0.0..=100.0).contains(&usage), "{usage}");
        let after = CpuTimes::load(&cpu_reading_path(&config.state_dir)).unwrap();
        assert!(after.total >= left.total, "the next snapshot measured from the last one's reading");
    }

    #[test]
    fn cpu_usage_is_the_busy_share_since_the_previous_reading() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 100 0 50 800 50 0 0 0 0 0\nintr 1\n";
        let first = CpuTimes::parse(stat).unwrap();
        assert_eq!(first, CpuTimes { busy: 150, total: 1_000 });
        assert_eq!(first.usage_since(None), Some(15.0), "since boot");
        let later = CpuTimes::parse("cpu  200 0 100 850 50 0 0 0 0 0\n").unwrap();
        assert_eq!(later.usage_since(Some(first)), Some(75.0), "150 busy of 200");
        assert_eq!(later.usage_since(Some(later)), None, "no time passed");
        assert_eq!(first.usage_since(Some(later)), Some(15.0), "a reading from before a reboot is ignored");
        assert_eq!(CpuTimes::parse("intr 1\n"), None);
        assert_eq!(CpuTimes::parse("cpu  a b c\n"), None);
    }
}
