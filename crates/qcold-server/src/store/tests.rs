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
        CREATE TRIGGER agents_epoch_on_delete AFTER DELETE ON agents BEGIN
                UPDATE queue_revision SET value = value + 1 WHERE id = 1;
                UPDATE agents_epoch SET value = (SELECT value FROM queue_revision WHERE id = 1) WHERE id = 1;
            END;
        CREATE TRIGGER agents_rev_on_insert AFTER INSERT ON agents BEGIN
                UPDATE queue_revision SET value = value + 1 WHERE id = 1;
                UPDATE agents SET rev = (SELECT value FROM queue_revision WHERE id = 1) WHERE id = NEW.id;
            END;
        CREATE TRIGGER agents_rev_on_update AFTER UPDATE ON agents WHEN NEW.rev = OLD.rev BEGIN
                UPDATE queue_revision SET value = value + 1 WHERE id = 1;
                UPDATE agents SET rev = (SELECT value FROM queue_revision WHERE id = 1) WHERE id = NEW.id;
            END;
        CREATE TRIGGER queue_attempts_rev_on_delete AFTER DELETE ON queue_attempts BEGIN
                UPDATE queue_revision SET value = value + 1 WHERE id = 1;
                UPDATE queue_items SET rev = (SELECT value FROM queue_revision WHERE id = 1)
                    WHERE run_id = OLD.run_id AND id = OLD.item_id;
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
        CREATE TRIGGER queue_items_epoch_on_delete AFTER DELETE ON queue_items BEGIN
                UPDATE queue_revision SET value = value + 1 WHERE id = 1;
                UPDATE queue_runs SET items_epoch = (SELECT value FROM queue_revision WHERE id = 1) WHERE id = OLD.run_id;
            END;
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
        CREATE TRIGGER queue_runs_epoch_on_insert AFTER INSERT ON queue_runs BEGIN
                UPDATE queue_revision SET value = value + 1 WHERE id = 1;
                UPDATE queue_runs SET items_epoch = (SELECT value FROM queue_revision WHERE id = 1) WHERE id = NEW.id;
            END;
        CREATE TABLE active_repository (
                singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
                repo_id TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE
            ) STRICT;
        CREATE TABLE agent_command_readiness (
                name TEXT PRIMARY KEY NOT NULL,
                ready INTEGER NOT NULL CHECK (ready IN (0, 1)),
                reason TEXT NOT NULL,
                checked_at INTEGER NOT NULL
            , probed_in TEXT NOT NULL DEFAULT '') STRICT;
        CREATE TABLE agent_commands (
                name TEXT PRIMARY KEY NOT NULL,
                argv TEXT NOT NULL,
                stdin INTEGER NOT NULL CHECK (stdin IN (0, 1)),
                probe TEXT,
                created_at INTEGER NOT NULL
            , preset TEXT, env TEXT NOT NULL DEFAULT '[]', interactive INTEGER NOT NULL DEFAULT 0 CHECK (interactive IN (0, 1))) STRICT;
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
            , rev INTEGER NOT NULL DEFAULT 0) STRICT;
        CREATE TABLE agents_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL) STRICT;
        CREATE TABLE host_samples (
                at INTEGER PRIMARY KEY NOT NULL,
                logical_cpus INTEGER NOT NULL,
                load_one REAL NOT NULL,
                memory_total INTEGER NOT NULL,
                memory_available INTEGER NOT NULL,
                reserved_tasks INTEGER NOT NULL,
                reserved_heavy INTEGER NOT NULL
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
                finished_at INTEGER, packet TEXT, task_id TEXT,
                PRIMARY KEY (run_id, item_id, iteration),
                FOREIGN KEY (run_id, item_id) REFERENCES queue_items (run_id, id) ON DELETE CASCADE
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
                updated_at INTEGER NOT NULL, delivery_retries INTEGER NOT NULL DEFAULT 0, waiting_for TEXT, stalled_since INTEGER, rev INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (run_id, id),
                UNIQUE (run_id, position),
                UNIQUE (run_id, slug)
            ) STRICT;
        CREATE TABLE queue_revision (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL) STRICT;
        CREATE TABLE queue_runs (
                id TEXT PRIMARY KEY NOT NULL,
                repo_id TEXT NOT NULL,
                mode TEXT NOT NULL CHECK (mode IN ('sequence', 'graph')),
                agent TEXT,
                status TEXT NOT NULL CHECK (status IN ('running', 'stopping', 'stopped', 'success', 'failed')),
                reason TEXT NOT NULL DEFAULT '',
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            , kill_requested INTEGER NOT NULL DEFAULT 0 CHECK (kill_requested IN (0, 1)), items_epoch INTEGER NOT NULL DEFAULT 0) STRICT;
        CREATE TABLE queue_tabs (
                id TEXT PRIMARY KEY NOT NULL,
                label TEXT NOT NULL,
                run_id TEXT UNIQUE REFERENCES queue_runs (id) ON DELETE SET NULL,
                active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
                created_at INTEGER NOT NULL
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
                closed_at INTEGER, failure_kind TEXT CHECK (failure_kind IN ('infrastructure', 'task')), failure_line TEXT,
                UNIQUE (repo_id, sequence)
            ) STRICT;
        CREATE INDEX agents_by_rev ON agents (rev);
        CREATE INDEX queue_attempts_by_task ON queue_attempts (task_id);
        CREATE INDEX queue_items_by_rev ON queue_items (run_id, rev);
        CREATE UNIQUE INDEX queue_tabs_one_active ON queue_tabs (active) WHERE active = 1;
        CREATE INDEX task_events_by_task ON task_events (task_id, id);
        CREATE INDEX tasks_by_repo_time ON tasks (repo_id, created_at, id);
        CREATE INDEX tasks_by_time ON tasks (created_at, id);
        CREATE INDEX tasks_by_update ON tasks (updated_at, id);
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
fn migration_9_keeps_what_items_wait_for_and_their_ledgers() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("qcold.sqlite3")).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON; CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT;").unwrap();
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 <= 8) {
            conn.execute_batch(sql).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (?1, ?2, 0)", rusqlite::params![version, name]).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO repositories (id, root, adapter, default_branch, created_at, updated_at)
                 VALUES ('web', '/w/web', 'command', 'main', 0, 0);
             INSERT INTO queue_runs (id, repo_id, mode, status, reason, created_at, updated_at)
                 VALUES ('run-1', 'web', 'graph', 'running', 'running', 0, 0);
             INSERT INTO queue_items (run_id, id, position, slug, prompt, depends_on, wave_index, task_class, status, reason, updated_at, waiting_for, next_attempt_at)
                 VALUES ('run-1', 'a', 1, 'a', 'p', '[]', 0, 'mid', 'waiting', 'launch retry 1', 0, 'launch-retry', 60);
             INSERT INTO queue_attempts (run_id, item_id, iteration, agent_command, started_at) VALUES ('run-1', 'a', 1, 'scripted', 0);",
        )
        .unwrap();
    }
    let store = open(dir.path());
    let item = store.item(&"run-1".parse().unwrap(), &"a".parse().unwrap()).unwrap().unwrap();
    let waiting = (item.waiting_for, item.next_attempt_at, item.delivery_retries);
    assert_eq!(waiting, (Some(qcold_core::queue::WaitingFor::LaunchRetry), Some(60), 0));
    let view = store.queue_view().unwrap();
    assert_eq!(view.runs[0].items[0].attempts.len(), 1, "rewriting the items table cascaded nothing");
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

mod queue {
    use qcold_core::queue::admission::HostSample;
    use qcold_core::queue::graph::normalize;
    use qcold_core::queue::lease::Grant;
    use qcold_core::queue::package::parse_json;
    use qcold_core::queue::{ExecutionMode, ItemStatus, RunStatus, TaskClass};
    use qcold_core::{ItemId, RepoId, RunId};

    use super::*;
    use crate::store::ItemUpdate;

    fn run_with_items(store: &mut Store) -> RunId {
        let package = parse_json(
            r#"{"execution_mode": "graph", "items": [
                {"id": "a", "prompt": "first"},
                {"id": "b", "prompt": "second", "depends_on": "a", "class": "heavy"}
            ]}"#,
        )
        .unwrap();
        let normalized = normalize(&package, 1).unwrap();
        let run: RunId = "run-1".parse().unwrap();
        let repo: RepoId = "web".parse().unwrap();
        store.insert_run(&run, &repo, ExecutionMode::Graph, Some("c1"), &normalized.items, 100).unwrap();
        run
    }

    /// A run read by a connection that keeps its items equals a fresh read after every kind of
    /// write — by another connection, as an agent's closeout is — and costs only the rows written.
    #[test]
    fn a_kept_run_is_reread_only_where_it_changed_and_always_equals_a_fresh_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = open(dir.path());
        let reader = open(dir.path());
        let items: String =
            (0..40).map(|i| format!(r#"{{"id": "i{i}", "prompt": "p{i}"}}"#)).collect::<Vec<_>>().join(",");
        let package = parse_json(&format!(r#"{{"execution_mode": "graph", "items": [{items}]}}"#)).unwrap();
        let normalized = normalize(&package, 1).unwrap();
        let run: RunId = "run-1".parse().unwrap();
        let repo: RepoId = "web".parse().unwrap();
        writer.insert_run(&run, &repo, ExecutionMode::Graph, Some("c1"), &normalized.items, 100).unwrap();
        let check = |what: &str, rows: u64| {
            let before = reader.item_rows_read();
            let kept = reader.run(&run).unwrap();
            let fresh = open(dir.path()).run(&run).unwrap();
            assert_eq!(kept, fresh, "{what}: the kept run differs from a fresh read");
            assert_eq!(reader.item_rows_read() - before, rows, "{what}: item rows read");
        };
        check("first read", 40);
        check("nothing written", 0);
        let one: ItemId = "i7".parse().unwrap();
        writer.edit_item(&run, &one, Some("new prompt"), None, None, 200).unwrap();
        check("one item edited", 1);
        writer
            .insert_attempt(
                &run,
                &"i9".parse().unwrap(),
                &qcold_core::queue::Attempt {
                    iteration: 1,
                    agent_command: "c1".into(),
                    agent_id: None,
                    terminal: None,
                    packet: None,
                    task_id: None,
                    log: None,
                    bundle: None,
                    failure: None,
                    started_at: 210,
                    finished_at: None,
                },
            )
            .unwrap();
        check("an attempt of one item", 1);
        writer.continue_run(&run, 220).unwrap();
        check("every item woken", 40);
        let more =
            parse_json(r#"{"execution_mode": "graph", "items": [{"id": "late", "prompt": "appended"}]}"#).unwrap();
        let appended = normalize(&more, 41).unwrap();
        writer.append_items(&run, &appended.items, 230).unwrap();
        check("an item appended", 1);
        assert!(writer.remove_item(&run, &"late".parse().unwrap(), 240).unwrap());
        check("an item removed: the run is read again", 40);
        assert!(writer.delete_run(&run).unwrap());
        let again = parse_json(r#"{"execution_mode": "graph", "items": [{"id": "i7", "prompt": "reborn"}]}"#).unwrap();
        writer.insert_run(&run, &repo, ExecutionMode::Graph, None, &normalize(&again, 1).unwrap().items, 300).unwrap();
        check("the run deleted and made again under its id", 1);
    }

    #[test]
    fn runs_and_items_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let run = run_with_items(&mut store);
        assert_eq!(store.run_status(&run).unwrap(), Some(RunStatus::Running));
        let items = store.run_items(&run).unwrap();
        let view: Vec<(u32, &str, ItemStatus, TaskClass, u32)> =
            items.iter().map(|i| (i.position, i.id.as_str(), i.status, i.task_class, i.wave_index)).collect();
        assert_eq!(
            view,
            [(1, "a", ItemStatus::Pending, TaskClass::Mid, 0), (2, "b", ItemStatus::Pending, TaskClass::Heavy, 1)]
        );
        assert_eq!(items[1].depends_on, [ItemId::new("a").unwrap()]);
        assert_eq!(items[0].agent.as_deref(), None, "the run's agent is kept on the run");
        assert!(store.run_status(&"nope".parse().unwrap()).unwrap().is_none());
    }

    #[test]
    fn a_bundle_written_after_its_iteration_was_judged_still_reaches_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let run = run_with_items(&mut store);
        let item: ItemId = "a".parse().unwrap();
        let attempt = qcold_core::queue::Attempt {
            iteration: 1,
            agent_command: "c1".into(),
            agent_id: Some("q-run-1-a-1".into()),
            terminal: None,
            packet: None,
            log: None,
            task_id: Some("web/001-a".into()),
            bundle: None,
            failure: Some("the task closed as failed".into()),
            started_at: 100,
            finished_at: None,
        };
        let record = super::tasks::task("web", 1, "a", qcold_core::TaskStatus::ClosedFailed, 100, None);
        let opened =
            qcold_core::task::TaskEvent { kind: qcold_core::task::EventKind::Open, message: String::new(), at: 100 };
        store.insert_task(&record, &opened).unwrap();
        store.insert_attempt(&run, &item, &attempt).unwrap();
        // The scheduler judged the closed task before its closeout had written the bundle.
        store.finish_attempt(&run, &item, 1, &crate::store::AttemptEnd::default(), 110).unwrap();
        let bundle = qcold_core::task::Bundle {
            path: "/b/web-001-a.zip".into(),
            status: qcold_core::TaskStatus::ClosedFailed,
            created_at: 111,
        };
        store.add_task_bundle("web/001-a", &bundle).unwrap();
        let ledger = store.item_attempts(&run, &item).unwrap();
        assert_eq!(ledger[0].bundle.as_deref(), Some("/b/web-001-a.zip"));
        // A later bundle of the same task (another closeout) does not replace it.
        store
            .add_task_bundle("web/001-a", &qcold_core::task::Bundle { path: "/b/later.zip".into(), ..bundle })
            .unwrap();
        assert_eq!(store.item_attempts(&run, &item).unwrap()[0].bundle.as_deref(), Some("/b/web-001-a.zip"));
    }

    #[test]
    fn a_bundle_reaches_only_the_iteration_that_wrote_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let run = run_with_items(&mut store);
        let item: ItemId = "a".parse().unwrap();
        let record = super::tasks::task("web", 1, "a", qcold_core::TaskStatus::ClosedSuccess, 100, None);
        let opened =
            qcold_core::task::TaskEvent { kind: qcold_core::task::EventKind::Open, message: String::new(), at: 100 };
        store.insert_task(&record, &opened).unwrap();
        // Iteration 1's agent exited without closing out; iteration 2 resumed the same task.
        for (iteration, started_at) in [(1, 100), (2, 120)] {
            let attempt = qcold_core::queue::Attempt {
                iteration,
                agent_command: "c1".into(),
                agent_id: Some(format!("q-run-1-a-{iteration}")),
                terminal: None,
                packet: None,
                log: None,
                task_id: Some("web/001-a".into()),
                bundle: None,
                failure: None,
                started_at,
                finished_at: None,
            };
            store.insert_attempt(&run, &item, &attempt).unwrap();
            store
                .finish_attempt(&run, &item, iteration, &crate::store::AttemptEnd::default(), started_at + 10)
                .unwrap();
        }
        let bundle = qcold_core::task::Bundle {
            path: "/b/closed-success.zip".into(),
            status: qcold_core::TaskStatus::ClosedSuccess,
            created_at: 131,
        };
        store.add_task_bundle("web/001-a", &bundle).unwrap();
        let ledger = store.item_attempts(&run, &item).unwrap();
        let bundles: Vec<_> = ledger.iter().map(|a| (a.iteration, a.bundle.as_deref())).collect();
        assert_eq!(bundles, [(1, None), (2, Some("/b/closed-success.zip"))]);
    }

    #[test]
    fn a_stale_worker_can_never_write_after_its_lease_is_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let run = run_with_items(&mut store);
        let item: ItemId = "a".parse().unwrap();
        let stored = store.run_items(&run).unwrap().remove(0);
        let running = ItemUpdate::of(&stored, ItemStatus::Running, "started");
        let alive = |_: &str| true;

        assert_eq!(
            store.acquire_item_lease(&run, &item, "w1", 1000, &alive).unwrap(),
            Some(Grant::Acquired { epoch: 1, reclaimed: false })
        );
        assert!(matches!(store.acquire_item_lease(&run, &item, "w2", 1001, &alive).unwrap(), Some(Grant::Busy { .. })));
        assert!(store.heartbeat_item(&run, &item, 1, 1100).unwrap());
        store.update_item(&run, &item, 1, &running, 1100).unwrap();

        // w1 goes silent; its lease lapses at 1100 + 120 and w2 reclaims the item.
        assert_eq!(
            store.acquire_item_lease(&run, &item, "w2", 1221, &alive).unwrap(),
            Some(Grant::Acquired { epoch: 2, reclaimed: true })
        );
        let late = ItemUpdate::of(&stored, ItemStatus::Failed, "stale worker");
        let err = store.update_item(&run, &item, 1, &late, 1222).unwrap_err();
        assert!(matches!(err, StoreError::Fenced { epoch: 1, .. }), "{err}");
        assert!(
            !store.heartbeat_item(&run, &item, 1, 1222).unwrap(),
            "the stale worker's heartbeat fails: it must stop"
        );
        let stored = &store.run_items(&run).unwrap()[0];
        assert_eq!((stored.status, stored.reason.as_str(), stored.lease.epoch), (ItemStatus::Running, "started", 2));
        assert_eq!(stored.lease.owner.as_deref(), Some("w2"));

        store.update_item(&run, &item, 2, &ItemUpdate::of(stored, ItemStatus::Success, "closed"), 1300).unwrap();
        store.release_item(&run, &item, 2).unwrap();
        let stored = &store.run_items(&run).unwrap()[0];
        assert_eq!((stored.status, stored.lease.owner.as_deref()), (ItemStatus::Success, None));
        assert_eq!(store.acquire_item_lease(&run, &"zz".parse().unwrap(), "w1", 0, &alive).unwrap(), None);
    }

    #[test]
    fn a_passs_refusals_are_written_together_and_a_fenced_one_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let run = run_with_items(&mut store);
        let items = store.run_items(&run).unwrap();
        let waiting =
            |i: &qcold_core::queue::ItemRecord| ItemUpdate::of(i, ItemStatus::Waiting, "waiting for admission: full");
        // "b" was granted meanwhile (epoch 1): the refusal read at epoch 0 must not land on it.
        let alive = |_: &str| true;
        store.acquire_item_lease(&run, &items[1].id, "w1", 1000, &alive).unwrap();
        let refusals: Vec<_> = items.iter().map(|i| (run.clone(), i.id.clone(), i.lease.epoch, waiting(i))).collect();
        store.update_items_unleased(&refusals, 1001).unwrap();
        let after = store.run_items(&run).unwrap();
        assert_eq!((after[0].status, after[0].updated_at), (ItemStatus::Waiting, 1001));
        assert_eq!(after[1].status, ItemStatus::Pending, "the granted item keeps its state");
        store.update_items_unleased(&[], 1002).unwrap();
    }

    #[test]
    fn host_samples_keep_a_window() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let sample = |at| HostSample {
            at,
            logical_cpus: 2,
            load_one: 0.5,
            memory_total: 8 << 30,
            memory_available: 4 << 30,
            reserved_tasks: 1,
            reserved_heavy: 0,
            cpu_usage_percent: None,
            disk_total: None,
            disk_available: None,
        };
        for at in [0, 1800, 3600, 5400] {
            store.record_host_sample(&sample(at), 3600).unwrap();
        }
        let kept: Vec<i64> = store.host_samples(0).unwrap().iter().map(|s| s.at).collect();
        assert_eq!(kept, [1800, 3600, 5400], "samples older than the window are dropped");
        assert_eq!(store.host_samples(3600).unwrap()[0], sample(3600));
    }
}

mod tasks;

#[test]
fn data_version_moves_on_another_connections_commit_never_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut own = open(dir.path());
    let mut other = open(dir.path());
    let start = own.data_version().unwrap();
    own.upsert_repo(&row("a", "/r/a"), false, 10).unwrap();
    assert_eq!(own.data_version().unwrap(), start, "its own write");
    let others = other.data_version().unwrap();
    other.upsert_repo(&row("b", "/r/b"), false, 11).unwrap();
    assert_ne!(own.data_version().unwrap(), start, "another connection's commit");
    assert_eq!(other.data_version().unwrap(), others, "and not on the writer");
}

/// The agents read through a connection's cache equal a fresh read after every kind of write by
/// another connection: a start, an exit, new labels, a deletion.
#[test]
fn kept_agents_always_equal_a_fresh_read() {
    use qcold_core::agent::AgentRecord;
    let dir = tempfile::tempdir().unwrap();
    let mut writer = open(dir.path());
    let reader = open(dir.path());
    let agent = |i: i64| AgentRecord {
        id: format!("a{i}").parse().unwrap(),
        track: "ad-hoc".into(),
        name: None,
        scope: None,
        argv: vec!["true".into()],
        cwd: "/tmp".into(),
        pid: 1000,
        pgid: 1000,
        terminal: None,
        stdout_log: None,
        stderr_log: None,
        exit_file: format!("/tmp/a{i}/exit-code"),
        // Started out of id order, so the kept list must be kept in the store's order.
        started_at: 100 - i,
        exited_at: None,
        exit_code: None,
    };
    let check = |what: &str| {
        assert_eq!(reader.agents().unwrap(), open(dir.path()).agents().unwrap(), "{what}");
    };
    check("no agents");
    for i in 0..5 {
        writer.insert_agent(&agent(i)).unwrap();
    }
    check("five started");
    writer.set_agent_exit(&"a2".parse().unwrap(), 150, Some(0)).unwrap();
    check("one exited");
    writer.set_agent_labels(&"a3".parse().unwrap(), Some("named"), None).unwrap();
    writer.insert_agent(&agent(9)).unwrap();
    check("one labelled, one more started");
    writer.delete_agent(&"a0".parse().unwrap()).unwrap();
    check("one forgotten");
    assert_eq!(reader.agents().unwrap().len(), 5);
}
