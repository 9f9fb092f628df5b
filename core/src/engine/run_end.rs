//! How a run ends by itself: completed (with the `outputSchema` check) or
//! failed. Run-level actions that end it from outside are in
//! [`super::operator`].

use super::apply::Step;
use crate::status::RunStatus;
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType};
use serde_json::{Value, json};

impl Step<'_> {
    pub(super) fn complete(&mut self) {
        self.state.status = RunStatus::Completed;
        self.state.active.clear();
        let output = self.state.output();
        if let Some(message) = self.output_schema_mismatch(&output) {
            self.emit(
                EventType::StepWarning,
                None,
                json!({ "code": codes::OUTPUT_SCHEMA, "message": message }),
            );
        }
        self.emit(
            EventType::RunCompleted,
            None,
            json!({ "output": output.clone() }),
        );
        self.notify_parent(Ok(output));
    }

    /// The workflow's `outputSchema`, checked against the final `ctx`: a
    /// mismatch is a warning, never a failure (docs/language.md).
    pub(super) fn output_schema_mismatch(&self, output: &Value) -> Option<String> {
        let schema = self.workflow.output_schema.as_ref()?;
        let validator = match jsonschema::validator_for(schema) {
            Ok(validator) => validator,
            Err(e) => return Some(format!("outputSchema cannot be compiled: {e}")),
        };
        let problems: Vec<String> = validator
            .iter_errors(output)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        (!problems.is_empty()).then(|| {
            format!(
                "the final ctx does not match the outputSchema: {}",
                problems.join("; ")
            )
        })
    }

    pub(super) fn fail_run(&mut self, error: ErrorInfo) {
        self.state.status = RunStatus::Failed;
        self.state.active.clear();
        self.state.error = Some(error.clone());
        self.emit(EventType::RunFailed, None, json!({ "error": error }));
        self.notify_parent(Err(error));
    }
}
