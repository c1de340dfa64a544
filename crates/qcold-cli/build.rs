//! Embeds the build id, `<package version>.<git commit count> <12-hex hash>[-dirty]`, as
//! `QCOLD_BUILD_ID`. Outside a git checkout the count is 0 and the hash `unknown`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let count = git(&["rev-list", "--count", "HEAD"]).unwrap_or_else(|| "0".to_owned());
    let hash = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    // Tracked changes only: untracked scratch files do not make a build "dirty".
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let suffix = if dirty { "-dirty" } else { "" };
    println!("cargo::rustc-env=QCOLD_BUILD_ID={version}.{count} {hash}{suffix}");

    // Re-run when HEAD moves, the index changes or a source file is edited, so the id stays true.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for name in ["HEAD", "index", "refs", "packed-refs"] {
            println!("cargo::rerun-if-changed={}", Path::new(&git_dir).join(name).display());
        }
    }
    for dir in
        ["../qcold-core", "../qcold-server", "../qcold-web/src", "../qcold-cli/src", "../../xtask", "../../tests"]
    {
        println!("cargo::rerun-if-changed={dir}");
    }
}
