//! The node page's call: the last hour of host samples, for its charts.

use qcold_core::api::node::NodeHistory;

use super::{ApiError, Call};
use crate::token::SessionToken;

/// `GET /api/node/history`: host samples of the last hour, oldest first.
pub(crate) async fn history(token: SessionToken) -> Result<NodeHistory, ApiError> {
    Call::get("/api/node/history").send(token).await
}
