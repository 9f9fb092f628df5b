//! Logging: structured `tracing` to stderr, filtered by `JUNCTION_LOG`
//! (an `EnvFilter` directive such as `info` or `junction=debug`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call once per process.
pub fn init(default_directive: &str) {
    let filter = EnvFilter::try_from_env("JUNCTION_LOG")
        .unwrap_or_else(|_| EnvFilter::new(default_directive));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
