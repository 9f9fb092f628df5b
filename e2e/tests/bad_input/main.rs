//! Bad input gets a clear error or a clear FAILED run, loses nothing, and
//! never crashes a process or leaves a run stuck: bad signals and control
//! requests (`requests.rs`), failing and oversized steps and cut database
//! connections (`steps.rs`), retries (`retries.rs`), U+0000 and failures
//! the database refuses for good (`nul.rs`), and deep and oversized JSON
//! everywhere (`hostile.rs`).

mod hostile;
mod nul;
mod requests;
mod retries;
mod steps;

use junction_e2e::TestEnv;
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

pub(crate) fn one_step(id: &str, agent: &str, extra: &str) -> String {
    format!(
        "id: {id}\ntrigger: {{ signal: {id} }}\ninputSchema:\n  type: object\n  properties:\n    n: {{ type: integer }}\nstates:\n  - name: only\n    type: operation\n    action: agent.run\n    input:\n      agent: {agent}\n{extra}    resultPath: steps.only\n    end: true\n"
    )
}

pub(crate) async fn failed_run(
    env: &TestEnv,
    workflow: &str,
    input: Value,
) -> anyhow::Result<Value> {
    let run_id = env.start_run(workflow, input).await?;
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "FAILED", "{run}");
    Ok(run)
}
