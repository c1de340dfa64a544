//! The inbox's writes: an [`Action`]'s `POST`, sent to the route the action itself names.

use qcold_core::api::tasks::ClearRequest;
use qcold_core::inbox::Action;
use qcold_core::queue::wire::{QueueAnswer, RunSelector};
use qcold_core::task::TaskRecord;

use super::{ApiError, Call};
use crate::token::SessionToken;

/// Performs a write action (`continue-run`, `clear-run`, `clear-task` with `reason`) and returns
/// the daemon's message; `None` for an action that only opens a page.
pub(crate) async fn perform(token: SessionToken, action: &Action, reason: &str) -> Option<Result<String, ApiError>> {
    let route = action.route()?;
    Some(match action {
        Action::ContinueRun { run_id } | Action::ClearRun { run_id } => {
            let body = RunSelector { run_id: Some(run_id.clone()) };
            match Call::post(route, &body) {
                Ok(call) => call.send::<QueueAnswer>(token).await.map(|answer| answer.message),
                Err(err) => Err(err),
            }
        }
        Action::ClearTask { .. } => {
            let body = ClearRequest { reason: reason.to_owned() };
            match Call::post(route, &body) {
                Ok(call) => {
                    call.send::<TaskRecord>(token).await.map(|task| format!("task {} is {}", task.id, task.status))
                }
                Err(err) => Err(err),
            }
        }
        Action::OpenTerminal { .. } | Action::OpenTask { .. } | Action::OpenRun { .. } => return None,
    })
}
