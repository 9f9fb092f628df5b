//! Signals ([protocol §2](../../../docs/protocol.md#2-signals)): CloudEvents
//! 1.0 on `signals.<type>`, in structured mode (the whole event as JSON in the
//! body, `data` or `data_base64`) or binary mode (attributes as `ce-*` NATS
//! headers, `data` in the body, its type in `content-type`), validated here
//! into a [`Signal`] or a rejection reason. Pure: the headers are passed in.

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
}

impl Rejection {
    /// Every reason (docs/protocol.md §2 lists them in the order they are checked).
    pub const ALL: [Rejection; 13] = [
        Self::TooLarge,
        Self::MalformedJson,
        Self::NotAnObject,
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
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::MalformedJson => "malformed_json",
            Self::NotAnObject => "not_an_object",
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
    validate(envelope, subject_type)
}

/// The structured event: a JSON object whose keys are attribute names, plus
/// `data` or `data_base64` (decoded here into `data`).
fn structured_envelope(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let envelope: Value = serde_json::from_slice(body).map_err(|_| Rejection::MalformedJson)?;
    let Value::Object(mut object) = envelope else {
        return Err(Rejection::NotAnObject);
    };
    if object
        .keys()
        .any(|k| k != "data" && k != "data_base64" && !is_valid_attribute_name(k))
    {
        return Err(Rejection::AttributeName);
    }
    if let Some(encoded) = object.remove("data_base64") {
        if object.contains_key("data") {
            return Err(Rejection::DataBase64);
        }
        let bytes = encoded
            .as_str()
            .and_then(decode_base64)
            .ok_or(Rejection::DataBase64)?;
        let content_type = text(&object, "datacontenttype");
        object.insert("data".into(), json_data(&bytes, content_type)?);
    }
    Ok(object)
}

/// The binary-mode event: one attribute per `ce-<name>` header (the name
/// lowercased, as HTTP headers are case-insensitive; the value
/// percent-decoded, as the CloudEvents HTTP binding and its SDKs encode it),
/// `content-type` as `datacontenttype`, and the body as `data`.
fn binary_envelope(body: &[u8], headers: &[(&str, &str)]) -> Result<Map<String, Value>, Rejection> {
    let mut object = Map::new();
    let mut content_type = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-type") {
            content_type.get_or_insert(*value);
            continue;
        }
        let Some(attribute) = strip_prefix_ignore_case(name, BINARY_ATTRIBUTE_PREFIX) else {
            continue;
        };
        let attribute = attribute.to_ascii_lowercase();
        if !is_valid_attribute_name(&attribute) || attribute == "data" {
            return Err(Rejection::AttributeName);
        }
        object
            .entry(attribute)
            .or_insert_with(|| Value::String(percent_decode(value)));
    }
    if let Some(content_type) = content_type {
        object
            .entry("datacontenttype")
            .or_insert_with(|| Value::String(content_type.to_owned()));
    }
    if !body.iter().all(u8::is_ascii_whitespace) {
        let content_type = text(&object, "datacontenttype");
        object.insert("data".into(), json_data(body, content_type)?);
    }
    Ok(object)
}

/// `data` given as bytes: JSON when the content type is JSON (or absent).
fn json_data(bytes: &[u8], content_type: Option<&str>) -> Result<Value, Rejection> {
    if !content_type.is_none_or(is_json_content_type) {
        return Err(Rejection::DataNotObject);
    }
    serde_json::from_slice(bytes).map_err(|_| Rejection::MalformedJson)
}

/// `application/json`, `text/json` or any `…+json`, parameters ignored.
fn is_json_content_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media == "text/json" || media.ends_with("+json")
}

/// `%XX` sequences decoded; a value that does not decode to UTF-8, or has
/// a malformed sequence, is kept as it came.
fn percent_decode(value: &str) -> String {
    if !value.contains('%') {
        return value.to_owned();
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                None => return value.to_owned(),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_owned())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// CloudEvents attribute names: one or more of lowercase `a-z` and `0-9`
/// (at most 20 is only recommended, so longer names pass).
pub fn is_valid_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Standard base64 (RFC 4648 §4), padding optional, no whitespace.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn sextet(b: u8) -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2
        || (!text.len().is_multiple_of(4) && trimmed.len() != text.len())
    {
        return None;
    }
    let bytes = trimmed.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            acc |= sextet(*b)? << (18 - 6 * i);
        }
        let produced = chunk.len() - 1;
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + produced]);
    }
    Some(out)
}

/// The checks every event goes through, whatever its mode.
fn validate(object: Map<String, Value>, subject_type: &str) -> Result<Signal, Rejection> {
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
    #[test]
    fn binary_mode_takes_attributes_from_ce_headers_and_data_from_the_body() {
        let headers = [
            ("ce-specversion", "1.0"),
            ("ce-id", "b1"),
            ("ce-source", "sdk"),
            ("ce-type", "order.created"),
            ("ce-tenant", "acme"),
            ("Ce-CorrelationId", "c7"),
            ("ce-comment", "caf%C3%A9%20ok"),
            ("content-type", "application/json; charset=utf-8"),
            ("traceparent", "ignored-here"),
        ];
        let s = parse_message(br#"{"a":1}"#, &headers, "order.created", 1024).expect("valid");
        assert_eq!(s.id, "b1");
        assert_eq!(s.data, json!({"a":1}));
        assert_eq!(
            (s.tenant.as_str(), s.correlation_id.as_str()),
            ("acme", "c7")
        );
        assert_eq!(
            s.envelope["datacontenttype"],
            "application/json; charset=utf-8"
        );
        assert_eq!(s.envelope["comment"], "café ok");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%ff"), "%ff");
        assert_eq!(s.envelope["data"], json!({"a":1}));
        assert!(s.envelope.get("traceparent").is_none());
        // No body: data is {}; a body that is not a JSON object is refused.
        let s = parse_message(b"", &headers, "order.created", 1024).expect("valid");
        assert_eq!(s.data, json!({}));
        assert_eq!(
            parse_message(b"[1]", &headers, "order.created", 1024),
            Err(Rejection::DataNotObject)
        );
        assert_eq!(
            parse_message(b"{nope", &headers, "order.created", 1024),
            Err(Rejection::MalformedJson)
        );
        let mut text = headers.to_vec();
        text[7] = ("content-type", "text/plain");
        assert_eq!(
            parse_message(b"hello", &text, "order.created", 1024),
            Err(Rejection::DataNotObject)
        );
        // The same checks as structured mode, and the limit counts headers.
        assert_eq!(
            parse_message(b"{}", &headers, "other", 1024),
            Err(Rejection::TypeMismatch)
        );
        assert_eq!(
            parse_message(b"{}", &headers, "order.created", 100),
            Err(Rejection::TooLarge)
        );
        let mut bad = headers.to_vec();
        bad.push(("ce-my_ext", "x"));
        assert_eq!(
            parse_message(b"{}", &bad, "order.created", 1024),
            Err(Rejection::AttributeName)
        );
        bad.pop();
        bad.push(("ce-data", "x"));
        assert_eq!(
            parse_message(b"{}", &bad, "order.created", 1024),
            Err(Rejection::AttributeName)
        );
        // Without ce-specversion the body is a structured event.
        assert_eq!(
            parse_message(br#"{"a":1}"#, &headers[1..], "order.created", 1024),
            Err(Rejection::SpecVersion)
        );
    }

    #[test]
    fn data_base64_is_decoded_into_data() {
        // base64 of {"amount":42}
        let event = json!({"specversion":"1.0","id":"e1","source":"s","type":"x",
            "datacontenttype":"application/json","data_base64":"eyJhbW91bnQiOjQyfQ=="});
        let s = parse(&body(event), "x", 1024).expect("valid");
        assert_eq!(s.data, json!({"amount":42}));
        assert_eq!(s.envelope["data"], json!({"amount":42}));
        assert!(s.envelope.get("data_base64").is_none());
        let unpadded = json!({"specversion":"1.0","id":"e1","source":"s","type":"x","data_base64":"eyJhbW91bnQiOjQyfQ"});
        assert_eq!(
            parse(&body(unpadded), "x", 1024).map(|s| s.data),
            Ok(json!({"amount":42}))
        );
        for bad in [json!("not base64!"), json!(5), json!("eyJ=a")] {
            let event =
                json!({"specversion":"1.0","id":"e1","source":"s","type":"x","data_base64":bad});
            assert_eq!(
                parse(&body(event), "x", 1024),
                Err(Rejection::DataBase64),
                "{bad}"
            );
        }
        let both = json!({"specversion":"1.0","id":"e1","source":"s","type":"x","data":{},"data_base64":"e30="});
        assert_eq!(parse(&body(both), "x", 1024), Err(Rejection::DataBase64));
        // "WzFd" is [1]; "aGk=" is `hi` with a non-JSON type.
        let list =
            json!({"specversion":"1.0","id":"e1","source":"s","type":"x","data_base64":"WzFd"});
        assert_eq!(parse(&body(list), "x", 1024), Err(Rejection::DataNotObject));
        let text = json!({"specversion":"1.0","id":"e1","source":"s","type":"x","datacontenttype":"text/plain","data_base64":"aGk="});
        assert_eq!(parse(&body(text), "x", 1024), Err(Rejection::DataNotObject));
    }

    #[test]
    fn base64_decodes_every_length() {
        for (text, bytes) in [
            ("", &b""[..]),
            ("Zg==", b"f"),
            ("Zm8=", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYg==", b"foob"),
            ("Zm9vYmE=", b"fooba"),
            ("Zm9vYmFy", b"foobar"),
            ("+/+/", &[0xfb, 0xff, 0xbf]),
        ] {
            assert_eq!(decode_base64(text).as_deref(), Some(bytes), "{text}");
        }
        for bad in ["Z", "Zm9vY", "Zg===", "Zg=a", "Zm9v\n"] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn attribute_names_are_lowercase_letters_and_digits() {
        for good in [
            "id",
            "specversion",
            "ext1",
            "averyveryverylongextensionname",
        ] {
            assert!(is_valid_attribute_name(good), "{good}");
        }
        for bad in ["", "Id", "my_ext", "my-ext", "é"] {
            assert!(!is_valid_attribute_name(bad), "{bad}");
            let mut event = json!({"specversion":"1.0","id":"e1","source":"s","type":"x"});
            event[bad] = json!("v");
            assert_eq!(
                parse(&body(event), "x", 1024),
                Err(Rejection::AttributeName),
                "{bad}"
            );
        }
        let labels: std::collections::HashSet<_> =
            Rejection::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), Rejection::ALL.len());
    }
}
