//! Builtins whose work grows with their input, wrapped to charge it to the
//! tick budget before they delegate to the standard ones unchanged (same
//! arguments, same results and errors): `sorted` (n log n comparisons),
//! `min`, `max`, `any`, `all`, `reversed` and `enumerate` (one unit per item).

use super::count_items;
use crate::expr::sandbox::{charge, limits_of, native};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::dict::DictRef;
use starlark::values::tuple::UnpackTuple;

/// How the work of a builtin grows with the number of items `n` it reads.
#[derive(Clone, Copy)]
enum Growth {
    /// One unit per item.
    Linear,
    /// `n log2 n` comparisons.
    Sort,
}

/// Charges the work of `name` over `args`, then calls the standard `name`.
/// The items are those of the first argument (of the arguments themselves
/// when `min`/`max` compare several).
fn call<'v>(
    name: &str,
    growth: Growth,
    args: &[Value<'v>],
    kwargs: DictRef<'v>,
    eval: &mut Evaluator<'v, '_, '_>,
) -> starlark::Result<Value<'v>> {
    let items = match args {
        [one] => count_items(*one, limits_of(eval).max_items, eval),
        several => several.len(),
    };
    let work = match growth {
        Growth::Linear => items,
        Growth::Sort => items.saturating_mul(items.max(1).ilog2() as usize),
    };
    charge(eval, work, &format!("{name}()"))?;
    let names: Vec<(String, Value<'v>)> = kwargs
        .iter()
        .filter_map(|(k, v)| k.unpack_str().map(|k| (k.to_owned(), v)))
        .collect();
    let named: Vec<(&str, Value<'v>)> = names.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    eval.eval_function(native(name).to_value(), args, &named)
}

/// Installs the charged builtins.
#[starlark_module]
pub(super) fn register(builder: &mut GlobalsBuilder) {
    fn sorted<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: DictRef<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        call("sorted", Growth::Sort, &args.items, kwargs, eval)
    }

    fn min<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: DictRef<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        call("min", Growth::Linear, &args.items, kwargs, eval)
    }

    fn max<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: DictRef<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        call("max", Growth::Linear, &args.items, kwargs, eval)
    }

    fn any<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: DictRef<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        call("any", Growth::Linear, &args.items, kwargs, eval)
    }

    fn all<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: DictRef<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        call("all", Growth::Linear, &args.items, kwargs, eval)
    }

    fn reversed<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: DictRef<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        call("reversed", Growth::Linear, &args.items, kwargs, eval)
    }

    fn enumerate<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: DictRef<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        call("enumerate", Growth::Linear, &args.items, kwargs, eval)
    }
}
