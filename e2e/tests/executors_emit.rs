//! `signal.emit` and `starlark.eval` on real workers: a run of one workflow
//! emits a signal that starts another, whose run records the lineage
//! (`causation_id` = the emitted event's id `<run>:<step>`,
//! `correlation_id` = the emitting run's) and evaluates Starlark over the
//! signal; and an emit executed twice (its worker crashed after publishing,
//! before recording, and the task was redelivered) starts nothing twice.

use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use junction_runtime::fault::FAULT_EXIT_CODE;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const PACKER: &str = r#"
id: packer
states:
  - name: announce
    type: operation
    action: signal.emit
    input: { type: order.packed, data: { order: "{{ ctx.order }}", items: "{{ ctx.items }}" } }
    resultPath: steps.announce
    end: true
"#;

const SHIPPER: &str = r#"
id: shipper
trigger: { signal: order.packed }
states:
  - name: label
    type: operation
    action: starlark.eval
    input: { expression: "'%s x%d' % (signal.data.order, len(ctx['items']))" }
    resultPath: steps.label
    end: true
"#;

/// Starts `packer` for order `order` with a correlation id; returns its run id.
async fn start_packer(env: &TestEnv, order: &str) -> anyhow::Result<String> {
    let reply = env
        .control(
            ControlSubject::RunStart,
            json!({
                "workflow_id": "packer",
                "input": { "order": order, "items": [1, 2, 3] },
                "correlation_id": format!("corr-{order}"),
            }),
        )
        .await?;
    Ok(reply["run_id"].as_str().unwrap_or_default().to_owned())
}

/// The emitting run's announce step id, from its completed output.
fn emitted_id(run: &Value) -> String {
    run["context"]["steps"]["announce"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_emitted_signal_starts_the_workflow_it_triggers_with_its_lineage() -> anyhow::Result<()>
{
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    env.put_workflow(PACKER).await?;
    env.put_workflow(SHIPPER).await?;
    let packer = start_packer(&env, "A-1").await?;
    let run = env.wait_for_end(&packer, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let signal_id = emitted_id(&run);
    let step_id = run["steps"][0]["step_id"].as_str().unwrap_or_default();
    assert_eq!(signal_id, format!("{packer}:{step_id}"));

    let shipper = env.wait_for_signal_run(&signal_id, WAIT).await?;
    let shipped = env.wait_for_end(&shipper, WAIT).await?;
    assert_eq!(shipped["status"], "COMPLETED", "{shipped}");
    assert_eq!(shipped["causation_id"], signal_id.as_str());
    assert_eq!(shipped["correlation_id"], "corr-A-1");
    assert_eq!(
        shipped["input"],
        json!({"order": "A-1", "items": [1, 2, 3]})
    );
    let signal = &shipped["context"]["signal"];
    assert_eq!(signal["source"], "junction/packer");
    assert_eq!(signal["causationid"], packer.as_str());
    assert_eq!(signal["tenant"], "default");
    // starlark.eval read `signal` and `ctx` (the run input) and returned its value.
    assert_eq!(shipped["context"]["steps"]["label"], "A-1 x3");
    Ok(())
}

#[tokio::test]
async fn an_emit_executed_again_after_a_crash_starts_its_workflow_once() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator("coordinator", &[]).await?;
    // The first worker publishes the signal, then dies before recording it.
    let doomed = env
        .start_worker(
            "worker-a",
            &[
                ("JUNCTION_FAULT__POINT", "worker.after_execute"),
                ("JUNCTION_WORKER__LEASE_SECONDS", "2"),
            ],
        )
        .await?;
    env.wait_for_members(1, 1).await?;
    env.put_workflow(PACKER).await?;
    env.put_workflow(SHIPPER).await?;
    let packer = start_packer(&env, "B-2").await?;
    env.wait_for_exit(doomed, FAULT_EXIT_CODE, "the emitting worker crashes")
        .await?;
    // The next worker gets the redelivered task and executes the step again.
    env.start_worker("worker-b", &[("JUNCTION_WORKER__LEASE_SECONDS", "2")])
        .await?;
    let run = env.wait_for_end(&packer, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["steps"][0]["worker_id"], "worker-b",
        "executed again: {run}"
    );
    let signal_id = emitted_id(&run);
    let shipper = env.wait_for_signal_run(&signal_id, WAIT).await?;
    assert_eq!(
        env.wait_for_end(&shipper, WAIT).await?["status"],
        "COMPLETED"
    );
    // Both executions published the same id: JetStream kept one message,
    // and every signal on the stream has been handled by now.
    let (state, _) = env
        .consumer_state(
            &env.subjects.signals_stream(),
            &env.subjects.signal_intake_consumer(),
        )
        .await?;
    assert_eq!(state.messages, 1, "one signal stored: {state:?}");
    env.wait_for_signals_handled(1).await?;
    let runs = env.runs_caused_by(&signal_id).await?;
    assert_eq!(runs.len(), 1, "one shipper run: {runs:?}");
    Ok(())
}
