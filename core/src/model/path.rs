//! Dot-paths into the run context (`steps.check.result`, `$.ctx.a`, `$`) and
//! the reads and writes along them. Pure.
//!
//! A leading `$.` is dropped and `$` alone is the whole document (no
//! segments). A path field's read ([`read`]) resolves its first segment like
//! a name: a root of the document, else a key of `ctx`; a write ([`write`])
//! names a root, created if absent.

use serde_json::{Map, Value};

/// Splits a dot-path into its segments, accepting a leading `$.`; `$` alone
/// is the whole document: no segments. Returns `None` for an empty path or
/// an empty segment.
pub fn segments(path: &str) -> Option<Vec<&str>> {
    let trimmed = path.trim();
    if trimmed == "$" {
        return Some(Vec::new());
    }
    let trimmed = trimmed.strip_prefix("$.").unwrap_or(trimmed);
    if trimmed.is_empty() {
        return None;
    }
    let parts: Vec<&str> = trimmed.split('.').map(str::trim).collect();
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
}

/// Is `path` a plain dot-path, fit for a template: segments of letters,
/// digits, `_` and `-` (with an optional leading `$.`)? Anything else (an
/// operator, a call, brackets, spaces) would be code, which templates never run.
pub fn is_plain(path: &str) -> bool {
    segments(path).is_some_and(|parts| {
        !parts.is_empty()
            && parts.iter().all(|part| {
                part.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            })
    })
}

/// Reads a path field (`dataPath`, `itemsPath`, `summaryPath`) in the
/// context document: the first segment resolves like a name, a root of the
/// document first, else a key of `ctx` (so `$.services` finds
/// `ctx.services`). No segments: the whole document.
pub fn read<'a>(doc: &'a Value, parts: &[&str]) -> Option<&'a Value> {
    get(doc, parts).or_else(|| get(doc.get("ctx")?, parts))
}

/// Writes a `resultPath` value in the context document: its first segment
/// names a root (created if absent). No segments (`$`): an object's keys
/// become roots; another value has nowhere to go and is dropped.
pub fn write(doc: &mut Value, parts: &[&str], value: Value) {
    if parts.is_empty() {
        merge_into(doc, &value);
    } else {
        set(doc, parts, value);
    }
}

/// Reads `path` in `doc`. Array elements are addressed by index segments.
pub fn get<'a>(doc: &'a Value, parts: &[&str]) -> Option<&'a Value> {
    parts.iter().try_fold(doc, |value, part| match value {
        Value::Object(map) => map.get(*part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Writes `value` at `path` in `doc`, creating objects on the way and replacing
/// non-objects that stand in it.
pub fn set(doc: &mut Value, parts: &[&str], value: Value) {
    let Some((last, parents)) = parts.split_last() else {
        *doc = value;
        return;
    };
    let mut current = doc;
    for part in parents {
        current = ensure_object(current)
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    ensure_object(current).insert((*last).to_owned(), value);
}

fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

/// Merges the keys of `data` into the object at `target` (shallow).
pub fn merge_into(target: &mut Value, data: &Value) {
    if let Value::Object(source) = data {
        let map = ensure_object(target);
        for (k, v) in source {
            map.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_and_write() {
        let mut doc = json!({"ctx": {"a": [1, {"b": 2}]}});
        assert_eq!(
            get(&doc, &segments("ctx.a.1.b").expect("path")),
            Some(&json!(2))
        );
        assert_eq!(
            get(&doc, &segments("$.ctx.a.0").expect("path")),
            Some(&json!(1))
        );
        assert_eq!(get(&doc, &segments("ctx.zz").expect("path")), None);
        set(&mut doc, &segments("steps.x.y").expect("path"), json!(true));
        assert_eq!(doc["steps"]["x"]["y"], json!(true));
        set(
            &mut doc,
            &segments("ctx.a").expect("path"),
            json!("replaced"),
        );
        assert_eq!(doc["ctx"]["a"], json!("replaced"));
        assert!(segments("").is_none());
        assert!(segments("a..b").is_none());
    }

    #[test]
    fn dollar_paths_read_like_names_and_write_roots() {
        let mut doc = json!({"ctx": {"services": [1, 2]}, "steps": {}});
        assert_eq!(segments("$"), Some(Vec::new()));
        assert_eq!(segments("$.a.b"), Some(vec!["a", "b"]));
        assert_eq!(read(&doc, &[]), Some(&doc.clone()));
        assert_eq!(
            read(&doc, &segments("$.services").expect("path")),
            Some(&json!([1, 2])),
            "the first segment falls back to a key of ctx"
        );
        assert_eq!(
            read(&doc, &segments("$.ctx.services.1").expect("path")),
            Some(&json!(2))
        );
        assert_eq!(read(&doc, &["nowhere"]), None);
        write(&mut doc, &segments("$.summary.n").expect("path"), json!(3));
        assert_eq!(doc["summary"], json!({"n": 3}), "a new root");
        write(&mut doc, &[], json!({"flat": true}));
        assert_eq!(doc["flat"], json!(true), "`$`: keys become roots");
        assert_eq!(doc["ctx"]["services"], json!([1, 2]));
    }

    #[test]
    fn plain_paths_are_keys_only() {
        for good in ["ctx.a", "$.items.0.name", "my-key", "steps.a_b"] {
            assert!(is_plain(good), "{good}");
        }
        for code in [
            "a + b",
            "len(x)",
            "ctx.items[0]",
            "x if y else z",
            "$",
            "a..b",
        ] {
            assert!(!is_plain(code), "{code}");
        }
    }
}
