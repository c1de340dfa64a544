//! The one request builder: a method, a path and an optional JSON body. Sending a write
//! (`POST`/`PUT`/`DELETE`) attaches the session's write token in `X-QCOLD-Write-Token`, the
//! header the daemon's door checks; a read never carries it, so it cannot end up in a URL, a log
//! line or a cache. Inside Telegram a write also carries the launch's `initData` in
//! `X-Telegram-Init-Data`, which the door verifies in place of the token; reads never carry it
//! either (the door would judge a read by it too, and a bad one must not blank the dashboard).

use std::fmt;

use gloo_net::http::{Request, RequestBuilder};
use qcold_core::api::{ErrorBody, ErrorKind};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::token::SessionToken;

/// The header the daemon reads the write token from (`qcold-server`'s `token::HEADER`).
const TOKEN_HEADER: &str = "X-QCOLD-Write-Token";

/// The header the daemon reads a Telegram WebApp's `initData` from (`qcold-server`'s `telegram`).
const TELEGRAM_HEADER: &str = "X-Telegram-Init-Data";

/// Why a call failed: no answer, a refusal (the daemon's own [`ErrorBody`]), or an answer that
/// does not parse.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// The request got no answer, or could not be made.
    Network(String),
    /// The daemon refused the request.
    Refused {
        /// The HTTP status.
        status: u16,
        /// What the daemon said.
        body: ErrorBody,
    },
    /// The answer is not what the API promises.
    Malformed(String),
}

impl ApiError {
    /// Whether the daemon refused for want of the right write token.
    pub(crate) fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Refused { body, .. } if body.kind == ErrorKind::Unauthorized)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(err) => write!(f, "no answer from the daemon: {err}"),
            Self::Refused { status, body } => {
                let kind = serde_json::to_value(body.kind).ok().and_then(|v| v.as_str().map(str::to_owned));
                write!(f, "refused ({status} {}): {}", kind.unwrap_or_default(), body.error)
            }
            Self::Malformed(err) => write!(f, "the daemon's answer does not parse: {err}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    // PUT and DELETE are writes too; the API has none yet.
}

impl Method {
    /// Whether the request changes something, and so carries the write token.
    fn writes(self) -> bool {
        !matches!(self, Self::Get)
    }
}

/// One API call, built and then sent.
#[derive(Debug)]
pub(super) struct Call {
    method: Method,
    path: String,
    body: Option<String>,
    /// Whether a read carries the credentials anyway, as the WebSocket on the same path does.
    credentials: bool,
}

impl Call {
    /// A read.
    pub(super) fn get(path: impl Into<String>) -> Self {
        Self { method: Method::Get, path: path.into(), body: None, credentials: false }
    }

    /// This read carries the credentials a WebSocket offers on its path, so the door judges it as
    /// it judged the socket: for asking why a socket was refused.
    pub(super) fn with_socket_credentials(self) -> Self {
        Self { credentials: true, ..self }
    }

    /// A write with a JSON body.
    pub(super) fn post(path: impl Into<String>, body: &impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_string(body).map_err(|err| ApiError::Malformed(err.to_string()))?;
        Ok(Self { method: Method::Post, path: path.into(), body: Some(body), credentials: false })
    }

    /// Sends the call, with `token` only when it is a write, and parses the answer. Only the parse
    /// is generic: the request and a refusal's handling are compiled once, not once per answer type.
    pub(super) async fn send<T: DeserializeOwned>(self, token: SessionToken) -> Result<T, ApiError> {
        let body = self.answer(token).await?;
        serde_json::from_str(&body).map_err(|err| ApiError::Malformed(err.to_string()))
    }

    /// Sends the call and returns the body of a success.
    async fn answer(self, token: SessionToken) -> Result<String, ApiError> {
        let mut builder: RequestBuilder = match self.method {
            Method::Get => Request::get(&self.path),
            Method::Post => Request::post(&self.path),
        };
        let credentials = self.credentials || self.method.writes();
        if credentials && let Some(token) = token.get_untracked() {
            builder = builder.header(TOKEN_HEADER, &token);
        }
        if credentials && let Some(init_data) = token.telegram_init_data() {
            builder = builder.header(TELEGRAM_HEADER, &init_data);
        }
        let request = match self.body {
            Some(body) => builder.header("Content-Type", "application/json").body(body),
            None => builder.build(),
        }
        .map_err(|err| ApiError::Network(err.to_string()))?;
        let response = request.send().await.map_err(|err| ApiError::Network(err.to_string()))?;
        let status = response.status();
        if !response.ok() {
            let body = response
                .json::<ErrorBody>()
                .await
                .unwrap_or_else(|_| ErrorBody::new(ErrorKind::Internal, format!("{} answered {status}", self.path)));
            return Err(ApiError::Refused { status, body });
        }
        response.text().await.map_err(|err| ApiError::Malformed(err.to_string()))
    }
}
