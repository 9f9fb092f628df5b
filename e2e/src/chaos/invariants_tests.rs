//! The invariants catch what they are meant to: each broken record below
//! is reported, and a clean one is not.

use super::*;
use crate::chaos::driver::{How, Start};
use chrono::{TimeZone, Utc};
use std::time::SystemTime;

fn event(seq: i64, kind: &str, path: Option<&str>, attempt: Option<i32>) -> Event {
    Event {
        seq,
        kind: kind.to_owned(),
        time: Utc
            .timestamp_opt(1_700_000_000 + seq, 0)
            .single()
            .unwrap_or_default(),
        state: None,
        path: path.map(str::to_owned),
        attempt,
    }
}

/// A completed chain run of one step `a`, started by signal `sig-1`.
fn clean_run() -> RunRecord {
    let mut attempts = BTreeMap::new();
    attempts.insert(("a".to_owned(), 1), "SUCCEEDED".to_owned());
    let mut succeeded = BTreeMap::new();
    succeeded.insert("step-a".to_owned(), vec![1]);
    RunRecord {
        id: "run-1".into(),
        kind: Some(Kind::Chain),
        status: "COMPLETED".into(),
        dedupe_key: Some("signal:sig-1".into()),
        causation_id: Some("sig-1".into()),
        created_at: Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .unwrap_or_default(),
        events: vec![
            event(1, "workflow.run.started", None, None),
            event(2, "workflow.step.started", Some("a"), Some(1)),
            event(3, "workflow.step.completed", Some("a"), Some(1)),
            event(4, "workflow.run.completed", None, None),
        ],
        attempts,
        succeeded,
    }
}

fn ledger() -> Ledger {
    let ledger = Ledger::default();
    ledger
        .starts
        .lock()
        .map(|mut starts| {
            starts.push(Start {
                kind: Kind::Chain,
                how: How::Signal {
                    id: "sig-1".into(),
                    copies: 2,
                },
                sent_at: SystemTime::now(),
                taken: true,
            })
        })
        .ok();
    ledger
}

fn call(attempt: u32) -> CallRecord {
    CallRecord {
        agent: "echo".into(),
        run_id: "run-1".into(),
        step_id: "step-a".into(),
        attempt,
        idempotency_key: format!("run-1:step-a:{attempt}"),
        header_idempotency_key: None,
        traceparent: None,
    }
}

#[test]
fn a_clean_run_passes_and_a_redelivered_key_is_not_a_duplicate() {
    let found = check(&[clean_run()], &ledger(), &[call(1), call(1)]);
    assert!(found.violations.is_empty(), "{:?}", found.violations);
    assert_eq!(
        (found.duplicates, found.re_executed_keys, found.as_expected),
        (0, 1, 1)
    );
}

#[test]
fn a_call_after_the_succeeded_attempt_is_a_duplicate() {
    let found = check(&[clean_run()], &ledger(), &[call(1), call(2)]);
    assert_eq!(found.duplicates, 1, "{:?}", found.violations);
}

#[test]
fn gaps_terminals_statuses_and_timelines_are_checked() {
    let mut run = clean_run();
    run.events.remove(1);
    let found = check(&[run], &ledger(), &[]);
    assert!(
        found.violations.iter().any(|v| v.contains("seq gaps")),
        "{:?}",
        found.violations
    );

    let mut run = clean_run();
    run.events.push(event(5, "workflow.run.failed", None, None));
    let found = check(&[run], &ledger(), &[]);
    assert!(
        found
            .violations
            .iter()
            .any(|v| v.contains("2 terminal events")),
        "{:?}",
        found.violations
    );

    let mut run = clean_run();
    run.status = "RUNNING".into();
    let found = check(&[run], &ledger(), &[]);
    assert!(
        found
            .violations
            .iter()
            .any(|v| v.contains("expected COMPLETED")),
        "{:?}",
        found.violations
    );

    let mut run = clean_run();
    run.attempts
        .insert(("b".to_owned(), 1), "SUCCEEDED".to_owned());
    let found = check(&[run], &ledger(), &[]);
    assert!(
        found
            .violations
            .iter()
            .any(|v| v.contains("timeline differs")),
        "{:?}",
        found.violations
    );
}

#[test]
fn a_signal_that_started_two_runs_or_none_is_reported() {
    let mut second = clean_run();
    second.id = "run-2".into();
    let found = check(&[clean_run(), second], &ledger(), &[]);
    assert!(
        found
            .violations
            .iter()
            .any(|v| v.contains("started 2 runs")),
        "{:?}",
        found.violations
    );
    let found = check(&[], &ledger(), &[]);
    assert!(
        found
            .violations
            .iter()
            .any(|v| v.contains("started 0 runs")),
        "{:?}",
        found.violations
    );
}
