#!/usr/bin/env bash
#
# deploy/dev/test.sh: THE test command (the one the README names and .ci/run
# calls). From the repository root it:
#   1. checks formatting with `cargo fmt --all -- --check` and stops early if
#      it is off (skipped with a note when rustfmt is not installed);
#   2. runs deploy/dev/services.sh --test-tools so Postgres (127.0.0.1:5432,
#      database junction) and NATS JetStream (127.0.0.1:4222, or the server
#      with JetStream services.sh started when that one lacks it, exported
#      as JUNCTION_TEST_NATS_URL) are reachable for the integration and
#      end-to-end tests, promtool and prometheus (Debian package
#      prometheus, installed when missing) can check the /metrics pages,
#      the alert rules and the dashboards' queries, and the Schemathesis
#      venv (deploy/dev/schemathesis.sh) can check the OpenAPI document;
#      then deploy/dev/check-deploy.sh checks the Helm chart, the Dockerfile
#      and the compose file (installing Helm and its Python tools into
#      .junction-dev/tools/ on first use), and deploy/dev/python-env.sh
#      makes the venv .junction-dev/venv with nats-py and cloudevents that
#      the Python e2e tests use (the example agent of examples/agents/python/,
#      the CloudEvents SDK signals);
#   3. checks for a C compiler, then builds everything once (in
#      $CARGO_TARGET_DIR when set): `cargo build --workspace --all-targets`, then
#      lints it with `cargo clippy --workspace --all-targets -- -D warnings`
#      (skipped with a note when clippy is not installed);
#   4. runs `cargo nextest run --workspace --no-fail-fast "$@"`, or, only when
#      cargo-nextest is not installed, `cargo test --workspace --no-fail-fast "$@"`.
# Extra arguments go to the test runner, e.g. `deploy/dev/test.sh e2e::` to
# filter by name. RUST_BACKTRACE=1 is set for all steps.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# shellcheck source=deploy/dev/lib.sh
source deploy/dev/lib.sh

export RUST_BACKTRACE=1

need cargo "install Rust with rustup: https://rustup.rs"

if cargo fmt --version >/dev/null 2>&1; then
    say "checking formatting (cargo fmt --all -- --check)"
    if ! cargo fmt --all -- --check; then
        die "formatting is off (diff above); run 'cargo fmt --all' and try again"
    fi
else
    say "skipping the format check: rustfmt is not installed (rustup component add rustfmt)"
fi

say "making sure Postgres and NATS are reachable and the test tools are installed (deploy/dev/services.sh --test-tools)"
./deploy/dev/services.sh --test-tools
dev_nats_env

need_cc

say "checking the deployment files: Helm chart, Dockerfile, compose (deploy/dev/check-deploy.sh)"
./deploy/dev/check-deploy.sh

say "making sure the Python venv of the e2e tests is there (deploy/dev/python-env.sh)"
./deploy/dev/python-env.sh

say "building the workspace (cargo build --workspace --all-targets)"
cargo build --workspace --all-targets

if cargo clippy --version >/dev/null 2>&1; then
    say "linting (cargo clippy --workspace --all-targets -- -D warnings)"
    cargo clippy --workspace --all-targets -- -D warnings
else
    say "skipping the lints: clippy is not installed (rustup component add clippy)"
fi

if cargo nextest --version >/dev/null 2>&1; then
    say "running the tests (cargo nextest run --workspace --no-fail-fast $*)"
    cargo nextest run --workspace --no-fail-fast "$@"
else
    say "cargo-nextest is not installed; falling back to cargo test --workspace"
    cargo test --workspace --no-fail-fast "$@"
fi
say "all tests passed"
