//! Where an active step lives: at the top level, in a DAG, or in a frame
//! (a parallel branch or foreach item), found by its path; the operation it
//! runs; and running code in its scope.

use super::apply::Step;
use super::state::ActiveStep;
use crate::ids::StepId;
use crate::model::{Action, Operation, StateKind, Transition, Workflow};

/// Where an active step's state is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Site {
    Top,
    Dag,
    Frame(String),
}

impl<'a> Step<'a> {
    pub(super) fn take_active(&mut self, step_id: &StepId, attempt: u32) -> Option<ActiveStep> {
        if self.state.status.is_terminal() {
            return None;
        }
        let index = self
            .state
            .active
            .iter()
            .position(|a| a.is(step_id, attempt))?;
        Some(self.state.active.remove(index))
    }

    /// Where an active step's state lives, by its path.
    pub(super) fn site_of(&self, path: &str) -> Site {
        match path.rsplit_once('/') {
            None => Site::Top,
            Some((frame, _)) if self.state.frames.contains_key(frame) => {
                Site::Frame(frame.to_owned())
            }
            Some(_) => Site::Dag,
        }
    }

    /// The operation an active step runs, by its path: a top-level state, a
    /// state of a frame (`<frame>/<state>`), or a DAG step (`<dag>/<step>`,
    /// whose transition is the DAG's business).
    pub(super) fn operation_of(&self, path: &str) -> Option<(&'a Operation, Transition)> {
        let found = match self.site_of(path) {
            Site::Dag => return self.dag_operation(path).map(|op| (op, Transition::End)),
            Site::Top => {
                let workflow: &'a Workflow = self.workflow;
                workflow.state(path)?
            }
            Site::Frame(frame) => {
                let route = self.state.frames.get(&frame)?.route.clone();
                let name = path.rsplit('/').next()?;
                self.graph_of_route(&route)?
                    .iter()
                    .find(|s| s.name == name)?
            }
        };
        match &found.kind {
            StateKind::Operation(op) => Some((op, found.transition.clone())),
            _ => None,
        }
    }

    /// The operation of the state at `path` (any site).
    pub(super) fn operation_for(&self, path: &str) -> Option<&'a Operation> {
        self.operation_of(path).map(|(op, _)| op)
    }

    /// The approval settings of the `human.approval` step at `path`.
    pub(super) fn approval_of(&self, path: &str) -> Option<&'a crate::model::Approval> {
        match &self.operation_of(path)?.0.action {
            Action::HumanApproval(approval) => Some(approval),
            _ => None,
        }
    }

    /// Runs `f` in the scope of the active step at `path`.
    pub(super) fn in_scope_of_path(&mut self, path: &str, f: impl FnOnce(&mut Self)) {
        self.in_scope_of(path, f);
    }

    pub(super) fn in_scope_of(&mut self, path: &str, f: impl FnOnce(&mut Self)) {
        match self.site_of(path) {
            Site::Frame(frame) => self.with_frame(&frame, f),
            Site::Top | Site::Dag => f(self),
        }
    }
}
