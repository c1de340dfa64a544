//! The node's last hour as charts: CPU use, load, memory and disk, each an inline SVG line drawn
//! from the host samples (no chart library: the bundle budget is tight).
//!
//! The history is fetched once; every `node` event after that appends its sample, so the charts
//! move with the stream and nothing polls.

use leptos::prelude::*;
use qcold_core::NodeSnapshot;
use qcold_core::queue::admission::HostSample;
use qcold_core::units::format_bytes;

use crate::api;
use crate::token::SessionToken;

/// The SVG's drawing width; the element itself stretches to the section.
const WIDTH: f64 = 600.0;
/// The SVG's drawing height.
const HEIGHT: f64 = 100.0;
/// A pause between samples longer than this breaks the line instead of bridging it.
const GAP_SECS: i64 = 60;

/// What one chart plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    /// CPU use, percent.
    Cpu,
    /// One-minute load average, against the CPU count.
    Load,
    /// Memory in use, against what is installed.
    Memory,
    /// Disk in use on the state dir's file system, against its size.
    Disk,
}

impl Metric {
    const ALL: [Metric; 4] = [Metric::Cpu, Metric::Load, Metric::Memory, Metric::Disk];

    fn name(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::Load => "load",
            Metric::Memory => "memory",
            Metric::Disk => "disk",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Metric::Cpu => "CPU",
            Metric::Load => "Load (1 min)",
            Metric::Memory => "Memory used",
            Metric::Disk => "Disk used",
        }
    }

    /// The plotted value of one sample, when it was measured.
    fn value(self, s: &HostSample) -> Option<f64> {
        match self {
            Metric::Cpu => s.cpu_usage_percent.map(f64::from),
            Metric::Load => Some(s.load_one),
            Metric::Memory => (s.memory_total > 0).then(|| s.memory_total.saturating_sub(s.memory_available) as f64),
            Metric::Disk => Some(s.disk_total?.saturating_sub(s.disk_available?) as f64),
        }
    }

    /// The top of the y axis: 100 %, the CPU count (or the highest load above it), or the size.
    fn ceiling(self, samples: &[HostSample]) -> f64 {
        let top = match self {
            Metric::Cpu => 100.0,
            Metric::Load => {
                let cpus = samples.last().map_or(1, |s| s.logical_cpus.max(1));
                samples.iter().map(|s| s.load_one).fold(f64::from(cpus), f64::max)
            }
            Metric::Memory => samples.iter().map(|s| s.memory_total as f64).fold(0.0, f64::max),
            Metric::Disk => samples.iter().filter_map(|s| s.disk_total).map(|t| t as f64).fold(0.0, f64::max),
        };
        if top > 0.0 { top } else { 1.0 }
    }

    /// A value in this metric's unit.
    fn label(self, value: f64) -> String {
        match self {
            Metric::Cpu => format!("{value:.0} %"),
            Metric::Load => format!("{value:.2}"),
            Metric::Memory | Metric::Disk => format_bytes(value as u64),
        }
    }
}

/// The sample a node snapshot stands for, at its sampling time; `None` without CPU or memory
/// figures, which every chart's sample needs.
pub(crate) fn sample_of(node: &NodeSnapshot) -> Option<HostSample> {
    let resources = &node.resources;
    let cpu = resources.cpu.as_ref()?;
    let memory = resources.memory.as_ref()?;
    Some(HostSample {
        at: node.heartbeat.sampled_at,
        logical_cpus: cpu.logical_cpus,
        load_one: resources.load.as_ref().map_or(0.0, |l| l.one),
        memory_total: memory.total_bytes,
        memory_available: memory.available_bytes,
        reserved_tasks: 0,
        reserved_heavy: 0,
        cpu_usage_percent: Some(cpu.usage_percent),
        disk_total: resources.disk.as_ref().map(|d| d.total_bytes),
        disk_available: resources.disk.as_ref().map(|d| d.available_bytes),
    })
}

/// Adds `sample` to `history` (oldest first) unless it is not newer than the last one, and drops
/// what falls out of the window behind it.
pub(crate) fn append(history: &mut Vec<HostSample>, sample: HostSample, window_secs: i64) {
    if history.last().is_some_and(|last| last.at >= sample.at) {
        return;
    }
    history.push(sample);
    history.retain(|s| s.at >= sample.at - window_secs);
}

/// The SVG path of `metric` over the window ending at `end`: one `M`/`L` run per stretch without
/// gaps, scaled to the drawing box.
pub(crate) fn path(metric: Metric, samples: &[HostSample], end: i64, window_secs: i64) -> String {
    let ceiling = metric.ceiling(samples);
    let start = end - window_secs;
    let mut d = String::new();
    let mut previous: Option<i64> = None;
    for sample in samples.iter().filter(|s| s.at >= start) {
        let Some(value) = metric.value(sample) else {
            previous = None;
            continue;
        };
        let x = (sample.at - start) as f64 / window_secs.max(1) as f64 * WIDTH;
        let y = HEIGHT - (value / ceiling).clamp(0.0, 1.0) * HEIGHT;
        let command = if previous.is_some_and(|p| sample.at - p <= GAP_SECS) { 'L' } else { 'M' };
        if !d.is_empty() {
            d.push(' ');
        }
        d.push_str(&format!("{command}{x:.1},{y:.1}"));
        previous = Some(sample.at);
    }
    d
}

/// The four charts over the node's last hour.
#[component]
pub(crate) fn NodeCharts(node: Signal<Option<NodeSnapshot>>, token: SessionToken) -> impl IntoView {
    let history = RwSignal::new(Vec::<HostSample>::new());
    let window = RwSignal::new(3600_i64);
    let error = RwSignal::new(None::<String>);
    leptos::task::spawn_local(async move {
        match api::node::history(token).await {
            Ok(fetched) => {
                window.set(fetched.window_secs);
                // Samples that arrived on the stream while the history was in flight stay.
                history.update(|h| {
                    let live = std::mem::replace(h, fetched.samples);
                    for sample in live {
                        append(h, sample, fetched.window_secs);
                    }
                });
            }
            Err(err) => error.set(Some(err.to_string())),
        }
    });
    Effect::new(move || {
        if let Some(sample) = node.with(|n| n.as_ref().and_then(sample_of)) {
            let window = window.get_untracked();
            history.update(|h| append(h, sample, window));
        }
    });
    view! {
        <section class="node-charts" data-testid="node-charts">
            <h2>"Last hour"</h2>
            {move || error.get().map(|e| view! { <p class="error" data-testid="node-history-error">{e}</p> })}
            <div class="charts">
                {Metric::ALL.into_iter().map(|metric| view! { <Chart metric=metric history=history window=window /> }).collect_view()}
            </div>
        </section>
    }
}

/// One chart: title and current value, the line with its y range, and the time axis.
#[component]
fn Chart(metric: Metric, history: RwSignal<Vec<HostSample>>, window: RwSignal<i64>) -> impl IntoView {
    let current = move || {
        history
            .with(|h| h.iter().rev().find_map(|s| metric.value(s)))
            .map_or_else(|| "–".to_owned(), |v| metric.label(v))
    };
    let top = move || history.with(|h| metric.label(metric.ceiling(h)));
    let d = move || history.with(|h| h.last().map(|last| path(metric, h, last.at, window.get())).unwrap_or_default());
    let minutes = move || window.get() / 60;
    view! {
        <figure class="chart" data-testid=format!("chart-{}", metric.name())>
            <figcaption>
                <span>{metric.title()}</span>
                <strong data-testid=format!("chart-{}-now", metric.name())>{current}</strong>
            </figcaption>
            <div class="plot">
                <div class="y"><span>{top}</span><span>"0"</span></div>
                <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none" role="img" aria-label=metric.title()>
                    <path d=d vector-effect="non-scaling-stroke" />
                </svg>
            </div>
            <div class="x"><span>{move || format!("−{} min", minutes())}</span><span>{move || format!("−{} min", minutes() / 2)}</span><span>"now"</span></div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: i64, load: f64) -> HostSample {
        HostSample {
            at,
            logical_cpus: 2,
            load_one: load,
            memory_total: 100,
            memory_available: 25,
            reserved_tasks: 0,
            reserved_heavy: 0,
            cpu_usage_percent: Some(50.0),
            disk_total: None,
            disk_available: None,
        }
    }

    #[test]
    fn append_keeps_order_and_the_window() {
        let mut history = vec![sample(0, 0.0), sample(10, 0.0)];
        append(&mut history, sample(10, 1.0), 60);
        assert_eq!(history.len(), 2, "a sample not newer than the last is dropped");
        append(&mut history, sample(65, 1.0), 60);
        assert_eq!(history.iter().map(|s| s.at).collect::<Vec<_>>(), [10, 65]);
    }

    #[test]
    fn path_scales_to_the_box_breaks_at_gaps_and_skips_unmeasured() {
        let samples = [sample(0, 0.0), sample(30, 1.0), sample(200, 4.0), sample(250, 2.0)];
        // Load: the ceiling is the highest load (4) above the 2 CPUs; the 170 s pause breaks the line.
        assert_eq!(path(Metric::Load, &samples, 300, 300), "M0.0,100.0 L60.0,75.0 M400.0,0.0 L500.0,50.0");
        assert_eq!(path(Metric::Memory, &samples[..1], 0, 300), "M600.0,25.0");
        assert_eq!(path(Metric::Disk, &samples, 300, 300), "", "no disk figures, no line");
        // Samples before the window are left out.
        assert_eq!(path(Metric::Cpu, &samples, 300, 100), "M0.0,50.0 L300.0,50.0");
    }
}
