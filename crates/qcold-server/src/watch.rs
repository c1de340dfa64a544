//! The store watcher: turns writes by other processes (the CLI, agents) into pushed events and
//! scheduler passes.
//!
//! The CLI writes the SQLite file directly, so the daemon learns about a new repository or a
//! task closed out by an agent from the file system: an inotify watch on the state dir wakes a
//! task, which waits for the burst of writes to settle, re-reads what it caches (repositories,
//! the state's tasks, agents), publishes the deltas and wakes the queue scheduler. A second watch
//! on the agents' dirs sees an agent's exit file appear the moment its command ends. The daemon's
//! own writes wake it too; a reload that finds nothing changed publishes nothing (see
//! [`Publisher::reload_repositories`]), and a store change wakes the scheduler only to compare
//! its connection's `data_version` (which its own writes never change) with the one its last
//! pass began at, so the scheduler's writes do not cause a second pass. No timer is involved.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::app::{Publisher, Wake};

/// How long a burst of writes must be quiet before the tables are re-read. SQLite updates the
/// WAL index right after the write that wakes us; this gives it time to.
const SETTLE: Duration = Duration::from_millis(50);

/// Starts watching the store and returns the task that turns its wake-ups into reloads and
/// scheduler passes, for the caller to run; `None` (logged) when inotify refuses, and the daemon
/// carries on without it.
pub fn watch(publisher: Publisher, scheduler: Wake) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
    let (wake, mut woken) = mpsc::channel::<()>(1);
    // An agent's exit changes no table: it asks for a pass outright.
    let exited = Arc::new(AtomicBool::new(false));
    let exit_seen = Arc::clone(&exited);
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !is_change(&event.kind) {
            return;
        }
        let exit = event.paths.iter().any(|p| is_exit_file(p));
        if exit {
            exit_seen.store(true, Ordering::SeqCst);
        }
        if exit || event.paths.iter().any(|p| is_store_file(p)) {
            // A full channel already holds a wake-up; one is enough.
            let _ = wake.try_send(());
        }
    };
    let agents = publisher.config().state_dir.join("agents");
    let watcher = notify::recommended_watcher(handler).and_then(|mut w| {
        w.watch(&publisher.config().state_dir, RecursiveMode::NonRecursive)?;
        std::fs::create_dir_all(&agents)?;
        w.watch(&agents, RecursiveMode::Recursive)?;
        Ok(w)
    });
    let watcher = match watcher {
        Ok(w) => w,
        Err(err) => {
            tracing::warn!("cannot watch the store ({err}); changes made by the CLI show after a daemon restart");
            return None;
        }
    };
    Some(async move {
        // The watcher stops when dropped; keep it for the life of this task.
        let _watcher = watcher;
        loop {
            tokio::select! {
                () = publisher.cancelled() => break,
                woke = woken.recv() => if woke.is_none() { break },
            }
            // Let the burst settle, then swallow the wake-ups it produced.
            tokio::time::sleep(SETTLE).await;
            while woken.try_recv().is_ok() {}
            if let Err(err) = publisher.reload_repositories().await {
                tracing::error!("cannot reload repositories: {err:#}");
            }
            publisher.reload_tasks_and_agents().await;
            if exited.swap(false, Ordering::SeqCst) {
                scheduler.wake();
            } else {
                scheduler.store_changed();
            }
        }
    })
}

/// Whether an event says a file changed. Opening or reading one is no change: a reload reads
/// agents' exit files and a new connection opens the store, and waking on those would make
/// every reload wake the next one.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Other => true,
    }
}

fn is_exit_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "exit-code")
}

fn is_store_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n == "qcold.sqlite3" || n == "qcold.sqlite3-wal")
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, EventKind, ModifyKind};

    use super::is_change;

    #[test]
    fn reading_a_file_is_no_change_writing_one_is() {
        for read in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
        ] {
            assert!(!is_change(&read), "{read:?}");
        }
        for write in [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
        ] {
            assert!(is_change(&write), "{write:?}");
        }
    }
}
