//! The agent routes: list, start, stop, label, tail and type into managed agents — `qcold agent`
//! over HTTP. Work that runs tmux or signals processes uses a store connection of its own.

use std::path::PathBuf;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::post;
use qcold_core::agent::{AgentRecord, SelectError};
use qcold_core::api::agents::{
    LabelRequest, SendRequest, StartAgentRequest, StopAgentRequest, StopAnswer, TailAnswer, TailQuery,
};

use super::{Answer, ApiError, AppJson, AppQuery, Route};
use crate::agents::tmux::TmuxError;
use crate::agents::{self, AgentError, AgentView, Input, StartRequest};
use crate::app::AppState;
use crate::unix_now;

/// The agent routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get::<Vec<AgentView>, _, _>("/api/agents", "managed agents with their state", list),
        Route::post::<StartAgentRequest, AgentRecord, _, _>(
            "/api/agents/start",
            "start a command as a managed agent",
            start,
        ),
        Route::with(
            Method::POST,
            "/api/agents/{id}/stop",
            "end an agent's whole process tree and terminal",
            post(stop),
        )
        .taking::<StopAgentRequest>()
        .answering(Answer::Json(|g| g.subschema_for::<StopAnswer>())),
        Route::post::<LabelRequest, AgentRecord, _, _>(
            "/api/agents/{id}/label",
            "set an agent's name and scope",
            label,
        ),
        Route::get::<TailAnswer, _, _>(
            "/api/agents/{id}/tail",
            "the last lines of an agent's terminal or log, ANSI kept",
            tail,
        )
        .with_query::<TailQuery>(),
        Route::with(
            Method::POST,
            "/api/agents/{id}/send",
            "paste, type or press a key in an agent's terminal",
            post(send),
        )
        .taking::<SendRequest>(),
    ]
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<AgentView>>, ApiError> {
    Ok(Json(state.with_store(|store| agents::list(store)).await?.map_err(refusal)?))
}

async fn start(
    State(state): State<AppState>,
    AppJson(request): AppJson<StartAgentRequest>,
) -> Result<Json<AgentRecord>, ApiError> {
    let cwd = PathBuf::from(&request.cwd);
    if !cwd.is_absolute() {
        return Err(ApiError::bad_field("cwd", format!("cwd must be an absolute path, got {:?}", request.cwd)));
    }
    let request = StartRequest {
        track: request.track,
        id: request.id,
        name: request.name,
        cwd,
        terminal: request.terminal,
        env: Vec::new(),
        stdin: None,
        argv: request.argv,
        arg_files: Vec::new(),
        log: None,
        render: Default::default(),
    };
    let qcold = std::env::current_exe().map_err(ApiError::internal)?;
    let record = state
        .with_own_store(move |config, store| agents::start(config, store, &qcold, &request, unix_now()))
        .await?
        .map_err(refusal)?;
    Ok(Json(record))
}

async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(StopAgentRequest {}): AppJson<StopAgentRequest>,
) -> Result<Json<StopAnswer>, ApiError> {
    let (agent, ended) = state
        .with_own_store(move |config, store| agents::stop(config, store, &id, unix_now()))
        .await?
        .map_err(refusal)?;
    Ok(Json(StopAnswer { agent, ended }))
}

async fn label(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(request): AppJson<LabelRequest>,
) -> Result<Json<AgentRecord>, ApiError> {
    let record = state
        .with_store(move |store| agents::label(store, &id, request.name.as_deref(), request.scope.as_deref()))
        .await?
        .map_err(refusal)?;
    Ok(Json(record))
}

async fn tail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppQuery(query): AppQuery<TailQuery>,
) -> Result<Json<TailAnswer>, ApiError> {
    let lines = query.lines().map_err(|message| ApiError::bad_field("lines", message))?;
    let text = state
        .with_own_store(move |config, store| {
            agents::find(store, &id).and_then(|agent| agents::tail(config, &agent, lines))
        })
        .await?
        .map_err(refusal)?;
    Ok(Json(TailAnswer { text }))
}

async fn send(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(request): AppJson<SendRequest>,
) -> Result<StatusCode, ApiError> {
    let input = match request {
        SendRequest::Paste { text } => Input::Submit(text),
        SendRequest::Literal { text } => Input::Literal(text),
        SendRequest::Key { key } => Input::Key(key),
    };
    state
        .with_own_store(move |config, store| {
            agents::find(store, &id).and_then(|agent| agents::send(config, &agent, &input))
        })
        .await?
        .map_err(refusal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Maps an agent failure: an unknown agent is 404, a state that does not allow the command 409,
/// the operator's input 400, breakage 500.
fn refusal(err: AgentError) -> ApiError {
    match err {
        AgentError::Select(SelectError::Unknown { .. }) => ApiError::not_found(err.to_string()),
        AgentError::IdTaken(_)
        | AgentError::NoTerminal(_)
        | AgentError::TerminalGone(_)
        | AgentError::NotReading { .. } => ApiError::conflict(err.to_string()),
        AgentError::EmptyCommand | AgentError::NotFound(_) | AgentError::TooLong { .. } => {
            ApiError::bad_field("argv", err.to_string())
        }
        AgentError::BadTrack(_) => ApiError::bad_field("track", err.to_string()),
        AgentError::BadCwd(_) => ApiError::bad_field("cwd", err.to_string()),
        AgentError::EmptyText => ApiError::bad_field("text", err.to_string()),
        AgentError::Select(_) | AgentError::Tmux(TmuxError::Missing) => ApiError::bad_request(err.to_string()),
        AgentError::Survivors { .. } | AgentError::Tmux(_) | AgentError::Store(_) | AgentError::Io { .. } => {
            ApiError::internal(err)
        }
    }
}
