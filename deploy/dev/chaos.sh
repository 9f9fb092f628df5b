#!/usr/bin/env bash
#
# deploy/dev/chaos.sh: the chaos suite's long form.
#
#   deploy/dev/chaos.sh [--seed N] [--duration SECS] [--runs N] [--faults N]
#                       [--drain SECS] [--debug] [--report FILE]
#
# It runs the same test as CI (e2e/tests/chaos.rs) with longer settings:
# a private Postgres server and three-node NATS cluster, two coordinators,
# three workers; N runs (default 1000) of the workflow mix started over the
# fault window (default 600 s), with faults of every kind (default one per
# 6 s of window each) at times drawn from the seed (default: from the
# clock; printed, so a failure can be replayed with --seed). Once the
# faults stop, the cluster gets --drain seconds (default 300) to finish
# every run and empty its outbox; then every invariant is checked and the
# figures are printed (and written as JSON to --report, default
# .junction-dev/chaos-<seed>.json).
#
# The binaries are built in release mode unless --debug. It needs
# Postgres' initdb/pg_ctl (Debian: postgresql) and nats-server; the
# machine's own servers on 5432 and 4222 are not touched.

DEV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=deploy/dev/lib.sh
source "$DEV_DIR/lib.sh"

seed=""
duration=600
runs=1000
faults=""
drain=300
profile=release
report=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seed) seed="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --faults) faults="$2"; shift 2 ;;
        --drain) drain="$2"; shift 2 ;;
        --report) report="$2"; shift 2 ;;
        --debug) profile=debug; shift ;;
        -h|--help) sed -n '3,22p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
if [[ -z "$seed" ]]; then
    seed=$(( $(date +%s%N) % 1000000 ))
fi
mkdir -p "$STATE_DIR"
report="${report:-$STATE_DIR/chaos-$seed.json}"

cd "$REPO_ROOT"
flags=()
if [[ "$profile" == release ]]; then
    flags=(--release)
fi
say "building the binaries and the chaos test ($profile)"
cargo build "${flags[@]}" -p junction-coordinator -p junction-worker -p junction-cli -p junction-example-agents
export JUNCTION_CHAOS_SEED="$seed" JUNCTION_CHAOS_DURATION="$duration" JUNCTION_CHAOS_RUNS="$runs" \
    JUNCTION_CHAOS_DRAIN="$drain" JUNCTION_CHAOS_REPORT="$report"
if [[ -n "$faults" ]]; then
    export JUNCTION_CHAOS_FAULTS="$faults"
fi
say "chaos: seed $seed, $runs runs over ${duration}s, report in $report"
cargo test "${flags[@]}" -p junction-e2e --test chaos -- --nocapture
say "figures in $report"
