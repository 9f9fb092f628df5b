//! The agent call of PROTOCOL §5: the request a worker sends on
//! `agents.<name>.run`, and the reply it expects.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Header carrying `<run>:<step>:<attempt>` on every agent request.
pub const IDEMPOTENCY_HEADER: &str = "Junction-Idempotency-Key";

/// Body of an `agents.<name>.run` request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentRequest {
    /// The state's `task` (or prompt), templated.
    pub task: Option<String>,
    /// What the agent's `input_schema` validates.
    pub input: Value,
    /// The state's `variables`, templated.
    #[serde(default)]
    pub variables: Value,
    pub run_id: String,
    pub step_id: String,
    /// Starts at 1.
    pub attempt: u32,
    /// Exactly `<run_id>:<step_id>:<attempt>`.
    pub idempotency_key: String,
    /// RFC 3339 UTC.
    pub deadline: String,
}

/// Error half of an agent reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

/// A well-formed agent reply: `{output}` or `{error}`.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentReply {
    Output(Value),
    Error(AgentError),
}

/// Why an agent reply is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRejection {
    /// Not JSON, or neither `{output}` nor `{error: {code, message}}`
    /// (the step fails `BAD_AGENT_REPLY`).
    #[error("the reply is neither {{output}} nor {{error}}")]
    Malformed,
    /// A string holding U+0000, which cannot be stored, at the path given
    /// (the step fails `INVALID_OUTPUT`, never retried).
    #[error("the reply holds U+0000 (NUL) at {0}, which cannot be stored")]
    InvalidValue(String),
}

impl AgentReply {
    /// Parses a reply body. `None` means the reply is malformed
    /// (`BAD_AGENT_REPLY`) or cannot be stored: see [`AgentReply::decode`].
    pub fn parse(body: &[u8]) -> Option<Self> {
        Self::decode(body).ok()
    }

    /// Parses a reply body, saying why one is refused: malformed, or
    /// holding U+0000 anywhere (its output, its error, a key).
    pub fn decode(body: &[u8]) -> Result<Self, ReplyRejection> {
        let value: Value = serde_json::from_slice(body).map_err(|_| ReplyRejection::Malformed)?;
        let object = value.as_object().ok_or(ReplyRejection::Malformed)?;
        let reply = if let Some(error) = object.get("error") {
            // An object with a code (serde would also read a struct from an array).
            if !error.is_object() {
                return Err(ReplyRejection::Malformed);
            }
            let error: AgentError =
                serde_json::from_value(error.clone()).map_err(|_| ReplyRejection::Malformed)?;
            if error.code.is_empty() {
                return Err(ReplyRejection::Malformed);
            }
            AgentReply::Error(error)
        } else {
            let output = object.get("output").ok_or(ReplyRejection::Malformed)?;
            AgentReply::Output(output.clone())
        };
        match crate::wire::storable::nul_path(&reply.to_json()) {
            Some(at) => Err(ReplyRejection::InvalidValue(at)),
            None => Ok(reply),
        }
    }

    /// The JSON body an agent sends back.
    pub fn to_json(&self) -> Value {
        match self {
            AgentReply::Output(output) => serde_json::json!({ "output": output }),
            AgentReply::Error(error) => serde_json::json!({ "error": error }),
        }
    }
}

/// Body of an `agents.<name>.cancel` message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentCancel {
    pub idempotency_key: String,
    pub run_id: String,
    pub step_id: String,
    pub attempt: u32,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_error_must_be_an_object_with_a_code() {
        for body in [
            br#"{"error":["X","m"]}"#.as_slice(),
            br#"{"error":{"code":"","message":"m"}}"#,
        ] {
            assert_eq!(
                AgentReply::decode(body),
                Err(ReplyRejection::Malformed),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn replies_parse_by_shape() {
        assert_eq!(
            AgentReply::parse(br#"{"output":{"a":1}}"#),
            Some(AgentReply::Output(json!({"a":1})))
        );
        assert!(matches!(
            AgentReply::parse(br#"{"error":{"code":"X","message":"m","retryable":false}}"#),
            Some(AgentReply::Error(AgentError {
                retryable: Some(false),
                ..
            }))
        ));
        assert_eq!(AgentReply::parse(br#"{"result":1}"#), None);
        assert_eq!(AgentReply::parse(b"not json"), None);
        assert_eq!(AgentReply::parse(br#"{"error":"flat"}"#), None);
    }
}

#[cfg(test)]
mod properties {
    //! Any text in an agent's output or error: a reply or a rejection,
    //! never a panic; U+0000 always refused `InvalidValue`.
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    use crate::wire::storable::hostile_text as text;

    #[test]
    fn nul_in_a_reply_is_invalid_value() {
        for body in [
            r#"{"output":"\u0000"}"#,
            r#"{"output":{"a":["x",{"b\u0000":1}]}}"#,
            r#"{"error":{"code":"X","message":"m\u0000"}}"#,
        ] {
            assert!(
                matches!(
                    AgentReply::decode(body.as_bytes()),
                    Err(ReplyRejection::InvalidValue(_))
                ),
                "{body}"
            );
        }
        assert_eq!(
            AgentReply::decode(br#"{"output":"\ud800"}"#),
            Err(ReplyRejection::Malformed)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_text_is_a_reply_or_a_rejection(
            key in text(), value in text(), as_error in any::<bool>(),
        ) {
            let body = if as_error {
                json!({ "error": { "code": key, "message": value } })
            } else {
                json!({ "output": { key.clone(): [value.clone()] } })
            };
            let bytes = serde_json::to_vec(&body).expect("serializes");
            let nul = key.contains('\0') || value.contains('\0');
            // An error must name its code.
            let no_code = as_error && key.is_empty();
            match AgentReply::decode(&bytes) {
                Ok(reply) => {
                    prop_assert!(!nul && !no_code);
                    prop_assert_eq!(reply.to_json(), body);
                }
                Err(rejection) if no_code => {
                    prop_assert_eq!(rejection, ReplyRejection::Malformed);
                }
                Err(rejection) => {
                    prop_assert!(nul, "{rejection:?}");
                    prop_assert!(matches!(rejection, ReplyRejection::InvalidValue(_)));
                }
            }
        }
    }
}
