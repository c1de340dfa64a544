//! Queries on the `agent_commands` and `agent_command_readiness` tables.

use qcold_core::CommandName;
use qcold_core::agent::command::{AgentCommand, Readiness, Source};
use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, conversion_error};

impl Store {
    /// Registers a command, replacing one of the same name (and forgetting its readiness).
    pub fn upsert_agent_command(&mut self, command: &AgentCommand, now: i64) -> Result<(), StoreError> {
        let argv = serde_json::to_string(&command.argv).map_err(|e| conversion_error(1, e))?;
        let probe =
            command.probe.as_ref().map(serde_json::to_string).transpose().map_err(|e| conversion_error(3, e))?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO agent_commands (name, argv, stdin, probe, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET argv = excluded.argv, stdin = excluded.stdin, probe = excluded.probe",
            params![command.name.as_str(), argv, command.stdin, probe, now],
        )?;
        tx.execute("DELETE FROM agent_command_readiness WHERE name = ?1", [command.name.as_str()])?;
        tx.commit()?;
        Ok(())
    }

    /// Registered commands, by name.
    pub fn agent_commands(&self) -> Result<Vec<AgentCommand>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT name, argv, stdin, probe FROM agent_commands ORDER BY name")?;
        let rows = stmt.query_map([], |row| {
            let argv: String = row.get(1)?;
            let probe: Option<String> = row.get(3)?;
            Ok(AgentCommand {
                name: CommandName::new(row.get::<_, String>(0)?).map_err(|e| conversion_error(0, e))?,
                argv: serde_json::from_str(&argv).map_err(|e| conversion_error(1, e))?,
                stdin: row.get(2)?,
                probe: probe.map(|p| serde_json::from_str(&p)).transpose().map_err(|e| conversion_error(3, e))?,
                source: Source::Registered,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets a registered command; returns whether it existed.
    pub fn remove_agent_command(&mut self, name: &CommandName) -> Result<bool, StoreError> {
        self.conn.execute("DELETE FROM agent_command_readiness WHERE name = ?1", [name.as_str()])?;
        Ok(self.conn.execute("DELETE FROM agent_commands WHERE name = ?1", [name.as_str()])? > 0)
    }

    /// The cached readiness of a command.
    pub fn readiness(&self, name: &CommandName) -> Result<Option<Readiness>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT ready, reason, checked_at FROM agent_command_readiness WHERE name = ?1",
                [name.as_str()],
                |row| Ok(Readiness { ready: row.get(0)?, reason: row.get(1)?, checked_at: row.get(2)? }),
            )
            .optional()?)
    }

    /// Caches a readiness result.
    pub fn set_readiness(&mut self, name: &CommandName, readiness: &Readiness) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO agent_command_readiness (name, ready, reason, checked_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET ready = excluded.ready, reason = excluded.reason, checked_at = excluded.checked_at",
            params![name.as_str(), readiness.ready, readiness.reason, readiness.checked_at],
        )?;
        Ok(())
    }
}
