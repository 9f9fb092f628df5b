//! Source-level work on parsed Starlark: the free names of an expression,
//! and the rewrite that routes attribute reads (`a.b` → `__junction_attr(a,
//! "b")`, so dicts answer `a.b`) and calls of the guarded methods
//! (`s.join(x)` → `__junction_call(s, "join", x)`) through the sandbox (see
//! [`super::guards`]).
//!
//! The rewrite is textual, driven by AST spans, because the AST cannot be
//! rebuilt through starlark's public API. It never adds or removes a line
//! break, so line numbers of the rewritten source match the original.

use super::sandbox::GUARDED_METHODS;
use super::scan::code_chars;
use starlark::codemap::Span;
use starlark::syntax::ast::{
    ArgumentP, AssignTargetP, AstAssignTarget, AstExpr, AstStmt, ClauseP, ExprP, StmtP,
};
use std::collections::BTreeSet;
use std::ops::Range;

/// The names `expr` reads from its environment: identifiers that are not
/// bound by one of its comprehensions.
pub(crate) fn free_names(expr: &AstExpr) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut bound = Vec::new();
    walk_free(expr, &mut bound, &mut out);
    out
}

pub(super) fn walk_free(expr: &AstExpr, bound: &mut Vec<String>, out: &mut BTreeSet<String>) {
    match &expr.node {
        ExprP::Identifier(ident) => {
            if !bound.contains(&ident.node.ident) {
                out.insert(ident.node.ident.clone());
            }
        }
        ExprP::ListComprehension(body, first, clauses) => {
            let mark = bound.len();
            comprehension(first, clauses, bound, out);
            walk_free(body, bound, out);
            bound.truncate(mark);
        }
        ExprP::DictComprehension(entry, first, clauses) => {
            let mark = bound.len();
            comprehension(first, clauses, bound, out);
            walk_free(&entry.0, bound, out);
            walk_free(&entry.1, bound, out);
            bound.truncate(mark);
        }
        node => node.visit_expr(|child| walk_free(child, bound, out)),
    }
}

/// Walks the clauses of a comprehension, binding its loop variables in
/// order: the first iterable is read in the enclosing scope.
fn comprehension(
    first: &starlark::syntax::ast::ForClause,
    clauses: &[starlark::syntax::ast::Clause],
    bound: &mut Vec<String>,
    out: &mut BTreeSet<String>,
) {
    walk_free(&first.over, bound, out);
    bind_target(&first.var, bound, out);
    for clause in clauses {
        match clause {
            ClauseP::For(f) => {
                walk_free(&f.over, bound, out);
                bind_target(&f.var, bound, out);
            }
            ClauseP::If(condition) => walk_free(condition, bound, out),
        }
    }
}

pub(super) fn bind_target(
    target: &AstAssignTarget,
    bound: &mut Vec<String>,
    out: &mut BTreeSet<String>,
) {
    match &target.node {
        AssignTargetP::Identifier(ident) => bound.push(ident.node.ident.clone()),
        AssignTargetP::Tuple(items) => {
            for item in items {
                bind_target(item, bound, out);
            }
        }
        AssignTargetP::Index(pair) => {
            walk_free(&pair.0, bound, out);
            walk_free(&pair.1, bound, out);
        }
        AssignTargetP::Dot(obj, _) => walk_free(obj, bound, out),
    }
}

/// One replacement of the rewrite.
#[derive(Debug)]
struct Edit {
    span: Range<usize>,
    name: String,
    obj: Range<usize>,
    /// The text between the parentheses of a call; `None` for a reference.
    args: Option<Range<usize>>,
}

/// Why a source could not be rewritten (a layout the rewrite does not
/// handle); with the byte offset of the construct.
#[derive(Debug)]
pub(crate) struct RewriteError {
    pub(crate) message: String,
    pub(crate) offset: usize,
}

fn range(span: Span) -> Range<usize> {
    span.begin().get() as usize..span.end().get() as usize
}

/// The source of the object of `obj.name`: from the object's span to the
/// `.`, widened over the parentheses the parser leaves out of spans (the
/// span of `(a + b)` is `a + b`; of `(x, (y))` it is `x, (y`).
fn object_range(source: &str, obj: Span, name: Span) -> Range<usize> {
    let start = obj.begin().get() as usize;
    let name_start = name.begin().get() as usize;
    let dot = source[..name_start]
        .rfind('.')
        .unwrap_or(name_start)
        .max(start);
    let mut unmatched = 0usize;
    let mut depth = 0i64;
    for (_, c) in code_chars(&source[start..dot]) {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                if depth == 0 {
                    unmatched += 1;
                } else {
                    depth -= 1;
                }
            }
            _ => {}
        }
    }
    let mut begin = start;
    while unmatched > 0 {
        let before = source[..begin].trim_end();
        if !before.ends_with('(') {
            break;
        }
        begin = before.len() - 1;
        unmatched -= 1;
    }
    begin..source[..dot].trim_end().len().max(begin)
}

fn collect(expr: &AstExpr, source: &str, edits: &mut Vec<Edit>) -> Result<(), RewriteError> {
    match &expr.node {
        ExprP::Call(callee, call_args) => {
            let ExprP::Dot(obj, name) = &callee.node else {
                return expr
                    .node
                    .visit_expr_err(|child| collect(child, source, edits));
            };
            if GUARDED_METHODS.contains(&name.node.as_str()) {
                let call = range(expr.span);
                let after_callee = range(callee.span).end;
                let between = source.get(after_callee..call.end).unwrap_or("");
                let open = between.find('(');
                let valid = open.is_some_and(|open| between[..open].trim().is_empty())
                    && source.get(..call.end).is_some_and(|s| s.ends_with(')'));
                let Some(open) = open.filter(|_| valid) else {
                    return Err(RewriteError {
                        message: format!("cannot read the arguments of `.{}(...)`", name.node),
                        offset: call.start,
                    });
                };
                let obj = object_range(source, obj.span, name.span);
                edits.push(Edit {
                    span: obj.start.min(call.start)..call.end,
                    name: name.node.clone(),
                    obj,
                    args: Some(after_callee + open + 1..call.end - 1),
                });
            }
            // A method call keeps its native attribute lookup (JSON values
            // are never callable, so a key of the same name cannot be meant).
            collect(obj, source, edits)?;
            for arg in &call_args.args {
                let inner = match &arg.node {
                    ArgumentP::Positional(e)
                    | ArgumentP::Named(_, e)
                    | ArgumentP::Args(e)
                    | ArgumentP::KwArgs(e) => e,
                };
                collect(inner, source, edits)?;
            }
            Ok(())
        }
        ExprP::Dot(obj, name) => {
            let object = object_range(source, obj.span, name.span);
            edits.push(Edit {
                span: object.start.min(expr.span.begin().get() as usize)..range(expr.span).end,
                name: name.node.clone(),
                obj: object,
                args: None,
            });
            collect(obj, source, edits)
        }
        node => node.visit_expr_err(|child| collect(child, source, edits)),
    }
}

/// Collects over every expression of `stmt` and its nested statements.
fn collect_stmt(stmt: &AstStmt, source: &str, edits: &mut Vec<Edit>) -> Result<(), RewriteError> {
    let mut result = Ok(());
    stmt.node.visit_expr(|e| {
        if result.is_ok() {
            result = collect(e, source, edits);
        }
    });
    result
}

/// `source` with the attribute reads and guarded method calls of `expr`
/// rewritten; `None` when there are none.
pub(crate) fn rewrite_expr(source: &str, expr: &AstExpr) -> Result<Option<String>, RewriteError> {
    let mut edits = Vec::new();
    collect(expr, source, &mut edits)?;
    Ok(apply(source, edits).map(|r| r.text))
}

/// [`rewrite_expr`] for a whole module.
pub(crate) fn rewrite_module(
    source: &str,
    stmt: &AstStmt,
) -> Result<Option<Rewritten>, RewriteError> {
    let mut edits = Vec::new();
    collect_stmt(stmt, source, &mut edits)?;
    Ok(apply(source, edits))
}

/// A rewritten source, and the map of its offsets back to the original.
pub(crate) struct Rewritten {
    pub(crate) text: String,
    /// `(offset in text, offset in source, length)` of each copied piece.
    segments: Vec<(usize, usize, usize)>,
}

impl Rewritten {
    /// The offset in the original source of `offset` in the rewritten text;
    /// inserted text maps to the next original character.
    pub(crate) fn original_offset(&self, offset: usize) -> usize {
        for &(out, src, len) in &self.segments {
            if offset < out {
                return src;
            }
            if offset < out + len {
                return src + (offset - out);
            }
        }
        self.segments.last().map_or(0, |&(_, src, len)| src + len)
    }
}

fn apply(source: &str, mut edits: Vec<Edit>) -> Option<Rewritten> {
    if edits.is_empty() {
        return None;
    }
    sort(&mut edits);
    let mut out = Rewritten {
        text: String::with_capacity(source.len() + edits.len() * 24),
        segments: Vec::new(),
    };
    render(source, 0..source.len(), &edits, &mut out);
    Some(out)
}

/// Edits in source order, an enclosing edit before those inside it.
fn sort(edits: &mut [Edit]) {
    edits.sort_by(|a, b| {
        a.span
            .start
            .cmp(&b.span.start)
            .then(b.span.end.cmp(&a.span.end))
    });
}

/// A block's source split at `split` (where its value expression begins),
/// each part with the attribute reads and guarded calls of `stmt`
/// rewritten. No edit crosses `split`: it is a statement boundary.
pub(crate) fn rewrite_block(
    source: &str,
    stmt: &AstStmt,
    split: usize,
) -> Result<(String, String), RewriteError> {
    let mut edits = Vec::new();
    collect_stmt(stmt, source, &mut edits)?;
    sort(&mut edits);
    let part = |range: Range<usize>| {
        let mut out = Rewritten {
            text: String::new(),
            segments: Vec::new(),
        };
        render(source, range, &edits, &mut out);
        out.text
    };
    Ok((part(0..split), part(split..source.len())))
}

fn copy(source: &str, range: Range<usize>, out: &mut Rewritten) {
    if range.is_empty() {
        return;
    }
    out.segments
        .push((out.text.len(), range.start, range.len()));
    out.text.push_str(&source[range]);
}

fn render(source: &str, range: Range<usize>, edits: &[Edit], out: &mut Rewritten) {
    let mut cursor = range.start;
    for edit in edits {
        if edit.span.start < cursor || edit.span.end > range.end {
            continue;
        }
        copy(source, cursor..edit.span.start, out);
        match &edit.args {
            Some(args) => {
                out.text.push_str("__junction_call(");
                render(source, edit.obj.clone(), edits, out);
                out.text.push_str(", \"");
                out.text.push_str(&edit.name);
                out.text.push('"');
                if !source[args.clone()].trim().is_empty() {
                    out.text.push_str(", ");
                    render(source, args.clone(), edits, out);
                }
                out.text.push(')');
            }
            None => {
                out.text.push_str("__junction_attr(");
                render(source, edit.obj.clone(), edits, out);
                out.text.push_str(", \"");
                out.text.push_str(&edit.name);
                out.text.push_str("\")");
            }
        }
        cursor = edit.span.end;
    }
    copy(source, cursor..range.end, out);
}

/// The depth of `expr`'s tree when it exceeds `max`; walked without
/// recursion (deep trees are what must not reach recursive code).
pub(crate) fn too_deep(expr: &AstExpr, max: usize) -> Option<usize> {
    let mut stack = vec![(expr, 1usize)];
    while let Some((node, depth)) = stack.pop() {
        if depth > max {
            return Some(depth);
        }
        node.node.visit_expr(|child| stack.push((child, depth + 1)));
    }
    None
}

/// The first expression of a module nested deeper than `max`.
pub(crate) fn too_deep_in_module(stmt: &AstStmt, max: usize) -> Option<Span> {
    let mut found = None;
    stmt.node.visit_expr(|expr| {
        if found.is_none() && too_deep(expr, max).is_some() {
            found = Some(expr.span);
        }
    });
    found
}

/// The first statement of `stmt` that `check` objects to, with its span.
pub(crate) fn find_stmt(
    stmt: &AstStmt,
    check: &mut impl FnMut(&AstStmt) -> Option<String>,
) -> Option<(String, Span)> {
    if let Some(message) = check(stmt) {
        return Some((message, stmt.span));
    }
    let mut found = None;
    stmt.node.visit_stmt(|s| {
        if found.is_none() {
            found = find_stmt(s, check);
        }
    });
    found
}

/// `*=`, `%=` and `<<=`: not routed through the guards (which see only
/// binary operators), so refused where statements are allowed; `where_`
/// names the place for the message (`in a workflow file`).
pub(crate) fn size_multiplying_assignment(stmt: &AstStmt, where_: &str) -> Option<String> {
    use starlark::syntax::ast::AssignOp;
    let symbol = match &stmt.node {
        StmtP::AssignModify(_, AssignOp::Multiply, _) => "*",
        StmtP::AssignModify(_, AssignOp::Percent, _) => "%",
        StmtP::AssignModify(_, AssignOp::LeftShift, _) => "<<",
        _ => return None,
    };
    Some(format!(
        "`{symbol}=` is not allowed {where_}; write `x = x {symbol} y`"
    ))
}

/// The expression of a module that is a single expression statement.
pub(crate) fn single_expression(stmt: &AstStmt) -> Result<&AstExpr, Span> {
    match &stmt.node {
        StmtP::Expression(expr) => Ok(expr),
        StmtP::Statements(stmts) => match stmts.as_slice() {
            [only] => single_expression(only),
            [] => Err(stmt.span),
            [first, second, ..] => match &first.node {
                StmtP::Expression(_) => Err(second.span),
                _ => Err(first.span),
            },
        },
        _ => Err(stmt.span),
    }
}
