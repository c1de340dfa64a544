//! Resource admission: may the host take one more task now?
//!
//! Each class reserves tasks, heavy slots, CPU and memory, scaled to the host by default
//! ([`reservation`]). Ready items are considered in order, reservations accumulating over the
//! live ones; an item waits — with a plain-language reason naming the limit and the numbers, and
//! a retry time — when the first of these holds:
//!
//! 0. its class can never start on this host, even empty: the class reserves more memory than
//!    the host has above the floor, more CPU than it has, or the hard or heavy limit is 0 (the
//!    reason names the variable that would fix it);
//! 1. one more task would pass the hard task limit;
//! 2. one more heavy task would pass the heavy limit;
//! 3. the one-minute load is at least 1.25 × the CPU count (`max_load_percent`);
//! 4. memory: reserved + requested + a floor (total / 8, clamped to 1–8 GiB) exceeds the total, or
//!    available memory is below requested + floor;
//! 5. one more task would pass the soft limit while the sample window shows pressure (peak load
//!    ≥ 0.9 × CPUs, available memory below the floor, reservations at the hard or heavy limit);
//! 6. reserved CPU would exceed the CPUs (1000 mCPU each).
//!
//! **Progress:** with nothing in flight and nothing admitted yet in this decision, the first
//! candidate that passes rule 0 is admitted whatever the load and free memory: a host busy with
//! other work slows the queue down to one item at a time, it never stops it.

pub mod reservation;

use serde::{Deserialize, Serialize};

pub use self::reservation::{ClassSetting, Reservation};
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
    /// (rule 3; 125 = 1.25 × CPUs), unless nothing is in flight.
    pub max_load_percent: u32,
    /// What the operator set each class to reserve, indexed cheap, mid, heavy; numbers left
    /// unset scale to the host ([`reservation::scaled`]).
    pub classes: [ClassSetting; 3],
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
            classes: [ClassSetting::default(); 3],
        }
    }
}

impl Policy {
    /// What one task of `class` reserves under this policy on `host`.
    pub fn reserves(&self, class: TaskClass, host: &HostSample) -> Reservation {
        self.classes[class_index(class)].resolve(class, host.logical_cpus, host.memory_total)
    }

    /// Mutable access to what the operator set `class` to reserve, for configuration.
    pub fn class_mut(&mut self, class: TaskClass) -> &mut ClassSetting {
        &mut self.classes[class_index(class)]
    }

    /// The policy with the hard limit raised to the soft one if it was below.
    pub fn normalized(self) -> Self {
        Self { hard_max_tasks: self.hard_max_tasks.max(self.soft_max_tasks), ..self }
    }
}

const fn class_index(class: TaskClass) -> usize {
    match class {
        TaskClass::Cheap => 0,
        TaskClass::Mid => 1,
        TaskClass::Heavy => 2,
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
    /// CPU use across all CPUs, percent, when the node sampler measured it (the queue's own
    /// samples, kept in the store for admission, leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_usage_percent: Option<f32>,
    /// Installed disk on the state dir's file system, bytes, when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_total: Option<u64>,
    /// Free disk on that file system, bytes, when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_available: Option<u64>,
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
        /// It could not start even on an empty host: only a setting changes that.
        #[serde(default)]
        never: bool,
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
    let mut reserved = live.iter().fold(Reservation::default(), |acc, class| acc + policy.reserves(*class, host));
    let window: Vec<&HostSample> = history.iter().filter(|s| now - s.at <= policy.history_secs).collect();
    let floor = memory_floor(host.memory_total);
    let pressure = window.iter().any(|s| {
        s.load_one >= 0.9 * f64::from(s.logical_cpus.max(1))
            || s.memory_available < floor
            || s.reserved_tasks >= policy.hard_max_tasks
            || s.reserved_heavy >= policy.heavy_max_tasks
    });
    let context = Context { policy, host, floor, pressure };
    candidates
        .iter()
        .map(|(id, class)| {
            let want = policy.reserves(*class, host);
            let never = never_fits(&context, *class, want);
            let is_never = never.is_some();
            let reason = never.or_else(|| {
                // Progress: nothing in flight and nothing admitted yet, so this one goes.
                let idle = reserved == Reservation::default();
                if idle { None } else { refusal(&context, reserved, want) }
            });
            let decision = match reason {
                Some(reason) => Decision::Wait { reason, retry_at: now + policy.retry_secs, never: is_never },
                None => {
                    reserved = reserved + want;
                    Decision::Admit
                }
            };
            (id.clone(), decision)
        })
        .collect()
}

/// What every decision of one evaluation shares.
struct Context<'a> {
    policy: Policy,
    host: &'a HostSample,
    floor: u64,
    pressure: bool,
}

/// Total / 8, clamped to 1–8 GiB; 8 GiB when the total is unknown.
fn memory_floor(total: u64) -> u64 {
    if total == 0 { 8 * GIB } else { (total / 8).clamp(GIB, 8 * GIB) }
}

/// Rule 0: why `class` could not start even on an empty host, naming the setting that would
/// change it; `None` when it can.
fn never_fits(context: &Context<'_>, class: TaskClass, want: Reservation) -> Option<String> {
    let Context { policy, host, floor, .. } = *context;
    let name = class.as_str();
    let var = name.to_ascii_uppercase();
    if policy.hard_max_tasks == 0 {
        return Some(
            "the hard task limit is 0, so nothing can ever start; set QCOLD_QUEUE_ADMISSION_HARD_MAX_TASKS".to_owned(),
        );
    }
    if want.heavy > 0 && policy.heavy_max_tasks == 0 {
        return Some(
            "the heavy task limit is 0, so no heavy task can ever start; set QCOLD_QUEUE_ADMISSION_HEAVY_MAX_TASKS"
                .to_owned(),
        );
    }
    if host.memory_total > 0 && want.memory_bytes + floor > host.memory_total {
        return Some(format!(
            "{name} reserves {} but the host has {}, {} of it kept free, so it can never start here; \
             set QCOLD_QUEUE_ADMISSION_{var}_MEMORY_MIB",
            format_bytes(want.memory_bytes),
            format_bytes(host.memory_total),
            format_bytes(floor)
        ));
    }
    if want.cpu_milli > u64::from(host.logical_cpus.max(1)) * 1000 {
        return Some(format!(
            "{name} reserves {}m CPU but the host has {} CPU(s), so it can never start here; \
             set QCOLD_QUEUE_ADMISSION_{var}_CPU_MILLI",
            want.cpu_milli,
            host.logical_cpus.max(1)
        ));
    }
    None
}

/// Rules 1–6 for a class that can start on this host, with `reserved` already taken.
fn refusal(context: &Context<'_>, reserved: Reservation, want: Reservation) -> Option<String> {
    let Context { policy, host, floor, pressure } = *context;
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
    if host.load_one >= factor * f64::from(host.logical_cpus.max(1)) {
        return Some(format!("host load {:.2} is at least {factor:.2} × {} CPUs", host.load_one, host.logical_cpus));
    }
    if host.memory_total > 0 && reserved.memory_bytes + want.memory_bytes + floor > host.memory_total {
        return Some(format!(
            "memory: {} reserved + {} requested + {} floor exceeds the {} installed",
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
mod tests;
