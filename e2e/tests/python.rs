//! The protocol spoken from Python, against a real cluster, in the venv of
//! `deploy/dev/python-env.sh` (a missing venv fails these tests, naming the
//! script):
//! - the example agent `examples/agents/python/agent.py` (nats-py) serves a
//!   step of a run, and answers a call repeated with the same
//!   `Junction-Idempotency-Key` with the reply it gave the first time;
//! - signals built with the CloudEvents Python SDK, in structured mode (with
//!   `data`, and with `data_base64`) and in binary mode (`ce-*` headers),
//!   start runs; a `ce-*` header whose name is not a CloudEvents attribute
//!   name is rejected as `attribute_name`.

use async_nats::HeaderMap;
use junction_core::wire::agent::IDEMPOTENCY_HEADER;
use junction_e2e::{PythonProcess, TestEnv, repo_root, run_python};
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const HELLO: &str = r#"
id: hello-python
states:
  - name: greet
    type: operation
    action: agent.run
    input: { agent: py-echo, task: "say hello", input: { who: "{{ ctx.who }}" } }
    resultPath: steps.greet
    end: true
"#;

/// Sends one agent request with `key` as its idempotency key; returns the reply.
async fn call(env: &TestEnv, body: &Value, key: &str) -> anyhow::Result<Value> {
    let mut headers = HeaderMap::new();
    headers.insert(IDEMPOTENCY_HEADER, key);
    let mut body = body.clone();
    body["idempotency_key"] = json!(key);
    let request = async_nats::Request::new()
        .payload(serde_json::to_vec(&body)?.into())
        .headers(headers)
        .timeout(Some(Duration::from_secs(10)));
    let reply = env
        .nats
        .send_request(env.subjects.agent_run("py-echo"), request)
        .await?;
    Ok(serde_json::from_slice(&reply.payload)?)
}

#[tokio::test]
async fn the_python_example_agent_serves_a_run_and_repeats_its_answer_per_key() -> anyhow::Result<()>
{
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let script = repo_root().join("examples/agents/python/agent.py");
    let mut agent = PythonProcess::spawn(
        &script.display().to_string(),
        &[
            ("AGENT_NAME", "py-echo"),
            ("JUNCTION_NATS__URL", &env.nats_url),
            ("JUNCTION_NATS__PREFIX", &env.prefix),
        ],
        "serving ",
    )
    .await?;
    env.put_agent("py-echo", None, None).await?;
    env.put_workflow(HELLO).await?;

    let run_id = env
        .start_run("hello-python", json!({ "who": "world" }))
        .await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let output = run["context"]["steps"]["greet"].clone();
    assert_eq!(
        output,
        json!({ "echo": { "who": "world" }, "task": "say hello", "call": 1 }),
        "{run}"
    );

    // The attempt's call again, as a redelivered task would make it: the
    // same key gets the stored reply, not a new call.
    let step = &run["steps"][0];
    let key = format!(
        "{run_id}:{}:{}",
        step["step_id"].as_str().unwrap_or(""),
        step["attempt"]
    );
    let request = json!({
        "task": "say hello", "input": { "who": "world" }, "variables": {},
        "run_id": run_id, "step_id": step["step_id"], "attempt": step["attempt"],
        "deadline": "2099-01-01T00:00:00.000Z",
    });
    assert_eq!(
        call(&env, &request, &key).await?,
        json!({ "output": output })
    );
    assert_eq!(
        call(&env, &request, &key).await?,
        json!({ "output": output })
    );
    // A retry is a new attempt, with a new key: a new call.
    let retry = format!("{run_id}:{}:2", step["step_id"].as_str().unwrap_or(""));
    let mut retried = request.clone();
    retried["attempt"] = json!(2);
    let again = call(&env, &retried, &retry).await?;
    assert_eq!(again["output"]["call"], 2, "{again}");
    assert!(agent.is_running(), "the agent is still serving");
    Ok(())
}

const SDK_ORDER: &str = r#"
id: sdk-order
trigger: { signal: sdk.order }
inputSchema: { type: object, required: [order_id] }
states:
  - name: note
    type: operation
    action: agent.run
    input: { agent: echo, task: "order {{ ctx.order_id }}" }
    resultPath: steps.note
    end: true
"#;

#[tokio::test]
async fn cloudevents_from_the_python_sdk_start_runs_in_every_mode() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(SDK_ORDER).await?;
    let script = repo_root().join("e2e/python/publish_cloudevent.py");
    let script = script.display().to_string();
    let subject = env.subjects.signal("sdk.order");
    for (i, mode) in ["structured", "structured-base64", "binary"]
        .into_iter()
        .enumerate()
    {
        let id = format!("sdk-{mode}");
        let data = json!({ "order_id": format!("A-{i}"), "mode": mode });
        let sent = run_python(
            &[
                &script,
                mode,
                &env.nats_url,
                &subject,
                "sdk.order",
                &id,
                &data.to_string(),
            ],
            &[],
            Duration::from_secs(30),
        )
        .await?;
        let run_id = env.wait_for_signal_run(&id, WAIT).await?;
        let run = env.wait_for_end(&run_id, WAIT).await?;
        assert_eq!(run["status"], "COMPLETED", "{mode}: {run}\nsent {sent}");
        assert_eq!(
            run["input"], data,
            "{mode}: the run's input is the event's data"
        );
        assert_eq!(run["correlation_id"], format!("corr-{id}"), "{mode}");
        let signal = &run["context"]["signal"];
        assert_eq!(signal["id"], id.as_str(), "{mode}: {signal}");
        assert_eq!(signal["source"], "python-sdk", "{mode}: {signal}");
        assert_eq!(
            signal["data"], data,
            "{mode}: stored with its data: {signal}"
        );
        assert!(signal.get("data_base64").is_none(), "{mode}: {signal}");
    }

    // A binary-mode attribute with a name CloudEvents forbids.
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("ce-specversion", "1.0"),
        ("ce-id", "bad-name"),
        ("ce-source", "raw"),
        ("ce-type", "sdk.order"),
        ("ce-order_id", "A-9"),
    ] {
        headers.insert(name, value);
    }
    let jetstream = async_nats::jetstream::new(env.nats.clone());
    jetstream
        .publish_with_headers(
            subject.clone(),
            headers,
            br#"{"order_id":"A-9"}"#.to_vec().into(),
        )
        .await?
        .await?;
    env.wait_for_signals_handled(4).await?;
    assert!(env.runs_caused_by("bad-name").await?.is_empty());
    let metrics = env.http_get("/metrics").await?;
    assert!(
        metrics.contains("junction_signals_rejected_total{reason=\"attribute_name\"} 1"),
        "{metrics}"
    );
    Ok(())
}
