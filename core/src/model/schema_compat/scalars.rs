//! Types and values: whether every type the output may produce is one the
//! input accepts, and whether its `enum`/`const` values are allowed.

use super::{Checker, Kind};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

impl Checker<'_> {
    pub(super) fn compare_types(
        &mut self,
        out: Option<&BTreeSet<&str>>,
        inp: Option<&BTreeSet<&str>>,
        path: &str,
    ) {
        let Some(inp) = inp else { return };
        let Some(out) = out else {
            self.note(
                Kind::Unchecked,
                path,
                format!(
                    "the input expects {} but the output does not declare a type",
                    list(inp)
                ),
            );
            return;
        };
        let accepts = |t: &str| inp.contains(t) || (t == "integer" && inp.contains("number"));
        let rejected: BTreeSet<&str> = out.iter().copied().filter(|t| !accepts(t)).collect();
        if rejected.is_empty() {
            return;
        }
        let coercible: BTreeSet<&str> = rejected
            .iter()
            .copied()
            .filter(|t| *t == "number" && inp.contains("integer"))
            .collect();
        if rejected.len() == out.len() && coercible.is_empty() {
            self.note(
                Kind::Fatal,
                path,
                format!(
                    "type mismatch: the output gives {}, the input expects {}",
                    list(out),
                    list(inp)
                ),
            );
        } else if !coercible.is_empty() && rejected.len() == coercible.len() {
            self.note(
                Kind::Risk,
                path,
                "the output gives a number, the input expects an integer: fractional values would be rejected",
            );
        } else {
            self.note(
                Kind::Risk,
                path,
                format!(
                    "the output may give {}, which the input ({}) does not accept",
                    list(&rejected),
                    list(inp)
                ),
            );
        }
    }

    pub(super) fn compare_values(
        &mut self,
        out: &Map<String, Value>,
        inp: &Map<String, Value>,
        path: &str,
    ) {
        let Some(allowed) = values(inp) else { return };
        match values(out) {
            Some(given) => {
                let outside: Vec<String> = given
                    .iter()
                    .filter(|v| !allowed.contains(v))
                    .map(|v| v.to_string())
                    .collect();
                if !outside.is_empty() {
                    self.note(
                        Kind::Fatal,
                        path,
                        format!(
                            "the output may give {}, outside the input's allowed values",
                            outside.join(", ")
                        ),
                    );
                }
            }
            None => self.note(
                Kind::Risk,
                path,
                format!(
                    "the input allows only {} but the output is not restricted to them",
                    allowed
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
}

/// The types a schema may produce or accept: its `type`, or what `const`,
/// `enum`, `properties`/`required` or `items` imply; `None` when unknown.
pub(super) fn types(schema: &Map<String, Value>) -> Option<BTreeSet<&str>> {
    const KNOWN: &[&str] = &[
        "null", "boolean", "object", "array", "number", "string", "integer",
    ];
    let declared: Option<BTreeSet<&str>> = match schema.get("type") {
        Some(Value::String(t)) => Some(KNOWN.iter().copied().filter(|k| k == t).collect()),
        Some(Value::Array(list)) => Some(
            KNOWN
                .iter()
                .copied()
                .filter(|k| list.iter().any(|t| t.as_str() == Some(k)))
                .collect(),
        ),
        _ => None,
    };
    if let Some(declared) = declared {
        // A `type` naming no known type says nothing usable.
        return (!declared.is_empty()).then_some(declared);
    }
    if let Some(values) = values(schema) {
        return Some(values.iter().map(|v| type_of(v)).collect());
    }
    let object_keys = ["properties", "required", "additionalProperties"];
    if object_keys.iter().any(|k| schema.contains_key(*k)) {
        return Some(BTreeSet::from(["object"]));
    }
    if schema.contains_key("items") || schema.contains_key("prefixItems") {
        return Some(BTreeSet::from(["array"]));
    }
    None
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The finite set of values a schema allows (`const`, or `enum`).
fn values(schema: &Map<String, Value>) -> Option<Vec<&Value>> {
    if let Some(constant) = schema.get("const") {
        return Some(vec![constant]);
    }
    schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|items| items.iter().collect())
}

fn list(types: &BTreeSet<&str>) -> String {
    match types.len() {
        0 => "no type".to_owned(),
        1 => types.iter().next().copied().unwrap_or_default().to_owned(),
        _ => types.iter().copied().collect::<Vec<_>>().join(" or "),
    }
}
