//! Extractors whose refusals are [`ApiError`]s: [`AppJson`] for bodies, [`AppQuery`] for query
//! strings. Both name the field that was wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use qcold_core::api::ErrorKind;
use serde::de::DeserializeOwned;

use super::ApiError;

/// A JSON object body. An empty body counts as `{}` (commands whose fields are all optional);
/// anything but an object is refused, and a field of the wrong type is named by its path
/// (`package.items[0].slug`). The size is bounded by the router's body limit (413).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorKind::PayloadTooLarge, "the request body is larger than the daemon accepts")
            } else {
                ApiError::bad_request(format!("cannot read the request body: {}", rejection.body_text()))
            }
        })?;
        parse(&bytes).map(AppJson)
    }
}

/// Parses a JSON object body as [`AppJson`] does.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = match bytes.iter().position(|b| !b.is_ascii_whitespace()) {
        None => &b"{}"[..],
        Some(start) if bytes[start] == b'{' => bytes,
        Some(_) => return Err(ApiError::bad_request("invalid request body: it must be a JSON object")),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| named(err, "invalid request body: ", "invalid request body: "))?;
    deserializer.end().map_err(|err| ApiError::bad_request(format!("invalid request body: {err}")))?;
    Ok(value)
}

/// A query string, parsed into `T`; a bad parameter is named.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(AppQuery)
            .map_err(|err| named(err, "invalid query: ", "invalid query parameter "))
    }
}

/// A deserialisation error as a refusal naming the field at fault, when there is one:
/// `<whole><error>` for the input as a whole, `<field><path>: <error>` for one field.
fn named<E: std::fmt::Display>(err: serde_path_to_error::Error<E>, whole: &str, field: &str) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if path == "." || path.is_empty() {
        ApiError::bad_request(format!("{whole}{inner}"))
    } else {
        ApiError::bad_field(path.clone(), format!("{field}{path}: {inner}"))
    }
}

#[cfg(test)]
mod tests {
    use qcold_core::queue::wire::RunRequest;

    use super::*;

    fn refusal<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> (Option<String>, String) {
        let err = parse::<T>(body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadRequest);
        (err.field().map(str::to_owned), err.message().to_owned())
    }

    #[test]
    fn bad_fields_are_named_by_their_path() {
        let (field, _) = refusal::<RunRequest>(r#"{"package": {"items": [{"prompt": 7}]}}"#);
        assert_eq!(field.as_deref(), Some("package.items[0].prompt"));
        let (field, message) = refusal::<RunRequest>(r#"["not", "an", "object"]"#);
        assert_eq!(field, None);
        assert!(message.contains("must be a JSON object"), "{message}");
        let (_, message) = refusal::<RunRequest>(r#"{"package": {"items": []}} trailing"#);
        assert!(message.contains("trailing"), "{message}");
    }

    #[test]
    fn an_empty_body_is_an_empty_object() {
        let selector: qcold_core::queue::wire::RunSelector = parse(b"  \n").unwrap();
        assert_eq!(selector.run_id, None);
    }
}
