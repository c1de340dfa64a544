//! The audit after a chaos run: per item its ledger rows, agent starts (from the agent's own log,
//! the store and task records) and deliveries; orphans on disk, in git, in tmux and in the
//! process table; and SQLite's integrity check.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::World;
use crate::{alive, git, wait_until};

/// What one item left behind.
#[derive(Debug, Clone)]
pub struct ItemFacts {
    /// The item id.
    pub id: String,
    /// Its task slug.
    pub slug: String,
    /// Its status.
    pub status: String,
    /// Its reason.
    pub reason: String,
    /// Its ledger rows, as their failures (`None` for a row that did not fail).
    pub rows: Vec<Option<String>>,
    /// How often the agent logged a start for its slug.
    pub starts: usize,
    /// How many agent records the store has for it.
    pub agents: usize,
    /// How many task records the store has for its slug.
    pub tasks: usize,
    /// How many commits on the origin's `main` touch its file.
    pub deliveries: usize,
}

/// Everything a chaos run is judged by.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The run's status.
    pub run_status: String,
    /// The run, compacted, for messages.
    pub run: String,
    /// Per item.
    pub items: Vec<ItemFacts>,
    /// Leftovers: a `task/*` branch or worktree without an unfinished task, a tmux session or a
    /// live agent process after the run ended.
    pub orphans: Vec<String>,
    /// `PRAGMA integrity_check`.
    pub integrity: String,
}

impl Audit {
    /// Audits `run` (the view of an ended run) in `world`.
    pub fn take(world: &World, run: &Value) -> Self {
        // An agent that closed out still has to print its last line and exit; give it a moment.
        let _ = wait_until(Duration::from_secs(15), || live_leftovers(world).is_empty());
        let db = rusqlite::Connection::open(world.env.state_dir().join("qcold.sqlite3")).expect("open the store");
        db.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
        let integrity: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity check");
        let agent_ids = column(&db, "SELECT id FROM agents");
        let tasks: Vec<(String, String, String, String)> = {
            let mut stmt = db.prepare("SELECT slug, status, branch, worktree FROM tasks").expect("tasks");
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .expect("tasks")
                .collect::<Result<_, _>>()
                .expect("tasks")
        };
        let started = world.starts();
        let starts = counts(started.iter().map(String::as_str));
        let delivered = git(&world.origin, &["log", "--format=", "--name-only", "main"]);
        let deliveries = counts(delivered.lines().filter(|l| !l.is_empty()));
        let run_id = run["id"].as_str().unwrap_or_default();
        let items = run["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let id = item["id"].as_str().unwrap_or_default().to_owned();
                let slug = item["slug"].as_str().unwrap_or(&id).to_owned();
                let prefix = format!("q-{run_id}-{id}-");
                ItemFacts {
                    status: item["status"].as_str().unwrap_or_default().to_owned(),
                    reason: item["reason"].as_str().unwrap_or_default().to_owned(),
                    rows: item["attempts"]
                        .as_array()
                        .map(|rows| rows.iter().map(|a| a["failure"].as_str().map(str::to_owned)).collect())
                        .unwrap_or_default(),
                    starts: starts.get(slug.as_str()).copied().unwrap_or(0),
                    agents: agent_ids.iter().filter(|a| a.starts_with(&prefix)).count(),
                    tasks: tasks.iter().filter(|t| t.0 == slug).count(),
                    deliveries: deliveries.get(format!("{slug}.txt").as_str()).copied().unwrap_or(0),
                    id,
                    slug,
                }
            })
            .collect();
        let unfinished: Vec<&(String, String, String, String)> =
            tasks.iter().filter(|t| !t.1.starts_with("closed:")).collect();
        let mut orphans = live_leftovers(world);
        for branch in git(&world.repo, &["for-each-ref", "--format=%(refname:short)", "refs/heads/task/"]).lines() {
            if !unfinished.iter().any(|t| t.2 == branch) {
                orphans.push(format!("branch {branch} without an unfinished task"));
            }
        }
        let primary = world.repo.canonicalize().expect("primary path");
        for line in git(&world.repo, &["worktree", "list", "--porcelain"]).lines() {
            let Some(path) = line.strip_prefix("worktree ") else { continue };
            let canonical = Path::new(path).canonicalize().unwrap_or_else(|_| path.into());
            let parked = Path::new(path).parent().and_then(Path::file_name).is_some_and(|n| n == POOL);
            if parked {
                if let Err(why) = idle(Path::new(path)) {
                    orphans.push(format!("parked worktree {path} {why}"));
                }
            } else if canonical != primary && !unfinished.iter().any(|t| Path::new(&t.3) == Path::new(path)) {
                orphans.push(format!("worktree {path} without an unfinished task"));
            }
        }
        let wt_root = world.env.path().join("WT").join("web");
        let registered = git(&world.repo, &["worktree", "list", "--porcelain"]);
        for entry in std::fs::read_dir(&wt_root).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_name() == POOL {
                // Every directory of the pool is a worktree git lists (and judged above).
                for parked in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                    let listed = format!("worktree {}", parked.path().display());
                    if !registered.lines().any(|l| l == listed) {
                        orphans.push(format!("directory {} in the pool is no worktree", parked.path().display()));
                    }
                }
            } else if !unfinished.iter().any(|t| Path::new(&t.3) == path) {
                orphans.push(format!("directory {} without an unfinished task", path.display()));
            }
        }
        Self {
            run_status: run["status"].as_str().unwrap_or_default().to_owned(),
            run: super::compact(run),
            items,
            orphans,
            integrity,
        }
    }

    /// Items that did not succeed or whose work is not on the origin.
    pub fn lost(&self) -> Vec<&ItemFacts> {
        self.items.iter().filter(|i| i.status != "success" || i.deliveries == 0).collect()
    }

    /// Agent starts beyond the iterations the ledger explains, per item (by the agent's own
    /// log, the store's agent records, task records and deliveries, whichever is highest).
    pub fn duplicates(&self) -> usize {
        self.items
            .iter()
            .map(|i| {
                let iterations = i.rows.len().max(1);
                let seen = i.starts.max(i.agents);
                seen.saturating_sub(iterations) + i.tasks.saturating_sub(1) + i.deliveries.saturating_sub(1)
            })
            .sum()
    }

    /// What is wrong, given how many iterations each item may legitimately have (1 unless the
    /// fault itself ends an iteration); an empty list is a clean run.
    pub fn problems(&self, iterations: impl Fn(&ItemFacts) -> usize) -> Vec<String> {
        let mut problems = Vec::new();
        if self.run_status != "success" {
            problems.push(format!("the run ended {}", self.run_status));
        }
        for item in &self.items {
            let want = iterations(item);
            let failed: Vec<&String> = item.rows.iter().flatten().collect();
            let expected_failures = want.saturating_sub(1);
            let facts = format!(
                "{}: status {}, {} row(s) {:?}, {} start(s), {} agent(s), {} task(s), {} delivery(ies); reason: {}",
                item.id,
                item.status,
                item.rows.len(),
                item.rows,
                item.starts,
                item.agents,
                item.tasks,
                item.deliveries,
                item.reason
            );
            let exact = item.status == "success"
                && item.rows.len() == want
                && failed.len() == expected_failures
                && item.rows.last().is_some_and(Option::is_none)
                && item.starts == want
                && item.agents == want
                && item.tasks == 1
                && item.deliveries == 1;
            if !exact {
                problems.push(format!("expected {want} iteration(s) ending in success: {facts}"));
            }
        }
        problems.extend(self.orphans.iter().map(|o| format!("orphan: {o}")));
        if self.integrity != "ok" {
            problems.push(format!("integrity_check: {}", self.integrity));
        }
        problems
    }

    /// Asserts a clean run where every item ran exactly once.
    #[track_caller]
    pub fn assert_exact(&self, world: &World, context: &str) {
        self.assert_with(world, context, |_| 1);
    }

    /// Asserts a clean run with `iterations` per item.
    #[track_caller]
    pub fn assert_with(&self, world: &World, context: &str, iterations: impl Fn(&ItemFacts) -> usize) {
        let problems = self.problems(iterations);
        assert!(
            problems.is_empty(),
            "{context}: {} problem(s):\n- {}\n{}\n{}",
            problems.len(),
            problems.join("\n- "),
            self.run,
            world.daemon_warnings()
        );
    }
}

/// Tmux sessions and agent processes still alive in `world`.
pub fn live_leftovers(world: &World) -> Vec<String> {
    let mut found = Vec::new();
    let sessions = Command::new("tmux")
        .arg("-S")
        .arg(world.tmux_socket())
        .args(["list-sessions", "-F", "#{session_name}"])
        .output();
    if let Ok(out) = sessions
        && out.status.success()
    {
        found.extend(String::from_utf8_lossy(&out.stdout).lines().map(|s| format!("tmux session {s}")));
    }
    let agents_dir = world.env.state_dir().join("agents");
    let needle = agents_dir.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        // A tmux server forked by a `new-session` client keeps that client's command line (which
        // names the agent's files) while it winds down after `kill-server`: it is tmux, not an
        // agent, and a server that still serves sessions is reported by `list-sessions` above.
        let is_tmux = args.first().is_some_and(|a| a.rsplit('/').next() == Some("tmux"));
        if !is_tmux && args.iter().any(|a| a.starts_with(&needle)) && alive(pid) {
            found.push(format!("agent process {pid}: {}", args.join(" ").trim()));
        }
    }
    found
}

/// The worktree pool's directory under a worktree root (`taskflow::pool`).
const POOL: &str = ".pool";

/// Whether a parked worktree is idle, as the pool leaves one: on no branch, holding nothing.
fn idle(worktree: &Path) -> Result<(), String> {
    let run = |args: &[&str]| Command::new("git").args(args).current_dir(worktree).output().expect("run git");
    if run(&["symbolic-ref", "-q", "HEAD"]).status.success() {
        return Err("is on a branch".to_owned());
    }
    let status = run(&["status", "--porcelain", "--untracked-files=all", "--ignored"]);
    if !status.status.success() || !status.stdout.is_empty() {
        return Err(format!("holds files: {}", String::from_utf8_lossy(&status.stdout).trim()));
    }
    Ok(())
}

fn column(db: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = db.prepare(sql).expect(sql);
    stmt.query_map([], |r| r.get(0)).expect(sql).collect::<Result<_, _>>().expect(sql)
}

fn counts<'a>(values: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut map = BTreeMap::new();
    for v in values {
        *map.entry(v).or_insert(0) += 1;
    }
    map
}
