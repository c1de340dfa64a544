//! Queries on the `agents` table.

use qcold_core::AgentId;
use qcold_core::agent::{AgentRecord, Terminal};
use rusqlite::{OptionalExtension as _, params};

use super::kept::Kept;
use super::{Store, StoreError, conversion_error};

const COLUMNS: &str = "id, track, name, scope, argv, cwd, pid, pgid, tmux_session, tmux_target, stdout_log, stderr_log, \
    exit_file, started_at, exited_at, exit_code";

impl Store {
    /// Stores a new agent.
    pub fn insert_agent(&mut self, agent: &AgentRecord) -> Result<(), StoreError> {
        let argv = serde_json::to_string(&agent.argv).map_err(|e| conversion_error(4, e))?;
        self.conn.execute(
            &format!("INSERT INTO agents ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"),
            params![
                agent.id.as_str(),
                agent.track,
                agent.name,
                agent.scope,
                argv,
                agent.cwd,
                agent.pid,
                agent.pgid,
                agent.terminal.as_ref().map(|t| t.session.as_str()),
                agent.terminal.as_ref().map(|t| t.target.as_str()),
                agent.stdout_log,
                agent.stderr_log,
                agent.exit_file,
                agent.started_at,
                agent.exited_at,
                agent.exit_code
            ],
        )?;
        Ok(())
    }

    /// Every agent, oldest first.
    ///
    /// Read through the agents this connection keeps ([`Kept`]): only the agents written since its last read
    /// are read again (all of them after one was deleted, or the first time), so the daemon's
    /// reloads do not grow with the agents that ever ran. The reads share one snapshot.
    pub fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        if !self.conn.is_autocommit() {
            // Inside a transaction that may roll back: nothing it reads is kept.
            let mut stmt = self.conn.prepare(&format!("SELECT {COLUMNS} FROM agents ORDER BY started_at, id"))?;
            let rows = stmt.query_map([], read_agent)?;
            return Ok(rows.collect::<Result<_, _>>()?);
        }
        let snapshot = self.conn.unchecked_transaction()?;
        let epoch: i64 =
            self.conn.prepare_cached("SELECT value FROM agents_epoch WHERE id = 1")?.query_row([], |r| r.get(0))?;
        let mut cache = self.agents.borrow_mut();
        let mut kept = cache.take().filter(|kept| kept.epoch == epoch).unwrap_or_else(|| Kept::new(epoch));
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {COLUMNS}, rev FROM agents WHERE rev > ?1"))?;
        let changed = stmt
            .query_map([kept.since()], |r| Ok((read_agent(r)?, r.get::<_, i64>(16)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        kept.merge(changed, |a, b| (a.started_at, a.id.as_str()).cmp(&(b.started_at, b.id.as_str())));
        let agents = kept.rows.clone();
        *cache = Some(kept);
        drop(cache);
        snapshot.commit()?;
        Ok(agents)
    }

    /// One agent.
    pub fn agent(&self, id: &AgentId) -> Result<Option<AgentRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM agents WHERE id = ?1");
        Ok(self.conn.query_row(&sql, [id.as_str()], read_agent).optional()?)
    }

    /// Whether an agent id is taken.
    pub fn agent_exists(&self, id: &AgentId) -> Result<bool, StoreError> {
        Ok(self.conn.query_row("SELECT 1 FROM agents WHERE id = ?1", [id.as_str()], |_| Ok(())).optional()?.is_some())
    }

    /// Records that an agent exited.
    pub fn set_agent_exit(&mut self, id: &AgentId, exited_at: i64, code: Option<i32>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE agents SET exited_at = coalesce(exited_at, ?2), exit_code = coalesce(exit_code, ?3) WHERE id = ?1",
            params![id.as_str(), exited_at, code],
        )?;
        Ok(())
    }

    /// Sets an agent's name and scope labels; `None` clears one.
    pub fn set_agent_labels(
        &mut self,
        id: &AgentId,
        name: Option<&str>,
        scope: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE agents SET name = ?2, scope = ?3 WHERE id = ?1", params![id.as_str(), name, scope])?;
        Ok(())
    }

    /// Forgets an agent.
    pub fn delete_agent(&mut self, id: &AgentId) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM agents WHERE id = ?1", [id.as_str()])?;
        Ok(())
    }
}

fn read_agent(row: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRecord> {
    let argv: String = row.get(4)?;
    let session: Option<String> = row.get(8)?;
    let target: Option<String> = row.get(9)?;
    Ok(AgentRecord {
        id: AgentId::new(row.get::<_, String>(0)?).map_err(|e| conversion_error(0, e))?,
        track: row.get(1)?,
        name: row.get(2)?,
        scope: row.get(3)?,
        argv: serde_json::from_str(&argv).map_err(|e| conversion_error(4, e))?,
        cwd: row.get(5)?,
        pid: row.get(6)?,
        pgid: row.get(7)?,
        terminal: session.zip(target).map(|(session, target)| Terminal { session, target }),
        stdout_log: row.get(10)?,
        stderr_log: row.get(11)?,
        exit_file: row.get(12)?,
        started_at: row.get(13)?,
        exited_at: row.get(14)?,
        exit_code: row.get(15)?,
    })
}
