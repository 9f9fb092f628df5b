//! `concurrency: {key, limit}` on a workflow (docs/language.md §1): at most
//! `limit` runs with the same rendered key are active at once; the others
//! wait `PENDING`. Here: compiling the field (shared by every front end)
//! and rendering a run's key from its input and signal. Pure.

use super::diag::Diagnostics;
use super::ir::Concurrency;
use super::path;
use crate::engine::template::{self, Scope};
use serde_json::{Map, Value, json};

/// Largest `limit` accepted.
pub const MAX_LIMIT: u64 = 100_000;
/// Longest rendered key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Names a key template may start with: the run input, the start context
/// (`ctx` is the input, `signal` the starting CloudEvent), or a bare key of
/// `ctx`. Nothing has run yet, so `steps` is refused.
const REFUSED_HEADS: &[&str] = &["steps"];

/// Compiles the top-level `concurrency` field, if present.
pub fn compile(top: &Map<String, Value>, diagnostics: &mut Diagnostics) -> Option<Concurrency> {
    let value = top.get("concurrency")?;
    let Some(object) = value.as_object() else {
        diagnostics.error(
            "INVALID_TYPE",
            "concurrency",
            "concurrency must be a mapping with `key` and `limit`",
        );
        return None;
    };
    diagnostics.unknown_fields(object, &["key", "limit"], "concurrency");
    let key = key(object.get("key"), diagnostics);
    let limit = limit(object.get("limit"), diagnostics);
    Some(Concurrency {
        key: key?,
        limit: limit?,
    })
}

fn key(value: Option<&Value>, diagnostics: &mut Diagnostics) -> Option<String> {
    let key = match value {
        Some(Value::String(key)) if !key.trim().is_empty() => key,
        Some(_) => {
            diagnostics.error(
                "INVALID_TYPE",
                "concurrency.key",
                "concurrency.key must be a non-empty string (a template such as `{{ input.customer }}`)",
            );
            return None;
        }
        None => {
            diagnostics.error(
                "MISSING_FIELD",
                "concurrency.key",
                "concurrency needs a `key`",
            );
            return None;
        }
    };
    let mut valid = true;
    for raw in template::paths_in(&Value::String(key.clone())) {
        let head = path::segments(&raw).and_then(|parts| parts.first().map(|h| (*h).to_owned()));
        match head {
            Some(head) if !REFUSED_HEADS.contains(&head.as_str()) => {}
            _ => {
                valid = false;
                diagnostics.error(
                    "TEMPLATE_PATH",
                    "concurrency.key",
                    format!(
                        "concurrency.key path `{raw}` must name the run input (`input.…`, `ctx.…`) or the starting signal (`signal.…`)"
                    ),
                );
            }
        }
    }
    valid.then(|| key.clone())
}

fn limit(value: Option<&Value>, diagnostics: &mut Diagnostics) -> Option<u32> {
    match value {
        Some(Value::Number(n)) => match n.as_u64() {
            Some(limit) if (1..=MAX_LIMIT).contains(&limit) => u32::try_from(limit).ok(),
            _ => {
                diagnostics.error(
                    "INVALID_VALUE",
                    "concurrency.limit",
                    format!("concurrency.limit must be an integer from 1 to {MAX_LIMIT}, not {n}"),
                );
                None
            }
        },
        Some(_) => {
            diagnostics.error(
                "INVALID_TYPE",
                "concurrency.limit",
                "concurrency.limit must be an integer",
            );
            None
        }
        None => {
            diagnostics.error(
                "MISSING_FIELD",
                "concurrency.limit",
                "concurrency needs a `limit`",
            );
            None
        }
    }
}

impl Concurrency {
    /// The key of a run started with `input` (and `signal`, the CloudEvent
    /// that started it). A string renders as it is, any other value as
    /// compact JSON. A path that resolves to nothing is an error.
    pub fn render_key(&self, input: &Value, signal: Option<&Value>) -> Result<String, String> {
        let context = json!({
            "ctx": input,
            "steps": {},
            "signal": signal.cloned().unwrap_or(Value::Null),
        });
        let scope = Scope {
            context: &context,
            input,
        };
        let rendered = template::render(&Value::String(self.key.clone()), &scope)
            .map_err(|e| format!("concurrency.key: {e}"))?;
        let key = match rendered {
            Value::String(key) => key,
            other => other.to_string(),
        };
        if key.len() > MAX_KEY_BYTES {
            return Err(format!(
                "concurrency.key renders to {} bytes; the limit is {MAX_KEY_BYTES}",
                key.len()
            ));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(value: Value) -> (Option<Concurrency>, Diagnostics) {
        let mut diagnostics = Diagnostics::default();
        let top = json!({ "concurrency": value });
        let concurrency = compile(top.as_object().expect("object"), &mut diagnostics);
        (concurrency, diagnostics)
    }

    fn codes(diagnostics: &Diagnostics) -> Vec<&str> {
        diagnostics.errors.iter().map(|d| d.code.as_str()).collect()
    }

    #[test]
    fn a_key_and_a_limit_compile() {
        let (concurrency, diagnostics) =
            compiled(json!({"key": "{{ input.customer }}", "limit": 2}));
        assert!(!diagnostics.has_errors(), "{diagnostics:?}");
        assert_eq!(
            concurrency,
            Some(Concurrency {
                key: "{{ input.customer }}".into(),
                limit: 2
            })
        );
    }

    #[test]
    fn bad_fields_are_errors_at_their_path() {
        for (value, code, path) in [
            (json!("x"), "INVALID_TYPE", "concurrency"),
            (json!({"limit": 1}), "MISSING_FIELD", "concurrency.key"),
            (json!({"key": "k"}), "MISSING_FIELD", "concurrency.limit"),
            (
                json!({"key": "k", "limit": 0}),
                "INVALID_VALUE",
                "concurrency.limit",
            ),
            (
                json!({"key": "k", "limit": 1.5}),
                "INVALID_VALUE",
                "concurrency.limit",
            ),
            (
                json!({"key": "k", "limit": "2"}),
                "INVALID_TYPE",
                "concurrency.limit",
            ),
            (
                json!({"key": "", "limit": 1}),
                "INVALID_TYPE",
                "concurrency.key",
            ),
            (
                json!({"key": 3, "limit": 1}),
                "INVALID_TYPE",
                "concurrency.key",
            ),
            (
                json!({"key": "{{ steps.a.output }}", "limit": 1}),
                "TEMPLATE_PATH",
                "concurrency.key",
            ),
        ] {
            let (concurrency, diagnostics) = compiled(value.clone());
            assert!(concurrency.is_none(), "{value}");
            assert_eq!(codes(&diagnostics), vec![code], "{value}");
            assert_eq!(diagnostics.errors[0].path, path, "{value}");
        }
    }

    #[test]
    fn keys_render_from_the_input_and_the_signal() {
        let concurrency = |key: &str| Concurrency {
            key: key.into(),
            limit: 1,
        };
        let input = json!({"customer": "acme", "n": 3, "tags": ["a"]});
        let signal = json!({"source": "billing"});
        let render = |key: &str| concurrency(key).render_key(&input, Some(&signal));
        assert_eq!(render("{{ input.customer }}").as_deref(), Ok("acme"));
        assert_eq!(render("{{ customer }}").as_deref(), Ok("acme"));
        assert_eq!(
            render("c-${ctx.customer}-{{ n }}").as_deref(),
            Ok("c-acme-3")
        );
        assert_eq!(render("{{ input.n }}").as_deref(), Ok("3"));
        assert_eq!(render("{{ tags }}").as_deref(), Ok("[\"a\"]"));
        assert_eq!(render("{{ signal.source }}").as_deref(), Ok("billing"));
        assert_eq!(render("global").as_deref(), Ok("global"));
        let missing = render("{{ input.region }}").expect_err("no region");
        assert!(missing.contains("input.region"), "{missing}");
        let long = json!({"customer": "x".repeat(MAX_KEY_BYTES + 1)});
        assert!(
            concurrency("{{ customer }}")
                .render_key(&long, None)
                .is_err()
        );
    }
}
