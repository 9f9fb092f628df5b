//! What every Junction process does before its own work: install logging,
//! load the configuration and build the async runtime, with a clear log line
//! and exit status 2 when either of the last two fails.

use crate::config::Config;
use std::path::Path;
use std::process::ExitCode;

/// Exit status of a process that could not start (bad configuration, no runtime).
pub const STARTUP_FAILURE: u8 = 2;

/// Logging on, then the configuration (`config_path`, then `JUNCTION_*`)
/// and a multi-threaded tokio runtime; on failure, the exit code to return.
pub fn start(config_path: Option<&Path>) -> Result<(Config, tokio::runtime::Runtime), ExitCode> {
    crate::telemetry::init("info");
    let config = Config::load(config_path).map_err(|error| {
        tracing::error!(%error, "invalid configuration");
        ExitCode::from(STARTUP_FAILURE)
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            tracing::error!(%error, "cannot start the async runtime");
            ExitCode::from(STARTUP_FAILURE)
        })?;
    Ok((config, runtime))
}
