//! The queue page's calls: every `POST /api/queue/*` write, and an attempt's agent log tail.

use qcold_core::api::agents::TailAnswer;
use qcold_core::queue::wire::{
    AppendRequest, QueueAnswer, RemoveRequest, RunRequest, RunSelector, StopRequest, TabCreate, TabSelector,
    UpdateRequest,
};

use super::{ApiError, Call};
use crate::token::SessionToken;

/// `POST /api/queue/run`: a new run from a package.
pub(crate) async fn run(token: SessionToken, request: &RunRequest) -> Result<QueueAnswer, ApiError> {
    Call::post("/api/queue/run", request)?.send(token).await
}

/// `POST /api/queue/append`: more items for a run.
pub(crate) async fn append(token: SessionToken, request: &AppendRequest) -> Result<QueueAnswer, ApiError> {
    Call::post("/api/queue/append", request)?.send(token).await
}

/// `POST /api/queue/update`: a pending item's prompt, class or agent.
pub(crate) async fn update(token: SessionToken, request: &UpdateRequest) -> Result<QueueAnswer, ApiError> {
    Call::post("/api/queue/update", request)?.send(token).await
}

/// `POST /api/queue/remove`: an item that never started, or has ended.
pub(crate) async fn remove(token: SessionToken, request: &RemoveRequest) -> Result<QueueAnswer, ApiError> {
    Call::post("/api/queue/remove", request)?.send(token).await
}

/// `POST /api/queue/stop`.
pub(crate) async fn stop(token: SessionToken, request: &StopRequest) -> Result<QueueAnswer, ApiError> {
    Call::post("/api/queue/stop", request)?.send(token).await
}

/// `POST /api/queue/continue`.
pub(crate) async fn resume(token: SessionToken, request: &RunSelector) -> Result<QueueAnswer, ApiError> {
    Call::post("/api/queue/continue", request)?.send(token).await
}

/// `POST /api/queue/clear`.
pub(crate) async fn clear(token: SessionToken, request: &RunSelector) -> Result<QueueAnswer, ApiError> {
    Call::post("/api/queue/clear", request)?.send(token).await
}

/// `POST /api/queue/tab/create`: a new queue tab.
pub(crate) async fn create_tab(token: SessionToken, request: &TabCreate) -> Result<QueueAnswer, ApiError> {
    Call::post("/api/queue/tab/create", request)?.send(token).await
}

/// `POST /api/queue/tab/switch`: makes a tab the active one.
pub(crate) async fn switch_tab(token: SessionToken, request: &TabSelector) -> Result<QueueAnswer, ApiError> {
    Call::post("/api/queue/tab/switch", request)?.send(token).await
}

/// `POST /api/queue/tab/delete`.
pub(crate) async fn delete_tab(token: SessionToken, request: &TabSelector) -> Result<QueueAnswer, ApiError> {
    Call::post("/api/queue/tab/delete", request)?.send(token).await
}

/// `GET /api/agents/{id}/tail?lines=N`: the end of an agent's output log (ANSI kept).
pub(crate) async fn agent_tail(token: SessionToken, agent: &str, lines: u32) -> Result<TailAnswer, ApiError> {
    Call::get(format!("/api/agents/{agent}/tail?lines={lines}")).send(token).await
}
