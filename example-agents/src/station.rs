//! The agents Station's example workflows call (`examples/station/`), each a
//! small, deterministic function of the request, so a test can predict a
//! whole run. Their registry files are `examples/station/agents/*.agent.yaml`.
//!
//! - `k8s-pod-checker`: `{pods: [{name, ready}]}`; the pods of a service whose
//!   name (in the task) contains `hot` are not ready;
//! - `slo-analyzer`: `{error_rate}`: 0.2 when the task names a `hot` service,
//!   else 0.01;
//! - `log-scanner`: `{lines: [...]}`, one error line per `!` in the task;
//! - `k8s-remediator`: `{result: "restarted …"}`;
//! - `notification-sender`: `{sent: true, channel, message}` from `variables`
//!   and the task;
//! - `service-prober`: input a service name (a foreach item) → `{service,
//!   healthy, latency_ms}`; a name starting with `legacy` is unhealthy;
//! - `change-collector`: `{changes: [{id, author, risky}]}` for the task;
//! - `report-writer`: `{report: <task>, items: <input's count or null>}`.

use junction_core::wire::agent::{AgentReply, AgentRequest};
use serde_json::{Value, json};

use crate::registry::Registry;

/// Adds every Station example agent to `registry`.
pub(crate) fn register(registry: Registry) -> Registry {
    registry
        .with("k8s-pod-checker", |r| async move { pod_checker(&r) })
        .with("slo-analyzer", |r| async move { slo_analyzer(&r) })
        .with("log-scanner", |r| async move { log_scanner(&r) })
        .with("k8s-remediator", |r| async move { remediator(&r) })
        .with("notification-sender", |r| async move { notifier(&r) })
        .with("service-prober", |r| async move { prober(&r) })
        .with("change-collector", |r| async move { change_collector(&r) })
        .with("report-writer", |r| async move { report_writer(&r) })
}

fn task(request: &AgentRequest) -> &str {
    request.task.as_deref().unwrap_or_default()
}

fn is_hot(request: &AgentRequest) -> bool {
    task(request).contains("hot")
}

/// `k8s-pod-checker`: two pods; the first is not ready for a `hot` service.
pub fn pod_checker(request: &AgentRequest) -> AgentReply {
    AgentReply::Output(json!({
        "pods": [
            { "name": "pod-1", "ready": !is_hot(request) },
            { "name": "pod-2", "ready": true },
        ]
    }))
}

/// `slo-analyzer`: a high error rate for a `hot` service.
pub fn slo_analyzer(request: &AgentRequest) -> AgentReply {
    let rate = if is_hot(request) { 0.2 } else { 0.01 };
    AgentReply::Output(json!({ "error_rate": rate }))
}

/// `log-scanner`: one error line per `!` in the task.
pub fn log_scanner(request: &AgentRequest) -> AgentReply {
    let lines: Vec<Value> = (1..=task(request).matches('!').count())
        .map(|n| json!(format!("error {n}")))
        .collect();
    AgentReply::Output(json!({ "lines": lines }))
}

/// `k8s-remediator`: reports what it restarted.
pub fn remediator(request: &AgentRequest) -> AgentReply {
    AgentReply::Output(json!({ "result": format!("restarted: {}", task(request)) }))
}

/// `notification-sender`: echoes where and what it sent.
pub fn notifier(request: &AgentRequest) -> AgentReply {
    AgentReply::Output(json!({
        "sent": true,
        "channel": request.variables.get("channel").cloned().unwrap_or(Value::Null),
        "message": request.task,
    }))
}

/// `service-prober`: probes the service its input names.
pub fn prober(request: &AgentRequest) -> AgentReply {
    let service = match &request.input {
        Value::String(name) => name.clone(),
        other => other
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| other.to_string(), str::to_owned),
    };
    AgentReply::Output(json!({
        "service": service,
        "healthy": !service.starts_with("legacy"),
        "latency_ms": 10 * service.len(),
    }))
}

/// `change-collector`: three changes, the second risky.
pub fn change_collector(_request: &AgentRequest) -> AgentReply {
    AgentReply::Output(json!({
        "changes": [
            { "id": 1, "author": "ada", "risky": false },
            { "id": 2, "author": "grace", "risky": true },
            { "id": 3, "author": "ada", "risky": false },
        ]
    }))
}

/// `report-writer`: the task as the report, and how many items it got.
pub fn report_writer(request: &AgentRequest) -> AgentReply {
    AgentReply::Output(json!({
        "report": request.task,
        "items": request.input.get("count").cloned().unwrap_or(Value::Null),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(task: Option<&str>, input: Value) -> AgentRequest {
        AgentRequest {
            task: task.map(str::to_owned),
            input,
            variables: json!({ "channel": "#ops" }),
            run_id: "r".into(),
            step_id: "s".into(),
            attempt: 1,
            idempotency_key: "r:s:1".into(),
            deadline: "2030-01-01T00:00:00.000Z".into(),
        }
    }

    fn output(reply: AgentReply) -> Value {
        match reply {
            AgentReply::Output(value) => value,
            AgentReply::Error(error) => panic!("an output expected: {error:?}"),
        }
    }

    #[test]
    fn hot_services_look_unwell() {
        let hot = request(Some("check hot-api"), Value::Null);
        assert_eq!(output(slo_analyzer(&hot))["error_rate"], json!(0.2));
        assert_eq!(output(pod_checker(&hot))["pods"][0]["ready"], json!(false));
        let calm = request(Some("check api"), Value::Null);
        assert_eq!(output(slo_analyzer(&calm))["error_rate"], json!(0.01));
    }

    #[test]
    fn the_prober_reads_its_item() {
        let probe = output(prober(&request(None, json!("legacy-db"))));
        assert_eq!(probe["service"], "legacy-db");
        assert_eq!(probe["healthy"], false);
        let probe = output(prober(&request(None, json!({ "name": "api" }))));
        assert_eq!(
            probe,
            json!({ "service": "api", "healthy": true, "latency_ms": 30 })
        );
    }

    #[test]
    fn the_others_answer_from_task_variables_and_input() {
        assert_eq!(
            output(log_scanner(&request(Some("x!!"), Value::Null)))["lines"],
            json!(["error 1", "error 2"])
        );
        assert_eq!(
            output(notifier(&request(Some("hi"), Value::Null))),
            json!({ "sent": true, "channel": "#ops", "message": "hi" })
        );
        assert_eq!(
            output(report_writer(&request(Some("r"), json!({ "count": 2 })))),
            json!({ "report": "r", "items": 2 })
        );
        assert_eq!(
            output(change_collector(&request(None, Value::Null)))["changes"][1]["risky"],
            json!(true)
        );
        assert_eq!(
            output(remediator(&request(Some("pods"), Value::Null)))["result"],
            json!("restarted: pods")
        );
    }
}
