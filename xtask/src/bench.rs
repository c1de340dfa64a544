//! `cargo xtask bench`: measures the daemon the way an operator feels it.
//!
//! - idle CPU of a daemon holding many repositories (the original burns ≈24 % of a core idling);
//! - `/api/state` latency, sequential, and the first read right after a write;
//! - push latency: from `qcold repo add` returning to the `repositories` event reaching a client;
//! - the dashboard's size: what the daemon sends a browser that accepts gzip (index, js, wasm,
//!   css: its zopfli copies, or the asset gzipped -9 here where it has none),
//!   against the 350 KiB budget of issue #12;
//! - the dashboard in headless Chromium against a daemon holding 10,000 tasks and a 1,000-item
//!   run: first meaningful paint (budget 500 ms) and one pushed item change reaching the page
//!   (`tests/integration/bench_dashboard.rs`, built in release);
//! - queue throughput: 100 and 1,000 trivial items (a scripted agent that commits one file and
//!   closes out) run end to end — worktree, tmux terminal, closeout with delivery — and the
//!   daemon's own CPU time for them, then its idle CPU with that history in the store; beside
//!   them pueue and the git+tmux floor ([`peers`]), with a table of ratios;
//! - the scheduler's pass over a run of 10,000 pending items with no capacity: the first pass,
//!   passes over unchanged evidence and the pass after a slot frees, with the rows each writes.
//!
//! It prints numbers and asserts nothing: speed is tracked here, never by timed test assertions.
//! `cargo xtask bench web` measures only the dashboard (size, paint, push).

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::process::{self, cargo};

mod peers;

const REPOSITORIES: usize = 200;
const STATE_READS: usize = 1_000;
const PUSHES: usize = 20;
const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// The queue runs' sizes: per-item cost must not grow with the run.
const QUEUE_SIZES: [usize; 2] = [100, 1_000];

/// The benchmark's agent: commit one file, close the task out.
const TRIVIAL_AGENT: &str = "#!/bin/sh
echo \"$QCOLD_TASK_SLUG\" > \"$QCOLD_TASK_SLUG.txt\"
git add \"$QCOLD_TASK_SLUG.txt\" && git commit -q -m \"$QCOLD_TASK_SLUG\"
exec qcold task closeout --outcome success --message \"$QCOLD_TASK_SLUG\"
";

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let only = match args.first().map(String::as_str) {
        None => Only::All,
        Some("web") => Only::Web,
        Some("queue") => Only::Queue,
        Some(other) => anyhow::bail!("unknown bench {other:?}: `cargo xtask bench [web|queue]`"),
    };
    // The dashboard is built first, so the daemon embeds (and the size measures) today's code.
    crate::web::build(&crate::setup::web_tools()?)?;
    crate::step("build qcold (release)");
    process::run(cargo().args(["build", "--release", "-p", "qcold-cli"]))?;
    let qcold = target_dir().join("release/qcold");
    let dir = crate::root().join("target/bench").join(std::process::id().to_string());
    std::fs::create_dir_all(&dir)?;
    let state = dir.join("state");
    let qcold_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&qcold);
        cmd.args(args).env("QCOLD_STATE_DIR", &state).stdout(Stdio::null());
        cmd
    };

    let repositories = if only == Only::All { REPOSITORIES } else { 0 };
    crate::step(&format!("register {repositories} repositories"));
    for i in 0..repositories {
        let repo = dir.join(format!("repo-{i}"));
        git_repo(&repo)?;
        process::run(qcold_cmd(&["repo", "add", &format!("r{i}")]).arg(&repo))?;
    }

    crate::step("start the daemon");
    // The host-load guard would make the queue measurement a measurement of this machine's load.
    let mut daemon = qcold_cmd(&["serve", "--listen", "127.0.0.1:0"])
        .env("QCOLD_QUEUE_ADMISSION_MAX_LOAD_PERCENT", "100000")
        .stdout(Stdio::piped())
        .spawn()?;
    let url = daemon_url(&mut daemon)?;
    let queues = |()| compare_queues(&url, daemon.id(), &dir, &qcold_cmd);
    let result = match only {
        Only::Web => measure_bundle(&url),
        Only::Queue => queues(()),
        Only::All => measure(&url, daemon.id(), &dir, &qcold_cmd).and_then(|()| measure_bundle(&url)).and_then(queues),
    };
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
    match only {
        Only::All => result.and_then(|()| measure_pass()).and_then(|()| measure_browser()),
        Only::Web | Only::Queue => result,
    }
}

/// Which part of the benchmark runs: all of it, or only the dashboard's or the queue's part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    All,
    Web,
    Queue,
}

/// Runs the scheduler's pass-cost benchmark (a run of 10,000 pending items with no capacity,
/// `scheduler::tests::bench_pass_with_10k_pending_items`).
fn measure_pass() -> anyhow::Result<()> {
    crate::step("scheduler pass cost: 10,000 pending items (release build)");
    ignored_bench(&["-p", "qcold-server", "--lib", "bench_pass_with_10k_pending_items"])
}

/// Runs the ignored benchmark test `selection` (cargo test's package, target and filter
/// arguments) in release, one at a time; it prints its own lines.
fn ignored_bench(selection: &[&str]) -> anyhow::Result<()> {
    process::run(cargo().args(["test", "--release"]).args(selection).args([
        "--",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ]))
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else the workspace's `target`.
fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| crate::root().join("target"), Into::into)
}

/// Runs the browser benchmark, `tests/integration/bench_dashboard.rs` (ignored by `cargo test`),
/// built in release like the daemon it starts.
fn measure_browser() -> anyhow::Result<()> {
    crate::step("dashboard in headless Chromium: 10,000 tasks, 1,000 queue items (release build)");
    ignored_bench(&["-p", "qcold-tests", "--test", "integration", "bench_dashboard"])
}

fn measure(url: &str, pid: u32, dir: &Path, qcold_cmd: &dyn Fn(&[&str]) -> Command) -> anyhow::Result<()> {
    // Let start-up settle before measuring idle.
    std::thread::sleep(Duration::from_secs(2));
    let before = cpu_ticks(pid)?;
    std::thread::sleep(IDLE_WINDOW);
    let after = cpu_ticks(pid)?;
    #[allow(clippy::cast_precision_loss)]
    let idle_percent = (after - before) as f64 / clock_ticks_per_second() / IDLE_WINDOW.as_secs_f64() * 100.0;

    let state_url = format!("{url}/api/state");
    let mut reads = Vec::with_capacity(STATE_READS);
    for _ in 0..STATE_READS {
        let started = Instant::now();
        ureq::get(&state_url).call()?.into_string()?;
        reads.push(started.elapsed());
    }
    reads.sort();

    let events = subscribe(&format!("{url}/api/events"))?;
    let mut pushes = Vec::with_capacity(PUSHES);
    let mut first_reads = Vec::with_capacity(PUSHES);
    for i in 0..PUSHES {
        let repo = dir.join(format!("push-{i}"));
        git_repo(&repo)?;
        while events.try_recv().is_ok() {}
        process::run(qcold_cmd(&["repo", "add", &format!("p{i}")]).arg(&repo))?;
        let written = Instant::now();
        ureq::get(&state_url).call()?.into_string()?;
        first_reads.push(written.elapsed());
        loop {
            let name = events.recv_timeout(Duration::from_secs(10))?;
            if name == "repositories" {
                pushes.push(written.elapsed());
                break;
            }
        }
    }
    pushes.sort();
    first_reads.sort();

    println!("\nbenchmark                                   result");
    println!(
        "daemon idle CPU, {REPOSITORIES} repositories, {}s     {idle_percent:.2} % of one core",
        IDLE_WINDOW.as_secs()
    );
    println!(
        "GET /api/state x{STATE_READS}                      p50 {:?}  p99 {:?}  max {:?}",
        pct(&reads, 50),
        pct(&reads, 99),
        reads[reads.len() - 1]
    );
    println!(
        "first GET /api/state after a write         p50 {:?}  max {:?}",
        pct(&first_reads, 50),
        first_reads[first_reads.len() - 1]
    );
    println!(
        "repo add -> `repositories` event pushed    p50 {:?}  max {:?}",
        pct(&pushes, 50),
        pushes[pushes.len() - 1]
    );
    Ok(())
}

/// The queue at each of [`QUEUE_SIZES`] beside pueue and the floor, then the table of ratios
/// (markdown, as `docs/benchmarks.md` quotes it).
fn compare_queues(url: &str, pid: u32, dir: &Path, qcold_cmd: &dyn Fn(&[&str]) -> Command) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for size in QUEUE_SIZES {
        let qcold = measure_queue(url, pid, dir, qcold_cmd, size)?;
        let pueue = peers::pueue(dir, size)?;
        let floor = peers::floor(dir, size, false)?;
        let delivered = peers::floor(dir, size, true)?;
        rows.push((size, qcold, pueue, floor, delivered));
    }
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1_000.0);
    let ratio = |a: Duration, b: Duration| format!("{:.2}", a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON));
    println!("\nper item, parallel {}:\n", peers::PARALLEL);
    println!(
        "| items | Q-COLD | pueue, bare `true` | floor | floor with delivery | Q-COLD / pueue | Q-COLD overhead / floor with delivery |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (size, qcold, pueue, floor, delivered) in &rows {
        println!(
            "| {size} | {} | {} | {} | {} | {} | {} |",
            ms(*qcold),
            ms(*pueue),
            ms(*floor),
            ms(*delivered),
            ratio(*qcold, *pueue),
            ratio(qcold.saturating_sub(*delivered), *delivered)
        );
    }
    if let [(_, small, ..), .., (_, large, ..)] = rows.as_slice() {
        println!(
            "\nQ-COLD per item at {} items / at {} items: {}",
            QUEUE_SIZES[1],
            QUEUE_SIZES[0],
            ratio(*large, *small)
        );
    }
    Ok(())
}

/// Per item: `size` trivial items run by the daemon at `url` end to end.
fn measure_queue(
    url: &str,
    pid: u32,
    dir: &Path,
    qcold_cmd: &dyn Fn(&[&str]) -> Command,
    size: usize,
) -> anyhow::Result<Duration> {
    crate::step(&format!("queue: {size} trivial items"));
    let name = format!("qb{size}");
    let repo = dir.join(&name);
    git_repo(&repo)?;
    let git = |args: &[&str]| {
        Command::new("git")
            .args(["-c", "user.name=bench", "-c", "user.email=bench@qcold.invalid"])
            .args(args)
            .current_dir(&repo)
            .status()
    };
    std::fs::write(repo.join("README.md"), "bench\n")?;
    anyhow::ensure!(git(&["add", "README.md"])?.success() && git(&["commit", "-q", "-m", "init"])?.success());
    for (key, value) in [("user.name", "bench"), ("user.email", "bench@qcold.invalid")] {
        anyhow::ensure!(git(&["config", key, value])?.success());
    }
    process::run(qcold_cmd(&["repo", "add", &name, "--verify-command", "true"]).arg(&repo))?;
    let agent = dir.join("trivial-agent.sh");
    if !agent.exists() {
        std::fs::write(&agent, TRIVIAL_AGENT)?;
        process::run(Command::new("chmod").arg("+x").arg(&agent))?;
        process::run(qcold_cmd(&["agent", "command", "add", "trivial", "--probe", "true", "--"]).arg(&agent))?;
    }
    let items: Vec<String> =
        (0..size).map(|i| format!(r#"{{"id": "t{i}", "prompt": "trivial {i}", "task_class": "cheap"}}"#)).collect();
    let package = dir.join(format!("bench-queue-{size}.json"));
    std::fs::write(
        &package,
        format!(
            r#"{{"repo": "{name}", "agent": "trivial", "execution_mode": "graph", "items": [{}]}}"#,
            items.join(",")
        ),
    )?;
    let listen = url.trim_start_matches("http://");
    let cpu_before = cpu_ticks(pid)?;
    let started = Instant::now();
    let package_arg = package.to_string_lossy().into_owned();
    process::run(&mut qcold_cmd(&["queue", "run", "--from", &package_arg, "--listen", listen, "--no-start-daemon"]))?;
    loop {
        let view: serde_json::Value = ureq::get(&format!("{url}/api/queue")).call()?.into_json()?;
        let status = view["runs"]
            .as_array()
            .and_then(|runs| runs.iter().find(|r| r["repo"] == name.as_str()))
            .map(|r| r["status"].clone());
        match status.as_ref().and_then(|s| s.as_str()) {
            Some("success") => break,
            Some("failed") => anyhow::bail!("the benchmark run failed: {view}"),
            _ => {}
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1_800),
            "the benchmark run did not finish in 30 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = started.elapsed();
    #[allow(clippy::cast_precision_loss)]
    let cpu = (cpu_ticks(pid)? - cpu_before) as f64 / clock_ticks_per_second();
    std::thread::sleep(Duration::from_secs(2));
    let before = cpu_ticks(pid)?;
    std::thread::sleep(IDLE_WINDOW);
    #[allow(clippy::cast_precision_loss)]
    let idle = (cpu_ticks(pid)? - before) as f64 / clock_ticks_per_second() / IDLE_WINDOW.as_secs_f64() * 100.0;
    #[allow(clippy::cast_precision_loss)]
    let per_item = elapsed / u32::try_from(size).unwrap_or(1);
    println!(
        "queue: {size} trivial items end to end        {elapsed:.1?} ({per_item:.0?} per item; daemon CPU {cpu:.2}s)"
    );
    println!("daemon idle CPU after the run, {}s        {idle:.2} % of one core", IDLE_WINDOW.as_secs());
    Ok(per_item)
}

/// The dashboard as served: `/` and every asset it names, each gzip-compressed (level 9), against
/// the issue's budget of 350 KiB for wasm + js + css.
fn measure_bundle(url: &str) -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    let gzipped = |bytes: &[u8]| -> anyhow::Result<usize> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes)?;
        Ok(encoder.finish()?.len())
    };
    // What a browser downloads: the daemon's gzip copy where it has one (made by `cargo xtask
    // web`), else the asset as served, gzipped here with -9 as a server would on the fly.
    let fetch = |path: &str| -> anyhow::Result<(Vec<u8>, usize)> {
        let response = ureq::get(&format!("{url}{path}")).set("Accept-Encoding", "gzip").call()?;
        let served_gzip = response.header("Content-Encoding") == Some("gzip");
        let mut body = Vec::new();
        response.into_reader().read_to_end(&mut body)?;
        if served_gzip {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain)?;
            Ok((plain, body.len()))
        } else {
            let size = gzipped(&body)?;
            Ok((body, size))
        }
    };
    let (index, index_size) = fetch("/")?;
    let html = String::from_utf8_lossy(&index);
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with('/') && [".js", ".wasm", ".css"].iter().any(|e| s.ends_with(e)))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    anyhow::ensure!(
        assets.iter().any(|a| a.ends_with(".wasm")),
        "the served index names no wasm: is the dashboard built in?"
    );
    let mut total = 0;
    for asset in &assets {
        let (_, size) = fetch(asset)?;
        total += size;
        println!("dashboard {asset:<40} {:>7.1} KiB gzip", size as f64 / 1024.0);
    }
    println!("dashboard wasm + js + css, gzip            {:.1} KiB (budget 350 KiB)", total as f64 / 1024.0);
    println!("dashboard index.html, gzip                 {:.1} KiB", index_size as f64 / 1024.0);
    Ok(())
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

fn git_repo(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let status = Command::new("git")
        .args(["-c", "user.name=bench", "-c", "user.email=bench@qcold.invalid", "init", "-q", "-b", "main"])
        .current_dir(dir)
        .status()?;
    anyhow::ensure!(status.success(), "git init failed in {}", dir.display());
    Ok(())
}

fn daemon_url(daemon: &mut Child) -> anyhow::Result<String> {
    let stdout = daemon.stdout.take().ok_or_else(|| anyhow::anyhow!("no daemon stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    line.trim().rsplit(' ').next().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("daemon printed {line:?}"))
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default().split_whitespace().collect();
    // After the command name: state is field 0, utime 11, stime 12.
    Ok(fields.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
}

fn clock_ticks_per_second() -> f64 {
    process::output("getconf", &["CLK_TCK"]).and_then(|v| v.parse().ok()).unwrap_or(100.0)
}

/// Event names from an SSE endpoint, on a background thread.
fn subscribe(url: &str) -> anyhow::Result<mpsc::Receiver<String>> {
    let response = ureq::get(url).call()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(response.into_reader()).lines() {
            let Ok(line) = line else { return };
            if let Some(name) = line.strip_prefix("event:")
                && tx.send(name.trim().to_owned()).is_err()
            {
                return;
            }
        }
    });
    Ok(rx)
}
