//! What Postgres can store: its `text` and `jsonb` cannot hold U+0000 (NUL),
//! so a string holding one (a value or an object key, at any depth) is
//! refused where it enters: a signal is rejected `invalid_value`, a control
//! request `INVALID_REQUEST`, and a value a step produces fails the step with
//! `INVALID_OUTPUT` (never retried: the same step gives the same value).
//! Pure checks; the callers decide what a refusal means.

use super::ErrorInfo;
use super::error::codes;
use serde_json::Value;

/// Whether `text` holds U+0000.
pub fn text_has_nul(text: &str) -> bool {
    text.contains('\0')
}

/// Whether a string anywhere in `value`, object keys included, holds U+0000.
pub fn has_nul(value: &Value) -> bool {
    nul_path(value).is_some()
}

/// Where the first string holding U+0000 is in `value`, as a path from `$`
/// (`$.a[2]`, a key holding one shown with `\u0000`); `None` when there is none.
pub fn nul_path(value: &Value) -> Option<String> {
    let mut path = String::from("$");
    find(value, &mut path).then_some(path)
}

fn find(value: &Value, path: &mut String) -> bool {
    match value {
        Value::String(s) => text_has_nul(s),
        Value::Array(items) => items.iter().enumerate().any(|(index, item)| {
            let len = path.len();
            path.push_str(&format!("[{index}]"));
            let found = find(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Object(fields) => fields.iter().any(|(key, item)| {
            let len = path.len();
            path.push('.');
            path.push_str(&key.replace('\0', "\\u0000"));
            let found = text_has_nul(key) || find(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The `INVALID_OUTPUT` failure of a step whose `what` (its output, its
/// error…) cannot be stored, or `None` when `value` can be. Not retryable.
pub fn invalid_output(what: &str, value: &Value) -> Option<ErrorInfo> {
    let at = nul_path(value)?;
    Some(
        ErrorInfo::new(
            codes::INVALID_OUTPUT,
            format!("the step's {what} holds U+0000 (NUL) at {at}, which cannot be stored"),
        )
        .not_retryable(),
    )
}

/// Any text a property test throws at a decoder: arbitrary strings, short
/// ones rich in NUL and non-ASCII, NUL alone, and long runs of one char.
#[cfg(test)]
pub(crate) fn hostile_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        any::<String>(),
        "[a-z\u{0}\u{fffd}é]{0,12}",
        Just("\u{0}".to_owned()),
        (0..20_000usize, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_found_in_values_and_keys_at_any_depth() {
        assert_eq!(
            nul_path(&json!({"a": [1, "x", {"b": "y\u{0}"}]})).as_deref(),
            Some("$.a[2].b")
        );
        assert_eq!(
            nul_path(&json!({"a\u{0}": 1})).as_deref(),
            Some("$.a\\u0000")
        );
        assert_eq!(nul_path(&json!("\u{0}")).as_deref(), Some("$"));
        assert_eq!(nul_path(&json!({"a": ["x", {"b": "y"}], "c": null})), None);
        assert!(!has_nul(&json!("\\u0000 is only text here")));
        let error = invalid_output("output", &json!({"s": "\u{0}"})).expect("refused");
        assert_eq!(
            (error.code.as_str(), error.retryable),
            ("INVALID_OUTPUT", Some(false))
        );
        assert!(!error.message.contains('\0'));
        assert!(invalid_output("output", &json!({"s": "fine"})).is_none());
    }
}
