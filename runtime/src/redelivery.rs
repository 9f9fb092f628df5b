//! The pause before a JetStream message that failed on a transient error
//! comes back (ARCHITECTURE.md, "Transient and permanent failures"): the
//! message is nak'ed with a delay that doubles with each delivery, up to
//! [`MAX_DELAY`]. It stays in its stream, so nothing is lost, and a failure
//! that persists costs one attempt a minute: never a tight loop.

use async_nats::jetstream::Message;
use std::time::Duration;

/// Longest pause before a redelivery.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// The nak delay of `message`: `first`, doubled with each delivery so far.
pub fn delay(message: &Message, first: Duration) -> Duration {
    let delivered = message.info().map_or(1, |info| info.delivered.max(1));
    backoff(first, delivered)
}

/// `first · 2^(delivered-1)`, capped at [`MAX_DELAY`].
pub fn backoff(first: Duration, delivered: i64) -> Duration {
    let doublings = u32::try_from(delivered.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    first.saturating_mul(1 << doublings).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_a_minute() {
        let first = Duration::from_millis(500);
        assert_eq!(backoff(first, 1), first);
        assert_eq!(backoff(first, 0), first);
        assert_eq!(backoff(first, 3), Duration::from_secs(2));
        assert_eq!(backoff(first, 1000), MAX_DELAY);
    }
}
