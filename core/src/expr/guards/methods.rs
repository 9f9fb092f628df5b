//! Guarded method calls and attribute access: `join`, `replace`, `format`
//! and `extend` are checked (and their work charged) before they run;
//! `a.b` reads a dict's key first; `hasattr` and `getattr` agree with it.

use super::{BYTES_PER_ITEM, admit, count_items, printable_size};
use crate::expr::sandbox::{GUARDED_METHODS, charge, is_tripped, limits_of, refuse};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;

fn check_method<'v>(
    obj: Value<'v>,
    name: &str,
    args: &[Value<'v>],
    named: &[(&str, Value<'v>)],
    eval: &Evaluator<'v, '_, '_>,
) -> starlark::Result<()> {
    if let Some(s) = obj.unpack_str() {
        match name {
            "join" => check_join(s, args, eval),
            "replace" => check_replace(s, args, eval),
            "format" => check_format(s, args, named, eval),
            _ => Ok(()),
        }
    } else if let Some(list) = ListRef::from_value(obj) {
        if name != "extend" {
            return Ok(());
        }
        let Some(items) = args.first() else {
            return Ok(());
        };
        let max = limits_of(eval).max_items;
        let added = count_items(*items, max, eval);
        charge(eval, added, "extend")?;
        admit(eval, 0, list.len().saturating_add(added), "extend")
    } else {
        Ok(())
    }
}

/// `s.join(items)`: the size of the result, and the items gone through.
fn check_join<'v>(
    s: &str,
    args: &[Value<'v>],
    eval: &Evaluator<'v, '_, '_>,
) -> starlark::Result<()> {
    let Some(items) = args.first() else {
        return Ok(());
    };
    let cap = limits_of(eval).max_string_bytes;
    let mut total = 0usize;
    let mut count = 0usize;
    if let Ok(iter) = items.iterate(eval.heap()) {
        for item in iter {
            count += 1;
            total = total
                .saturating_add(item.unpack_str().map_or(0, str::len))
                .saturating_add(s.len());
            if total > cap {
                break;
            }
        }
    }
    charge(eval, count, "join")?;
    admit(eval, total, 0, "join")
}

/// `s.replace(old, new[, count])`: the size of the result, and the scan.
fn check_replace<'v>(
    s: &str,
    args: &[Value<'v>],
    eval: &Evaluator<'v, '_, '_>,
) -> starlark::Result<()> {
    let (Some(old), Some(new)) = (
        args.first().and_then(|v| v.unpack_str()),
        args.get(1).and_then(|v| v.unpack_str()),
    ) else {
        return Ok(());
    };
    charge(eval, s.len() / BYTES_PER_ITEM, "replace")?;
    let mut occurrences = if old.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(old).count()
    };
    if let Some(limit) = args.get(2).and_then(|v| v.unpack_i32())
        && let Ok(limit) = usize::try_from(limit)
    {
        occurrences = occurrences.min(limit);
    }
    let size = s
        .len()
        .saturating_add(occurrences.saturating_mul(new.len()));
    admit(eval, size, 0, "replace")
}

/// `s.format(…)`: every `{` replaced by the largest argument, at most.
fn check_format<'v>(
    s: &str,
    args: &[Value<'v>],
    named: &[(&str, Value<'v>)],
    eval: &Evaluator<'v, '_, '_>,
) -> starlark::Result<()> {
    let cap = limits_of(eval).max_string_bytes;
    let slots = s.matches('{').count();
    let mut largest = 0;
    for v in args.iter().copied().chain(named.iter().map(|(_, v)| *v)) {
        largest = largest.max(printable_size(eval, v, cap, "format")?);
    }
    admit(
        eval,
        s.len().saturating_add(slots.saturating_mul(largest)),
        0,
        "format",
    )
}

/// Whether `value` is a native string or list, whose guarded methods must
/// go through `__junction_call`.
fn has_guarded_methods(value: Value) -> bool {
    value.unpack_str().is_some() || ListRef::from_value(value).is_some()
}

/// Positional values of a `*args` tuple.
fn tuple_items(args: Value) -> Vec<Value> {
    TupleRef::from_value(args).map_or_else(Vec::new, |t| t.content().to_vec())
}

/// Installs the method and attribute guards.
#[starlark_module]
pub(super) fn register(builder: &mut GlobalsBuilder) {
    /// `obj.name(*args, **kwargs)` for the guarded method names.
    fn __junction_call<'v>(
        #[starlark(require = pos)] obj: Value<'v>,
        #[starlark(require = pos)] name: &str,
        #[starlark(args)] args: Value<'v>,
        #[starlark(kwargs)] kwargs: DictRef<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let positional = tuple_items(args);
        let names: Vec<(String, Value<'v>)> = kwargs
            .iter()
            .filter_map(|(k, v)| k.unpack_str().map(|k| (k.to_owned(), v)))
            .collect();
        let named: Vec<(&str, Value<'v>)> = names.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        check_method(obj, name, &positional, &named, eval)?;
        let method = obj.get_attr_error(name, eval.heap())?;
        eval.eval_function(method, &positional, &named)
    }

    /// `obj.name` when not called at once: a dict's key (so JSON objects
    /// answer `a.b` like `a["b"]`), else the attribute; the guarded methods
    /// of strings and lists must be called where they are named.
    fn __junction_attr<'v>(
        #[starlark(require = pos)] obj: Value<'v>,
        #[starlark(require = pos)] name: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        attribute(obj, name, eval)
    }

    fn hasattr<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] attr: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<bool> {
        Ok(dict_key(a, attr).is_some() || a.has_attr(attr, eval.heap()))
    }

    fn getattr<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] attr: &str,
        #[starlark(require = pos)] default: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        match (attribute(a, attr, eval), default) {
            (Ok(value), _) => Ok(value),
            (Err(_), Some(default)) if !is_tripped() => Ok(default),
            (Err(e), _) => Err(e),
        }
    }
}

/// The value at string key `key` of a dict.
fn dict_key<'v>(value: Value<'v>, key: &str) -> Option<Value<'v>> {
    DictRef::from_value(value)?.get_str(key)
}

#[derive(Debug, thiserror::Error)]
#[error("{kind} has no key or attribute {name:?}{keys}")]
struct NoAttribute {
    kind: String,
    name: String,
    keys: String,
}

/// `obj.name` as the sandbox reads it (see `__junction_attr`).
fn attribute<'v>(
    obj: Value<'v>,
    name: &str,
    eval: &Evaluator<'v, '_, '_>,
) -> starlark::Result<Value<'v>> {
    if let Some(value) = dict_key(obj, name) {
        return Ok(value);
    }
    if GUARDED_METHODS.contains(&name) && has_guarded_methods(obj) {
        return Err(refuse(
            eval,
            format!(
                "sandbox: the method `.{name}` of a {} must be called where it is named",
                obj.get_type()
            ),
        ));
    }
    if let Some(value) = obj.get_attr(name, eval.heap())? {
        return Ok(value);
    }
    let keys = DictRef::from_value(obj).map_or_else(String::new, |dict| {
        let mut names: Vec<String> = dict
            .keys()
            .take(12)
            .map(|k| k.unpack_str().map_or_else(|| k.to_repr(), str::to_owned))
            .collect();
        if dict.len() > 12 {
            names.push("…".to_owned());
        }
        if names.is_empty() {
            "; it is empty".to_owned()
        } else {
            format!("; keys: {}", names.join(", "))
        }
    });
    Err(starlark::Error::new_value(NoAttribute {
        kind: obj.get_type().to_owned(),
        name: name.to_owned(),
        keys,
    }))
}
