#!/usr/bin/env bash
#
# deploy/dev/demo.sh: the one-command demo.
#
#   deploy/dev/demo.sh           run the demo, then stop the cluster
#   deploy/dev/demo.sh --keep    run the demo and leave the cluster running
#   deploy/dev/demo.sh --stop    stop a cluster left running by --keep
#
# It makes Postgres and NATS reachable (services.sh), builds the debug
# binaries, and starts a local cluster in the background: one
# junction-coordinator, two junction-worker processes (demo-worker-1 and
# demo-worker-2) and junction-example-agents. They use the NATS prefix "demo",
# the database postgres://postgres@127.0.0.1:5432/junction, the workflow
# definitions in examples/workflows and the agents in examples/agents. Logs
# go to .junction-dev/demo-<name>.log and pids to .junction-dev/pids.
#
# Once `junction members` shows the coordinator, it runs the example
# workflow order-pipeline and prints its timeline, then publishes an
# order.created signal and prints the timeline of the run it started, then
# runs release-notes, a DAG-form workflow whose independent steps overlap.
# On exit the cluster is stopped (SIGTERM, then wait), unless --keep.

set -euo pipefail

# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '3,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

for arg in "$@"; do
    case "$arg" in
    --keep) CLUSTER_KEEP=1 ;;
    --stop)
        if ! cluster_stop_recorded; then
            say "no dev cluster processes are running"
        fi
        exit 0
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument: $arg"
        ;;
    esac
done

cd "$REPO_ROOT"
need cargo "install Rust with rustup: https://rustup.rs"

"$DEV_DIR/services.sh"
dev_nats_env
need_cc

say "building debug binaries (cargo build --workspace --bins); the first build takes a few minutes"
cargo build --quiet --workspace --bins

export JUNCTION_NATS__PREFIX=demo
export JUNCTION_DATABASE__URL="postgres://postgres@127.0.0.1:5432/junction"
export JUNCTION_DEFINITIONS__DIR="$REPO_ROOT/examples/workflows"
export JUNCTION_AGENTS__DIR="$REPO_ROOT/examples/agents"
export JUNCTION_HTTP__LISTEN="127.0.0.1:0"

BIN="$TARGET_DIR/debug"
CLUSTER_ENV=(NO_COLOR=1)
CLUSTER_STOP_HINT="deploy/dev/demo.sh --stop"

cluster_prepare
say "starting the demo cluster (NATS prefix demo, database junction)"
cluster_start demo "$BIN"
cluster_wait_ready "$BIN/junction" 60

say "running workflow order-pipeline (junction run waits for the run and prints its timeline)"
if ! with_timeout 300 "$BIN/junction" run order-pipeline \
    --input '{"order_id":"A-1001","customer":"ada","amount":42.5}'; then
    cluster_check_alive
    die "the order-pipeline run did not complete; see the logs in $(rel "$STATE_DIR")/"
fi

say "publishing signal order.created and waiting for the run it starts"
if ! with_timeout 300 "$BIN/junction" signal order.created \
    --data '{"order_id":"A-1002","customer":"grace","amount":7}' --wait; then
    cluster_check_alive
    die "the run started by order.created did not complete; see the logs in $(rel "$STATE_DIR")/"
fi

say "running workflow release-notes (the DAG form: independent steps run at once)"
if ! with_timeout 300 "$BIN/junction" run release-notes \
    --input '{"version":"1.0","loud":true}'; then
    cluster_check_alive
    die "the release-notes run did not complete; see the logs in $(rel "$STATE_DIR")/"
fi

say "demo finished; cluster logs are in $(rel "$STATE_DIR")/demo-*.log"
