//! `wf.ctl.run.start`, `wf.ctl.runs.list`, `wf.ctl.run.<id>.get|events`,
//! the operator actions on a run (`cancel|pause|resume|redrive`) and
//! signals into it.

use super::{Reply, Request, internal};
use crate::driver::{Driver, StartRequest};
use junction_core::engine::{Answer, Input};
use junction_core::ids::is_valid_id;
use junction_core::status::RunStatus;
use junction_core::wire::control::{ControlError, ErrorCode};
use junction_store::RunFilter;
use serde_json::{Map, Value, json};

pub async fn start(driver: &Driver, request: &Request) -> Reply {
    let workflow_id = request.string("workflow_id")?;
    let input = match request.fields.get("input") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(input @ Value::Object(_)) => input.clone(),
        Some(_) => return Err(ControlError::invalid("`input` must be an object")),
    };
    let input_size = junction_core::wire::json_len(&input);
    if input_size > driver.payload_limit {
        return Err(ControlError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "input is {input_size} bytes; the limit is {}",
                driver.payload_limit
            ),
        ));
    }
    let version = request.optional_version()?;
    let record = driver
        .store
        .get_definition(&request.tenant, workflow_id, version)
        .await
        .map_err(internal)?
        .ok_or_else(|| ControlError::not_found(format!("workflow `{workflow_id}` not found")))?;
    let workflow = driver
        .catalog
        .get_or_compile(&request.tenant, workflow_id, record.version, record.ir)
        .map_err(internal)?;
    workflow
        .check_input(&input)
        .map_err(|message| ControlError::new(ErrorCode::InputSchema, message))?;
    // A concurrency key that does not render is the input's fault.
    workflow
        .concurrency_key(&input, None)
        .map_err(|message| ControlError::new(ErrorCode::InputSchema, message))?;
    let dedupe_key = request
        .optional_string("idempotency_key")?
        .map(|k| format!("key:{k}"));
    let started = driver
        .start_run(StartRequest {
            tenant: request.tenant.clone(),
            workflow,
            input,
            signal: None,
            causation_id: None,
            correlation_id: request
                .optional_string("correlation_id")?
                .map(str::to_owned),
            dedupe_key,
            parent: None,
            traceparent: None,
        })
        .await
        .map_err(internal)?;
    Ok(json!({ "run_id": started.run_id, "created": started.created }))
}

pub async fn list(driver: &Driver, request: &Request) -> Reply {
    let status = request
        .optional_string("status")?
        .map(|s| {
            s.parse::<RunStatus>()
                .map_err(|_| ControlError::invalid(format!("unknown status `{s}`")))
        })
        .transpose()?;
    let filter = RunFilter {
        tenant: request.tenant.clone(),
        workflow_id: request.optional_string("workflow_id")?.map(str::to_owned),
        status,
        causation_id: request.optional_string("causation_id")?.map(str::to_owned),
        correlation_id: request
            .optional_string("correlation_id")?
            .map(str::to_owned),
        limit: request.limit()?,
        cursor: request.optional_string("cursor")?.map(str::to_owned),
    };
    let (runs, more) = driver.store.list_runs(&filter).await.map_err(internal)?;
    let next_cursor = if more {
        runs.last().map(|r| r.id.clone())
    } else {
        None
    };
    let mut reply = json!({ "runs": runs });
    if let Some(cursor) = next_cursor {
        reply["next_cursor"] = Value::String(cursor);
    }
    Ok(reply)
}

fn checked_id(run_id: &str) -> Result<(), ControlError> {
    if is_valid_id(run_id) {
        Ok(())
    } else {
        Err(ControlError::invalid(format!(
            "run id {run_id:?} is not valid"
        )))
    }
}

/// `run.<id>.get`: a run of another tenant is `NOT_FOUND`.
pub async fn get(driver: &Driver, run_id: &str, request: &Request) -> Reply {
    checked_id(run_id)?;
    let run = driver.store.get_run(run_id).await.map_err(internal)?;
    let mut run = run
        .filter(|r| r.summary.tenant == request.tenant)
        .ok_or_else(|| ControlError::not_found(format!("run `{run_id}` not found")))?;
    super::waiting::explain(driver, &mut run).await;
    Ok(json!({ "run": run }))
}

pub async fn events(driver: &Driver, run_id: &str, request: &Request) -> Reply {
    checked_id(run_id)?;
    let after = request.optional_i64("after_seq")?.unwrap_or(0);
    let limit = request.limit()?;
    if driver
        .store
        .run_tenant(run_id)
        .await
        .map_err(internal)?
        .as_deref()
        != Some(request.tenant.as_str())
    {
        return Err(ControlError::not_found(format!("run `{run_id}` not found")));
    }
    let events = driver
        .store
        .events(run_id, after, limit)
        .await
        .map_err(internal)?;
    Ok(json!({ "events": events }))
}

/// An operator action on a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAction {
    Cancel,
    Pause,
    Resume,
}

impl RunAction {
    fn name(self) -> &'static str {
        match self {
            Self::Cancel => "cancelled",
            Self::Pause => "paused",
            Self::Resume => "resumed",
        }
    }
}

/// The run a request names, if it is the request's tenant's (another
/// tenant's run is `NOT_FOUND`).
async fn run_of(
    driver: &Driver,
    run_id: &str,
    request: &Request,
) -> Result<junction_store::RunSummary, ControlError> {
    checked_id(run_id)?;
    driver
        .store
        .get_run_summary(run_id)
        .await
        .map_err(internal)?
        .filter(|r| r.tenant == request.tenant)
        .ok_or_else(|| ControlError::not_found(format!("run `{run_id}` not found")))
}

/// Applies an operator's input to its run and turns the engine's answer
/// into the reply: the run's status after it, or the refusal's error.
async fn decide(
    driver: &Driver,
    run: &junction_store::RunSummary,
    input: Input,
) -> Result<RunStatus, ControlError> {
    let decided = driver
        .advance(&run.tenant, &run.workflow_id, run.version, &run.id, input)
        .await
        .map_err(internal)?
        .ok_or_else(|| ControlError::not_found(format!("run `{}` not found", run.id)))?;
    match decided.answer {
        Answer::Applied => Ok(decided.status),
        Answer::Rejected { code, message } => Err(ControlError::new(code, message)),
    }
}

/// `run.<id>.cancel|pause|resume {actor?, reason?}` → `{status}`: the
/// run's status after the action. Cancel stops running steps and child
/// runs; pause holds new steps back while steps in flight finish; resume
/// sends what was held. Whether the run's status allows the action is the
/// engine's answer (a run that ended, resuming a run that is not paused:
/// `INVALID_STATE`; repeating a cancel is ok).
pub async fn act(driver: &Driver, run_id: &str, request: &Request, action: RunAction) -> Reply {
    let run = run_of(driver, run_id, request).await?;
    let actor = request.actor()?;
    let reason = request.optional_string("reason")?.map(str::to_owned);
    let input = match action {
        RunAction::Cancel => Input::Cancel {
            actor: actor.clone(),
            reason,
        },
        RunAction::Pause => Input::Pause {
            actor: actor.clone(),
            reason,
        },
        RunAction::Resume => Input::Resume {
            actor: actor.clone(),
            reason,
        },
    };
    let status = decide(driver, &run, input).await?;
    tracing::info!(run_id, actor = ?actor, action = action.name(), status = status.as_str(), authenticated = request.caller.is_some(), "operator action");
    Ok(json!({ "status": status.as_str() }))
}

/// `run.<id>.redrive {actor?, reason?}` → `{status: "RUNNING"}`: a FAILED,
/// TIMED_OUT or CANCELLED run goes on in the same run id. The engine
/// replays it against each step's latest recorded attempt (read here; a
/// run that ended writes no attempt), so only what failed, was cancelled
/// or never finished runs again. Any other status is `INVALID_STATE`, the
/// engine's answer.
pub async fn redrive(driver: &Driver, run_id: &str, request: &Request) -> Reply {
    let run = run_of(driver, run_id, request).await?;
    let actor = request.actor()?;
    let reason = request.optional_string("reason")?.map(str::to_owned);
    let recorded = driver
        .store
        .recorded_attempts(run_id)
        .await
        .map_err(internal)?;
    let input = Input::Redrive {
        actor: actor.clone(),
        reason,
        recorded,
    };
    let status = decide(driver, &run, input).await?;
    tracing::info!(run_id, actor = ?actor, action = "redriven", status = status.as_str(), authenticated = request.caller.is_some(), "operator action");
    // The redrive took the run to RUNNING; the transition may already have
    // moved it on (to a wait, or to its end).
    Ok(json!({ "status": RunStatus::Running.as_str() }))
}

/// `run.<id>.signal {name, data?}` → `{}`: delivers a named signal into the
/// run. A `signal.wait` step waiting for it takes it; otherwise it is kept
/// for the next one (PROTOCOL §4). A run that ended refuses it
/// (`INVALID_STATE`, the engine's answer).
pub async fn signal(driver: &Driver, run_id: &str, request: &Request) -> Reply {
    checked_id(run_id)?;
    let name = request.string("name")?.to_owned();
    if !junction_core::model::parse::is_valid_signal_type(&name) {
        return Err(ControlError::invalid(format!(
            "signal name {name:?} must be dot-separated tokens of [A-Za-z0-9_-]"
        )));
    }
    let data = match request.fields.get("data") {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(_) => return Err(ControlError::invalid("`data` must be an object")),
    };
    let data_size = junction_core::wire::json_len(&data);
    if data_size > driver.payload_limit {
        return Err(ControlError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "data is {data_size} bytes; the limit is {}",
                driver.payload_limit
            ),
        ));
    }
    let run = run_of(driver, run_id, request).await?;
    let input = Input::SignalReceived {
        name,
        data,
        id: None,
    };
    decide(driver, &run, input).await?;
    Ok(json!({}))
}
