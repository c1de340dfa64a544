//! Queries on the `agent_commands` and `agent_command_readiness` tables.

use qcold_core::CommandName;
use qcold_core::agent::command::{AgentCommand, Readiness, Source};
use qcold_core::agent::preset::Preset;
use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, conversion_error};

impl Store {
    /// Registers a command with the values of its own environment, replacing one of the same
    /// name (and forgetting its readiness).
    pub fn upsert_agent_command(
        &mut self,
        command: &AgentCommand,
        env: &[(String, String)],
        now: i64,
    ) -> Result<(), StoreError> {
        let argv = serde_json::to_string(&command.argv).map_err(|e| conversion_error(1, e))?;
        let probe =
            command.probe.as_ref().map(serde_json::to_string).transpose().map_err(|e| conversion_error(3, e))?;
        let preset = command.preset.map(|p| p.name());
        let env = serde_json::to_string(env).map_err(|e| conversion_error(5, e))?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO agent_commands (name, argv, stdin, probe, created_at, preset, env, interactive)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (name) DO UPDATE SET argv = excluded.argv, stdin = excluded.stdin, probe = excluded.probe,
                 preset = excluded.preset, env = excluded.env, interactive = excluded.interactive",
            params![command.name.as_str(), argv, command.stdin, probe, now, preset, env, command.interactive],
        )?;
        tx.execute("DELETE FROM agent_command_readiness WHERE name = ?1", [command.name.as_str()])?;
        tx.commit()?;
        Ok(())
    }

    /// Registered commands, by name; their `env` names the keys of [`Self::agent_command_env`].
    pub fn agent_commands(&self) -> Result<Vec<AgentCommand>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, argv, stdin, probe, preset, env, interactive FROM agent_commands ORDER BY name")?;
        let rows = stmt.query_map([], |row| {
            let argv: String = row.get(1)?;
            let probe: Option<String> = row.get(3)?;
            let preset: Option<String> = row.get(4)?;
            let env: Vec<(String, String)> =
                serde_json::from_str(&row.get::<_, String>(5)?).map_err(|e| conversion_error(5, e))?;
            let preset = preset.map(|p| p.parse::<Preset>()).transpose().map_err(|e| conversion_error(4, e))?;
            // The preset's variables first, as `Preset::command` names them, then the command's own.
            let mut keys: Vec<String> =
                preset.map(Preset::env).unwrap_or_default().into_iter().map(|(k, _)| k).collect();
            keys.retain(|k| !env.iter().any(|(own, _)| own == k));
            keys.extend(env.into_iter().map(|(k, _)| k));
            Ok(AgentCommand {
                name: CommandName::new(row.get::<_, String>(0)?).map_err(|e| conversion_error(0, e))?,
                argv: serde_json::from_str(&argv).map_err(|e| conversion_error(1, e))?,
                stdin: row.get(2)?,
                interactive: row.get(6)?,
                probe: probe.map(|p| serde_json::from_str(&p)).transpose().map_err(|e| conversion_error(3, e))?,
                source: Source::Registered,
                preset,
                env: keys,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The environment a registered command sets, with values: for the launch and the probe.
    pub fn agent_command_env(&self, name: &CommandName) -> Result<Vec<(String, String)>, StoreError> {
        let env: Option<String> = self
            .conn
            .query_row("SELECT env FROM agent_commands WHERE name = ?1", [name.as_str()], |row| row.get(0))
            .optional()?;
        match env {
            Some(text) => Ok(serde_json::from_str(&text).map_err(|e| conversion_error(0, e))?),
            None => Ok(Vec::new()),
        }
    }

    /// Forgets a registered command; returns whether it existed.
    pub fn remove_agent_command(&mut self, name: &CommandName) -> Result<bool, StoreError> {
        self.conn.execute("DELETE FROM agent_command_readiness WHERE name = ?1", [name.as_str()])?;
        Ok(self.conn.execute("DELETE FROM agent_commands WHERE name = ?1", [name.as_str()])? > 0)
    }

    /// The cached readiness of a command, as probed in an environment marked `probed_in`; one
    /// probed elsewhere is none.
    pub fn readiness(&self, name: &CommandName, probed_in: &str) -> Result<Option<Readiness>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT ready, reason, checked_at FROM agent_command_readiness WHERE name = ?1 AND probed_in = ?2",
                [name.as_str(), probed_in],
                |row| Ok(Readiness { ready: row.get(0)?, reason: row.get(1)?, checked_at: row.get(2)? }),
            )
            .optional()?)
    }

    /// Caches a readiness result probed in the environment marked `probed_in`.
    pub fn set_readiness(
        &mut self,
        name: &CommandName,
        probed_in: &str,
        readiness: &Readiness,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO agent_command_readiness (name, ready, reason, checked_at, probed_in) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO UPDATE SET ready = excluded.ready, reason = excluded.reason,
                 checked_at = excluded.checked_at, probed_in = excluded.probed_in",
            params![name.as_str(), readiness.ready, readiness.reason, readiness.checked_at, probed_in],
        )?;
        Ok(())
    }
}
