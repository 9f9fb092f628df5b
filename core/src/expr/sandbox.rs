//! The sandbox shared by expressions and `*.workflow.star` files: dialects,
//! the globals (the Starlark standard library with the guards of
//! [`super::guards`] installed), the evaluator limits ([`Limits`], applied by
//! a [`Guard`]), and the classification of Starlark errors.
//!
//! The guard functions are plain Starlark globals, so they find the limits
//! of the running evaluation in a thread-local that [`Guard::install`] sets:
//! evaluation is synchronous and never nested.
//!
//! Time is not an input: every bound counts steps (ticks, call depth, heap
//! bytes, items and string bytes), never the wall clock, so the same source
//! and bindings give the same result, or the same limit error, on any
//! machine and under any load.

use starlark::ErrorKind;
use starlark::environment::{FrozenModule, Globals, GlobalsBuilder};
use starlark::eval::Evaluator;
use starlark::syntax::Dialect;
use starlark::values::FrozenValue;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::LazyLock;

/// Bounds of one evaluation. All of them count steps or sizes, none time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Starlark ticks (function calls and loop iterations): the bound on
    /// how long an evaluation runs.
    pub max_ticks: u64,
    /// Nested calls.
    pub max_callstack: usize,
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

/// Methods that can multiply sizes (see [`super::guards`]).
pub(crate) const GUARDED_METHODS: &[&str] = &["join", "replace", "format", "extend"];

/// Operators routed through guards, and the guard names.
pub(crate) const GUARDED_OPERATORS: &[(&str, &str)] = &[
    ("*", "__junction_mul"),
    ("+", "__junction_add"),
    ("%", "__junction_percent"),
    ("<<", "__junction_shl"),
    ("in", "__junction_in"),
    ("not in", "__junction_not_in"),
];

/// Routes the [`GUARDED_OPERATORS`] of a parsed module through their guards.
pub(crate) fn guard_operators(ast: &mut starlark::syntax::AstModule) {
    let operators: HashMap<String, String> = GUARDED_OPERATORS
        .iter()
        .map(|(op, f)| ((*op).to_owned(), (*f).to_owned()))
        .collect();
    ast.replace_binary_operators(&operators);
}

/// Units of work inside a builtin (comparisons, items visited) that cost
/// one tick; see [`charge`].
pub(crate) const WORK_PER_TICK: usize = 64;

/// Expressions: no `def`, `lambda` or `load`.
pub(crate) fn expression_dialect() -> Dialect {
    Dialect {
        enable_def: false,
        enable_lambda: false,
        enable_load: false,
        ..Dialect::Standard
    }
}

/// Blocks (`transform`): expressions plus statements, `if` and `for`
/// included, but no `def`, `lambda` or `load`.
pub(crate) fn block_dialect() -> Dialect {
    Dialect {
        enable_top_level_stmt: true,
        ..expression_dialect()
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
    static GLOBALS: LazyLock<Globals> = LazyLock::new(|| {
        GlobalsBuilder::standard()
            .with(super::guards::register)
            .build()
    });
    &GLOBALS
}

/// The unguarded standard functions the guards delegate to.
pub(super) fn native(name: &str) -> FrozenValue {
    static NATIVE: LazyLock<(Globals, HashMap<String, FrozenValue>)> = LazyLock::new(|| {
        let globals = Globals::standard();
        let map = globals
            .iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        (globals, map)
    });
    // The names asked for are standard ones that the guards override.
    NATIVE
        .1
        .get(name)
        .copied()
        .unwrap_or_else(FrozenValue::new_none)
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
    /// Ticks charged for the work inside builtins (see [`charge`]).
    charged: Cell<u64>,
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
        Self {
            shared: Rc::new(Shared {
                limits,
                tripped: RefCell::new(None),
                charged: Cell::new(0),
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
        let previous = ACTIVE.with(|active| active.borrow_mut().replace(Rc::clone(&self.shared)));
        Installed { previous }
    }

    /// A hook run before every statement (plans only: it costs time). It
    /// checks the heap, so that statements the operator guards do not see
    /// (`x += x` in a loop) are stopped within one statement of the limit
    /// rather than within 1000 ticks.
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
        if eval.get_total_tick_count() >= limits.max_ticks {
            return Failure::Limit(ticks_exceeded(limits.max_ticks, ""));
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

pub(super) fn limits_of(_eval: &Evaluator) -> Limits {
    ACTIVE.with(|active| {
        active
            .borrow()
            .as_ref()
            .map_or(Limits::EXPRESSION, |shared| shared.limits)
    })
}

/// Records and returns a limit error.
pub(super) fn refuse(_eval: &Evaluator, what: String) -> starlark::Error {
    ACTIVE.with(|active| {
        if let Some(shared) = active.borrow().as_ref() {
            shared.tripped.replace(Some(what.clone()));
        }
    });
    starlark::Error::new_other(LimitHit(what))
}

/// The message of the tick limit; `work` names the builtin whose work
/// (charged by [`charge`]) crossed it, if one did.
fn ticks_exceeded(max_ticks: u64, work: &str) -> String {
    if work.is_empty() {
        format!("ticks: more than {max_ticks} steps (function calls and loop iterations)")
    } else {
        format!(
            "ticks: more than {max_ticks} steps (function calls, loop iterations and the work of {work})"
        )
    }
}

/// Charges `work` units done by one builtin call (comparisons, items
/// visited) to the tick budget, one tick per [`WORK_PER_TICK`] units (the
/// call's own tick covers the first ones), and refuses the call when the
/// ticks so far and those charged exceed the limit. Deterministic: the
/// charge depends only on the sizes of the values.
pub(super) fn charge(eval: &Evaluator, work: usize, what: &str) -> starlark::Result<()> {
    let ticks = u64::try_from(work / WORK_PER_TICK).unwrap_or(u64::MAX);
    if ticks == 0 {
        return Ok(());
    }
    let over = ACTIVE.with(|active| {
        let active = active.borrow();
        let shared = active.as_ref()?;
        let charged = shared.charged.get().saturating_add(ticks);
        shared.charged.set(charged);
        let max = shared.limits.max_ticks;
        (eval.get_total_tick_count().saturating_add(charged) > max).then_some(max)
    });
    match over {
        Some(max) => Err(refuse(eval, ticks_exceeded(max, what))),
        None => Ok(()),
    }
}

/// Whether a guard refused something in this evaluation.
pub(super) fn is_tripped() -> bool {
    ACTIVE.with(|active| {
        active
            .borrow()
            .as_ref()
            .is_some_and(|shared| shared.tripped.borrow().is_some())
    })
}

/// Freezes a module evaluated from `ast`, for reuse across evaluations.
pub(crate) fn freeze_module(
    ast: starlark::syntax::AstModule,
    limits: &Limits,
) -> Result<FrozenModule, String> {
    let globals = globals();
    starlark::environment::Module::with_temp_heap(|module| {
        {
            let guard = Guard::new(*limits);
            let mut eval = Evaluator::new(&module);
            let _installed = guard.install(&mut eval);
            eval.eval_module(ast, globals)
                .map_err(|e| e.without_diagnostic().to_string())?;
        }
        module.freeze().map_err(|e| format!("{e:?}"))
    })
}
