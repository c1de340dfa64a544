//! Numbered, append-only schema migrations.
//!
//! A migration is never edited once it has landed: a change to the schema is a new entry at the
//! end of [`MIGRATIONS`]. Each migration runs in its own `IMMEDIATE` transaction together with
//! the row that records it, so a crash leaves the schema at a known version.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// `(version, name, sql)`, in order. Versions start at 1 and have no gaps.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
(
    1,
    "repositories",
    "CREATE TABLE repositories (
        id TEXT PRIMARY KEY NOT NULL,
        root TEXT NOT NULL UNIQUE,
        adapter TEXT NOT NULL CHECK (adapter IN ('xtask-process', 'command')),
        xtask_manifest TEXT,
        verify_command TEXT,
        default_branch TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE active_repository (
        singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
        repo_id TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE
    ) STRICT;",
),
(
    2,
    "tasks",
    "ALTER TABLE repositories ADD COLUMN worktree_root TEXT;
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY NOT NULL,
        repo_id TEXT NOT NULL,
        slug TEXT NOT NULL,
        sequence INTEGER NOT NULL CHECK (sequence > 0),
        status TEXT NOT NULL CHECK (status IN ('open', 'paused', 'failed-closeout', 'closed:success', 'closed:blocked', 'closed:failed')),
        profile TEXT,
        prompt TEXT,
        branch TEXT NOT NULL,
        worktree TEXT NOT NULL,
        primary_root TEXT NOT NULL,
        base_branch TEXT NOT NULL,
        base_commit TEXT NOT NULL,
        failed_phase TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        closed_at INTEGER,
        UNIQUE (repo_id, sequence)
    ) STRICT;
    CREATE UNIQUE INDEX tasks_one_unfinished_per_slug ON tasks (repo_id, slug) WHERE status NOT LIKE 'closed:%';
    CREATE TABLE task_sequences (
        repo_id TEXT PRIMARY KEY NOT NULL,
        last INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE task_events (
        id INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX task_events_by_task ON task_events (task_id, id);
    CREATE TABLE task_bundles (
        path TEXT PRIMARY KEY NOT NULL,
        task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;",
),
(
    3,
    "agents",
    "CREATE TABLE agents (
        id TEXT PRIMARY KEY NOT NULL,
        track TEXT NOT NULL,
        name TEXT,
        scope TEXT,
        argv TEXT NOT NULL,
        cwd TEXT NOT NULL,
        pid INTEGER NOT NULL,
        pgid INTEGER NOT NULL,
        tmux_session TEXT,
        tmux_target TEXT,
        stdout_log TEXT,
        stderr_log TEXT,
        exit_file TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        exited_at INTEGER,
        exit_code INTEGER
    ) STRICT;",
),
(
    4,
    "agent_commands",
    "CREATE TABLE agent_commands (
        name TEXT PRIMARY KEY NOT NULL,
        argv TEXT NOT NULL,
        stdin INTEGER NOT NULL CHECK (stdin IN (0, 1)),
        probe TEXT,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE agent_command_readiness (
        name TEXT PRIMARY KEY NOT NULL,
        ready INTEGER NOT NULL CHECK (ready IN (0, 1)),
        reason TEXT NOT NULL,
        checked_at INTEGER NOT NULL
    ) STRICT;",
),
(
    5,
    "queue",
    "CREATE TABLE queue_runs (
        id TEXT PRIMARY KEY NOT NULL,
        repo_id TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('sequence', 'graph')),
        agent TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'stopping', 'stopped', 'success', 'failed')),
        reason TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE queue_items (
        run_id TEXT NOT NULL REFERENCES queue_runs (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        position INTEGER NOT NULL CHECK (position > 0),
        slug TEXT NOT NULL,
        prompt TEXT NOT NULL,
        depends_on TEXT NOT NULL DEFAULT '[]',
        wave_index INTEGER NOT NULL DEFAULT 0,
        task_class TEXT NOT NULL CHECK (task_class IN ('cheap', 'mid', 'heavy')),
        agent TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'admitted', 'starting', 'running', 'waiting', 'stopped', 'paused', 'success', 'failed', 'blocked')),
        reason TEXT NOT NULL DEFAULT '',
        next_attempt_at INTEGER,
        launch_failures INTEGER NOT NULL DEFAULT 0,
        iteration INTEGER NOT NULL DEFAULT 0,
        task_id TEXT,
        agent_id TEXT,
        lease_owner TEXT,
        lease_epoch INTEGER NOT NULL DEFAULT 0,
        lease_expires_at INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (run_id, id),
        UNIQUE (run_id, position),
        UNIQUE (run_id, slug)
    ) STRICT;
    CREATE TABLE queue_attempts (
        run_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        agent_command TEXT NOT NULL,
        agent_id TEXT,
        terminal TEXT,
        log TEXT,
        bundle TEXT,
        failure TEXT,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        PRIMARY KEY (run_id, item_id, iteration),
        FOREIGN KEY (run_id, item_id) REFERENCES queue_items (run_id, id) ON DELETE CASCADE
    ) STRICT;
    CREATE TABLE queue_tabs (
        id TEXT PRIMARY KEY NOT NULL,
        label TEXT NOT NULL,
        run_id TEXT UNIQUE REFERENCES queue_runs (id) ON DELETE SET NULL,
        active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX queue_tabs_one_active ON queue_tabs (active) WHERE active = 1;
    CREATE TABLE host_samples (
        at INTEGER PRIMARY KEY NOT NULL,
        logical_cpus INTEGER NOT NULL,
        load_one REAL NOT NULL,
        memory_total INTEGER NOT NULL,
        memory_available INTEGER NOT NULL,
        reserved_tasks INTEGER NOT NULL,
        reserved_heavy INTEGER NOT NULL
    ) STRICT;",
),
(
    6,
    "queue ledger packets and the default tab",
    "ALTER TABLE queue_attempts ADD COLUMN packet TEXT;
    ALTER TABLE queue_items ADD COLUMN waiting_for TEXT CHECK (waiting_for IN ('admission', 'launch-retry'));
    ALTER TABLE queue_attempts ADD COLUMN task_id TEXT;
    INSERT OR IGNORE INTO queue_tabs (id, label, run_id, active, created_at)
        SELECT 'default', 'Task Queue', NULL, NOT EXISTS (SELECT 1 FROM queue_tabs WHERE active = 1), 0;",
),
(
    7,
    "task paging indexes",
    "CREATE INDEX tasks_by_time ON tasks (created_at, id);
    CREATE INDEX tasks_by_repo_time ON tasks (repo_id, created_at, id);",
),
(
    8,
    "recent tasks index",
    "CREATE INDEX tasks_by_update ON tasks (updated_at, id);",
),
(
    9,
    "delivery retries, classified closeout failures, and waiting reasons checked by the enum",
    // A CHECK cannot be altered in place: `waiting_for` is copied aside, dropped and added again
    // without a closed list (it is referenced by no index, key or other constraint), so a new
    // `WaitingFor` needs no table rebuild; reads still refuse a value the enum does not know.
    "ALTER TABLE queue_items ADD COLUMN delivery_retries INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE queue_items ADD COLUMN waiting_for_old TEXT;
    UPDATE queue_items SET waiting_for_old = waiting_for;
    ALTER TABLE queue_items DROP COLUMN waiting_for;
    ALTER TABLE queue_items ADD COLUMN waiting_for TEXT;
    UPDATE queue_items SET waiting_for = waiting_for_old;
    ALTER TABLE queue_items DROP COLUMN waiting_for_old;
    ALTER TABLE tasks ADD COLUMN failure_kind TEXT CHECK (failure_kind IN ('infrastructure', 'task'));
    ALTER TABLE tasks ADD COLUMN failure_line TEXT;",
),
(
    10,
    "queue run kill requests",
    "ALTER TABLE queue_runs ADD COLUMN kill_requested INTEGER NOT NULL DEFAULT 0 CHECK (kill_requested IN (0, 1));",
),
(
    11,
    "ledger rows by task",
    "CREATE INDEX queue_attempts_by_task ON queue_attempts (task_id);",
),
(
    12,
    "agent command presets and environment",
    // `env` is a JSON array of [key, value] pairs; only the store and the launch read values.
    "ALTER TABLE agent_commands ADD COLUMN preset TEXT;
    ALTER TABLE agent_commands ADD COLUMN env TEXT NOT NULL DEFAULT '[]';",
),
(
    13,
    "readiness by environment",
    // What of the probing process's environment the answer depends on (`probe::environment_mark`):
    // a CLI's answer from a shell is not the daemon's.
    "ALTER TABLE agent_command_readiness ADD COLUMN probed_in TEXT NOT NULL DEFAULT '';",
),
(
    14,
    "stalled items",
    "ALTER TABLE queue_items ADD COLUMN stalled_since INTEGER;",
),
(
    15,
    "interactive agent commands",
    "ALTER TABLE agent_commands ADD COLUMN interactive INTEGER NOT NULL DEFAULT 0 CHECK (interactive IN (0, 1));",
),
(
    16,
    "queue item revisions",
    // Every write of an item or of its attempts gives the item the next value of one counter
    // (`rev`), and every item deleted gives its run a fresh `items_epoch` (as does the run's
    // insert): a reader that keeps a run's items re-reads only those with a higher `rev`, and all
    // of them when the epoch moved (`store::runs::ItemCache`). Triggers do it, so no write can
    // forget. A trigger's own `UPDATE ... SET rev` does not fire the update trigger again: its
    // `WHEN` sees the revision moved (and SQLite's recursive triggers are off).
    "CREATE TABLE queue_revision (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL) STRICT;
    INSERT INTO queue_revision (id, value) VALUES (1, 0);
    ALTER TABLE queue_items ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE queue_runs ADD COLUMN items_epoch INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX queue_items_by_rev ON queue_items (run_id, rev);
    CREATE TRIGGER queue_items_rev_on_insert AFTER INSERT ON queue_items BEGIN
        UPDATE queue_revision SET value = value + 1 WHERE id = 1;
        UPDATE queue_items SET rev = (SELECT value FROM queue_revision WHERE id = 1)
            WHERE run_id = NEW.run_id AND id = NEW.id;
    END;
    CREATE TRIGGER queue_items_rev_on_update AFTER UPDATE ON queue_items WHEN NEW.rev = OLD.rev BEGIN
        UPDATE queue_revision SET value = value + 1 WHERE id = 1;
        UPDATE queue_items SET rev = (SELECT value FROM queue_revision WHERE id = 1)
            WHERE run_id = NEW.run_id AND id = NEW.id;
    END;
    CREATE TRIGGER queue_items_epoch_on_delete AFTER DELETE ON queue_items BEGIN
        UPDATE queue_revision SET value = value + 1 WHERE id = 1;
        UPDATE queue_runs SET items_epoch = (SELECT value FROM queue_revision WHERE id = 1) WHERE id = OLD.run_id;
    END;
    CREATE TRIGGER queue_runs_epoch_on_insert AFTER INSERT ON queue_runs BEGIN
        UPDATE queue_revision SET value = value + 1 WHERE id = 1;
        UPDATE queue_runs SET items_epoch = (SELECT value FROM queue_revision WHERE id = 1) WHERE id = NEW.id;
    END;
    CREATE TRIGGER queue_attempts_rev_on_insert AFTER INSERT ON queue_attempts BEGIN
        UPDATE queue_revision SET value = value + 1 WHERE id = 1;
        UPDATE queue_items SET rev = (SELECT value FROM queue_revision WHERE id = 1)
            WHERE run_id = NEW.run_id AND id = NEW.item_id;
    END;
    CREATE TRIGGER queue_attempts_rev_on_update AFTER UPDATE ON queue_attempts BEGIN
        UPDATE queue_revision SET value = value + 1 WHERE id = 1;
        UPDATE queue_items SET rev = (SELECT value FROM queue_revision WHERE id = 1)
            WHERE run_id = NEW.run_id AND id = NEW.item_id;
    END;
    CREATE TRIGGER queue_attempts_rev_on_delete AFTER DELETE ON queue_attempts BEGIN
        UPDATE queue_revision SET value = value + 1 WHERE id = 1;
        UPDATE queue_items SET rev = (SELECT value FROM queue_revision WHERE id = 1)
            WHERE run_id = OLD.run_id AND id = OLD.item_id;
    END;",
),
(
    17,
    "agent revisions",
    // As migration 16 for items, on the counter of `queue_revision`: every agent written gets the
    // next revision, and every agent deleted moves `agents_epoch` (`store::kept::Kept`, as for items).
    "CREATE TABLE agents_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL) STRICT;
    INSERT INTO agents_epoch (id, value) VALUES (1, 0);
    ALTER TABLE agents ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX agents_by_rev ON agents (rev);
    CREATE TRIGGER agents_rev_on_insert AFTER INSERT ON agents BEGIN
        UPDATE queue_revision SET value = value + 1 WHERE id = 1;
        UPDATE agents SET rev = (SELECT value FROM queue_revision WHERE id = 1) WHERE id = NEW.id;
    END;
    CREATE TRIGGER agents_rev_on_update AFTER UPDATE ON agents WHEN NEW.rev = OLD.rev BEGIN
        UPDATE queue_revision SET value = value + 1 WHERE id = 1;
        UPDATE agents SET rev = (SELECT value FROM queue_revision WHERE id = 1) WHERE id = NEW.id;
    END;
    CREATE TRIGGER agents_epoch_on_delete AFTER DELETE ON agents BEGIN
        UPDATE queue_revision SET value = value + 1 WHERE id = 1;
        UPDATE agents_epoch SET value = (SELECT value FROM queue_revision WHERE id = 1) WHERE id = 1;
    END;",
)];

pub(super) fn apply(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        ) STRICT;",
    )?;
    let current: i64 = conn.query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::NewerSchema { path: path.to_owned(), found: current, known });
    }
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        let done: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |r| {
                r.get(0)
            })?;
        if !done {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![version, name, crate::unix_now()],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}
