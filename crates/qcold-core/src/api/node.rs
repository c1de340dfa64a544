//! Bodies of the node routes (`/api/node/*`) beyond the snapshot itself.

use serde::{Deserialize, Serialize};

use crate::queue::admission::HostSample;

/// `GET /api/node/history`: host samples of the last hour, oldest first, for charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NodeHistory {
    /// How far back the samples go, in seconds.
    pub window_secs: i64,
    /// The samples: the node sampler's, and the queue's admission evaluations (which also record
    /// what the queue had reserved at the time).
    pub samples: Vec<HostSample>,
}
