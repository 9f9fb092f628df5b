//! Workflow definitions: the intermediate representation (IR) every front end
//! compiles to, diagnostics, and the front ends themselves. Pure: no I/O.
//!
//! The runtime reads only the IR ([`Workflow`]); sources are kept for display.

pub mod argv;
pub mod composer;
pub mod concurrency;
pub mod dag;
pub mod diag;
pub mod graph;
pub mod ir;
pub mod locate;
pub mod parse;
pub mod path;
pub mod schedule;
pub mod schema_compat;
pub mod star;
pub mod states;
pub mod trigger;
pub mod validate;

#[cfg(test)]
mod fuzz_tests;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use ir::*;
pub use parse::{SourceFormat, compile};
