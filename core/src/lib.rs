//! `junction-core`: the pure core of Junction. No I/O, no clock, no async
//! runtime: `cargo tree -p junction-core -e normal` lists none of tokio,
//! tokio-postgres, deadpool, async-nats or axum, and a test keeps it so.
//!
//! - [`ids`] and [`status`]: identifiers and the statuses of runs and steps;
//! - [`model`]: workflow definitions (YAML, JSON, Starlark, DAG, composer) and
//!   their compiled IR;
//! - [`expr`]: sandboxed Starlark expressions;
//! - [`graph`]: a workflow as nodes and edges (`junction graph`, the web UI);
//! - [`engine`]: the run state machine, `apply(state, input) -> effects`;
//! - [`wire`]: the shapes of every message on the bus;
//! - [`outbox`]: a message as the outbox stores it, built in one place.

pub mod engine;
pub mod expr;
pub mod graph;
pub mod ids;
pub mod model;
pub mod outbox;
pub mod status;
pub mod trace;
pub mod wire;
