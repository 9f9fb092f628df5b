//! Parsing an expression source: the size and nesting checks, the restricted
//! dialect (one expression, or for a block statements ending in one), the
//! free names and the rewritten text the compiled function is built from.

use super::error::ExprError;
use super::{MAX_AST_DEPTH, MAX_EXPRESSION_BYTES, MAX_NESTING, block, rewrite, sandbox, scan};
use starlark::syntax::AstModule;
use starlark::syntax::ast::{AstExpr, AstStmt};
use std::collections::BTreeSet;

/// What a source may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// One expression.
    Expression,
    /// One expression, or statements ending in one.
    Block,
}

/// A parsed expression: the AST and its free names.
pub(super) struct Parsed {
    pub(super) ast: AstModule,
    pub(super) names: Vec<String>,
    /// The statements before the value (a block), rewritten; empty for one
    /// expression.
    pub(super) statements: String,
    /// The value expression with attribute reads and guarded calls rewritten.
    pub(super) value: String,
}

pub(super) const SINGLE_EXPRESSION: &str =
    "expected a single expression (no statements, assignments or `;`)";

pub(super) fn parse(source: &str, form: Form) -> Result<Parsed, ExprError> {
    if source.len() > MAX_EXPRESSION_BYTES {
        return Err(ExprError::limit(
            source,
            format!(
                "source size: the expression is {} bytes (at most {MAX_EXPRESSION_BYTES})",
                source.len()
            ),
        ));
    }
    if let Some((offset, message)) = scan::nesting_error(source, MAX_NESTING) {
        let (line, column) = offset_position(source, offset);
        return Err(ExprError::parse(source, message, line, column));
    }
    let dialect = match form {
        Form::Expression => sandbox::expression_dialect(),
        Form::Block => sandbox::block_dialect(),
    };
    let ast = AstModule::parse("expression", source.to_owned(), &dialect).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |span| {
            let begin = span.resolve_span().begin;
            (
                sandbox::to_u32(begin.line + 1),
                sandbox::to_u32(begin.column + 1),
            )
        });
        ExprError::parse(source, parse_message(&e), line, column)
    })?;
    let position = |span| {
        let begin = ast.file_span(span).resolve_span().begin;
        (
            sandbox::to_u32(begin.line + 1),
            sandbox::to_u32(begin.column + 1),
        )
    };
    let statement = ast.statement();
    let (expr, in_block) = match rewrite::single_expression(statement) {
        Ok(expr) => (expr, false),
        Err(span) => match block::last_expression(statement) {
            Some(expr) if form == Form::Block => (expr, true),
            _ => {
                let (line, column) = position(span);
                let message = match form {
                    Form::Expression => SINGLE_EXPRESSION,
                    Form::Block => "expected one expression, or statements ending in one",
                };
                return Err(ExprError::parse(source, message, line, column));
            }
        },
    };
    let end = expr.span.end().get() as usize;
    if let Some((offset, _)) = scan::code_chars(&source[end..])
        .into_iter()
        .find(|(_, c)| *c == ';')
    {
        let (line, column) = offset_position(source, end + offset);
        return Err(ExprError::parse(source, SINGLE_EXPRESSION, line, column));
    }
    let depth_limit = if in_block {
        rewrite::too_deep_in_module(statement, MAX_AST_DEPTH).map(|span| (span, None))
    } else {
        rewrite::too_deep(expr, MAX_AST_DEPTH).map(|depth| (expr.span, Some(depth)))
    };
    if let Some((span, depth)) = depth_limit {
        let (line, column) = position(span);
        let depth = depth
            .map(|d| format!(" (at least {d})"))
            .unwrap_or_default();
        return Err(ExprError::parse(
            source,
            format!("the expression nests deeper than {MAX_AST_DEPTH}{depth}"),
            line,
            column,
        ));
    }
    if in_block
        && let Some((message, span)) = rewrite::find_stmt(statement, &mut |stmt| {
            rewrite::size_multiplying_assignment(stmt, "in a transform")
        })
    {
        let (line, column) = position(span);
        return Err(ExprError::parse(source, message, line, column));
    }
    let (names, statements, value) = rewritten(source, statement, expr, in_block)?;
    Ok(Parsed {
        ast,
        names: names.into_iter().collect(),
        statements,
        value,
    })
}

/// The names a parsed source reads, and its statements (a block) and value
/// expression with attribute reads and guarded calls rewritten.
fn rewritten(
    source: &str,
    statement: &AstStmt,
    expr: &AstExpr,
    in_block: bool,
) -> Result<(BTreeSet<String>, String, String), ExprError> {
    let rewrite_error = |e: rewrite::RewriteError| {
        let (line, column) = offset_position(source, e.offset);
        ExprError::parse(source, e.message, line, column)
    };
    if in_block {
        let split = expr.span.begin().get() as usize;
        let (statements, value) =
            rewrite::rewrite_block(source, statement, split).map_err(rewrite_error)?;
        return Ok((block::block_free_names(statement), statements, value));
    }
    let value = rewrite::rewrite_expr(source, expr)
        .map_err(rewrite_error)?
        .unwrap_or_else(|| source.to_owned());
    Ok((rewrite::free_names(expr), String::new(), value))
}

/// The message of a parse error, without the source excerpt.
fn parse_message(error: &starlark::Error) -> String {
    let message = error.without_diagnostic().to_string();
    message
        .trim()
        .trim_start_matches("Parse error: ")
        .to_owned()
}

/// 1-based line and column of a byte offset.
pub(crate) fn offset_position(source: &str, offset: usize) -> (u32, u32) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (sandbox::to_u32(line), sandbox::to_u32(column))
}
