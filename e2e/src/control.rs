//! The NATS control plane as tests use it: requests, workflows, runs,
//! signals and stored events, and waits for a run's end or a signal's run.

use crate::TestEnv;
use crate::waits::WAIT;
use anyhow::{Context, bail};
use bytes::Bytes;
use junction_bus::{ControlSubject, RunVerb};
use serde_json::{Value, json};
use std::time::Duration;

impl TestEnv {
    /// A control request; returns the whole reply, `ok` or not.
    pub async fn try_control(&self, what: ControlSubject, body: Value) -> anyhow::Result<Value> {
        let request = async_nats::Request::new()
            .payload(Bytes::from(serde_json::to_vec(&body)?))
            .timeout(Some(Duration::from_secs(10)));
        let reply = self
            .nats
            .send_request(self.subjects.control_subject(&what), request)
            .await?;
        Ok(serde_json::from_slice(&reply.payload)?)
    }

    /// A control request that must succeed.
    pub async fn control(&self, what: ControlSubject, body: Value) -> anyhow::Result<Value> {
        let reply = self.try_control(what.clone(), body.clone()).await?;
        if reply["ok"] != json!(true) {
            bail!("{what} {body} failed: {reply}");
        }
        Ok(reply)
    }

    /// A control request that must be refused; returns its error code.
    pub async fn control_error(&self, what: ControlSubject, body: Value) -> anyhow::Result<String> {
        let reply = self.try_control(what.clone(), body.clone()).await?;
        match reply["error"]["code"].as_str() {
            Some(code) if reply["ok"] != json!(true) => Ok(code.to_owned()),
            _ => bail!("{what} {body} was not refused with a code: {reply}"),
        }
    }

    /// Stores a workflow through `workflows.put`; returns its version.
    pub async fn put_workflow(&self, yaml: &str) -> anyhow::Result<i64> {
        let reply = self
            .control(ControlSubject::WorkflowsPut, json!({ "source": yaml }))
            .await?;
        reply["version"].as_i64().context("version in put reply")
    }

    /// Publishes raw bytes to `signals.<type>` through JetStream.
    pub async fn publish_raw_signal(&self, signal_type: &str, body: Vec<u8>) -> anyhow::Result<()> {
        let jetstream = async_nats::jetstream::new(self.nats.clone());
        jetstream
            .publish(self.subjects.signal(signal_type), body.into())
            .await?
            .await?;
        Ok(())
    }

    /// Publishes a valid CloudEvent.
    pub async fn publish_signal(
        &self,
        signal_type: &str,
        id: &str,
        data: Value,
    ) -> anyhow::Result<()> {
        let event = json!({ "specversion": "1.0", "id": id, "source": "e2e", "type": signal_type, "data": data });
        self.publish_raw_signal(signal_type, serde_json::to_vec(&event)?)
            .await
    }

    pub async fn start_run(&self, workflow_id: &str, input: Value) -> anyhow::Result<String> {
        let reply = self
            .control(
                ControlSubject::RunStart,
                json!({ "workflow_id": workflow_id, "input": input }),
            )
            .await?;
        Ok(reply["run_id"].as_str().context("run_id")?.to_owned())
    }

    pub async fn get_run(&self, run_id: &str) -> anyhow::Result<Value> {
        Ok(self
            .control(ControlSubject::run(run_id, RunVerb::Get), json!({}))
            .await?["run"]
            .clone())
    }

    /// Waits until the run is `status` (terminal or not); returns the run.
    pub async fn wait_for_status(&self, run_id: &str, status: &str) -> anyhow::Result<Value> {
        self.eventually(&format!("run {run_id} {status}"), WAIT, || async {
            let run = self.get_run(run_id).await?;
            Ok((run["status"] == status).then_some(run))
        })
        .await
    }

    /// Waits until the run has a `PENDING` approval (`approvals.list`); returns it.
    pub async fn pending_approval(&self, run_id: &str) -> anyhow::Result<Value> {
        self.pending_approval_with(run_id, json!({})).await
    }

    /// [`Self::pending_approval`], with the fields of `extra` (a token, a
    /// tenant) in every request.
    pub async fn pending_approval_with(
        &self,
        run_id: &str,
        mut extra: Value,
    ) -> anyhow::Result<Value> {
        extra["run_id"] = json!(run_id);
        extra["status"] = json!("PENDING");
        self.eventually(&format!("an approval of {run_id}"), WAIT, || async {
            let listed = self
                .control(ControlSubject::ApprovalsList, extra.clone())
                .await?;
            Ok(listed["approvals"]
                .as_array()
                .and_then(|a| a.first())
                .cloned())
        })
        .await
    }

    /// Waits until the run reaches a terminal status; returns the run.
    pub async fn wait_for_end(&self, run_id: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // A coordinator that is restarting does not answer yet: keep asking.
            let run = match self.get_run(run_id).await {
                Ok(run) => run,
                Err(error) if tokio::time::Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(error) => return Err(error),
            };
            if matches!(
                run["status"].as_str(),
                Some("COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT")
            ) {
                return Ok(run);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "run {run_id} still {} after {:?}: {run}\n{}",
                    run["status"],
                    timeout,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs started by a signal (via `runs.list` with `causation_id`).
    pub async fn runs_caused_by(&self, signal_id: &str) -> anyhow::Result<Vec<Value>> {
        let reply = self
            .control(
                ControlSubject::RunsList,
                json!({ "causation_id": signal_id }),
            )
            .await?;
        let runs = reply["runs"].as_array();
        Ok(runs.with_context(|| format!("no runs in {reply}"))?.clone())
    }

    /// Waits for the run a signal starts.
    pub async fn wait_for_signal_run(
        &self,
        signal_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(run) = self.runs_caused_by(signal_id).await?.first() {
                return Ok(run["id"].as_str().context("run id")?.to_owned());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "no run for signal {signal_id} after {timeout:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every stored event of a run.
    pub async fn events(&self, run_id: &str) -> anyhow::Result<Vec<Value>> {
        let reply = self
            .control(
                ControlSubject::run(run_id, RunVerb::Events),
                json!({ "limit": 1000 }),
            )
            .await?;
        let events = reply["events"].as_array();
        Ok(events
            .with_context(|| format!("no events in {reply}"))?
            .clone())
    }
}
