//! The worker's Prometheus families (docs/http.md), recorded through the
//! `metrics` facade into the recorder that `junction_runtime::metrics`
//! installs and `/metrics` renders: every attempt whose result this worker
//! recorded, counted and timed by action and status.
//! `junction_consumer_pending` for `WORKERS` is refreshed by the runtime's
//! `/metrics` route.

use junction_core::status::StepStatus;
use junction_core::wire::TaskAction;
use junction_store::AttemptOutcome;
use metrics::{counter, describe_counter, describe_histogram, histogram};
use metrics_exporter_prometheus::PrometheusHandle;
use std::time::Duration;

/// Counter `{action, status}`: step attempts whose result was recorded.
pub const STEPS_TOTAL: &str = "junction_steps_total";
/// Histogram `{action}`: how long those attempts executed.
pub const STEP_DURATION: &str = "junction_step_duration_seconds";
/// Counter: results this worker dropped because another claim had taken
/// the attempt over (it stalled past its lease).
pub const RESULTS_FENCED: &str = "junction_step_results_fenced_total";

/// Upper bounds of the step duration buckets, in seconds: 1 ms to 60 s.
pub const STEP_DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the process's recorder and describes the worker's families.
pub fn install() -> Result<PrometheusHandle, junction_runtime::metrics::Error> {
    let handle = junction_runtime::metrics::install(&[(STEP_DURATION, STEP_DURATION_BUCKETS)])?;
    describe();
    Ok(handle)
}

fn describe() {
    describe_counter!(
        STEPS_TOTAL,
        "Step attempts whose result this worker recorded, by action (the executor) and step status."
    );
    describe_histogram!(
        STEP_DURATION,
        "How long step attempts executed, in seconds, by action."
    );
    describe_counter!(
        RESULTS_FENCED,
        "Results this worker dropped because a newer claim had taken the attempt over (the worker stalled past its lease)."
    );
    counter!(RESULTS_FENCED).increment(0);
}

/// A result was fenced off: `junction_step_results_fenced_total` += 1.
pub fn result_fenced() {
    counter!(RESULTS_FENCED).increment(1);
}

/// An attempt's result was recorded: `junction_steps_total{action,status}`
/// += 1 and its execution time into `junction_step_duration_seconds{action}`.
pub fn step_recorded(action: &TaskAction, outcome: &AttemptOutcome, ran_for: Duration) {
    let status = match outcome {
        AttemptOutcome::Succeeded(_) => StepStatus::Succeeded,
        AttemptOutcome::Failed { status, .. } => *status,
    };
    let action = action.name();
    counter!(STEPS_TOTAL, "action" => action, "status" => status.as_str()).increment(1);
    histogram!(STEP_DURATION, "action" => action).record(ran_for.as_secs_f64());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    use serde_json::{Value, json};

    #[test]
    fn a_recorded_attempt_is_counted_by_action_and_status_and_timed() {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(STEP_DURATION.into()), STEP_DURATION_BUCKETS)
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        let action = TaskAction::AgentRun {
            agent: "echo".into(),
            task: None,
            input: Value::Null,
            variables: Value::Null,
        };
        metrics::with_local_recorder(&recorder, || {
            describe();
            let ok = AttemptOutcome::Succeeded(json!({}));
            step_recorded(&action, &ok, Duration::from_millis(3));
            let timed_out = AttemptOutcome::Failed {
                status: StepStatus::TimedOut,
                error: json!({ "code": "STEP_TIMEOUT" }),
            };
            step_recorded(&action, &timed_out, Duration::from_secs(2));
        });
        let text = handle.render();
        for line in [
            r#"junction_steps_total{action="agent.run",status="SUCCEEDED"} 1"#,
            r#"junction_steps_total{action="agent.run",status="TIMED_OUT"} 1"#,
            r#"junction_step_duration_seconds_bucket{action="agent.run",le="0.005"} 1"#,
            r#"junction_step_duration_seconds_bucket{action="agent.run",le="2.5"} 2"#,
            r#"junction_step_duration_seconds_count{action="agent.run"} 2"#,
            "# TYPE junction_step_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
    }
}
