//! Fault points (PROTOCOL §8.14): at the point named by `JUNCTION_FAULT__POINT`
//! the process exits at once with status 86, doing no cleanup. Inert when unset.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Exit status of a deliberate crash.
pub const FAULT_EXIT_CODE: i32 = 86;

/// After a transaction that changed a run commits, before its outbox is published.
pub const COORDINATOR_AFTER_COMMIT_BEFORE_PUBLISH: &str = "coordinator.after_commit_before_publish";
/// After a signal's run is committed, before the signal is acked.
pub const COORDINATOR_AFTER_COMMIT_BEFORE_ACK: &str = "coordinator.after_commit_before_ack";
/// After the worker's result transaction commits, before the task is acked.
pub const WORKER_AFTER_RESULT_COMMIT_BEFORE_ACK: &str = "worker.after_result_commit_before_ack";
/// In the worker, right before a step is executed (its attempt checked
/// claimable but still unclaimed: the claim is folded into the result), and
/// again right after the lazy claim of a step still running at a third of
/// the lease commits.
pub const WORKER_AFTER_CLAIM: &str = "worker.after_claim";
/// In the worker, after a step's executor returned and before its result
/// is recorded: whatever the execution did outside (an agent call, an
/// emitted signal) happened, and nothing says so yet.
pub const WORKER_AFTER_EXECUTE: &str = "worker.after_execute";

/// Every point this build knows, for documentation and validation.
pub const ALL_POINTS: &[&str] = &[
    COORDINATOR_AFTER_COMMIT_BEFORE_PUBLISH,
    COORDINATOR_AFTER_COMMIT_BEFORE_ACK,
    WORKER_AFTER_RESULT_COMMIT_BEFORE_ACK,
    WORKER_AFTER_CLAIM,
    WORKER_AFTER_EXECUTE,
];

/// The configured fault point, checked cheaply on hot paths.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    point: Option<String>,
    /// Passes through the point that are survived before the crash
    /// (`JUNCTION_FAULT__SKIP`), so a test can crash in the middle of a run.
    remaining_skips: Arc<AtomicU32>,
}

impl Faults {
    pub fn new(point: Option<String>) -> Self {
        Self::with_skip(point, 0)
    }

    pub fn with_skip(point: Option<String>, skip: u32) -> Self {
        Self {
            point: point.filter(|p| !p.is_empty()),
            remaining_skips: Arc::new(AtomicU32::new(skip)),
        }
    }

    /// Exits the process with [`FAULT_EXIT_CODE`] if `point` is the configured
    /// one and no skips remain.
    pub fn hit(&self, point: &str) {
        if self.point.as_deref() != Some(point) {
            return;
        }
        let skipped = self
            .remaining_skips
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !skipped {
            eprintln!("fault point {point} reached: exiting with status {FAULT_EXIT_CODE}");
            std::process::exit(FAULT_EXIT_CODE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_points_and_skipped_passes_do_not_exit() {
        let faults = Faults::with_skip(Some(WORKER_AFTER_CLAIM.into()), 2);
        faults.hit(COORDINATOR_AFTER_COMMIT_BEFORE_PUBLISH);
        faults.hit(WORKER_AFTER_CLAIM);
        faults.hit(WORKER_AFTER_CLAIM);
        assert_eq!(faults.remaining_skips.load(Ordering::SeqCst), 0);
        Faults::new(None).hit(WORKER_AFTER_CLAIM);
    }
}
