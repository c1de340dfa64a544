//! Queries on the `repositories` and `active_repository` tables.

use qcold_core::{AdapterKind, BranchName, RepoId, Repository, RepositoryList};
use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, conversion_error};

/// A repository as stored; [`Store::upsert_repo`] fills in the timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRow {
    /// The id.
    pub id: RepoId,
    /// Canonical root.
    pub root: String,
    /// Adapter.
    pub adapter: AdapterKind,
    /// Canonical xtask manifest.
    pub xtask_manifest: Option<String>,
    /// Verify command line.
    pub verify_command: Option<String>,
    /// Default branch.
    pub default_branch: BranchName,
    /// Where task worktrees go, when not the default.
    pub worktree_root: Option<String>,
}

/// Whether an upsert created the repository or changed an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// A new repository.
    Created,
    /// An existing id got new settings.
    Updated,
}

impl Store {
    /// Registers `row`, or updates the repository with the same id. Refuses a root that is
    /// registered under another id. With `set_active`, also makes it the active repository —
    /// in the same transaction, so a failure stores nothing.
    pub fn upsert_repo(&mut self, row: &RepoRow, set_active: bool, now: i64) -> Result<Upserted, StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let holder: Option<String> = tx
            .query_row(
                "SELECT id FROM repositories WHERE root = ?1 AND id <> ?2",
                params![row.root, row.id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(existing) = holder {
            return Err(StoreError::RootTaken { root: row.root.clone(), existing });
        }
        let existed: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM repositories WHERE id = ?1)", [row.id.as_str()], |r| r.get(0))?;
        tx.execute(
            "INSERT INTO repositories (id, root, adapter, xtask_manifest, verify_command, default_branch, worktree_root, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, ?7, ?7)
             ON CONFLICT (id) DO UPDATE SET root = excluded.root, adapter = excluded.adapter,
                 xtask_manifest = excluded.xtask_manifest, verify_command = excluded.verify_command,
                 default_branch = excluded.default_branch, worktree_root = excluded.worktree_root,
                 updated_at = excluded.updated_at",
            params![
                row.id.as_str(),
                row.root,
                row.adapter.as_str(),
                row.xtask_manifest,
                row.verify_command,
                row.default_branch.as_str(),
                now,
                row.worktree_root
            ],
        )?;
        if set_active {
            set_active_in(&tx, &row.id)?;
        }
        tx.commit()?;
        Ok(if existed { Upserted::Updated } else { Upserted::Created })
    }

    /// Every repository ordered by id, and the active one.
    pub fn repositories(&self) -> Result<RepositoryList, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, root, adapter, xtask_manifest, verify_command, default_branch, created_at, updated_at, worktree_root
             FROM repositories ORDER BY id",
        )?;
        let repositories = stmt.query_map([], read_repo)?.collect::<Result<Vec<_>, _>>()?;
        let active = self
            .conn
            .query_row("SELECT repo_id FROM active_repository", [], |r| r.get::<_, String>(0))
            .optional()?
            .map(|id| RepoId::new(id).map_err(|e| conversion_error(0, e)))
            .transpose()?;
        Ok(RepositoryList { active, repositories })
    }

    /// Removes a repository; if it was active, no repository is active afterwards.
    pub fn remove_repo(&mut self, id: &RepoId) -> Result<(), StoreError> {
        let removed = self.conn.execute("DELETE FROM repositories WHERE id = ?1", [id.as_str()])?;
        if removed == 0 {
            return Err(StoreError::UnknownRepo(id.to_string()));
        }
        Ok(())
    }

    /// Makes `id` the active repository.
    pub fn set_active_repo(&mut self, id: &RepoId) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        set_active_in(&tx, id)?;
        tx.commit()?;
        Ok(())
    }
}

fn set_active_in(tx: &rusqlite::Transaction<'_>, id: &RepoId) -> Result<(), StoreError> {
    let exists: bool =
        tx.query_row("SELECT EXISTS (SELECT 1 FROM repositories WHERE id = ?1)", [id.as_str()], |r| r.get(0))?;
    if !exists {
        return Err(StoreError::UnknownRepo(id.to_string()));
    }
    tx.execute(
        "INSERT INTO active_repository (singleton, repo_id) VALUES (1, ?1)
         ON CONFLICT (singleton) DO UPDATE SET repo_id = excluded.repo_id",
        [id.as_str()],
    )?;
    Ok(())
}

fn read_repo(row: &rusqlite::Row<'_>) -> rusqlite::Result<Repository> {
    let adapter: String = row.get(2)?;
    let branch: String = row.get(5)?;
    Ok(Repository {
        id: RepoId::new(row.get::<_, String>(0)?).map_err(|e| conversion_error(0, e))?,
        root: row.get(1)?,
        adapter: adapter.parse().map_err(|e| conversion_error(2, e))?,
        xtask_manifest: row.get(3)?,
        verify_command: row.get(4)?,
        default_branch: BranchName::new(branch).map_err(|e| conversion_error(5, e))?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        worktree_root: row.get(8)?,
    })
}
