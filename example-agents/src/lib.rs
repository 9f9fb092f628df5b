//! `junction-example-agents`: a small NATS service hosting demo and test agents.
//!
//! Junction never runs agents itself. A worker sends a request on
//! `agents.<name>.run` and waits for `{output}` or `{error}` (PROTOCOL §5).
//! Agents live outside the cluster and could be written in any language; this
//! crate is one such agent process, written in Rust because it doubles as the
//! test fixture of the end-to-end suite.
//!
//! - [`registry`]: agent name → [`Handler`], and the [`Reply`] a handler returns;
//! - [`builtin`]: the agents served by default (`echo`, `upper`, `sleep`, `fail`,
//!   `flaky`, `garbage`, `add`);
//! - [`station`]: the agents of Station's example workflows (`examples/station/`);
//! - [`call_log`]: what every call and cancel looked like, for tests to assert on;
//! - [`server`]: the NATS loop, [`serve()`] for a process and [`spawn()`] for tests.
//!
//! **Architecture Invariant:** this crate knows the agent wire format and nothing
//! of runs, steps or the engine. It spells no subject: names come from
//! [`junction_bus::Subjects`].

pub mod builtin;
pub mod call_log;
pub mod registry;
pub mod server;
pub mod station;

pub use call_log::{CallLog, CallRecord, CancelRecord};
pub use registry::{Handler, Registry, Reply, UnknownAgent};
pub use server::{Error, QUEUE_GROUP, ServeHandle, serve, spawn};
