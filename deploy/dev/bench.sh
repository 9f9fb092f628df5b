#!/usr/bin/env bash
#
# deploy/dev/bench.sh: run the load test against a fresh local cluster.
#
#   deploy/dev/bench.sh [junction-loadtest arguments...]
#
# It makes Postgres and NATS reachable (services.sh), builds the release
# binaries, drops and recreates the database junction_bench, and starts a
# cluster in the background: one junction-coordinator, two junction-worker
# processes (bench-worker-1 and bench-worker-2) and junction-example-agents,
# all with the NATS prefix "bench" and JUNCTION_LOG=warn. Logs go to
# .junction-dev/bench-<name>.log and pids to .junction-dev/pids.
#
# Once `junction members` shows the coordinator, it runs
# `target/release/junction-loadtest "$@"` (same prefix and database) and
# exits with its status, after printing each cluster process's peak RSS
# (VmHWM). The cluster is stopped on exit (SIGTERM, then wait).
# A dev cluster left running by `demo.sh --keep` is stopped first.

set -euo pipefail

# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
need cargo "install Rust with rustup: https://rustup.rs"

"$DEV_DIR/services.sh"

say "building release binaries (cargo build --release --workspace --bins); the first build takes several minutes"
cargo build --quiet --release --workspace --bins

BIN="$REPO_ROOT/target/release"
[[ -x "$BIN/junction-loadtest" ]] || die "$(rel "$BIN/junction-loadtest") is missing; did the build produce it?"

export JUNCTION_NATS__PREFIX=bench
export JUNCTION_DATABASE__URL="postgres://postgres@127.0.0.1:5432/junction_bench"
export JUNCTION_DEFINITIONS__DIR="$REPO_ROOT/examples/workflows"
export JUNCTION_AGENTS__DIR="$REPO_ROOT/examples/agents"
export JUNCTION_HTTP__LISTEN="127.0.0.1:0"

# Only the cluster processes log at warn; the load test keeps its own level.
CLUSTER_ENV=(NO_COLOR=1 JUNCTION_LOG=warn)

# Stop leftovers before dropping the database they may still be using.
cluster_prepare
pg_recreate_db junction_bench

say "starting the bench cluster (NATS prefix bench, database junction_bench, release build)"
cluster_start bench "$BIN"
cluster_wait_ready "$BIN/junction" 60

say "running junction-loadtest${*:+ $*}"
status=0
"$BIN/junction-loadtest" "$@" || status=$?

# Peak resident memory of each cluster process over the whole load test
# (VmHWM is the kernel's high-water mark, so no sampling is needed).
for i in "${!CLUSTER_PIDS[@]}"; do
    hwm=$(awk '/^VmHWM:/ {printf "%.1f MiB", $2 / 1024}' "/proc/${CLUSTER_PIDS[$i]}/status" 2>/dev/null || true)
    say "peak RSS of ${CLUSTER_NAMES[$i]}: ${hwm:-unknown (process gone)}"
done
if ((status == 0)); then
    say "load test finished; cluster logs are in $(rel "$STATE_DIR")/bench-*.log"
else
    warn "junction-loadtest exited with status $status; cluster logs are in $(rel "$STATE_DIR")/bench-*.log"
fi
exit "$status"
