//! `POST /v1/signals/{type}` (docs/http.md, "Publishing a signal"): the
//! HTTP twin of `junction signal`, for the web UI and for callers without
//! a NATS client. The body `{data?, id?, subject?, correlationid?}` becomes
//! a structured CloudEvent (`source: junction-http`, the request's tenant),
//! checked exactly as signal intake will check it, then stored in the
//! signals stream through JetStream. The answer, `202 {id, type}`, means
//! stored, not yet processed: intake starts the runs it triggers (or
//! delivers it into a run, for `subject: run:<id>`) and dedupes it by `id`.

use super::Api;
use super::request::{body_request, check_query_keys};
use super::response::{error_response, json_response};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use junction_core::wire::control::{ControlError, ErrorCode};
use junction_core::wire::signal;
use serde_json::{Value, json};

/// The fields a publish takes (besides `tenant`).
const FIELDS: &[&str] = &["data", "id", "subject", "correlationid"];

pub async fn publish(
    State(api): State<Api>,
    Path(signal_type): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let request = match check_query_keys(query.as_deref(), &[]) {
        Ok(()) => body_request(&api, &headers, query.as_deref(), body).await,
        Err(error) => Err(error),
    };
    let request = match request {
        Ok(request) => request,
        Err(error) => return error_response(&error),
    };
    let event = match envelope(&signal_type, &request.fields, &request.tenant) {
        Ok(event) => event,
        Err(error) => return error_response(&error),
    };
    match store(&api, &signal_type, event).await {
        Ok(stored) => json_response(StatusCode::ACCEPTED, &stored),
        Err(error) => error_response(&error),
    }
}

/// The CloudEvent of a publish request, or why it is refused.
fn envelope(
    signal_type: &str,
    fields: &serde_json::Map<String, Value>,
    tenant: &str,
) -> Result<Value, ControlError> {
    if !junction_core::model::parse::is_valid_signal_type(signal_type) {
        return Err(ControlError::invalid(format!(
            "signal type {signal_type:?} must be dot-separated tokens of [A-Za-z0-9_-]"
        )));
    }
    if let Some(unknown) = fields
        .keys()
        .find(|k| *k != "tenant" && !FIELDS.contains(&k.as_str()))
    {
        return Err(ControlError::invalid(format!(
            "unknown field `{unknown}` (a publish takes {})",
            FIELDS.join(", ")
        )));
    }
    let text = |name: &str| match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(ControlError::invalid(format!(
            "`{name}` must be a non-empty string"
        ))),
    };
    let id = text("id")?.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let mut event = json!({
        "specversion": "1.0",
        "id": id,
        "source": "junction-http",
        "type": signal_type,
        "tenant": tenant,
        "data": fields.get("data").cloned().unwrap_or_else(|| json!({})),
    });
    for name in ["subject", "correlationid"] {
        if let Some(value) = text(name)? {
            event[name] = Value::String(value);
        }
    }
    Ok(event)
}

/// Checks `event` as intake will, then stores it in the signals stream.
async fn store(api: &Api, signal_type: &str, event: Value) -> Result<Value, ControlError> {
    let body = serde_json::to_vec(&event)
        .map_err(|error| ControlError::internal(format!("cannot encode the signal: {error}")))?;
    if let Err(rejection) = signal::parse(&body, signal_type, api.driver.signal_limit) {
        let code = if rejection == signal::Rejection::TooLarge {
            ErrorCode::PayloadTooLarge
        } else {
            ErrorCode::InvalidRequest
        };
        return Err(ControlError::new(
            code,
            format!(
                "the signal would be rejected `{}` at intake",
                rejection.as_str()
            ),
        ));
    }
    let jetstream = async_nats::jetstream::new(api.driver.client.clone());
    let unavailable =
        |error: String| ControlError::new(ErrorCode::Unavailable, format!("NATS: {error}"));
    jetstream
        .publish(api.driver.subjects.signal(signal_type), body.into())
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    tracing::info!(signal_id = %event["id"], signal_type, "signal published over HTTP");
    Ok(json!({ "id": event["id"], "type": signal_type }))
}
