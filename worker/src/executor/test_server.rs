//! An HTTP server on a free local port for the `http.request` and `llm`
//! tests: echo, text, chosen statuses, redirects, a reply that never comes,
//! large bodies, and a stub of an OpenAI-compatible chat-completions API.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What the server saw.
#[derive(Default)]
struct Seen {
    hits: AtomicUsize,
    /// The last chat-completions request: its headers and JSON body.
    chat: Mutex<Option<(HeaderMap, Value)>>,
}

type Shared = Arc<Seen>;

/// A running server; it stops with the test's runtime.
pub struct Server {
    port: u16,
    seen: Shared,
}

impl Server {
    pub async fn start() -> Self {
        let seen = Shared::default();
        let app = Router::new()
            .route("/echo", any(echo))
            .route("/text", get(text))
            .route("/status/{code}", get(status))
            .route("/redirect", get(redirect))
            .route("/hang", get(hang))
            .route("/big", get(big))
            .route("/big-stream", get(big_stream))
            .route("/{mode}/chat/completions", post(chat))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let port = listener.local_addr().expect("a local address").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, seen }
    }

    /// A port nothing listens on (bound, then released).
    pub async fn unused_port() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        listener.local_addr().expect("a local address").port()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.seen.hits.load(Ordering::SeqCst)
    }

    /// The last chat-completions request's headers and body.
    pub fn last_chat(&self) -> Option<(HeaderMap, Value)> {
        self.seen.chat.lock().ok().and_then(|chat| chat.clone())
    }
}

/// `n` bytes of `x`.
pub fn big_body(n: usize) -> String {
    "x".repeat(n)
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let body = value.to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn echo(
    State(seen): State<Shared>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), Value::String(value))
        })
        .collect();
    let body = String::from_utf8_lossy(&body).into_owned();
    json_response(
        StatusCode::OK,
        &json!({"method": method.as_str(), "headers": headers, "body": body}),
    )
}

async fn text(State(seen): State<Shared>) -> &'static str {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    "just text"
}

async fn status(State(seen): State<Shared>, Path(code): Path<u16>) -> Response {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, format!("status {code}")).into_response()
}

/// Redirects to the URL written as the query.
async fn redirect(State(seen): State<Shared>, uri: Uri) -> Response {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    let target = uri.query().unwrap_or("/").to_owned();
    (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
}

async fn hang(State(seen): State<Shared>) -> &'static str {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    std::future::pending::<()>().await;
    "never"
}

fn size(uri: &Uri) -> usize {
    uri.query().and_then(|q| q.parse().ok()).unwrap_or(0)
}

/// A body of the query's size, with a `content-length`.
async fn big(State(seen): State<Shared>, uri: Uri) -> String {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    big_body(size(&uri))
}

/// A body of the query's size in 1 KiB chunks, without a `content-length`.
async fn big_stream(State(seen): State<Shared>, uri: Uri) -> Response {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    let total = size(&uri);
    let chunks = (0..total.div_ceil(1024)).map(move |i| {
        let length = (total - i * 1024).min(1024);
        Ok::<_, std::io::Error>(Bytes::from(big_body(length)))
    });
    Body::from_stream(futures::stream::iter(chunks)).into_response()
}

/// The chat-completions stub. `mode` picks the reply: `v1` a completion,
/// `down` a 500, `garbage` a body that is not JSON, `shapeless` JSON without
/// `choices`.
async fn chat(
    State(seen): State<Shared>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    seen.hits.fetch_add(1, Ordering::SeqCst);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut chat) = seen.chat.lock() {
        *chat = Some((headers, request.clone()));
    }
    match mode.as_str() {
        "v1" => json_response(
            StatusCode::OK,
            &json!({
                "id": "chatcmpl-1",
                "model": format!("{}-served", request["model"].as_str().unwrap_or("?")),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello back"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
            }),
        ),
        "down" => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": {"message": "overloaded"}}),
        ),
        "garbage" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{not json",
        )
            .into_response(),
        _ => json_response(
            StatusCode::OK,
            &json!({"id": "x", "object": "chat.completion"}),
        ),
    }
}
