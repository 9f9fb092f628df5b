//! Station's `type: cron` start state (docs/language.md, "Schedules"). It is
//! not a state of the graph: it becomes the workflow's [`Schedule`] and its
//! `next` becomes the start. It must be the first state of the top-level
//! list and the start, so the IR's states keep the source's order shifted
//! by one ([`renumber`] maps IR paths back to the source). Pure.

use super::{Compiler, join};
use crate::model::diag::Diagnostics;
use crate::model::ir::{State, Workflow};
use crate::model::parse::string_field;
use crate::model::schedule::{self, Schedule};
use serde_json::Value;

/// The `type` of a cron state.
pub const CRON_TYPE: &str = "cron";

/// Every field a cron state reads.
const CRON_FIELDS: &[&str] = &[
    "name",
    "id",
    "type",
    "description",
    "comment",
    "cron",
    "timezone",
    "enabled",
    "input",
    "next",
    "transition",
];

/// Whether a source state is a `type: cron` state.
pub fn is_cron_state(item: &Value) -> bool {
    item.get("type").and_then(Value::as_str) == Some(CRON_TYPE)
}

impl Compiler<'_> {
    /// A cron state at `path` (index `index` of a list at nesting `depth`,
    /// whose `start` is `start`): records its schedule and returns its
    /// `next`, the graph's real start.
    pub(super) fn cron_state(
        &mut self,
        item: &Value,
        path: &str,
        index: usize,
        depth: usize,
        start: Option<&Value>,
    ) -> Option<String> {
        let object = item.as_object()?;
        self.unknown_fields(object, CRON_FIELDS, path);
        let name = string_field(object, "name")
            .or_else(|| string_field(object, "id"))
            .unwrap_or_default();
        let is_start = match start {
            None => true,
            Some(Value::String(start)) => *start == name,
            Some(_) => false,
        };
        if depth > 0 || index > 0 || !is_start {
            self.error(
                "CRON_NOT_START",
                join(path, "type"),
                "a `type: cron` state must be the workflow's start state, written first in its top-level `states`",
            );
            return None;
        }
        let next = string_field(object, "next").or_else(|| string_field(object, "transition"));
        let Some(next) = next else {
            self.error(
                "MISSING_TRANSITION",
                path,
                "a `type: cron` state needs `next` (or `transition`): the state each scheduled run starts at",
            );
            return None;
        };
        self.schedule = schedule::from_cron_state(object, &name, path, self.diagnostics);
        Some(next)
    }

    /// The cron state's `next` as the start, once the list is compiled: it
    /// must name one of the list's states (unless one failed to compile).
    pub(super) fn cron_start(
        &mut self,
        next: String,
        compiled: &[State],
        written: usize,
    ) -> String {
        let known = compiled.iter().any(|s| s.name == next);
        if !known && compiled.len() + 1 >= written {
            self.error(
                "DANGLING_TARGET",
                "states[0].next",
                format!("the cron state goes to `{next}`, which does not exist"),
            );
        }
        next
    }
}

/// Maps the top-level state indices of diagnostics found on the IR (graph
/// and registry checks) back to the source: with a cron start state, IR
/// state `i` is source state `i + 1`. Diagnostics before `from` are left
/// alone (they were reported with source paths).
pub fn renumber(workflow: &Workflow, diagnostics: &mut Diagnostics, from: (usize, usize)) {
    if workflow
        .schedule
        .as_ref()
        .is_none_or(|s: &Schedule| s.state.is_none())
    {
        return;
    }
    let (errors, warnings) = from;
    let shift = |path: &mut String| {
        let Some(rest) = path.strip_prefix("states[") else {
            return;
        };
        let Some((number, tail)) = rest.split_once(']') else {
            return;
        };
        if let Ok(index) = number.parse::<usize>() {
            *path = format!("states[{}]{tail}", index + 1);
        }
    };
    for diagnostic in diagnostics.errors.iter_mut().skip(errors) {
        shift(&mut diagnostic.path);
    }
    for diagnostic in diagnostics.warnings.iter_mut().skip(warnings) {
        shift(&mut diagnostic.path);
    }
}

/// How many errors and warnings `diagnostics` holds: the `from` of [`renumber`].
pub fn mark(diagnostics: &Diagnostics) -> (usize, usize) {
    (diagnostics.errors.len(), diagnostics.warnings.len())
}

/// The schedule of `trigger.schedule`, unless a cron state also gave one.
pub(super) fn merge_trigger_schedule(
    from_state: Option<Schedule>,
    from_trigger: Option<Schedule>,
    diagnostics: &mut Diagnostics,
) -> Option<Schedule> {
    match (from_state, from_trigger) {
        (Some(_), Some(_)) => {
            diagnostics.error(
                "CONFLICTING_SCHEDULE",
                "trigger.schedule",
                "a workflow has one schedule: `trigger.schedule` or a `type: cron` start state, not both",
            );
            None
        }
        (state, trigger) => state.or(trigger),
    }
}

#[cfg(test)]
mod tests;
