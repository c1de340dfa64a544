use expect_test::{Expect, expect};

use super::*;
use crate::queue::admission::reservation::{cap, scaled};

const MIB: u64 = 1024 * 1024;

fn host(cpus: u32, load: f64, total_gib: u64, avail_gib: u64) -> HostSample {
    HostSample {
        at: 1000,
        logical_cpus: cpus,
        load_one: load,
        memory_total: total_gib * GIB,
        memory_available: avail_gib * GIB,
        reserved_tasks: 0,
        reserved_heavy: 0,
        cpu_usage_percent: None,
        disk_total: None,
        disk_available: None,
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
            Decision::Wait { reason, retry_at, never } => {
                assert_eq!(retry_at, 1000 + policy.retry_secs);
                // The typed marker and the words agree: only a setting changes these.
                assert_eq!(never, reason.contains("ever start"), "{reason}");
                reason
            }
        })
        .collect()
}

/// How many tasks of each class an idle, unloaded host of `cpus` and `gib` takes at once under
/// the default policy, with what each reserves and why the next one waits.
fn capacity(cpus: u32, gib: u64) -> String {
    let idle = host(cpus, 0.0, gib, gib);
    let mut out = Vec::new();
    for class in [TaskClass::Cheap, TaskClass::Mid, TaskClass::Heavy] {
        let r = Policy::default().reserves(class, &idle);
        let decisions = decide(Policy::default(), &idle, &[], &[], &[class; 20]);
        let admitted = decisions.iter().filter(|d| *d == "admit").count();
        let next = decisions.iter().find(|d| *d != "admit").map_or("-", String::as_str);
        out.push(format!(
            "{}: {}m {} -> {admitted} at once; then {next}",
            class.as_str(),
            r.cpu_milli,
            format_bytes(r.memory_bytes)
        ));
    }
    out.join("\n")
}

fn check(actual: String, want: Expect) {
    want.assert_eq(&actual);
}

#[test]
fn defaults_scale_to_the_host() {
    check(
        capacity(2, 4),
        expect![[r#"
            cheap: 125m 512.0 MiB -> 6 at once; then memory: 3.0 GiB reserved + 512.0 MiB requested + 1.0 GiB floor exceeds the 4.0 GiB installed
            mid: 250m 1.0 GiB -> 3 at once; then memory: 3.0 GiB reserved + 1.0 GiB requested + 1.0 GiB floor exceeds the 4.0 GiB installed
            heavy: 1000m 2.0 GiB -> 1 at once; then memory: 2.0 GiB reserved + 2.0 GiB requested + 1.0 GiB floor exceeds the 4.0 GiB installed"#]],
    );
    check(
        capacity(2, 24),
        expect![[r#"
            cheap: 125m 768.0 MiB -> 12 at once; then hard task limit: 12 task(s) reserved, the hard limit is 12
            mid: 250m 1.5 GiB -> 8 at once; then cpu: 2000m reserved + 250m requested exceeds 2 CPUs
            heavy: 1000m 6.0 GiB -> 2 at once; then heavy task limit: 2 heavy task(s) reserved, the limit is 2"#]],
    );
    check(
        capacity(32, 128),
        expect![[r#"
            cheap: 250m 2.0 GiB -> 12 at once; then hard task limit: 12 task(s) reserved, the hard limit is 12
            mid: 500m 8.0 GiB -> 12 at once; then hard task limit: 12 task(s) reserved, the hard limit is 12
            heavy: 2000m 32.0 GiB -> 2 at once; then heavy task limit: 2 heavy task(s) reserved, the limit is 2"#]],
    );
    for class in [TaskClass::Cheap, TaskClass::Mid, TaskClass::Heavy] {
        assert_eq!(scaled(class, 32, 128 * GIB), cap(class), "a big host gets exactly the caps");
        assert_eq!(scaled(class, 1024, 4096 * GIB), cap(class), "and never more");
        assert_eq!(scaled(class, 0, 0), cap(class), "an unreported host falls back to the caps");
    }
}

#[test]
fn operators_numbers_win_over_the_scaled_ones() {
    use TaskClass::*;
    let mut p = Policy::default();
    let small = host(2, 0.0, 24, 20);
    p.class_mut(Mid).memory_bytes = Some(8 * GIB);
    assert_eq!(
        decide(p, &small, &[], &[], &[Mid, Mid, Mid]),
        [
            "admit",
            "admit",
            "memory: 16.0 GiB reserved + 8.0 GiB requested + 3.0 GiB floor exceeds the 24.0 GiB installed"
        ]
    );
    let mid = p.reserves(Mid, &small);
    assert_eq!((mid.cpu_milli, mid.memory_bytes), (250, 8 * GIB), "an unset number still scales");
    p.class_mut(Heavy).cpu_milli = Some(100);
    p.class_mut(Heavy).memory_bytes = Some(16 * MIB);
    assert_eq!(p.reserves(Heavy, &small), Reservation { tasks: 1, heavy: 1, cpu_milli: 100, memory_bytes: 16 * MIB });
    assert_eq!(p.reserves(Cheap, &small), scaled(Cheap, 2, 24 * GIB), "other classes keep their defaults");
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
        decide(p, &host(4, 5.0, 1024, 1000), &[], &[Cheap], &[Cheap]),
        ["host load 5.00 is at least 1.25 × 4 CPUs"]
    );
    assert_eq!(
        decide(p, &host(64, 0.0, 1024, 15), &[], &[Mid], &[Mid]),
        ["memory: 15.0 GiB available, below 8.0 GiB requested + 8.0 GiB floor"]
    );
    assert_eq!(
        decide(p, &host(2, 0.0, 1024, 1000), &[], &[], &[Mid; 9]).last().unwrap(),
        "cpu: 2000m reserved + 250m requested exceeds 2 CPUs"
    );
}

#[test]
fn nothing_in_flight_admits_one_under_any_load() {
    use TaskClass::*;
    let p = Policy { soft_max_tasks: 0, ..Policy::default() };
    let busy = host(2, 40.0, 24, 0);
    let history = [HostSample { at: 990, ..busy }];
    assert_eq!(
        decide(p, &busy, &history, &[], &[Mid, Mid, Cheap]),
        ["admit", "host load 40.00 is at least 1.25 × 2 CPUs", "host load 40.00 is at least 1.25 × 2 CPUs"],
        "the first goes whatever the load, free memory and pressure; the rest say why they wait"
    );
    assert_eq!(
        decide(p, &busy, &history, &[Cheap], &[Mid]),
        ["host load 40.00 is at least 1.25 × 2 CPUs"],
        "with one in flight the limits apply again"
    );
    let mut huge = p;
    huge.class_mut(Heavy).memory_bytes = Some(64 * GIB);
    assert_eq!(
        decide(huge, &busy, &history, &[], &[Heavy, Mid]),
        [
            "heavy reserves 64.0 GiB but the host has 24.0 GiB, 3.0 GiB of it kept free, so it can never start here; \
             set QCOLD_QUEUE_ADMISSION_HEAVY_MEMORY_MIB",
            "admit"
        ],
        "a class that can never fit does not take the one progress slot"
    );
}

#[test]
fn a_class_that_can_never_fit_says_so() {
    use TaskClass::*;
    let tiny = host(1, 0.0, 2, 2);
    let p = Policy::default();
    assert_eq!(
        decide(p, &tiny, &[], &[], &[Heavy, Mid]),
        [
            "heavy reserves 2.0 GiB but the host has 2.0 GiB, 1.0 GiB of it kept free, so it can never start here; \
             set QCOLD_QUEUE_ADMISSION_HEAVY_MEMORY_MIB",
            "admit"
        ]
    );
    let mut cpu = p;
    cpu.class_mut(Mid).cpu_milli = Some(4000);
    assert_eq!(
        decide(cpu, &host(2, 0.0, 24, 24), &[], &[Cheap], &[Mid]),
        ["mid reserves 4000m CPU but the host has 2 CPU(s), so it can never start here; \
          set QCOLD_QUEUE_ADMISSION_MID_CPU_MILLI"],
        "said even while other work runs: waiting for it to end would not help"
    );
    let no_heavy = Policy { heavy_max_tasks: 0, ..p };
    assert_eq!(
        decide(no_heavy, &host(32, 0.0, 128, 128), &[], &[], &[Heavy]),
        ["the heavy task limit is 0, so no heavy task can ever start; set QCOLD_QUEUE_ADMISSION_HEAVY_MAX_TASKS"]
    );
    let nothing = Policy { soft_max_tasks: 0, hard_max_tasks: 0, ..p };
    assert_eq!(
        decide(nothing, &host(32, 0.0, 128, 128), &[], &[], &[Cheap]),
        ["the hard task limit is 0, so nothing can ever start; set QCOLD_QUEUE_ADMISSION_HARD_MAX_TASKS"]
    );
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
