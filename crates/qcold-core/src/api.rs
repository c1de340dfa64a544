//! Request and response bodies of the daemon's HTTP API, and of the CLI's `--json` output.
//!
//! Routes (see `docs/http-api.md`):
//!
//! | route | body |
//! |---|---|
//! | `GET /healthz` | `ok\n` (text) |
//! | `GET /api/state` | [`StateResponse`] |
//! | `GET /api/node/snapshot` | [`crate::NodeSnapshot`] |
//! | `GET /api/events` | server-sent [`crate::Event`]s |
//! | `GET/POST /api/tasks…` | the tasks resource ([`tasks`]) |
//!
//! Every error response carries an [`ErrorBody`].

pub mod tasks;

use serde::{Deserialize, Serialize};

use crate::queue::wire::QueueView;
use crate::{Event, NodeSnapshot, Repository, RepositoryList};

/// Everything the dashboard needs to render its first frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateResponse {
    /// The daemon's build id, `<version>.<commits> <hash>[-dirty]`; a change means "reload".
    pub build_id: String,
    /// When this state was assembled, Unix seconds.
    pub generated_at: i64,
    /// Registered repositories.
    pub repositories: RepositoryList,
    /// The latest node snapshot.
    pub node: NodeSnapshot,
    /// The queue: tabs, runs and items.
    #[serde(default)]
    pub queue: QueueView,
}

impl StateResponse {
    /// Applies a pushed event, so a client holding the state stays current without refetching.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::State(state) => *self = *state,
            Event::Repositories(list) => self.repositories = list,
            Event::Queue(queue) => self.queue = *queue,
            Event::Node(node) => {
                self.generated_at = self.generated_at.max(node.heartbeat.sampled_at);
                self.node = *node;
            }
        }
    }
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, lowercase, without a trailing period.
    pub error: String,
}

/// One changed path of a checkout, as `git status --porcelain` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirtyFile {
    /// The two-letter porcelain code, e.g. ` M`, `??`, `A `.
    pub code: String,
    /// The path relative to the checkout root.
    pub path: String,
}

/// The body of `qcold status --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The active repository, if one is set.
    pub repository: Option<Repository>,
    /// The primary checkout's current branch; `None` on a detached HEAD.
    #[serde(default)]
    pub branch: Option<String>,
    /// Uncommitted changes of the primary checkout.
    #[serde(default)]
    pub dirty_files: Vec<DirtyFile>,
}
