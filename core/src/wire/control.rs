//! Control-plane replies (PROTOCOL §4): `{"ok":true,…}` or
//! `{"ok":false,"error":{code,message,details?}}` with a closed list of codes.

use super::storable::{nul_path, text_has_nul};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The closed list of control error codes; never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidRequest,
    NotFound,
    ValidationFailed,
    InputSchema,
    InvalidState,
    AlreadyDecided,
    Unauthenticated,
    Forbidden,
    Conflict,
    PayloadTooLarge,
    Unavailable,
    Internal,
}

/// A control request that failed, ready to become a reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ControlError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
}

impl ControlError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The reply body.
    pub fn to_reply(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        json!({ "ok": false, "error": error })
    }
}

/// Builds `{"ok":true, …fields}` from an object of fields.
/// The HTTP addresses of the live coordinators in a `cluster.members`
/// reply (`{members: [{role, http_addr, …}]}`), in the reply's order.
pub fn coordinator_http_addrs(members_reply: &Value) -> Vec<String> {
    members_reply["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "coordinator")
        .filter_map(|m| m["http_addr"].as_str().map(str::to_owned))
        .collect()
}

pub fn ok_reply(fields: Value) -> Value {
    let mut out = Map::new();
    out.insert("ok".into(), Value::Bool(true));
    if let Value::Object(fields) = fields {
        out.extend(fields);
    }
    Value::Object(out)
}

/// Parses a request body; empty means `{}`. Malformed JSON, a non-object,
/// or a string holding U+0000 anywhere (keys included) is `INVALID_REQUEST`.
pub fn parse_request(body: &[u8]) -> Result<Map<String, Value>, ControlError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            check_storable(&map)?;
            Ok(map)
        }
        Ok(_) => Err(ControlError::invalid("the request must be a JSON object")),
        Err(e) => Err(ControlError::invalid(format!("malformed JSON: {e}"))),
    }
}

/// Refuses request fields holding U+0000 in a string or a key, at any
/// depth: Postgres text and jsonb cannot store it (`INVALID_REQUEST`).
pub fn check_storable(fields: &Map<String, Value>) -> Result<(), ControlError> {
    let nul = fields.iter().find_map(|(key, value)| {
        if text_has_nul(key) {
            return Some(format!("the key {}", key.replace('\0', "\\u0000")));
        }
        nul_path(value).map(|at| format!("`{key}` at {at}"))
    });
    match nul {
        None => Ok(()),
        Some(at) => Err(ControlError::invalid(format!(
            "text must not contain NUL (U+0000), which cannot be stored: {at}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_have_the_pinned_shape() {
        assert_eq!(ok_reply(json!({"id": "x"})), json!({"ok": true, "id": "x"}));
        let e = ControlError::new(ErrorCode::ValidationFailed, "bad")
            .with_details(json!({"diagnostics": []}));
        assert_eq!(
            e.to_reply(),
            json!({"ok": false, "error": {"code": "VALIDATION_FAILED", "message": "bad", "details": {"diagnostics": []}}})
        );
        assert_eq!(
            serde_json::to_value(ErrorCode::PayloadTooLarge).ok(),
            Some(json!("PAYLOAD_TOO_LARGE"))
        );
        assert!(parse_request(b"").is_ok());
        assert_eq!(
            parse_request(b"[").map_err(|e| e.code),
            Err(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            parse_request(b"[]").map_err(|e| e.code),
            Err(ErrorCode::InvalidRequest)
        );
    }
}

#[cfg(test)]
mod members_tests {
    use super::*;

    #[test]
    fn only_coordinators_with_an_address_are_listed() {
        let reply = json!({ "members": [
            { "role": "coordinator", "http_addr": "127.0.0.1:1" },
            { "role": "worker", "http_addr": "127.0.0.1:2" },
            { "role": "coordinator" },
            { "role": "coordinator", "http_addr": "127.0.0.1:3" },
        ]});
        assert_eq!(
            coordinator_http_addrs(&reply),
            ["127.0.0.1:1", "127.0.0.1:3"]
        );
        assert!(coordinator_http_addrs(&json!({})).is_empty());
    }
}

#[cfg(test)]
mod properties {
    //! Arbitrary text in any field or key of a request: parsed or refused
    //! `INVALID_REQUEST`, never a panic; U+0000 always refused.
    use super::*;
    use proptest::prelude::*;

    use crate::wire::storable::hostile_text as text;

    #[test]
    fn nul_in_any_field_or_key_is_invalid_request() {
        for body in [
            r#"{"id":"a\u0000"}"#,
            r#"{"a\u0000":1}"#,
            r#"{"input":{"deep":[1,{"k":"\u0000"}]}}"#,
            r#"{"input":{"k\u0000":1}}"#,
        ] {
            let error = parse_request(body.as_bytes()).expect_err(body);
            assert_eq!(error.code, ErrorCode::InvalidRequest, "{body}");
            assert!(!error.message.contains('\0'), "{body}");
        }
        assert!(parse_request(br#"{"id":"\\u0000 is text"}"#).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_text_is_parsed_or_refused(key in text(), value in text(), nested in any::<bool>()) {
            let field = if nested { json!({ "deep": [value.clone()] }) } else { json!(value.clone()) };
            let mut map = Map::new();
            map.insert(key.clone(), field);
            map.insert("workflow_id".into(), json!(value.clone()));
            let body = serde_json::to_vec(&Value::Object(map)).expect("serializes");
            match parse_request(&body) {
                Ok(fields) => prop_assert!(!key.contains('\0') && !value.contains('\0') && fields.len() <= 2),
                Err(error) => {
                    prop_assert_eq!(error.code, ErrorCode::InvalidRequest);
                    prop_assert!(key.contains('\0') || value.contains('\0'));
                }
            }
        }

        #[test]
        fn raw_escapes_never_panic(raw in prop_oneof![
            Just(r"\ud800".to_owned()), Just(r"\udfff".to_owned()), Just(r"\u0000".to_owned()),
            "[a-z]{0,3}(\\\\u[0-9a-fA-F]{4})?[a-z]{0,3}",
        ]) {
            let body = format!(r#"{{"id":"{raw}","input":{{"{raw}":"{raw}"}}}}"#);
            let result = parse_request(body.as_bytes());
            if raw.contains(r"\u0000") {
                prop_assert!(result.is_err());
            }
            if let Err(error) = result {
                prop_assert_eq!(error.code, ErrorCode::InvalidRequest);
            }
        }
    }
}
