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

impl AgentReply {
    /// Parses a reply body. `None` means the reply is malformed (`BAD_AGENT_REPLY`).
    pub fn parse(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let object = value.as_object()?;
        if let Some(error) = object.get("error") {
            return serde_json::from_value(error.clone())
                .ok()
                .map(AgentReply::Error);
        }
        object.get("output").cloned().map(AgentReply::Output)
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
