//! The control plane (PROTOCOL §4): request/reply on `wf.ctl.>` in one queue
//! group. Handlers only translate requests into store and driver calls;
//! decisions stay in the state machine.

pub(crate) mod agents;
pub(crate) mod approvals;
pub mod routes;
pub(crate) mod runs;
mod waiting;
pub mod workflows;

use crate::auth::{Caller, Tokens};
use crate::driver::Driver;
use futures::StreamExt;
use junction_bus::ControlSubject;
use junction_core::wire::control::{
    ControlError, ErrorCode, check_storable, ok_reply, parse_request,
};
use junction_core::wire::signal::is_valid_tenant;
use junction_store::Error as StoreError;
use serde_json::{Map, Value};
use std::sync::Arc;
use tokio::sync::{Semaphore, watch};

/// Queue group shared by every coordinator.
pub const QUEUE_GROUP: &str = "junction-coordinators";

/// A parsed request: its fields, the tenant it acts in and, with auth on,
/// who sent it.
pub struct Request {
    pub fields: Map<String, Value>,
    pub tenant: String,
    /// The token's caller; `None` with auth off (and for internal requests).
    pub caller: Option<Caller>,
}

impl Request {
    /// A request as sent, trusted as it is (auth off, or built internally).
    pub(crate) fn new(fields: Map<String, Value>) -> Result<Self, ControlError> {
        // Keys too, at any depth: the query's fields join the body's here.
        check_storable(&fields)?;
        let tenant = match fields.get("tenant") {
            None | Some(Value::Null) => "default".to_owned(),
            // Empty is absent, as over HTTP.
            Some(Value::String(t)) if t.is_empty() => "default".to_owned(),
            Some(Value::String(t)) if is_valid_tenant(t) => t.clone(),
            Some(other) => {
                return Err(ControlError::invalid(format!(
                    "tenant {other} must match [A-Za-z0-9_.-]{{1,64}}"
                )));
            }
        };
        Ok(Self {
            fields,
            tenant,
            caller: None,
        })
    }

    /// A request from outside (PROTOCOL §6). With `tokens` (auth on),
    /// `token` must be known (`UNAUTHENTICATED`) and list the request's
    /// tenant (`FORBIDDEN`); the caller is kept. A `token` field in the
    /// fields is dropped either way.
    pub(crate) fn authorized(
        mut fields: Map<String, Value>,
        tokens: Option<&Tokens>,
        token: Option<&str>,
    ) -> Result<Self, ControlError> {
        fields.remove("token");
        let caller = tokens.map(|t| t.caller(token)).transpose()?;
        let mut request = Self::new(fields)?;
        if let Some(caller) = &caller {
            caller.check_tenant(&request.tenant)?;
        }
        request.caller = caller;
        Ok(request)
    }

    /// The actor to record: the token's identity with auth on (whatever the
    /// request says), else the request's `actor`.
    pub fn actor(&self) -> Result<Option<String>, ControlError> {
        match &self.caller {
            Some(caller) => Ok(Some(caller.identity.clone())),
            None => Ok(self.optional_string("actor")?.map(str::to_owned)),
        }
    }

    /// A required string field.
    pub fn string(&self, key: &str) -> Result<&str, ControlError> {
        self.optional_string(key)?
            .ok_or_else(|| ControlError::invalid(format!("`{key}` is required")))
    }

    pub fn optional_string(&self, key: &str) -> Result<Option<&str>, ControlError> {
        match self.fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ControlError::invalid(format!("`{key}` must be a string"))),
        }
    }

    /// An optional integer field; `3.0` counts as the integer it is.
    pub fn optional_i64(&self, key: &str) -> Result<Option<i64>, ControlError> {
        let whole = |f: f64| {
            (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
        };
        match self.fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().and_then(whole))
                .map(Some)
                .ok_or_else(|| ControlError::invalid(format!("`{key}` must be an integer"))),
        }
    }

    /// `version`: a workflow revision, 1..2³¹-1 when given.
    pub fn optional_version(&self) -> Result<Option<i32>, ControlError> {
        self.optional_i64("version")?
            .map(|v| {
                i32::try_from(v).ok().filter(|v| *v >= 1).ok_or_else(|| {
                    ControlError::invalid("`version` must be between 1 and 2147483647")
                })
            })
            .transpose()
    }

    /// `limit`: default 100, at most 1000 (PROTOCOL §8.15).
    pub fn limit(&self) -> Result<i64, ControlError> {
        match self.optional_i64("limit")? {
            None => Ok(100),
            Some(n) if (1..=1000).contains(&n) => Ok(n),
            Some(_) => Err(ControlError::invalid("`limit` must be between 1 and 1000")),
        }
    }
}

pub type Reply = Result<Value, ControlError>;

/// Serves control requests until `stop` flips, then waits for in-flight replies.
pub async fn serve(driver: Driver, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let subjects = driver.subjects.clone();
    let mut requests = driver
        .client
        .queue_subscribe(subjects.control_wildcard(), QUEUE_GROUP.to_owned())
        .await?;
    let in_flight = Arc::new(Semaphore::new(256));
    loop {
        let message = tokio::select! {
            message = requests.next() => message,
            _ = stop.changed() => break,
        };
        let Some(message) = message else { break };
        let Some(reply_to) = message.reply.clone() else {
            continue;
        };
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let driver = driver.clone();
        tokio::spawn(async move {
            let reply = answer(&driver, &message).await;
            match serde_json::to_vec(&reply) {
                Ok(bytes) => {
                    if let Err(error) = driver.client.publish(reply_to, bytes.into()).await {
                        tracing::warn!(%error, "could not send control reply");
                    }
                }
                Err(error) => tracing::error!(%error, "cannot serialize a control reply"),
            }
            drop(permit);
        });
    }
    let _ = requests.unsubscribe().await;
    let _ = in_flight.acquire_many(256).await;
    Ok(())
}

/// The reply to one request: `{ok:true,…}` or `{ok:false,error}`.
async fn answer(driver: &Driver, message: &async_nats::Message) -> Value {
    let subject = driver.subjects.parse_control(&message.subject);
    match handle(driver, subject, &message.payload).await {
        Ok(fields) => ok_reply(fields),
        Err(error) => {
            if error.code == ErrorCode::Internal {
                tracing::error!(subject = %message.subject, error = %error.message, "control request failed");
            }
            error.to_reply()
        }
    }
}

/// Parses the payload, answers open verbs, authorizes the rest (PROTOCOL
/// §6), then dispatches through the route table. A subject no verb names
/// is `NOT_FOUND` once the request is authorized.
async fn handle(driver: &Driver, subject: Result<ControlSubject, &str>, payload: &[u8]) -> Reply {
    check_size(driver.payload_limit, subject.as_ref().ok(), payload.len())?;
    let mut fields = parse_request(payload)?;
    if let Ok(subject) = &subject
        && let Some(routes::Route {
            handler: routes::Handler::Open(handler),
            ..
        }) = routes::route(subject.verb())
    {
        return handler(driver).await;
    }
    let token = match fields.remove("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) => Some(token),
        Some(_) => return Err(ControlError::invalid("`token` must be a string")),
    };
    let request = Request::authorized(fields, driver.auth.as_deref(), token.as_deref())?;
    let subject = subject.map_err(routes::unknown)?;
    check_subject_id(subject.id())?;
    routes::dispatch(driver, &subject, &request).await
}

/// Refuses an id (a subject's token, an HTTP path's segment) holding
/// U+0000: no stored row can have it, and Postgres refuses it as a parameter.
pub fn check_subject_id(id: Option<&str>) -> Result<(), ControlError> {
    match id {
        Some(id) if junction_core::wire::storable::text_has_nul(id) => Err(ControlError::invalid(
            "the id must not contain NUL (U+0000), which cannot be stored",
        )),
        _ => Ok(()),
    }
}

/// Room for a request's envelope (ids, names, a token) around its payload,
/// as the HTTP API allows it.
pub const ENVELOPE_BYTES: usize = 16 * 1024;

/// A request body larger than the payload limit plus [`ENVELOPE_BYTES`] is
/// `PAYLOAD_TOO_LARGE`, as over HTTP; a definition (`workflows.put`,
/// `workflows.validate`) may be as large as a definition source.
fn check_size(
    payload_limit: usize,
    subject: Option<&ControlSubject>,
    len: usize,
) -> Result<(), ControlError> {
    let definition = matches!(
        subject,
        Some(ControlSubject::WorkflowsPut | ControlSubject::WorkflowsValidate)
    );
    let limit = if definition {
        payload_limit.max(junction_core::model::parse::MAX_SOURCE_BYTES)
    } else {
        payload_limit
    } + ENVELOPE_BYTES;
    if len > limit {
        return Err(ControlError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is {len} bytes; the limit is {limit}"),
        ));
    }
    Ok(())
}

/// The control error of a failure, told by its type (never its text): see
/// [`classify`]. The message is the failure's own (outermost) text.
pub fn internal(error: impl Into<anyhow::Error>) -> ControlError {
    let error = error.into();
    let message = error.to_string();
    classify(&error, message)
}

/// A [`ControlError`] the failure carries stays as it is; a failure caused by
/// a store error takes the store's code ([`StoreError::control_code`]:
/// `UNAVAILABLE` when the database is away); anything else is `INTERNAL`.
pub fn classify(error: &anyhow::Error, message: String) -> ControlError {
    if let Some(control) = error.downcast_ref::<ControlError>() {
        return control.clone();
    }
    let code = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<StoreError>())
        .map_or(ErrorCode::Internal, StoreError::control_code);
    ControlError::new(code, message)
}
