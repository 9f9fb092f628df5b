//! Size and work guards, and attribute access, installed as globals of the
//! sandbox.
//!
//! Starlark allocates before it checks its heap limit, so an operation such
//! as `'x' * 2**31` or `"".join([big] * n)` could exhaust memory in one
//! step. Every operation that can multiply sizes is routed through a guard
//! that computes the size of its result first and refuses it above
//! [`Limits`](super::Limits), and refuses any allocation that would take the heap over its
//! limit:
//! - the operators `*`, `+`, `%` and `<<` (rewritten to `__junction_mul` and
//!   friends with `AstModule::replace_binary_operators`; [`operators`]);
//! - the methods `join`, `replace`, `format` and `extend` (calls are rewritten
//!   to `__junction_call(obj, "join", …)`, other references to
//!   `__junction_attr`, see [`super::rewrite`]; [`methods`]);
//! - the globals `range` and `zip` (length), `str`, `repr`, `fail` (size of
//!   the text), `int` (length of a string to parse) and `getattr` (the
//!   guarded methods) ([`builtins`]).
//!
//! **Work.** A builtin call is one tick however large its input, so the
//! guards also charge the work done inside the costly ones to the tick
//! budget ([`charge`](super::sandbox::charge), one tick per
//! [`WORK_PER_TICK`](super::sandbox::WORK_PER_TICK) units): membership `in`
//! and `not in` (a list's or tuple's items, a string's bytes / 16), `join`,
//! `extend`, `zip` and `replace` (the items or bytes they go through), and
//! `sorted` (n log n), `min`, `max`, `any`, `all`, `reversed` and
//! `enumerate` (their items; [`costly`]). The charge depends only on sizes,
//! so it is deterministic.
//!
//! Attribute access on dicts: `a.b` is rewritten to `__junction_attr(a,
//! "b")`, which answers a dict's key `b` first, then the attribute (so JSON
//! objects read as `ctx.x` and `ctx["x"]`); `hasattr` and `getattr` agree
//! with it. Method calls (`d.get(k)`) keep their native lookup.

mod builtins;
mod costly;
mod methods;
mod operators;

use super::sandbox::{limits_of, refuse};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::values::Value;
use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;

/// The groups of guards, installed in this order.
const GROUPS: &[fn(&mut GlobalsBuilder)] = &[
    operators::register,
    methods::register,
    builtins::register,
    costly::register,
];

/// Installs the guards (see the module doc).
pub(super) fn register(builder: &mut GlobalsBuilder) {
    for group in GROUPS {
        group(builder);
    }
}

/// How many bytes of a string scan (a substring search, a `replace`) cost
/// as much as one item comparison.
const BYTES_PER_ITEM: usize = 16;

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

/// Deepest value the text guards let `str`, `repr`, `%`, `format` and
/// `fail` print: Starlark prints nested values by recursion with no bound
/// of its own, so a value built a level per loop step could overflow the
/// stack of the thread evaluating it.
pub(crate) const MAX_TEXT_DEPTH: usize = 256;

/// The length of `value` as text (what `str`, `repr`, `%` and `format`
/// would produce), counted up to `cap`; above `cap` it returns `cap + 1`.
/// `None` when the value nests deeper than [`MAX_TEXT_DEPTH`] (or contains
/// itself).
pub(crate) fn text_size(value: Value, cap: usize) -> Option<usize> {
    fn walk(value: Value, total: &mut usize, cap: usize, depth: usize) -> bool {
        if *total > cap {
            return true;
        }
        if depth > MAX_TEXT_DEPTH {
            return false;
        }
        if let Some(s) = value.unpack_str() {
            *total += s.len() + 2;
        } else if value.is_none() || value.unpack_bool().is_some() || value.unpack_i32().is_some() {
            *total += 11;
        } else if let Some(list) = ListRef::from_value(value) {
            *total += 2;
            for item in list.content() {
                *total += 2;
                if !walk(*item, total, cap, depth + 1) {
                    return false;
                }
            }
        } else if let Some(tuple) = TupleRef::from_value(value) {
            *total += 2;
            for item in tuple.content() {
                *total += 2;
                if !walk(*item, total, cap, depth + 1) {
                    return false;
                }
            }
        } else if let Some(dict) = DictRef::from_value(value) {
            *total += 2;
            for (key, item) in dict.iter() {
                *total += 4;
                if !walk(key, total, cap, depth + 1) || !walk(item, total, cap, depth + 1) {
                    return false;
                }
            }
        } else {
            // Floats, big ints (bounded by MAX_INT_DIGITS), ranges, functions.
            *total += value.to_repr().len();
        }
        true
    }
    let mut total = 0;
    walk(value, &mut total, cap, 0).then(|| total.min(cap.saturating_add(1)))
}

/// [`text_size`], refusing a value too deep to print.
fn printable_size(
    eval: &Evaluator,
    value: Value,
    cap: usize,
    what: &str,
) -> starlark::Result<usize> {
    text_size(value, cap).ok_or_else(|| {
        refuse(
            eval,
            format!(
                "nesting: {what} of a value nested deeper than {MAX_TEXT_DEPTH} (or containing itself)"
            ),
        )
    })
}

fn check_text(eval: &Evaluator, value: Value, what: &str) -> starlark::Result<()> {
    let cap = limits_of(eval).max_string_bytes;
    admit(eval, printable_size(eval, value, cap, what)?, 0, what)
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
