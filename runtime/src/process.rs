//! What every Junction process does before its own work: set up trace
//! export from the `OTEL_*` variables, install logging, load the
//! configuration and build the async runtime, with a clear log line and exit
//! status 2 when any of them fails.

use crate::config::Config;
use crate::otel::Tracing;
use std::path::Path;
use std::process::ExitCode;

/// Exit status of a process that could not start (bad configuration, no runtime).
pub const STARTUP_FAILURE: u8 = 2;

/// Trace export (named `service` unless `OTEL_SERVICE_NAME` says
/// otherwise) and logging on, then the configuration (`config_path`, then
/// `JUNCTION_*`) and a multi-threaded tokio runtime; on failure, the exit
/// code to return. The exporter is built here, outside the runtime: its
/// HTTP client blocks, on the exporter's own thread.
pub fn start(
    config_path: Option<&Path>,
    service: &str,
) -> Result<(Config, tokio::runtime::Runtime, Tracing), ExitCode> {
    let tracing_setup = Tracing::from_env(service);
    let tracer = tracing_setup.as_ref().ok().cloned().unwrap_or_default();
    crate::telemetry::init("info", &tracer);
    if let Err(error) = tracing_setup {
        tracing::error!(%error, "invalid trace export settings");
        return Err(ExitCode::from(STARTUP_FAILURE));
    }
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
    Ok((config, runtime, tracer))
}
