//! Control requests: valid request bodies of the control verbs mutated as
//! trees, random trees, nesting past the parser's limit, and random bytes,
//! through the decoder every control request (NATS and HTTP) goes through.

use crate::inputs::{self, TreeEdit};
use junction_core::wire::control::{ErrorCode, parse_request};
use proptest::prelude::*;
use serde_json::{Value, json};

fn requests() -> Vec<Value> {
    vec![
        json!({"workflow_id": "w", "input": {"n": 1}, "idempotency_key": "k", "token": "t"}),
        json!({"source": "id: w\nstates: []\n", "format": "yaml"}),
        json!({"id": "a1", "decision": "approve", "comment": "ok", "data": {"x": [1, 2]}}),
        json!({"name": "echo", "input_schema": {"type": "object"}, "timeout_seconds": 30}),
        json!({"status": "RUNNING", "limit": 10, "cursor": "abc", "tenant": "t1"}),
        json!({"type": "order.created", "data": {"a": {"b": "c"}}}),
    ]
}

pub fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (prop::sample::select(requests()), inputs::tree_edits())
            .prop_map(|(mut request, edits): (Value, Vec<TreeEdit>)| {
                inputs::apply_tree_edits(&mut request, &edits);
                serde_json::to_vec(&request).unwrap_or_default()
            }),
        2 => inputs::tree().prop_map(|t| serde_json::to_vec(&t).unwrap_or_default()),
        1 => (inputs::depth(), any::<bool>()).prop_map(|(depth, objects)| {
            serde_json::to_vec(&json!({"input": inputs::nest(json!(1), depth, objects)})).unwrap_or_default()
        }),
        1 => inputs::deep_text().prop_map(String::into_bytes),
        1 => inputs::bytes(),
        1 => Just(b" \r\n\t".to_vec()),
    ]
}

/// An object, an empty body as `{}`, or `INVALID_REQUEST` with a message;
/// what decodes is the body's own object.
pub fn check(body: Vec<u8>) -> Result<(), TestCaseError> {
    match parse_request(&body) {
        Ok(fields) => {
            if body.iter().all(u8::is_ascii_whitespace) {
                prop_assert!(fields.is_empty());
            } else {
                let value: Value = serde_json::from_slice(&body)
                    .map_err(|e| TestCaseError::fail(format!("accepted but not JSON: {e}")))?;
                prop_assert_eq!(value, Value::Object(fields));
            }
        }
        Err(error) => {
            prop_assert_eq!(error.code, ErrorCode::InvalidRequest);
            prop_assert!(!error.message.trim().is_empty());
            let reply = error.to_reply();
            prop_assert_eq!(&reply["error"]["code"], "INVALID_REQUEST");
            prop_assert!(serde_json::to_vec(&reply).is_ok());
        }
    }
    Ok(())
}
