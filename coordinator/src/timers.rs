//! The timer loop: fires due timers, then sleeps until the nearest deadline,
//! a new timer from this process, or at most [`MAX_SLEEP`], so an idle
//! cluster stays quiet.

use crate::driver::Driver;
use chrono::Utc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest sleep, so timers written by other coordinators are found.
pub const MAX_SLEEP: Duration = Duration::from_secs(10);

pub async fn run(driver: Driver, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(error) = driver.fire_due_timers().await {
            tracing::warn!(%error, "firing timers failed; retrying shortly");
        }
        let sleep = match driver.store.next_timer_at().await {
            Ok(Some(at)) => (at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(MAX_SLEEP),
            Ok(None) => MAX_SLEEP,
            Err(error) => {
                tracing::warn!(%error, "could not read the next timer");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep.max(Duration::from_millis(5))) => {}
            _ = driver.timers_changed.notified() => {}
            _ = stop.changed() => return,
        }
    }
}
