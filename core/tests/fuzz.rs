//! Long randomized runs over everything that reads outside input: the
//! definition front ends (YAML, JSON, Starlark; the states form with the
//! Station dialect, DAGs, composer graphs), CloudEvent validation, control
//! request decoding and agent reply decoding. The property is always the
//! same: no panic, no hang, and the answer is a value or a clear error
//! (a definition's with a line and column where the source has one).
//!
//! Inputs are structure-aware: valid definitions and envelopes mutated at
//! the tree level (a node replaced, removed, renamed, wrapped, nested deep)
//! and at the text level (edits, cuts, brackets), random JSON and YAML
//! trees, nesting far past the parsers' recursion limits, and random bytes.
//! The unit property tests next to the code (`model::fuzz_tests`,
//! `model::locate::tests::properties`) cover the same front ends with
//! generated documents in a few hundred cases; these run the mutation
//! generators, many more cases, and the wire decoders.
//!
//! Two forms of every target:
//! - `fuzz_*_quick`: a few dozen cases, part of the normal test suite;
//! - `fuzz_*_long` (`#[ignore]`): `JUNCTION_FUZZ_CASES` cases (default
//!   100 000), run in release by `deploy/dev/fuzz.sh [cases]`, i.e.
//!   `cargo test --release -p junction-core --test fuzz -- --ignored fuzz`.
//!
//! A failure prints the shrunk input; proptest keeps its seed in
//! `core/tests/fuzz.proptest-regressions` so the next run tries it first.

#![allow(clippy::unwrap_used)]

#[path = "fuzz/agent.rs"]
mod agent;
#[path = "fuzz/control.rs"]
mod control;
#[path = "fuzz/definitions.rs"]
mod definitions;
#[path = "fuzz/inputs.rs"]
mod inputs;
#[path = "fuzz/signals.rs"]
mod signals;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use std::time::{Duration, Instant};

/// Cases of the quick form.
pub const QUICK_CASES: u32 = 48;
/// Cases of the long form when `JUNCTION_FUZZ_CASES` is not set.
pub const LONG_CASES: u32 = 100_000;
/// What one case may take before it counts as a hang. Generous: a hang is
/// unbounded work, not a slow machine; the slowest legitimate case (a
/// Starlark plan that runs to its tick limit) takes well under a second.
const HANG: Duration = Duration::from_secs(60);

/// The number of cases of a long run.
pub fn long_cases() -> u32 {
    std::env::var("JUNCTION_FUZZ_CASES")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(LONG_CASES)
}

/// Runs `check` on `cases` inputs of `strategy`, failing on a panic, a
/// failed property or a case slower than [`HANG`].
pub fn run<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    check: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let config = Config {
        cases,
        max_shrink_iters: 2048,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        source_file: Some(file!()),
        ..Config::default()
    };
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |input| {
        let start = Instant::now();
        check(input)?;
        let took = start.elapsed();
        prop_assert!(took < HANG, "one case took {took:?}");
        Ok(())
    });
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
    eprintln!("{name}: {cases} cases in {:?}", started.elapsed());
}

macro_rules! fuzz_target {
    ($quick:ident, $long:ident, $strategy:expr, $check:expr) => {
        #[test]
        fn $quick() {
            run(stringify!($quick), QUICK_CASES, $strategy, $check);
        }

        #[test]
        #[ignore = "long run: deploy/dev/fuzz.sh [cases]"]
        fn $long() {
            run(stringify!($long), long_cases(), $strategy, $check);
        }
    };
}

fuzz_target!(
    fuzz_definitions_quick,
    fuzz_definitions_long,
    definitions::source(),
    definitions::check
);
fuzz_target!(
    fuzz_star_plans_quick,
    fuzz_star_plans_long,
    definitions::star_source(),
    definitions::check_star
);
fuzz_target!(
    fuzz_signals_quick,
    fuzz_signals_long,
    signals::message(),
    signals::check
);
fuzz_target!(
    fuzz_control_requests_quick,
    fuzz_control_requests_long,
    control::body(),
    control::check
);
fuzz_target!(
    fuzz_agent_replies_quick,
    fuzz_agent_replies_long,
    agent::body(),
    agent::check
);
