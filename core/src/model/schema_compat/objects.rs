//! Objects and arrays: required and optional properties, extra properties
//! against `additionalProperties`, and array `items`, compared recursively.

use super::{Checker, Kind, is_trivial};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::LazyLock;

static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

/// One side's declared properties and the names it requires.
struct Properties<'s> {
    props: &'s Map<String, Value>,
    required: BTreeSet<&'s str>,
}

impl<'s> Properties<'s> {
    fn of(schema: &'s Map<String, Value>) -> Self {
        let empty: &'static Map<String, Value> = &EMPTY;
        Self {
            props: schema
                .get("properties")
                .and_then(Value::as_object)
                .unwrap_or(empty),
            required: names(schema.get("required")),
        }
    }
}

impl<'s> Checker<'s> {
    pub(super) fn compare_objects(
        &mut self,
        out: &'s Map<String, Value>,
        inp: &'s Map<String, Value>,
        path: &str,
        depth: usize,
    ) {
        let input = Properties::of(inp);
        let closed_input = inp.get("additionalProperties");
        if input.props.is_empty() && input.required.is_empty() && closed_input.is_none() {
            return;
        }
        let out_required = names(out.get("required"));
        let out_closed = out.get("additionalProperties") == Some(&Value::Bool(false));
        let empty: &'static Map<String, Value> = &EMPTY;
        let Some(out_props) = out
            .get("properties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty())
            .or_else(|| (out_closed || !out_required.is_empty()).then_some(empty))
        else {
            self.undescribed_properties(&input, path);
            return;
        };
        let output = Properties {
            props: out_props,
            required: out_required,
        };
        self.required_properties(&output, &input, path, depth);
        self.optional_properties(&output, &input, path, depth);
        if let Some(extra_schema) = closed_input {
            self.extra_properties(&output, &input, extra_schema, path, depth);
        }
    }

    /// The output object declares no properties: what the input wants
    /// cannot be checked.
    fn undescribed_properties(&mut self, input: &Properties<'s>, path: &str) {
        let mut wanted: Vec<&str> = input.required.iter().copied().collect();
        wanted.extend(
            input
                .props
                .keys()
                .map(String::as_str)
                .filter(|k| !input.required.contains(k)),
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
    }

    /// Each property the input requires: required by the output too, or a
    /// finding; then compared.
    fn required_properties(
        &mut self,
        output: &Properties<'s>,
        input: &Properties<'s>,
        path: &str,
        depth: usize,
    ) {
        for name in &input.required {
            let at = join(path, name);
            let declared = output.props.get(*name);
            if !output.required.contains(name) {
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
            if let (Some(o), Some(i)) = (declared, input.props.get(*name)) {
                self.compare(o, i, &at, depth + 1);
            }
        }
    }

    /// Each optional property of the input: compared where the output
    /// declares it, a gap where it never gives it.
    fn optional_properties(
        &mut self,
        output: &Properties<'s>,
        input: &Properties<'s>,
        path: &str,
        depth: usize,
    ) {
        for (name, schema) in input.props {
            if input.required.contains(name.as_str()) {
                continue;
            }
            let at = join(path, name);
            match output.props.get(name) {
                Some(o) => self.compare(o, schema, &at, depth + 1),
                None if output.required.contains(name.as_str()) => {}
                None => self.note(
                    Kind::Gap,
                    &at,
                    format!("the input's optional `{name}` is not provided by the output"),
                ),
            }
        }
    }

    /// Extra output properties against the input's `additionalProperties`.
    fn extra_properties(
        &mut self,
        output: &Properties<'s>,
        input: &Properties<'s>,
        extra_schema: &'s Value,
        path: &str,
        depth: usize,
    ) {
        for (name, schema) in output.props {
            if input.props.contains_key(name) {
                continue;
            }
            let at = join(path, name);
            if extra_schema == &Value::Bool(false) {
                let (kind, verb) = if output.required.contains(name.as_str()) {
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

    pub(super) fn compare_items(
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

fn names(value: Option<&Value>) -> BTreeSet<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
