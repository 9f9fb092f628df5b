//! `junction-runtime`: the glue every Junction process shares, above the
//! store and the bus: [`config`] (figment: file, then `JUNCTION_*`), the
//! [`outbox`] relay, [`group_commit`] (one transaction for many callers),
//! [`membership`] (live coordinators and workers), [`fault`] points for crash
//! tests, staged [`shutdown`], [`telemetry`] (logging) and [`otel`] (trace
//! export), the HTTP listener with its [`probes`], Prometheus [`metrics`],
//! and [`startup`] retries against services that are not up yet.
//!
//! The layers, inner to outer: `junction-core` (pure), then `junction-store`
//! (SQL only) and `junction-bus` (NATS only), then this crate, then the
//! binaries.

pub mod config;
pub mod config_keys;
pub mod fault;
pub mod group_commit;
pub mod membership;
pub mod metrics;
pub mod otel;
pub mod outbox;
pub mod probes;
pub mod process;
pub mod redelivery;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
