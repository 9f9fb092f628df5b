//! `http.request`: input `{url, method?: GET, headers?: {}, body?,
//! timeoutSeconds?}`, output `{status, headers, body}` (`body` parsed JSON
//! when the response says JSON, else text).
//!
//! - A status ≥ 400 fails the step with `HTTP_STATUS` (`details.status`),
//!   retryable for 429 and 5xx only.
//! - A host off the allow-list ([`hosts`]) is `EXECUTOR_FORBIDDEN`.
//! - A request or response body over the payload limit is
//!   `PAYLOAD_TOO_LARGE`; the response is read in chunks and dropped as soon
//!   as it passes the limit.
//! - No complete response by the deadline is `STEP_TIMEOUT`; no response at
//!   all (refused, reset, DNS, TLS) is `HTTP_UNAVAILABLE` (retryable).
//!
//! One [`reqwest::Client`] (one connection pool) serves every step of the
//! worker, and the `llm` executor too.

#![allow(
    clippy::result_large_err,
    reason = "ErrorInfo is the step's error as stored; built once per failure"
)]

mod hosts;
#[cfg(test)]
mod tests;

use super::Outcome;
use super::io_common::{self, invalid_input, timed_out};
use chrono::{DateTime, Utc};
use hosts::{GuardedResolver, HostPolicy, Refused};
use junction_core::wire::ErrorInfo;
use junction_core::wire::error::codes;
use junction_runtime::config::Config;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

const EXECUTOR: &str = "http.request";
/// Methods `http.request` sends.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
/// How much of an error response's body `details.body` keeps, in characters.
const ERROR_BODY_PREVIEW: usize = 4096;
/// The largest error response body read for `details.body`, in bytes.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Calls HTTP endpoints for `http.request` steps. Clones share the client
/// (one connection pool).
#[derive(Clone)]
pub struct HttpExecutor {
    client: reqwest::Client,
    hosts: Arc<HostPolicy>,
    payload_limit: usize,
}

/// A request ready to send.
struct Prepared {
    url: Url,
    method: Method,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    deadline: DateTime<Utc>,
}

/// Why a response body was not read whole.
pub(super) enum BodyError {
    TooLarge,
    Transport(reqwest::Error),
}

impl HttpExecutor {
    /// From `executors.http.allow_hosts` and `limits.payload_bytes`.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Self::new(
            &config.executors.http.allow_hosts,
            config.limits.payload_bytes,
        )
    }

    /// `allow_hosts` is a comma list of hosts or `*.domain` (empty: any host
    /// but link-local and metadata ones).
    pub fn new(allow_hosts: &str, payload_limit: usize) -> anyhow::Result<Self> {
        let hosts = Arc::new(
            HostPolicy::parse(allow_hosts)
                .map_err(|e| anyhow::anyhow!("executors.http.allow_hosts: {e}"))?,
        );
        // The process's TLS crypto: ring, as for NATS. A second call (a
        // second executor in tests) finds it installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(hosts.redirects())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("junction-worker/", env!("CARGO_PKG_VERSION")));
        if hosts.is_open() {
            builder = builder.dns_resolver(GuardedResolver);
        }
        let client = builder.build().map_err(|e| {
            anyhow::anyhow!(
                "cannot build the HTTP client (are the system CA certificates installed?): {e}"
            )
        })?;
        Ok(Self {
            client,
            hosts,
            payload_limit,
        })
    }

    /// The shared client (connection pool), for the `llm` executor.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Runs one `http.request` step by `deadline` (the claim time plus the
    /// step timeout; `timeoutSeconds` in the input shortens it).
    pub async fn run(&self, input: &Value, deadline: DateTime<Utc>) -> Outcome {
        let prepared = match self.prepare(input, deadline) {
            Ok(prepared) => prepared,
            Err(error) => return Outcome::failed(error),
        };
        if let Err(refused) = self.hosts.check(&prepared.url) {
            return Outcome::failed(forbidden(&refused));
        }
        let host = prepared.url.host_str().unwrap_or_default().to_owned();
        let seconds = io_common::remaining(prepared.deadline).as_secs_f64();
        let until = io_common::instant(prepared.deadline);
        match tokio::time::timeout_at(until, self.exchange(prepared)).await {
            Ok(Ok(output)) => Outcome::succeeded(output),
            Ok(Err(error)) => Outcome::failed(error),
            Err(_) => timed_out(format!(
                "http.request to {host} got no complete response within {seconds:.1} s"
            )),
        }
    }

    /// Reads and checks the input.
    fn prepare(&self, input: &Value, deadline: DateTime<Utc>) -> Result<Prepared, ErrorInfo> {
        let fields = io_common::object(EXECUTOR, input)?;
        let deadline = io_common::effective_deadline(EXECUTOR, fields, deadline)?;
        let Some(url) = io_common::optional_str(EXECUTOR, fields, "url")? else {
            return Err(invalid_input(EXECUTOR, "`url` is required"));
        };
        let url = Url::parse(url)
            .map_err(|e| invalid_input(EXECUTOR, format!("`url` {url:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid_input(EXECUTOR, "`url` must be http:// or https://"));
        }
        let method = io_common::optional_str(EXECUTOR, fields, "method")?.unwrap_or("GET");
        let method = method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(invalid_input(
                EXECUTOR,
                format!("`method` {method:?} is not one of {}", METHODS.join(", ")),
            ));
        }
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|e| invalid_input(EXECUTOR, format!("`method`: {e}")))?;
        let mut headers = request_headers(fields)?;
        let body = self.request_body(fields, &mut headers)?;
        Ok(Prepared {
            url,
            method,
            headers,
            body,
            deadline,
        })
    }

    /// `body`: a string is sent as it is, any other JSON value encoded (with
    /// `content-type: application/json` unless the headers name one).
    fn request_body(
        &self,
        fields: &Map<String, Value>,
        headers: &mut HeaderMap,
    ) -> Result<Option<Vec<u8>>, ErrorInfo> {
        let body = match fields.get("body") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(text)) => text.clone().into_bytes(),
            Some(value) => {
                if !headers.contains_key(CONTENT_TYPE) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                serde_json::to_vec(value).unwrap_or_default()
            }
        };
        if body.len() > self.payload_limit {
            return Err(too_large(format!(
                "the request body has {} bytes; the limit is {}",
                body.len(),
                self.payload_limit
            )));
        }
        Ok(Some(body))
    }

    /// Sends, then reads the whole response.
    async fn exchange(&self, prepared: Prepared) -> Result<Value, ErrorInfo> {
        let mut request = self
            .client
            .request(prepared.method, prepared.url)
            .headers(prepared.headers);
        if let Some(body) = prepared.body {
            request = request.body(body);
        }
        let mut response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        if status >= 400 {
            return Err(failed_status(&mut response).await);
        }
        let headers = response_headers(response.headers());
        let is_json = says_json(response.headers());
        let bytes = read_limited(&mut response, self.payload_limit)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge => too_large(format!(
                    "the response body passed the limit of {} bytes",
                    self.payload_limit
                )),
                BodyError::Transport(error) => transport_error(error),
            })?;
        let body = decode_body(&bytes, is_json);
        Ok(json!({"status": status, "headers": headers, "body": body}))
    }
}

/// `headers` of the input, checked.
fn request_headers(fields: &Map<String, Value>) -> Result<HeaderMap, ErrorInfo> {
    let mut headers = HeaderMap::new();
    for (name, value) in io_common::string_map(EXECUTOR, fields, "headers")? {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid_input(EXECUTOR, format!("{name:?} is not a header name")))?;
        let value = HeaderValue::from_str(&value).map_err(|_| {
            invalid_input(EXECUTOR, format!("header {name:?} has an invalid value"))
        })?;
        headers.append(header, value);
    }
    Ok(headers)
}

/// Reads a response body, stopping as soon as it passes `limit` bytes.
pub(super) async fn read_limited(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether the `content-type` is JSON (`application/json`, `…+json`).
fn says_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// JSON when the response says so and parses, else text (invalid UTF-8
/// replaced).
fn decode_body(bytes: &[u8], is_json: bool) -> Value {
    if is_json && let Ok(value) = serde_json::from_slice(bytes) {
        return value;
    }
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

/// Response headers as an object; a repeated header's values joined by `, `.
fn response_headers(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        out.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
    }
    Value::Object(out)
}

/// `HTTP_STATUS` for a response whose status is ≥ 400, with its body when
/// that is at most [`ERROR_BODY_LIMIT`] bytes (else `null`).
pub(super) async fn failed_status(response: &mut reqwest::Response) -> ErrorInfo {
    let status = response.status().as_u16();
    let is_json = says_json(response.headers());
    let body = match read_limited(response, ERROR_BODY_LIMIT).await {
        Ok(bytes) => decode_body(&bytes, is_json),
        Err(_) => Value::Null,
    };
    status_error(status, &body)
}

/// `HTTP_STATUS` for a status ≥ 400: retryable for 429 and 5xx only;
/// `details` holds the status and (the start of) the body.
fn status_error(status: u16, body: &Value) -> ErrorInfo {
    let text = match body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let body = if text.chars().count() <= ERROR_BODY_PREVIEW {
        body.clone()
    } else {
        Value::String(io_common::preview(&text, ERROR_BODY_PREVIEW))
    };
    let error = ErrorInfo::new(
        codes::HTTP_STATUS,
        format!("the server answered HTTP {status}"),
    )
    .with_details(json!({"status": status, "body": body}));
    if status == 429 || status >= 500 {
        error.retryable()
    } else {
        error.not_retryable()
    }
}

pub(super) fn too_large(message: String) -> ErrorInfo {
    ErrorInfo::new(codes::PAYLOAD_TOO_LARGE, message).not_retryable()
}

fn forbidden(refused: &Refused) -> ErrorInfo {
    ErrorInfo::new(codes::EXECUTOR_FORBIDDEN, refused.to_string()).not_retryable()
}

/// A request that got no usable response: a refused host (redirect or
/// resolution) is `EXECUTOR_FORBIDDEN`, anything else `HTTP_UNAVAILABLE`.
pub(super) fn transport_error(error: reqwest::Error) -> ErrorInfo {
    let error = error.without_url();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    let mut chain = Vec::new();
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return forbidden(refused);
        }
        chain.push(current.to_string());
        source = current.source();
    }
    chain.dedup();
    ErrorInfo::new(codes::HTTP_UNAVAILABLE, chain.join(": ")).retryable()
}
