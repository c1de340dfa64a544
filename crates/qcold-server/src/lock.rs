//! Cross-process locks on files in the state dir, so two `qcold` processes never deliver to the
//! same repository at once.
//!
//! A lock is an advisory `flock` on `<state>/locks/<name>.lock`. The holder writes who it is
//! into the file, so a process that has to wait can say what it waits for. The kernel drops the
//! lock when the holder exits, however it exits: a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Held {
    _lock: Flock<File>,
    path: PathBuf,
}

impl Held {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it (only from [`try_acquire`]).
    #[error("held by {holder}")]
    Busy {
        /// Who holds it, as the holder wrote it.
        holder: String,
    },
    /// The lock file could not be opened, locked or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Takes the lock `name` under `state_dir`, describing the holder as `holder`. When another
/// process holds it, calls `waiting` with that holder's description, then blocks until it is free.
/// Only for a process that has nothing else to do meanwhile (a CLI command): the daemon uses
/// [`try_acquire`], as a blocked thread of its own would stall whatever waits on it.
pub fn acquire(state_dir: &Path, name: &str, holder: &str, waiting: impl FnOnce(&str)) -> std::io::Result<Held> {
    let path = lock_path(state_dir, name)?;
    let lock = match Flock::lock(open(&path)?, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            waiting(&current_holder(&mut file));
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| std::io::Error::from(errno))?
        }
        Err((_, errno)) => return Err(errno.into()),
    };
    claim(lock, path, holder)
}

/// Takes the lock `name` if it is free; when another process holds it, answers
/// [`LockError::Busy`] with that holder's description at once, never waiting.
pub fn try_acquire(state_dir: &Path, name: &str, holder: &str) -> Result<Held, LockError> {
    let path = lock_path(state_dir, name)?;
    match Flock::lock(open(&path)?, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(claim(lock, path, holder)?),
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => Err(LockError::Busy { holder: current_holder(&mut file) }),
        Err((_, errno)) => Err(std::io::Error::from(errno).into()),
    }
}

/// [`try_acquire`], trying again every 50 ms for up to `patience`: for a caller that may wait a
/// moment (another open, a cleanup) but never for a whole delivery.
pub fn acquire_within(
    state_dir: &Path,
    name: &str,
    holder: &str,
    patience: std::time::Duration,
) -> Result<Held, LockError> {
    let until = std::time::Instant::now() + patience;
    loop {
        match try_acquire(state_dir, name, holder) {
            Err(LockError::Busy { .. }) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn lock_path(state_dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let dir = state_dir.join("locks");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join(format!("{name}.lock")))
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

/// What the holder of a lock wrote into it.
fn current_holder(file: &mut File) -> String {
    let mut current = String::new();
    let _ = file.read_to_string(&mut current);
    let current = current.trim();
    if current.is_empty() { "another qcold process".to_owned() } else { current.to_owned() }
}

/// Writes who holds a lock just taken.
fn claim(mut lock: Flock<File>, path: PathBuf, holder: &str) -> std::io::Result<Held> {
    lock.set_len(0)?;
    lock.rewind()?;
    writeln!(lock, "{holder} (pid {})", std::process::id())?;
    Ok(Held { _lock: lock, path })
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_second_taker_waits_and_learns_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "repo-web", "closeout of web/001-a", |_| panic!("free lock")).unwrap();
        let (tx, rx) = mpsc::channel();
        let state = dir.path().to_owned();
        let waiter = std::thread::spawn(move || {
            let held =
                acquire(&state, "repo-web", "closeout of web/002-b", |who| tx.send(who.to_owned()).unwrap()).unwrap();
            drop(held);
        });
        let who = rx.recv_timeout(Duration::from_secs(10)).expect("the waiter reports whom it waits for");
        assert!(who.starts_with("closeout of web/001-a (pid "), "{who}");
        drop(first);
        waiter.join().unwrap();
    }

    #[test]
    fn try_acquire_answers_busy_with_the_holder_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_acquire(dir.path(), "repo-web", "closeout of web/001-a").unwrap();
        // Another open file description, as another process would have.
        match try_acquire(dir.path(), "repo-web", "open of b") {
            Err(LockError::Busy { holder }) => assert!(holder.starts_with("closeout of web/001-a (pid "), "{holder}"),
            other => panic!("expected busy, got {other:?}"),
        }
        let started = std::time::Instant::now();
        let patient = acquire_within(dir.path(), "repo-web", "open of b", Duration::from_millis(200));
        assert!(matches!(patient, Err(LockError::Busy { .. })), "{patient:?}");
        assert!(started.elapsed() >= Duration::from_millis(200), "it tried for its whole patience");
        drop(first);
        let again = try_acquire(dir.path(), "repo-web", "open of b").unwrap();
        let written = std::fs::read_to_string(again.path()).unwrap();
        assert!(written.starts_with("open of b (pid "), "{written}");
    }
}
