//! Why a step waits for a worker, for `run.get`: a task reaches only the
//! workers that enable its executor, and one whose executor no live worker
//! offers waits in its queue until the step's timeout. Each step whose
//! attempt no worker has claimed yet (`PENDING`) and whose executor is
//! offered by no live member gets `waiting_reason`.

use crate::driver::Driver;
use junction_core::status::StepStatus;
use junction_store::RunRecord;
use std::collections::BTreeSet;

/// Fills `waiting_reason` on the run's unclaimed steps that no live worker
/// can take. Best effort: a store error leaves the reply as it is.
pub async fn explain(driver: &Driver, run: &mut RunRecord) {
    if !run.steps.iter().any(|s| s.status == StepStatus::Pending) {
        return;
    }
    let summary = &run.summary;
    let workflow = driver
        .catalog
        .get(&summary.tenant, &summary.workflow_id, summary.version)
        .await;
    let (Ok(Some(workflow)), Ok(offered)) = (workflow, driver.store.live_executors().await) else {
        return;
    };
    for step in run
        .steps
        .iter_mut()
        .filter(|s| s.status == StepStatus::Pending)
    {
        let executor = workflow
            .workflow
            .state_at(&step.path)
            .and_then(|state| match &state.kind {
                junction_core::model::StateKind::Operation(op) => Some(op.action.name()),
                _ => None,
            });
        step.waiting_reason = executor.and_then(|e| reason(e, &offered));
    }
}

/// "no live worker offers `<executor>`", unless one does.
fn reason(executor: &str, offered: &BTreeSet<String>) -> Option<String> {
    (!offered.contains(executor)).then(|| format!("no live worker offers `{executor}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_executor_nobody_offers_is_a_reason_to_wait() {
        let offered: BTreeSet<String> = ["agent.run".to_owned()].into();
        assert_eq!(reason("agent.run", &offered), None);
        assert_eq!(
            reason("shell.run", &offered).as_deref(),
            Some("no live worker offers `shell.run`")
        );
    }
}
