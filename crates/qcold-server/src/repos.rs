//! Registering repositories: path checks, adapter defaults and the active repository.

use std::path::{Path, PathBuf};

use qcold_core::repo::{AdapterOptionError, check_adapter_options};
use qcold_core::{AdapterKind, BranchName, RepoId, Repository};

use crate::git::{self, GitError};
use crate::store::{RepoRow, Store, StoreError};

pub use crate::store::Upserted;

/// What `qcold repo add` asks for, before any checks.
#[derive(Debug, Clone)]
pub struct AddRepo {
    /// The id.
    pub id: RepoId,
    /// The primary checkout, as given (may be relative).
    pub root: PathBuf,
    /// The adapter; `None` picks `xtask-process` when `xtask/Cargo.toml` exists, else `command`.
    pub adapter: Option<AdapterKind>,
    /// The xtask manifest, as given.
    pub xtask_manifest: Option<PathBuf>,
    /// The verify command line.
    pub verify_command: Option<String>,
    /// The default branch; `None` takes the branch checked out in the root.
    pub default_branch: Option<BranchName>,
    /// Where task worktrees go [default: `<root's parent>/WT/<root's name>`].
    pub worktree_root: Option<PathBuf>,
    /// Make it the active repository.
    pub set_active: bool,
}

/// Why a repository cannot be registered or resolved.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The root does not exist or is not a directory.
    #[error("repository root {path} {problem}")]
    BadRoot {
        /// The root as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The root is not the top level of a git work tree.
    #[error("{0} is not a git repository")]
    NotGit(PathBuf),
    /// The root is a subdirectory of a work tree.
    #[error("{path} is inside the git repository {toplevel}; register the top level instead")]
    NotTopLevel {
        /// The root as canonicalised.
        path: PathBuf,
        /// The work tree's top level.
        toplevel: PathBuf,
    },
    /// The xtask manifest does not exist.
    #[error("xtask manifest {0} does not exist or is not a file")]
    BadManifest(PathBuf),
    /// The adapter options do not fit the adapter.
    #[error(transparent)]
    AdapterOptions(#[from] AdapterOptionError),
    /// The worktree root cannot be made absolute.
    #[error("worktree root {0} cannot be resolved")]
    BadWorktreeRoot(PathBuf),
    /// The verify command is blank.
    #[error("--verify-command must not be empty")]
    EmptyVerifyCommand,
    /// No default branch was given and HEAD is detached.
    #[error("cannot infer the default branch of {0}: HEAD is detached; pass --default-branch")]
    DetachedHead(PathBuf),
    /// The named default branch does not exist.
    #[error("branch {branch:?} does not exist in {root}")]
    UnknownBranch {
        /// The branch.
        branch: String,
        /// The repository.
        root: PathBuf,
    },
    /// The branch git reports is not a valid branch name for Q-COLD.
    #[error(transparent)]
    BranchName(#[from] qcold_core::repo::BranchNameError),
    /// No repository is active and none was named.
    #[error("no active repository; pass --repo <id> or run `qcold repo set-active <id>`")]
    NoActive,
    /// A store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A git failure.
    #[error(transparent)]
    Git(#[from] GitError),
}

/// Checks `request`, canonicalises its paths and fills in defaults; touches nothing.
pub fn prepare(request: &AddRepo) -> Result<RepoRow, RepoError> {
    let root = canonical_dir(&request.root)?;
    match git::toplevel(&root)? {
        None => return Err(RepoError::NotGit(root)),
        Some(top) if top != root => return Err(RepoError::NotTopLevel { path: root, toplevel: top }),
        Some(_) => {}
    }
    let default_manifest = root.join("xtask/Cargo.toml");
    let adapter = request.adapter.unwrap_or(if default_manifest.is_file() {
        AdapterKind::XtaskProcess
    } else {
        AdapterKind::Command
    });
    let xtask_manifest = match (&request.xtask_manifest, adapter) {
        (Some(path), _) => Some(canonical_file(path)?),
        (None, AdapterKind::XtaskProcess) if default_manifest.is_file() => Some(canonical_file(&default_manifest)?),
        (None, _) => None,
    };
    let verify_command = match request.verify_command.as_deref().map(str::trim) {
        Some("") => return Err(RepoError::EmptyVerifyCommand),
        other => other.map(str::to_owned),
    };
    check_adapter_options(adapter, xtask_manifest.is_some(), verify_command.is_some())?;
    let default_branch = match &request.default_branch {
        Some(branch) => {
            if git::has_commits(&root)? && !git::branch_exists(&root, branch.as_str())? {
                return Err(RepoError::UnknownBranch { branch: branch.to_string(), root });
            }
            branch.clone()
        }
        None => BranchName::new(git::current_branch(&root)?.ok_or_else(|| RepoError::DetachedHead(root.clone()))?)?,
    };
    Ok(RepoRow {
        id: request.id.clone(),
        root: display(&root),
        adapter,
        xtask_manifest: xtask_manifest.as_deref().map(display),
        verify_command,
        default_branch,
        worktree_root: request.worktree_root.as_deref().map(absolute).transpose()?.as_deref().map(display),
    })
}

/// Checks and stores `request`; nothing is stored when any check fails.
pub fn add(store: &mut Store, request: &AddRepo, now: i64) -> Result<(Repository, Upserted), RepoError> {
    let row = prepare(request)?;
    let upserted = store.upsert_repo(&row, request.set_active, now)?;
    let list = store.repositories()?;
    let repo = list
        .repositories
        .into_iter()
        .find(|r| r.id == row.id)
        .ok_or_else(|| StoreError::UnknownRepo(row.id.to_string()))?;
    Ok((repo, upserted))
}

/// The named repository, or the active one when `id` is `None`.
pub fn resolve(store: &Store, id: Option<&RepoId>) -> Result<Repository, RepoError> {
    let list = store.repositories()?;
    let wanted = id.or(list.active.as_ref()).ok_or(RepoError::NoActive)?;
    list.repositories
        .iter()
        .find(|r| &r.id == wanted)
        .cloned()
        .ok_or_else(|| StoreError::UnknownRepo(wanted.to_string()).into())
}

fn canonical_dir(path: &Path) -> Result<PathBuf, RepoError> {
    let canonical =
        path.canonicalize().map_err(|_| RepoError::BadRoot { path: path.to_owned(), problem: "does not exist" })?;
    if !canonical.is_dir() {
        return Err(RepoError::BadRoot { path: path.to_owned(), problem: "is not a directory" });
    }
    Ok(canonical)
}

/// An absolute form of a path that need not exist yet (a worktree root is created on first use).
fn absolute(path: &Path) -> Result<PathBuf, RepoError> {
    std::path::absolute(path).map_err(|_| RepoError::BadWorktreeRoot(path.to_owned()))
}

/// Where the task worktrees of `repo` go.
pub fn worktree_root(repo: &Repository) -> PathBuf {
    if let Some(root) = &repo.worktree_root {
        return PathBuf::from(root);
    }
    let root = Path::new(&repo.root);
    let name = root.file_name().map_or_else(|| "repo".into(), |n| n.to_owned());
    root.parent().unwrap_or(root).join("WT").join(name)
}

fn canonical_file(path: &Path) -> Result<PathBuf, RepoError> {
    match path.canonicalize() {
        Ok(p) if p.is_file() => Ok(p),
        _ => Err(RepoError::BadManifest(path.to_owned())),
    }
}

/// Paths are stored as strings so they travel to the browser; non-UTF-8 bytes are replaced.
fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
