//! The two CloudEvents content modes, turned into one envelope object for
//! [`super::validate`]: structured (the event as JSON, `data_base64`
//! decoded into `data`) and binary (`ce-*` headers, `data` in the body).

use super::{BINARY_ATTRIBUTE_PREFIX, Rejection, is_valid_attribute_name, text};
use crate::wire::storable::{has_nul, text_has_nul};
use serde_json::{Map, Value};

/// The structured event: a JSON object whose keys are attribute names, plus
/// `data` or `data_base64` (decoded here into `data`).
pub(super) fn structured_envelope(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let envelope: Value = serde_json::from_slice(body).map_err(|_| Rejection::MalformedJson)?;
    let Value::Object(mut object) = envelope else {
        return Err(Rejection::NotAnObject);
    };
    if object
        .iter()
        .any(|(key, value)| text_has_nul(key) || has_nul(value))
    {
        return Err(Rejection::InvalidValue);
    }
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
pub(super) fn binary_envelope(
    body: &[u8],
    headers: &[(&str, &str)],
) -> Result<Map<String, Value>, Rejection> {
    let mut object = Map::new();
    let mut content_type = None;
    if headers
        .iter()
        .any(|(name, value)| text_has_nul(name) || text_has_nul(&percent_decode(value)))
    {
        return Err(Rejection::InvalidValue);
    }
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

/// `%XX` sequences decoded (`percent-encoding`); a value that does not
/// decode to UTF-8 is kept as it came.
pub(super) fn percent_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map_or_else(|_| value.to_owned(), |decoded| decoded.into_owned())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Standard base64 (RFC 4648 §4), padding optional, no whitespace.
pub(super) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    STANDARD_ANY_PADDING.decode(text).ok()
}
