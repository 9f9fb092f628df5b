#!/usr/bin/env bash
# shellcheck shell=bash
#
# deploy/dev/lib.sh: helpers shared by the local dev scripts (services.sh,
# demo.sh, bench.sh). Source it; do not execute it. Sourcing it defines
# variables and functions and turns on `set -euo pipefail` (which every
# caller uses anyway); it has no other side effects.
#
# What it provides:
#   - output helpers: say (progress lines prefixed "==>"), warn, die, need,
#     need_cc (a C compiler, which some crates' build scripts need)
#   - TARGET_DIR: cargo's target directory ($CARGO_TARGET_DIR, else target/)
#   - NATS without guessing: nats_request (a request over bash's /dev/tcp,
#     e.g. $JS.API.INFO), nats_jetstream_ok, and dev_nats_env, which exports
#     the NATS URL services.sh chose (.junction-dev/nats.env) when the server
#     on 127.0.0.1:4222 lacks JetStream
#   - small utilities: tcp_open, with_timeout, pid_alive
#   - Postgres helpers for the local dev server at 127.0.0.1:5432 as user
#     postgres: pg_psql, pg_recreate_db
#   - the local cluster life cycle used by demo.sh and bench.sh:
#       cluster_prepare   stop leftovers from an earlier --keep run, install
#                         the exit trap
#       cluster_start     start 1 coordinator, 2 workers and the example agents
#                         in the background, logging to .junction-dev/<name>.log
#                         and recording their pids in .junction-dev/pids
#       cluster_wait_ready poll `junction members` until a coordinator answers,
#                         then print its HTTP address (from `junction members`)
#   On exit the trap sends SIGTERM to every started process and waits for
#   them (SIGKILL after a grace period), unless CLUSTER_KEEP=1.
#
# Only one dev cluster runs at a time: starting one stops the processes
# recorded in .junction-dev/pids (after checking that they are Junction
# binaries from this repository's target directory).

set -euo pipefail

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    echo "deploy/dev/lib.sh is meant to be sourced by the other deploy/dev scripts, not run" >&2
    exit 2
fi

if [[ -n "${JUNCTION_DEV_LIB_LOADED:-}" ]]; then
    return 0
fi
JUNCTION_DEV_LIB_LOADED=1

DEV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$DEV_DIR/../.." && pwd)"
STATE_DIR="$REPO_ROOT/.junction-dev"
PIDS_FILE="$STATE_DIR/pids"

# Fixed local endpoints (not configurable on purpose; see services.sh).
PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
NATS_HOST=127.0.0.1
NATS_PORT=4222
# Where services.sh records the NATS URL to use when it had to start its own
# JetStream server (the one on NATS_PORT lacks JetStream).
NATS_ENV_FILE="$STATE_DIR/nats.env"

# cargo's target directory: $CARGO_TARGET_DIR (relative to the repository
# root, where the scripts run cargo), else target/.
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
[[ "$TARGET_DIR" == /* ]] || TARGET_DIR="$REPO_ROOT/$TARGET_DIR"

# ---------------------------------------------------------------- output ----

say() { printf '==> %s\n' "$*"; }
warn() { printf '==> warning: %s\n' "$*" >&2; }
die() {
    printf '==> error: %s\n' "$*" >&2
    exit 1
}

# need CMD [HINT]: fail clearly when a command is missing.
need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found${2:+ ($2)}"
}

# need_cc: fail clearly when there is no C compiler: the build needs one
# (build scripts of ring, blake3 and others compile C).
need_cc() {
    if ! command -v cc >/dev/null 2>&1; then
        die "no C compiler ('cc') found: the build needs one (Debian: apt-get install gcc, or build-essential)"
    fi
}

# Path relative to the repository root, for friendlier messages.
rel() { printf '%s' "${1#"$REPO_ROOT"/}"; }

# ------------------------------------------------------------- utilities ----

# tcp_open HOST PORT: true when a TCP connection to HOST:PORT succeeds.
tcp_open() {
    if command -v timeout >/dev/null 2>&1; then
        timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
    else
        bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
    fi
}

# with_timeout SECONDS CMD...: run CMD, killing it after SECONDS when
# coreutils timeout exists (exit status 124 then). --foreground keeps CMD in
# the terminal's process group, so Ctrl-C still reaches it.
with_timeout() {
    local secs=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout --foreground "$secs" "$@"
    else
        "$@"
    fi
}

# pid_alive PID: true when PID exists and is not a zombie.
pid_alive() {
    local pid=$1 stat state
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/stat" ]]; then
        { stat=$(<"/proc/$pid/stat"); } 2>/dev/null || return 1
        state=${stat##*) }
        state=${state%% *}
        [[ "$state" != Z ]]
    fi
}

# pid_is_ours PID: true when PID runs a binary from this repository's
# target directory (so a recycled pid is never signalled by mistake).
pid_is_ours() {
    local pid=$1 argv0
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1) || return 1
    [[ "$argv0" == "$TARGET_DIR/"*/junction* ]]
}

# ------------------------------------------------------------------ nats ----

# nats_reply FD VAR: read from the NATS connection on FD until a message
# arrives (answering PINGs on the way) and store its payload in VAR.
# Returns 1 on timeout or error, 2 when the server says no one answers.
nats_reply() {
    local fd=$1 line
    while IFS= read -r -t 5 line <&"$fd"; do
        line=${line%$'\r'}
        case "$line" in
        PING) printf 'PONG\r\n' >&"$fd" ;;
        "MSG "*)
            IFS= read -r -t 5 line <&"$fd" || return 1
            printf -v "$2" '%s' "${line%$'\r'}"
            return 0
            ;;
        "HMSG "*)
            # A status message: `NATS/1.0 503` is "no responders".
            IFS= read -r -t 5 line <&"$fd" || return 1
            [[ "$line" == *" 503"* ]] && return 2
            return 1
            ;;
        -ERR*)
            warn "nats: $line"
            return 1
            ;;
        esac
    done
    return 1
}

# nats_request HOST PORT SUBJECT PAYLOAD VAR: one request over bash's
# /dev/tcp (no NATS client needed); the reply's payload goes to VAR.
# Returns 0 with a reply, 2 when nothing answers the subject, 1 otherwise.
nats_request() {
    local host=$1 port=$2 subject=$3 payload=$4 fd rc=0
    # Braces: a redirection on a bare `exec` would stay on the shell.
    { exec {fd}<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
    printf 'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"name":"deploy/dev"}\r\nSUB _INBOX.devsh 1\r\nPUB %s _INBOX.devsh %d\r\n%s\r\n' \
        "$subject" "${#payload}" "$payload" >&"$fd"
    nats_reply "$fd" "$5" || rc=$?
    exec {fd}>&-
    return "$rc"
}

# nats_jetstream_ok HOST PORT: true when a `$JS.API.INFO` request to the
# server is answered with the account's JetStream information.
nats_jetstream_ok() {
    local reply="" rc=0
    nats_request "$1" "$2" '$JS.API.INFO' '' reply || rc=$?
    ((rc == 0)) && [[ "$reply" == *'"type":"io.nats.jetstream.api.v1.account_info_response"'* && "$reply" != *'"error"'* ]]
}

# dev_nats_env: export the NATS URL services.sh chose when it had to start
# its own JetStream server (JUNCTION_NATS__URL for the processes and the
# CLI, JUNCTION_TEST_NATS_URL for the tests), and point NATS_HOST/NATS_PORT
# at it. Does nothing when the server on 127.0.0.1:4222 has JetStream.
dev_nats_env() {
    [[ -f "$NATS_ENV_FILE" ]] || return 0
    local url
    url=$(sed -n 's/^JUNCTION_NATS__URL=//p' "$NATS_ENV_FILE" | head -n 1)
    [[ -n "$url" ]] || return 0
    export JUNCTION_NATS__URL="$url" JUNCTION_TEST_NATS_URL="$url"
    local hostport=${url#nats://}
    NATS_HOST=${hostport%:*}
    NATS_PORT=${hostport##*:}
    say "nats: using $url (JetStream), as services.sh chose"
}

# stop_pids PID...: SIGTERM, wait up to 20 s, then SIGKILL what is left.
# Reaps the ones that are children of this shell.
stop_pids() {
    local pid deadline left
    for pid in "$@"; do
        if pid_alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    deadline=$((SECONDS + 20))
    while :; do
        left=()
        for pid in "$@"; do
            if pid_alive "$pid"; then
                left+=("$pid")
            fi
        done
        ((${#left[@]} == 0)) && break
        if ((SECONDS >= deadline)); then
            warn "still running after 20 s, sending SIGKILL to: ${left[*]}"
            kill -KILL "${left[@]}" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    for pid in "$@"; do
        wait "$pid" 2>/dev/null || true
    done
}

# -------------------------------------------------------------- postgres ----

# pg_psql ARGS...: psql against the dev server as postgres, database
# "postgres", never prompting for a password.
pg_psql() {
    PGCONNECT_TIMEOUT=5 PGOPTIONS="-c client_min_messages=warning" psql -X -q -w -v ON_ERROR_STOP=1 \
        -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"
}

# pg_recreate_db NAME: drop NAME (closing open connections) and create it.
pg_recreate_db() {
    local db=$1 version
    need psql "install the Debian package postgresql-client"
    version=$(pg_psql -tAc 'show server_version_num') || die "cannot query Postgres at $PG_HOST:$PG_PORT"
    if ((version >= 130000)); then
        pg_psql -c "drop database if exists \"$db\" with (force)" >/dev/null
    else
        pg_psql -c "drop database if exists \"$db\"" >/dev/null
    fi
    pg_psql -c "create database \"$db\"" >/dev/null
    say "postgres: recreated database $db (empty)"
}

# --------------------------------------------------------------- cluster ----

CLUSTER_KEEP=0       # 1: leave the processes running on exit
CLUSTER_ENV=()       # extra VAR=value settings for every cluster process
CLUSTER_PIDS=()      # pids started by this shell, coordinator first
CLUSTER_NAMES=()     # matching names (also the log file names)
CLUSTER_STOP_HINT="kill \$(cat $(printf '%q' "$PIDS_FILE"))"

# cluster_prepare: create .junction-dev/, stop processes left by an earlier
# --keep run, and install the traps that stop the cluster on exit.
cluster_prepare() {
    mkdir -p "$STATE_DIR"
    cluster_stop_recorded || true
    trap cluster_on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# cluster_stop_recorded: stop the live processes listed in .junction-dev/pids
# that are Junction binaries from this repository, and empty the file.
# Returns 1 when there was nothing to stop.
cluster_stop_recorded() {
    local pid stale=()
    [[ -f "$PIDS_FILE" ]] || return 1
    while read -r pid _; do
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        if pid_alive "$pid" && pid_is_ours "$pid"; then
            stale+=("$pid")
        fi
    done <"$PIDS_FILE"
    : >"$PIDS_FILE"
    ((${#stale[@]} > 0)) || return 1
    say "stopping ${#stale[@]} dev cluster process(es) left running earlier (pids ${stale[*]})"
    stop_pids "${stale[@]}"
}

cluster_on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    ((${#CLUSTER_PIDS[@]} == 0)) && return "$rc"
    if ((CLUSTER_KEEP)); then
        say "cluster left running (--keep); pids are in $(rel "$PIDS_FILE"), logs in $(rel "$STATE_DIR")/"
        say "stop it with: $CLUSTER_STOP_HINT"
        return "$rc"
    fi
    say "stopping the cluster (${#CLUSTER_PIDS[@]} processes)"
    stop_pids "${CLUSTER_PIDS[@]}" || true
    : >"$PIDS_FILE" 2>/dev/null || true
    return "$rc"
}

# cluster_spawn NAME [VAR=value...] -- CMD...: start CMD in the background
# with the extra environment, logging to .junction-dev/NAME.log.
cluster_spawn() {
    local name=$1 log pid
    shift
    local envs=()
    while (($# > 0)) && [[ "$1" != -- ]]; do
        envs+=("$1")
        shift
    done
    [[ "${1:-}" == -- ]] && shift
    log="$STATE_DIR/$name.log"
    env ${CLUSTER_ENV[@]+"${CLUSTER_ENV[@]}"} ${envs[@]+"${envs[@]}"} "$@" </dev/null >"$log" 2>&1 &
    pid=$!
    CLUSTER_PIDS+=("$pid")
    CLUSTER_NAMES+=("$name")
    printf '%s\n' "$pid" >>"$PIDS_FILE"
    say "started $name (pid $pid), log: $(rel "$log")"
}

# cluster_start TAG BIN_DIR: start the coordinator, workers TAG-worker-1 and
# TAG-worker-2, and the example agents, from BIN_DIR. Log names are
# TAG-coordinator, TAG-worker-1, TAG-worker-2 and TAG-agents.
cluster_start() {
    local tag=$1 bin=$2 b
    for b in junction-coordinator junction-worker junction-example-agents junction; do
        [[ -x "$bin/$b" ]] || die "$(rel "$bin/$b") is missing; did the build produce it?"
    done
    cluster_spawn "$tag-coordinator" -- "$bin/junction-coordinator"
    cluster_spawn "$tag-worker-1" "JUNCTION_WORKER__ID=$tag-worker-1" -- "$bin/junction-worker"
    cluster_spawn "$tag-worker-2" "JUNCTION_WORKER__ID=$tag-worker-2" -- "$bin/junction-worker"
    cluster_spawn "$tag-agents" -- "$bin/junction-example-agents"
}

# cluster_log_tail NAME [LINES]: print the end of a process's log.
cluster_log_tail() {
    local log="$STATE_DIR/$1.log"
    printf -- '---- last %s lines of %s ----\n' "${2:-40}" "$(rel "$log")" >&2
    tail -n "${2:-40}" "$log" >&2 2>/dev/null || true
    printf -- '----\n' >&2
}

# cluster_check_alive: fail with the log tail if a cluster process died.
cluster_check_alive() {
    local i
    for i in "${!CLUSTER_PIDS[@]}"; do
        if ! pid_alive "${CLUSTER_PIDS[$i]}"; then
            cluster_log_tail "${CLUSTER_NAMES[$i]}"
            die "${CLUSTER_NAMES[$i]} (pid ${CLUSTER_PIDS[$i]}) exited unexpectedly"
        fi
    done
}

# cluster_wait_ready CLI [SECONDS]: poll `CLI members` until it exits 0 and
# its output mentions a coordinator (default 60 s). On timeout, or if the
# coordinator dies, print the tail of its log and exit 1.
cluster_wait_ready() {
    local cli=$1 limit=${2:-60} deadline out=""
    local coord_pid=${CLUSTER_PIDS[0]} coord_name=${CLUSTER_NAMES[0]}
    say "waiting for the coordinator to answer \`junction members\` (up to ${limit} s)"
    deadline=$((SECONDS + limit))
    while :; do
        if out=$(with_timeout 10 "$cli" members 2>&1) && grep -q coordinator <<<"$out"; then
            break
        fi
        if ! pid_alive "$coord_pid"; then
            cluster_log_tail "$coord_name"
            die "the coordinator exited during startup"
        fi
        if ((SECONDS >= deadline)); then
            printf -- '---- last output of `junction members` ----\n%s\n' "$out" >&2
            cluster_log_tail "$coord_name"
            die "the coordinator was not ready after ${limit} s"
        fi
        sleep 1
    done
    cluster_check_alive
    say "coordinator ready"
    cluster_print_http "$cli"
}

# cluster_http_addr CLI: the coordinator's HTTP address (host:port), as
# `junction members` lists it (JUNCTION_HTTP__LISTEN uses port 0, so it is
# picked at startup). Empty when no coordinator lists one.
cluster_http_addr() {
    with_timeout 10 "$1" members -o jsonl 2>/dev/null |
        grep '"role":"coordinator"' | head -n 1 |
        sed -n 's/.*"http_addr":"\([^"]*\)".*/\1/p'
}

# cluster_print_http CLI: print the coordinator's HTTP address and its web UI.
cluster_print_http() {
    local addr
    addr=$(cluster_http_addr "$1") || true
    if [[ -n "$addr" ]]; then
        say "coordinator HTTP API: http://$addr (web UI: http://$addr/ui/)"
    else
        warn "\`junction members\` lists no HTTP address for the coordinator"
    fi
}
