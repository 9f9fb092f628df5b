//! The schedule loop (docs/language.md, "Schedules"; ARCHITECTURE.md,
//! "Schedules"): fires every due tick of every stored, enabled workflow
//! schedule, then sleeps until the nearest next tick, a `NOTIFY` from a put
//! that changed a schedule, or at most [`MAX_SLEEP`], so an idle cluster
//! stays quiet.
//!
//! Exactly one run per tick, however many coordinators run: a due row is
//! fired under `FOR UPDATE SKIP LOCKED` and advanced in that transaction,
//! and the run it starts carries the dedupe key `cron:<tick>`, so a tick
//! fired again after a crash finds its run instead of starting another.
//!
//! A tick that came due before this coordinator's loop started (or more
//! than [`MAX_CATCH_UP`] ago) was missed while no coordinator ran: it
//! starts one late run and the schedule continues from now. A later tick
//! fired late by a slow coordinator is only late: the ticks after it
//! still fire, in order.

use crate::driver::{Driver, StartRequest};
use chrono::{DateTime, Utc};
use junction_core::model::schedule::Schedule;
use junction_store::{Advance, DueSchedule, Listener, SCHEDULES_CHANNEL};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Longest sleep: a schedule removed or moved later by another coordinator
/// (which does not notify) is re-read at least this often.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Longest sleep while the `LISTEN` connection is down (puts are not heard).
const DEAF_SLEEP: Duration = Duration::from_secs(5);

/// Pause while a due tick is held by another coordinator that is firing it.
const HELD_PAUSE: Duration = Duration::from_millis(200);

/// Pause after a failure (database away, start refused).
const FAILURE_PAUSE: Duration = Duration::from_secs(1);

/// A tick older than this when fired counts as missed even on a
/// coordinator that was running (its database was away, say): the schedule
/// continues from now instead of catching up every tick in a burst.
pub const MAX_CATCH_UP: Duration = Duration::from_secs(60);

pub async fn run(driver: Driver, mut stop: watch::Receiver<bool>) {
    let started = Utc::now();
    let wake = Arc::new(Notify::new());
    let mut listener: Option<Listener> = None;
    loop {
        if !listener.as_ref().is_some_and(Listener::is_alive) {
            listener = match driver.store.listen(SCHEDULES_CHANNEL, wake.clone()).await {
                Ok(listening) => Some(listening),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for schedule changes; polling instead");
                    None
                }
            };
        }
        let sleep = match fire_due(&driver, started).await {
            Ok(()) => next_sleep(&driver, listener.is_some()).await,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "firing schedules failed; retrying shortly"
                );
                FAILURE_PAUSE
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep.max(Duration::from_millis(5))) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Fires due ticks until none is left that this coordinator can take.
async fn fire_due(driver: &Driver, started: DateTime<Utc>) -> anyhow::Result<()> {
    loop {
        let now = Utc::now();
        let fired = driver
            .store
            .fire_due_schedule(now, |due| fire(driver, due, now, started))
            .await?;
        match fired {
            None => return Ok(()),
            Some((due, Advance::Retry)) => {
                anyhow::bail!("schedule of {} left due", due.workflow_id)
            }
            Some(_) => {}
        }
    }
}

/// How long to sleep: until the nearest tick, or briefly when it is due
/// but held by another coordinator.
async fn next_sleep(driver: &Driver, listening: bool) -> Duration {
    let cap = if listening { MAX_SLEEP } else { DEAF_SLEEP };
    match driver.store.next_schedule_at().await {
        Ok(Some(at)) => match (at - Utc::now()).to_std() {
            Ok(wait) => wait.min(cap),
            Err(_) => HELD_PAUSE,
        },
        Ok(None) => cap,
        Err(error) => {
            tracing::warn!(%error, "could not read the next schedule");
            FAILURE_PAUSE
        }
    }
}

/// Starts the run of one due tick and says where the schedule goes next.
async fn fire(
    driver: &Driver,
    due: DueSchedule,
    now: DateTime<Utc>,
    started: DateTime<Utc>,
) -> Advance {
    let workflow = match driver
        .catalog
        .get(&due.tenant, &due.workflow_id, due.version)
        .await
    {
        Ok(Some(workflow)) => workflow,
        Ok(None) => return Advance::Remove,
        Err(error) if crate::failure::is_transient(&error) => {
            tracing::warn!(workflow_id = %due.workflow_id, error = format!("{error:#}"), "cannot load a scheduled workflow; retrying");
            return Advance::Retry;
        }
        // Permanent: a stored revision that no longer compiles would be
        // retried every second for ever, holding up every schedule due
        // behind it. Its schedule stops; storing a new revision (a put)
        // schedules the workflow again.
        Err(error) => {
            tracing::error!(workflow_id = %due.workflow_id, version = due.version, error = format!("{error:#}"), "a scheduled workflow's stored revision cannot be compiled; its schedule stops until a new revision is stored");
            return Advance::Remove;
        }
    };
    let Some(schedule) = workflow.workflow.schedule.clone().filter(|s| s.enabled) else {
        return Advance::Remove;
    };
    let tick = due.tick;
    if let Err(message) = workflow.check_input(&schedule.input) {
        tracing::error!(workflow_id = %due.workflow_id, tick = %tick, reason = %message, "a scheduled run's input does not match inputSchema; tick skipped");
    } else {
        let request = StartRequest {
            tenant: due.tenant.clone(),
            workflow: workflow.clone(),
            input: schedule.run_input(tick),
            signal: None,
            causation_id: None,
            correlation_id: None,
            dedupe_key: Some(Schedule::dedupe_key(tick)),
            parent: None,
            traceparent: None,
        };
        match driver.start_run(request).await {
            Ok(started_run) => {
                let late_ms = (now - tick).num_milliseconds();
                tracing::info!(run_id = %started_run.run_id, workflow_id = %due.workflow_id, tick = %tick, late_ms, created = started_run.created, "schedule fired");
            }
            Err(error) if crate::failure::is_transient(&error) => {
                tracing::warn!(workflow_id = %due.workflow_id, tick = %tick, error = format!("{error:#}"), "a scheduled run did not start; retrying");
                return Advance::Retry;
            }
            // Permanent: the same tick would fail the same way for ever.
            Err(error) => {
                tracing::error!(workflow_id = %due.workflow_id, tick = %tick, error = format!("{error:#}"), "a scheduled run cannot start; tick skipped");
            }
        }
    }
    match schedule.next_after(resume_from(tick, now, started)) {
        Some(next) => Advance::To(next),
        None => Advance::Remove,
    }
}

/// Where the schedule goes on from after firing `tick` at `now`: the tick
/// itself, unless it was missed (see the module header), then now.
fn resume_from(tick: DateTime<Utc>, now: DateTime<Utc>, started: DateTime<Utc>) -> DateTime<Utc> {
    let too_old = (now - tick).to_std().is_ok_and(|late| late > MAX_CATCH_UP);
    if tick < started || too_old {
        now.max(tick)
    } else {
        tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn a_tick_missed_before_start_resumes_from_now() {
        // Started at 100; the stored tick is 40: one late run, then from now.
        assert_eq!(resume_from(at(40), at(101), at(100)), at(101));
    }

    #[test]
    fn a_late_tick_of_a_running_coordinator_keeps_the_sequence() {
        // Running since 0; tick 50 fired at 53 (a slow moment): 51 is next.
        assert_eq!(resume_from(at(50), at(53), at(0)), at(50));
    }

    #[test]
    fn a_tick_older_than_the_catch_up_window_resumes_from_now() {
        let late = MAX_CATCH_UP.as_secs() as i64 + 1;
        assert_eq!(resume_from(at(10), at(10 + late), at(0)), at(10 + late));
    }
}
