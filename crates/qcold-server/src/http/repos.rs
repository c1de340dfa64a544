//! The repository routes: list, add, remove, set the active one — `qcold repo` over HTTP.

use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use qcold_core::RepositoryList;
use qcold_core::api::repos::{AddRepoAnswer, AddRepoRequest, RepoSelector};

use super::{ApiError, AppJson, Route};
use crate::app::AppState;
use crate::repos::{self, AddRepo, RepoError, Upserted};
use crate::store::StoreError;
use crate::unix_now;

/// The repository routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get::<RepositoryList, _, _>("/api/repos", "registered repositories and the active one", list),
        Route::post::<AddRepoRequest, AddRepoAnswer, _, _>("/api/repos/add", "register or update a repository", add),
        Route::post::<RepoSelector, RepositoryList, _, _>(
            "/api/repos/remove",
            "forget a repository (its files are untouched)",
            remove,
        ),
        Route::post::<RepoSelector, RepositoryList, _, _>(
            "/api/repos/set-active",
            "make a repository the active one",
            set_active,
        ),
    ]
}

async fn list(State(state): State<AppState>) -> Json<RepositoryList> {
    Json(state.repositories())
}

async fn add(
    State(state): State<AppState>,
    AppJson(request): AppJson<AddRepoRequest>,
) -> Result<Json<AddRepoAnswer>, ApiError> {
    let request = AddRepo {
        id: request.id,
        root: PathBuf::from(request.root),
        adapter: request.adapter,
        xtask_manifest: request.xtask_manifest.map(PathBuf::from),
        verify_command: request.verify_command,
        default_branch: request.default_branch,
        worktree_root: request.worktree_root.map(PathBuf::from),
        set_active: request.set_active,
    };
    // Registration runs git on the root; it uses a connection of its own.
    let (repository, upserted) =
        state.with_own_store(move |_, store| repos::add(store, &request, unix_now())).await?.map_err(refusal)?;
    state.publisher().reload_repositories().await?;
    Ok(Json(AddRepoAnswer { repository, created: upserted == Upserted::Created }))
}

async fn remove(
    State(state): State<AppState>,
    AppJson(request): AppJson<RepoSelector>,
) -> Result<Json<RepositoryList>, ApiError> {
    state.with_store(move |store| store.remove_repo(&request.id)).await?.map_err(|e| refusal(e.into()))?;
    state.publisher().reload_repositories().await?;
    Ok(Json(state.repositories()))
}

async fn set_active(
    State(state): State<AppState>,
    AppJson(request): AppJson<RepoSelector>,
) -> Result<Json<RepositoryList>, ApiError> {
    state.with_store(move |store| store.set_active_repo(&request.id)).await?.map_err(|e| refusal(e.into()))?;
    state.publisher().reload_repositories().await?;
    Ok(Json(state.repositories()))
}

/// Maps a registration failure: unknown ids are 404, a root registered under another id 409,
/// store and git breakage 500, everything else the operator's input (400).
pub(super) fn refusal(err: RepoError) -> ApiError {
    match err {
        RepoError::Store(StoreError::UnknownRepo(_)) => ApiError::not_found(err.to_string()),
        RepoError::Store(StoreError::RootTaken { .. }) => ApiError::conflict(err.to_string()),
        RepoError::Store(_) | RepoError::Git(_) => ApiError::internal(err),
        RepoError::NoActive => ApiError::bad_field("repo", err.to_string()),
        _ => ApiError::bad_request(err.to_string()),
    }
}
