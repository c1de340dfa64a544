//! The git commands Q-COLD runs, each a function with typed output.
//!
//! Every call passes arguments as a vector (never through a shell) and sets
//! `GIT_OPTIONAL_LOCKS=0`, so read-only queries such as `status` never take the index lock
//! from under an operator's own git command.

use std::path::{Path, PathBuf};
use std::process::Command;

use qcold_core::api::DirtyFile;

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
}

fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(cwd).env("GIT_OPTIONAL_LOCKS", "0").env("LC_ALL", "C");
    cmd
}

/// Runs git and returns its stdout; a non-zero exit is an error carrying stderr.
fn run(cwd: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let output = command(cwd, args).output()?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(GitError::Failed {
            args: args.join(" "),
            cwd: cwd.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Runs git and reports only whether it exited zero.
fn succeeds(cwd: &Path, args: &[&str]) -> Result<bool, GitError> {
    Ok(command(cwd, args).output()?.status.success())
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
mod tests {
    use super::*;

    #[test]
    fn porcelain_z_parsing() {
        let raw = b" M src/lib.rs\0?? new file.txt\0R  renamed.rs\0original.rs\0A  added.rs\0";
        let files = parse_porcelain_z(raw);
        let pairs: Vec<(&str, &str)> = files.iter().map(|f| (f.code.as_str(), f.path.as_str())).collect();
        assert_eq!(pairs, [(" M", "src/lib.rs"), ("??", "new file.txt"), ("R ", "renamed.rs"), ("A ", "added.rs")]);
        assert!(parse_porcelain_z(b"").is_empty());
    }
}
