//! The timer loop: fires due timers, then sleeps until the nearest deadline,
//! a new timer from this process, or at most [`MAX_SLEEP`], so an idle
//! cluster stays quiet. [`input_of`] is what a fired timer does: its I/O,
//! and the input it brings to its run.

use crate::approvals;
use crate::children;
use crate::driver::Driver;
use chrono::Utc;
use junction_core::engine::{Input, StepAttempt, TimerKind};
use junction_runtime::redelivery;
use junction_store::DueTimer;
use std::time::Duration;
use tokio::sync::watch;

/// Longest sleep, so timers written by other coordinators are found.
pub const MAX_SLEEP: Duration = Duration::from_secs(10);

pub async fn run(driver: Driver, mut stop: watch::Receiver<bool>) {
    let mut failures: i64 = 0;
    loop {
        let sleep = if let Err(error) = driver.fire_due_timers().await {
            // Transient (permanent failures postpone their timer): later
            // each time, at most a minute.
            failures += 1;
            let pause = redelivery::backoff(FIRST_RETRY, failures);
            tracing::warn!(error = %format!("{error:#}"), ?pause, "firing timers failed; retrying");
            pause
        } else {
            failures = 0;
            next_sleep(&driver).await
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep.max(Duration::from_millis(5))) => {}
            _ = driver.timers_changed.notified(), if failures == 0 => {}
            _ = stop.changed() => return,
        }
    }
}

/// Pause before firing timers again after the first transient failure.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Until the nearest deadline, at most [`MAX_SLEEP`].
async fn next_sleep(driver: &Driver) -> Duration {
    match driver.store.next_timer_at().await {
        Ok(Some(at)) => (at - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP),
        Ok(None) => MAX_SLEEP,
        Err(error) => {
            tracing::warn!(%error, "could not read the next timer");
            Duration::from_secs(1)
        }
    }
}

/// Does a fired timer's I/O and returns the input it brings to its run, if
/// any. Every kind is named here (the stored row was decoded by
/// [`TimerKind::decode`]).
pub async fn input_of(
    driver: &Driver,
    timer: &DueTimer,
    kind: TimerKind,
) -> anyhow::Result<Option<Input>> {
    let step_input = |step: StepAttempt| (step.step_id, step.attempt);
    Ok(match kind {
        TimerKind::Retry(step) => {
            let (step_id, attempt) = step_input(step);
            Some(Input::RetryTimerFired { step_id, attempt })
        }
        TimerKind::RunTimeout { redrive } => Some(Input::RunTimeout { redrive }),
        TimerKind::StepDeadline(step) => {
            let (step_id, attempt) = step_input(step);
            Some(Input::StepDeadline { step_id, attempt })
        }
        TimerKind::StepUnclaimed(step) => unclaimed(driver, timer, step).await?,
        TimerKind::SignalTimeout(step) => {
            let (step_id, attempt) = step_input(step);
            Some(Input::WaitTimeout { step_id, attempt })
        }
        // Idempotent (deduplicated by the step attempt): a crash before
        // the timer is deleted starts nothing twice.
        TimerKind::StartChild { step, child } => {
            match children::start_child(driver, timer, step.clone(), child).await? {
                Ok(()) => None,
                Err(error) => Some(children::step_input(step, Err(error))),
            }
        }
        TimerKind::ChildDone { step, outcome } => Some(children::step_input(step, outcome)),
        TimerKind::CancelChildren => {
            children::cancel_children(driver, timer).await?;
            None
        }
        TimerKind::ApprovalRequest { step, request } => {
            approvals::record(driver, timer, &step, &request).await?;
            None
        }
        TimerKind::ApprovalTimeout { step, approval_id } => {
            // Only a still-pending approval times out.
            approvals::expire(driver, &approval_id).await?.then(|| {
                let (step_id, attempt) = step_input(step);
                Input::ApprovalTimeout { step_id, attempt }
            })
        }
        TimerKind::ApprovalDecided { step, decision } => {
            let (step_id, attempt) = step_input(step);
            Some(Input::ApprovalDecided {
                step_id,
                attempt,
                approved: decision.approved,
                actor: decision.actor,
                comment: decision.comment,
                decided_at: decision.decided_at,
            })
        }
        // Admissions are idempotent: a crash before the timer is deleted
        // admits again only what is still queued with a free slot.
        TimerKind::ReleaseSlot => {
            crate::slots::release(driver, timer).await?;
            None
        }
        TimerKind::ApprovalsClose { approval_ids } => {
            approvals::close(driver, &approval_ids).await?;
            None
        }
    })
}

/// A task's timeout with no claim: only an attempt no worker holds or
/// finished times out (a paused run's held task has no row yet; the engine
/// waits on for it).
async fn unclaimed(
    driver: &Driver,
    timer: &DueTimer,
    step: StepAttempt,
) -> anyhow::Result<Option<Input>> {
    use junction_store::{AttemptCheck, Refusal};
    let check = driver
        .store
        .check_attempt(&timer.run_id, step.step_id.as_str(), step.attempt)
        .await?;
    let unclaimed = matches!(
        check,
        AttemptCheck::Claimable { takeover: false }
            | AttemptCheck::Unclaimable(Refusal::Paused | Refusal::Missing)
    );
    Ok(unclaimed.then_some(Input::StepUnclaimed {
        step_id: step.step_id,
        attempt: step.attempt,
    }))
}
