//! The agents page's calls: agent commands with their readiness, and starting and stopping agents.

use qcold_core::CommandName;
use qcold_core::agent::AgentRecord;
use qcold_core::agent::command::CommandStatus;
use qcold_core::api::agents::{CommandsSelector, StartAgentRequest, StopAgentRequest, StopAnswer};

use super::{ApiError, Call};
use crate::token::SessionToken;

/// `GET /api/agent-commands`: every command with its last readiness.
pub(crate) async fn commands(token: SessionToken) -> Result<Vec<CommandStatus>, ApiError> {
    Call::get("/api/agent-commands").send(token).await
}

/// `POST /api/agent-commands/refresh`: probes `names` again (none: all) and returns them.
pub(crate) async fn refresh(token: SessionToken, names: Vec<CommandName>) -> Result<Vec<CommandStatus>, ApiError> {
    Call::post("/api/agent-commands/refresh", &CommandsSelector { names })?.send(token).await
}

/// `POST /api/agents/start`.
pub(crate) async fn start(token: SessionToken, request: &StartAgentRequest) -> Result<AgentRecord, ApiError> {
    Call::post("/api/agents/start", request)?.send(token).await
}

/// `POST /api/agents/{id}/stop`.
pub(crate) async fn stop(token: SessionToken, id: &str) -> Result<StopAnswer, ApiError> {
    Call::post(format!("/api/agents/{id}/stop"), &StopAgentRequest {})?.send(token).await
}
