//! `llm`: input `{model, prompt | messages, temperature?, max_tokens?}`, one
//! chat-completions call (`POST <base_url>/chat/completions`) to an
//! OpenAI-compatible endpoint, output `{content, model, usage}`.
//!
//! - `prompt` becomes one user message; `messages` pass through as given.
//! - The bearer key (`executors.llm.api_key`) is sent, never logged.
//! - A status ≥ 400 is `HTTP_STATUS` as for `http.request` (429 and 5xx
//!   retryable); a reply that is not a chat completion is `LLM_BAD_REPLY`;
//!   a worker without `executors.llm.base_url` fails the step with
//!   `EXECUTOR_NOT_CONFIGURED`.
//!
//! It shares the `http.request` executor's client (one connection pool).

#![allow(
    clippy::result_large_err,
    reason = "ErrorInfo is the step's error as stored; built once per failure"
)]

#[cfg(test)]
mod tests;

use super::Outcome;
use super::http::{self, BodyError, HttpExecutor};
use super::io_common::{self, invalid_input, timed_out};
use chrono::{DateTime, Utc};
use junction_core::wire::ErrorInfo;
use junction_core::wire::error::codes;
use junction_runtime::config::Config;
use reqwest::Url;
use serde_json::{Map, Value, json};

const EXECUTOR: &str = "llm";

/// Calls the configured chat-completions endpoint for `llm` steps.
pub struct LlmExecutor {
    client: reqwest::Client,
    /// `<base_url>/chat/completions`; `None` when no base URL is configured.
    endpoint: Option<Url>,
    api_key: Option<String>,
    payload_limit: usize,
}

impl LlmExecutor {
    /// From `executors.llm.*`, sharing `http`'s client.
    pub fn from_config(config: &Config, http: &HttpExecutor) -> anyhow::Result<Self> {
        let llm = &config.executors.llm;
        Self::new(
            http,
            llm.base_url.as_deref(),
            llm.api_key.clone(),
            config.limits.payload_bytes,
        )
    }

    /// `base_url` like `https://host/v1` (a trailing `/` or not).
    pub fn new(
        http: &HttpExecutor,
        base_url: Option<&str>,
        api_key: Option<String>,
        payload_limit: usize,
    ) -> anyhow::Result<Self> {
        let endpoint = match base_url.filter(|url| !url.trim().is_empty()) {
            None => None,
            Some(base) => {
                let joined = format!("{}/chat/completions", base.trim_end_matches('/'));
                let url = Url::parse(&joined)
                    .map_err(|e| anyhow::anyhow!("executors.llm.base_url {base:?}: {e}"))?;
                Some(url)
            }
        };
        Ok(Self {
            client: http.client().clone(),
            endpoint,
            api_key: api_key.filter(|key| !key.is_empty()),
            payload_limit,
        })
    }

    /// Runs one `llm` step by `deadline`.
    pub async fn run(&self, input: &Value, deadline: DateTime<Utc>) -> Outcome {
        let (request, deadline) = match request_body(input, deadline) {
            Ok(prepared) => prepared,
            Err(error) => return Outcome::failed(error),
        };
        let Some(endpoint) = &self.endpoint else {
            return Outcome::failed(
                ErrorInfo::new(
                    codes::EXECUTOR_NOT_CONFIGURED,
                    "llm: this worker has no executors.llm.base_url (JUNCTION_EXECUTORS__LLM__BASE_URL)",
                )
                .not_retryable(),
            );
        };
        let seconds = io_common::remaining(deadline).as_secs_f64();
        let call = self.complete(endpoint, &request);
        match tokio::time::timeout_at(io_common::instant(deadline), call).await {
            Ok(Ok(output)) => Outcome::succeeded(output),
            Ok(Err(error)) => Outcome::failed(error),
            Err(_) => timed_out(format!(
                "llm: no complete reply from the model within {seconds:.1} s"
            )),
        }
    }

    /// The call and the reading of its reply.
    async fn complete(&self, endpoint: &Url, request: &Value) -> Result<Value, ErrorInfo> {
        let body = serde_json::to_vec(request).unwrap_or_default();
        if body.len() > self.payload_limit {
            return Err(http::too_large(format!(
                "llm: the request has {} bytes; the limit is {}",
                body.len(),
                self.payload_limit
            )));
        }
        let mut call = self
            .client
            .post(endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = &self.api_key {
            call = call.bearer_auth(key);
        }
        let mut response = call.send().await.map_err(http::transport_error)?;
        if response.status().as_u16() >= 400 {
            return Err(http::failed_status(&mut response).await);
        }
        let bytes = http::read_limited(&mut response, self.payload_limit)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge => http::too_large(format!(
                    "llm: the reply passed the limit of {} bytes",
                    self.payload_limit
                )),
                BodyError::Transport(error) => http::transport_error(error),
            })?;
        let reply = serde_json::from_slice::<Value>(&bytes).map_err(|e| {
            bad_reply(format!(
                "the reply is not JSON ({e}): {}",
                io_common::preview(&String::from_utf8_lossy(&bytes), 200)
            ))
        })?;
        completion(&reply, request)
    }
}

/// The chat-completions request of an `llm` input, and the deadline.
fn request_body(
    input: &Value,
    deadline: DateTime<Utc>,
) -> Result<(Value, DateTime<Utc>), ErrorInfo> {
    let fields = io_common::object(EXECUTOR, input)?;
    let deadline = io_common::effective_deadline(EXECUTOR, fields, deadline)?;
    let model = io_common::optional_str(EXECUTOR, fields, "model")?
        .filter(|model| !model.is_empty())
        .ok_or_else(|| invalid_input(EXECUTOR, "`model` is required"))?;
    let mut request = Map::new();
    request.insert("model".into(), Value::String(model.to_owned()));
    request.insert("messages".into(), messages(fields)?);
    match fields.get("temperature") {
        None | Some(Value::Null) => {}
        Some(Value::Number(temperature)) => {
            request.insert("temperature".into(), Value::Number(temperature.clone()));
        }
        Some(_) => return Err(invalid_input(EXECUTOR, "`temperature` must be a number")),
    }
    match fields.get("max_tokens") {
        None | Some(Value::Null) => {}
        Some(tokens) if tokens.as_u64().is_some_and(|n| n > 0) => {
            request.insert("max_tokens".into(), tokens.clone());
        }
        Some(_) => {
            return Err(invalid_input(
                EXECUTOR,
                "`max_tokens` must be a positive integer",
            ));
        }
    }
    Ok((Value::Object(request), deadline))
}

/// `prompt` as one user message, or `messages` as given: exactly one.
fn messages(fields: &Map<String, Value>) -> Result<Value, ErrorInfo> {
    let prompt = io_common::optional_str(EXECUTOR, fields, "prompt")?;
    let messages = fields.get("messages").filter(|m| !m.is_null());
    match (prompt, messages) {
        (Some(_), Some(_)) => Err(invalid_input(
            EXECUTOR,
            "give `prompt` or `messages`, not both",
        )),
        (Some(prompt), None) => Ok(json!([{"role": "user", "content": prompt}])),
        (None, Some(Value::Array(list)))
            if !list.is_empty()
                && list
                    .iter()
                    .all(|m| m.get("role").is_some_and(Value::is_string)) =>
        {
            Ok(Value::Array(list.clone()))
        }
        (None, Some(_)) => Err(invalid_input(
            EXECUTOR,
            "`messages` must be a non-empty array of objects with a `role`",
        )),
        (None, None) => Err(invalid_input(
            EXECUTOR,
            "`prompt` or `messages` is required",
        )),
    }
}

/// `{content, model, usage}` of a chat completion.
fn completion(reply: &Value, request: &Value) -> Result<Value, ErrorInfo> {
    let message = reply
        .get("choices")
        .and_then(|choices| choices.get(0))
        .and_then(|choice| choice.get("message"))
        .ok_or_else(|| {
            bad_reply(format!(
                "the reply has no choices[0].message: {}",
                io_common::preview(&reply.to_string(), 200)
            ))
        })?;
    let content = match message.get("content") {
        Some(Value::String(content)) => content.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => {
            return Err(bad_reply(format!(
                "choices[0].message.content is {}, not text",
                io_common::kind(other)
            )));
        }
    };
    let model = reply
        .get("model")
        .filter(|m| m.is_string())
        .unwrap_or(&request["model"]);
    let usage = reply.get("usage").cloned().unwrap_or(Value::Null);
    Ok(json!({"content": content, "model": model, "usage": usage}))
}

fn bad_reply(message: String) -> ErrorInfo {
    ErrorInfo::new(codes::LLM_BAD_REPLY, format!("llm: {message}"))
}
