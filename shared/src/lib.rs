//! `junction-shared`: everything the Junction binaries have in common.
//!
//! Layered, inner to outer:
//! - pure core, no I/O and no clock: [`ids`], [`status`], [`model`] (definitions and
//!   their IR), [`expr`] (Starlark expressions), [`engine`] (the run state machine), [`wire`] (message shapes);
//! - edges: [`store`] (the only module that knows SQL), [`bus`] (the only module that
//!   knows subject names), [`config`], [`fault`], [`telemetry`].

pub mod bus;
pub mod config;
pub mod engine;
pub mod expr;
pub mod fault;
pub mod group_commit;
pub mod ids;
pub mod membership;
pub mod model;
pub mod outbox;
pub mod shutdown;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod wire;
