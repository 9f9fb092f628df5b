//! Agent replies: `{output}` and `{error}` replies mutated as trees, random
//! trees, nesting past the parser's limit, and random bytes.

use crate::inputs::{self, TreeEdit};
use junction_core::wire::agent::AgentReply;
use proptest::prelude::*;
use serde_json::{Value, json};

fn replies() -> Vec<Value> {
    vec![
        json!({"output": {"x": "y", "n": 1}}),
        json!({"output": null}),
        json!({"error": {"code": "AGENT_FAILED", "message": "no", "retryable": false}}),
        json!({"error": {"code": "X", "message": "m"}, "output": 1}),
    ]
}

pub fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (prop::sample::select(replies()), inputs::tree_edits())
            .prop_map(|(mut reply, edits): (Value, Vec<TreeEdit>)| {
                inputs::apply_tree_edits(&mut reply, &edits);
                serde_json::to_vec(&reply).unwrap_or_default()
            }),
        2 => inputs::tree().prop_map(|t| serde_json::to_vec(&json!({"output": t})).unwrap_or_default()),
        1 => (inputs::depth(), any::<bool>()).prop_map(|(depth, objects)| {
            serde_json::to_vec(&json!({"output": inputs::nest(json!(1), depth, objects)})).unwrap_or_default()
        }),
        1 => inputs::deep_text().prop_map(|t| format!("{{\"output\":{t}}}").into_bytes()),
        1 => inputs::bytes(),
    ]
}

/// A reply decodes to what its body says, or is malformed; a decoded one
/// encodes back to a body that decodes the same.
pub fn check(body: Vec<u8>) -> Result<(), TestCaseError> {
    let Some(reply) = AgentReply::parse(&body) else {
        return Ok(());
    };
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| TestCaseError::fail(format!("decoded but not JSON: {e}")))?;
    match &reply {
        AgentReply::Output(output) => {
            prop_assert!(value.get("error").is_none());
            prop_assert_eq!(Some(output), value.get("output"));
        }
        AgentReply::Error(error) => {
            prop_assert_eq!(
                Some(&Value::from(error.code.clone())),
                value["error"].get("code")
            );
        }
    }
    let again =
        serde_json::to_vec(&reply.to_json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(AgentReply::parse(&again), Some(reply));
    Ok(())
}
