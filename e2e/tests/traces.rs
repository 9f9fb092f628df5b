//! One OpenTelemetry trace per run (PROTOCOL §9), checked against what a
//! real OTLP/HTTP receiver gets from a real cluster: a run started by a
//! signal that names its caller's span, with an inline state, a step that
//! fails once and is retried, and a parallel state one of whose branches
//! runs on a worker that is SIGKILLed mid-step and taken over by another.

use junction_e2e::{OtlpReceiver, ReceivedSpan, TestEnv, registry_with_block};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const CALLER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

const TRACED: &str = r#"
id: traced
trigger: { signal: traced.go }
states:
  - { name: prep, type: inject, data: { n: 1 }, next: shaky }
  - name: shaky
    type: operation
    action: agent.run
    input: { agent: flaky, input: { succeed_at: 2 } }
    retry: { maxAttempts: 3 }
    resultPath: steps.shaky
    next: both
  - name: both
    type: parallel
    branches:
      - name: a
        states:
          - { name: a1, type: agent, agent: echo, task: "a", resultPath: out, end: true }
      - name: b
        states:
          - { name: b1, type: agent, agent: block, task: "b", resultPath: out, end: true }
    resultPath: steps.both
    end: true
"#;

fn named<'s>(spans: &'s [ReceivedSpan], name: &str) -> Vec<&'s ReceivedSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn state<'s>(spans: &'s [ReceivedSpan], state_name: &str) -> &'s ReceivedSpan {
    let found: Vec<_> = named(spans, "StateTransition")
        .into_iter()
        .filter(|s| s.attr("state_name") == state_name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one StateTransition for {state_name}: {spans:#?}"
    );
    found[0]
}

#[tokio::test]
async fn a_run_is_one_trace_across_retries_branches_and_a_killed_worker() -> anyhow::Result<()> {
    let receiver = OtlpReceiver::start().await?;
    let otel = receiver.env();
    let otel: Vec<(&str, &str)> = otel.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut env = TestEnv::new().await?;
    env.serve_agents(registry_with_block(Arc::default()))
        .await?;
    env.start_coordinator("coordinator", &otel).await?;
    let mut doomed_env = otel.clone();
    doomed_env.push(("JUNCTION_WORKER__LEASE_SECONDS", "2"));
    let doomed = env.start_worker("worker-a", &doomed_env).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(TRACED).await?;

    let signal = json!({
        "specversion": "1.0", "id": "traced-1", "source": "e2e", "type": "traced.go",
        "traceparent": CALLER, "data": {}
    });
    env.publish_raw_signal("traced.go", serde_json::to_vec(&signal)?)
        .await?;
    let run_id = env.wait_for_signal_run("traced-1", WAIT).await?;

    // b1's agent hangs on its first call: kill the worker once it holds the
    // step, and let another take it over.
    env.wait_for_calls("block", 1).await?;
    let db = env.db().await?;
    env.eventually("b1 claimed", WAIT, || async {
        let row = db
            .query_opt(
                "SELECT 1 FROM step_attempts WHERE run_id = $1 AND state = 'b1' AND status = 'RUNNING'",
                &[&run_id],
            )
            .await?;
        Ok(row.map(|_| ()))
    })
    .await?;
    env.processes[doomed].kill_now();
    let mut rescuer_env = otel.clone();
    rescuer_env.push(("JUNCTION_WORKER__LEASE_SECONDS", "2"));
    env.start_worker("worker-b", &rescuer_env).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["trace_id"], CALLER_TRACE,
        "the run joins its signal's trace"
    );

    // Everything arrives within the export delay: the root, five states,
    // and the four attempts (two of shaky, a1, b1 on worker-b) with their
    // agent calls. (A worker's spans end after it acks its task, which may
    // be after the run ended.)
    let spans = env
        .eventually("the run's spans", WAIT, || async {
            let spans: Vec<ReceivedSpan> = receiver
                .spans()
                .into_iter()
                .filter(|s| s.attr("run_id") == run_id)
                .collect();
            let done = named(&spans, "WorkflowRun").len() == 1
                && named(&spans, "StateTransition").len() >= 5
                && named(&spans, "StepExecute").len() >= 4
                && named(&spans, "AgentExecute").len() >= 4;
            Ok(done.then_some(spans))
        })
        .await?;
    check_tree(&spans, &run)?;
    check_agent_calls(&env, &spans, &run_id);
    Ok(())
}

/// The span tree of PROTOCOL §9, with its attributes.
fn check_tree(spans: &[ReceivedSpan], run: &Value) -> anyhow::Result<()> {
    let traces: BTreeSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(
        traces,
        BTreeSet::from([CALLER_TRACE]),
        "one trace: {spans:#?}"
    );

    let roots = named(spans, "WorkflowRun");
    assert_eq!(roots.len(), 1);
    let root = roots[0];
    assert_eq!(
        root.parent_span_id, CALLER_SPAN,
        "the signal's span parents the run"
    );
    assert_eq!(root.attr("workflow_id"), "traced");
    assert_eq!(root.attr("tenant"), "default");
    assert_eq!(root.service, "junction-coordinator");
    // Every state and agent call ends before the run does. (A worker's
    // StepExecute may end just after: it acks its task after the commit
    // that let the run end.)
    let latest_end = spans
        .iter()
        .filter(|s| s.name == "StateTransition" || s.name == "AgentExecute")
        .map(|s| s.end_ns)
        .max()
        .unwrap_or(0);
    assert!(root.end_ns >= latest_end, "the root ends with the run");
    let ended_at = chrono::DateTime::parse_from_rfc3339(run["ended_at"].as_str().unwrap_or(""))?;
    let ended_ns = ended_at.timestamp_nanos_opt().unwrap_or(0) as u64;
    assert!(
        root.end_ns.abs_diff(ended_ns) < 1_000_000_000,
        "root ends at {} ns, the run at {ended_ns} ns",
        root.end_ns
    );

    for (name, kind, parent) in [
        ("prep", "inject", None),
        ("shaky", "operation", None),
        ("both", "parallel", None),
        ("a1", "operation", Some("both")),
        ("b1", "operation", Some("both")),
    ] {
        let span = state(spans, name);
        assert_eq!(span.attr("state_type"), kind, "{name}");
        let expected = parent.map_or(root.span_id.clone(), |p| state(spans, p).span_id.clone());
        assert_eq!(
            span.parent_span_id, expected,
            "{name} hangs under {parent:?}"
        );
        assert!(
            span.start_ns <= span.end_ns && span.end_ns <= root.end_ns,
            "{name}"
        );
    }

    // A retry is another StepExecute under the same StateTransition.
    let shaky = state(spans, "shaky");
    let mut attempts: Vec<&str> = named(spans, "StepExecute")
        .into_iter()
        .filter(|s| s.parent_span_id == shaky.span_id)
        .map(|s| s.attr("attempt"))
        .collect();
    attempts.sort_unstable();
    assert_eq!(attempts, ["1", "2"], "{spans:#?}");
    for step in named(spans, "StepExecute") {
        assert_eq!(step.attr("action"), "agent.run");
        assert_eq!(step.service, "junction-worker");
        assert!(!step.attr("step_id").is_empty() && !step.attr("worker_id").is_empty());
    }
    // b1 finished on the worker that took it over.
    let b1 = state(spans, "b1");
    let b1_steps: Vec<_> = named(spans, "StepExecute")
        .into_iter()
        .filter(|s| s.parent_span_id == b1.span_id)
        .collect();
    assert!(
        b1_steps.iter().any(|s| s.attr("worker_id") == "worker-b"),
        "{b1_steps:#?}"
    );
    Ok(())
}

/// Every agent call made by a live worker names its `AgentExecute` span.
fn check_agent_calls(env: &TestEnv, spans: &[ReceivedSpan], run_id: &str) {
    let agent_spans = named(spans, "AgentExecute");
    let steps: BTreeSet<&str> = named(spans, "StepExecute")
        .into_iter()
        .map(|s| s.span_id.as_str())
        .collect();
    for span in &agent_spans {
        assert_eq!(span.kind, 3, "AgentExecute is a CLIENT span");
        assert!(
            steps.contains(span.parent_span_id.as_str()),
            "under a StepExecute"
        );
        assert!(!span.attr("agent_name").is_empty());
    }
    let calls: Vec<_> = env
        .calls
        .records()
        .into_iter()
        .filter(|c| c.run_id == run_id)
        .collect();
    // The killed worker's call to `block` never had its span exported.
    assert_eq!(agent_spans.len(), calls.len() - 1, "{calls:#?}");
    for span in &agent_spans {
        let call = calls
            .iter()
            .find(|c| {
                c.traceparent
                    .as_deref()
                    .is_some_and(|t| t.contains(&span.span_id))
            })
            .unwrap_or_else(|| panic!("no agent call names span {span:#?}"));
        assert_eq!(call.idempotency_key, span.attr("agent_run_id"));
        assert_eq!(call.agent, span.attr("agent_name"));
    }
}

/// A signal's `traceparent` may come as the NATS header; the CloudEvents
/// attribute wins over it. Without an exporter the run still gets a trace
/// id and its messages carry `traceparent`.
#[tokio::test]
async fn a_signals_traceparent_comes_from_its_attribute_or_its_header() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(junction_example_agents::Registry::builtin())
        .await?;
    env.start_coordinator("coordinator", &[]).await?;
    env.start_worker("worker", &[]).await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(junction_e2e::THREE_STEPS.replace("block", "echo").as_str())
        .await?;
    let header_only = "00-11111111111111111111111111111111-2222222222222222-01";
    let publish = |id: &str, attribute: Option<&str>| {
        let mut event = json!({ "specversion": "1.0", "id": id, "source": "e2e", "type": "go" });
        if let Some(traceparent) = attribute {
            event["traceparent"] = json!(traceparent);
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("traceparent", header_only);
        let jetstream = async_nats::jetstream::new(env.nats.clone());
        let subject = env.subjects.signal("go");
        async move {
            let body = serde_json::to_vec(&event)?;
            jetstream
                .publish_with_headers(subject, headers, body.into())
                .await?
                .await?;
            anyhow::Ok(())
        }
    };
    publish("by-header", None).await?;
    publish("by-both", Some(CALLER)).await?;
    let by_header = env.wait_for_signal_run("by-header", WAIT).await?;
    let by_both = env.wait_for_signal_run("by-both", WAIT).await?;
    let run = env.wait_for_end(&by_header, WAIT).await?;
    assert_eq!(run["trace_id"], "11111111111111111111111111111111");
    let run = env.wait_for_end(&by_both, WAIT).await?;
    assert_eq!(run["trace_id"], CALLER_TRACE, "the attribute wins");

    // A run started on demand gets a trace of its own, and its agent calls
    // carry it.
    let own = env.start_run("three", json!({})).await?;
    let run = env.wait_for_end(&own, WAIT).await?;
    let trace_id = run["trace_id"].as_str().unwrap_or("");
    assert_eq!(trace_id.len(), 32, "{run}");
    assert!(
        trace_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    for call in env.calls.records().iter().filter(|c| c.run_id == own) {
        let traceparent = call.traceparent.as_deref().unwrap_or("");
        assert!(
            traceparent.starts_with(&format!("00-{trace_id}-")),
            "{call:?}"
        );
    }
    Ok(())
}
