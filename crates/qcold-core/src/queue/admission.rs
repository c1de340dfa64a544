//! Resource admission: may the host take one more task now?
//!
//! Each class reserves tasks, heavy slots, CPU and memory ([`reservation`]). Ready items are
//! considered in order, reservations accumulating over the live ones; an item waits — with a
//! plain-language reason naming the limit and the numbers, and a retry time — when the first of
//! these holds:
//!
//! 1. one more task would pass the hard task limit;
//! 2. one more heavy task would pass the heavy limit;
//! 3. the one-minute load is at least 1.25 × the CPU count (`max_load_percent`);
//! 4. memory: reserved + requested + a floor (total / 8, clamped to 2–8 GiB) exceeds the total, or
//!    available memory is below requested + floor;
//! 5. one more task would pass the soft limit while the sample window shows pressure (peak load
//!    ≥ 0.9 × CPUs, available memory below the floor, reservations at the hard or heavy limit);
//! 6. reserved CPU would exceed the CPUs (1000 mCPU each).

use serde::{Deserialize, Serialize};

use super::TaskClass;
use crate::ItemId;
use crate::units::format_bytes;

const GIB: u64 = 1024 * 1024 * 1024;

/// Admission limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Policy {
    /// Tasks allowed while the host shows no pressure.
    pub soft_max_tasks: u32,
    /// Tasks never exceeded; at least the soft limit.
    pub hard_max_tasks: u32,
    /// Heavy tasks allowed at once.
    pub heavy_max_tasks: u32,
    /// How long a refused item waits before it is considered again.
    pub retry_secs: i64,
    /// How far back host samples count as "recent pressure".
    pub history_secs: i64,
    /// The one-minute load, in percent of the CPU count, at which nothing more is admitted
    /// (rule 3; 125 = 1.25 × CPUs).
    pub max_load_percent: u32,
    /// What each class reserves, indexed cheap, mid, heavy; [`reservation`] by default. An
    /// operator whose heavy tasks need far less than 32 GiB says so here.
    pub classes: [Reservation; 3],
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            soft_max_tasks: 8,
            hard_max_tasks: 12,
            heavy_max_tasks: 2,
            retry_secs: 60,
            history_secs: 3600,
            max_load_percent: 125,
            classes: [reservation(TaskClass::Cheap), reservation(TaskClass::Mid), reservation(TaskClass::Heavy)],
        }
    }
}

impl Policy {
    /// What one task of `class` reserves under this policy.
    pub const fn reserves(&self, class: TaskClass) -> Reservation {
        self.classes[class_index(class)]
    }

    /// Mutable access to what `class` reserves, for configuration.
    pub fn reserves_mut(&mut self, class: TaskClass) -> &mut Reservation {
        &mut self.classes[class_index(class)]
    }

    /// The policy with the hard limit raised to the soft one if it was below.
    pub fn normalized(self) -> Self {
        Self { hard_max_tasks: self.hard_max_tasks.max(self.soft_max_tasks), ..self }
    }
}

/// What one task of a class reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Reservation {
    /// Task slots.
    pub tasks: u32,
    /// Heavy slots.
    pub heavy: u32,
    /// CPU, in thousandths of a CPU.
    pub cpu_milli: u64,
    /// Memory, in bytes.
    pub memory_bytes: u64,
}

impl std::ops::Add for Reservation {
    type Output = Reservation;
    fn add(self, other: Reservation) -> Reservation {
        Reservation {
            tasks: self.tasks + other.tasks,
            heavy: self.heavy + other.heavy,
            cpu_milli: self.cpu_milli + other.cpu_milli,
            memory_bytes: self.memory_bytes + other.memory_bytes,
        }
    }
}

const fn class_index(class: TaskClass) -> usize {
    match class {
        TaskClass::Cheap => 0,
        TaskClass::Mid => 1,
        TaskClass::Heavy => 2,
    }
}

/// The default reservation of a class: cheap 1/0/250m/2 GiB, mid 1/0/500m/8 GiB, heavy 1/1/2000m/32 GiB.
pub const fn reservation(class: TaskClass) -> Reservation {
    match class {
        TaskClass::Cheap => Reservation { tasks: 1, heavy: 0, cpu_milli: 250, memory_bytes: 2 * GIB },
        TaskClass::Mid => Reservation { tasks: 1, heavy: 0, cpu_milli: 500, memory_bytes: 8 * GIB },
        TaskClass::Heavy => Reservation { tasks: 1, heavy: 1, cpu_milli: 2000, memory_bytes: 32 * GIB },
    }
}

/// One observation of the host, stored on every evaluation and kept for the history window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HostSample {
    /// When, Unix seconds.
    pub at: i64,
    /// Logical CPUs.
    pub logical_cpus: u32,
    /// One-minute load average.
    pub load_one: f64,
    /// Installed memory, bytes.
    pub memory_total: u64,
    /// Available memory, bytes.
    pub memory_available: u64,
    /// Tasks reserved at that time.
    pub reserved_tasks: u32,
    /// Heavy tasks reserved at that time.
    pub reserved_heavy: u32,
}

/// What admission decided for one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Start it.
    Admit,
    /// Not now.
    Wait {
        /// Which limit, with the numbers.
        reason: String,
        /// When to consider it again, Unix seconds.
        retry_at: i64,
    },
}

/// Decides, in order, which candidates the host takes now. `live` are the classes of items that
/// already hold reservations; `history` the samples of the window (the current one included).
pub fn admit(
    policy: Policy,
    host: &HostSample,
    history: &[HostSample],
    live: &[TaskClass],
    candidates: &[(ItemId, TaskClass)],
    now: i64,
) -> Vec<(ItemId, Decision)> {
    let policy = policy.normalized();
    let mut reserved = live.iter().fold(Reservation::default(), |acc, class| acc + policy.reserves(*class));
    let window: Vec<&HostSample> = history.iter().filter(|s| now - s.at <= policy.history_secs).collect();
    let floor = memory_floor(host.memory_total);
    let cpus = f64::from(host.logical_cpus.max(1));
    let pressure = window.iter().any(|s| {
        s.load_one >= 0.9 * f64::from(s.logical_cpus.max(1))
            || s.memory_available < floor
            || s.reserved_tasks >= policy.hard_max_tasks
            || s.reserved_heavy >= policy.heavy_max_tasks
    });
    candidates
        .iter()
        .map(|(id, class)| {
            let want = policy.reserves(*class);
            let reason = refusal(policy, host, reserved, want, floor, cpus, pressure);
            let decision = match reason {
                Some(reason) => Decision::Wait { reason, retry_at: now + policy.retry_secs },
                None => {
                    reserved = reserved + want;
                    Decision::Admit
                }
            };
            (id.clone(), decision)
        })
        .collect()
}

/// Total / 8, clamped to 2–8 GiB; 8 GiB when the total is unknown.
fn memory_floor(total: u64) -> u64 {
    if total == 0 { 8 * GIB } else { (total / 8).clamp(2 * GIB, 8 * GIB) }
}

fn refusal(
    policy: Policy,
    host: &HostSample,
    reserved: Reservation,
    want: Reservation,
    floor: u64,
    cpus: f64,
    pressure: bool,
) -> Option<String> {
    let tasks = reserved.tasks + want.tasks;
    if tasks > policy.hard_max_tasks {
        return Some(format!(
            "hard task limit: {} task(s) reserved, the hard limit is {}",
            reserved.tasks, policy.hard_max_tasks
        ));
    }
    if want.heavy > 0 && reserved.heavy + want.heavy > policy.heavy_max_tasks {
        return Some(format!(
            "heavy task limit: {} heavy task(s) reserved, the limit is {}",
            reserved.heavy, policy.heavy_max_tasks
        ));
    }
    let factor = f64::from(policy.max_load_percent) / 100.0;
    if host.load_one >= factor * cpus {
        return Some(format!("host load {:.2} is at least {factor:.2} × {} CPUs", host.load_one, host.logical_cpus));
    }
    if host.memory_total > 0 && reserved.memory_bytes + want.memory_bytes + floor > host.memory_total {
        // Alone on the host it still would not fit: waiting cannot help, so say what would.
        let never = if want.memory_bytes + floor > host.memory_total {
            "; it can never fit this host: lower the memory its class reserves"
        } else {
            ""
        };
        return Some(format!(
            "memory: {} reserved + {} requested + {} floor exceeds the {} installed{never}",
            format_bytes(reserved.memory_bytes),
            format_bytes(want.memory_bytes),
            format_bytes(floor),
            format_bytes(host.memory_total)
        ));
    }
    if host.memory_available < want.memory_bytes + floor {
        return Some(format!(
            "memory: {} available, below {} requested + {} floor",
            format_bytes(host.memory_available),
            format_bytes(want.memory_bytes),
            format_bytes(floor)
        ));
    }
    if tasks > policy.soft_max_tasks && pressure {
        return Some(format!(
            "soft task limit: {} task(s) reserved, the soft limit is {} and the last hour showed pressure",
            reserved.tasks, policy.soft_max_tasks
        ));
    }
    let cpu_capacity = u64::from(host.logical_cpus.max(1)) * 1000;
    if reserved.cpu_milli + want.cpu_milli > cpu_capacity {
        return Some(format!(
            "cpu: {}m reserved + {}m requested exceeds {} CPUs",
            reserved.cpu_milli, want.cpu_milli, host.logical_cpus
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cpus: u32, load: f64, total_gib: u64, avail_gib: u64) -> HostSample {
        HostSample {
            at: 1000,
            logical_cpus: cpus,
            load_one: load,
            memory_total: total_gib * GIB,
            memory_available: avail_gib * GIB,
            reserved_tasks: 0,
            reserved_heavy: 0,
        }
    }

    fn decide(
        policy: Policy,
        host: &HostSample,
        history: &[HostSample],
        live: &[TaskClass],
        classes: &[TaskClass],
    ) -> Vec<String> {
        let candidates: Vec<(ItemId, TaskClass)> =
            classes.iter().enumerate().map(|(i, c)| (format!("i{i}").parse().unwrap(), *c)).collect();
        admit(policy, host, history, live, &candidates, 1000)
            .into_iter()
            .map(|(_, d)| match d {
                Decision::Admit => "admit".to_owned(),
                Decision::Wait { reason, retry_at } => {
                    assert_eq!(retry_at, 1000 + policy.retry_secs);
                    reason
                }
            })
            .collect()
    }

    #[test]
    fn limits_in_order() {
        use TaskClass::*;
        let big = host(64, 1.0, 1024, 1000);
        let p = Policy::default();
        assert_eq!(decide(p, &big, &[], &[], &[Mid, Mid]), ["admit", "admit"]);
        assert_eq!(
            decide(p, &big, &[], &[Mid; 12], &[Cheap]),
            ["hard task limit: 12 task(s) reserved, the hard limit is 12"]
        );
        assert_eq!(
            decide(p, &big, &[], &[Heavy, Heavy], &[Heavy, Cheap]),
            ["heavy task limit: 2 heavy task(s) reserved, the limit is 2", "admit"]
        );
        assert_eq!(
            decide(p, &host(4, 5.0, 1024, 1000), &[], &[], &[Cheap]),
            ["host load 5.00 is at least 1.25 × 4 CPUs"]
        );
        assert_eq!(
            decide(p, &host(64, 0.0, 24, 20), &[], &[], &[Mid, Mid, Mid]),
            [
                "admit",
                "admit",
                "memory: 16.0 GiB reserved + 8.0 GiB requested + 3.0 GiB floor exceeds the 24.0 GiB installed"
            ]
        );
        assert_eq!(
            decide(p, &host(64, 0.0, 1024, 9), &[], &[], &[Mid]),
            ["memory: 9.0 GiB available, below 8.0 GiB requested + 8.0 GiB floor"]
        );
        assert_eq!(
            decide(p, &host(2, 0.0, 1024, 1000), &[], &[], &[Mid; 5]).last().unwrap(),
            "cpu: 2000m reserved + 500m requested exceeds 2 CPUs"
        );
    }

    #[test]
    fn operators_set_the_load_limit_and_class_reservations() {
        use TaskClass::*;
        let mut p = Policy::default();
        let small = host(2, 3.0, 24, 20);
        assert_eq!(decide(p, &small, &[], &[], &[Heavy]), ["host load 3.00 is at least 1.25 × 2 CPUs"]);
        p.max_load_percent = 200;
        assert_eq!(
            decide(p, &small, &[], &[], &[Heavy]),
            ["memory: 0 B reserved + 32.0 GiB requested + 3.0 GiB floor exceeds the 24.0 GiB installed; \
                 it can never fit this host: lower the memory its class reserves"]
        );
        *p.reserves_mut(Heavy) = Reservation { tasks: 1, heavy: 1, cpu_milli: 100, memory_bytes: GIB };
        assert_eq!(decide(p, &small, &[], &[], &[Heavy, Heavy, Heavy])[..2], ["admit", "admit"]);
        assert_eq!(p.reserves(Mid), reservation(Mid), "other classes keep their defaults");
    }

    #[test]
    fn the_soft_limit_binds_only_under_recent_pressure() {
        use TaskClass::*;
        let p = Policy { soft_max_tasks: 2, ..Policy::default() };
        let calm = host(64, 1.0, 1024, 1000);
        assert_eq!(decide(p, &calm, &[calm], &[Cheap, Cheap], &[Cheap]), ["admit"]);
        let busy_earlier = HostSample { at: 400, load_one: 60.0, ..calm };
        assert_eq!(
            decide(p, &calm, &[busy_earlier, calm], &[Cheap, Cheap], &[Cheap]),
            ["soft task limit: 2 task(s) reserved, the soft limit is 2 and the last hour showed pressure"]
        );
        let long_ago = HostSample { at: 1000 - 3601, ..busy_earlier };
        assert_eq!(
            decide(p, &calm, &[long_ago, calm], &[Cheap, Cheap], &[Cheap]),
            ["admit"],
            "pressure older than the window is forgotten"
        );
        assert_eq!(Policy { soft_max_tasks: 20, hard_max_tasks: 5, ..p }.normalized().hard_max_tasks, 20);
    }
}
