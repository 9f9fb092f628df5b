//! Signals (PROTOCOL §2): CloudEvents 1.0 structured JSON on `signals.<type>`,
//! validated here into a [`Signal`] or a rejection reason. Pure.

use serde_json::{Map, Value};

/// Longest accepted CloudEvent `id`.
pub const MAX_SIGNAL_ID_CHARS: usize = 256;

/// A signal that passed envelope validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub id: String,
    pub source: String,
    pub signal_type: String,
    /// The `data` object, `{}` when absent.
    pub data: Value,
    pub tenant: String,
    /// `correlationid`, or the signal id when absent.
    pub correlation_id: String,
    /// `subject: run:<id>` delivers the signal to an existing run.
    pub target_run: Option<String>,
    /// The whole CloudEvent, stored as `context.signal`.
    pub envelope: Value,
    /// The CloudEvents distributed-tracing attribute `traceparent`: the
    /// span the run's root hangs under. An unreadable value is ignored, as
    /// W3C Trace Context asks.
    pub traceparent: Option<crate::trace::SpanContext>,
}

/// Why a signal was rejected; `as_str` is the `reason` label of
/// `junction_signals_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    TooLarge,
    MalformedJson,
    NotAnObject,
    SpecVersion,
    MissingId,
    IdTooLong,
    MissingSource,
    TypeMismatch,
    DataNotObject,
    BadTenant,
    /// The input failed a workflow's `inputSchema`.
    InputSchema,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::MalformedJson => "malformed_json",
            Self::NotAnObject => "not_an_object",
            Self::SpecVersion => "specversion",
            Self::MissingId => "missing_id",
            Self::IdTooLong => "id_too_long",
            Self::MissingSource => "missing_source",
            Self::TypeMismatch => "type_mismatch",
            Self::DataNotObject => "data_not_object",
            Self::BadTenant => "bad_tenant",
            Self::InputSchema => "input_schema",
        }
    }
}

/// Validates a message received on `signals.<subject_type>`.
pub fn parse(body: &[u8], subject_type: &str, max_bytes: usize) -> Result<Signal, Rejection> {
    if body.len() > max_bytes {
        return Err(Rejection::TooLarge);
    }
    let envelope: Value = serde_json::from_slice(body).map_err(|_| Rejection::MalformedJson)?;
    let object = envelope.as_object().ok_or(Rejection::NotAnObject)?;
    if text(object, "specversion") != Some("1.0") {
        return Err(Rejection::SpecVersion);
    }
    let id = text(object, "id")
        .filter(|id| !id.is_empty())
        .ok_or(Rejection::MissingId)?;
    if id.chars().count() > MAX_SIGNAL_ID_CHARS {
        return Err(Rejection::IdTooLong);
    }
    let source = text(object, "source")
        .filter(|s| !s.is_empty())
        .ok_or(Rejection::MissingSource)?;
    if text(object, "type") != Some(subject_type) {
        return Err(Rejection::TypeMismatch);
    }
    let data = match object.get("data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(data)) => Value::Object(data.clone()),
        Some(_) => return Err(Rejection::DataNotObject),
    };
    let tenant = match object.get("tenant") {
        None => "default".to_owned(),
        Some(Value::String(t)) if is_valid_tenant(t) => t.clone(),
        Some(_) => return Err(Rejection::BadTenant),
    };
    let correlation_id = text(object, "correlationid")
        .filter(|c| !c.is_empty())
        .unwrap_or(id)
        .to_owned();
    let target_run = text(object, "subject")
        .and_then(|s| s.strip_prefix("run:"))
        .map(str::to_owned);
    Ok(Signal {
        id: id.to_owned(),
        source: source.to_owned(),
        signal_type: subject_type.to_owned(),
        data,
        tenant,
        correlation_id,
        target_run,
        traceparent: text(object, "traceparent").and_then(crate::trace::SpanContext::parse),
        envelope,
    })
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// `[A-Za-z0-9_.-]{1,64}`.
pub fn is_valid_tenant(tenant: &str) -> bool {
    (1..=64).contains(&tenant.len())
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).expect("serializable")
    }

    #[test]
    fn a_valid_signal_parses_with_defaults() {
        let s = parse(&body(json!({"specversion":"1.0","id":"e1","source":"test","type":"order.created","data":{"a":1}})), "order.created", 1024)
            .expect("valid");
        assert_eq!(
            (s.tenant.as_str(), s.correlation_id.as_str()),
            ("default", "e1")
        );
        assert_eq!(s.data, json!({"a":1}));
        let s = parse(&body(json!({"specversion":"1.0","id":"e1","source":"t","type":"x","tenant":"acme","correlationid":"c9","subject":"run:r1"})), "x", 1024)
            .expect("valid");
        assert_eq!(
            (
                s.tenant.as_str(),
                s.correlation_id.as_str(),
                s.target_run.as_deref()
            ),
            ("acme", "c9", Some("r1"))
        );
        assert_eq!(s.data, json!({}));
    }

    #[test]
    fn every_envelope_mistake_has_a_reason() {
        let ok = json!({"specversion":"1.0","id":"e1","source":"s","type":"x"});
        let with = |k: &str, v: Value| {
            let mut o = ok.clone();
            o[k] = v;
            body(o)
        };
        assert_eq!(
            parse(b"{not json", "x", 1024),
            Err(Rejection::MalformedJson)
        );
        assert_eq!(parse(b"[1]", "x", 1024), Err(Rejection::NotAnObject));
        assert_eq!(
            parse(&with("specversion", json!("0.3")), "x", 1024),
            Err(Rejection::SpecVersion)
        );
        assert_eq!(
            parse(&with("id", json!("")), "x", 1024),
            Err(Rejection::MissingId)
        );
        assert_eq!(
            parse(&with("id", json!("i".repeat(257))), "x", 4096),
            Err(Rejection::IdTooLong)
        );
        assert_eq!(
            parse(&with("source", json!(null)), "x", 1024),
            Err(Rejection::MissingSource)
        );
        assert_eq!(
            parse(&body(ok.clone()), "y", 1024),
            Err(Rejection::TypeMismatch)
        );
        assert_eq!(
            parse(&with("data", json!([1])), "x", 1024),
            Err(Rejection::DataNotObject)
        );
        assert_eq!(
            parse(&with("tenant", json!("a b")), "x", 1024),
            Err(Rejection::BadTenant)
        );
        assert_eq!(parse(&body(ok), "x", 10), Err(Rejection::TooLarge));
    }
}
