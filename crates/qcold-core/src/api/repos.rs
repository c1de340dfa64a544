//! Bodies of the repository routes (`/api/repos*`): what `qcold repo add|remove|set-active` does.

use serde::{Deserialize, Serialize};

use crate::{AdapterKind, BranchName, RepoId, Repository};

/// `POST /api/repos/add`: register (or update) a repository whose primary checkout is `root`
/// on the daemon's machine. Fields mean what `qcold repo add`'s options mean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AddRepoRequest {
    /// The id.
    pub id: RepoId,
    /// The primary checkout: the top level of a git work tree, an absolute path.
    pub root: String,
    /// The adapter; omitted picks `xtask-process` when `xtask/Cargo.toml` exists, else `command`.
    #[serde(default)]
    pub adapter: Option<AdapterKind>,
    /// The xtask manifest (`xtask-process` only).
    #[serde(default)]
    pub xtask_manifest: Option<String>,
    /// The verify command line (`command` only).
    #[serde(default)]
    pub verify_command: Option<String>,
    /// The default branch; omitted takes the branch checked out in the root.
    #[serde(default)]
    pub default_branch: Option<BranchName>,
    /// Where task worktrees go; omitted is `<root's parent>/WT/<root's name>`.
    #[serde(default)]
    pub worktree_root: Option<String>,
    /// Make it the active repository.
    #[serde(default)]
    pub set_active: bool,
}

/// The answer to `POST /api/repos/add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AddRepoAnswer {
    /// The repository as stored.
    pub repository: Repository,
    /// Whether it was new (`false`: an existing registration was updated).
    pub created: bool,
}

/// `POST /api/repos/remove` and `POST /api/repos/set-active`: the repository concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RepoSelector {
    /// The repository.
    pub id: RepoId,
}
