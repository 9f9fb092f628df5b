//! [`ExprError`]: why an expression did not compile or evaluate, with the
//! expression text and the variables that were bound, so that the message
//! alone is enough to fix a definition.

use std::fmt;

/// How many bound names an error message lists before it says "… N more".
const LISTED_NAMES: usize = 24;

/// An expression that failed to compile or to evaluate.
///
/// Displays as, for example,
/// `condition "error_rate > ctx.x" failed: unknown variable "error_rat"; available: ctx, steps, signal`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ExprError {
    /// What the expression is for (`expression`, `condition`, `filter`,
    /// `transform`); only used in the message. See [`ExprError::in_role`].
    pub role: String,
    /// The expression source, as written.
    pub expression: String,
    pub kind: ExprErrorKind,
    /// The names that were bound when it failed, in resolution order (empty
    /// for compile errors).
    pub available: Vec<String>,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprErrorKind {
    /// The source is not a valid expression of the restricted dialect.
    /// `line` and `column` are 1-based, within the expression.
    Parse {
        message: String,
        line: u32,
        column: u32,
    },
    /// Evaluation raised: an unknown variable, a missing attribute or key,
    /// a type error, `fail(...)`, a result that is not JSON.
    Runtime { message: String },
    /// A bound was hit: `what` names it (ticks, time, call stack, memory,
    /// string size, list size, result size, nesting).
    Limit { what: String },
}

impl ExprError {
    pub(crate) fn new(expression: &str, kind: ExprErrorKind) -> Self {
        Self {
            role: "expression".to_owned(),
            expression: expression.to_owned(),
            kind,
            available: Vec::new(),
        }
    }

    pub(crate) fn parse(
        expression: &str,
        message: impl Into<String>,
        line: u32,
        column: u32,
    ) -> Self {
        Self::new(
            expression,
            ExprErrorKind::Parse {
                message: message.into(),
                line,
                column,
            },
        )
    }

    pub(crate) fn runtime(expression: &str, message: impl Into<String>) -> Self {
        Self::new(
            expression,
            ExprErrorKind::Runtime {
                message: message.into(),
            },
        )
    }

    pub(crate) fn limit(expression: &str, what: impl Into<String>) -> Self {
        Self::new(expression, ExprErrorKind::Limit { what: what.into() })
    }

    pub(crate) fn with_available(mut self, names: Vec<String>) -> Self {
        self.available = names;
        self
    }

    /// The same error, described as a `role` (`condition`, `filter`, …) in
    /// its message.
    pub fn in_role(mut self, role: &str) -> Self {
        role.clone_into(&mut self.role);
        self
    }

    /// `(line, column)` of a parse error, 1-based within the expression.
    pub fn position(&self) -> Option<(u32, u32)> {
        match self.kind {
            ExprErrorKind::Parse { line, column, .. } => Some((line, column)),
            _ => None,
        }
    }

    pub fn is_limit(&self) -> bool {
        matches!(self.kind, ExprErrorKind::Limit { .. })
    }

    /// The message without the expression and the names.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}

impl fmt::Display for ExprErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExprErrorKind::Parse {
                message,
                line,
                column,
            } => write!(f, "syntax error at {line}:{column}: {message}"),
            ExprErrorKind::Runtime { message } => f.write_str(message),
            ExprErrorKind::Limit { what } => write!(f, "limit exceeded: {what}"),
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} failed: {}",
            self.role, self.expression, self.kind
        )?;
        if !self.available.is_empty() {
            f.write_str("; available: ")?;
            for (i, name) in self.available.iter().take(LISTED_NAMES).enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
            }
            if self.available.len() > LISTED_NAMES {
                write!(f, " … ({} more)", self.available.len() - LISTED_NAMES)?;
            }
        }
        Ok(())
    }
}
