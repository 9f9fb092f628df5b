//! Guarded builtins: `range` and `zip` (length), `str`, `repr` and `fail`
//! (size of the text) and `int` (length of a string to parse), checked
//! before they delegate to the standard ones.

use super::{admit, check_text, count_items, printable_size};
use crate::expr::sandbox::{MAX_INT_DIGITS, charge, limits_of, native, refuse};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::tuple::UnpackTuple;

/// Installs the builtin guards.
#[starlark_module]
pub(super) fn register(builder: &mut GlobalsBuilder) {
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
        let items = shortest.saturating_mul(args.items.len());
        charge(eval, items, "zip")?;
        admit(eval, 0, items, "zip")?;
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
        let mut size = 0usize;
        for v in &args.items {
            size = size.saturating_add(printable_size(eval, *v, cap, "fail()")?);
        }
        admit(eval, size, 0, "fail()")?;
        eval.eval_function(native("fail").to_value(), &args.items, &[])
    }
}
