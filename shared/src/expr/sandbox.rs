//! The sandbox shared by expressions and `*.workflow.star` files: dialects,
//! the globals (the Starlark standard library, minus nothing, plus size
//! guards), the evaluator limits, and the mapping of Starlark errors.
//!
//! Size guards. Starlark allocates before it checks its heap limit, so an
//! operation such as `'x' * 2**31` or `"".join([big] * n)` could exhaust
//! memory in one step. Every operation that can multiply sizes is routed
//! through a guard that computes the size of its result first and refuses it
//! above [`Limits`]:
//! - the operators `*`, `+`, `%` and `<<` (rewritten to `__junction_mul` and
//!   friends with `AstModule::replace_binary_operators`);
//! - the methods `join`, `replace`, `format` and `extend` (calls are rewritten
//!   to `__junction_call(obj, "join", …)`, other references to
//!   `__junction_attr`, see [`super::rewrite`]);
//! - the globals `range` (length), `str`, `repr`, `fail` (size of the text),
//!   `int` (length of a string to parse) and `getattr` (the guarded methods).

use starlark::environment::{FrozenModule, Globals, GlobalsBuilder};
use starlark::eval::Evaluator;
use starlark::syntax::Dialect;
use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::tuple::{TupleRef, UnpackTuple};
use starlark::values::{FrozenValue, Value};
use starlark::{ErrorKind, starlark_module};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// Bounds of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Starlark ticks (function calls and loop iterations).
    pub max_ticks: u64,
    /// Nested calls.
    pub max_callstack: usize,
    /// Wall-clock budget; `None` for none (the outcome is then fully
    /// deterministic, which tests use).
    pub timeout: Option<Duration>,
    /// Largest string (or bytes) an operation may produce.
    pub max_string_bytes: usize,
    /// Largest list, tuple or range an operation may produce.
    pub max_items: usize,
    /// Starlark heap: checked before every guarded operation, and by
    /// Starlark itself every 1000 ticks.
    pub max_heap_bytes: usize,
    /// Size of the result as compact JSON.
    pub max_result_bytes: usize,
    /// Nesting of the result.
    pub max_result_depth: usize,
}

/// Longest decimal integer an operation may produce or `int()` may parse
/// (large integers cost quadratic time to print and parse).
pub(crate) const MAX_INT_DIGITS: usize = 4300;

impl Limits {
    /// The bounds of conditions, filters and transforms.
    pub const EXPRESSION: Limits = Limits {
        max_ticks: 100_000,
        max_callstack: 50,
        timeout: Some(Duration::from_millis(100)),
        max_string_bytes: 1 << 20,
        max_items: 100_000,
        max_heap_bytes: 64 << 20,
        max_result_bytes: 4 << 20,
        max_result_depth: 64,
    };

    /// The bounds of evaluating a `*.workflow.star` file.
    pub const PLAN: Limits = Limits {
        max_ticks: 2_000_000,
        max_callstack: 100,
        timeout: Some(Duration::from_secs(2)),
        max_string_bytes: 1 << 20,
        max_items: 100_000,
        max_heap_bytes: 128 << 20,
        max_result_bytes: 4 << 20,
        max_result_depth: 64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::EXPRESSION
    }
}

/// Methods that can multiply sizes; see the module doc.
pub(crate) const GUARDED_METHODS: &[&str] = &["join", "replace", "format", "extend"];

/// Operators routed through guards, and the guard names.
pub(crate) const GUARDED_OPERATORS: &[(&str, &str)] = &[
    ("*", "__junction_mul"),
    ("+", "__junction_add"),
    ("%", "__junction_percent"),
    ("<<", "__junction_shl"),
];

/// Expressions: no `def`, `lambda` or `load`.
pub(crate) fn expression_dialect() -> Dialect {
    Dialect {
        enable_def: false,
        enable_lambda: false,
        enable_load: false,
        ..Dialect::Standard
    }
}

/// Plans (and the wrapper an expression is compiled into): no `load`.
pub(crate) fn plan_dialect() -> Dialect {
    Dialect {
        enable_load: false,
        ..Dialect::Standard
    }
}

/// The globals of the sandbox: the standard library (no I/O, no time, no
/// randomness; `hash` is the spec's deterministic string hash) with the
/// guards installed.
pub(crate) fn globals() -> &'static Globals {
    static GLOBALS: LazyLock<Globals> =
        LazyLock::new(|| GlobalsBuilder::standard().with(guards).build());
    &GLOBALS
}

/// The unguarded standard functions the guards delegate to.
fn native(name: &str) -> FrozenValue {
    static NATIVE: LazyLock<(Globals, HashMap<String, FrozenValue>)> = LazyLock::new(|| {
        let globals = Globals::standard();
        let map = globals
            .iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        (globals, map)
    });
    // The names asked for are the standard ones this module overrides.
    NATIVE.1.get(name).copied().unwrap_or_else(FrozenValue::new_none)
}

/// A global of the sandbox, for names an expression does not bind.
pub(crate) fn global(name: &str) -> Option<FrozenValue> {
    static MAP: LazyLock<HashMap<String, FrozenValue>> = LazyLock::new(|| {
        globals()
            .iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    });
    MAP.get(name).copied()
}

/// What the guard functions read during an evaluation.
struct Shared {
    limits: Limits,
    /// Which limit a guard refused, for the error.
    tripped: RefCell<Option<String>>,
    deadline: Option<Instant>,
    timed_out: Cell<bool>,
}

impl Shared {
    fn past_deadline(&self) -> bool {
        let late = self.deadline.is_some_and(|d| Instant::now() >= d);
        if late {
            self.timed_out.set(true);
        }
        late
    }
}

thread_local! {
    /// The guard of the evaluation running on this thread. Evaluation is
    /// synchronous, so the guard functions find it here.
    static ACTIVE: RefCell<Option<Rc<Shared>>> = const { RefCell::new(None) };
}

/// The limits of one evaluation, applied to an [`Evaluator`] and made
/// visible to the guard functions while it is installed.
pub(crate) struct Guard {
    shared: Rc<Shared>,
}

/// Uninstalls a [`Guard`] when dropped.
pub(crate) struct Installed {
    previous: Option<Rc<Shared>>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        ACTIVE.with(|active| *active.borrow_mut() = previous);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("limit exceeded: {0}")]
struct LimitHit(String);

/// How an evaluation failed.
pub(crate) enum Failure {
    Limit(String),
    /// The message, and the 1-based line and column in the evaluated source.
    Runtime(String, Option<(u32, u32)>),
}

impl Guard {
    pub(crate) fn new(limits: Limits) -> Self {
        let deadline = limits.timeout.map(|t| Instant::now() + t);
        Self {
            shared: Rc::new(Shared {
                limits,
                tripped: RefCell::new(None),
                deadline,
                timed_out: Cell::new(false),
            }),
        }
    }

    /// Applies the limits to `eval` and makes them visible to the guard
    /// functions until the returned value is dropped.
    #[must_use]
    pub(crate) fn install<'a>(&'a self, eval: &mut Evaluator<'_, 'a, '_>) -> Installed {
        let limits = &self.shared.limits;
        // These fail only when set twice or to zero.
        let _ = eval.set_max_tick_count(limits.max_ticks.max(1));
        let _ = eval.set_max_callstack_size(limits.max_callstack.max(1));
        let _ = eval.set_max_heap_size(limits.max_heap_bytes.max(1));
        if self.shared.deadline.is_some() {
            let shared = Rc::clone(&self.shared);
            eval.set_check_cancelled(Box::new(move || shared.past_deadline()));
        }
        let previous = ACTIVE.with(|active| active.borrow_mut().replace(Rc::clone(&self.shared)));
        Installed { previous }
    }

    /// A hook run before every statement (plans only: it costs time). It
    /// checks the heap and the deadline, so that statements the operator
    /// guards do not see (`x += x` in a loop) are stopped within one
    /// statement of the limit rather than within 1000 ticks.
    pub(crate) fn statement_hook<'e>(&self) -> starlark::eval::BeforeStmtFunc<'static, 'e> {
        starlark::eval::BeforeStmtFunc::from_dyn(Box::new(StatementHook {
            shared: Rc::clone(&self.shared),
        }))
    }

    /// Classifies an evaluation error.
    pub(crate) fn failure(&self, error: &starlark::Error, eval: &Evaluator) -> Failure {
        let limits = &self.shared.limits;
        if let Some(what) = self.shared.tripped.borrow().clone() {
            return Failure::Limit(what);
        }
        if self.shared.timed_out.get() {
            return Failure::Limit(format!(
                "time: evaluation took longer than {} ms",
                limits.timeout.unwrap_or_default().as_millis()
            ));
        }
        if eval.get_total_tick_count() >= limits.max_ticks {
            return Failure::Limit(format!(
                "ticks: more than {} steps (function calls and loop iterations)",
                limits.max_ticks
            ));
        }
        if matches!(error.kind(), ErrorKind::StackOverflow(_)) {
            return Failure::Limit(format!(
                "call stack: deeper than {} calls",
                limits.max_callstack
            ));
        }
        let message = error.without_diagnostic().to_string();
        if message.starts_with("Heap memory limit") {
            return Failure::Limit(format!("memory: more than {} bytes", limits.max_heap_bytes));
        }
        let position = error.span().map(|span| {
            let begin = span.resolve_span().begin;
            (to_u32(begin.line + 1), to_u32(begin.column + 1))
        });
        Failure::Runtime(clean_message(&message), position)
    }

}

struct StatementHook {
    shared: Rc<Shared>,
}

impl<'e> starlark::eval::BeforeStmtFuncDyn<'e> for StatementHook {
    fn call<'v>(
        &mut self,
        _span: starlark::codemap::FileSpanRef,
        _continued: bool,
        eval: &mut Evaluator<'v, '_, 'e>,
    ) -> starlark::Result<()> {
        let limits = &self.shared.limits;
        if eval.heap().allocated_bytes() > limits.max_heap_bytes {
            let what = format!("memory: more than {} bytes", limits.max_heap_bytes);
            self.shared.tripped.replace(Some(what.clone()));
            return Err(starlark::Error::new_other(LimitHit(what)));
        }
        if self.shared.past_deadline() {
            return Err(starlark::Error::new_other(LimitHit("time".to_owned())));
        }
        Ok(())
    }
}

pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Starlark messages sometimes end with a newline or carry a hint block.
fn clean_message(message: &str) -> String {
    message.trim().to_owned()
}

fn limits_of(_eval: &Evaluator) -> Limits {
    ACTIVE.with(|active| {
        active
            .borrow()
            .as_ref()
            .map_or(Limits::EXPRESSION, |shared| shared.limits)
    })
}

/// Records and returns a limit error.
fn refuse(_eval: &Evaluator, what: String) -> starlark::Error {
    ACTIVE.with(|active| {
        if let Some(shared) = active.borrow().as_ref() {
            shared.tripped.replace(Some(what.clone()));
        }
    });
    starlark::Error::new_other(LimitHit(what))
}

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
    let shift = b.unpack_i32().map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(0));
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
                let size = s.len().saturating_add(occurrences.saturating_mul(new.len()));
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

#[starlark_module]
fn guards(builder: &mut GlobalsBuilder) {
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

/// Whether a guard refused something in this evaluation.
fn is_tripped() -> bool {
    ACTIVE.with(|active| {
        active
            .borrow()
            .as_ref()
            .is_some_and(|shared| shared.tripped.borrow().is_some())
    })
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
fn attribute<'v>(obj: Value<'v>, name: &str, eval: &Evaluator<'v, '_, '_>) -> starlark::Result<Value<'v>> {
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

/// Freezes a module evaluated from `ast`, for reuse across evaluations.
pub(crate) fn freeze_module(
    ast: starlark::syntax::AstModule,
    limits: &Limits,
) -> Result<FrozenModule, String> {
    starlark::environment::Module::with_temp_heap(|module| {
        {
            let guard = Guard::new(*limits);
            let mut eval = Evaluator::new(&module);
            let _installed = guard.install(&mut eval);
            eval.eval_module(ast, globals())
                .map_err(|e| e.without_diagnostic().to_string())?;
        }
        module.freeze().map_err(|e| format!("{e:?}"))
    })
}
