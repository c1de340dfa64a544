//! The SQLite store: one file in the state dir, opened with WAL and a busy timeout, migrated by
//! numbered append-only migrations. All SQL of the workspace lives under this module.

mod agents;
mod attempts;
mod commands;
mod fault;
mod kept;
mod migrations;
mod queue;
mod repos;
mod runs;
mod tabs;
mod tasks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

pub use attempts::AttemptEnd;
pub use fault::{Fault, fault};
pub use migrations::MIGRATIONS;
pub use queue::ItemUpdate;
pub use repos::{RepoRow, Upserted};
pub use tabs::DEFAULT_TAB;

/// Failures of the store that callers branch on; everything else is [`StoreError::Sqlite`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state dir could not be created.
    #[error("cannot create state dir {path}: {source}")]
    StateDir {
        /// The state dir.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The database was migrated by a newer qcold.
    #[error("the store at {path} has schema version {found}, newer than this qcold knows ({known}); upgrade qcold")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A repository root is already registered under another id.
    #[error("{root} is already registered as repository {existing:?}")]
    RootTaken {
        /// The canonical root.
        root: String,
        /// The id it is registered under.
        existing: String,
    },
    /// No repository has this id.
    #[error("no repository {0:?} is registered; `qcold repo list` shows the registered ones")]
    UnknownRepo(String),
    /// No task has this id.
    #[error("no task {0:?}; `qcold task list` shows the tasks")]
    UnknownTask(String),
    /// A worker's write carried an epoch that is no longer current.
    #[error("item {item}: the lease epoch {epoch} is no longer current; another worker owns the item")]
    Fenced {
        /// The item.
        item: String,
        /// The stale epoch.
        epoch: u64,
    },
    /// Any other SQLite failure.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// An open store. Cheap operations; one connection, not shared between threads.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// The items of the runs this connection read last ([`runs::ItemCache`]).
    items: std::cell::RefCell<runs::ItemCache>,
    /// The agents this connection read last ([`Store::agents`]).
    agents: std::cell::RefCell<Option<kept::Kept<qcold_core::agent::AgentRecord>>>,
    /// Queue item rows read since the connection opened, for tests of the cache.
    rows_read: std::cell::Cell<u64>,
}

impl Store {
    /// Opens (creating if needed) the store in `state_dir` and brings its schema up to date.
    pub fn open(state_dir: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        create_private_dir(state_dir)?;
        let path = state_dir.join("qcold.sqlite3");
        let conn = Connection::open(&path)?;
        conn.busy_timeout(busy_timeout)?;
        // WAL lets the daemon read while the CLI writes; NORMAL sync is durable across
        // application crashes, which is the failure that matters for a local control plane.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Self {
            conn,
            items: std::cell::RefCell::default(),
            agents: std::cell::RefCell::default(),
            rows_read: std::cell::Cell::new(0),
        };
        migrations::apply(&mut store.conn, &path)?;
        Ok(store)
    }

    /// How many rows this connection has inserted, updated or deleted since it opened: a pass
    /// compares it before and after a phase to know whether the state it read is still current.
    pub fn rows_written(&self) -> u64 {
        self.conn.total_changes()
    }

    /// How many queue item rows this connection has read for runs' items since it opened (the
    /// [`runs::ItemCache`] reads only those written since its last read).
    pub fn item_rows_read(&self) -> u64 {
        self.rows_read.get()
    }

    /// SQLite's `data_version` of this connection: it changes when another connection (another
    /// process, or the daemon's other connection) commits, never on this connection's own writes.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("PRAGMA data_version", [], |row| row.get(0))?)
    }

    /// The schema as `sqlite_master` records it, one statement per line, for snapshot tests.
    pub fn schema(&self) -> Result<String, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type DESC, name",
        )?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        let mut out = String::new();
        for sql in rows {
            out.push_str(&sql?);
            out.push_str(";\n");
        }
        Ok(out)
    }

    /// The versions of the applied migrations, ascending.
    pub fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Stored values are validated on the way out too: a hand-edited row must not smuggle an
/// invalid id or status into the typed world.
fn conversion_error(column: usize, err: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(err))
}

/// The wire spelling of a unit enum (its serde string), as stored in a TEXT column.
fn enum_text<T: serde::Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A unit enum read back from its stored spelling.
fn enum_from<T: serde::de::DeserializeOwned>(column: usize, text: String) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| conversion_error(column, e))
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::StateDir { path: dir.to_owned(), source })
}

#[cfg(test)]
mod tests;
