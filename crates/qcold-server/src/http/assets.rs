//! The dashboard's static files, embedded in the binary at build time.
//!
//! `build.rs` points the embed at `crates/qcold-web/dist` when trunk has built it; otherwise the
//! embed is empty and every page is [`missing_dashboard`], which says how to build it.
//!
//! `cargo xtask web` stores a gzip copy of each large asset beside it (`NAME.gz`); a browser that
//! accepts gzip gets that copy with `Content-Encoding: gzip`, any other client the asset itself.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$QCOLD_WEB_DIST"]
struct Dist;

/// Serves `uri` from the embedded files; paths without a file extension get `index.html`, so
/// client-side routes survive a reload.
pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let gzip = accepts_gzip(&headers);
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some(file) = Dist::get(path) {
        return file_response(path, file, gzip);
    }
    let looks_like_file = path.rsplit('/').next().is_some_and(|name| name.contains('.'));
    match Dist::get("index.html") {
        Some(index) if !looks_like_file => file_response("index.html", index, gzip),
        Some(_) => (StatusCode::NOT_FOUND, format!("no file {path}\n")).into_response(),
        None => missing_dashboard(),
    }
}

fn file_response(path: &str, file: rust_embed::EmbeddedFile, gzip: bool) -> Response {
    let mime =
        HeaderValue::from_str(file.metadata.mimetype()).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    // trunk puts a content hash in every asset name but index.html, so those may be cached forever.
    let cache = if path == "index.html" { "no-cache" } else { "public, max-age=31536000, immutable" };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, mime);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    let packed = Dist::get(&format!("{path}.gz"));
    if packed.is_some() {
        // Caches must keep the two encodings of this path apart.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    match packed {
        Some(packed) if gzip => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (headers, packed.data).into_response()
        }
        _ => (headers, file.data).into_response(),
    }
}

/// Whether `Accept-Encoding` admits gzip (RFC 9110 §12.5.3): named with a non-zero weight, or not
/// named and covered by `*` with a non-zero weight.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut named = None;
    let mut any = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for entry in value.split(',') {
            let mut parts = entry.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                named = Some(weight > 0.0);
            } else if coding == "*" {
                any = Some(weight > 0.0);
            }
        }
    }
    named.or(any).unwrap_or(false)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_is_sent_only_where_accept_encoding_admits_it() {
        assert!(accepts("gzip, deflate, br, zstd"), "what Chromium sends");
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(accepts("x-gzip"));
        assert!(!accepts("br, deflate"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip; q=0.000, *"), "a named refusal beats the wildcard");
        assert!(!accepts("*;q=0"));
        assert!(!accepts("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()), "no header: identity only");
    }
}
