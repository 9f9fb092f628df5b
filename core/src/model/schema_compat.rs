//! Schema compatibility between one step's output schema and the next step's
//! input schema (PRD §3.5 level 1 and the §9.1 "Schema Compatibility Tests"):
//! does every value the output schema describes satisfy the input schema?
//! Pure, and total: any JSON on either side yields a report, never a panic.
//!
//! The check is structural, in the PRD's sense rather than JSON Schema's: an
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

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::LazyLock;

static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

/// Deepest nesting of schemas (objects, items, `$ref` hops) that is checked.
pub const MAX_DEPTH: usize = 32;
/// Most schema pairs compared in one check (recursive `$ref`s branch).
const MAX_COMPARISONS: usize = 10_000;
/// Largest schema (in JSON nodes) handed to the schema algebra.
const MAX_ALGEBRA_NODES: usize = 2_000;

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

    fn compare_types(
        &mut self,
        out: Option<&BTreeSet<&str>>,
        inp: Option<&BTreeSet<&str>>,
        path: &str,
    ) {
        let Some(inp) = inp else { return };
        let Some(out) = out else {
            self.note(
                Kind::Unchecked,
                path,
                format!(
                    "the input expects {} but the output does not declare a type",
                    list(inp)
                ),
            );
            return;
        };
        let accepts = |t: &str| inp.contains(t) || (t == "integer" && inp.contains("number"));
        let rejected: BTreeSet<&str> = out.iter().copied().filter(|t| !accepts(t)).collect();
        if rejected.is_empty() {
            return;
        }
        let coercible: BTreeSet<&str> = rejected
            .iter()
            .copied()
            .filter(|t| *t == "number" && inp.contains("integer"))
            .collect();
        if rejected.len() == out.len() && coercible.is_empty() {
            self.note(
                Kind::Fatal,
                path,
                format!(
                    "type mismatch: the output gives {}, the input expects {}",
                    list(out),
                    list(inp)
                ),
            );
        } else if !coercible.is_empty() && rejected.len() == coercible.len() {
            self.note(
                Kind::Risk,
                path,
                "the output gives a number, the input expects an integer: fractional values would be rejected",
            );
        } else {
            self.note(
                Kind::Risk,
                path,
                format!(
                    "the output may give {}, which the input ({}) does not accept",
                    list(&rejected),
                    list(inp)
                ),
            );
        }
    }

    fn compare_values(&mut self, out: &Map<String, Value>, inp: &Map<String, Value>, path: &str) {
        let Some(allowed) = values(inp) else { return };
        match values(out) {
            Some(given) => {
                let outside: Vec<String> = given
                    .iter()
                    .filter(|v| !allowed.contains(v))
                    .map(|v| v.to_string())
                    .collect();
                if !outside.is_empty() {
                    self.note(
                        Kind::Fatal,
                        path,
                        format!(
                            "the output may give {}, outside the input's allowed values",
                            outside.join(", ")
                        ),
                    );
                }
            }
            None => self.note(
                Kind::Risk,
                path,
                format!(
                    "the input allows only {} but the output is not restricted to them",
                    allowed
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }

    fn compare_objects(
        &mut self,
        out: &'s Map<String, Value>,
        inp: &'s Map<String, Value>,
        path: &str,
        depth: usize,
    ) {
        let empty: &'static Map<String, Value> = &EMPTY;
        let in_props = inp
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(empty);
        let in_required = names(inp.get("required"));
        let closed_input = inp.get("additionalProperties");
        if in_props.is_empty() && in_required.is_empty() && closed_input.is_none() {
            return;
        }
        let out_props = out.get("properties").and_then(Value::as_object);
        let out_required = names(out.get("required"));
        let out_closed = out.get("additionalProperties") == Some(&Value::Bool(false));
        let Some(out_props) = out_props
            .filter(|p| !p.is_empty())
            .or_else(|| (out_closed || !out_required.is_empty()).then_some(empty))
        else {
            let mut wanted: Vec<&str> = in_required.iter().copied().collect();
            wanted.extend(
                in_props
                    .keys()
                    .map(String::as_str)
                    .filter(|k| !in_required.contains(k)),
            );
            if !wanted.is_empty() {
                self.note(
                    Kind::Unchecked,
                    path,
                    format!(
                        "the output does not describe its properties, so {} cannot be checked",
                        quoted(&wanted)
                    ),
                );
            }
            return;
        };
        for name in &in_required {
            let at = join(path, name);
            let declared = out_props.get(*name);
            if !out_required.contains(name) {
                if declared.is_some() {
                    self.note(
                        Kind::Risk,
                        &at,
                        format!("the input requires `{name}`, which the output may omit"),
                    );
                } else {
                    self.note(
                        Kind::Fatal,
                        &at,
                        format!("the input requires `{name}`, which the output does not provide"),
                    );
                    continue;
                }
            }
            if let (Some(o), Some(i)) = (declared, in_props.get(*name)) {
                self.compare(o, i, &at, depth + 1);
            }
        }
        for (name, schema) in in_props {
            if in_required.contains(name.as_str()) {
                continue;
            }
            let at = join(path, name);
            match out_props.get(name) {
                Some(o) => self.compare(o, schema, &at, depth + 1),
                None if out_required.contains(name.as_str()) => {}
                None => self.note(
                    Kind::Gap,
                    &at,
                    format!("the input's optional `{name}` is not provided by the output"),
                ),
            }
        }
        // Extra output properties against the input's additionalProperties.
        let Some(extra_schema) = closed_input else {
            return;
        };
        for (name, schema) in out_props {
            if in_props.contains_key(name) {
                continue;
            }
            let at = join(path, name);
            if extra_schema == &Value::Bool(false) {
                let (kind, verb) = if out_required.contains(name.as_str()) {
                    (Kind::Fatal, "always gives")
                } else {
                    (Kind::Risk, "may give")
                };
                self.note(
                    kind,
                    &at,
                    format!("the output {verb} `{name}`, which the input does not allow (additionalProperties: false)"),
                );
            } else if extra_schema.is_object() {
                self.compare(schema, extra_schema, &at, depth + 1);
            }
        }
    }

    fn compare_items(
        &mut self,
        out: &'s Map<String, Value>,
        inp: &'s Map<String, Value>,
        path: &str,
        depth: usize,
    ) {
        let at = format!("{path}[]");
        if inp.contains_key("prefixItems") || inp.get("items").is_some_and(Value::is_array) {
            self.note(Kind::Unchecked, &at, "tuple item schemas are not checked");
            return;
        }
        let Some(in_items) = inp.get("items").filter(|i| !is_trivial(i)) else {
            return;
        };
        match out.get("items") {
            Some(o) if o.is_array() || out.contains_key("prefixItems") => {
                self.note(Kind::Unchecked, &at, "tuple item schemas are not checked");
            }
            Some(o) => self.compare(o, in_items, &at, depth + 1),
            None => self.note(
                Kind::Unchecked,
                &at,
                "the output does not describe its array items; cannot check them",
            ),
        }
    }
}

/// The types a schema may produce or accept: its `type`, or what `const`,
/// `enum`, `properties`/`required` or `items` imply; `None` when unknown.
fn types(schema: &Map<String, Value>) -> Option<BTreeSet<&str>> {
    const KNOWN: &[&str] = &[
        "null", "boolean", "object", "array", "number", "string", "integer",
    ];
    let declared: Option<BTreeSet<&str>> = match schema.get("type") {
        Some(Value::String(t)) => Some(KNOWN.iter().copied().filter(|k| k == t).collect()),
        Some(Value::Array(list)) => Some(
            KNOWN
                .iter()
                .copied()
                .filter(|k| list.iter().any(|t| t.as_str() == Some(k)))
                .collect(),
        ),
        _ => None,
    };
    if let Some(declared) = declared {
        // A `type` naming no known type says nothing usable.
        return (!declared.is_empty()).then_some(declared);
    }
    if let Some(values) = values(schema) {
        return Some(values.iter().map(|v| type_of(v)).collect());
    }
    let object_keys = ["properties", "required", "additionalProperties"];
    if object_keys.iter().any(|k| schema.contains_key(*k)) {
        return Some(BTreeSet::from(["object"]));
    }
    if schema.contains_key("items") || schema.contains_key("prefixItems") {
        return Some(BTreeSet::from(["array"]));
    }
    None
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The finite set of values a schema allows (`const`, or `enum`).
fn values(schema: &Map<String, Value>) -> Option<Vec<&Value>> {
    if let Some(constant) = schema.get("const") {
        return Some(vec![constant]);
    }
    schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|items| items.iter().collect())
}

fn names(value: Option<&Value>) -> BTreeSet<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
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

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn list(types: &BTreeSet<&str>) -> String {
    match types.len() {
        0 => "no type".to_owned(),
        1 => types.iter().next().copied().unwrap_or_default().to_owned(),
        _ => types.iter().copied().collect::<Vec<_>>().join(" or "),
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `input` covers `output` by jsonschema's schema algebra:
/// `Some(true)` proven, `Some(false)` refuted, `None` undecided (including
/// schemas too deep or too large to hand over, and any error or panic of the
/// experimental API).
fn algebra_covers(output: &Value, input: &Value) -> Option<bool> {
    let small = |v: &Value| {
        let mut budget = MAX_ALGEBRA_NODES;
        within(v, MAX_DEPTH, &mut budget)
    };
    if !small(output) || !small(input) {
        return None;
    }
    let attempt = || -> Option<bool> {
        let canonical = |v: &Value| {
            jsonschema::canonical::options()
                .offline()
                .canonicalize(v)
                .ok()
        };
        let (output, input) = (canonical(output)?, canonical(input)?);
        match input.covers(&output).ok()? {
            jsonschema::canonical::Containment::Yes => Some(true),
            jsonschema::canonical::Containment::No => Some(false),
            jsonschema::canonical::Containment::Unknown => None,
        }
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(attempt))
        .ok()
        .flatten()
}

/// Whether `value` nests at most `depth` levels and has at most `budget` nodes.
fn within(value: &Value, depth: usize, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return true,
    };
    let mut children = children.peekable();
    if children.peek().is_some() && depth == 0 {
        return false;
    }
    children.all(|child| within(child, depth - 1, budget))
}

#[cfg(test)]
mod tests;
