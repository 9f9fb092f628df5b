//! `GET /v1/events/stream?workflow_id=`: every run's events as they happen,
//! as Server-Sent Events (what `junction tail` prints; the web UI's live
//! page). Live only, from the moment of the request: nothing stored is
//! replayed, and an event core NATS drops is missed (a run's own stream,
//! `sse.rs`, is the gapless one). Each message is `event: <type>` with the
//! event JSON as `data`, only of the request's tenant (and workflow, when
//! given). A comment keeps idle connections alive every 15 s; the stream
//! ends at shutdown.

use super::Api;
use super::request::{authorized_request, check_query_keys};
use super::response::error_response;
use crate::control::internal;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use junction_core::wire::Event;
use junction_core::wire::control::ControlError;
use std::convert::Infallible;

pub async fn stream(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match open(&api, &headers, query.as_deref()).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

async fn open(
    api: &Api,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, ControlError> {
    check_query_keys(query, &["workflow_id"])?;
    let request = authorized_request(api, headers, query, b"")?;
    let workflow = request.optional_string("workflow_id")?.map(str::to_owned);
    let subscriber = api
        .driver
        .client
        .subscribe(api.driver.subjects.events_wildcard())
        .await
        .map_err(internal)?;
    let tenant = request.tenant.clone();
    let mut stop = api.stop.clone();
    let stopped = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let events = subscriber
        .filter_map(move |message| {
            let event = serde_json::from_slice::<Event>(&message.payload)
                .ok()
                .filter(|e| e.tenant == tenant)
                .filter(|e| workflow.as_deref().is_none_or(|w| e.workflow_id == w))
                .and_then(|e| {
                    let data = serde_json::to_string(&e).ok()?;
                    Some(SseEvent::default().event(e.kind.as_str()).data(data))
                });
            std::future::ready(event.map(Ok::<_, Infallible>))
        })
        .take_until(stopped);
    Ok(Sse::new(events)
        .keep_alive(super::sse::keep_alive())
        .into_response())
}
