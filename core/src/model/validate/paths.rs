//! Template paths known statically: what `resultPath`s and `inject`s write,
//! and the run input the `inputSchema` declares (see the parent module).

use super::{Visit, states_of};
use crate::model::diag::{Diagnostic, Diagnostics};
use crate::model::ir::{StateKind, Workflow};
use crate::model::path;
use serde_json::Value;
use std::collections::HashSet;

/// The context paths a workflow writes, and the run input it declares.
pub(super) struct KnownPaths {
    /// Every `resultPath` (catch handlers' included), as segments.
    written: Vec<Vec<String>>,
    /// Keys merged into `ctx` by an `inject` without `resultPath`.
    injected: HashSet<String>,
    /// `inputSchema.properties`, when listed.
    input_properties: Option<HashSet<String>>,
}

impl KnownPaths {
    pub(super) fn of(workflow: &Workflow) -> Self {
        let mut written = Vec::new();
        let mut injected = HashSet::new();
        let mut add = |p: &Option<String>| {
            if let Some(parts) = p.as_deref().and_then(path::segments) {
                written.push(parts.iter().map(|s| (*s).to_owned()).collect());
            }
        };
        for visit in states_of(workflow) {
            for rule in &visit.state.catch {
                add(&rule.result_path);
            }
            match &visit.state.kind {
                StateKind::Operation(op) => add(&op.result_path),
                StateKind::Inject { data, result_path } => {
                    add(result_path);
                    if result_path.is_none()
                        && let Some(map) = data.as_object()
                    {
                        injected.extend(map.keys().cloned());
                    }
                }
                StateKind::Parallel(p) => add(&p.result_path),
                StateKind::Foreach(f) => add(&f.result_path),
                StateKind::Transform(t) => add(&t.result_path),
                StateKind::Dag(d) => add(&d.result_path),
                StateKind::Switch(_) => {}
            }
        }
        let input_properties = workflow
            .input_schema
            .as_ref()
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|props| props.keys().cloned().collect());
        Self {
            written,
            injected,
            input_properties,
        }
    }

    fn writes(&self, parts: &[&str]) -> bool {
        self.written.iter().any(|w| {
            let n = w.len().min(parts.len());
            w[..n].iter().zip(&parts[..n]).all(|(a, b)| a == b)
        })
    }

    /// Is `name` a key of the run input or of what `inject` merges into `ctx`?
    fn in_ctx(&self, name: &str) -> bool {
        self.injected.contains(name)
            || self.writes(&["ctx", name])
            || self
                .input_properties
                .as_ref()
                .is_none_or(|props| props.contains(name))
    }

    pub(super) fn check(
        &self,
        template: &str,
        at: &str,
        visit: &Visit<'_>,
        diagnostics: &mut Diagnostics,
    ) {
        let parts = match path::segments(template) {
            Some(parts) if path::is_plain(template) => parts,
            _ => {
                diagnostics.push(Diagnostic::new(
                    "TEMPLATE_PATH",
                    at,
                    format!(
                        "template `{{{{ {template} }}}}` in state `{}` is not a path: a template is a dot-path such as `ctx.a.b` and never runs code (use a `transform` to compute a value)",
                        visit.state.name
                    ),
                ));
                return;
            }
        };
        let head = parts[0];
        let known = match head {
            "input" | "signal" | "workflow" => true,
            _ if visit.items.contains(&head) => true,
            "steps" => self.writes(&parts),
            "ctx" => parts.len() < 2 || parts[1] == "workflow" || self.in_ctx(parts[1]),
            _ => self.writes(&parts) || self.in_ctx(head),
        };
        if !known {
            diagnostics.push(Diagnostic::new(
                "TEMPLATE_PATH",
                at,
                format!(
                    "template `{{{{ {template} }}}}` in state `{}` can never resolve: no resultPath or inject writes it{}",
                    visit.state.name,
                    if self.input_properties.is_some() {
                        " and the inputSchema does not declare it"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
}
