#!/usr/bin/env bash
#
# deploy/dev/python-env.sh: the Python environment the end-to-end tests that
# speak the protocol from Python use (the example agent in
# examples/agents/python/, the CloudEvents SDK signals), made idempotently:
#
#   .junction-dev/venv   a virtual environment (gitignored) with the packages
#                        of examples/agents/python/requirements.txt
#                        (nats-py, cloudevents)
#
# It creates the venv with `python3 -m venv` (installing the Debian package
# python3-venv with apt-get when the module is missing) and installs the
# requirements with the venv's pip, only when the requirements file changed
# since the last install (its copy is kept in the venv). deploy/dev/test.sh
# runs it before the tests; the tests fail, naming this script, when the venv
# is missing. Prints the venv's python on its last line.

set -euo pipefail

# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VENV="$STATE_DIR/venv"
REQUIREMENTS="$REPO_ROOT/examples/agents/python/requirements.txt"

need python3 "install Python 3 (Debian: apt-get install python3)"

if [[ ! -x "$VENV/bin/python" ]]; then
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        say "python3 has no venv module; installing python3-venv (apt-get)"
        sudo_if_needed=""
        [[ "$(id -u)" -ne 0 ]] && sudo_if_needed="sudo"
        $sudo_if_needed apt-get update -qq
        $sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    fi
    say "creating the Python venv $VENV"
    mkdir -p "$STATE_DIR"
    python3 -m venv "$VENV"
fi

if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.installed"; then
    say "installing $REQUIREMENTS into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$VENV/requirements.installed"
else
    say "Python venv $VENV is up to date"
fi

echo "$VENV/bin/python"
