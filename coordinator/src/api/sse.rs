//! `GET /v1/runs/{id}/stream`: a run's events as Server-Sent Events.
//!
//! The stream subscribes (core NATS) to the run's event subjects first, then
//! reads the stored events after `Last-Event-ID` (or `?after_seq=`), then
//! forwards live ones. Every event goes out once, in `seq` order: a live
//! event at or below the last sent `seq` is dropped, and one that skips ahead
//! makes the stream read the gap from the store first (events are stored
//! before they are published, and `seq` is taken under the run lock, so the
//! store always holds every event below a published one). A store read every
//! few seconds also covers live messages core NATS lost. The stream ends
//! after the run's terminal event (the last one stored: a redriven run has
//! an earlier one), at once for a run that already ended, and at shutdown; a comment keeps idle connections alive every 15 s.

use super::Api;
use super::request::authorized_request;
use super::response::error_response;
use crate::control::internal;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use junction_core::ids::is_valid_id;
use junction_core::wire::control::ControlError;
use junction_core::wire::{Event, EventType};
use junction_store::Store;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The keep-alive of every event stream: a `: keep-alive` comment every
/// 15 s while nothing happens.
pub(super) fn keep_alive() -> KeepAlive {
    KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")
}
const CATCH_UP_EVERY: Duration = Duration::from_secs(5);
const PAGE: i64 = 500;

fn is_terminal(kind: EventType) -> bool {
    matches!(
        kind,
        EventType::RunCompleted
            | EventType::RunFailed
            | EventType::RunTimedOut
            | EventType::RunCancelled
    )
}

fn to_sse(event: &Event) -> serde_json::Result<SseEvent> {
    Ok(SseEvent::default()
        .id(event.seq.to_string())
        .event(event.kind.as_str())
        .data(serde_json::to_string(event)?))
}

/// Where to start: `Last-Event-ID` wins over `?after_seq=`.
fn start_after(headers: &HeaderMap, after_seq: Option<i64>) -> Result<i64, ControlError> {
    match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| ControlError::invalid("Last-Event-ID must be an event seq")),
        None => Ok(after_seq.unwrap_or(0)),
    }
}

pub async fn stream(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match open(&api, &id, &headers, query.as_deref()).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

async fn open(
    api: &Api,
    id: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, ControlError> {
    super::request::check_query_keys(query, &["after_seq"])?;
    let request = authorized_request(api, headers, query, b"")?;
    if !is_valid_id(id) {
        return Err(ControlError::invalid(format!("run id {id:?} is not valid")));
    }
    let after = start_after(headers, request.optional_i64("after_seq")?)?;
    // Subscribe before reading anything, so no event falls between the two.
    let [run_subject, step_subject] = api.driver.subjects.run_events(id);
    let client = &api.driver.client;
    let run_events = client.subscribe(run_subject).await.map_err(internal)?;
    let step_events = client.subscribe(step_subject).await.map_err(internal)?;
    let live = futures::stream::select(run_events, step_events);
    let run = api
        .driver
        .store
        .get_run_summary(id)
        .await?
        .filter(|r| r.tenant == request.tenant)
        .ok_or_else(|| ControlError::not_found(format!("run `{id}` not found")))?;
    let ended = run.status.is_terminal();
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    tokio::spawn(pump(
        api.driver.store.clone(),
        id.to_owned(),
        after,
        ended,
        live,
        tx,
        api.stop.clone(),
    ));
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events).keep_alive(keep_alive()).into_response())
}

/// What a send did.
enum Sent {
    More,
    /// The terminal event went out, or the client left: stop.
    Done,
}

/// `may_end`: a terminal event ends the stream (not one followed by more
/// stored events: the run was redriven after it).
async fn send(tx: &mpsc::Sender<SseEvent>, last: &mut i64, event: &Event, may_end: bool) -> Sent {
    *last = event.seq;
    let message = match to_sse(event) {
        Ok(message) => message,
        Err(error) => {
            // Skipping it would break the stream's promise; the client reconnects.
            tracing::error!(%error, run_id = %event.run_id, seq = event.seq, "event stream: cannot serialize an event");
            return Sent::Done;
        }
    };
    if tx.send(message).await.is_err() || (may_end && is_terminal(event.kind)) {
        Sent::Done
    } else {
        Sent::More
    }
}

/// Sends every stored event after `last`.
async fn catch_up(
    store: &Store,
    run_id: &str,
    last: &mut i64,
    tx: &mpsc::Sender<SseEvent>,
) -> anyhow::Result<Sent> {
    loop {
        let page = store.events(run_id, *last, PAGE).await?;
        let full = page.len() as i64 == PAGE;
        for (index, event) in page.iter().enumerate() {
            let last_stored = index + 1 == page.len() && !full;
            if event.seq > *last && matches!(send(tx, last, event, last_stored).await, Sent::Done) {
                return Ok(Sent::Done);
            }
        }
        if !full {
            return Ok(Sent::More);
        }
    }
}

async fn pump(
    store: Store,
    run_id: String,
    mut last: i64,
    ended: bool,
    mut live: impl Stream<Item = async_nats::Message> + Unpin,
    tx: mpsc::Sender<SseEvent>,
    mut stop: watch::Receiver<bool>,
) {
    match catch_up(&store, &run_id, &mut last, &tx).await {
        Ok(Sent::More) if !ended => {}
        Ok(_) => return,
        Err(error) => {
            tracing::warn!(%error, run_id, "event stream: cannot read stored events");
            return;
        }
    }
    let mut poll = tokio::time::interval(CATCH_UP_EVERY);
    poll.reset();
    loop {
        let outcome = tokio::select! {
            message = live.next() => {
                let Some(message) = message else { return };
                let Ok(event) = serde_json::from_slice::<Event>(&message.payload) else {
                    continue;
                };
                if event.seq <= last {
                    continue;
                }
                if event.seq > last + 1 {
                    match catch_up(&store, &run_id, &mut last, &tx).await {
                        Ok(Sent::More) if event.seq <= last => continue,
                        Ok(Sent::More) => Ok(send(&tx, &mut last, &event, true).await),
                        other => other,
                    }
                } else {
                    Ok(send(&tx, &mut last, &event, true).await)
                }
            }
            _ = poll.tick() => catch_up(&store, &run_id, &mut last, &tx).await,
            () = tx.closed() => return,
            _ = stop.changed() => return,
        };
        match outcome {
            Ok(Sent::More) => {}
            Ok(Sent::Done) => return,
            Err(error) => {
                tracing::warn!(%error, run_id, "event stream: cannot read stored events");
                return;
            }
        }
    }
}
