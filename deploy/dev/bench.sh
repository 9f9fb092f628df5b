#!/usr/bin/env bash
#
# deploy/dev/bench.sh: run the load test against a fresh local cluster.
#
#   deploy/dev/bench.sh [junction-loadtest arguments...]
#
# It makes Postgres and NATS reachable (services.sh), builds the release
# binaries, drops and recreates the database junction_bench, deletes the
# JetStream streams of the prefix "bench" (the cluster recreates them, and
# their consumers, from its own settings), and starts a cluster in the
# background: one junction-coordinator, two junction-worker processes
# (bench-worker-1 and bench-worker-2) and junction-example-agents, all with
# the NATS prefix "bench" and JUNCTION_LOG=warn. Logs go to
# .junction-dev/bench-<name>.log and pids to .junction-dev/pids. JUNCTION_*
# variables set in the environment reach every cluster process.
#
# For the `inflight` scenario (10,000 runs whose first step sleeps 60 s),
# the workers default to JUNCTION_WORKER__CONCURRENCY=10000, so that every
# held step sleeps at once and the runs drain within the scenario: either
# worker can take all the tasks the WORKERS consumer hands out (its
# max_ack_pending is 10,000), so no task waits, prefetched, for a slot on a
# full worker. They also default to JUNCTION_WORKER__LEASE_SECONDS=300, so a
# held step never renews its lease (renewal every lease/3 = 100 s, longer
# than the hold; the default 10 s lease would mean ~3,000 lease updates per
# second in Postgres). Set either variable to override it.
#
# Once `junction members` shows the coordinator, it runs
# `$CARGO_TARGET_DIR/release/junction-loadtest "$@"` (target/ by default;
# same prefix and database) and
# exits with its status, after printing each cluster process's peak RSS
# (VmHWM). The cluster is stopped on exit (SIGTERM, then wait).
# A dev cluster left running by `demo.sh --keep` is stopped first.

#
# `bench.sh compare [OUT_DIR]` instead runs the side-by-side comparison with
# Restate: the peer harness's compare.sh (not part of this repository; give
# its folder in $JUNCTION_PEERS_DIR) runs this script's scenarios and Restate's back to back and
# prints the ratios; OUT_DIR (default /tmp/junction-compare) keeps the JSON.
# `bench.sh foreach-scaling` runs the foreach at 200 and 5,000 items (32 in
# flight) to show that the time per item does not grow with the width.

set -euo pipefail

# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
    compare)
        peers="${JUNCTION_PEERS_DIR:-}"
        [[ -n "$peers" ]] || die "compare needs the peer harness, which is not part of this repository: set JUNCTION_PEERS_DIR to the folder of its compare.sh"
        [[ -f "$peers/compare.sh" ]] || die "no compare.sh in $peers; set JUNCTION_PEERS_DIR to the peer harness"
        out="${2:-/tmp/junction-compare}"
        say "comparing with the peer harness in $peers (JSON in $out); this takes several minutes"
        exec bash "$peers/compare.sh" "$REPO_ROOT" "$out"
        ;;
    foreach-scaling)
        shift
        out="${1:-/tmp/junction-foreach-scaling}"
        mkdir -p "$out"
        "$0" foreach --items 200 --max-concurrency 32 --runs 3 --warmup 1 --json "$out/foreach-200.json"
        "$0" foreach --items 5000 --max-concurrency 32 --runs 1 --warmup 1 --timeout-secs 900 --json "$out/foreach-5000.json"
        python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for n in (200, 5000):
    doc = json.load(open(f"{out}/foreach-{n}.json"))
    f = doc["scenarios"][0]["figures"]
    print(f"foreach {n:>5} items: {f['items_per_sec']:8.1f} items/s, {1000 / f['items_per_sec']:6.2f} ms per item")
PY
        exit 0
        ;;
esac

cd "$REPO_ROOT"
need cargo "install Rust with rustup: https://rustup.rs"

"$DEV_DIR/services.sh"
dev_nats_env
need_cc

say "building release binaries (cargo build --release --workspace --bins); the first build takes several minutes"
cargo build --quiet --release --workspace --bins

BIN="$TARGET_DIR/release"
[[ -x "$BIN/junction-loadtest" ]] || die "$(rel "$BIN/junction-loadtest") is missing; did the build produce it?"

export JUNCTION_NATS__PREFIX=bench
export JUNCTION_DATABASE__URL="postgres://postgres@127.0.0.1:5432/junction_bench"
export JUNCTION_DEFINITIONS__DIR="$REPO_ROOT/examples/workflows"
export JUNCTION_AGENTS__DIR="$REPO_ROOT/examples/agents"
export JUNCTION_HTTP__LISTEN="127.0.0.1:0"

# Only the cluster processes log at warn; the load test keeps its own level.
CLUSTER_ENV=(NO_COLOR=1 JUNCTION_LOG=warn)
for arg in "$@"; do
    if [[ "$arg" == inflight ]]; then
        CLUSTER_ENV+=(
            "JUNCTION_WORKER__CONCURRENCY=${JUNCTION_WORKER__CONCURRENCY:-10000}"
            "JUNCTION_WORKER__LEASE_SECONDS=${JUNCTION_WORKER__LEASE_SECONDS:-300}"
        )
        say "inflight: workers run with ${CLUSTER_ENV[*]: -2}"
        break
    fi
done

# nats_delete_streams PREFIX: delete the JetStream streams of PREFIX (named
# <PREFIX>_..., docs/protocol.md §1) with their consumers. It speaks the NATS
# protocol over bash's /dev/tcp, so no NATS client is needed. Best effort: a
# failure is a warning.
nats_delete_streams() {
    local asset="${1^^}_" fd reply names name deleted=()
    if ! exec {fd}<>"/dev/tcp/$NATS_HOST/$NATS_PORT"; then
        warn "nats: cannot connect to $NATS_HOST:$NATS_PORT to delete the $asset* streams"
        return 0
    fi
    printf 'CONNECT {"verbose":false,"pedantic":false,"name":"bench.sh"}\r\nSUB _INBOX.benchsh 1\r\n' >&"$fd"
    printf 'PUB $JS.API.STREAM.NAMES _INBOX.benchsh 2\r\n{}\r\n' >&"$fd"
    if nats_reply "$fd" reply; then
        names=$(grep -oE "\"${asset}[A-Z0-9_]+\"" <<<"$reply" | tr -d '"') || true
        for name in $names; do
            printf 'PUB $JS.API.STREAM.DELETE.%s _INBOX.benchsh 0\r\n\r\n' "$name" >&"$fd"
            if nats_reply "$fd" reply && [[ "$reply" == *'"success":true'* ]]; then
                deleted+=("$name")
            else
                warn "nats: could not delete stream $name: ${reply:-no reply}"
            fi
        done
        say "nats: deleted ${#deleted[@]} JetStream stream(s) of prefix $1${deleted[*]:+ (${deleted[*]})}"
    else
        warn "nats: no reply to \$JS.API.STREAM.NAMES; the $asset* streams are left as they are"
    fi
    exec {fd}>&-
}

# Stop leftovers before dropping the database and the streams they may still be using.
cluster_prepare
pg_recreate_db junction_bench
nats_delete_streams "$JUNCTION_NATS__PREFIX"

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
