//! The `qcold status` report: the active repository and the state of its primary checkout.

use std::path::Path;

use qcold_core::api::StatusReport;

use crate::git;
use crate::repos::RepoError;
use crate::store::Store;

/// Builds the report; with no active repository it says so instead of failing.
pub fn report(store: &Store) -> Result<StatusReport, RepoError> {
    let list = store.repositories()?;
    let Some(repository) = list.active_repository().cloned() else {
        return Ok(StatusReport { repository: None, branch: None, dirty_files: Vec::new() });
    };
    let root = Path::new(&repository.root);
    if !root.is_dir() {
        return Err(RepoError::BadRoot { path: root.to_owned(), problem: "no longer exists" });
    }
    let branch = git::current_branch(root)?;
    let dirty_files = git::dirty_files(root)?;
    Ok(StatusReport { repository: Some(repository), branch, dirty_files })
}
