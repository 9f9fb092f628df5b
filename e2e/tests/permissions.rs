//! Junction on a locked-down NATS server: a private `nats-server` started
//! from the shipped `deploy/nats/locked-down.conf` (only its port, address
//! and store are the test's own), every process logging in as its role.
//!
//! - a coordinator, a worker and the example `echo` agent (the
//!   `junction-example-agents` binary) run a workflow end to end, started by
//!   a signal the `publisher` user publishes;
//! - the publisher cannot put a task or an event on the bus, answer or
//!   forge a control reply, subscribe to `wf.event.>`, or use the
//!   JetStream API on the events stream (no consumer, no stream info): the
//!   server answers each attempt with a permissions violation;
//! - an agent's user cannot serve another agent's subject, nor answer a
//!   request it was not sent;
//! - the operator user's control requests work (`runs.list`);
//! - a process with a wrong password exits 2 naming the refusal, and no
//!   password is ever in a process's output.

use anyhow::Context;
use async_nats::Event;
use async_nats::jetstream::consumer::pull;
use bytes::Bytes;
use junction_bus::{ControlSubject, NatsAuth};
use junction_e2e::{NatsServer, Process, TestEnv, chain_yaml, repo_root};
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(60);

/// The role's user, its example password in the shipped file, and its inbox.
fn role(user: &str) -> NatsAuth {
    NatsAuth {
        user: Some(user.to_owned()),
        password: Some(format!("change-me-{user}")),
        inbox_prefix: format!("_INBOX.{user}"),
        ..NatsAuth::default()
    }
}

/// The variables that log a Junction process in as `user`.
fn role_env(user: &str) -> Vec<(String, String)> {
    vec![
        ("JUNCTION_NATS__USER".into(), user.to_owned()),
        (
            "JUNCTION_NATS__PASSWORD".into(),
            format!("change-me-{user}"),
        ),
        (
            "JUNCTION_NATS__INBOX_PREFIX".into(),
            format!("_INBOX.{user}"),
        ),
    ]
}

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A connection as `user` that reports the errors the server sends it.
struct Watched {
    client: async_nats::Client,
    errors: mpsc::UnboundedReceiver<String>,
}

impl Watched {
    async fn connect(url: &str, user: &str) -> anyhow::Result<Self> {
        let (sender, errors) = mpsc::unbounded_channel();
        let options = async_nats::ConnectOptions::new().event_callback(move |event| {
            let sender = sender.clone();
            async move {
                if let Event::ServerError(error) = event {
                    let _ = sender.send(error.to_string().to_lowercase());
                }
            }
        });
        let client = role(user)
            .apply(options)?
            .connect(url)
            .await
            .with_context(|| format!("connect as {user}"))?;
        Ok(Self { client, errors })
    }

    /// Waits for the server's "Permissions Violation for `kind` to
    /// "`subject`"" (`kind`: `publish` or `subscription`).
    async fn violation(&mut self, kind: &str, subject: &str) -> anyhow::Result<()> {
        let wanted = format!("permissions violation for {kind} to \"{subject}\"").to_lowercase();
        let mut seen = Vec::new();
        let found = tokio::time::timeout(WAIT, async {
            while let Some(error) = self.errors.recv().await {
                if error.contains(&wanted) {
                    return true;
                }
                seen.push(error);
            }
            false
        })
        .await;
        anyhow::ensure!(
            found == Ok(true),
            "no `{wanted}` from the server; it said {seen:?}"
        );
        Ok(())
    }

    /// Publishes `subject` and waits for the server's refusal.
    async fn publish_refused(&mut self, subject: &str) -> anyhow::Result<()> {
        self.client
            .publish(subject.to_owned(), Bytes::from_static(b"{}"))
            .await?;
        self.client.flush().await?;
        self.violation("publish", subject).await
    }

    /// Subscribes to `subject` and waits for the server's refusal.
    async fn subscribe_refused(&mut self, subject: &str) -> anyhow::Result<()> {
        let _subscriber = self.client.subscribe(subject.to_owned()).await?;
        self.client.flush().await?;
        self.violation("subscription", subject).await
    }
}

/// The shipped configuration's server, and a cluster on it: coordinator,
/// worker and the `echo` agent, each as its role.
async fn locked_cluster() -> anyhow::Result<(NatsServer, TestEnv)> {
    let mut server = NatsServer::with_config(repo_root().join("deploy/nats/locked-down.conf"))?;
    server.start().await?;
    let mut env = TestEnv::on_locked_nats(&server.url(), &role("operator")).await?;
    env.start_coordinator("coordinator", &pairs(&role_env("coordinator")))
        .await?;
    env.start_worker("worker", &pairs(&role_env("worker")))
        .await?;
    let mut agent_env = vec![
        ("JUNCTION_NATS__URL".to_owned(), server.url()),
        ("JUNCTION_NATS__PREFIX".to_owned(), String::new()),
        ("NO_COLOR".to_owned(), "1".to_owned()),
    ];
    agent_env.extend(role_env("agent-echo"));
    let agents = Process::spawn_with_args(
        "junction-example-agents",
        "agent-echo",
        &["--agents", "echo"],
        &agent_env,
        env.dir.path(),
    )?;
    env.processes.push(agents);
    env.wait_for_members(1, 1).await?;
    Ok((server, env))
}

/// No process prints its password (or anyone's).
fn assert_no_password_in_logs(env: &TestEnv) {
    for process in &env.processes {
        let output = process.output();
        assert!(
            !output.contains("change-me-") && !output.contains("wrong-password"),
            "{} printed a password:\n{}",
            process.name,
            process.tail(40)
        );
    }
}

#[tokio::test]
async fn each_role_does_only_its_own_part() -> anyhow::Result<()> {
    let (server, env) = locked_cluster().await?;
    env.put_workflow(&chain_yaml("locked", "echo", 2, Some("locked.go")))
        .await?;

    // The publisher's signal starts a run that the worker and the agent finish.
    let mut publisher = Watched::connect(&server.url(), "publisher").await?;
    let signal = json!({ "specversion": "1.0", "id": "sig-locked-1", "source": "e2e", "type": "locked.go", "data": {} });
    let s = env.subjects.clone();
    async_nats::jetstream::new(publisher.client.clone())
        .publish(s.signal("locked.go"), serde_json::to_vec(&signal)?.into())
        .await?
        .await
        .context("the publisher's signal is stored")?;
    let run_id = env.wait_for_signal_run("sig-locked-1", WAIT).await?;
    let run = env.wait_for_status(&run_id, "COMPLETED").await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");

    // The publisher puts nothing but signals on the bus…
    publisher
        .publish_refused(&s.step_task(&run_id, "s1"))
        .await?;
    publisher
        .publish_refused(&s.event(&run_id, Some("s1")))
        .await?;
    publisher.publish_refused(&s.event(&run_id, None)).await?;
    // …cannot serve or answer the control plane…
    publisher.subscribe_refused(&s.control_wildcard()).await?;
    publisher
        .publish_refused("_INBOX.operator.forged.reply")
        .await?;
    // …and reads no events, neither live nor through JetStream.
    publisher.subscribe_refused(&s.events_wildcard()).await?;
    publisher.subscribe_refused("_INBOX.operator.>").await?;
    let jetstream = async_nats::jetstream::new(publisher.client.clone());
    let spy = pull::Config {
        durable_name: Some("SPY".into()),
        ..Default::default()
    };
    let created = jetstream
        .create_consumer_on_stream(spy, s.events_stream())
        .await;
    assert!(
        created.is_err(),
        "the publisher created a consumer on the events"
    );
    let create = format!("$JS.API.CONSUMER.CREATE.{}.SPY", s.events_stream());
    publisher.violation("publish", &create).await?;
    assert!(jetstream.get_stream(s.events_stream()).await.is_err());
    let info = format!("$JS.API.STREAM.INFO.{}", s.events_stream());
    publisher.violation("publish", &info).await?;

    // An agent serves only its own subject.
    let mut echo = Watched::connect(&server.url(), "agent-echo").await?;
    echo.subscribe_refused(&s.agent_run("fail")).await?;
    echo.subscribe_refused(&s.agent_run_wildcard()).await?;
    echo.publish_refused("_INBOX.worker.forged.reply").await?;
    echo.publish_refused(&s.event(&run_id, None)).await?;

    // A signal sent over HTTP is published by the coordinator's user.
    let addr = env.coordinator_http().await?;
    let (status, body) = junction_e2e::http_post_status_at(
        &addr,
        "/v1/signals/locked.go",
        &json!({ "id": "sig-locked-http", "data": {} }),
    )
    .await?;
    assert_eq!(status, 202, "{body}");
    let over_http = env.wait_for_signal_run("sig-locked-http", WAIT).await?;
    env.wait_for_status(&over_http, "COMPLETED").await?;

    // The operator's control requests are answered.
    let runs = env
        .control(ControlSubject::RunsList, json!({ "workflow_id": "locked" }))
        .await?;
    let listed: Vec<&str> = runs["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(listed, [over_http.as_str(), run_id.as_str()], "{runs}");

    assert_no_password_in_logs(&env);
    drop(env);
    drop(server);
    Ok(())
}

#[tokio::test]
async fn wrong_credentials_stop_a_process_with_exit_2() -> anyhow::Result<()> {
    let mut server = NatsServer::with_config(repo_root().join("deploy/nats/locked-down.conf"))?;
    server.start().await?;
    let mut env = TestEnv::on_locked_nats(&server.url(), &role("operator")).await?;
    let wrong = [
        ("JUNCTION_NATS__USER", "coordinator"),
        ("JUNCTION_NATS__PASSWORD", "wrong-password"),
    ];
    let coordinator = env.start_coordinator("coordinator", &wrong).await?;
    let agent_env: Vec<(String, String)> = [
        ("JUNCTION_NATS__URL", server.url().as_str()),
        ("JUNCTION_NATS__USER", "agent-echo"),
        ("JUNCTION_NATS__PASSWORD", "wrong-password"),
        ("NO_COLOR", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.processes.push(Process::spawn_with_args(
        "junction-example-agents",
        "agent-echo",
        &["--agents", "echo"],
        &agent_env,
        env.dir.path(),
    )?);
    let agent = env.processes.len() - 1;
    for index in [coordinator, agent] {
        let process = &mut env.processes[index];
        let code = process.wait_exit(WAIT).await;
        assert_eq!(code, Some(2), "{}", process.tail(20));
        assert!(
            process.output().contains("refused the credentials"),
            "{}",
            process.tail(20)
        );
    }
    assert_no_password_in_logs(&env);
    Ok(())
}
