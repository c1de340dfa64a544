//! [`Scratch`]: git run against a throw-away index, so a directory's full state can become a tree
//! object without touching any real index — also for a directory git no longer knows as a
//! worktree, and for a repository nested inside one.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{GitError, run, run_env};

/// A work tree of files, a scratch index for it and the repository whose object store receives
/// what is built.
#[derive(Debug, Clone, Copy)]
pub struct Scratch<'a> {
    /// The repository's git directory, when `work_tree` is not (or no longer) one of its
    /// worktrees: git then runs with `GIT_DIR` and `GIT_WORK_TREE`. `None` runs git in
    /// `work_tree` as it is.
    pub git_dir: Option<&'a Path>,
    /// The files.
    pub work_tree: &'a Path,
    /// The index file to use; it is replaced, never read first.
    pub index: &'a Path,
}

impl Scratch<'_> {
    fn run(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        let mut envs: Vec<(&str, &OsStr)> = vec![("GIT_INDEX_FILE", self.index.as_os_str())];
        if let Some(git_dir) = self.git_dir {
            envs.push(("GIT_DIR", git_dir.as_os_str()));
            envs.push(("GIT_WORK_TREE", self.work_tree.as_os_str()));
        }
        run_env(self.work_tree, args, &envs)
    }

    /// Starts the index afresh: empty, or holding `tree` (e.g. `HEAD`).
    pub fn reset(&self, tree: Option<&str>) -> Result<(), GitError> {
        let _ = std::fs::remove_file(self.index);
        match tree {
            Some(tree) => self.run(&["read-tree", tree]).map(drop),
            None => self.run(&["read-tree", "--empty"]).map(drop),
        }
    }

    /// The repositories nested in the work tree that the index does not track: git lists each
    /// as one `path/` entry (it never descends into them), ignored ones left out.
    pub fn untracked_repositories(&self) -> Result<Vec<String>, GitError> {
        let out = self.run(&["ls-files", "--others", "--exclude-standard", "-z"])?;
        Ok(out
            .split(|b| *b == 0)
            .filter_map(|entry| entry.strip_suffix(b"/"))
            .map(|path| String::from_utf8_lossy(path).into_owned())
            .collect())
    }

    /// The files and directories of the work tree that git ignores (a directory ignored as a
    /// whole is one `path/` entry): what a tree built here leaves out.
    pub fn ignored(&self) -> Result<Vec<String>, GitError> {
        let out = self.run(&["ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z"])?;
        Ok(out.split(|b| *b == 0).filter(|e| !e.is_empty()).map(|e| String::from_utf8_lossy(e).into_owned()).collect())
    }

    /// Stages every file of the work tree — tracked, modified, untracked; ignored ones and
    /// `.git` entries excepted — leaving out the paths in `skip`.
    pub fn add_all(&self, skip: &[String]) -> Result<(), GitError> {
        let excludes: Vec<String> = skip.iter().map(|path| format!(":(exclude,literal){path}")).collect();
        let mut args = vec!["-c", "advice.addEmbeddedRepo=false", "add", "--all", "--", "."];
        args.extend(excludes.iter().map(String::as_str));
        self.run(&args).map(drop)
    }

    /// The paths of the index's gitlinks (submodules and other nested repositories).
    pub fn gitlinks(&self) -> Result<Vec<String>, GitError> {
        let out = self.run(&["ls-files", "--stage", "-z"])?;
        Ok(out
            .split(|b| *b == 0)
            .filter(|entry| entry.starts_with(b"160000 "))
            .filter_map(|entry| entry.splitn(2, |b| *b == b'\t').nth(1))
            .map(|path| String::from_utf8_lossy(path).into_owned())
            .collect())
    }

    /// Puts `tree`'s files under `prefix/` in place of whatever the index holds there.
    pub fn graft(&self, prefix: &str, tree: &str) -> Result<(), GitError> {
        self.run(&["update-index", "--force-remove", "--", prefix])?;
        self.run(&["read-tree", &format!("--prefix={prefix}/"), tree]).map(drop)
    }

    /// Writes the index as a tree object and deletes the index file; returns the tree id.
    pub fn write_tree(&self) -> Result<String, GitError> {
        let out = self.run(&["write-tree"]);
        let _ = std::fs::remove_file(self.index);
        Ok(String::from_utf8_lossy(&out?).trim().to_owned())
    }
}

/// The absolute git directory shared by the repository at `root` and all its worktrees (where
/// objects and refs live).
pub fn common_dir(root: &Path) -> Result<PathBuf, GitError> {
    let out = run(root, &["rev-parse", "--path-format=absolute", "--git-common-dir"])?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out).trim()))
}

/// Whether `dir` holds a `.git` of its own (directory or file): the top of a repository.
pub fn is_repository(dir: &Path) -> bool {
    dir.join(".git").exists()
}

/// Copies every ref of the repository at `source`, and its `HEAD` when that names a commit,
/// into the repository at `root` under `prefix/` (`prefix/heads/main`, `prefix/HEAD`, …), with
/// the objects they need.
pub fn fetch_refs(root: &Path, source: &Path, prefix: &str) -> Result<(), GitError> {
    let source_text = source.to_string_lossy();
    let mut specs = vec![format!("+refs/*:{prefix}/*")];
    if run(source, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).is_ok() {
        specs.push(format!("+HEAD:{prefix}/HEAD"));
    }
    let mut args = vec!["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", source_text.as_ref()];
    args.extend(specs.iter().map(String::as_str));
    run(root, &args).map(drop)
}

/// Creates a commit of `tree` with `parents` (none for a root commit), authored by Q-COLD (see
/// [`super::commit_tree`]).
pub fn commit_tree_with(root: &Path, tree: &str, parents: &[&str], message: &str) -> Result<String, GitError> {
    let name = OsStr::new("Q-COLD");
    let email = OsStr::new("qcold@localhost");
    let envs = [
        ("GIT_AUTHOR_NAME", name),
        ("GIT_AUTHOR_EMAIL", email),
        ("GIT_COMMITTER_NAME", name),
        ("GIT_COMMITTER_EMAIL", email),
    ];
    let mut args = vec!["commit-tree", tree, "-m", message];
    for parent in parents {
        args.extend(["-p", parent]);
    }
    let out = run_env(root, &args, &envs)?;
    Ok(String::from_utf8_lossy(&out).trim().to_owned())
}
