//! `starlark.eval`: one Starlark expression, evaluated in the worker with
//! the core's evaluator (`junction_core::expr`), deterministic and bounded
//! exactly like switch conditions. Input `{expression | code, input?}`; the
//! names are those of conditions (`ctx`, `steps`, `signal`, `input`, then
//! the keys of the context and of `ctx`), from the bindings the task
//! carries. The output is the expression's value. An expression that does
//! not parse, raises or passes its bounds fails the step with
//! `STARLARK_ERROR`; an input without an expression is `INVALID_INPUT`.
//! Neither is retried: the same bindings give the same answer.

use super::{BoxFuture, Execution, Executor, Outcome};
use junction_core::expr::{Bindings, CompiledExpr};
use junction_core::wire::ErrorInfo;
use junction_core::wire::error::codes;
use serde_json::{Value, json};

/// Evaluates `starlark.eval` tasks.
#[derive(Debug, Default)]
pub struct StarlarkEvalExecutor;

impl Executor for StarlarkEvalExecutor {
    fn execute<'a>(&'a self, execution: Execution<'a>) -> BoxFuture<'a, Outcome> {
        let task = execution.task;
        let outcome = evaluate(task.action.input(), task.bindings.as_ref());
        Box::pin(async move { outcome })
    }
}

/// The value of the input's expression over `bindings` (`{ctx, steps,
/// signal, input}`; absent ones are `None`).
pub fn evaluate(input: &Value, bindings: Option<&Value>) -> Outcome {
    let source = match ["expression", "code"].iter().find_map(|k| input.get(*k)) {
        Some(Value::String(source)) if !source.trim().is_empty() => source,
        Some(other) => {
            return input_error(format!(
                "starlark.eval: `expression` must be a non-empty string, got {other}"
            ));
        }
        None => return input_error("starlark.eval needs `expression` (or `code`)".to_owned()),
    };
    let empty = Value::Null;
    let bindings = bindings.unwrap_or(&empty);
    let field = |name: &str| bindings.get(name).cloned().unwrap_or(Value::Null);
    let context =
        json!({ "ctx": field("ctx"), "steps": field("steps"), "signal": field("signal") });
    let names = Bindings::for_context(&context, &field("input"), None, false, &[]);
    match CompiledExpr::cached(source).and_then(|expr| expr.evaluate(&names)) {
        Ok(value) => Outcome::succeeded(value),
        Err(error) => Outcome::failed(
            ErrorInfo::new(
                codes::STARLARK_ERROR,
                format!("starlark.eval: {}", error.in_role("expression")),
            )
            .not_retryable(),
        ),
    }
}

fn input_error(message: String) -> Outcome {
    Outcome::failed(ErrorInfo::new(codes::INVALID_INPUT, message).not_retryable())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_code(outcome: &Outcome) -> Option<&str> {
        match outcome {
            Outcome::Failed { error, .. } => Some(error.code.as_str()),
            _ => None,
        }
    }

    fn bindings() -> Value {
        json!({
            "ctx": {"threshold": 3, "items": [1, 2, 3, 4]},
            "steps": {"fetch": {"status": 200}},
            "signal": {"type": "order.created", "data": {"id": "A"}},
            "input": {"factor": 10},
        })
    }

    #[test]
    fn an_expression_reads_the_condition_names_and_returns_its_value() {
        let outcome = evaluate(
            &json!({"expression": "[x * input.factor for x in ctx.items if x < threshold]"}),
            Some(&bindings()),
        );
        assert_eq!(outcome, Outcome::succeeded(json!([10, 20])));
        let outcome = evaluate(
            &json!({"code": "{'ok': steps.fetch.status == 200, 'id': signal.data.id}"}),
            Some(&bindings()),
        );
        assert_eq!(outcome, Outcome::succeeded(json!({"ok": true, "id": "A"})));
    }

    #[test]
    fn without_bindings_every_condition_name_is_none() {
        let outcome = evaluate(&json!({"expression": "[ctx, steps, signal, input]"}), None);
        assert_eq!(outcome, Outcome::succeeded(json!([null, null, null, null])));
    }

    #[test]
    fn errors_and_bad_input_fail_the_step_for_good() {
        for (input, code) in [
            (json!({"expression": "1 // 0"}), codes::STARLARK_ERROR),
            (
                json!({"expression": "unknown_name + 1"}),
                codes::STARLARK_ERROR,
            ),
            (json!({"expression": "1 +"}), codes::STARLARK_ERROR),
            (
                json!({"expression": "[x for x in range(10000000)]"}),
                codes::STARLARK_ERROR,
            ),
            (json!({"input": 1}), codes::INVALID_INPUT),
            (json!({"expression": 42}), codes::INVALID_INPUT),
            (json!({"code": "  "}), codes::INVALID_INPUT),
        ] {
            let outcome = evaluate(&input, Some(&bindings()));
            assert_eq!(error_code(&outcome), Some(code), "{input}: {outcome:?}");
            if let Outcome::Failed { error, .. } = &outcome {
                assert_eq!(error.retryable, Some(false));
            }
        }
        let Outcome::Failed { error, .. } = evaluate(&json!({"expression": "nope"}), None) else {
            panic!("an unknown name fails");
        };
        assert!(error.message.contains("nope"), "{}", error.message);
    }
}
