//! What one task of a class reserves, scaled to the host it runs on.
//!
//! A CLI agent itself is small — a live Codex or Claude Code process holds ≈200–500 MiB and is
//! mostly idle while it waits for its model — so what a class reserves is mostly for the commands
//! the agent runs (git, builds, test suites). The defaults are therefore fractions of the host,
//! never above the fixed numbers Q-COLD used before ([`cap`]) and never below what an agent needs
//! to run at all:
//!
//! | class | CPU | memory |
//! |---|---|---|
//! | cheap | CPUs / 16, at most 250m | memory / 32, 512 MiB – 2 GiB |
//! | mid | CPUs / 8, at most 500m | memory / 16, 1 – 8 GiB |
//! | heavy | CPUs / 2, at most 2000m | memory / 4, 2 – 32 GiB |
//!
//! A 128 GiB / 32-CPU host gets exactly the caps; a 24 GiB / 2-CPU laptop reserves 1.5 GiB and
//! 250m for a mid task (eight at once by CPU, not two by memory). An operator's number
//! ([`ClassSetting`]) always wins over the scaled one.

use serde::{Deserialize, Serialize};

use crate::queue::TaskClass;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

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

/// What the operator set a class to reserve; a number left unset scales to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClassSetting {
    /// CPU, in thousandths of a CPU (`QCOLD_QUEUE_ADMISSION_<CLASS>_CPU_MILLI`).
    pub cpu_milli: Option<u64>,
    /// Memory, in bytes (`QCOLD_QUEUE_ADMISSION_<CLASS>_MEMORY_MIB`).
    pub memory_bytes: Option<u64>,
}

impl ClassSetting {
    /// The reservation of `class` on a host of `logical_cpus` and `memory_total` bytes: the
    /// operator's numbers where set, the [`scaled`] ones elsewhere.
    pub fn resolve(self, class: TaskClass, logical_cpus: u32, memory_total: u64) -> Reservation {
        let scaled = scaled(class, logical_cpus, memory_total);
        Reservation {
            cpu_milli: self.cpu_milli.unwrap_or(scaled.cpu_milli),
            memory_bytes: self.memory_bytes.unwrap_or(scaled.memory_bytes),
            ..scaled
        }
    }
}

/// The most a class reserves by default, whatever the host: cheap 250m / 2 GiB, mid 500m /
/// 8 GiB, heavy 2000m / 32 GiB (and one task slot each, heavy also one heavy slot).
pub const fn cap(class: TaskClass) -> Reservation {
    match class {
        TaskClass::Cheap => Reservation { tasks: 1, heavy: 0, cpu_milli: 250, memory_bytes: 2 * GIB },
        TaskClass::Mid => Reservation { tasks: 1, heavy: 0, cpu_milli: 500, memory_bytes: 8 * GIB },
        TaskClass::Heavy => Reservation { tasks: 1, heavy: 1, cpu_milli: 2000, memory_bytes: 32 * GIB },
    }
}

/// `(CPU divisor, memory divisor, memory minimum)` of a class: see the module's table.
const fn fractions(class: TaskClass) -> (u64, u64, u64) {
    match class {
        TaskClass::Cheap => (16, 32, 512 * MIB),
        TaskClass::Mid => (8, 16, GIB),
        TaskClass::Heavy => (2, 4, 2 * GIB),
    }
}

/// The default reservation of `class` on a host of `logical_cpus` and `memory_total` bytes (see
/// the module's table); a number the host did not report (0) falls back to the [`cap`].
pub fn scaled(class: TaskClass, logical_cpus: u32, memory_total: u64) -> Reservation {
    let cap = cap(class);
    let (cpu_divisor, memory_divisor, memory_min) = fractions(class);
    let cpu_milli = if logical_cpus == 0 {
        cap.cpu_milli
    } else {
        (u64::from(logical_cpus) * 1000 / cpu_divisor).clamp(1, cap.cpu_milli)
    };
    let memory_bytes = if memory_total == 0 {
        cap.memory_bytes
    } else {
        (memory_total / memory_divisor).clamp(memory_min, cap.memory_bytes)
    };
    Reservation { cpu_milli, memory_bytes, ..cap }
}
