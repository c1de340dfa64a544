//! The tree of a snapshot: every file of a directory, the files of the repositories nested in
//! it included (git itself would record only a gitlink, whose commit lives nowhere else).

use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};

use crate::git::{self, GitError, Scratch};

/// Where the files come from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Source<'a> {
    /// The repository's common git directory, which receives the objects.
    pub(super) common_dir: &'a Path,
    /// The directory.
    pub(super) dir: &'a Path,
    /// Whether git knows `dir` as a worktree (its index and `HEAD` are used); otherwise it is a
    /// plain directory of files, read with `GIT_DIR`/`GIT_WORK_TREE`.
    pub(super) worktree: bool,
}

/// What building a tree came across besides the files it holds.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// Each nested repository's directory (deeper ones after their parent), for its refs to be
    /// kept too.
    pub(super) nested: Vec<PathBuf>,
    /// What git ignores and the tree therefore leaves out (a directory ignored as a whole is
    /// one entry).
    pub(super) ignored: Vec<PathBuf>,
}

/// Builds the tree of every file under `source.dir` — tracked, modified and untracked; files git
/// ignores are not kept, only listed in `found` — in scratch indexes under `scratch_dir`. Each
/// nested repository's files are grafted in where git would have put a gitlink.
pub(super) fn tree(source: Source<'_>, scratch_dir: &Path, found: &mut Found) -> Result<String, GitError> {
    let _ = std::fs::create_dir_all(scratch_dir);
    let index = scratch_dir.join(index_name(source.dir));
    let scratch =
        Scratch { git_dir: (!source.worktree).then_some(source.common_dir), work_tree: source.dir, index: &index };
    let built = build(&scratch, source, scratch_dir, found);
    let _ = std::fs::remove_file(&index);
    built
}

fn build(scratch: &Scratch<'_>, source: Source<'_>, scratch_dir: &Path, found: &mut Found) -> Result<String, GitError> {
    scratch.reset(source.worktree.then_some("HEAD"))?;
    found.ignored.extend(scratch.ignored()?.into_iter().map(|path| source.dir.join(path)));
    let untracked = scratch.untracked_repositories()?;
    scratch.add_all(&untracked)?;
    // Tracked gitlinks (submodules) whose repository is present hold work as well.
    let tracked = scratch.gitlinks()?.into_iter().filter(|path| git::is_repository(&source.dir.join(path)));
    let inner: Vec<String> = untracked.iter().cloned().chain(tracked).collect();
    for path in inner {
        let dir = source.dir.join(&path);
        found.nested.push(dir.clone());
        let subtree = tree(Source { common_dir: source.common_dir, dir: &dir, worktree: false }, scratch_dir, found)?;
        scratch.graft(&path, &subtree)?;
    }
    scratch.write_tree()
}

/// A scratch index name of its own for each directory and process, so nested builds and
/// concurrent snapshots never share one.
fn index_name(dir: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut hasher);
    std::thread::current().id().hash(&mut hasher);
    format!("snapshot-index-{}-{:016x}", std::process::id(), hasher.finish())
}
