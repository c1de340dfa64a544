//! The agent-command routes: list with readiness, add, remove, refresh — `qcold agent command`
//! over HTTP. Probes run on a store connection of their own, never on the shared one.

use axum::Json;
use axum::extract::State;
use qcold_core::CommandName;
use qcold_core::agent::command::{AgentCommand, CommandStatus};
use qcold_core::api::agents::{AddCommandRequest, CommandsSelector};

use super::{ApiError, AppJson, Route};
use crate::agents::commands::{self, CommandsError};
use crate::app::AppState;
use crate::unix_now;

/// The agent-command routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get::<Vec<CommandStatus>, _, _>("/api/agent-commands", "agent commands with their readiness", list),
        Route::post::<AddCommandRequest, AgentCommand, _, _>(
            "/api/agent-commands/add",
            "register or replace an agent command",
            add,
        ),
        Route::post::<CommandsSelector, Vec<AgentCommand>, _, _>(
            "/api/agent-commands/remove",
            "remove registered agent commands",
            remove,
        ),
        Route::post::<CommandsSelector, Vec<CommandStatus>, _, _>(
            "/api/agent-commands/refresh",
            "probe agent commands now (none named: all)",
            refresh,
        ),
    ]
}

/// Answers with the known results at once (probing only commands never probed); expired results
/// are re-probed in the background, so the next look is fresh and nobody waits now.
async fn list(State(state): State<AppState>) -> Result<Json<Vec<CommandStatus>>, ApiError> {
    let statuses =
        state.with_own_store(|_, store| commands::statuses(store, false, unix_now())).await?.map_err(refusal)?;
    if !statuses.stale.is_empty() {
        let stale = statuses.stale.clone();
        let background = state.clone();
        tokio::spawn(async move {
            let outcome = background.with_own_store(move |_, store| commands::refresh(store, &stale, unix_now())).await;
            if let Err(err) = outcome.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
                tracing::warn!("cannot refresh agent command readiness: {err}");
            }
        });
    }
    Ok(Json(statuses.list))
}

async fn add(
    State(state): State<AppState>,
    AppJson(request): AppJson<AddCommandRequest>,
) -> Result<Json<AgentCommand>, ApiError> {
    let added = state.with_store(move |store| commands::add(store, request, unix_now())).await?.map_err(refusal)?;
    Ok(Json(added))
}

async fn remove(
    State(state): State<AppState>,
    AppJson(request): AppJson<CommandsSelector>,
) -> Result<Json<Vec<AgentCommand>>, ApiError> {
    if request.names.is_empty() {
        return Err(ApiError::bad_field("names", "name at least one agent command to remove"));
    }
    let left = state
        .with_store(move |store| {
            // Check every name first, so a refusal removes nothing.
            all_known(&request.names, &store.agent_commands()?)?;
            for name in &request.names {
                commands::remove(store, name)?;
            }
            commands::all(store)
        })
        .await?
        .map_err(refusal)?;
    Ok(Json(left))
}

async fn refresh(
    State(state): State<AppState>,
    AppJson(request): AppJson<CommandsSelector>,
) -> Result<Json<Vec<CommandStatus>>, ApiError> {
    let probed = state
        .with_own_store(move |_, store| {
            let names = if request.names.is_empty() {
                commands::all(store)?.into_iter().map(|c| c.name).collect()
            } else {
                all_known(&request.names, &commands::all(store)?)?;
                request.names
            };
            commands::refresh(store, &names, unix_now())
        })
        .await?
        .map_err(refusal)?;
    Ok(Json(probed))
}

/// Refuses the first of `names` that is not among `known`, so a request naming it changes nothing.
fn all_known(names: &[CommandName], known: &[AgentCommand]) -> Result<(), CommandsError> {
    match names.iter().find(|n| !known.iter().any(|c| &c.name == *n)) {
        Some(unknown) => Err(CommandsError::Unknown(unknown.to_string())),
        None => Ok(()),
    }
}

fn refusal(err: CommandsError) -> ApiError {
    match err {
        CommandsError::Unknown(_) => ApiError::not_found(err.to_string()),
        CommandsError::Argv(_) => ApiError::bad_field("argv", err.to_string()),
        CommandsError::BadProbe(_) => ApiError::bad_field("probe", err.to_string()),
        CommandsError::PresetAndArgv => ApiError::bad_field("preset", err.to_string()),
        CommandsError::StdinAndInteractive => ApiError::bad_field("interactive", err.to_string()),
        CommandsError::Env(_) => ApiError::bad_field("env", err.to_string()),
        CommandsError::NoneReady(_) => ApiError::conflict(err.to_string()),
        CommandsError::Store(_) => ApiError::internal(err),
    }
}
