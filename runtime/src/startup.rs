//! Start-up against services that may not be up yet. Each step that needs
//! Postgres or NATS is tried until it succeeds, waiting [`FIRST_DELAY`],
//! then twice as long after each failure, at most [`MAX_DELAY`]; every
//! failure is logged and shown on `/readyz` meanwhile. Only a failure the
//! step calls permanent (bad configuration, a conflicting migration) ends
//! start-up, and the process exits 2.

use crate::config::Config;
use crate::probes::Readiness;
use junction_bus::{Bus, ConsumerSettings};
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// The wait after the first failure.
pub const FIRST_DELAY: Duration = Duration::from_millis(500);
/// The longest wait between two tries.
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// Capped exponential backoff: [`FIRST_DELAY`], doubling, at most [`MAX_DELAY`].
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST_DELAY }
    }
}

impl Backoff {
    /// The wait before the next try.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        delay
    }
}

/// Runs `step` (named `what` in logs and on `/readyz`) until it succeeds;
/// an error for which `permanent` is true is returned at once.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    readiness: &Readiness,
    permanent: impl Fn(&E) -> bool,
    mut step: F,
) -> Result<T, E>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    readiness.waiting(what);
    let mut backoff = Backoff::default();
    let mut tries: u32 = 0;
    loop {
        tries = tries.saturating_add(1);
        match step().await {
            Ok(value) => {
                if tries > 1 {
                    tracing::info!(step = what, tries, "start-up step succeeded after retries");
                }
                return Ok(value);
            }
            Err(error) if permanent(&error) => return Err(error),
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    step = what,
                    tries,
                    retry_in_ms = delay.as_millis() as u64,
                    %error,
                    "start-up step failed; retrying"
                );
                readiness.waiting(format!("{what}: {error}"));
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Connects to NATS as `name` and creates the streams, each retried until
/// it succeeds (a bad prefix is permanent); returns the bus with the stream
/// and consumer settings of `config`, shared by both processes.
pub async fn connect_bus(
    config: &Config,
    name: &str,
    readiness: &Readiness,
) -> Result<(Bus, ConsumerSettings), junction_bus::Error> {
    let auth = config.nats.auth();
    let bus = retry(
        "connect to NATS",
        readiness,
        junction_bus::Error::is_permanent,
        || Bus::connect(&config.nats.url, &config.nats.prefix, name, &auth),
    )
    .await?;
    tracing::info!(url = %config.nats.url, auth = auth.method(), user = ?auth.user, inbox_prefix = %auth.inbox_prefix, "connected to NATS");
    let settings = ConsumerSettings {
        task_ack_wait: Duration::from_secs(config.worker.lease_seconds),
        events_max_age: Duration::from_secs(config.nats.events_max_age_seconds),
        stream_replicas: config.nats.stream_replicas,
    };
    retry(
        "create the JetStream streams",
        readiness,
        |_| false,
        || bus.ensure_streams(&settings),
    )
    .await?;
    Ok((bus, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_half_a_second_up_to_ten() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..8)
            .map(|_| backoff.next_delay().as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
    }

    #[tokio::test]
    async fn a_permanent_failure_ends_the_retries_at_once() {
        let readiness = Readiness::new(junction_bus::Role::Worker);
        let mut tries = 0;
        let result: Result<(), String> = retry(
            "connect",
            &readiness,
            |error: &String| error == "bad",
            || {
                tries += 1;
                async { Err("bad".to_owned()) }
            },
        )
        .await;
        assert_eq!(result, Err("bad".to_owned()));
        assert_eq!(tries, 1);
        let waiting = readiness.check().await;
        assert_eq!(waiting, Err("starting: connect".to_owned()));
    }
}
