//! Signals ([protocol §2](../../../docs/protocol.md#2-signals)): CloudEvents
//! 1.0 on `signals.<type>`, in structured mode (the whole event as JSON in the
//! body, `data` or `data_base64`) or binary mode (attributes as `ce-*` NATS
//! headers, `data` in the body, its type in `content-type`), validated here
//! into a [`Signal`] or a rejection reason. Pure: the headers are passed in.

mod content;

use self::content::{binary_envelope, structured_envelope};
use super::storable::{has_nul, text_has_nul};
use serde_json::{Map, Value};

/// Longest accepted CloudEvent `id`.
pub const MAX_SIGNAL_ID_CHARS: usize = 256;

/// Prefix of the NATS headers that carry attributes in binary mode.
pub const BINARY_ATTRIBUTE_PREFIX: &str = "ce-";

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
    /// The whole CloudEvent in structured form, stored as `context.signal`:
    /// a binary-mode event's attributes with its `data`, and a
    /// `data_base64` replaced by the `data` it decodes to.
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
    /// A string holding U+0000 (NUL), which Postgres cannot store: in any
    /// attribute, in `data`, in an object key, in a binary-mode header
    /// (name or percent-decoded value) or body, or in decoded `data_base64`.
    InvalidValue,
    /// An attribute name (a top-level key in structured mode, what follows
    /// `ce-` in binary mode) that is not lowercase `a-z0-9`, or the
    /// reserved `data` as a binary-mode header.
    AttributeName,
    SpecVersion,
    MissingId,
    IdTooLong,
    MissingSource,
    TypeMismatch,
    DataNotObject,
    /// `data_base64` that is not a base64 string, or that comes with `data`.
    DataBase64,
    BadTenant,
    /// The input failed a workflow's `inputSchema`.
    InputSchema,
    /// A valid signal whose processing failed for good (a stored workflow
    /// that no longer compiles, a value the database refuses): retrying
    /// cannot fix it, so it is dropped, and counted here.
    Unprocessable,
}

impl Rejection {
    /// Every reason (docs/protocol.md §2 lists them in the order they are checked).
    pub const ALL: [Rejection; 15] = [
        Self::TooLarge,
        Self::MalformedJson,
        Self::NotAnObject,
        Self::InvalidValue,
        Self::AttributeName,
        Self::SpecVersion,
        Self::MissingId,
        Self::IdTooLong,
        Self::MissingSource,
        Self::TypeMismatch,
        Self::DataNotObject,
        Self::DataBase64,
        Self::BadTenant,
        Self::InputSchema,
        Self::Unprocessable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::MalformedJson => "malformed_json",
            Self::NotAnObject => "not_an_object",
            Self::InvalidValue => "invalid_value",
            Self::AttributeName => "attribute_name",
            Self::SpecVersion => "specversion",
            Self::MissingId => "missing_id",
            Self::IdTooLong => "id_too_long",
            Self::MissingSource => "missing_source",
            Self::TypeMismatch => "type_mismatch",
            Self::DataNotObject => "data_not_object",
            Self::DataBase64 => "data_base64",
            Self::BadTenant => "bad_tenant",
            Self::InputSchema => "input_schema",
            Self::Unprocessable => "unprocessable",
        }
    }
}

/// Validates a structured-mode message received on `signals.<subject_type>`
/// (no headers): [`parse_message`] without headers.
pub fn parse(body: &[u8], subject_type: &str, max_bytes: usize) -> Result<Signal, Rejection> {
    parse_message(body, &[], subject_type, max_bytes)
}

/// Validates a message received on `signals.<subject_type>` with its NATS
/// `headers` (name, value; the first value of each). A `ce-specversion`
/// header (any case) makes it binary mode; otherwise the body is the
/// structured event. In binary mode the limit counts the body and every
/// header's name and value.
pub fn parse_message(
    body: &[u8],
    headers: &[(&str, &str)],
    subject_type: &str,
    max_bytes: usize,
) -> Result<Signal, Rejection> {
    let binary = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("ce-specversion"));
    let size = if binary {
        headers
            .iter()
            .fold(body.len(), |n, (k, v)| n.saturating_add(k.len() + v.len()))
    } else {
        body.len()
    };
    if size > max_bytes {
        return Err(Rejection::TooLarge);
    }
    let envelope = if binary {
        binary_envelope(body, headers)?
    } else {
        structured_envelope(body)?
    };
    // A binary-mode body becomes `data` one level down: the stored envelope
    // must still read back under serde_json's nesting limit (128).
    let depth = envelope
        .values()
        .map(crate::model::parse::nesting_depth)
        .max()
        .map_or(0, |deepest| deepest + 1);
    if depth > MAX_ENVELOPE_DEPTH {
        return Err(Rejection::MalformedJson);
    }
    validate(envelope, subject_type)
}

/// How deep a signal's envelope may nest (`data` included) to be stored and read back.
pub const MAX_ENVELOPE_DEPTH: usize = 120;

/// CloudEvents attribute names: one or more of lowercase `a-z` and `0-9`
/// (at most 20 is only recommended, so longer names pass).
pub fn is_valid_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The checks every event goes through, whatever its mode. U+0000 is
/// looked for once more in the whole envelope (each mode refuses it before
/// its attribute names; this covers what decoding produced).
fn validate(object: Map<String, Value>, subject_type: &str) -> Result<Signal, Rejection> {
    if object
        .iter()
        .any(|(key, value)| text_has_nul(key) || has_nul(value))
    {
        return Err(Rejection::InvalidValue);
    }
    if text(&object, "specversion") != Some("1.0") {
        return Err(Rejection::SpecVersion);
    }
    let id = text(&object, "id")
        .filter(|id| !id.is_empty())
        .ok_or(Rejection::MissingId)?;
    if id.chars().count() > MAX_SIGNAL_ID_CHARS {
        return Err(Rejection::IdTooLong);
    }
    let source = text(&object, "source")
        .filter(|s| !s.is_empty())
        .ok_or(Rejection::MissingSource)?;
    if text(&object, "type") != Some(subject_type) {
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
    let correlation_id = text(&object, "correlationid")
        .filter(|c| !c.is_empty())
        .unwrap_or(id)
        .to_owned();
    let target_run = text(&object, "subject")
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
        traceparent: text(&object, "traceparent").and_then(crate::trace::SpanContext::parse),
        envelope: Value::Object(object),
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
mod properties;
#[cfg(test)]
mod tests;
