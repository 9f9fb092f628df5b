//! Durable timers: every kind maps to its stored row and back.

use super::*;
use crate::wire::error::codes;

fn step() -> StepAttempt {
    StepAttempt {
        step_id: StepId::new("s1"),
        attempt: 2,
    }
}

fn every_kind() -> Vec<TimerKind> {
    vec![
        TimerKind::Retry(step()),
        TimerKind::RunTimeout { redrive: 0 },
        TimerKind::RunTimeout { redrive: 2 },
        TimerKind::StepDeadline(step()),
        TimerKind::SignalTimeout(step()),
        TimerKind::StartChild {
            step: step(),
            child: ChildStart {
                workflow_id: "child".into(),
                version: Some(3),
                input: json!({ "n": 1 }),
            },
        },
        TimerKind::ChildDone {
            step: step(),
            outcome: Ok(json!({ "x": 1 })),
        },
        TimerKind::ChildDone {
            step: step(),
            outcome: Err(ErrorInfo::new(codes::CHILD_FAILED, "boom")),
        },
        TimerKind::CancelChildren,
        TimerKind::ApprovalRequest {
            step: step(),
            request: ApprovalRequest {
                approval_id: "s1-2".into(),
                state: "gate".into(),
                message: Some("Ship?".into()),
                summary: json!({ "v": 1 }),
                approvers: vec!["user:ada".into()],
                expires_at_ms: Some(1_000),
            },
        },
        TimerKind::ApprovalTimeout {
            step: step(),
            approval_id: "s1-2".into(),
        },
        TimerKind::ApprovalDecided {
            step: step(),
            decision: ApprovalDecision {
                approved: true,
                actor: Some("ada".into()),
                comment: None,
                decided_at: "2026-01-01T00:00:00.000Z".into(),
            },
        },
        TimerKind::ApprovalsClose {
            approval_ids: vec!["a-1".into(), "b-1".into()],
        },
        TimerKind::ReleaseSlot,
    ]
}

#[test]
fn every_kind_round_trips_through_its_stored_form() {
    for kind in every_kind() {
        let stored = kind.encode();
        let back = TimerKind::decode(
            stored.kind,
            stored.step_id.as_ref().map(StepId::as_str),
            stored.attempt,
            stored.payload.as_ref(),
        );
        assert_eq!(back, Ok(kind), "{stored:?}");
    }
}

/// The names are in existing rows and in the store's own statements.
#[test]
fn stored_names_are_fixed() {
    let names: Vec<&str> = every_kind().iter().map(TimerKind::name).collect();
    assert_eq!(
        names,
        [
            "retry",
            "run_timeout",
            "run_timeout",
            "step_deadline",
            "signal_timeout",
            "start_child",
            "child_done",
            "child_done",
            "cancel_children",
            "approval_request",
            "approval_timeout",
            "approval_decided",
            "approvals_close",
            "release_slot",
        ]
    );
}

#[test]
fn rows_the_store_writes_itself_decode() {
    // `Store::decide_approval` and a worker's lazy claim.
    let decided = json!({ "approved": false, "actor": null, "comment": "no", "decided_at": "t" });
    assert_eq!(
        TimerKind::decode("approval_decided", Some("s1"), Some(2), Some(&decided)),
        Ok(TimerKind::ApprovalDecided {
            step: step(),
            decision: ApprovalDecision {
                approved: false,
                actor: None,
                comment: Some("no".into()),
                decided_at: "t".into(),
            },
        })
    );
    assert_eq!(
        TimerKind::decode("step_deadline", Some("s1"), Some(2), None),
        Ok(TimerKind::StepDeadline(step()))
    );
}

#[test]
fn unknown_kinds_and_missing_steps_are_errors() {
    assert_eq!(
        TimerKind::decode("nap", None, None, None),
        Err(TimerError::UnknownKind("nap".into()))
    );
    assert_eq!(
        TimerKind::decode("retry", None, Some(1), None),
        Err(TimerError::NoStep("retry"))
    );
    assert!(matches!(
        TimerKind::decode("start_child", Some("s1"), Some(1), Some(&json!({}))),
        Err(TimerError::Payload { .. })
    ));
}
