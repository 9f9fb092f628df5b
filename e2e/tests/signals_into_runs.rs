//! Signals delivered into running runs: `signal.wait` takes a signal sent
//! with `wf.ctl.run.<id>.signal` or a CloudEvent whose `subject` is
//! `run:<id>`; a signal nobody waits for is kept for the next wait.

use junction_bus::{ControlSubject, RunVerb};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

const WAITER: &str = r#"
id: waiter
states:
  - name: approve_payment
    type: operation
    action: signal.wait
    input: { signal: payment.settled, filter: "data.amount > 0", timeoutSeconds: 30 }
    resultPath: steps.payment
    next: second
  - name: second
    type: operation
    action: signal.wait
    input: { signal: goods.shipped }
    resultPath: steps.shipping
    end: true
"#;

#[tokio::test]
async fn signal_waits_take_signals_from_nats_requests_and_cloudevents() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(WAITER).await?;
    let run_id = env.start_run("waiter", json!({})).await?;
    env.wait_for_status(&run_id, "WAITING_SIGNAL").await?;

    // The second wait's signal arrives first: it is kept.
    env.control(
        ControlSubject::run(&run_id, RunVerb::Signal),
        json!({ "name": "goods.shipped", "data": { "carrier": "dhl" } }),
    )
    .await?;
    // A CloudEvent addressed to the run, twice (a redelivery is dropped).
    let event = json!({
        "specversion": "1.0", "id": "pay-1", "source": "bank", "type": "payment.settled",
        "subject": format!("run:{run_id}"), "data": { "amount": 42 }
    });
    for _ in 0..2 {
        env.publish_raw_signal("payment.settled", serde_json::to_vec(&event)?)
            .await?;
    }
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let steps = &run["context"]["steps"];
    assert_eq!(
        steps["payment"],
        json!({ "name": "payment.settled", "data": { "amount": 42 } })
    );
    assert_eq!(steps["shipping"]["data"]["carrier"], "dhl");
    let received = env
        .events(&run_id)
        .await?
        .iter()
        .filter(|e| e["type"] == "workflow.signal.received")
        .count();
    assert_eq!(received, 2, "one per distinct signal");

    // Errors: unknown run, ended run, bad data.
    let unknown = env
        .try_control(
            ControlSubject::run("nope", RunVerb::Signal),
            json!({ "name": "x" }),
        )
        .await?;
    assert_eq!(unknown["error"]["code"], "NOT_FOUND");
    let ended = env
        .try_control(
            ControlSubject::run(&run_id, RunVerb::Signal),
            json!({ "name": "x" }),
        )
        .await?;
    assert_eq!(ended["error"]["code"], "INVALID_STATE");
    let bad = env
        .try_control(
            ControlSubject::run(&run_id, RunVerb::Signal),
            json!({ "name": "x", "data": 3 }),
        )
        .await?;
    assert_eq!(bad["error"]["code"], "INVALID_REQUEST");
    Ok(())
}
