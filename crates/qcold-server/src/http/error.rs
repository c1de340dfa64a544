//! [`ApiError`]: the one way the API refuses, always answered as a [`ErrorBody`].

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use qcold_core::api::{ErrorBody, ErrorKind};
use qcold_core::queue::graph::Diagnostic;

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

    /// Something broke inside the daemon; `cause` is logged, the client learns only that.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            body: ErrorBody::new(ErrorKind::Internal, "internal error; see the daemon log"),
            cause: Some(cause.into()),
        }
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
            tracing::error!("internal error: {cause:#}");
        }
        let status = StatusCode::from_u16(self.body.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.body)).into_response()
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
        ] {
            assert_eq!(ApiError::new(kind, "x").into_response().status(), status, "{kind:?}");
        }
    }
}
