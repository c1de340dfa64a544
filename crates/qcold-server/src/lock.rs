//! Cross-process locks on files in the state dir, so two `qcold` processes never deliver to the
//! same repository at once.
//!
//! A lock is an advisory `flock` on `<state>/locks/<name>.lock`. The holder writes who it is
//! into the file, so a process that has to wait can say what it waits for. The kernel drops the
//! lock when the holder exits, however it exits: a crash never leaves a stale lock behind.
//!
//! Threads of one process (the daemon's launches, its cleanups) first pass an in-process gate
//! per lock: one waiting for another sleeps until the holder lets go, woken by it, instead of
//! polling the file lock. A thread's hold is a short step of its own process (an open, a
//! cleanup), so even the non-waiting [`try_acquire`] waits for it, up to [`IN_PROCESS_PATIENCE`];
//! it never waits for another process.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

/// The longest a thread waits for another thread of its process to let go of a lock.
pub const IN_PROCESS_PATIENCE: Duration = Duration::from_secs(2);

/// The locks a thread of this process holds or is taking, and the signal that one was let go.
static HELD_HERE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static LET_GO: Condvar = Condvar::new();

/// This process's turn at the lock file `path`: waits while another of its threads has it,
/// until `until` (forever with `None`). Whether the turn was taken.
fn enter(path: &Path, until: Option<Instant>) -> bool {
    let mut held = HELD_HERE.lock().unwrap_or_else(PoisonError::into_inner);
    while held.contains(path) {
        held = match until {
            None => LET_GO.wait(held).unwrap_or_else(PoisonError::into_inner),
            Some(until) => {
                let Some(left) = until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                    return false;
                };
                LET_GO.wait_timeout(held, left).unwrap_or_else(PoisonError::into_inner).0
            }
        };
    }
    held.insert(path.to_owned());
    true
}

/// Gives this process's turn at `path` back, waking the threads waiting for it.
fn leave(path: &Path) {
    HELD_HERE.lock().unwrap_or_else(PoisonError::into_inner).remove(path);
    LET_GO.notify_all();
}

/// This process's turn at a lock file, given back on drop (also when taking the file lock failed).
#[derive(Debug)]
struct Turn(PathBuf);

impl Drop for Turn {
    fn drop(&mut self) {
        leave(&self.0);
    }
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Held {
    lock: Option<Flock<File>>,
    turn: Turn,
}

impl Held {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.turn.0
    }
}

impl Drop for Held {
    /// The file lock first; the process's turn goes after it (a field drops after this), so a
    /// thread woken by the turn finds the file lock free.
    fn drop(&mut self) {
        drop(self.lock.take());
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
    let mut waiting = Some(waiting);
    if !enter(&path, Some(Instant::now())) {
        if let Some(waiting) = waiting.take() {
            waiting(&current_holder(&mut open(&path)?));
        }
        enter(&path, None);
    }
    let turn = Turn(path);
    let lock = match Flock::lock(open(&turn.0)?, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            if let Some(waiting) = waiting.take() {
                waiting(&current_holder(&mut file));
            }
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| std::io::Error::from(errno))?
        }
        Err((_, errno)) => return Err(errno.into()),
    };
    claim(lock, turn, holder)
}

/// Takes the lock `name` if it is free; when another process holds it, answers
/// [`LockError::Busy`] with that holder's description at once, never waiting for it. Another
/// thread of this process that holds it is waited for, up to [`IN_PROCESS_PATIENCE`].
pub fn try_acquire(state_dir: &Path, name: &str, holder: &str) -> Result<Held, LockError> {
    take(state_dir, name, holder, Instant::now() + IN_PROCESS_PATIENCE)
}

/// Takes the lock `name`, waiting up to `until` for this process's turn, then once for the file.
fn take(state_dir: &Path, name: &str, holder: &str, until: Instant) -> Result<Held, LockError> {
    let path = lock_path(state_dir, name)?;
    if !enter(&path, Some(until)) {
        return Err(LockError::Busy { holder: current_holder(&mut open(&path)?) });
    }
    let turn = Turn(path);
    match Flock::lock(open(&turn.0)?, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(claim(lock, turn, holder)?),
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => Err(LockError::Busy { holder: current_holder(&mut file) }),
        Err((_, errno)) => Err(std::io::Error::from(errno).into()),
    }
}

/// Takes the lock `name` within `patience`: for a caller that may wait a moment (another open, a
/// cleanup) but never for a whole delivery. Another thread of this process is waited for until
/// it lets go; another process's lock is tried again every 50 ms (a file lock sends no signal
/// when it is released).
pub fn acquire_within(state_dir: &Path, name: &str, holder: &str, patience: Duration) -> Result<Held, LockError> {
    let until = Instant::now() + patience;
    loop {
        match take(state_dir, name, holder, until) {
            Err(LockError::Busy { .. }) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
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

/// Writes who holds a lock just taken; the process's turn passes to the [`Held`].
fn claim(mut lock: Flock<File>, turn: Turn, holder: &str) -> std::io::Result<Held> {
    lock.set_len(0)?;
    lock.rewind()?;
    writeln!(lock, "{holder} (pid {})", std::process::id())?;
    Ok(Held { lock: Some(lock), turn })
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
    fn try_acquire_answers_busy_with_another_processs_holder_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "repo-web").unwrap();
        std::fs::write(&path, "closeout of web/001-a (pid 1)\n").unwrap();
        // Another process holds it until its standard input closes.
        let mut other = std::process::Command::new("flock")
            .arg(&path)
            .args(["-c", "echo locked; read _"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(other.stdout.take().unwrap()), &mut line).unwrap();
        assert_eq!(line, "locked\n");
        match try_acquire(dir.path(), "repo-web", "open of b") {
            Err(LockError::Busy { holder }) => assert_eq!(holder, "closeout of web/001-a (pid 1)"),
            other => panic!("expected busy, got {other:?}"),
        }
        let started = Instant::now();
        let patient = acquire_within(dir.path(), "repo-web", "open of b", Duration::from_millis(200));
        assert!(matches!(patient, Err(LockError::Busy { .. })), "{patient:?}");
        assert!(started.elapsed() >= Duration::from_millis(200), "it tried for its whole patience");
        drop(other.stdin.take());
        other.wait().unwrap();
        let again = try_acquire(dir.path(), "repo-web", "open of b").unwrap();
        let written = std::fs::read_to_string(again.path()).unwrap();
        assert!(written.starts_with("open of b (pid "), "{written}");
    }

    #[test]
    fn a_thread_waits_for_another_thread_of_its_process_and_is_woken_when_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_acquire(dir.path(), "repo-web", "open of a").unwrap();
        let (tx, rx) = mpsc::channel();
        let state = dir.path().to_owned();
        let waiter = std::thread::spawn(move || {
            tx.send(()).unwrap();
            let held = try_acquire(&state, "repo-web", "cleanup of b").unwrap();
            std::fs::read_to_string(held.path()).unwrap()
        });
        rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(first);
        let written = waiter.join().unwrap();
        assert!(written.starts_with("cleanup of b (pid "), "the waiter took it once it was let go: {written}");

        // A holder that keeps it past the patience: the waiter says who holds it.
        let first = try_acquire(dir.path(), "repo-web", "open of a").unwrap();
        let state = dir.path().to_owned();
        let refused = std::thread::spawn(move || match try_acquire(&state, "repo-web", "cleanup of b") {
            Err(LockError::Busy { holder }) => holder,
            other => panic!("expected busy, got {other:?}"),
        })
        .join()
        .unwrap();
        assert!(refused.starts_with("open of a (pid "), "{refused}");
        drop(first);
    }
}
