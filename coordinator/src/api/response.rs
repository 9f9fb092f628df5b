//! From a control reply to an HTTP response: the reply's fields without
//! `ok` as the JSON body, `201` when it says `created: true`, and each
//! control error code's status (docs/http.md, "Errors").

use crate::control::Reply;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use junction_core::wire::control::{ControlError, ErrorCode};
use serde_json::Value;

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            Bytes::from(bytes),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot serialize an http response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The HTTP status of a control error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidRequest | ErrorCode::ValidationFailed => StatusCode::BAD_REQUEST,
        ErrorCode::InputSchema => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::InvalidState | ErrorCode::AlreadyDecided | ErrorCode::Conflict => {
            StatusCode::CONFLICT
        }
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `{"error":{code,message,details?}}` with the code's status.
pub fn error_response(error: &ControlError) -> Response {
    if error.code == ErrorCode::Internal {
        tracing::error!(error = %error.message, "http request failed");
    }
    let mut body = error.to_reply();
    if let Value::Object(map) = &mut body {
        map.remove("ok");
    }
    let mut response = json_response(status_of(error.code), &body);
    if error.code == ErrorCode::Unauthenticated {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// A control reply as a response: `ok` when it succeeded, `created` (201)
/// when the reply says `created: true`.
pub fn respond(reply: Reply) -> Response {
    match reply {
        Ok(fields) => {
            let status = if fields.get("created") == Some(&Value::Bool(true)) {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            json_response(status, &fields)
        }
        Err(error) => error_response(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_statuses() {
        assert_eq!(
            status_of(ErrorCode::InputSchema),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status_of(ErrorCode::AlreadyDecided), StatusCode::CONFLICT);
        assert_eq!(
            status_of(ErrorCode::PayloadTooLarge),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
