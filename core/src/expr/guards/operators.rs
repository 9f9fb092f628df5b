//! The guarded operators: `*`, `+`, `%` and `<<` refuse results too large
//! before they are built; `in` and `not in` charge the items they compare.

use super::{BYTES_PER_ITEM, Sized, admit, int_digits, is_int, printable_size, sized};
use crate::expr::sandbox::{MAX_INT_DIGITS, charge, limits_of, refuse};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;

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
    let arg = printable_size(eval, b, cap, "% formatting")?;
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

/// Charges a membership test by what it searches: a list's or tuple's
/// items, a string's bytes; dicts and ranges answer without a scan.
fn check_in<'v>(container: Value<'v>, eval: &Evaluator<'v, '_, '_>) -> starlark::Result<()> {
    let work = match sized(container) {
        Some(Sized::Items(len)) => len,
        Some(Sized::Bytes(len)) => len / BYTES_PER_ITEM,
        None => 0,
    };
    charge(eval, work, "`in`")
}

/// Installs the operator guards.
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

    /// `a in b`.
    fn __junction_in<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<bool> {
        check_in(b, eval)?;
        b.is_in(a)
    }

    /// `a not in b`.
    fn __junction_not_in<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<bool> {
        check_in(b, eval)?;
        Ok(!b.is_in(a)?)
    }
}
