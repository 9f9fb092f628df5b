//! A task lost on its way to a worker, built again from the run
//! (ARCHITECTURE.md, "Lost tasks"). Postgres is the source of truth: when
//! an attempt is still `PENDING` long after its dispatch and `WORKFLOW_TASKS`
//! no longer holds its task, the coordinator asks [`lost_task`] for the
//! task the dispatch sent and publishes it again. Nothing here changes the
//! run: no event, no effect; the copy is claimed by `run + step + attempt`
//! like the original would have been.

use super::apply::{ApplyContext, Step};
use super::state::{RunMeta, RunState};
use crate::ids::StepId;
use crate::model::Workflow;
use crate::wire::StepTask;

/// The task of attempt `attempt` of `step_id` as the run would dispatch it
/// now: its templates resolved in the step's scope (as a retry resolves
/// them), in a copy of `state`. `None` when the attempt is not a worker
/// step the run is waiting on (it ended, it waits for a person, a signal or
/// a child), or the run has ended.
pub fn lost_task(
    workflow: &Workflow,
    meta: &RunMeta,
    state: &RunState,
    step_id: &StepId,
    attempt: u32,
    cx: &ApplyContext,
) -> Option<StepTask> {
    if state.status.is_terminal() {
        return None;
    }
    let mut copy = state.clone();
    Step::new(workflow, meta, &mut copy, cx).task_again(step_id, attempt)
}

impl Step<'_> {
    fn task_again(&mut self, step_id: &StepId, attempt: u32) -> Option<StepTask> {
        let active = self
            .state
            .active
            .iter()
            .find(|a| a.is(step_id, attempt) && a.wait().is_none())?
            .clone();
        let (operation, _) = self.operation_of(&active.path)?;
        let step = active.step_ref();
        let mut task = None;
        self.in_scope_of(&step.path.clone(), |s| {
            if let Ok(action) = s.resolve(operation, &step.path) {
                task = Some(s.task(&step, action, operation));
            }
        });
        task
    }
}
