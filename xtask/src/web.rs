//! Builds the dashboard with trunk, offline, into `crates/qcold-web/dist`, and stores a gzip copy
//! of each asset beside it (`NAME.gz`, made with zopfli, ≈5 % smaller than gzip -9) for the daemon
//! to send to browsers that accept gzip.

use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use crate::process;
use crate::setup::WebTools;

/// Runs `trunk build --release` with our `wasm-opt` first on PATH.
pub(crate) fn build(tools: &WebTools) -> anyhow::Result<()> {
    crate::step("web: trunk build --release (offline)");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![tools.binaryen_bin.clone()];
    dirs.extend(std::env::split_paths(&path));
    let web = crate::root().join("crates/qcold-web");
    process::run(
        Command::new("trunk")
            .args(["build", "--release"])
            .current_dir(&web)
            .env("PATH", std::env::join_paths(dirs)?)
            // trunk reads NO_COLOR as a boolean flag and rejects the common `NO_COLOR=1`.
            .env_remove("NO_COLOR"),
    )?;
    let index = web.join("dist/index.html");
    anyhow::ensure!(index.is_file(), "trunk reported success but {} is missing", index.display());
    precompress(&web.join("dist"))
}

/// Assets smaller than this are sent as they are: gzip would save less than a round of headers.
const MIN_COMPRESSED: u64 = 1024;

/// Writes `NAME.gz` beside every asset of `dist` worth compressing, and checks that each copy
/// decompresses to its asset. trunk empties `dist` on every build, so no copy is ever stale.
fn precompress(dist: &Path) -> anyhow::Result<()> {
    crate::step("web: gzip the assets (zopfli)");
    for entry in std::fs::read_dir(dist)? {
        let path = entry?.path();
        let compressible = ["wasm", "js", "css", "html"].iter().any(|e| path.extension().is_some_and(|x| x == *e));
        if !compressible || std::fs::metadata(&path)?.len() < MIN_COMPRESSED {
            continue;
        }
        let data = std::fs::read(&path)?;
        let mut packed = Vec::new();
        zopfli::compress(zopfli::Options::default(), zopfli::Format::Gzip, &data[..], &mut packed)?;
        let mut unpacked = Vec::with_capacity(data.len());
        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut unpacked)?;
        anyhow::ensure!(unpacked == data, "the gzip copy of {} does not decompress to it", path.display());
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(".gz");
        std::fs::write(path.with_file_name(&name), &packed)?;
        eprintln!("{:>9} -> {:>9} bytes  {}", data.len(), packed.len(), name.to_string_lossy());
    }
    Ok(())
}
