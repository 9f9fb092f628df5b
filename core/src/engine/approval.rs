//! `human.approval`: a step that waits for a person's decision.
//!
//! Entering the step records a pending approval (id `<step_id>-<attempt>`),
//! emits `workflow.approval.requested` with the rendered message and the
//! value at `summaryPath`, and puts the run in WAITING_APPROVAL. A decision
//! ([`Input::ApprovalDecided`](super::Input)) or the step's timeout
//! ([`Input::ApprovalTimeout`](super::Input)) ends the wait: approval writes
//! `{decision, approved, actor, comment, decided_at}` at `resultPath` and goes on;
//! rejection fails the step with `APPROVAL_REJECTED` (or cancels the run, as
//! `onReject` says); a timeout ends the step TIMED_OUT with
//! `APPROVAL_TIMED_OUT`. Both failures may be caught.

use super::apply::Step;
use super::effect::{Effect, InlineStep, StepRef};
use super::state::{ActiveStatus, ActiveStep, Wait};
use super::template::{self, Scope};
use super::timer::{ApprovalRequest, StepAttempt, Timer, TimerKind};
use crate::ids::StepId;
use crate::model::{Approval, OnReject, Operation, path};
use crate::status::{RunStatus, StepStatus};
use crate::wire::control::ErrorCode;
use crate::wire::error::codes;
use crate::wire::{ErrorInfo, EventType, time};
use serde_json::{Value, json};

/// The id of the approval a step attempt waits for.
pub fn approval_id(step_id: &StepId, attempt: u32) -> String {
    format!("{step_id}-{attempt}")
}

impl Step<'_> {
    /// Starts a `human.approval` step.
    pub(super) fn request_approval(
        &mut self,
        step: StepRef,
        operation: &Operation,
        approval: &Approval,
    ) {
        let request = match self.approval_request(&step, operation, approval) {
            Ok(request) => request,
            Err(error) => return self.fail_before_dispatch(step, error),
        };
        self.state.active.push(ActiveStep::new(
            &step,
            ActiveStatus::Waiting(Wait::Approval),
            self.now.timestamp_millis(),
        ));
        let input = json!({ "message": request.message, "approvers": request.approvers });
        self.emit(
            EventType::StepStarted,
            Some(step.clone()),
            json!({ "input": input }),
        );
        self.record_waiting(step.clone(), StepStatus::WaitingApproval, input);
        if self.state.status == RunStatus::Running {
            self.state.status = RunStatus::WaitingApproval;
        }
        self.emit(
            EventType::RunWaiting,
            None,
            json!({ "on": "approval", "step_id": step.step_id }),
        );
        let mut requested = json!({
            "approval_id": request.approval_id,
            "message": request.message,
            "summary": request.summary,
            "approvers": request.approvers,
        });
        if let Some(expires_at) = request
            .expires_at_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
        {
            requested["expires_at"] = json!(time::format(expires_at));
        }
        self.emit(EventType::ApprovalRequested, Some(step.clone()), requested);
        let step = StepAttempt {
            step_id: step.step_id,
            attempt: step.attempt,
        };
        let expiry = request.expires_at_ms.map(|at| {
            let approval_id = request.approval_id.clone();
            let kind = TimerKind::ApprovalTimeout {
                step: step.clone(),
                approval_id,
            };
            Timer::at(at, kind)
        });
        let record = TimerKind::ApprovalRequest { step, request };
        self.effects.push(Effect::Timer(Timer::now(record)));
        self.effects.extend(expiry.map(Effect::Timer));
    }

    /// The approval a step asks for: its message rendered (a template that
    /// does not resolve fails the step), its summary, and its expiry.
    #[allow(
        clippy::result_large_err,
        reason = "ErrorInfo is the step's error as stored; built once per failure"
    )]
    fn approval_request(
        &self,
        step: &StepRef,
        operation: &Operation,
        approval: &Approval,
    ) -> Result<ApprovalRequest, ErrorInfo> {
        let scope = Scope {
            context: &self.state.context,
            input: &self.state.input,
        };
        let message = match approval
            .message
            .as_ref()
            .map(|m| template::render(m, &scope))
            .transpose()
            .map_err(|e| ErrorInfo::new(codes::TEMPLATE_PATH, e.to_string()).not_retryable())?
        {
            None => None,
            Some(Value::String(text)) => Some(text),
            Some(other) => Some(other.to_string()),
        };
        let summary = approval
            .summary_path
            .as_deref()
            .and_then(path::segments)
            .and_then(|parts| path::read(&self.state.context, &parts).cloned())
            .unwrap_or(Value::Null);
        // Approvals wait as long as the state says, and for ever without a timeout.
        let expires_at_ms = operation
            .timeout_seconds
            .or(approval.timeout_seconds)
            .map(|s| self.now.timestamp_millis() + (s as i64).saturating_mul(1000));
        Ok(ApprovalRequest {
            approval_id: approval_id(&step.step_id, step.attempt),
            state: step.state.clone(),
            message,
            summary,
            approvers: approval.approvers.clone(),
            expires_at_ms,
        })
    }

    /// The active approval step of `step_id`/`attempt`, if it still waits.
    fn take_approval(&mut self, step_id: &StepId, attempt: u32) -> Option<ActiveStep> {
        if self.state.status.is_terminal() {
            return None;
        }
        let index = self
            .state
            .active
            .iter()
            .position(|a| a.waits_for_approval() && a.is(step_id, attempt))?;
        let active = self.state.active.remove(index);
        if self.state.status == RunStatus::WaitingApproval
            && !self.state.active.iter().any(ActiveStep::waits_for_approval)
        {
            self.state.status = RunStatus::Running;
        }
        Some(active)
    }

    /// A person decided.
    pub(super) fn approval_decided(
        &mut self,
        step_id: &StepId,
        attempt: u32,
        approved: bool,
        actor: Option<String>,
        comment: Option<String>,
        decided_at: String,
    ) {
        let Some(active) = self.take_approval(step_id, attempt) else {
            let message = format!(
                "approval `{}` no longer waits in run `{}`",
                approval_id(step_id, attempt),
                self.meta.run_id
            );
            return self.reject(ErrorCode::AlreadyDecided, message);
        };
        let step = active.step_ref();
        let approval_id = approval_id(step_id, attempt);
        let kind = if approved {
            EventType::ApprovalApproved
        } else {
            EventType::ApprovalRejected
        };
        self.emit(
            kind,
            Some(step.clone()),
            json!({ "approval_id": approval_id, "actor": actor, "comment": comment }),
        );
        if approved {
            let output = json!({
                "decision": "approved",
                "approved": true,
                "actor": actor,
                "comment": comment,
                "decided_at": decided_at,
            });
            return self.step_succeeded_with(active, output, true);
        }
        let on_reject = self
            .approval_of(&active.path)
            .map_or(OnReject::Fail, |a| a.on_reject);
        let error = ErrorInfo::new(
            codes::APPROVAL_REJECTED,
            format!(
                "approval `{}` rejected{}{}",
                step.state,
                actor
                    .as_deref()
                    .map(|a| format!(" by {a}"))
                    .unwrap_or_default(),
                comment
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            ),
        )
        .not_retryable();
        let error = self.locate(error, &step);
        self.record_wait_end(step.clone(), StepStatus::Failed, &error);
        match on_reject {
            OnReject::Cancel => self.cancel(actor, Some(error.message.clone())),
            OnReject::Fail => {
                let state = step.state.clone();
                self.in_scope_of_path(&step.path, |s| s.catch_or_fail(&state, error));
            }
        }
    }

    /// The approval's timeout passed before anyone decided.
    pub(super) fn approval_timed_out(&mut self, step_id: &StepId, attempt: u32) {
        let Some(active) = self.take_approval(step_id, attempt) else {
            return;
        };
        let step = active.step_ref();
        self.emit(
            EventType::ApprovalTimedOut,
            Some(step.clone()),
            json!({ "approval_id": approval_id(step_id, attempt) }),
        );
        let error = ErrorInfo::new(
            codes::APPROVAL_TIMED_OUT,
            format!("approval `{}` was not decided in time", step.state),
        )
        .not_retryable();
        let error = self.locate(error, &step);
        self.record_wait_end(step.clone(), StepStatus::TimedOut, &error);
        let state = step.state.clone();
        self.in_scope_of_path(&step.path, |s| s.catch_or_fail(&state, error));
    }

    /// Records a failed or timed-out wait: its event and its attempt row.
    fn record_wait_end(&mut self, step: StepRef, status: StepStatus, error: &ErrorInfo) {
        let kind = if status == StepStatus::TimedOut {
            EventType::StepTimedOut
        } else {
            EventType::StepFailed
        };
        self.emit(kind, Some(step.clone()), json!({ "error": error }));
        self.effects.push(Effect::RecordInline(InlineStep {
            step,
            status,
            input: Value::Null,
            output: None,
            error: Some(error.clone()),
        }));
    }
}
