//! Diagnostics (PROTOCOL §4 `diag`): a stable code, a message, a path into the
//! definition and, where the source has them, a line and column.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Stable code, for example `DANGLING_TARGET`.
    pub code: String,
    pub message: String,
    /// Where in the definition, for example `states[2].next`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    pub severity: Severity,
}

/// Codes that are warnings (PROTOCOL §8.11); every other code is an error.
const WARNING_CODES: &[&str] = &[
    "UNREACHABLE_STATE",
    "UNKNOWN_FIELD",
    "CIRCULAR_TRANSITION",
    "SCHEMA_UNVERIFIED",
];

impl Diagnostic {
    /// A diagnostic whose severity follows from its code.
    pub fn new(code: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        let severity = if WARNING_CODES.contains(&code) {
            Severity::Warning
        } else {
            Severity::Error
        };
        Self {
            code: code.to_owned(),
            message: message.into(),
            path: path.into(),
            line: None,
            column: None,
            severity,
        }
    }

    pub fn at(mut self, line: u32, column: u32) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

/// Errors and warnings of one compilation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        match diagnostic.severity {
            Severity::Error => self.errors.push(diagnostic),
            Severity::Warning => self.warnings.push(diagnostic),
        }
    }

    pub fn error(&mut self, code: &str, path: impl Into<String>, message: impl Into<String>) {
        self.push(Diagnostic::new(code, path, message));
    }

    /// An `UNKNOWN_FIELD` warning for every key of `object` not in `known`
    /// (`path` is where `object` sits; empty at the top level).
    pub fn unknown_fields(
        &mut self,
        object: &serde_json::Map<String, serde_json::Value>,
        known: &[&str],
        path: &str,
    ) {
        for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            self.push(Diagnostic::new(
                "UNKNOWN_FIELD",
                at,
                format!("unknown field `{key}` is ignored"),
            ));
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}
