//! Starlark expressions: switch conditions, trigger filters and `transform`
//! expressions. Pure (no I/O), deterministic and bounded.
//!
//! ```
//! use junction_core::expr::{Bindings, CompiledExpr};
//! use serde_json::json;
//!
//! let cond = CompiledExpr::compile("error_rate > ctx.threshold").unwrap();
//! let context = json!({"ctx": {"threshold": 0.1}, "steps": {}, "signal": null});
//! let bindings = Bindings::for_context(&context, &json!(null), Some(&json!({"error_rate": 0.5})), true, &[]);
//! assert!(cond.evaluate_bool(&bindings).unwrap());
//! ```
//!
//! **Dialect.** One expression (comprehensions and conditional expressions
//! allowed); no `def`, `lambda` or `load`, no statements. A *block*
//! ([`CompiledExpr::compile_block`], for `transform`) may also be statements
//! (assignments, `if`, `for`) ending in one expression, which is its value. The globals are
//! Starlark's standard library, which has no I/O, no clock and no randomness;
//! `hash` is the spec's fixed string hash and dict iteration follows
//! insertion order, so the same bindings always give the same result.
//!
//! **Names** come from [`Bindings`] (see [`Bindings::for_context`] for the
//! docs/language.md §2 resolution order). A binding shadows a builtin of the same name
//! (a dataPath key `type` beats the `type()` function). A name that is
//! neither is an error naming it and the names that were available. JSON
//! objects answer both `a.b` and `a["b"]`; arrays are lists.
//!
//! **Compiled once.** [`CompiledExpr::compile`] parses the expression, finds
//! the names it reads, and evaluates a module defining
//! `def __junction_expr(<those names>): return (<expression>)`, which it
//! freezes. Each evaluation only calls that function with the bound values
//! (CRATES.md: ~8x faster than re-parsing). Measured on the 2-core dev
//! machine, release build (`tests::compiled::bench_typical_condition`, run with
//! `cargo test -p junction-core --release --lib expr::tests::compiled::bench --
//! --ignored --nocapture`), for `error_rate > ctx.threshold and ctx.env ==
//! 'prod'` over a 5-key `ctx`: **~0.7 µs** per [`CompiledExpr::evaluate_bool`]
//! with the [`Bindings`] built once, **~3.2 µs** when each evaluation also
//! builds them with [`Bindings::for_context`] (which copies the context once;
//! [`Bindings::for_shared_context`] avoids that), and ~17 µs per compile.
//!
//! **Bounded** ([`Limits`], default [`Limits::EXPRESSION`]): 100 000 ticks
//! (calls and loop iterations), a call stack of 50, a 64 MiB Starlark heap
//! (no wall-clock bound: the same input always gives the same result on any
//! machine), strings of at
//! most 1 MiB and lists/ranges of at most 100 000 items produced by the
//! operations that can multiply sizes (`*`, `+`, `%`, `<<`, `join`,
//! `replace`, `format`, `extend`, `range`, `zip`, `str`, `repr`, `int` of a
//! long string), which are checked *before* they allocate (see
//! the private `guards` module), and a result of at most 4 MiB of JSON nested
//! at most 64 deep. The source is at most [`MAX_EXPRESSION_BYTES`], its
//! brackets and unary operators nest at most [`MAX_NESTING`] deep and its
//! tree at most [`MAX_AST_DEPTH`] (Starlark's parser and compiler recurse
//! without limit).
//!
//! **Work inside builtins** is charged to the tick budget, one tick per 64
//! items gone through (a string scan counts a unit per 16 bytes), for the
//! costly ones: `in`, `not in`, `sorted` (n log n), `min`, `max`, `any`,
//! `all`, `reversed`, `enumerate`, `join`, `extend`, `zip`, `replace` (see
//! the private `guards` module). So a membership test over a large list
//! repeated in a long loop stops at the tick limit instead of running for
//! seconds.
//!
//! **Not bounded**: the time of one call of the other builtins (list
//! equality, `count`, `index`, `split`, … over 100 000 items take a few ms
//! each, counted as one tick); memory allocated by builtins
//! that copy their input (`sorted`, `list()`, slicing, `split`, `elems()`)
//! between Starlark's heap checks every 1000 ticks, which deliberately
//! adversarial code could push to about 1000 × the largest allowed list;
//! memory outside the Starlark heap (dict hash tables); the stack used to
//! hash a tuple nested thousands deep (built a level per loop step and used
//! as a dict key: Starlark hashes by recursion, with no bound). These take
//! an expression written to attack the process, not a mistake.
//!
//! **Deep values.** A value can nest a level per loop step, far deeper than
//! any JSON: `str`, `repr`, `%`, `format` and `fail` refuse one nested
//! deeper than 256 (Starlark prints by unbounded recursion), comparisons
//! stop at Starlark's own recursion bound, and a result is at most 64 deep.
//! **Blocks** refuse `*=`, `%=` and `<<=` and check the heap before every
//! statement, as workflow files do (`s += s` in a loop is no operator the
//! guards see).

mod bindings;
mod block;
mod error;
mod guards;
mod json;
mod parse;
pub(crate) mod rewrite;
pub(crate) mod sandbox;
pub(crate) mod scan;

#[cfg(test)]
mod tests;

pub use bindings::{Bindings, is_bindable_name};
pub use error::{ExprError, ExprErrorKind};
pub use sandbox::Limits;

use json::{Budget, ToJsonError, to_json, to_starlark};
pub(crate) use parse::offset_position;
use parse::{Form, Parsed, SINGLE_EXPRESSION, parse};
use sandbox::{Failure, Guard};
use serde_json::Value as Json;
use starlark::environment::{FrozenModule, Module};
use starlark::eval::Evaluator;
use starlark::syntax::AstModule;
use starlark::values::{FrozenValue, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Longest accepted expression source, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 8 * 1024;
/// Deepest accepted bracket nesting of an expression source, and longest
/// run of unary operators (`- - x`, `not not x`).
pub const MAX_NESTING: usize = 64;
/// Deepest accepted syntax tree (a chain `a + b + …` or `a.b.c…` nests
/// once per operator).
pub const MAX_AST_DEPTH: usize = 200;

/// Name of the function an expression is compiled into.
const FUNCTION: &str = "__junction_expr";

/// A compiled expression: cheap to clone, `Send + Sync`, evaluated many times.
#[derive(Clone)]
pub struct CompiledExpr {
    inner: Arc<Inner>,
}

struct Inner {
    source: String,
    /// The names the expression reads, in parameter order.
    params: Vec<String>,
    /// The compiled function; lives in `_module`'s frozen heap.
    function: FrozenValue,
    /// Keeps the frozen heap of `function` alive (for as long as `self`).
    _module: FrozenModule,
    limits: Limits,
    /// A block with statements: the heap is checked before each of them
    /// (`s += s` in a loop is an operation no guard sees).
    statements: bool,
}

impl std::fmt::Debug for CompiledExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledExpr")
            .field("source", &self.inner.source)
            .field("params", &self.inner.params)
            .finish_non_exhaustive()
    }
}

/// Checks that `source` is one valid expression of the restricted dialect,
/// for validation time.
pub fn check_syntax(source: &str) -> Result<(), ExprError> {
    parse(source, Form::Expression).map(|_| ())
}

/// [`check_syntax`] for a block: one expression, or statements ending in one.
pub fn check_block_syntax(source: &str) -> Result<(), ExprError> {
    parse(source, Form::Block).map(|_| ())
}

/// Most compiled expressions [`CompiledExpr::cached`] keeps.
pub const CACHE_CAPACITY: usize = 4096;

impl CompiledExpr {
    /// Parses and compiles `source` with the default [`Limits`].
    pub fn compile(source: &str) -> Result<Self, ExprError> {
        Self::compile_with(source, Limits::default())
    }

    /// [`CompiledExpr::compile`], memoized process-wide by source text (at
    /// most [`CACHE_CAPACITY`] entries; the cache is cleared when full).
    /// Compiling is a pure function of the text, so the cache changes no
    /// outcome, only the ~17 µs a compile costs. Errors are not cached.
    pub fn cached(source: &str) -> Result<Self, ExprError> {
        static CACHE: OnceLock<Mutex<HashMap<String, CompiledExpr>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Mutex::default);
        if let Some(hit) = cache.lock().ok().and_then(|c| c.get(source).cloned()) {
            return Ok(hit);
        }
        let compiled = Self::compile(source)?;
        if let Ok(mut entries) = cache.lock() {
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(source.to_owned(), compiled.clone());
        }
        Ok(compiled)
    }

    /// Compiles a block (a `transform`): one expression, or statements
    /// (assignments, `if`, `for`) ending in one expression, whose value is
    /// the result. Memoized like [`CompiledExpr::cached`].
    pub fn compile_block(source: &str) -> Result<Self, ExprError> {
        static CACHE: OnceLock<Mutex<HashMap<String, CompiledExpr>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Mutex::default);
        if let Some(hit) = cache.lock().ok().and_then(|c| c.get(source).cloned()) {
            return Ok(hit);
        }
        let compiled =
            Self::compile_parsed(source, parse(source, Form::Block)?, Limits::default())?;
        if let Ok(mut entries) = cache.lock() {
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(source.to_owned(), compiled.clone());
        }
        Ok(compiled)
    }

    /// [`CompiledExpr::compile`] with other limits.
    pub fn compile_with(source: &str, limits: Limits) -> Result<Self, ExprError> {
        Self::compile_parsed(source, parse(source, Form::Expression)?, limits)
    }

    fn compile_parsed(source: &str, parsed: Parsed, limits: Limits) -> Result<Self, ExprError> {
        // Constants and internal names always resolve to the globals.
        let params: Vec<String> = parsed
            .names
            .into_iter()
            .filter(|name| is_bindable_name(name) || sandbox::global(name).is_none())
            .collect();
        drop(parsed.ast);
        let statements = !parsed.statements.trim().is_empty();
        let wrapper = format!(
            "def {FUNCTION}({}):\n{}\n    return (\n{}\n    )\n",
            params.join(", "),
            block::indent_block(&parsed.statements),
            parsed.value,
        );
        let internal = |message: String| ExprError::runtime(source, format!("internal: {message}"));
        // The source parsed alone as one expression; inside the wrapper it
        // fails only with a trailing `;`.
        let mut ast = AstModule::parse("expression", wrapper, &sandbox::plan_dialect())
            .map_err(|_| ExprError::parse(source, SINGLE_EXPRESSION, 1, 1))?;
        sandbox::guard_operators(&mut ast);
        let module = sandbox::freeze_module(ast, &limits).map_err(internal)?;
        let (owned, _) = module
            .get_any_visibility(FUNCTION)
            .map_err(|e| internal(e.to_string()))?;
        // The frozen value stays valid while `_module` (stored next to it)
        // holds its heap; evaluations borrow `self`.
        let mut function = FrozenValue::new_none();
        let _ = owned.map(|value| {
            function = value;
            value
        });
        Ok(Self {
            inner: Arc::new(Inner {
                source: source.to_owned(),
                params,
                function,
                _module: module,
                limits,
                statements,
            }),
        })
    }

    /// The source, as written.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The names the expression reads that are not builtins: what the
    /// bindings must provide.
    pub fn variables(&self) -> Vec<&str> {
        self.inner
            .params
            .iter()
            .map(String::as_str)
            .filter(|name| sandbox::global(name).is_none())
            .collect()
    }

    /// Evaluates to JSON.
    pub fn evaluate(&self, bindings: &Bindings) -> Result<Json, ExprError> {
        let limits = &self.inner.limits;
        self.run(bindings, |value, expr| {
            let mut budget = Budget::new(limits.max_result_bytes, limits.max_result_depth);
            to_json(value, &mut budget).map_err(|e| match e {
                ToJsonError::TooLarge => expr.limit_error(
                    bindings,
                    format!(
                        "result size: more than {} bytes of JSON",
                        limits.max_result_bytes
                    ),
                ),
                ToJsonError::TooDeep => expr.limit_error(
                    bindings,
                    format!(
                        "nesting: the result nests deeper than {}",
                        limits.max_result_depth
                    ),
                ),
                ToJsonError::Unsupported(message) => expr.runtime_error(bindings, message),
            })
        })
    }

    /// Evaluates with Starlark truthiness: None, False, 0, "" and empty
    /// collections are false.
    pub fn evaluate_bool(&self, bindings: &Bindings) -> Result<bool, ExprError> {
        self.run(bindings, |value, _| Ok(value.to_bool()))
    }

    fn runtime_error(&self, bindings: &Bindings, message: impl Into<String>) -> ExprError {
        ExprError::runtime(&self.inner.source, message).with_available(available(bindings))
    }

    fn limit_error(&self, bindings: &Bindings, what: impl Into<String>) -> ExprError {
        ExprError::limit(&self.inner.source, what).with_available(available(bindings))
    }

    fn run<T>(
        &self,
        bindings: &Bindings,
        finish: impl for<'v> FnOnce(Value<'v>, &Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        // Resolve every parameter first: an unknown name fails before any work.
        let mut nodes = Vec::with_capacity(self.inner.params.len());
        for name in &self.inner.params {
            match bindings.get(name) {
                Some(value) => nodes.push(Ok(value)),
                None => match sandbox::global(name) {
                    Some(builtin) => nodes.push(Err(builtin)),
                    None => {
                        return Err(self.runtime_error(bindings, unknown_variable(name, bindings)));
                    }
                },
            }
        }
        Module::with_temp_heap(|module| {
            let guard = Guard::new(self.inner.limits);
            let mut eval = Evaluator::new(&module);
            let _installed = guard.install(&mut eval);
            if self.inner.statements {
                eval.before_stmt_for_dap(guard.statement_hook());
            }
            let heap = module.heap();
            let mut args: Vec<Value> = Vec::with_capacity(nodes.len());
            for (node, name) in nodes.iter().zip(&self.inner.params) {
                args.push(match node {
                    Ok(value) => to_starlark(value, heap).ok_or_else(|| {
                        self.limit_error(
                            bindings,
                            format!(
                                "nesting: {name} nests deeper than {}",
                                json::MAX_INPUT_DEPTH
                            ),
                        )
                    })?,
                    Err(builtin) => builtin.to_value(),
                });
            }
            match eval.eval_function(self.inner.function.to_value(), &args, &[]) {
                Ok(value) => finish(value, self),
                Err(error) => Err(match guard.failure(&error, &eval) {
                    Failure::Limit(what) => self.limit_error(bindings, what),
                    Failure::Runtime(message, _) => self.runtime_error(bindings, message),
                }),
            }
        })
    }
}

/// Converts a value to JSON within the result limits of `limits`; the error
/// says whether the value was too large, and why.
pub(crate) fn json_budget(value: Value, limits: &Limits) -> Result<Json, (bool, String)> {
    let mut budget = Budget::new(limits.max_result_bytes, limits.max_result_depth);
    to_json(value, &mut budget).map_err(|e| match e {
        ToJsonError::TooLarge => (
            true,
            format!("is larger than {} bytes of JSON", limits.max_result_bytes),
        ),
        ToJsonError::TooDeep => (
            false,
            format!("nests deeper than {}", limits.max_result_depth),
        ),
        ToJsonError::Unsupported(message) => (false, message),
    })
}

fn available(bindings: &Bindings) -> Vec<String> {
    bindings.names().map(str::to_owned).collect()
}

/// `unknown variable "x"`, with a suggestion when a bound name is close.
fn unknown_variable(name: &str, bindings: &Bindings) -> String {
    let suggestion = bindings
        .names()
        .filter(|candidate| edit_distance(name, candidate) <= 2)
        .min_by_key(|candidate| edit_distance(name, candidate));
    match suggestion {
        Some(s) => format!("unknown variable {name:?} (did you mean {s:?}?)"),
        None => format!("unknown variable {name:?}"),
    }
}

/// Levenshtein distance, for suggestions (names are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current[j + 1] = (previous[j] + cost)
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}
