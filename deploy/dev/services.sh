#!/usr/bin/env bash
#
# deploy/dev/services.sh: make the two services Junction needs reachable on
# this machine, idempotently, printing one "==>" line per action.
#
#   Postgres  127.0.0.1:5432, user postgres, database "junction"
#             (the default JUNCTION_DATABASE__URL is
#             postgres://postgres@127.0.0.1:5432/junction)
#   NATS      127.0.0.1:4222 with JetStream
#
# If something already listens on a port it is used as is. Otherwise, on a
# Debian/Ubuntu machine, the script installs the missing package (apt-get,
# through sudo when not root) and starts the service in the background
# without systemd:
#   - Postgres: the newest cluster in /etc/postgresql, "main" (created if
#     missing), via pg_ctlcluster. Its pg_hba.conf is changed to TRUST every
#     TCP connection from 127.0.0.1 and ::1, for all users. That is for local
#     development only.
#   - NATS: /usr/sbin/nats-server -js, store in /var/lib/nats-server, log in
#     /var/log/nats-server.log.
#
# JetStream is checked for real: a `$JS.API.INFO` request (spoken over
# bash's /dev/tcp, lib.sh nats_request). When the server already on
# 127.0.0.1:4222 lacks JetStream, the script starts its own nats-server with
# -js on 127.0.0.1:4223 (store and log under .junction-dev/) and records
# JUNCTION_NATS__URL=nats://127.0.0.1:4223 in .junction-dev/nats.env, which
# test.sh, demo.sh and bench.sh export; export it yourself for other uses.
#
# With --test-tools it also makes sure `promtool` and `prometheus` are
# installed (Debian package prometheus, without its recommends): the
# end-to-end metrics tests pipe /metrics through promtool, and the
# dashboards and alerts test (e2e/tests/dashboards) runs a Prometheus
# server of its own on a free port; and the Schemathesis venv that
# e2e/tests/openapi_schemathesis.rs runs (deploy/dev/schemathesis.sh
# install); deploy/dev/test.sh passes it. Should the package start the
# Prometheus server as a service, it is stopped and disabled again: only
# the binaries are needed.
# It also installs Debian's chromium and chromium-driver for the web UI's
# browser tests (e2e/tests/ui/, driven over WebDriver).
#
# The addresses are fixed on purpose (no JUNCTION_PG_HOST and the like): the
# scripts in deploy/dev/ and Junction's built-in defaults all assume them
# (but for NATS without JetStream, above).
# To use services somewhere else, skip this script and set
# JUNCTION_DATABASE__URL and JUNCTION_NATS__URL yourself.

set -euo pipefail

# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_DB=junction
NATS_BIN=/usr/sbin/nats-server
NATS_STORE=/var/lib/nats-server
NATS_LOG=/var/log/nats-server.log
HBA_MARKER="# junction dev (deploy/dev/services.sh): trust local TCP connections. DEV ONLY."

TEST_TOOLS=0
for arg in "$@"; do
    case "$arg" in
    --test-tools) TEST_TOOLS=1 ;;
    *) die "unknown argument '$arg' (usage: services.sh [--test-tools])" ;;
    esac
done

# ------------------------------------------------------------- helpers ----

# as_root CMD...: run CMD as root (directly, or through sudo).
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' (not root and sudo is not installed)"
    fi
}

deb_installed() {
    command -v dpkg-query >/dev/null 2>&1 &&
        dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

APT_UPDATED=0
# apt_install PACKAGE...: apt-get update (once), then install quietly; shows
# apt's output only when it fails.
apt_install() {
    local out
    need apt-get "not a Debian/Ubuntu system: install and start $* yourself"
    out=$(mktemp)
    if ((!APT_UPDATED)); then
        say "apt: updating package lists"
        as_root apt-get update >"$out" 2>&1 || {
            cat "$out" >&2
            rm -f "$out"
            die "apt-get update failed"
        }
        APT_UPDATED=1
    fi
    say "apt: installing $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >"$out" 2>&1 || {
        cat "$out" >&2
        rm -f "$out"
        die "apt-get install $* failed"
    }
    rm -f "$out"
}

# wait_for SECONDS CMD...: poll CMD every half second until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.5
    done
}

# ------------------------------------------------------------ postgres ----

pg_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2
    else
        tcp_open "$PG_HOST" "$PG_PORT"
    fi
}

# Newest installed major version, preferring ones that have a cluster config.
pg_version() {
    local v
    v=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1) || true
    if [[ -z "$v" ]]; then
        v=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1) || true
    fi
    printf '%s' "$v"
}

# pg_hba_trust VERSION: put trust lines for 127.0.0.1 and ::1 at the top of
# the cluster's pg_hba.conf (first match wins). Returns 1 if already done.
pg_hba_trust() {
    local hba="/etc/postgresql/$1/main/pg_hba.conf" tmp
    [[ -f "$hba" ]] || die "postgres: $hba not found"
    if as_root grep -qF "$HBA_MARKER" "$hba"; then
        return 1
    fi
    tmp=$(mktemp)
    {
        printf '%s\n' "$HBA_MARKER" \
            'host    all    all    127.0.0.1/32    trust' \
            'host    all    all    ::1/128         trust' \
            ''
        as_root cat "$hba"
    } >"$tmp"
    # cp into the existing file keeps its owner and mode.
    as_root cp "$tmp" "$hba" || {
        rm -f "$tmp"
        die "postgres: could not write $hba"
    }
    rm -f "$tmp"
    say "postgres: $hba now TRUSTS all TCP connections from 127.0.0.1 and ::1, any user (dev only, never in production)"
}

# Start (or reload) the local cluster, installing Postgres when needed.
pg_start_local() {
    local version port
    if deb_installed postgresql; then
        say "postgres: nothing listening on $PG_HOST:$PG_PORT; package postgresql is installed"
    else
        say "postgres: nothing listening on $PG_HOST:$PG_PORT and package postgresql is missing"
        apt_install postgresql
    fi
    need pg_ctlcluster "it comes with the Debian package postgresql-common"
    version=$(pg_version)
    [[ -n "$version" ]] || die "postgres: no installed server version found under /usr/lib/postgresql"
    if [[ ! -d "/etc/postgresql/$version/main" ]]; then
        say "postgres: creating cluster $version/main"
        as_root pg_createcluster "$version" main >/dev/null
    fi
    port=$(awk -v v="$version" '$1 == v && $2 == "main" { print $3 }' < <(pg_lsclusters -h 2>/dev/null)) || true
    if [[ -n "$port" && "$port" != "$PG_PORT" ]]; then
        die "postgres: cluster $version/main is configured for port $port, not $PG_PORT; set 'port = $PG_PORT' in /etc/postgresql/$version/main/postgresql.conf"
    fi
    pg_hba_trust "$version" || true
    if as_root pg_ctlcluster "$version" main status >/dev/null 2>&1; then
        say "postgres: cluster $version/main is already running; reloading its configuration"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    else
        say "postgres: starting cluster $version/main"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
    if ! wait_for 30 pg_ready; then
        tail -n 30 "/var/log/postgresql/postgresql-$version-main.log" >&2 2>/dev/null || true
        die "postgres: not accepting connections on $PG_HOST:$PG_PORT after 30 s"
    fi
    say "postgres: ready on $PG_HOST:$PG_PORT"
}

# Make sure user postgres can connect over TCP without a password. If the
# server refuses for authentication reasons and it is a local Debian cluster,
# switch it to trust (dev only) and reload.
pg_ensure_access() {
    local err version
    if err=$(pg_psql -c 'select 1' 2>&1 >/dev/null); then
        return 0
    fi
    version=$(pg_version)
    if grep -qiE 'password|authentication|pg_hba' <<<"$err" &&
        [[ -n "$version" && -f "/etc/postgresql/$version/main/pg_hba.conf" ]]; then
        say "postgres: password authentication refused for user $PG_USER over TCP"
        if pg_hba_trust "$version"; then
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
            say "postgres: reloaded cluster $version/main"
            sleep 1
        fi
        if err=$(pg_psql -c 'select 1' 2>&1 >/dev/null); then
            return 0
        fi
    fi
    die "postgres: cannot connect as $PG_USER to $PG_HOST:$PG_PORT without a password: $err"
}

pg_ensure_db() {
    local exists
    exists=$(pg_psql -tAc "select 1 from pg_database where datname='$PG_DB'") ||
        die "postgres: cannot query the database list"
    if [[ "$exists" == 1 ]]; then
        say "postgres: database $PG_DB exists"
    else
        PGCONNECT_TIMEOUT=5 createdb -w -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
        say "postgres: created database $PG_DB"
    fi
}

ensure_postgres() {
    if pg_ready; then
        say "postgres: already listening on $PG_HOST:$PG_PORT"
    else
        pg_start_local
    fi
    if ! command -v psql >/dev/null 2>&1 || ! command -v createdb >/dev/null 2>&1; then
        say "postgres: psql/createdb missing"
        apt_install postgresql-client
    fi
    pg_ensure_access
    pg_ensure_db
}

# ---------------------------------------------------------------- nats ----

# Our own JetStream server, for when the one on NATS_PORT lacks JetStream:
# run as this user, store and log under .junction-dev/.
OWN_NATS_PORT=4223
OWN_NATS_STORE="$STATE_DIR/nats-js"
OWN_NATS_LOG="$STATE_DIR/nats-js.log"
OWN_NATS_PID="$STATE_DIR/nats-js.pid"

# nats_use_own: make sure our own nats-server with JetStream listens on
# OWN_NATS_PORT, and record its URL in .junction-dev/nats.env, which
# test.sh, demo.sh and bench.sh export (dev_nats_env in lib.sh).
nats_use_own() {
    local url="nats://$NATS_HOST:$OWN_NATS_PORT" bin
    if tcp_open "$NATS_HOST" "$OWN_NATS_PORT"; then
        nats_jetstream_ok "$NATS_HOST" "$OWN_NATS_PORT" ||
            die "nats: $NATS_HOST:$OWN_NATS_PORT is taken by something without JetStream; free the port or restart the server on $NATS_PORT with -js"
        say "nats: our own JetStream server is already running on $NATS_HOST:$OWN_NATS_PORT"
    else
        bin=$(command -v nats-server || true)
        [[ -n "$bin" ]] || bin=$NATS_BIN
        if [[ ! -x "$bin" ]]; then
            apt_install nats-server
            bin=$NATS_BIN
        fi
        mkdir -p "$OWN_NATS_STORE"
        say "nats: starting our own $bin with JetStream on $NATS_HOST:$OWN_NATS_PORT (store $(rel "$OWN_NATS_STORE"), log $(rel "$OWN_NATS_LOG"))"
        nohup "$bin" -a "$NATS_HOST" -p "$OWN_NATS_PORT" -js -sd "$OWN_NATS_STORE" -l "$OWN_NATS_LOG" </dev/null >/dev/null 2>&1 &
        printf '%s\n' "$!" >"$OWN_NATS_PID"
        if ! wait_for 15 nats_jetstream_ok "$NATS_HOST" "$OWN_NATS_PORT"; then
            tail -n 30 "$OWN_NATS_LOG" >&2 2>/dev/null || true
            die "nats: our own server on $NATS_HOST:$OWN_NATS_PORT does not answer \$JS.API.INFO after 15 s"
        fi
    fi
    printf 'JUNCTION_NATS__URL=%s\n' "$url" >"$NATS_ENV_FILE"
    say "nats: JetStream at $url; use it with: export JUNCTION_NATS__URL=$url (test.sh, demo.sh and bench.sh read $(rel "$NATS_ENV_FILE"))"
}

# nats_check_existing HOW: the server on NATS_PORT answers, so ask it for
# JetStream for real ($JS.API.INFO); without it, use our own server.
nats_check_existing() {
    local how=$1
    if nats_jetstream_ok "$NATS_HOST" "$NATS_PORT"; then
        rm -f "$NATS_ENV_FILE"
        say "nats: $how on $NATS_HOST:$NATS_PORT, JetStream enabled (answered \$JS.API.INFO)"
        return 0
    fi
    warn "nats: the server on $NATS_HOST:$NATS_PORT does not answer \$JS.API.INFO: JetStream is off (or it is not a NATS server)"
    nats_use_own
}

ensure_nats() {
    mkdir -p "$STATE_DIR"
    if tcp_open "$NATS_HOST" "$NATS_PORT"; then
        nats_check_existing "already listening"
        return 0
    fi
    if [[ ! -x "$NATS_BIN" ]]; then
        say "nats: nothing listening on $NATS_HOST:$NATS_PORT and $NATS_BIN is missing"
        apt_install nats-server
        # A package with a service manager may have started it already.
        if tcp_open "$NATS_HOST" "$NATS_PORT"; then
            nats_check_existing "started by the package install"
            return 0
        fi
    fi
    need start-stop-daemon "it comes with the Debian package dpkg"
    as_root mkdir -p "$NATS_STORE"
    say "nats: starting $NATS_BIN with JetStream on $NATS_HOST:$NATS_PORT (store $NATS_STORE, log $NATS_LOG)"
    as_root start-stop-daemon --start --oknodo --background --exec "$NATS_BIN" -- \
        -a "$NATS_HOST" -p "$NATS_PORT" -js -sd "$NATS_STORE" -l "$NATS_LOG"
    if ! wait_for 15 tcp_open "$NATS_HOST" "$NATS_PORT"; then
        as_root tail -n 30 "$NATS_LOG" >&2 2>/dev/null || true
        die "nats: nothing listening on $NATS_HOST:$NATS_PORT after 15 s (is another nats-server already running with other options? see $NATS_LOG)"
    fi
    if ! wait_for 10 nats_jetstream_ok "$NATS_HOST" "$NATS_PORT"; then
        as_root tail -n 30 "$NATS_LOG" >&2 2>/dev/null || true
        die "nats: the server on $NATS_HOST:$NATS_PORT started but does not answer \$JS.API.INFO (see $NATS_LOG)"
    fi
    rm -f "$NATS_ENV_FILE"
    say "nats: ready on $NATS_HOST:$NATS_PORT with JetStream (answered \$JS.API.INFO)"
}

# ------------------------------------------------------------ promtool ----

# Stop and disable the Prometheus server if installing the package started
# it (through systemd, or the SysV script where there is no systemd).
prometheus_service_off() {
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        if systemctl is-active --quiet prometheus 2>/dev/null || systemctl is-enabled --quiet prometheus 2>/dev/null; then
            say "promtool: stopping and disabling the prometheus service the package started"
            as_root systemctl disable --now prometheus >/dev/null 2>&1 || warn "could not stop the prometheus service"
        fi
    elif [[ -x /etc/init.d/prometheus ]] && as_root /etc/init.d/prometheus status >/dev/null 2>&1; then
        say "promtool: stopping the prometheus server the package started"
        as_root /etc/init.d/prometheus stop >/dev/null 2>&1 || warn "could not stop the prometheus server"
    fi
}

ensure_promtool() {
    if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
        say "promtool: $(command -v promtool), prometheus: $(command -v prometheus)"
        return 0
    fi
    say "promtool: promtool or prometheus missing (the metrics tests check /metrics with promtool; e2e/tests/dashboards runs prometheus)"
    apt_install --no-install-recommends prometheus
    prometheus_service_off
    need promtool "it comes with the Debian package prometheus"
    need prometheus "it comes with the Debian package prometheus"
    say "promtool: installed at $(command -v promtool), prometheus at $(command -v prometheus)"
}

# The web UI's browser tests (e2e/tests/ui/) drive a headless Chromium
# through chromedriver (WebDriver).
ensure_chromium() {
    if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
        say "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present), chromedriver: /usr/bin/chromedriver"
        return 0
    fi
    say "chromium: chromium or chromedriver missing (the web UI's browser tests drive them over WebDriver)"
    apt_install --no-install-recommends chromium chromium-driver
    [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] ||
        die "the Debian packages chromium and chromium-driver did not install /usr/bin/chromium and /usr/bin/chromedriver"
    say "chromium: installed, with /usr/bin/chromedriver"
}

ensure_postgres
ensure_nats
if ((TEST_TOOLS)); then
    ensure_promtool
    ensure_chromium
    "$DEV_DIR/schemathesis.sh" install
fi
