//! Observability of both processes: the Prometheus families each serves on
//! `/metrics` (checked by `promtool`), and `/readyz` following Postgres,
//! NATS and the process's consumers, from start-up on.

mod metrics;
mod readiness;

use std::time::Duration;

/// How long a wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);
