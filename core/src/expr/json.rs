//! JSON in and out of Starlark.
//!
//! In: JSON becomes native values (objects are dicts, arrays lists); the
//! sandbox gives dicts `a.b` access next to `a["b"]` (see
//! [`super::sandbox`]). Out: [`to_json`] converts a result back with a size
//! budget and a depth limit.

use serde_json::{Map, Number, Value as Json};
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::float::StarlarkFloat;
use starlark::values::list::{AllocList, ListRef};
use starlark::values::tuple::TupleRef;
use starlark::values::{Heap, UnpackValue, Value, ValueLike};

/// Deepest JSON converted into Starlark (serde_json parses at most 128).
pub(crate) const MAX_INPUT_DEPTH: usize = 256;

/// A JSON value as a Starlark value; `None` when it nests deeper than
/// [`MAX_INPUT_DEPTH`].
pub(crate) fn to_starlark<'v>(value: &Json, heap: Heap<'v>) -> Option<Value<'v>> {
    to_starlark_at(value, heap, 0)
}

fn to_starlark_at<'v>(value: &Json, heap: Heap<'v>, depth: usize) -> Option<Value<'v>> {
    if depth > MAX_INPUT_DEPTH {
        return None;
    }
    Some(match value {
        Json::Null => Value::new_none(),
        Json::Bool(b) => Value::new_bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                heap.alloc(i)
            } else if let Some(u) = n.as_u64() {
                heap.alloc(u)
            } else {
                heap.alloc(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => heap.alloc(s.as_str()),
        Json::Array(items) => {
            let values = items
                .iter()
                .map(|item| to_starlark_at(item, heap, depth + 1))
                .collect::<Option<Vec<Value<'v>>>>()?;
            heap.alloc(AllocList(values))
        }
        Json::Object(map) => {
            let entries = map
                .iter()
                .map(|(key, item)| {
                    Some((
                        heap.alloc(key.as_str()),
                        to_starlark_at(item, heap, depth + 1)?,
                    ))
                })
                .collect::<Option<Vec<(Value<'v>, Value<'v>)>>>()?;
            heap.alloc(AllocDict(entries))
        }
    })
}

/// What a conversion may still produce: bytes (roughly, as compact JSON)
/// and nesting.
pub(crate) struct Budget {
    pub(crate) bytes_left: usize,
    pub(crate) max_depth: usize,
}

impl Budget {
    pub(crate) fn new(bytes: usize, max_depth: usize) -> Self {
        Self {
            bytes_left: bytes,
            max_depth,
        }
    }

    fn spend(&mut self, bytes: usize) -> Result<(), ToJsonError> {
        self.bytes_left = self
            .bytes_left
            .checked_sub(bytes)
            .ok_or(ToJsonError::TooLarge)?;
        Ok(())
    }
}

/// Why a Starlark value has no JSON form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ToJsonError {
    #[error("the result is larger than the limit")]
    TooLarge,
    #[error("the result is nested too deeply")]
    TooDeep,
    #[error("{0}")]
    Unsupported(String),
}

/// Converts a Starlark value to JSON within `budget`: None, bools, ints that
/// fit 64 bits, finite floats, strings, lists and tuples (as arrays), and
/// dicts with string keys.
pub(crate) fn to_json(value: Value<'_>, budget: &mut Budget) -> Result<Json, ToJsonError> {
    to_json_at(value, budget, 0)
}

fn to_json_at(value: Value<'_>, budget: &mut Budget, depth: usize) -> Result<Json, ToJsonError> {
    if depth > budget.max_depth {
        return Err(ToJsonError::TooDeep);
    }
    budget.spend(1)?;
    if value.is_none() {
        return Ok(Json::Null);
    }
    if let Some(b) = value.unpack_bool() {
        return Ok(Json::Bool(b));
    }
    if let Some(i) = value.unpack_i32() {
        return Ok(Json::from(i));
    }
    if let Some(s) = value.unpack_str() {
        budget.spend(s.len() + 2)?;
        return Ok(Json::String(s.to_owned()));
    }
    if let Some(list) = ListRef::from_value(value) {
        return seq_to_json(list.content(), budget, depth);
    }
    if let Some(tuple) = TupleRef::from_value(value) {
        return seq_to_json(tuple.content(), budget, depth);
    }
    if let Some(dict) = DictRef::from_value(value) {
        let mut map = Map::new();
        for (key, item) in dict.iter() {
            let Some(key) = key.unpack_str() else {
                return Err(ToJsonError::Unsupported(format!(
                    "dict keys must be strings to convert to JSON, not {}",
                    key.get_type()
                )));
            };
            budget.spend(key.len() + 3)?;
            map.insert(key.to_owned(), to_json_at(item, budget, depth + 1)?);
        }
        return Ok(Json::Object(map));
    }
    if let Some(float) = value.downcast_ref::<StarlarkFloat>() {
        return Number::from_f64(float.0)
            .map(Json::Number)
            .ok_or_else(|| ToJsonError::Unsupported(format!("{} has no JSON form", float.0)));
    }
    if value.get_type() == "int" {
        if let Ok(Some(i)) = i64::unpack_value(value) {
            return Ok(Json::from(i));
        }
        if let Ok(Some(u)) = u64::unpack_value(value) {
            return Ok(Json::from(u));
        }
        return Err(ToJsonError::Unsupported(
            "an integer beyond 64 bits has no JSON form".to_owned(),
        ));
    }
    Err(ToJsonError::Unsupported(format!(
        "a value of type {} has no JSON form",
        value.get_type()
    )))
}

fn seq_to_json(
    items: &[Value<'_>],
    budget: &mut Budget,
    depth: usize,
) -> Result<Json, ToJsonError> {
    let mut out = Vec::with_capacity(items.len().min(1024));
    for item in items {
        out.push(to_json_at(*item, budget, depth + 1)?);
    }
    Ok(Json::Array(out))
}
