//! What a redrive replays against: each step's latest attempt, read from
//! `step_attempts` and turned into the engine's [`RecordedAttempt`].

use super::{Result, Store};
use junction_core::engine::{Recorded, RecordedAttempt};
use junction_core::ids::StepId;
use junction_core::status::StepStatus;
use junction_core::wire::ErrorInfo;
use junction_core::wire::error::codes;
use serde_json::Value;
use std::collections::BTreeMap;

impl Store {
    /// Each step's latest attempt of `run_id`, by step id: a succeeded one
    /// with its output, a failed or timed-out one with its error, any
    /// other (cancelled, or never finished) as unfinished.
    pub async fn recorded_attempts(
        &self,
        run_id: &str,
    ) -> Result<BTreeMap<StepId, RecordedAttempt>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT DISTINCT ON (step_id) step_id, attempt, status, output, error
                 FROM step_attempts WHERE run_id = $1
                 ORDER BY step_id, attempt DESC",
                &[&run_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let status = row.get::<_, &str>(2).parse::<StepStatus>().ok();
                let recorded = RecordedAttempt {
                    attempt: u32::try_from(row.get::<_, i32>(1)).unwrap_or(1),
                    outcome: outcome(status, row.get(3), row.get(4)),
                    base: 0,
                };
                (StepId::new(row.get::<_, String>(0)), recorded)
            })
            .collect())
    }
}

fn outcome(status: Option<StepStatus>, output: Option<Value>, error: Option<Value>) -> Recorded {
    match status {
        Some(StepStatus::Succeeded) => Recorded::Succeeded {
            output: output.unwrap_or(Value::Null),
        },
        Some(StepStatus::Failed | StepStatus::TimedOut) => Recorded::Failed {
            // An error that does not read is still a failure.
            error: error
                .and_then(|e| serde_json::from_value::<ErrorInfo>(e).ok())
                .unwrap_or_else(|| ErrorInfo::new(codes::INTERNAL, "the step failed")),
        },
        _ => Recorded::Unfinished,
    }
}
