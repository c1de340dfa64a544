//! Points the embedded dashboard at `crates/qcold-web/dist` when trunk has built it, and at an
//! empty directory otherwise, so the daemon always compiles and says how to build the assets.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dist = manifest_dir.join("../qcold-web/dist");
    println!("cargo::rerun-if-changed={}", dist.display());
    let folder = if dist.join("index.html").is_file() {
        dist.canonicalize().expect("dist exists")
    } else {
        let empty = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("no-dashboard");
        std::fs::create_dir_all(&empty).expect("create an empty asset dir");
        empty
    };
    println!("cargo::rustc-env=QCOLD_WEB_DIST={}", folder.display());
}
