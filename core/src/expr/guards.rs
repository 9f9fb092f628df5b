//! Size guards and attribute access, installed as globals of the sandbox.
//!
//! Starlark allocates before it checks its heap limit, so an operation such
//! as `'x' * 2**31` or `"".join([big] * n)` could exhaust memory in one
//! step. Every operation that can multiply sizes is routed through a guard
//! that computes the size of its result first and refuses it above
//! [`Limits`](super::Limits), and refuses any allocation that would take the heap over its
//! limit:
//! - the operators `*`, `+`, `%` and `<<` (rewritten to `__junction_mul` and
//!   friends with `AstModule::replace_binary_operators`);
//! - the methods `join`, `replace`, `format` and `extend` (calls are rewritten
//!   to `__junction_call(obj, "join", …)`, other references to
//!   `__junction_attr`, see [`super::rewrite`]);
//! - the globals `range` and `zip` (length), `str`, `repr`, `fail` (size of
//!   the text), `int` (length of a string to parse) and `getattr` (the
//!   guarded methods).
//!
//! Attribute access on dicts: `a.b` is rewritten to `__junction_attr(a,
//! "b")`, which answers a dict's key `b` first, then the attribute (so JSON
//! objects read as `ctx.x` and `ctx["x"]`); `hasattr` and `getattr` agree
//! with it. Method calls (`d.get(k)`) keep their native lookup.

use super::sandbox::{GUARDED_METHODS, MAX_INT_DIGITS, is_tripped, limits_of, native, refuse};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::tuple::{TupleRef, UnpackTuple};

/// Refuses a result of `bytes` string bytes or `items` elements, and any
/// allocation that would take the heap over its limit.
fn admit(eval: &Evaluator, bytes: usize, items: usize, what: &str) -> starlark::Result<()> {
    let limits = limits_of(eval);
    if bytes > limits.max_string_bytes {
        return Err(refuse(
            eval,
            format!(
                "string size: {what} would make {bytes} bytes (at most {})",
                limits.max_string_bytes
            ),
        ));
    }
    if items > limits.max_items {
        return Err(refuse(
            eval,
            format!(
                "list size: {what} would make {items} items (at most {})",
                limits.max_items
            ),
        ));
    }
    let needed = bytes.saturating_add(items.saturating_mul(8));
    if eval.heap().allocated_bytes().saturating_add(needed) > limits.max_heap_bytes {
        return Err(refuse(
            eval,
            format!("memory: more than {} bytes", limits.max_heap_bytes),
        ));
    }
    Ok(())
}

/// What a sized value is, for the guards.
enum Sized {
    Bytes(usize),
    Items(usize),
}

fn sized(value: Value) -> Option<Sized> {
    if let Some(s) = value.unpack_str() {
        return Some(Sized::Bytes(s.len()));
    }
    if let Some(list) = ListRef::from_value(value) {
        return Some(Sized::Items(list.len()));
    }
    if let Some(tuple) = TupleRef::from_value(value) {
        return Some(Sized::Items(tuple.len()));
    }
    if value.get_type() == "bytes" {
        let len = value.length().ok()?;
        return Some(Sized::Bytes(usize::try_from(len).unwrap_or(0)));
    }
    None
}

fn is_int(value: Value) -> bool {
    value.get_type() == "int"
}

/// Decimal digits of an int (an upper bound for small ones).
fn int_digits(value: Value) -> usize {
    if value.unpack_i32().is_some() {
        11
    } else {
        value.to_repr().len()
    }
}

/// The length of `value` as text (what `str`, `repr`, `%` and `format`
/// would produce), counted up to `cap`; above `cap` it returns `cap + 1`.
pub(crate) fn text_size(value: Value, cap: usize) -> usize {
    fn walk(value: Value, total: &mut usize, cap: usize, depth: usize) {
        if *total > cap {
            return;
        }
        if depth > 64 {
            *total += 5;
            return;
        }
        if let Some(s) = value.unpack_str() {
            *total += s.len() + 2;
        } else if value.is_none() || value.unpack_bool().is_some() || value.unpack_i32().is_some() {
            *total += 11;
        } else if let Some(list) = ListRef::from_value(value) {
            *total += 2;
            for item in list.content() {
                *total += 2;
                walk(*item, total, cap, depth + 1);
            }
        } else if let Some(tuple) = TupleRef::from_value(value) {
            *total += 2;
            for item in tuple.content() {
                *total += 2;
                walk(*item, total, cap, depth + 1);
            }
        } else if let Some(dict) = DictRef::from_value(value) {
            *total += 2;
            for (key, item) in dict.iter() {
                *total += 4;
                walk(key, total, cap, depth + 1);
                walk(item, total, cap, depth + 1);
            }
        } else {
            // Floats, big ints (bounded by MAX_INT_DIGITS), ranges, functions.
            *total += value.to_repr().len();
        }
    }
    let mut total = 0;
    walk(value, &mut total, cap, 0);
    total.min(cap.saturating_add(1))
}

fn check_text(eval: &Evaluator, value: Value, what: &str) -> starlark::Result<()> {
    let cap = limits_of(eval).max_string_bytes;
    admit(eval, text_size(value, cap), 0, what)
}

fn check_mul<'v>(a: Value<'v>, b: Value<'v>, eval: &Evaluator<'v, '_, '_>) -> starlark::Result<()> {
    let (seq, count) = match (a.unpack_i32(), b.unpack_i32()) {
        (Some(_), Some(_)) => return Ok(()),
        (None, Some(n)) => (a, n),
        (Some(n), None) => (b, n),
        (None, None) => {
            if is_int(a) && is_int(b) && int_digits(a) + int_digits(b) > MAX_INT_DIGITS {
                return Err(refuse(
                    eval,
                    format!("integer size: a product of more than {MAX_INT_DIGITS} digits"),
                ));
            }
            return Ok(());
        }
    };
    let count = usize::try_from(count).unwrap_or(0);
    match sized(seq) {
        Some(Sized::Bytes(len)) => admit(eval, len.saturating_mul(count), 0, "repetition"),
        Some(Sized::Items(len)) => admit(eval, 0, len.saturating_mul(count), "repetition"),
        None => {
            if is_int(seq) && int_digits(seq) + 11 > MAX_INT_DIGITS {
                return Err(refuse(
                    eval,
                    format!("integer size: a product of more than {MAX_INT_DIGITS} digits"),
                ));
            }
            Ok(())
        }
    }
}

fn check_add<'v>(a: Value<'v>, b: Value<'v>, eval: &Evaluator<'v, '_, '_>) -> starlark::Result<()> {
    match (sized(a), sized(b)) {
        (Some(Sized::Bytes(x)), Some(Sized::Bytes(y))) if x + y > 4096 => {
            admit(eval, x + y, 0, "concatenation")
        }
        (Some(Sized::Items(x)), Some(Sized::Items(y))) if x + y > 512 => {
            admit(eval, 0, x + y, "concatenation")
        }
        _ => Ok(()),
    }
}

fn check_percent<'v>(
    a: Value<'v>,
    b: Value<'v>,
    eval: &Evaluator<'v, '_, '_>,
) -> starlark::Result<()> {
    let Some(format) = a.unpack_str() else {
        return Ok(());
    };
    let cap = limits_of(eval).max_string_bytes;
    let slots = format.matches('%').count();
    let arg = text_size(b, cap);
    admit(
        eval,
        format.len().saturating_add(slots.saturating_mul(arg)),
        0,
        "% formatting",
    )
}

fn check_shl<'v>(a: Value<'v>, b: Value<'v>, eval: &Evaluator<'v, '_, '_>) -> starlark::Result<()> {
    if !is_int(a) {
        return Ok(());
    }
    let shift = b
        .unpack_i32()
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(0));
    if int_digits(a).saturating_add(shift / 3) > MAX_INT_DIGITS {
        return Err(refuse(
            eval,
            format!("integer size: a shift to more than {MAX_INT_DIGITS} digits"),
        ));
    }
    Ok(())
}

/// Whether `value` is a native string or list, whose guarded methods must
/// go through `__junction_call`.
fn has_guarded_methods(value: Value) -> bool {
    value.unpack_str().is_some() || ListRef::from_value(value).is_some()
}

/// The number of items `iterable` yields, counted up to `cap + 1`.
fn count_items<'v>(iterable: Value<'v>, cap: usize, eval: &Evaluator<'v, '_, '_>) -> usize {
    if let Ok(len) = iterable.length() {
        return usize::try_from(len).unwrap_or(0);
    }
    iterable
        .iterate(eval.heap())
        .map_or(0, |iter| iter.take(cap.saturating_add(1)).count())
}

fn check_method<'v>(
    obj: Value<'v>,
    name: &str,
    args: &[Value<'v>],
    named: &[(&str, Value<'v>)],
    eval: &Evaluator<'v, '_, '_>,
) -> starlark::Result<()> {
    let cap = limits_of(eval).max_string_bytes;
    if let Some(s) = obj.unpack_str() {
        match name {
            "join" => {
                let Some(items) = args.first() else {
                    return Ok(());
                };
                let mut total = 0usize;
                if let Ok(iter) = items.iterate(eval.heap()) {
                    for item in iter {
                        total = total
                            .saturating_add(item.unpack_str().map_or(0, str::len))
                            .saturating_add(s.len());
                        if total > cap {
                            break;
                        }
                    }
                }
                admit(eval, total, 0, "join")
            }
            "replace" => {
                let (Some(old), Some(new)) = (
                    args.first().and_then(|v| v.unpack_str()),
                    args.get(1).and_then(|v| v.unpack_str()),
                ) else {
                    return Ok(());
                };
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
            "format" => {
                let slots = s.matches('{').count();
                let largest = args
                    .iter()
                    .copied()
                    .chain(named.iter().map(|(_, v)| *v))
                    .map(|v| text_size(v, cap))
                    .max()
                    .unwrap_or(0);
                admit(
                    eval,
                    s.len().saturating_add(slots.saturating_mul(largest)),
                    0,
                    "format",
                )
            }
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
        admit(eval, 0, list.len().saturating_add(added), "extend")
    } else {
        Ok(())
    }
}

/// Positional values of a `*args` tuple.
fn tuple_items(args: Value) -> Vec<Value> {
    TupleRef::from_value(args).map_or_else(Vec::new, |t| t.content().to_vec())
}

/// Installs the guards (see the module doc).
#[starlark_module]
pub(super) fn register(builder: &mut GlobalsBuilder) {
    fn __junction_mul<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        check_mul(a, b, eval)?;
        a.mul(b, eval.heap())
    }

    fn __junction_add<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        check_add(a, b, eval)?;
        a.add(b, eval.heap())
    }

    fn __junction_percent<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        check_percent(a, b, eval)?;
        a.percent(b, eval.heap())
    }

    fn __junction_shl<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        check_shl(a, b, eval)?;
        a.left_shift(b, eval.heap())
    }

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

    fn range<'v>(
        #[starlark(require = pos)] a1: Value<'v>,
        #[starlark(require = pos)] a2: Option<Value<'v>>,
        #[starlark(require = pos)] step: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let mut args = vec![a1];
        args.extend(a2);
        args.extend(step);
        let range = eval.eval_function(native("range").to_value(), &args, &[])?;
        let len = usize::try_from(range.length()?).unwrap_or(0);
        admit(eval, 0, len, "range")?;
        Ok(range)
    }

    fn zip<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let max = limits_of(eval).max_items;
        let shortest = args
            .items
            .iter()
            .map(|v| count_items(*v, max, eval))
            .min()
            .unwrap_or(0);
        admit(eval, 0, shortest.saturating_mul(args.items.len()), "zip")?;
        eval.eval_function(native("zip").to_value(), &args.items, &[])
    }

    fn str<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        if a.unpack_str().is_some() {
            return Ok(a);
        }
        check_text(eval, a, "str()")?;
        eval.eval_function(native("str").to_value(), &[a], &[])
    }

    fn repr<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        check_text(eval, a, "repr()")?;
        eval.eval_function(native("repr").to_value(), &[a], &[])
    }

    fn int<'v>(
        #[starlark(require = pos)] a: Option<Value<'v>>,
        base: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        if let Some(text) = a.and_then(|a| a.unpack_str())
            && text.len() > MAX_INT_DIGITS + 8
        {
            return Err(refuse(
                eval,
                format!("integer size: int() of a {}-byte string", text.len()),
            ));
        }
        let positional: Vec<Value<'v>> = a.into_iter().collect();
        let named: Vec<(&str, Value<'v>)> = base.map(|b| ("base", b)).into_iter().collect();
        eval.eval_function(native("int").to_value(), &positional, &named)
    }

    fn fail<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let cap = limits_of(eval).max_string_bytes;
        let size: usize = args.items.iter().map(|v| text_size(*v, cap)).sum();
        admit(eval, size, 0, "fail()")?;
        eval.eval_function(native("fail").to_value(), &args.items, &[])
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
