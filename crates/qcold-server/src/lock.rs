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

/// Takes the lock `name` under `state_dir`, describing the holder as `holder`. When another
/// process holds it, calls `waiting` with that holder's description, then blocks until it is free.
pub fn acquire(state_dir: &Path, name: &str, holder: &str, waiting: impl FnOnce(&str)) -> std::io::Result<Held> {
    match take(state_dir, name)? {
        Ok((lock, path)) => own(lock, path, holder),
        Err((file, current, path)) => {
            waiting(&current);
            let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| std::io::Error::from(errno))?;
            own(lock, path, holder)
        }
    }
}

/// Takes the lock `name` if it is free; when another process holds it, answers that holder's
/// description (`Err`) instead of waiting — for callers that must not block, such as the
/// scheduler's delivery retries.
pub fn try_acquire(state_dir: &Path, name: &str, holder: &str) -> std::io::Result<Result<Held, String>> {
    match take(state_dir, name)? {
        Ok((lock, path)) => own(lock, path, holder).map(Ok),
        Err((_, current, _)) => Ok(Err(current)),
    }
}

/// A lock file, or the open file and the description of the process holding it.
type Taken = Result<(Flock<File>, PathBuf), (File, String, PathBuf)>;

fn take(state_dir: &Path, name: &str) -> std::io::Result<Taken> {
    let dir = state_dir.join("locks");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.lock"));
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Ok((lock, path))),
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut current = String::new();
            let _ = file.read_to_string(&mut current);
            let current = current.trim();
            let current = if current.is_empty() { "another qcold process" } else { current }.to_owned();
            Ok(Err((file, current, path)))
        }
        Err((_, errno)) => Err(errno.into()),
    }
}

fn own(mut lock: Flock<File>, path: PathBuf, holder: &str) -> std::io::Result<Held> {
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
    fn trying_a_held_lock_names_its_holder_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_acquire(dir.path(), "repo-web", "closeout of web/001-a").unwrap().expect("free");
        // A second open file description conflicts even within one process.
        let busy = try_acquire(dir.path(), "repo-web", "delivery retry of web/002-b").unwrap();
        assert!(busy.as_ref().is_err_and(|who| who.starts_with("closeout of web/001-a (pid ")), "{busy:?}");
        drop(first);
        assert!(try_acquire(dir.path(), "repo-web", "delivery retry of web/002-b").unwrap().is_ok());
    }
}
