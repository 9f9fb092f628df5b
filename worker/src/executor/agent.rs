//! `agent.run` (PROTOCOL §5): a NATS request to `agents.<name>.run` with the
//! idempotency key as a header and in the body, bounded by the deadline.
//!
//! Around the call, the registry (PROTOCOL §5), through
//! the worker's [`AgentCatalog`] cache:
//! - an agent that is not registered in the run's tenant fails the step with
//!   `AGENT_NOT_FOUND` (not retryable), and nothing is called;
//! - an input that fails the agent's `input_schema` fails the step with
//!   `SCHEMA_VALIDATION_INPUT` (not retryable), and nothing is called;
//! - an output that fails its `output_schema` is still a success, with a
//!   `SCHEMA_VALIDATION_OUTPUT` warning recorded next to the result.
//!
//! An agent without a schema is not validated on that side. An agent whose
//! entry sets `circuit` is called through its breaker (`crate::circuit`).

use super::{BoxFuture, Execution, Executor, Outcome, Warning};
use crate::catalog::AgentCatalog;
use crate::circuit;
use async_nats::{HeaderMap, RequestError, RequestErrorKind};
use chrono::Utc;
use junction_bus::Subjects;
use junction_core::status::StepStatus;
use junction_core::wire::agent::{AgentReply, AgentRequest, IDEMPOTENCY_HEADER, ReplyRejection};
use junction_core::wire::error::codes;
use junction_core::wire::{ErrorInfo, StepTask, TaskAction, time};
use junction_runtime::otel;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The step's agent is not registered in the run's tenant (same code as the
/// definition-time diagnostic).
pub const AGENT_NOT_FOUND: &str = "AGENT_NOT_FOUND";
/// The warning code of an output that fails the agent's `output_schema`.
pub const SCHEMA_VALIDATION_OUTPUT: &str = "SCHEMA_VALIDATION_OUTPUT";

/// Calls agents over NATS request/reply.
pub struct AgentExecutor {
    pub client: async_nats::Client,
    pub subjects: Subjects,
    /// Largest accepted output, in bytes.
    pub payload_limit: usize,
    /// Which agents exist, and their schemas.
    pub catalog: Arc<AgentCatalog>,
}

impl Executor for AgentExecutor {
    fn execute<'a>(&'a self, execution: Execution<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(self.call(execution))
    }
}

impl AgentExecutor {
    /// Resolves the agent, checks the input, calls, checks the output.
    async fn call(&self, execution: Execution<'_>) -> Outcome {
        let task = execution.task;
        let TaskAction::AgentRun { agent, input, .. } = &task.action else {
            return not_mine(task);
        };
        let tenant = &task.workflow.tenant;
        let registered = match self.catalog.resolve(tenant, agent).await {
            Ok(Some(registered)) => registered,
            Ok(None) => {
                return Outcome::failed(
                    ErrorInfo::new(
                        AGENT_NOT_FOUND,
                        format!("agent \"{agent}\" not found in tenant \"{tenant}\""),
                    )
                    .not_retryable(),
                );
            }
            Err(error) => {
                return Outcome::Deferred {
                    reason: format!("cannot read the agent registry: {error}"),
                };
            }
        };
        if let Some(schema) = &registered.input_schema
            && let Err(violations) = schema.check(input)
        {
            return Outcome::failed(
                ErrorInfo::new(
                    codes::SCHEMA_VALIDATION_INPUT,
                    format!(
                        "input does not match the input_schema of agent \"{agent}\": {violations}"
                    ),
                )
                .not_retryable(),
            );
        }
        let mut outcome = match registered.circuit {
            None => self.request(task, &execution).await,
            Some(policy) => {
                let guarded = circuit::Guarded {
                    tenant,
                    agent,
                    policy,
                };
                self.guarded_request(guarded, task, &execution).await
            }
        };
        if let (Outcome::Succeeded { output, warnings }, Some(schema)) =
            (&mut outcome, &registered.output_schema)
            && let Err(violations) = schema.check(output)
        {
            warnings.push(Warning {
                code: SCHEMA_VALIDATION_OUTPUT,
                message: format!(
                    "output does not match the output_schema of agent \"{agent}\": {violations}"
                ),
            });
        }
        outcome
    }

    /// A call through the agent's circuit breaker: refused while it is
    /// open, reported after.
    async fn guarded_request(
        &self,
        guarded: circuit::Guarded<'_>,
        task: &StepTask,
        execution: &Execution<'_>,
    ) -> Outcome {
        let store = self.catalog.store();
        let admission = circuit::admit(store, guarded, execution.deadline).await;
        if let circuit::Admission::Refused { until } = admission {
            tracing::debug!(run_id = %task.run_id, step_id = %task.step_id, attempt = task.attempt, agent = guarded.agent, "circuit open; the agent is not called");
            return Outcome::failed(circuit::open_error(guarded.agent, until));
        }
        let outcome = self.request(task, execution).await;
        circuit::record(store, guarded, admission, &outcome).await;
        outcome
    }

    /// The NATS request itself and the reading of its reply.
    async fn request(&self, task: &StepTask, execution: &Execution<'_>) -> Outcome {
        let TaskAction::AgentRun { agent, .. } = &task.action else {
            return not_mine(task);
        };
        let Some(request) = agent_request(task, execution) else {
            return not_mine(task);
        };
        let body = match serde_json::to_vec(&request) {
            Ok(body) => body,
            Err(e) => {
                return Outcome::failed(ErrorInfo::new(
                    codes::INTERNAL,
                    format!("cannot encode agent request: {e}"),
                ));
            }
        };
        // The request names its own span, a child of the attempt's (built
        // only for export).
        let span = if otel::exporting() {
            tracing::info_span!(
                "AgentExecute",
                otel.kind = "client",
                agent_name = %agent,
                agent_run_id = %execution.idempotency_key,
                run_id = %task.run_id,
            )
        } else {
            tracing::Span::none()
        };
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_HEADER, execution.idempotency_key.as_str());
        let traceparent = otel::span_of(&span.context())
            .map(|context| context.traceparent())
            .or_else(|| task.traceparent.clone());
        if let Some(traceparent) = traceparent {
            headers.insert("traceparent", traceparent.as_str());
        }
        let timeout = (execution.deadline - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(1));
        let sent = async_nats::Request::new()
            .payload(body.into())
            .headers(headers)
            .timeout(Some(timeout));
        match self
            .client
            .send_request(self.subjects.agent_run(agent), sent)
            .instrument(span)
            .await
        {
            Ok(reply) => self.read_reply(agent, &reply.payload),
            Err(error) => self.request_failed(agent, task, &error),
        }
    }

    /// The agent's answer: its output, its error, or why it is unusable.
    fn read_reply(&self, agent: &str, payload: &[u8]) -> Outcome {
        if payload.len() > self.payload_limit {
            return Outcome::failed(
                ErrorInfo::new(
                    codes::PAYLOAD_TOO_LARGE,
                    format!(
                        "agent `{agent}` replied with {} bytes; the limit is {}",
                        payload.len(),
                        self.payload_limit
                    ),
                )
                .not_retryable(),
            );
        }
        match AgentReply::decode(payload) {
            Ok(AgentReply::Output(output)) => Outcome::succeeded(output),
            Ok(AgentReply::Error(error)) => {
                let mut info = ErrorInfo::new(&error.code, error.message);
                info.retryable = error.retryable;
                Outcome::failed(info)
            }
            // The same call gives the same reply: never retried.
            Err(rejection @ ReplyRejection::InvalidValue(_)) => Outcome::failed(
                ErrorInfo::new(
                    codes::INVALID_OUTPUT,
                    format!("agent `{agent}`: {rejection}"),
                )
                .not_retryable(),
            ),
            Err(ReplyRejection::Malformed) => Outcome::failed(ErrorInfo::new(
                codes::BAD_AGENT_REPLY,
                format!(
                    "agent `{agent}` replied with neither {{output}} nor {{error}}: {}",
                    preview(payload)
                ),
            )),
        }
    }

    /// A request that got no reply: nobody serving, no answer in time, or
    /// the connection's trouble.
    fn request_failed(&self, agent: &str, task: &StepTask, error: &RequestError) -> Outcome {
        match error.kind() {
            RequestErrorKind::NoResponders => Outcome::failed(ErrorInfo::new(
                codes::AGENT_UNAVAILABLE,
                format!(
                    "no agent `{agent}` is serving {}",
                    self.subjects.agent_run(agent)
                ),
            )),
            RequestErrorKind::TimedOut => Outcome::Failed {
                status: StepStatus::TimedOut,
                error: ErrorInfo::new(
                    codes::STEP_TIMEOUT,
                    format!(
                        "agent `{agent}` did not answer within {} s",
                        task.timeout_seconds
                    ),
                ),
            },
            _ => Outcome::failed(ErrorInfo::new(
                codes::AGENT_UNAVAILABLE,
                format!("request to agent `{agent}` failed: {error}"),
            )),
        }
    }
}

/// The request body an agent receives (PROTOCOL §5).
fn agent_request(task: &StepTask, execution: &Execution<'_>) -> Option<AgentRequest> {
    let TaskAction::AgentRun {
        task: text,
        input,
        variables,
        ..
    } = &task.action
    else {
        return None;
    };
    Some(AgentRequest {
        task: text
            .as_ref()
            .map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_owned)),
        input: input.clone(),
        variables: variables.clone(),
        run_id: task.run_id.clone(),
        step_id: task.step_id.clone(),
        attempt: task.attempt,
        idempotency_key: execution.idempotency_key.clone(),
        deadline: time::format(execution.deadline),
    })
}

/// A task of another executor handed to this one: a bug in the registry.
fn not_mine(task: &StepTask) -> Outcome {
    Outcome::failed(
        ErrorInfo::new(
            codes::INTERNAL,
            format!("the agent executor got a `{}` task", task.action.name()),
        )
        .not_retryable(),
    )
}

fn preview(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text.into_owned()
    }
}
