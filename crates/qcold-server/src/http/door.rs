//! The door: one layer in front of every route that decides who may talk to the daemon, before
//! any routing or handler runs.
//!
//! A browser is hostile until proven otherwise. Any page the operator visits can send a "simple"
//! cross-site POST (`text/plain`, no preflight) to `127.0.0.1`, or rebind its own DNS name to it
//! and read the answers. So, in this order:
//!
//! 1. `Host` must name the daemon's own address, a loopback name with the daemon's port, or a
//!    host the operator allowed (`--allow-host`, `QCOLD_ALLOWED_HOSTS`) — this defeats DNS
//!    rebinding (421 otherwise);
//! 2. a request carrying an `Origin` must come from the daemon's own origin or an allowed one
//!    (`QCOLD_ALLOWED_ORIGINS`); a mutating request or WebSocket without `Origin` is refused when
//!    the browser says it is `Sec-Fetch-Site: cross-site` or `same-site` (403);
//! 3. a mutating request must be `Content-Type: application/json`, which a page cannot send
//!    cross-site without a CORS preflight that the daemon never grants (415);
//! 4. with a write token, every mutating request and WebSocket needs it in
//!    `X-QCOLD-Write-Token` (a browser's WebSocket offers it as the subprotocol
//!    `qcold-token.<token>`); when the daemon listens beyond loopback, reads under `/api/` need it
//!    too (401); with a Telegram bot token (`QCOLD_TELEGRAM_BOT_TOKEN`), a request carrying
//!    `X-Telegram-Init-Data` (a WebSocket: the subprotocol `qcold-telegram.<base64url initData>`)
//!    is judged by that instead: a WebApp's `initData` signed by the bot,
//!    fresh, for an allowed user passes wherever the write token would (see [`crate::telegram`]);
//!    anything else carrying the header is refused (401, or 403 for a genuine user who is not
//!    allowed), even where no token would be needed;
//! 5. a declared body larger than the limit is refused (413); `AppJson` bounds the rest.
//!
//! Refusals are logged without the token and answered as an `ErrorBody`; nothing behind the
//! door runs, so nothing is stored.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use qcold_core::api::ErrorKind;

use super::ApiError;
use crate::Config;
use crate::telegram;
use crate::token::{self, WriteToken};

/// Who may pass, decided once at start-up from the configuration and the bound address.
#[derive(Debug, Clone)]
pub struct Door {
    port: u16,
    /// Names accepted with the daemon's port: the loopback names and the listen address.
    own_names: Vec<String>,
    /// Operator-allowed hosts: a name with an optional port (`None` = any port).
    allowed_hosts: Vec<(String, Option<u16>)>,
    /// Operator-allowed origins, `scheme://host[:port]` lowercased.
    allowed_origins: Vec<String>,
    token: Option<WriteToken>,
    /// Telegram WebApp sign-in, when a bot token is configured.
    telegram: Option<telegram::Settings>,
    reads_need_token: bool,
    body_limit: usize,
}

impl Door {
    /// The door for a daemon bound to `listen`. Loads the token file when no token is set in
    /// the environment, and refuses what would leave the API open: a required token that does
    /// not exist, or a non-loopback address without a token.
    pub fn new(config: &Config, listen: SocketAddr) -> anyhow::Result<Self> {
        let http = &config.http;
        let token = match &http.write_token {
            Some(token) => Some(token.clone()),
            None => token::load(&config.state_dir).context("cannot read the write token")?,
        };
        let exposed = !listen.ip().is_loopback();
        if token.is_none() && (http.require_write_token || exposed) {
            let why = if exposed {
                format!("listening on {listen} exposes the API beyond this machine, and there is no write token")
            } else {
                "QCOLD_WEBAPP_REQUIRE_WRITE_TOKEN is set, but there is no write token".to_owned()
            };
            bail!(
                "{why}: create one with `qcold serve token new` (stored in {}) or set \
                 QCOLD_WEBAPP_WRITE_TOKEN, then start the daemon again{}",
                token::file(&config.state_dir).display(),
                if exposed { "; or listen on 127.0.0.1" } else { "" }
            );
        }
        let mut own_names: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(str::to_owned).to_vec();
        if !listen.ip().is_unspecified() {
            own_names.push(host_name(listen.ip()));
        }
        let allowed_hosts = http
            .allowed_hosts
            .iter()
            .map(|raw| {
                split_host(&raw.to_ascii_lowercase())
                    .with_context(|| format!("allowed host {raw:?} is not a host name"))
            })
            .collect::<anyhow::Result<_>>()?;
        let allowed_origins = http
            .allowed_origins
            .iter()
            .map(|raw| {
                let origin = raw.trim_end_matches('/').to_ascii_lowercase();
                anyhow::ensure!(
                    origin_authority(&origin).is_some(),
                    "allowed origin {raw:?} must look like https://host or http://host:port, without a path"
                );
                Ok(origin)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            port: listen.port(),
            own_names,
            allowed_hosts,
            allowed_origins,
            token,
            telegram: http.telegram.clone(),
            reads_need_token: exposed,
            body_limit: http.body_limit,
        })
    }

    /// The largest body a request may carry.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// Whether mutating requests need the write token.
    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }

    /// How many Telegram users may sign in through the WebApp; `None` when that is off.
    pub fn telegram_users(&self) -> Option<usize> {
        self.telegram.as_ref().map(|t| t.allowed_users.len())
    }

    /// Decides one request from its method, path and headers.
    pub fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_ascii_lowercase);
        let Some(host) = host.filter(|h| self.host_allowed(h)) else {
            return Err(ApiError::new(
                ErrorKind::MisdirectedRequest,
                "the Host header names neither this daemon nor an allowed host; allow it with --allow-host or QCOLD_ALLOWED_HOSTS",
            ));
        };
        let websocket = headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        match headers.get(header::ORIGIN) {
            Some(origin) => {
                let origin = origin.to_str().unwrap_or("").trim_end_matches('/').to_ascii_lowercase();
                let same = origin_authority(&origin).is_some_and(|authority| authority == host);
                if !same && !self.allowed_origins.contains(&origin) {
                    return Err(ApiError::new(
                        ErrorKind::Forbidden,
                        "requests from another origin are refused; allow a trusted one with QCOLD_ALLOWED_ORIGINS",
                    ));
                }
            }
            None if mutating || websocket => {
                let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).unwrap_or("");
                if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
                    return Err(ApiError::new(ErrorKind::Forbidden, "cross-site requests are refused"));
                }
            }
            None => {}
        }
        if mutating {
            let json = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
            if !json {
                return Err(ApiError::new(
                    ErrorKind::UnsupportedMediaType,
                    "requests that change something must send Content-Type: application/json",
                ));
            }
        }
        let reads_api = self.reads_need_token && path.starts_with("/api/");
        // A request that says it comes from the Telegram WebApp is judged by that alone, so a
        // broken or foreign `initData` is reported as such rather than as a missing token.
        let offered = telegram_offered(headers, websocket);
        let telegram = self.telegram.as_ref().filter(|_| !offered.is_empty());
        if let Some(settings) = telegram {
            check_telegram(settings, &offered)?;
        } else if let Some(token) = &self.token
            && (mutating || websocket || reads_api)
        {
            check_token(token, headers, websocket)?;
        }
        let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        if declared.is_some_and(|len: usize| len > self.body_limit) {
            return Err(ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!("the request body is larger than the {} bytes the daemon accepts", self.body_limit),
            ));
        }
        Ok(())
    }

    fn host_allowed(&self, host: &str) -> bool {
        let Some((name, port)) = split_host(host) else { return false };
        let port_matches = port.unwrap_or(80) == self.port;
        (port_matches && self.own_names.contains(&name))
            || self.allowed_hosts.iter().any(|(allowed, p)| *allowed == name && p.is_none_or(|p| Some(p) == port))
    }
}

/// The middleware: runs [`Door::check`] and lets the request through or answers the refusal.
pub async fn admit(State(door): State<Arc<Door>>, request: Request, next: Next) -> Response {
    match door.check(request.method(), request.uri().path(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(method = %request.method(), path = request.uri().path(), "refused: {}", refusal.message());
            refusal.into_response()
        }
    }
}

/// What follows `prefix` in each subprotocol a WebSocket offers (`Sec-WebSocket-Protocol`, one
/// or more comma-separated lists): how a browser's socket carries what a request puts in a header.
fn subprotocols<'a>(headers: &'a HeaderMap, prefix: &'static str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(move |p| p.trim().strip_prefix(prefix))
}

fn check_token(token: &WriteToken, headers: &HeaderMap, websocket: bool) -> Result<(), ApiError> {
    let mut offered: Vec<&[u8]> = headers.get_all(token::HEADER).iter().map(|v| v.as_bytes()).collect();
    if websocket {
        offered.extend(subprotocols(headers, token::WS_PROTOCOL_PREFIX).map(str::as_bytes));
    }
    if offered.is_empty() {
        return Err(ApiError::new(
            ErrorKind::Unauthorized,
            "this daemon requires its write token in the X-QCOLD-Write-Token header",
        ));
    }
    // Every offered value is compared, so the time taken does not depend on which one matched.
    let matched = offered.iter().fold(false, |found, candidate| token.matches(candidate) | found);
    if matched { Ok(()) } else { Err(ApiError::new(ErrorKind::Unauthorized, "the write token is wrong")) }
}

/// The `initData` a request offers: its `X-Telegram-Init-Data` headers and, on a WebSocket, its
/// `qcold-telegram.` subprotocols decoded (one that does not decode is offered as nothing usable).
fn telegram_offered(headers: &HeaderMap, websocket: bool) -> Vec<Option<String>> {
    let mut offered: Vec<Option<String>> =
        headers.get_all(telegram::HEADER).iter().map(|v| v.to_str().ok().map(str::to_owned)).collect();
    if websocket {
        offered.extend(
            subprotocols(headers, telegram::WS_PROTOCOL_PREFIX)
                .map(|encoded| URL_SAFE_NO_PAD.decode(encoded).ok().and_then(|bytes| String::from_utf8(bytes).ok())),
        );
    }
    offered
}

fn check_telegram(settings: &telegram::Settings, offered: &[Option<String>]) -> Result<(), ApiError> {
    let verdict = match offered {
        [Some(init_data)] => telegram::verify(init_data, settings, crate::unix_now()),
        _ => Err(telegram::InitDataError::Malformed(
            "initData must be sent once, as text (X-Telegram-Init-Data, or a WebSocket's qcold-telegram. subprotocol in base64url)",
        )),
    };
    match verdict {
        Ok(_) => Ok(()),
        Err(err @ telegram::InitDataError::NotAllowed(_)) => Err(ApiError::new(ErrorKind::Forbidden, err.to_string())),
        Err(err) => Err(ApiError::new(ErrorKind::Unauthorized, err.to_string())),
    }
}

/// How an address is written in a `Host` header.
fn host_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Splits `name[:port]` (IPv6 in brackets); `None` for what is not a host.
fn split_host(host: &str) -> Option<(String, Option<u16>)> {
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        let rest = &host[end + 1..];
        let port = if rest.is_empty() { None } else { Some(rest.strip_prefix(':')?.parse().ok()?) };
        (&host[..=end], port)
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port.parse().ok()?)),
            None => (host, None),
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:_".contains(&b));
    valid.then(|| (name.to_owned(), port))
}

/// The `host[:port]` of an `http`/`https` origin without a path; `None` for anything else
/// (including the opaque origin `null`).
fn origin_authority(origin: &str) -> Option<&str> {
    let rest = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"))?;
    (!rest.is_empty() && !rest.contains('/') && split_host(rest).is_some()).then_some(rest)
}

#[cfg(test)]
mod tests;
