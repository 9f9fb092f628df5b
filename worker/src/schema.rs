//! A registered agent's JSON Schema, compiled once, and the human-readable
//! list of what an instance gets wrong (PROTOCOL §5).
//!
//! Messages name each violation with its instance path (a JSON pointer, or
//! `(root)`), list at most [`MAX_VIOLATIONS`] of them, and cut long ones, so
//! a step error or warning stays readable whatever the payload.

use serde_json::Value;

/// Violations listed in one message; the rest are counted.
pub const MAX_VIOLATIONS: usize = 5;
/// Characters kept of one violation's text (it may quote the instance).
const MAX_VIOLATION_CHARS: usize = 200;

/// A schema from the registry with its compiled validator.
#[derive(Debug)]
pub struct Schema {
    /// The schema as stored, to tell whether a refreshed registry entry
    /// changed it (then it is compiled again) or not (the validator is kept).
    pub source: Value,
    /// `Err` when the stored schema does not compile (agent files are not
    /// checked when synced): the message says why.
    validator: Result<jsonschema::Validator, String>,
}

impl Schema {
    pub fn compile(source: Value) -> Self {
        let validator = jsonschema::validator_for(&source).map_err(|e| e.to_string());
        Self { source, validator }
    }

    /// `Ok` when `instance` satisfies the schema; otherwise the violations,
    /// described as `<path>: <problem>` and capped (see the module header).
    pub fn check(&self, instance: &Value) -> Result<(), String> {
        let validator = match &self.validator {
            Ok(validator) => validator,
            Err(error) => return Err(format!("the schema itself is invalid: {error}")),
        };
        if validator.is_valid(instance) {
            return Ok(());
        }
        let mut listed = Vec::new();
        let mut total = 0usize;
        for error in validator.iter_errors(instance) {
            total += 1;
            if listed.len() < MAX_VIOLATIONS {
                let path = error.instance_path().to_string();
                let at = if path.is_empty() { "(root)" } else { &path };
                listed.push(format!("{at}: {}", cut(&error.to_string())));
            }
        }
        let mut message = listed.join("; ");
        if total > listed.len() {
            message.push_str(&format!("; and {} more", total - listed.len()));
        }
        Err(message)
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() > MAX_VIOLATION_CHARS {
        format!(
            "{}…",
            text.chars().take(MAX_VIOLATION_CHARS).collect::<String>()
        )
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::compile(json!({
            "type": "object",
            "required": ["name"],
            "properties": { "n": { "type": "integer" }, "tags": { "type": "array", "items": { "type": "string" } } }
        }))
    }

    #[test]
    fn a_valid_instance_passes() {
        assert_eq!(schema().check(&json!({ "name": "x", "n": 1 })), Ok(()));
    }

    #[test]
    fn each_violation_is_listed_with_its_path() {
        let message = schema()
            .check(&json!({ "n": "one", "tags": ["a", 2] }))
            .expect_err("three violations");
        assert!(
            message.contains("(root): \"name\" is a required property"),
            "{message}"
        );
        assert!(message.contains("/n: "), "{message}");
        assert!(message.contains("/tags/1: "), "{message}");
    }

    #[test]
    fn violations_are_capped() {
        let many = Schema::compile(json!({ "type": "array", "items": { "type": "string" } }));
        let message = many
            .check(&json!([1, 2, 3, 4, 5, 6, 7, 8]))
            .expect_err("eight violations");
        assert!(message.starts_with("/0: 1 is not of type"), "{message}");
        assert!(message.ends_with("; and 3 more"), "{message}");
        assert_eq!(message.matches("; /").count(), MAX_VIOLATIONS - 1);
    }

    #[test]
    fn an_invalid_schema_is_reported_not_panicked() {
        let broken = Schema::compile(json!({ "type": 12 }));
        let message = broken.check(&json!({})).expect_err("cannot validate");
        assert!(
            message.starts_with("the schema itself is invalid"),
            "{message}"
        );
    }
}
