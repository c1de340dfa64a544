//! [`ApiError`]: the one way the API refuses, always answered as a [`ErrorBody`].

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use qcold_core::api::{ErrorBody, ErrorKind};
use qcold_core::queue::graph::Diagnostic;

use crate::store::Fault;

/// The `Retry-After` of a [`ErrorKind::StoreBusy`] answer: long enough for a typical writer
/// (a CLI command, a scheduler pass) to finish, short enough for a client to wait for.
pub const RETRY_AFTER_SECS: u64 = 1;

/// A refusal or failure of a request. Its kind decides the status; 5xx details go to the log
/// and the client gets a generic message.
#[derive(Debug)]
pub struct ApiError {
    body: ErrorBody,
    /// The cause of an internal error, logged and never sent.
    cause: Option<anyhow::Error>,
}

impl ApiError {
    /// A refusal of `kind` with a message for the client.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { body: ErrorBody::new(kind, message), cause: None }
    }

    /// A malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// A malformed request field (a JSON path or query parameter), named in the answer.
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut err = Self::bad_request(message);
        err.body.field = Some(field.into());
        err
    }

    /// No such route or resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// The command does not fit the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// Something broke inside the daemon; `cause` is logged, the client learns only that —
    /// unless the cause is a [`Fault`] of the machine, which the client is told about: a store
    /// busy past its timeout (503 with `Retry-After`) or a full disk (507).
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        let body = match crate::store::fault(&cause) {
            Some(Fault::Busy) => ErrorBody::new(
                ErrorKind::StoreBusy,
                format!(
                    "the state store is busy: another process held it past the busy timeout; \
                     nothing was changed, retry in {RETRY_AFTER_SECS} s"
                ),
            ),
            Some(Fault::Full) => ErrorBody::new(
                ErrorKind::DiskFull,
                "no space left on the disk holding the daemon's state dir or a worktree; \
                 free space there and retry (the daemon log names the file)",
            ),
            None => ErrorBody::new(ErrorKind::Internal, "internal error; see the daemon log"),
        };
        Self { body, cause: Some(cause) }
    }

    /// Adds a queue package's diagnostics.
    pub fn with_diagnostics(mut self, diagnostics: Vec<Diagnostic>) -> Self {
        self.body.diagnostics = diagnostics;
        self
    }

    /// The kind of refusal.
    pub fn kind(&self) -> ErrorKind {
        self.body.kind
    }

    /// The field named as wrong, if one was.
    pub fn field(&self) -> Option<&str> {
        self.body.field.as_deref()
    }

    /// The message the client gets.
    pub fn message(&self) -> &str {
        &self.body.error
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            match self.body.kind {
                ErrorKind::StoreBusy => tracing::warn!("store busy: {cause:#}"),
                _ => tracing::error!("internal error: {cause:#}"),
            }
        }
        let status = StatusCode::from_u16(self.body.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    #[tokio::test]
    async fn internal_details_stay_in_the_log() {
        let response = ApiError::internal(anyhow::anyhow!("disk /secret/path is full")).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!((body.kind, body.error.as_str()), (ErrorKind::Internal, "internal error; see the daemon log"));
    }

    #[tokio::test]
    async fn a_busy_store_asks_to_retry_and_a_full_disk_says_so() {
        let sqlite = |code| {
            crate::store::StoreError::Sqlite(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None))
        };
        let response = ApiError::internal(sqlite(rusqlite::ffi::SQLITE_BUSY)).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.kind, ErrorKind::StoreBusy);
        assert!(body.error.contains("nothing was changed"), "{}", body.error);
        let response = ApiError::internal(sqlite(rusqlite::ffi::SQLITE_FULL)).into_response();
        assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.kind, ErrorKind::DiskFull);
        assert!(body.error.contains("state dir"), "{}", body.error);
    }

    #[test]
    fn every_kind_has_its_status() {
        for (kind, status) in [
            (ErrorKind::BadRequest, StatusCode::BAD_REQUEST),
            (ErrorKind::Unauthorized, StatusCode::UNAUTHORIZED),
            (ErrorKind::Forbidden, StatusCode::FORBIDDEN),
            (ErrorKind::NotFound, StatusCode::NOT_FOUND),
            (ErrorKind::MethodNotAllowed, StatusCode::METHOD_NOT_ALLOWED),
            (ErrorKind::Conflict, StatusCode::CONFLICT),
            (ErrorKind::PayloadTooLarge, StatusCode::PAYLOAD_TOO_LARGE),
            (ErrorKind::UnsupportedMediaType, StatusCode::UNSUPPORTED_MEDIA_TYPE),
            (ErrorKind::MisdirectedRequest, StatusCode::MISDIRECTED_REQUEST),
            (ErrorKind::Internal, StatusCode::INTERNAL_SERVER_ERROR),
            (ErrorKind::Timeout, StatusCode::GATEWAY_TIMEOUT),
            (ErrorKind::StoreBusy, StatusCode::SERVICE_UNAVAILABLE),
            (ErrorKind::DiskFull, StatusCode::INSUFFICIENT_STORAGE),
        ] {
            assert_eq!(ApiError::new(kind, "x").into_response().status(), status, "{kind:?}");
        }
    }
}
