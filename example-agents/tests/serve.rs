//! The agent server against the real NATS at `nats://127.0.0.1:4222`.
//!
//! Every test serves under its own random prefix, so tests run in parallel and
//! alongside anything else using that server.

use std::time::Duration;

use async_nats::{Client, HeaderMap, RequestErrorKind};
use junction_bus::Subjects;
use junction_core::wire::agent::{
    AgentCancel, AgentError, AgentReply, AgentRequest, IDEMPOTENCY_HEADER,
};
use junction_example_agents::{CallLog, Registry, Reply, ServeHandle, spawn};
use serde_json::{Value, json};

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A server on its own prefix, and a separate "worker" connection to call it.
struct Env {
    subjects: Subjects,
    worker: Client,
    log: CallLog,
    server: ServeHandle,
}

impl Env {
    async fn start(registry: Registry) -> Self {
        let subjects = Subjects::new(&random_prefix()).expect("generated prefix is valid");
        let log = CallLog::new();
        let server = spawn(connect().await, subjects.clone(), registry, log.clone())
            .await
            .expect("agents start serving");
        Self {
            subjects,
            worker: connect().await,
            log,
            server,
        }
    }

    /// Sends `request` to `agent` and returns the raw reply body.
    async fn call_raw(
        &self,
        agent: &str,
        request: &AgentRequest,
    ) -> Result<Vec<u8>, async_nats::RequestError> {
        let body = serde_json::to_vec(request).expect("request serializes");
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_HEADER, request.idempotency_key.as_str());
        let reply = self
            .worker
            .request_with_headers(self.subjects.agent_run(agent), headers, body.into())
            .await?;
        Ok(reply.payload.to_vec())
    }

    /// Sends `request` to `agent` and parses the reply.
    async fn call(&self, agent: &str, request: &AgentRequest) -> AgentReply {
        let body = self.call_raw(agent, request).await.expect("agent replies");
        AgentReply::parse(&body).expect("reply is a well-formed agent reply")
    }
}

async fn connect() -> Client {
    async_nats::connect(NATS_URL)
        .await
        .expect("NATS runs at 127.0.0.1:4222")
}

/// `ea` and eight random lowercase hex characters.
fn random_prefix() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("ea{}", &id[id.len() - 8..])
}

fn request(task: Option<&str>, input: Value) -> AgentRequest {
    let run_id = uuid::Uuid::now_v7().to_string();
    AgentRequest {
        task: task.map(str::to_owned),
        input,
        variables: json!({"v": 1}),
        idempotency_key: format!("{run_id}:s1:1"),
        run_id,
        step_id: "s1".into(),
        attempt: 1,
        deadline: "2030-01-01T00:00:00Z".into(),
    }
}

fn output(reply: AgentReply) -> Value {
    match reply {
        AgentReply::Output(output) => output,
        AgentReply::Error(error) => panic!("expected an output, got {error:?}"),
    }
}

fn error(reply: AgentReply) -> AgentError {
    match reply {
        AgentReply::Error(error) => error,
        AgentReply::Output(output) => panic!("expected an error, got {output}"),
    }
}

#[tokio::test]
async fn echo_round_trip() {
    let env = Env::start(Registry::builtin()).await;
    let input = json!({"order": {"id": 7, "lines": [1, 2]}});
    assert_eq!(
        output(env.call("echo", &request(None, input.clone())).await),
        input
    );
    assert_eq!(
        output(
            env.call("echo", &request(Some("look"), input.clone()))
                .await
        ),
        json!({"task": "look", "input": input})
    );
    env.server.stop().await.expect("server stops cleanly");
}

#[tokio::test]
async fn upper_and_sleep_answer() {
    let env = Env::start(Registry::builtin()).await;
    let upper = env.call("upper", &request(Some("abc"), Value::Null)).await;
    assert_eq!(output(upper), json!({"text": "ABC"}));
    assert_eq!(
        error(env.call("upper", &request(None, Value::Null)).await).code,
        "BAD_INPUT"
    );
    let slept = env.call("sleep", &request(None, json!({"ms": 20}))).await;
    assert_eq!(output(slept), json!({"slept_ms": 20}));
}

#[tokio::test]
async fn add_sums_or_refuses() {
    let env = Env::start(Registry::builtin()).await;
    let sum = env
        .call("add", &request(None, json!({"a": 2, "b": 40})))
        .await;
    assert_eq!(output(sum), json!({"sum": 42}));
    let refused = error(
        env.call("add", &request(None, json!({"a": 2, "b": "x"})))
            .await,
    );
    assert_eq!(refused.code, "BAD_INPUT");
}

#[tokio::test]
async fn fail_replies_with_a_non_retryable_error() {
    let env = Env::start(Registry::builtin()).await;
    let body = env
        .call_raw("fail", &request(None, Value::Null))
        .await
        .expect("fail replies");
    let body: Value = serde_json::from_slice(&body).expect("reply is JSON");
    assert_eq!(
        body,
        json!({"error": {
            "code": "AGENT_FAILED",
            "message": "the fail agent always fails",
            "retryable": false
        }})
    );
    let custom = env
        .call(
            "fail",
            &request(None, json!({"code": "NOPE", "message": "m"})),
        )
        .await;
    assert_eq!(
        error(custom),
        AgentError {
            code: "NOPE".into(),
            message: "m".into(),
            retryable: Some(false)
        }
    );
}

#[tokio::test]
async fn garbage_reply_is_not_an_agent_reply() {
    let env = Env::start(Registry::builtin()).await;
    let body = env
        .call_raw("garbage", &request(None, Value::Null))
        .await
        .expect("garbage replies");
    assert!(
        serde_json::from_slice::<Value>(&body).is_ok(),
        "garbage is still JSON"
    );
    assert_eq!(AgentReply::parse(&body), None);
}

#[tokio::test]
async fn unknown_agent_has_no_responders() {
    let env = Env::start(Registry::builtin()).await;
    let err = env
        .call_raw("nope", &request(None, Value::Null))
        .await
        .expect_err("nobody serves nope");
    assert_eq!(err.kind(), RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn call_log_records_body_and_header_keys() {
    let env = Env::start(Registry::builtin()).await;
    let first = request(None, json!(1));
    let second = request(None, json!({"a": 1, "b": 2}));
    env.call("echo", &first).await;
    env.call("add", &second).await;
    assert_eq!(
        env.log.keys(),
        [
            first.idempotency_key.clone(),
            second.idempotency_key.clone()
        ]
    );
    assert_eq!(env.log.count_for("echo"), 1);
    assert_eq!(env.log.count_for("upper"), 0);
    let record = &env.log.records()[0];
    assert_eq!(record.agent, "echo");
    assert_eq!(record.run_id, first.run_id);
    assert_eq!(record.step_id, "s1");
    assert_eq!(record.attempt, 1);
    assert_eq!(
        record.header_idempotency_key.as_deref(),
        Some(first.idempotency_key.as_str())
    );
    assert_eq!(record.traceparent, None);
}

#[tokio::test]
async fn bad_request_body_gets_bad_request_and_is_not_logged() {
    let env = Env::start(Registry::builtin()).await;
    let reply = env
        .worker
        .request(env.subjects.agent_run("echo"), "not json".into())
        .await
        .expect("echo replies");
    let body: Value = serde_json::from_slice(&reply.payload).expect("reply is JSON");
    assert_eq!(body["error"]["code"], "BAD_REQUEST");
    assert!(body["error"]["message"].is_string());
    assert!(env.log.records().is_empty());
}

#[tokio::test]
async fn custom_handler_is_served_alone() {
    let registry = Registry::empty()
        .with("double", |request: AgentRequest| async move {
            let n = request.input["n"].as_i64().unwrap_or_default();
            AgentReply::Output(json!({"n": n * 2}))
        })
        .with("raw", |_request| async move { Reply::Raw(b"[]".to_vec()) });
    let env = Env::start(registry).await;
    let doubled = env.call("double", &request(None, json!({"n": 21}))).await;
    assert_eq!(output(doubled), json!({"n": 42}));
    let raw = env
        .call_raw("raw", &request(None, Value::Null))
        .await
        .expect("raw replies");
    assert_eq!(raw, b"[]");
    let err = env
        .call_raw("echo", &request(None, Value::Null))
        .await
        .expect_err("no builtins");
    assert_eq!(err.kind(), RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn panicking_handler_replies_with_an_error() {
    let registry = Registry::empty().with("boom", |_request| async move {
        if true {
            panic!("boom");
        }
        AgentReply::Output(Value::Null)
    });
    let env = Env::start(registry).await;
    let reply = error(env.call("boom", &request(None, Value::Null)).await);
    assert_eq!(reply.code, "AGENT_PANICKED");
}

#[tokio::test]
async fn cancels_are_recorded() {
    let env = Env::start(Registry::builtin()).await;
    let cancel = AgentCancel {
        idempotency_key: "r:s:1".into(),
        run_id: "r".into(),
        step_id: "s".into(),
        attempt: 1,
        reason: "run cancelled".into(),
    };
    let body = serde_json::to_vec(&cancel).expect("cancel serializes");
    env.worker
        .publish(env.subjects.agent_cancel("sleep"), body.into())
        .await
        .expect("cancel is published");
    env.worker.flush().await.expect("flush");
    let recorded = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(record) = env.log.cancels().pop() {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the cancel is recorded within 5 s");
    assert_eq!(recorded.agent, "sleep");
    assert_eq!(recorded.cancel, cancel);
}

#[tokio::test]
async fn stopped_server_has_no_responders() {
    let env = Env::start(Registry::builtin()).await;
    env.call("echo", &request(None, json!(1))).await;
    let Env {
        subjects,
        worker,
        server,
        ..
    } = env;
    server.stop().await.expect("server stops cleanly");
    let body = serde_json::to_vec(&request(None, json!(1))).expect("request serializes");
    let err = worker
        .request(subjects.agent_run("echo"), body.into())
        .await
        .expect_err("nobody serves echo any more");
    assert_eq!(err.kind(), RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn calls_run_concurrently() {
    let env = Env::start(Registry::builtin()).await;
    let slow = request(None, json!({"ms": 300}));
    let fast = request(None, json!({"ms": 1}));
    let started = tokio::time::Instant::now();
    let (slow, fast) = tokio::join!(env.call("sleep", &slow), async {
        let reply = env.call("sleep", &fast).await;
        (reply, started.elapsed())
    });
    assert_eq!(output(slow), json!({"slept_ms": 300}));
    assert!(
        fast.1 < Duration::from_millis(300),
        "fast call waited for the slow one"
    );
}
