//! Control flow on real services: parallel branches and foreach items
//! (branches overlap, items respect `maxConcurrency`, results join in order,
//! every item's step runs exactly once), child workflows, failures (run
//! timeouts, `catch`), and the operator's cancel, pause and resume.

mod children;
mod failures;
mod fanout;
mod operator;

use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
