//! Repository adapters: the one question Q-COLD asks a repository — "is this change valid?".
//!
//! | adapter | verify step |
//! |---|---|
//! | `command` | the registered `--verify-command`, split into argv (shell-words rules, no shell) |
//! | `xtask-process` | `cargo run --quiet --manifest-path <manifest> -- verify`, the manifest taken from the task worktree |
//!
//! The xtask lane Q-COLD calls is exactly `verify`; a repository that wants more (lint, test,
//! build) runs it from its own `verify`. Either way the step runs in the task worktree, with
//! stdin closed, its output captured to a log, and a timeout after which its whole process group
//! is killed. A repository with no verify step delivers `unverified`, and the receipt says so.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use qcold_core::task::Verification;
use qcold_core::{AdapterKind, Repository};

use crate::deadline::Ended;

/// An adapter's verify step could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The verify command does not split into words.
    #[error("the verify command {command:?} cannot be split into arguments: {reason}")]
    BadCommand {
        /// The command line.
        command: String,
        /// Why.
        reason: String,
    },
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The xtask manifest is gone.
    #[error("xtask manifest {0} does not exist; re-register the repository with --xtask-manifest")]
    MissingManifest(PathBuf),
    /// The log could not be written.
    #[error("cannot write the verify log {path}: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
}

/// How a repository verifies changes.
pub trait Adapter {
    /// The adapter's name, as registered.
    fn kind(&self) -> AdapterKind;
    /// The argv of the verify step for a change in `worktree`; `None` when there is none.
    fn verify_argv(&self, worktree: &Path) -> Result<Option<Vec<String>>, AdapterError>;
}

/// The `command` adapter.
#[derive(Debug)]
struct CommandAdapter {
    command: Option<String>,
}

impl Adapter for CommandAdapter {
    fn kind(&self) -> AdapterKind {
        AdapterKind::Command
    }

    fn verify_argv(&self, _worktree: &Path) -> Result<Option<Vec<String>>, AdapterError> {
        let Some(command) = &self.command else { return Ok(None) };
        let argv = shell_words::split(command)
            .map_err(|e| AdapterError::BadCommand { command: command.clone(), reason: e.to_string() })?;
        if argv.is_empty() {
            return Err(AdapterError::BadCommand { command: command.clone(), reason: "it is empty".into() });
        }
        Ok(Some(argv))
    }
}

/// The `xtask-process` adapter.
#[derive(Debug)]
struct XtaskAdapter {
    primary: PathBuf,
    manifest: PathBuf,
}

impl Adapter for XtaskAdapter {
    fn kind(&self) -> AdapterKind {
        AdapterKind::XtaskProcess
    }

    fn verify_argv(&self, worktree: &Path) -> Result<Option<Vec<String>>, AdapterError> {
        // A manifest inside the repository is run from the task's copy, so the change verifies itself.
        let manifest = match self.manifest.strip_prefix(&self.primary) {
            Ok(relative) => worktree.join(relative),
            Err(_) => self.manifest.clone(),
        };
        if !manifest.is_file() {
            return Err(AdapterError::MissingManifest(manifest));
        }
        Ok(Some(vec![
            "cargo".into(),
            "run".into(),
            "--quiet".into(),
            "--manifest-path".into(),
            manifest.to_string_lossy().into_owned(),
            "--".into(),
            "verify".into(),
        ]))
    }
}

/// Checks that the adapter can run at all for the primary checkout (its xtask manifest exists).
pub fn check_ready(repo: &Repository) -> Result<(), AdapterError> {
    for_repository(repo).verify_argv(Path::new(&repo.root)).map(drop)
}

/// The adapter registered for `repo`.
pub fn for_repository(repo: &Repository) -> Box<dyn Adapter> {
    match repo.adapter {
        AdapterKind::Command => Box::new(CommandAdapter { command: repo.verify_command.clone() }),
        AdapterKind::XtaskProcess => Box::new(XtaskAdapter {
            primary: PathBuf::from(&repo.root),
            manifest: repo
                .xtask_manifest
                .as_deref()
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(&repo.root).join("xtask/Cargo.toml")),
        }),
    }
}

/// Runs the verify step in `worktree`, writing its output to `log`.
pub fn verify(
    adapter: &dyn Adapter,
    worktree: &Path,
    log: &Path,
    timeout: Duration,
) -> Result<Verification, AdapterError> {
    let Some(argv) = adapter.verify_argv(worktree)? else {
        return Ok(Verification::Unverified);
    };
    let log_err = |source| AdapterError::Log { path: log.to_owned(), source };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(log_err)?;
    }
    let file = File::create(log).map_err(log_err)?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(worktree)
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(log_err)?)
        .stderr(file);
    match crate::deadline::run(&mut cmd, timeout)
        .map_err(|source| AdapterError::Spawn { program: argv[0].clone(), source })?
    {
        Ended::Exited(status) => Ok(if status.success() { Verification::Passed } else { Verification::Failed }),
        Ended::TimedOut => {
            let note = format!("\nqcold: verify timed out after {timeout:?} and was killed\n");
            let _ = std::fs::OpenOptions::new()
                .append(true)
                .open(log)
                .and_then(|mut f| std::io::Write::write_all(&mut f, note.as_bytes()));
            Ok(Verification::Failed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(adapter: AdapterKind, verify: Option<&str>, manifest: Option<&str>) -> Repository {
        serde_json::from_value(serde_json::json!({
            "id": "r", "root": "/src/r", "adapter": adapter, "verify_command": verify, "xtask_manifest": manifest,
            "default_branch": "main", "created_at": 0, "updated_at": 0
        }))
        .unwrap()
    }

    #[test]
    fn argv_without_a_shell() {
        let wt = Path::new("/wt/001-x");
        let command =
            for_repository(&repo(AdapterKind::Command, Some("cargo test -p 'my crate' -- --nocapture"), None));
        assert_eq!(command.verify_argv(wt).unwrap().unwrap(), ["cargo", "test", "-p", "my crate", "--", "--nocapture"]);
        let none = for_repository(&repo(AdapterKind::Command, None, None));
        assert_eq!(none.verify_argv(wt).unwrap(), None);
        let broken = for_repository(&repo(AdapterKind::Command, Some("echo 'unclosed"), None));
        assert!(broken.verify_argv(wt).unwrap_err().to_string().contains("cannot be split"));
        let dir = tempfile::tempdir().unwrap();
        let primary = dir.path().join("r");
        let wt = dir.path().join("001-x");
        for root in [&primary, &wt] {
            std::fs::create_dir_all(root.join("xtask")).unwrap();
            std::fs::write(root.join("xtask/Cargo.toml"), "").unwrap();
        }
        let mut registered =
            repo(AdapterKind::XtaskProcess, None, Some(primary.join("xtask/Cargo.toml").to_str().unwrap()));
        registered.root = primary.to_string_lossy().into_owned();
        let xtask = for_repository(&registered);
        let argv = xtask.verify_argv(&wt).unwrap().unwrap();
        assert_eq!(
            argv[4],
            wt.join("xtask/Cargo.toml").to_str().unwrap(),
            "the worktree's own xtask verifies the change"
        );
        assert_eq!(argv.last().map(String::as_str), Some("verify"));
        std::fs::remove_file(wt.join("xtask/Cargo.toml")).unwrap();
        assert!(matches!(xtask.verify_argv(&wt), Err(AdapterError::MissingManifest(_))));
    }

    #[test]
    fn verify_runs_captures_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/verify.log");
        let run = |command: &str, timeout| {
            let adapter = CommandAdapter { command: Some(command.to_owned()) };
            verify(&adapter, dir.path(), &log, timeout).unwrap()
        };
        assert_eq!(run("sh -c 'echo checked; exit 0'", Duration::from_secs(10)), Verification::Passed);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "checked\n");
        assert_eq!(run("sh -c 'echo broke >&2; exit 3'", Duration::from_secs(10)), Verification::Failed);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "broke\n");
        assert_eq!(run("sleep 30", Duration::from_millis(200)), Verification::Failed);
        assert!(std::fs::read_to_string(&log).unwrap().contains("timed out"));
        let missing = CommandAdapter { command: Some("no-such-program-qcold".into()) };
        assert!(matches!(verify(&missing, dir.path(), &log, Duration::from_secs(1)), Err(AdapterError::Spawn { .. })));
    }
}
