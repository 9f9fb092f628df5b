#!/usr/bin/env bash
#
# deploy/dev/schemathesis.sh: checks that the coordinator's OpenAPI document
# is true to the server, with Schemathesis (PyPI `schemathesis`), in a venv
# of its own under .junction-dev/venv-schemathesis.
#
#   deploy/dev/schemathesis.sh install
#       create the venv and install the pinned Schemathesis (idempotent).
#   deploy/dev/schemathesis.sh run BASE_URL [ST_ARGS...]
#       install if needed, then `st run BASE_URL/v1/openapi.json --checks all
#       --max-examples 20` with deploy/dev/schemathesis.toml; exit 0 only
#       when no check failed. Extra arguments go to `st run` (--seed N).
#
# e2e/tests/openapi_schemathesis.rs runs it against a cluster of the test
# harness; deploy/dev/test.sh installs the venv first (services.sh
# --test-tools). Needs python3 with the venv module (Debian: python3-venv).

set -euo pipefail

# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCHEMATHESIS_VERSION=4.32.5
VENV="$STATE_DIR/venv-schemathesis"
ST="$VENV/bin/st"

st_installed() {
    [[ -x "$ST" ]] && "$ST" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"
}

install() {
    if st_installed; then
        say "schemathesis: $SCHEMATHESIS_VERSION in $(rel "$VENV")"
        return 0
    fi
    need python3 "install python3 (Debian: python3 python3-venv)"
    mkdir -p "$STATE_DIR"
    if [[ ! -x "$VENV/bin/pip" ]]; then
        say "schemathesis: creating the venv $(rel "$VENV")"
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    say "schemathesis: installing schemathesis==$SCHEMATHESIS_VERSION from PyPI"
    local log="$STATE_DIR/schemathesis-install.log"
    if ! "$VENV/bin/pip" install --disable-pip-version-check -q "schemathesis==$SCHEMATHESIS_VERSION" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "pip install schemathesis failed (log: $(rel "$log"))"
    fi
    st_installed || die "schemathesis installed, but $(rel "$ST") does not run"
    say "schemathesis: installed"
}

run() {
    local base=${1:-}
    [[ -n "$base" ]] || die "usage: schemathesis.sh run BASE_URL [ST_ARGS...]"
    shift
    install
    # Schemathesis keeps a cache in the working directory: keep it in ours.
    cd "$STATE_DIR"
    say "schemathesis: st run ${base%/}/v1/openapi.json --checks all --max-examples 20 $*"
    NO_COLOR=1 "$ST" --config-file "$DEV_DIR/schemathesis.toml" run "${base%/}/v1/openapi.json" \
        --checks all --max-examples 20 --generation-database none --no-color "$@"
}

case "${1:-}" in
install) install ;;
run)
    shift
    run "$@"
    ;;
*) die "usage: schemathesis.sh install | run BASE_URL [ST_ARGS...]" ;;
esac
