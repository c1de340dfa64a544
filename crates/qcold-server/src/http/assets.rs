//! The dashboard's static files, embedded in the binary at build time.
//!
//! `build.rs` points the embed at `crates/qcold-web/dist` when trunk has built it; otherwise the
//! embed is empty and every page is [`missing_dashboard`], which says how to build it.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$QCOLD_WEB_DIST"]
struct Dist;

/// Serves `uri` from the embedded files; paths without a file extension get `index.html`, so
/// client-side routes survive a reload.
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some(file) = Dist::get(path) {
        return file_response(path, file);
    }
    let looks_like_file = path.rsplit('/').next().is_some_and(|name| name.contains('.'));
    match Dist::get("index.html") {
        Some(index) if !looks_like_file => file_response("index.html", index),
        Some(_) => (StatusCode::NOT_FOUND, format!("no file {path}\n")).into_response(),
        None => missing_dashboard(),
    }
}

fn file_response(path: &str, file: rust_embed::EmbeddedFile) -> Response {
    let mime =
        HeaderValue::from_str(file.metadata.mimetype()).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    // trunk puts a content hash in every asset name but index.html, so those may be cached forever.
    let cache = if path == "index.html" { "no-cache" } else { "public, max-age=31536000, immutable" };
    ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, HeaderValue::from_static(cache))], file.data)
        .into_response()
}

/// The page a build without dashboard assets serves.
pub fn missing_dashboard() -> Response {
    let page = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Q-COLD</title></head><body>\
        <h1>Q-COLD dashboard not built</h1>\
        <p>This qcold binary was compiled without the dashboard's assets. Build them and then qcold:</p>\
        <pre>cargo xtask web\ncargo build -p qcold-cli</pre>\
        <p>(<code>cargo xtask demo</code> does both.) The API is available regardless: \
        <a href=\"/api/state\">/api/state</a>, <a href=\"/api/node/snapshot\">/api/node/snapshot</a>.</p>\
        </body></html>";
    (StatusCode::SERVICE_UNAVAILABLE, [(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}
