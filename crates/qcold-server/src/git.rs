//! The git commands Q-COLD runs, each a function with typed output.
//!
//! Every call passes arguments as a vector (never through a shell) and sets
//! `GIT_OPTIONAL_LOCKS=0`, so read-only queries such as `status` never take the index lock
//! from under an operator's own git command. Every call has a deadline ([`limits`]): a local
//! one, and a shorter one for commands that talk to a remote, whose transports are also told to
//! give up on a stalled peer; a git past its deadline is killed with its process group and
//! reported as [`GitError::TimedOut`]. No git Q-COLD runs can prompt (`GIT_TERMINAL_PROMPT=0`,
//! stdin closed, ssh in batch mode). None starts git's auto-maintenance or `gc --auto` in the
//! operator's repository (`maintenance.auto=false`, `gc.auto=0`): a commit would otherwise spawn
//! `git maintenance run --auto` every time, and a gc could start in the middle of a run; the
//! operator runs maintenance when they choose, with [`maintenance`] (`qcold repo maintain`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qcold_core::api::DirtyFile;

mod scratch;

pub use scratch::{Scratch, commit_tree_with, common_dir, fetch_refs, is_repository};
pub mod limits;

pub use limits::GitLimits;

/// A git command that could not run or exited non-zero.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git is not installed or could not be started.
    #[error("cannot run git: {0}")]
    Spawn(#[from] std::io::Error),
    /// git exited with a failure.
    #[error("`git {args}` failed in {cwd}: {stderr}")]
    Failed {
        /// The arguments, joined by spaces for display.
        args: String,
        /// Where it ran.
        cwd: PathBuf,
        /// What git printed on stderr, trimmed.
        stderr: String,
    },
    /// git did not finish before its deadline and was killed.
    #[error("`git {args}` in {cwd} timed out after {seconds} s and was stopped")]
    TimedOut {
        /// The arguments, joined by spaces for display.
        args: String,
        /// Where it ran.
        cwd: PathBuf,
        /// The time it had.
        seconds: u64,
    },
}

/// How long and how much a git read answered to a request may take.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// The most bytes of output kept; more is cut and reported as truncated.
    pub max_bytes: usize,
    /// Every git command of the read together finishes within this, or is killed.
    pub timeout: Duration,
}

/// A diff that may have been cut at a size bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedDiff {
    /// The unified diff, whole lines only.
    pub text: String,
    /// Whether the diff was longer than the bound.
    pub truncated: bool,
}

/// The configuration every git Q-COLD runs gets before its subcommand (git passes it on to the
/// git processes it starts itself, such as the commits of a rebase).
const NO_AUTO_MAINTENANCE: [&str; 4] = ["-c", "maintenance.auto=false", "-c", "gc.auto=0"];

fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    // No git Q-COLD runs may ask anyone anything: a prompt for a password would wait forever.
    cmd.args(NO_AUTO_MAINTENANCE)
        .args(args)
        .current_dir(cwd)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    cmd
}

/// Whether a command talks to a remote and so gets the remote deadline and transport options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Local,
    Remote,
}

/// Runs git and returns its stdout; a non-zero exit is an error carrying stderr.
fn run(cwd: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    run_env(cwd, args, &[])
}

/// [`run`] with extra environment variables, within the local deadline.
fn run_env(cwd: &Path, args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> Result<Vec<u8>, GitError> {
    run_reaching(Reach::Local, cwd, args, envs)
}

/// [`run`] of a command that talks to a remote: the remote deadline, and the transport options
/// of [`limits::remote_options`] before the subcommand.
fn run_remote(cwd: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    run_reaching(Reach::Remote, cwd, args, &[])
}

fn run_reaching(
    reach: Reach,
    cwd: &Path,
    args: &[&str],
    envs: &[(&str, &std::ffi::OsStr)],
) -> Result<Vec<u8>, GitError> {
    let limits = limits::current();
    let (timeout, options) = match reach {
        Reach::Local => (limits.local, Vec::new()),
        Reach::Remote => (limits.remote, limits::remote_options(limits.remote)),
    };
    let mut all: Vec<&str> = options.iter().map(String::as_str).collect();
    all.extend_from_slice(args);
    let mut cmd = command(cwd, &all);
    for (key, value) in envs {
        cmd.env(key, value);
    }
    // Output is not bounded here (a bundle's diff may be large); only time is.
    let captured = crate::deadline::capture(&mut cmd, timeout, usize::MAX)?;
    Ok(succeeded(captured, cwd, args, timeout)?.stdout)
}

/// A captured git that exited zero, or the error naming how it did not: its stderr when it
/// failed, `timeout` when the deadline killed it.
fn succeeded(
    captured: crate::deadline::Captured,
    cwd: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<crate::deadline::Captured, GitError> {
    match captured.ended {
        crate::deadline::Ended::Exited(status) if status.success() => Ok(captured),
        crate::deadline::Ended::Exited(_) => Err(GitError::Failed {
            args: args.join(" "),
            cwd: cwd.to_owned(),
            stderr: String::from_utf8_lossy(&captured.stderr).trim().to_owned(),
        }),
        crate::deadline::Ended::TimedOut => {
            Err(GitError::TimedOut { args: args.join(" "), cwd: cwd.to_owned(), seconds: timeout.as_secs() })
        }
    }
}

/// Runs git until `until` at the latest and returns at most `max_bytes` of its stdout and whether
/// there was more; a non-zero exit (unless the output was cut) or the deadline is an error.
fn run_until(
    cwd: &Path,
    args: &[&str],
    envs: &[(&str, &std::ffi::OsStr)],
    until: Instant,
    max_bytes: usize,
) -> Result<(Vec<u8>, bool), GitError> {
    let mut cmd = command(cwd, args);
    for (key, value) in envs {
        cmd.env(key, value);
    }
    let left = until.saturating_duration_since(Instant::now()).min(limits::current().local);
    let captured = crate::deadline::capture(&mut cmd, left, max_bytes)?;
    if captured.truncated {
        return Ok((captured.stdout, true));
    }
    Ok((succeeded(captured, cwd, args, left)?.stdout, false))
}

/// Runs git and reports only whether it exited zero; the deadline passing is an error.
fn succeeds(cwd: &Path, args: &[&str]) -> Result<bool, GitError> {
    match run(cwd, args) {
        Ok(_) => Ok(true),
        Err(GitError::Failed { .. }) => Ok(false),
        Err(err) => Err(err),
    }
}

/// The top level of the work tree that contains `path`, or `None` when `path` is not in one.
pub fn toplevel(path: &Path) -> Result<Option<PathBuf>, GitError> {
    match run(path, &["rev-parse", "--show-toplevel"]) {
        Ok(out) => Ok(Some(PathBuf::from(String::from_utf8_lossy(&out).trim_end()))),
        Err(GitError::Failed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The checked-out branch, or `None` on a detached HEAD.
pub fn current_branch(root: &Path) -> Result<Option<String>, GitError> {
    match run(root, &["symbolic-ref", "--quiet", "--short", "HEAD"]) {
        Ok(out) => Ok(Some(String::from_utf8_lossy(&out).trim_end().to_owned())),
        Err(GitError::Failed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether HEAD points at a commit (false in a repository without commits).
pub fn has_commits(root: &Path) -> Result<bool, GitError> {
    succeeds(root, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
}

/// Whether a local branch exists.
pub fn branch_exists(root: &Path, branch: &str) -> Result<bool, GitError> {
    succeeds(root, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}^{{commit}}")])
}

/// Uncommitted changes, untracked files included, as `git status --porcelain` reports them.
pub fn dirty_files(root: &Path) -> Result<Vec<DirtyFile>, GitError> {
    let out = run(root, &["status", "--porcelain=v1", "-z", "--untracked-files=all"])?;
    Ok(parse_porcelain_z(&out))
}

/// Resolves a revision to a full commit hash.
pub fn rev_parse(root: &Path, rev: &str) -> Result<String, GitError> {
    let out = run(root, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])?;
    Ok(String::from_utf8_lossy(&out).trim().to_owned())
}

/// Creates `branch` at `commit` and checks it out in a new worktree at `path`.
pub fn worktree_add(root: &Path, path: &Path, branch: &str, commit: &str) -> Result<(), GitError> {
    let path = path.to_string_lossy();
    run(root, &["worktree", "add", "--quiet", "-b", branch, &path, commit]).map(drop)
}

/// Moves a worktree to `to` (its files, and git's record of where it is); no file is rewritten.
pub fn worktree_move(root: &Path, from: &Path, to: &Path) -> Result<(), GitError> {
    run(root, &["worktree", "move", &from.to_string_lossy(), &to.to_string_lossy()]).map(drop)
}

/// Detaches a worktree's HEAD at the commit it is on, which frees its branch; no file changes.
pub fn detach(worktree: &Path) -> Result<(), GitError> {
    run(worktree, &["checkout", "--quiet", "--detach"]).map(drop)
}

/// Creates `branch` at `commit` in a worktree and checks it out there: git rewrites only the
/// files that differ between the worktree's current commit and `commit`.
pub fn checkout_new_branch(worktree: &Path, branch: &str, commit: &str) -> Result<(), GitError> {
    run(worktree, &["checkout", "--quiet", "-b", branch, commit]).map(drop)
}

/// Deletes every untracked and ignored file of a worktree (`git clean -ffdx`).
pub fn clean_all(worktree: &Path) -> Result<(), GitError> {
    run(worktree, &["clean", "-ffdxq"]).map(drop)
}

/// Whether a worktree holds a change or an untracked file beyond Q-COLD's own `.task/`
/// (ignored files do not count).
pub fn has_changes_besides_task_dir(worktree: &Path) -> Result<bool, GitError> {
    status_besides_task_dir(worktree, &[])
}

/// Whether a worktree holds anything at all besides its commit: a change, an untracked file or
/// an ignored one.
pub fn holds_anything(worktree: &Path) -> Result<bool, GitError> {
    let out = run(worktree, &["status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored"])?;
    Ok(!out.is_empty())
}

/// Removes a worktree; `force` also removes one with uncommitted changes (callers snapshot first).
pub fn worktree_remove(root: &Path, path: &Path, force: bool) -> Result<(), GitError> {
    let path = path.to_string_lossy();
    let mut args = vec!["worktree", "remove"];
    if force {
        args.push("--force");
    }
    args.push(&path);
    run(root, &args).map(drop)
}

/// Deletes a local branch; `force` deletes it even when it is not merged.
pub fn branch_delete(root: &Path, branch: &str, force: bool) -> Result<(), GitError> {
    run(root, &["branch", if force { "-D" } else { "-d" }, "--quiet", branch]).map(drop)
}

/// The pathspec that leaves out the task's own `.task/` directory.
const NOT_TASK_DIR: &str = ":(exclude).task";

/// Stages every change of a worktree except `.task/`; returns whether anything is staged.
pub fn stage_all_but_task_dir(worktree: &Path) -> Result<bool, GitError> {
    run(worktree, &["add", "--all", "--", ".", NOT_TASK_DIR])?;
    Ok(!succeeds(worktree, &["diff", "--cached", "--quiet"])?)
}

/// Commits what is staged.
pub fn commit(worktree: &Path, message: &str) -> Result<(), GitError> {
    run(worktree, &["commit", "--quiet", "--no-verify", "-m", message]).map(drop)
}

/// The upstream of a local branch as `(remote, remote ref)`, e.g. `("origin", "refs/heads/main")`.
pub fn upstream(root: &Path, branch: &str) -> Result<Option<(String, String)>, GitError> {
    let get = |key: String| -> Result<Option<String>, GitError> {
        match run(root, &["config", "--get", &key]) {
            Ok(out) => Ok(Some(String::from_utf8_lossy(&out).trim().to_owned()).filter(|v| !v.is_empty())),
            Err(GitError::Failed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    };
    let remote = get(format!("branch.{branch}.remote"))?;
    let merge = get(format!("branch.{branch}.merge"))?;
    Ok(remote.zip(merge).filter(|(remote, _)| remote != "."))
}

/// Fetches one remote.
pub fn fetch(root: &Path, remote: &str) -> Result<(), GitError> {
    run_remote(root, &["fetch", "--quiet", remote]).map(drop)
}

/// Fast-forwards the checked-out branch of `root` to `rev`; fails when that is not a fast-forward.
pub fn merge_ff_only(root: &Path, rev: &str) -> Result<(), GitError> {
    run(root, &["merge", "--quiet", "--ff-only", rev]).map(drop)
}

/// Rebases the checked-out branch of `worktree` onto `onto`; a conflicted rebase is aborted, so
/// the worktree is left as it was.
pub fn rebase(worktree: &Path, onto: &str) -> Result<(), GitError> {
    let result = run(worktree, &["rebase", "--quiet", onto]).map(drop);
    if result.is_err() {
        let _ = run(worktree, &["rebase", "--abort"]);
    }
    result
}

/// Pushes `local` to `remote_ref` on `remote`.
pub fn push(root: &Path, remote: &str, local: &str, remote_ref: &str) -> Result<(), GitError> {
    run_remote(root, &["push", "--quiet", remote, &format!("{local}:{remote_ref}")]).map(drop)
}

/// The committer time (Unix seconds) of the newest commit on `rev`; `None` when it does not
/// resolve.
pub fn commit_time(root: &Path, rev: &str) -> Result<Option<i64>, GitError> {
    match run(root, &["log", "-1", "--format=%ct", rev, "--"]) {
        Ok(out) => Ok(String::from_utf8_lossy(&out).trim().parse().ok()),
        Err(GitError::Failed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `ancestor` is reachable from `descendant`.
pub fn is_ancestor(root: &Path, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
    succeeds(root, &["merge-base", "--is-ancestor", ancestor, descendant])
}

/// A tree object holding the worktree's full current state — tracked, modified and untracked
/// files (ignored ones excepted) — built in a throw-away index so the real index is untouched.
pub fn state_tree(worktree: &Path, scratch_index: &Path) -> Result<String, GitError> {
    state_tree_until(worktree, scratch_index, None)
}

/// [`state_tree`], every step finished by `until` when one is given.
fn state_tree_until(worktree: &Path, scratch_index: &Path, until: Option<Instant>) -> Result<String, GitError> {
    let envs = [("GIT_INDEX_FILE", scratch_index.as_os_str())];
    let step = |args: &[&str]| match until {
        // A tree id is 40 or 64 hex digits and the other steps print nothing on stdout, so the
        // bound is never reached; only the deadline matters here.
        Some(until) => run_until(worktree, args, &envs, until, 64 * 1024).map(|(out, _)| out),
        None => run_env(worktree, args, &envs),
    };
    step(&["read-tree", "HEAD"])?;
    step(&["add", "--all", "--", "."])?;
    let out = step(&["write-tree"]);
    let _ = std::fs::remove_file(scratch_index);
    Ok(String::from_utf8_lossy(&out?).trim().to_owned())
}

/// Creates a commit of `tree` on top of `parent`, authored by Q-COLD itself (the operator's
/// identity may not be configured, and this commit is Q-COLD's record, not the operator's work).
pub fn commit_tree(root: &Path, tree: &str, parent: &str, message: &str) -> Result<String, GitError> {
    commit_tree_with(root, tree, &[parent], message)
}

/// Points `reference` at `commit`.
pub fn update_ref(root: &Path, reference: &str, commit: &str) -> Result<(), GitError> {
    run(root, &["update-ref", reference, commit]).map(drop)
}

/// `(refname, commit, unix time)` of every ref under `prefix`, sorted by name.
pub fn refs_under(root: &Path, prefix: &str) -> Result<Vec<(String, String, i64)>, GitError> {
    let out = run(
        root,
        &["for-each-ref", "--sort=refname", "--format=%(refname) %(objectname) %(creatordate:unix)", prefix],
    )?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            Some((parts.next()?.to_owned(), parts.next()?.to_owned(), parts.next()?.parse().ok()?))
        })
        .collect())
}

/// The diff from `base` to `tree`, leaving out `.task/`.
pub fn diff(worktree: &Path, base: &str, tree: &str) -> Result<String, GitError> {
    let out = run(worktree, &["diff", "--binary", base, tree, "--", ".", NOT_TASK_DIR])?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The unified diff from `base` to `rev` (a commit or tree) in the repository at `root`,
/// `.task/` left out, within `limits`: text for a reader, so no binary patches, no external diff
/// drivers or text conversions (a repository's config must not make a read run its programs).
pub fn diff_bounded(root: &Path, base: &str, rev: &str, limits: ReadLimits) -> Result<BoundedDiff, GitError> {
    diff_until(root, base, rev, Instant::now() + limits.timeout, limits.max_bytes)
}

/// [`diff_bounded`] from `base` to the worktree's full current state ([`state_tree`]): committed,
/// uncommitted and untracked changes alike. `scratch_index` is a path of the caller's that no
/// other read uses at the same time.
pub fn worktree_diff_bounded(
    worktree: &Path,
    base: &str,
    scratch_index: &Path,
    limits: ReadLimits,
) -> Result<BoundedDiff, GitError> {
    let until = Instant::now() + limits.timeout;
    let tree = state_tree_until(worktree, scratch_index, Some(until))?;
    diff_until(worktree, base, &tree, until, limits.max_bytes)
}

fn diff_until(root: &Path, base: &str, rev: &str, until: Instant, max_bytes: usize) -> Result<BoundedDiff, GitError> {
    let args = ["diff", "--no-color", "--no-ext-diff", "--no-textconv", base, rev, "--", ".", NOT_TASK_DIR];
    let (mut out, truncated) = run_until(root, &args, &[], until, max_bytes)?;
    if truncated {
        // A cut diff still ends with a whole line, so a reader can show what it holds.
        let end = out.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        out.truncate(end);
    }
    Ok(BoundedDiff { text: String::from_utf8_lossy(&out).into_owned(), truncated })
}

/// The paths of every worktree git knows for the repository at `root`, the primary included.
pub fn worktree_list(root: &Path) -> Result<Vec<PathBuf>, GitError> {
    let out = run(root, &["worktree", "list", "--porcelain", "-z"])?;
    Ok(out
        .split(|b| *b == 0)
        .filter_map(|field| field.strip_prefix(b"worktree "))
        .map(|path| PathBuf::from(String::from_utf8_lossy(path).into_owned()))
        .collect())
}

/// The worktree that has `branch` checked out, if one does.
pub fn worktree_of_branch(root: &Path, branch: &str) -> Result<Option<PathBuf>, GitError> {
    let out = run(root, &["worktree", "list", "--porcelain", "-z"])?;
    let wanted = format!("branch refs/heads/{branch}");
    let mut path = None;
    for field in out.split(|b| *b == 0) {
        if let Some(p) = field.strip_prefix(b"worktree ") {
            path = Some(PathBuf::from(String::from_utf8_lossy(p).into_owned()));
        } else if field == wanted.as_bytes() {
            return Ok(path);
        }
    }
    Ok(None)
}

/// Whether a worktree holds anything beyond Q-COLD's own `.task/`: a change, an untracked file
/// or an ignored one (ignored files may be work too: a `.env`, a local database).
pub fn holds_more_than_task_dir(worktree: &Path) -> Result<bool, GitError> {
    status_besides_task_dir(worktree, &["--ignored"])
}

/// Whether `git status` (untracked files listed one by one, plus `extra` options) names any
/// path outside `.task/`.
fn status_besides_task_dir(worktree: &Path, extra: &[&str]) -> Result<bool, GitError> {
    let mut args = vec!["status", "--porcelain=v1", "-z", "--untracked-files=all"];
    args.extend_from_slice(extra);
    let out = run(worktree, &args)?;
    Ok(parse_porcelain_z(&out).iter().any(|f| f.path != ".task" && !f.path.starts_with(".task/")))
}

/// How long [`maintenance`] may take: a gc of a large repository takes minutes, not hours.
pub const MAINTENANCE_DEADLINE: Duration = Duration::from_secs(3_600);

/// Runs git's maintenance (`git maintenance run`: the tasks the repository's configuration
/// enables, gc by default) in `root` now, within [`MAINTENANCE_DEADLINE`]; what it printed.
pub fn maintenance(root: &Path) -> Result<String, GitError> {
    let args = ["maintenance", "run"];
    let captured = crate::deadline::capture(&mut command(root, &args), MAINTENANCE_DEADLINE, 1024 * 1024)?;
    let done = succeeded(captured, root, &args, MAINTENANCE_DEADLINE)?;
    let printed = format!("{}{}", String::from_utf8_lossy(&done.stdout), String::from_utf8_lossy(&done.stderr).trim());
    Ok(printed.trim().to_owned())
}

/// Drops the metadata of worktrees whose directories are gone.
pub fn worktree_prune(root: &Path) -> Result<(), GitError> {
    run(root, &["worktree", "prune"]).map(drop)
}

/// Parses `git status --porcelain=v1 -z`: `XY path\0`, where renames and copies are followed by
/// one more `\0`-terminated field holding the original path (which is not reported).
fn parse_porcelain_z(out: &[u8]) -> Vec<DirtyFile> {
    let mut files = Vec::new();
    let mut fields = out.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let Some(field) = fields.next() {
        if field.len() < 4 {
            continue;
        }
        let code = String::from_utf8_lossy(&field[..2]).into_owned();
        let path = String::from_utf8_lossy(&field[3..]).into_owned();
        if code.starts_with(['R', 'C']) {
            fields.next();
        }
        files.push(DirtyFile { code, path });
    }
    files
}

#[cfg(test)]
mod tests;
