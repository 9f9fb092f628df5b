//! Schema compatibility between one step's output schema and the next step's
//! input schema (docs/language.md §8 and the acceptance cases "Schema Compatibility Tests"):
//! does every value the output schema describes satisfy the input schema?
//! Pure, and total: any JSON on either side yields a report, never a panic.
//!
//! The check is structural, in the workflow language's sense rather than JSON Schema's: an
//! output schema is read as a description of what the step produces, so a
//! property it does not declare is taken to be absent (JSON Schema would allow
//! anything there). Rules, per level of nesting:
//!
//! - Input requires `x`: fine when the output requires it; a warning when the
//!   output declares `x` but may omit it; incompatible when the output does
//!   not declare it at all. An output object that declares no properties is
//!   opaque: its fields cannot be checked (a warning).
//! - Input's optional `x` that the output does not declare: a warning.
//! - Types: every type the output may produce must be one the input accepts
//!   (`integer` satisfies `number`). None accepted: incompatible. Only some
//!   (`["string","null"]` into `string`), or `number` into `integer`: a warning.
//! - Enums (`enum`/`const`): output values outside the input's enum are
//!   incompatible; an input enum facing an unrestricted output is a warning.
//! - `additionalProperties: false` on the input: an extra property the output
//!   always produces is incompatible, one it may produce a warning; an
//!   `additionalProperties` schema is checked against the extra properties.
//! - Nested objects and array `items` are checked recursively (paths like
//!   `pods[].name`), local `$ref`s (`#/...`) are followed, and nesting deeper
//!   than [`MAX_DEPTH`] is not checked (a warning).
//!
//! Where jsonschema's experimental schema algebra (`canonicalize(..).covers(..)`)
//! proves that the input covers the output, every structural finding that
//! claims or suspects a rejected value is a false alarm and is dropped; only
//! "the input's optional `x` is never given" stays. Where it proves the
//! opposite and the structural check found nothing (a `minimum`, `pattern` or
//! `maxLength` it does not read), a warning says so. Unknown answers, errors
//! and schemas too deep or too large for it leave the structural verdict as is.

mod algebra;
mod objects;
mod scalars;

use algebra::algebra_covers;
use scalars::types;
use serde_json::Value;
use std::collections::BTreeSet;

/// Deepest nesting of schemas (objects, items, `$ref` hops) that is checked.
pub const MAX_DEPTH: usize = 32;
/// Most schema pairs compared in one check (recursive `$ref`s branch).
const MAX_COMPARISONS: usize = 10_000;

/// The answer to "does every output value satisfy the input schema?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Compatible,
    /// Compatible, with problems worth showing (none of them fatal).
    CompatibleWithWarnings,
    /// Some output value the schemas describe would fail the input schema.
    Incompatible,
    /// Only the input has a schema, so nothing can be checked.
    Unverified,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compatible => "compatible",
            Self::CompatibleWithWarnings => "compatible_with_warnings",
            Self::Incompatible => "incompatible",
            Self::Unverified => "unverified",
        }
    }

    /// The diagnostic code to report it under: `SCHEMA_INCOMPATIBLE` (an error)
    /// or `SCHEMA_UNVERIFIED` (a warning); `None` when compatible.
    pub fn diagnostic_code(self) -> Option<&'static str> {
        match self {
            Self::Compatible => None,
            Self::Incompatible => Some("SCHEMA_INCOMPATIBLE"),
            Self::CompatibleWithWarnings | Self::Unverified => Some("SCHEMA_UNVERIFIED"),
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the data, for example `pods[].name` or `filters`; empty for the root.
    pub path: String,
    pub message: String,
    /// Whether it makes the pair incompatible.
    pub fatal: bool,
}

/// The verdict and what led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    pub problems: Vec<Problem>,
}

impl Report {
    /// The problems as one line each (`pods[].name: …`).
    pub fn summary(&self) -> String {
        self.problems
            .iter()
            .map(|p| {
                if p.path.is_empty() {
                    p.message.clone()
                } else {
                    format!("{}: {}", p.path, p.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Incompatible: values the output declares are rejected.
    Fatal,
    /// Some output values may be rejected (a number into an integer, a
    /// nullable value, an unrestricted value into an enum).
    Risk,
    /// Something the input could use is never given (an optional field).
    Gap,
    /// Something the structural check could not decide.
    Unchecked,
}

/// Checks that every value valid under `output` satisfies `input`.
pub fn check(output: Option<&Value>, input: Option<&Value>) -> Report {
    let input = match input {
        None => return report(Verdict::Compatible, Vec::new()),
        Some(schema) if is_trivial(schema) => return report(Verdict::Compatible, Vec::new()),
        Some(schema) if !is_schema(schema) => {
            return report(
                Verdict::Unverified,
                vec![problem(
                    "",
                    "the input schema is not a JSON Schema; cannot validate",
                    false,
                )],
            );
        }
        Some(schema) => schema,
    };
    let output = match output {
        None => {
            return report(
                Verdict::Unverified,
                vec![problem(
                    "",
                    "the output has no schema; cannot validate the input schema",
                    false,
                )],
            );
        }
        Some(schema) if !is_schema(schema) => {
            return report(
                Verdict::Unverified,
                vec![problem(
                    "",
                    "the output schema is not a JSON Schema; cannot validate",
                    false,
                )],
            );
        }
        Some(schema) => schema,
    };
    let mut checker = Checker {
        output_root: output,
        input_root: input,
        found: Vec::new(),
        budget: MAX_COMPARISONS,
    };
    checker.compare(output, input, "", 0);
    let mut found = checker.found;
    match algebra_covers(output, input) {
        // Proven: nothing the output gives is rejected, so only the gaps stand.
        Some(true) => found.retain(|(kind, _)| *kind == Kind::Gap),
        Some(false) if found.is_empty() => found.push((
            Kind::Risk,
            problem(
                "",
                "the output schema allows values the input schema rejects (a constraint such as \
                 minimum, pattern, maxLength or additionalProperties)",
                false,
            ),
        )),
        _ => {}
    }
    let problems: Vec<Problem> = found.into_iter().map(|(_, p)| p).collect();
    let verdict = if problems.iter().any(|p| p.fatal) {
        Verdict::Incompatible
    } else if problems.is_empty() {
        Verdict::Compatible
    } else {
        Verdict::CompatibleWithWarnings
    };
    report(verdict, problems)
}

fn report(verdict: Verdict, problems: Vec<Problem>) -> Report {
    Report { verdict, problems }
}

fn problem(path: &str, message: impl Into<String>, fatal: bool) -> Problem {
    Problem {
        path: path.to_owned(),
        message: message.into(),
        fatal,
    }
}

struct Checker<'s> {
    /// The documents local `$ref`s resolve in.
    output_root: &'s Value,
    input_root: &'s Value,
    found: Vec<(Kind, Problem)>,
    /// Comparisons left; at zero the rest is not checked.
    budget: usize,
}

impl<'s> Checker<'s> {
    fn note(&mut self, kind: Kind, path: &str, message: impl Into<String>) {
        self.found
            .push((kind, problem(path, message, kind == Kind::Fatal)));
    }

    fn compare(&mut self, output: &'s Value, input: &'s Value, path: &str, depth: usize) {
        if self.budget == 0 {
            return;
        }
        self.budget -= 1;
        if self.budget == 0 {
            self.note(
                Kind::Unchecked,
                path,
                format!("the schemas need more than {MAX_COMPARISONS} comparisons; the rest is not checked"),
            );
            return;
        }
        if depth > MAX_DEPTH {
            self.note(
                Kind::Unchecked,
                path,
                format!("nested deeper than {MAX_DEPTH} levels; not checked"),
            );
            return;
        }
        let (Some(output), Some(input)) = (
            self.resolve(output, self.output_root, path, depth),
            self.resolve(input, self.input_root, path, depth),
        ) else {
            return;
        };
        if is_trivial(input) || output == &Value::Bool(false) {
            return;
        }
        if input == &Value::Bool(false) {
            self.note(Kind::Fatal, path, "the input schema accepts no value here");
            return;
        }
        let (Some(out), Some(inp)) = (output.as_object(), input.as_object()) else {
            if output.is_boolean() {
                self.note(
                    Kind::Unchecked,
                    path,
                    "the output does not describe this value; cannot check it",
                );
            } else {
                self.note(Kind::Unchecked, path, "not a JSON Schema; not checked");
            }
            return;
        };
        for key in ["allOf", "anyOf", "oneOf", "not", "if"] {
            if out.contains_key(key) || inp.contains_key(key) {
                self.note(
                    Kind::Unchecked,
                    path,
                    format!("`{key}` is not checked structurally"),
                );
            }
        }
        let out_types = types(out);
        let in_types = types(inp);
        self.compare_types(out_types.as_ref(), in_types.as_ref(), path);
        self.compare_values(out, inp, path);
        let could_be = |types: &Option<BTreeSet<&str>>, t: &str| {
            types.as_ref().is_none_or(|set| set.contains(t))
        };
        if could_be(&out_types, "object") && could_be(&in_types, "object") {
            self.compare_objects(out, inp, path, depth);
        }
        if could_be(&out_types, "array") && could_be(&in_types, "array") {
            self.compare_items(out, inp, path, depth);
        }
    }

    /// Follows local `$ref`s (`#`, `#/$defs/x`) within `root`.
    fn resolve(
        &mut self,
        mut schema: &'s Value,
        root: &'s Value,
        path: &str,
        depth: usize,
    ) -> Option<&'s Value> {
        for _ in depth..=MAX_DEPTH {
            let Some(reference) = schema.get("$ref") else {
                return Some(schema);
            };
            let target = reference
                .as_str()
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|pointer| root.pointer(pointer));
            match target {
                Some(target) => schema = target,
                None => {
                    self.note(
                        Kind::Unchecked,
                        path,
                        format!("cannot follow `$ref` {reference}; not checked"),
                    );
                    return None;
                }
            }
        }
        self.note(
            Kind::Unchecked,
            path,
            format!("`$ref` chain deeper than {MAX_DEPTH}; not checked"),
        );
        None
    }
}

/// A schema that accepts every value: `true`, `{}`, or only annotations.
fn is_trivial(schema: &Value) -> bool {
    const ANNOTATIONS: &[&str] = &[
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "readOnly",
        "writeOnly",
        "deprecated",
        "$defs",
        "definitions",
    ];
    match schema {
        Value::Bool(b) => *b,
        Value::Object(map) => map.keys().all(|k| ANNOTATIONS.contains(&k.as_str())),
        _ => false,
    }
}

fn is_schema(value: &Value) -> bool {
    value.is_object() || value.is_boolean()
}

#[cfg(test)]
mod tests;
