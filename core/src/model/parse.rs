//! Definition sources: YAML or JSON text → document → [`Workflow`] IR plus
//! diagnostics, through the front end the document's shape selects. Pure.

use super::diag::{Diagnostic, Diagnostics};
use super::ir::Workflow;
use serde_json::{Map, Value};

/// Largest accepted definition source, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// How deep a definition document may nest. The compiled workflow is stored
/// as JSON a few levels deeper than its source, and must read back under
/// serde_json's limit of 128.
pub const MAX_DEFINITION_DEPTH: usize = 64;

/// How deep `value` nests (a scalar is 0), counted without recursion.
pub fn nesting_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(fields) => stack.extend(fields.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    deepest
}
/// Most states in one definition.
pub const MAX_STATES: usize = 10_000;

/// How a source is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceFormat {
    #[default]
    Yaml,
    Json,
    /// A `*.workflow.star` Starlark plan.
    Star,
}

impl SourceFormat {
    /// From the `format` field of a control request; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            "star" | "starlark" => Some(Self::Star),
            _ => None,
        }
    }

    /// From a file name (`*.workflow.yaml|yml|json|star`).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".workflow.yaml") || lower.ends_with(".workflow.yml") {
            Some(Self::Yaml)
        } else if lower.ends_with(".workflow.json") {
            Some(Self::Json)
        } else if lower.ends_with(".workflow.star") {
            Some(Self::Star)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yaml => "yaml",
            Self::Json => "json",
            Self::Star => "star",
        }
    }
}

/// The outcome of compiling one source: the IR when there are no errors, and
/// every diagnostic either way.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub workflow: Option<Workflow>,
    pub diagnostics: Diagnostics,
}

/// Compiles a definition source in any front end, with the line and column
/// of every diagnostic that has a place in the source.
pub fn compile(source: &str, format: SourceFormat) -> Compiled {
    if format == SourceFormat::Star {
        // Positions of a plan's diagnostics are in the plan, not the file;
        // Starlark errors carry their own.
        return super::star::compile(source);
    }
    let mut diagnostics = Diagnostics::default();
    if source.len() > MAX_SOURCE_BYTES {
        diagnostics.error(
            "DEFINITION_TOO_LARGE",
            "",
            format!(
                "definition is {} bytes; the limit is {MAX_SOURCE_BYTES}",
                source.len()
            ),
        );
        return Compiled {
            workflow: None,
            diagnostics,
        };
    }
    let document = match parse_document(source, format) {
        Ok(doc) => doc,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return Compiled {
                workflow: None,
                diagnostics,
            };
        }
    };
    let mut compiled = compile_document(&document);
    attach_positions(source, format, &mut compiled.diagnostics);
    compiled
}

/// Fills the line and column of every diagnostic that has none, from where
/// its path is written in `source` (or the nearest enclosing path).
pub fn attach_positions(source: &str, format: SourceFormat, diagnostics: &mut Diagnostics) {
    if diagnostics.errors.is_empty() && diagnostics.warnings.is_empty() {
        return;
    }
    if format == SourceFormat::Star {
        return;
    }
    let map = super::locate::SourceMap::build(source, format);
    // `type: agent` states and shorthands hold the call's fields (`agent`,
    // `task`, `input`) on the state itself, where the IR's paths say
    // `input.…`: point at what is written.
    for diagnostic in diagnostics
        .errors
        .iter_mut()
        .chain(&mut diagnostics.warnings)
    {
        if map.position(&diagnostic.path).is_none()
            && let Some(at) = diagnostic.path.find(".input.")
        {
            let direct = format!(
                "{}{}",
                &diagnostic.path[..at],
                &diagnostic.path[at + ".input".len()..]
            );
            if map.position(&direct).is_some() {
                diagnostic.path = direct;
            }
        }
    }
    map.attach(diagnostics);
}

/// Compiles an already-parsed definition document (the Starlark front end
/// hands its plan here). The form is chosen by shape: `nodes` and `edges`
/// make a composer graph, `steps` a DAG, anything else the states form.
/// Checks that need the agent registry are [`super::validate::against_registry`].
pub fn compile_document(document: &Value) -> Compiled {
    let mut diagnostics = Diagnostics::default();
    let depth = nesting_depth(document);
    if depth > MAX_DEFINITION_DEPTH {
        diagnostics.push(
            Diagnostic::new(
                "DEFINITION_TOO_LARGE",
                "",
                format!(
                    "the definition nests {depth} levels deep; the limit is {MAX_DEFINITION_DEPTH}"
                ),
            )
            .at(1, 1),
        );
        return Compiled {
            workflow: None,
            diagnostics,
        };
    }
    let Some(top) = document.as_object() else {
        diagnostics.error(
            "INVALID_TYPE",
            "",
            "a workflow definition must be a mapping",
        );
        return Compiled {
            workflow: None,
            diagnostics,
        };
    };
    let form = Form::of(top);
    let mut workflow = match form {
        Form::States => super::states::compile(top, &mut diagnostics),
        Form::Dag => super::dag::compile(top, &mut diagnostics),
        Form::Composer => super::composer::compile(top, &mut diagnostics),
    };
    // Shared by every form.
    let concurrency = super::concurrency::compile(top, &mut diagnostics);
    if let Some(workflow) = &mut workflow {
        workflow.concurrency = concurrency;
    }
    if let Some(workflow) = &workflow {
        let mark = super::states::cron::mark(&diagnostics);
        if form == Form::States {
            super::graph::check(workflow, &mut diagnostics);
        }
        super::validate::check(workflow, &mut diagnostics);
        super::states::cron::renumber(workflow, &mut diagnostics, mark);
    }
    let workflow = if diagnostics.has_errors() {
        None
    } else {
        workflow
    };
    Compiled {
        workflow,
        diagnostics,
    }
}

/// The shape a definition document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `states[]` (docs/language.md §3, with the Station dialect).
    States,
    /// `steps[]` with dependencies (docs/language.md §4).
    Dag,
    /// `nodes[]` and `edges[]` (composer graphs, docs/language.md §5).
    Composer,
}

impl Form {
    /// `nodes` makes a composer graph, `steps` without `states` a DAG.
    pub fn of(top: &Map<String, Value>) -> Self {
        if top.contains_key("nodes") && !top.contains_key("states") {
            Form::Composer
        } else if top.contains_key("steps") && !top.contains_key("states") {
            Form::Dag
        } else {
            Form::States
        }
    }
}

fn parse_document(source: &str, format: SourceFormat) -> Result<Value, Diagnostic> {
    match format {
        SourceFormat::Star => Err(Diagnostic::new(
            "PARSE_ERROR",
            "",
            "a Starlark plan is evaluated, not parsed as a document",
        )),
        SourceFormat::Json => serde_json::from_str::<Value>(source).map_err(|e| {
            // serde_json counts columns from 1 but says 0 for an error at
            // the very start of a line (a raw line break in a string).
            Diagnostic::new("PARSE_ERROR", "", format!("invalid JSON: {e}"))
                .at(e.line().max(1) as u32, e.column().max(1) as u32)
        }),
        SourceFormat::Yaml => yaml_serde::from_str::<Value>(source).map_err(|e| {
            let diagnostic = Diagnostic::new("PARSE_ERROR", "", format!("invalid YAML: {e}"));
            match e.location() {
                Some(loc) => diagnostic.at(loc.line() as u32, loc.column() as u32),
                // Errors about the whole stream (more than one document)
                // have no place: point at a document marker, or the start.
                None => {
                    let marker = source
                        .lines()
                        .position(|l| l.starts_with("---") || l.starts_with("..."));
                    let line = marker.map_or(1, |i| i + 1);
                    diagnostic.at(u32::try_from(line).unwrap_or(u32::MAX), 1)
                }
            }
        }),
    }
}

pub(crate) fn string_field(object: &Map<String, Value>, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(str::to_owned)
}

pub(crate) fn scalar_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `[A-Za-z0-9_.-]{1,128}`.
pub fn is_valid_workflow_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Dot-separated tokens of `[A-Za-z0-9_-]`, as a NATS subject suffix allows.
pub fn is_valid_signal_type(signal: &str) -> bool {
    !signal.is_empty()
        && signal.len() <= 256
        && signal.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        })
}

#[cfg(test)]
mod tests;
