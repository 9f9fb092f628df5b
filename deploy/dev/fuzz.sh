#!/usr/bin/env bash
#
# deploy/dev/fuzz.sh: the long fuzz runs of core/tests/fuzz.rs.
#
#   deploy/dev/fuzz.sh [cases]
#
# Runs, in a release build (in $CARGO_TARGET_DIR when set), every `#[ignore]`
# long form of the fuzz targets: the definition front ends (YAML, JSON,
# Starlark plans; states with the Station dialect, DAGs, composer graphs),
# CloudEvent validation, control request decoding and agent reply decoding,
# each with `cases` generated inputs (default 100000, JUNCTION_FUZZ_CASES
# when set). That is
#
#   JUNCTION_FUZZ_CASES=<cases> cargo test --release -p junction-core \
#       --test fuzz -- --ignored fuzz --nocapture
#
# A failing case is shrunk and printed, and its seed is kept in
# core/tests/fuzz.proptest-regressions so that the next run tries it first. Each
# target prints how many cases it ran and how long they took. The quick
# forms (a few dozen cases each) run with the normal test suite.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# shellcheck source=deploy/dev/lib.sh
source deploy/dev/lib.sh

need cargo "install Rust with rustup: https://rustup.rs"
need_cc

cases="${1:-${JUNCTION_FUZZ_CASES:-100000}}"
if ! [[ "$cases" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: deploy/dev/fuzz.sh [cases]  (cases: a positive integer, got '$cases')" >&2
    exit 2
fi

export RUST_BACKTRACE=1
export JUNCTION_FUZZ_CASES="$cases"
echo "fuzz: $cases cases per target (release build)"
exec cargo test --release -p junction-core --test fuzz -- --ignored fuzz --nocapture --test-threads 2
