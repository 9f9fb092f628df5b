//! Blocks: the statements a `transform` may write before its value
//! expression (`n = len(xs)` then `{"n": n}`). Which names a block reads
//! from its bindings, where its value expression is, and how its statements
//! are indented into the function an expression is compiled into. Pure.

use super::rewrite::{bind_target, walk_free};
use super::scan::code_chars;
use starlark::syntax::ast::{AstAssignTarget, AstExpr, AstStmt, StmtP};
use std::collections::BTreeSet;

/// The value expression of a block: its last statement, when that is an
/// expression and statements come before it.
pub(crate) fn last_expression(stmt: &AstStmt) -> Option<&AstExpr> {
    match &stmt.node {
        StmtP::Statements(stmts) if stmts.len() > 1 => match &stmts.last()?.node {
            StmtP::Expression(expr) => Some(expr),
            _ => None,
        },
        _ => None,
    }
}

/// The names a block reads from its environment: every name read that no
/// statement of the block assigns (an assigned name is local to the block
/// throughout, as in a Starlark function).
pub(crate) fn block_free_names(stmt: &AstStmt) -> BTreeSet<String> {
    let mut read = BTreeSet::new();
    stmt.node
        .visit_expr(|expr| walk_free(expr, &mut Vec::new(), &mut read));
    let mut assigned = Vec::new();
    assigned_names(stmt, &mut assigned);
    read.retain(|name| !assigned.contains(name));
    read
}

fn assigned_names(stmt: &AstStmt, out: &mut Vec<String>) {
    let mut target = |t: &AstAssignTarget| bind_target(t, out, &mut BTreeSet::new());
    match &stmt.node {
        StmtP::Assign(assign) => target(&assign.lhs),
        StmtP::AssignModify(lhs, _, _) => target(lhs),
        StmtP::For(for_loop) => target(&for_loop.var),
        _ => {}
    }
    stmt.node.visit_stmt(|child| assigned_names(child, out));
}

/// `statements` indented one level (four spaces), to be the body of a
/// function: every line that starts in code, not inside a multi-line string.
pub(crate) fn indent_block(statements: &str) -> String {
    const INDENT: &str = "    ";
    let mut out = String::with_capacity(statements.len() + 64);
    out.push_str(INDENT);
    let mut cursor = 0;
    for (offset, c) in code_chars(statements) {
        if c == '\n' {
            out.push_str(&statements[cursor..=offset]);
            out.push_str(INDENT);
            cursor = offset + 1;
        }
    }
    out.push_str(&statements[cursor..]);
    out
}

#[cfg(test)]
mod tests {
    use super::indent_block;

    #[test]
    fn statements_are_indented_outside_multi_line_strings() {
        assert_eq!(indent_block("a = 1\nb = 2\n"), "    a = 1\n    b = 2\n    ");
        assert_eq!(
            indent_block("s = '''x\ny'''\n"),
            "    s = '''x\ny'''\n    ",
            "a multi-line string keeps its text"
        );
        assert_eq!(indent_block(""), "    ");
    }
}
