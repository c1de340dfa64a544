use std::time::Duration;

use expect_test::expect;
use qcold_core::{AdapterKind, BranchName, RepoId};

use super::Upserted;
use super::*;

fn open(dir: &Path) -> Store {
    Store::open(dir, Duration::from_secs(5)).unwrap()
}

fn row(id: &str, root: &str) -> RepoRow {
    RepoRow {
        id: RepoId::new(id).unwrap(),
        root: root.to_owned(),
        adapter: AdapterKind::Command,
        xtask_manifest: None,
        verify_command: Some("true".to_owned()),
        default_branch: BranchName::new("main").unwrap(),
        worktree_root: None,
    }
}

#[test]
fn schema_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    expect![[r#"
        CREATE TABLE active_repository (
                singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
                repo_id TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE
            ) STRICT;
        CREATE TABLE agent_command_readiness (
                name TEXT PRIMARY KEY NOT NULL,
                ready INTEGER NOT NULL CHECK (ready IN (0, 1)),
                reason TEXT NOT NULL,
                checked_at INTEGER NOT NULL
            ) STRICT;
        CREATE TABLE agent_commands (
                name TEXT PRIMARY KEY NOT NULL,
                argv TEXT NOT NULL,
                stdin INTEGER NOT NULL CHECK (stdin IN (0, 1)),
                probe TEXT,
                created_at INTEGER NOT NULL
            ) STRICT;
        CREATE TABLE agents (
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
            ) STRICT;
        CREATE TABLE repositories (
                id TEXT PRIMARY KEY NOT NULL,
                root TEXT NOT NULL UNIQUE,
                adapter TEXT NOT NULL CHECK (adapter IN ('xtask-process', 'command')),
                xtask_manifest TEXT,
                verify_command TEXT,
                default_branch TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            , worktree_root TEXT) STRICT;
        CREATE TABLE schema_migrations (
                    version INTEGER PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    applied_at INTEGER NOT NULL
                ) STRICT;
        CREATE TABLE task_bundles (
                path TEXT PRIMARY KEY NOT NULL,
                task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                status TEXT NOT NULL,
                created_at INTEGER NOT NULL
            ) STRICT;
        CREATE TABLE task_events (
                id INTEGER PRIMARY KEY,
                task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                kind TEXT NOT NULL,
                message TEXT NOT NULL,
                at INTEGER NOT NULL
            ) STRICT;
        CREATE TABLE task_sequences (
                repo_id TEXT PRIMARY KEY NOT NULL,
                last INTEGER NOT NULL
            ) STRICT;
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
        CREATE INDEX task_events_by_task ON task_events (task_id, id);
        CREATE UNIQUE INDEX tasks_one_unfinished_per_slug ON tasks (repo_id, slug) WHERE status NOT LIKE 'closed:%';
    "#]]
    .assert_eq(&store.schema().unwrap());
}

#[test]
fn migrations_are_numbered_without_gaps_and_apply_once() {
    for (i, (version, _, _)) in MIGRATIONS.iter().enumerate() {
        assert_eq!(*version, i64::try_from(i).unwrap() + 1, "migration versions start at 1 and have no gaps");
    }
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let versions = first.applied_migrations().unwrap();
    drop(first);
    let again = open(dir.path());
    assert_eq!(again.applied_migrations().unwrap(), versions, "reopening applies nothing twice");
    assert_eq!(versions.len(), MIGRATIONS.len());
}

#[test]
fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)", []).unwrap();
    drop(store);
    let err = Store::open(dir.path(), Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found: 999, .. }), "{err}");
}

#[test]
fn wal_and_busy_timeout_are_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mode: String = store.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    let timeout: i64 = store.conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
    assert_eq!((mode.as_str(), timeout), ("wal", 5000));
}

#[test]
fn repositories_upsert_activate_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    assert_eq!(store.upsert_repo(&row("b", "/r/b"), false, 10).unwrap(), Upserted::Created);
    assert_eq!(store.upsert_repo(&row("a", "/r/a"), true, 11).unwrap(), Upserted::Created);
    let mut changed = row("a", "/r/a");
    changed.default_branch = BranchName::new("trunk").unwrap();
    assert_eq!(store.upsert_repo(&changed, false, 12).unwrap(), Upserted::Updated);

    let list = store.repositories().unwrap();
    assert_eq!(list.repositories.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let a = list.active_repository().unwrap();
    assert_eq!((a.default_branch.as_str(), a.created_at, a.updated_at), ("trunk", 11, 12));

    let taken = store.upsert_repo(&row("c", "/r/a"), true, 13).unwrap_err();
    assert_eq!(taken.to_string(), "/r/a is already registered as repository \"a\"");
    assert_eq!(store.repositories().unwrap().repositories.len(), 2, "a refused upsert stores nothing");

    store.set_active_repo(&RepoId::new("b").unwrap()).unwrap();
    store.remove_repo(&RepoId::new("b").unwrap()).unwrap();
    let list = store.repositories().unwrap();
    assert_eq!(list.active, None, "removing the active repository clears the active setting");
    assert!(matches!(store.remove_repo(&RepoId::new("b").unwrap()), Err(StoreError::UnknownRepo(_))));
    assert!(matches!(store.set_active_repo(&RepoId::new("zz").unwrap()), Err(StoreError::UnknownRepo(_))));
}
