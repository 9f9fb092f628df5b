//! Dot-paths into the run context (`steps.check.result`, `$.ctx.a`) and the
//! reads and writes along them. Pure.

use serde_json::{Map, Value};

/// Splits a dot-path into its segments, accepting a leading `$.`.
/// Returns `None` for an empty path or an empty segment.
pub fn segments(path: &str) -> Option<Vec<&str>> {
    let trimmed = path.trim();
    let trimmed = trimmed.strip_prefix("$.").unwrap_or(trimmed);
    if trimmed.is_empty() {
        return None;
    }
    let parts: Vec<&str> = trimmed.split('.').map(str::trim).collect();
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
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
}
