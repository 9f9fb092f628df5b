//! Templates: `{{ path }}` and `${path}` substituted from the run context.
//! A string that is exactly one template keeps the value's JSON type; inside a
//! longer string, strings render as they are and other values as compact JSON.
//! A path that resolves to nothing is an error, never an empty string. Pure.

use crate::model::path;
use serde_json::{Map, Value};

/// A template path that names nothing in scope, or a template body that is
/// not a path at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct TemplateError {
    pub path: String,
    /// The names that were in scope, for the error message; empty when the
    /// body is not a path.
    pub available: String,
}

impl TemplateError {
    fn describe(&self) -> String {
        if path::is_plain(&self.path) {
            format!(
                "template path `{}` does not resolve (available: {})",
                self.path, self.available
            )
        } else {
            format!(
                "template `{}` is not a path (templates never run code)",
                self.path
            )
        }
    }
}

/// What a template can see, in the resolution order of docs/language.md §2.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The context document `{ctx, steps, signal, …}`.
    pub context: &'a Value,
    /// The run input, bound as `input`.
    pub input: &'a Value,
}

impl Scope<'_> {
    /// Resolves a dot-path: reserved names, then the context's top-level keys,
    /// then the keys of `ctx`. `workflow.input` names the run input.
    pub fn resolve(&self, raw: &str) -> Option<Value> {
        let parts = path::segments(raw)?;
        let (head, rest) = parts.split_first()?;
        if *head == "input" {
            return path::get(self.input, rest).cloned();
        }
        if parts.starts_with(&["workflow", "input"]) {
            return path::get(self.input, &parts[2..]).cloned();
        }
        if parts.starts_with(&["ctx", "workflow", "input"]) {
            return path::get(self.input, &parts[3..]).cloned();
        }
        if let Some(found) = path::get(self.context, &parts) {
            return Some(found.clone());
        }
        self.context
            .get("ctx")
            .and_then(|ctx| path::get(ctx, &parts))
            .cloned()
    }

    fn available(&self) -> String {
        let mut names: Vec<String> = vec!["input".into()];
        if let Some(map) = self.context.as_object() {
            names.extend(map.keys().cloned());
        }
        if let Some(map) = self.context.get("ctx").and_then(Value::as_object) {
            names.extend(map.keys().map(|k| format!("ctx.{k}")));
        }
        names.join(", ")
    }
}

/// Renders every string leaf of `value`.
pub fn render(value: &Value, scope: &Scope<'_>) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(s) => render_str(s, scope)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render(v, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), render(v, scope)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// One template occurrence in a string: byte range and the inner path.
struct Placeholder<'s> {
    start: usize,
    end: usize,
    path: &'s str,
}

fn next_placeholder(s: &str, from: usize) -> Option<Placeholder<'_>> {
    let rest = &s[from..];
    let curly = rest.find("{{").map(|i| (i, "{{", "}}"));
    let dollar = rest.find("${").map(|i| (i, "${", "}"));
    let (offset, open, close) = match (curly, dollar) {
        (Some(a), Some(b)) => {
            if a.0 <= b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return None,
    };
    let inner_start = from + offset + open.len();
    let inner_len = s[inner_start..].find(close)?;
    Some(Placeholder {
        start: from + offset,
        end: inner_start + inner_len + close.len(),
        path: s[inner_start..inner_start + inner_len].trim(),
    })
}

fn render_str(s: &str, scope: &Scope<'_>) -> Result<Value, TemplateError> {
    let Some(first) = next_placeholder(s, 0) else {
        return Ok(Value::String(s.to_owned()));
    };
    let lookup = |p: &Placeholder<'_>| {
        if !path::is_plain(p.path) {
            return Err(TemplateError {
                path: p.path.to_owned(),
                available: String::new(),
            });
        }
        scope.resolve(p.path).ok_or_else(|| TemplateError {
            path: p.path.to_owned(),
            available: scope.available(),
        })
    };
    if first.start == 0 && first.end == s.len() {
        return lookup(&first);
    }
    let mut out = String::with_capacity(s.len());
    let mut cursor = 0;
    let mut current = Some(first);
    while let Some(p) = current {
        out.push_str(&s[cursor..p.start]);
        match lookup(&p)? {
            Value::String(text) => out.push_str(&text),
            other => out.push_str(&other.to_string()),
        }
        cursor = p.end;
        current = next_placeholder(s, cursor);
    }
    out.push_str(&s[cursor..]);
    Ok(Value::String(out))
}

/// The template paths used in `value`, for static checks.
pub fn paths_in(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_paths(value, &mut found);
    found
}

fn collect_paths(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            let mut cursor = 0;
            while let Some(p) = next_placeholder(s, cursor) {
                found.push(p.path.to_owned());
                cursor = p.end;
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_paths(v, found)),
        Value::Object(map) => map.values().for_each(|v| collect_paths(v, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope_doc() -> (Value, Value) {
        (
            json!({"ctx": {"ip": "10.0.0.1", "n": 3}, "steps": {"a": {"ok": true}}, "signal": null, "alert": {"level": 2}}),
            json!({"ip": "10.0.0.1"}),
        )
    }

    #[test]
    fn whole_templates_keep_types() {
        let (ctx, input) = scope_doc();
        let scope = Scope {
            context: &ctx,
            input: &input,
        };
        assert_eq!(render(&json!("{{ ctx.n }}"), &scope), Ok(json!(3)));
        assert_eq!(
            render(&json!("${steps.a}"), &scope),
            Ok(json!({"ok": true}))
        );
        assert_eq!(render(&json!("{{ alert.level }}"), &scope), Ok(json!(2)));
        assert_eq!(render(&json!("{{ip}}"), &scope), Ok(json!("10.0.0.1")));
        assert_eq!(
            render(&json!("{{ input.ip }}"), &scope),
            Ok(json!("10.0.0.1"))
        );
        assert_eq!(render(&json!("{{ $.ctx.n }}"), &scope), Ok(json!(3)));
    }

    #[test]
    fn embedded_templates_render_text() {
        let (ctx, input) = scope_doc();
        let scope = Scope {
            context: &ctx,
            input: &input,
        };
        assert_eq!(
            render(&json!("host {{ctx.ip}} n=${ctx.n} a={{steps.a}}"), &scope),
            Ok(json!("host 10.0.0.1 n=3 a={\"ok\":true}"))
        );
        assert_eq!(
            render(&json!({"k": ["{{ ctx.n }}", 1]}), &scope),
            Ok(json!({"k": [3, 1]}))
        );
        assert_eq!(
            render(&json!("no templates {here"), &scope),
            Ok(json!("no templates {here"))
        );
    }

    #[test]
    fn missing_paths_are_errors_naming_what_was_available() {
        let (ctx, input) = scope_doc();
        let scope = Scope {
            context: &ctx,
            input: &input,
        };
        let err = render(&json!("x {{ ctx.nope }}"), &scope).expect_err("missing path");
        assert_eq!(err.path, "ctx.nope");
        assert!(err.available.contains("steps"));
        assert_eq!(paths_in(&json!({"a": "{{ a.b }} ${c}"})), vec!["a.b", "c"]);
    }

    #[test]
    fn a_body_that_is_not_a_path_is_never_run() {
        let (ctx, input) = scope_doc();
        let scope = Scope {
            context: &ctx,
            input: &input,
        };
        let err = render(&json!("{{ ctx.n + 1 }}"), &scope).expect_err("code");
        assert!(err.to_string().contains("is not a path"), "{err}");
        let err = render(&json!("x ${len(ctx)}"), &scope).expect_err("code");
        assert!(err.to_string().contains("is not a path"), "{err}");
    }
}
