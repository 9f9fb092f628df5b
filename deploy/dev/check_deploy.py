#!/usr/bin/env python3
"""Checks behind deploy/dev/check-deploy.sh (run it, not this file, which
needs the tool venv the script makes: PyYAML and kubernetes-validate).

  check_deploy.py manifests --k8s 1.31.0 [--defaults] FILE...
      Validates every manifest of each `helm template` output FILE with
      kubernetes-validate in strict mode (unknown fields are errors) against
      that Kubernetes version. Custom resources (KEDA ScaledObject, Prometheus
      Operator ServiceMonitor and PrometheusRule) have no schema there: they
      are skipped by kind and get the structural checks below instead. Then
      checks what the chart promises: hardened pods (non-root, read-only
      root filesystem, no privilege escalation, capabilities dropped,
      RuntimeDefault seccomp, resources), probes on /healthz and /readyz,
      0.0.0.0 listen addresses, a grace period above the drain deadline, a
      TOML file that parses with the documented keys, no Secret, selectors
      that select, the migrations hook, KEDA on the right stream and
      consumer, the alert rules equal to deploy/prometheus/alerts.yaml.
      --defaults adds what the default values promise (>= 2 coordinators, a
      PodDisruptionBudget, no example agents).

  check_deploy.py chart-readme CHART_DIR
      Checks that CHART_DIR/README.md names every value of values.yaml (as
      `a.b.c`), descending into the maps values.schema.json describes key
      by key (free-form maps such as resources are one value).

  check_deploy.py compose FILE
      Parses a compose file and checks that it references only files and
      services that exist, that images are pinned, and that the OTel
      collector and Prometheus configuration files it mounts are coherent.

Exit status 1 with one line per problem when a check fails.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from pathlib import Path

import yaml

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]

# Kinds kubernetes-validate has no schema for (CRDs), checked structurally here.
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}

TOML_KEYS = {
    "database": {"pool_size"},
    "nats": {"url", "prefix", "events_max_age_seconds", "stream_replicas"},
    "worker": {"concurrency", "lease_seconds"},
    "coordinator": {"concurrency", "relay_grace_ms", "relay_interval_ms", "lost_task_seconds"},
    "shutdown": {"drain_seconds"},
    "limits": {"payload_bytes", "signal_bytes"},
}

# Keys rendered only when their value is set, and the keys holding text.
OPTIONAL_TOML_KEYS = {"coordinator": {"trace_url"}}
TEXT_TOML_KEYS = {"url", "prefix", "trace_url"}


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def check(self, ok: bool, where: str, message: str) -> None:
        if not ok:
            self.add(where, message)


# ------------------------------------------------------------ manifests ----


def load_docs(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d]


def check_files_mounted(where: str, spec: dict, problems: "Problems") -> None:
    """Every file a container's environment names under /etc/junction (a
    tokens file, NATS credentials) is inside one of its volume mounts, from
    a volume the pod has."""
    volumes = {v["name"] for v in spec.get("volumes", [])}
    for c in spec.get("containers", []):
        mounts = c.get("volumeMounts", [])
        for m in mounts:
            problems.check(m["name"] in volumes, where, f"{c['name']} mounts {m['name']!r}, which the pod does not define")
        for e in c.get("env", []):
            value = e.get("value") or ""
            if e["name"].endswith("_FILE") and value.startswith("/etc/junction/"):
                inside = any(value == m["mountPath"] or value.startswith(m["mountPath"].rstrip("/") + "/") for m in mounts)
                problems.check(inside, where, f"{c['name']}: {e['name']}={value} is in no volume mount")


def name_of(doc: dict) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def patch_kubernetes_validate_cache() -> None:
    """kubernetes-validate reads its (large) definitions file once per
    resource; read each schema file once."""
    import kubernetes_validate.utils as kv

    kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)


def validate_schemas(path: Path, docs: list[dict], version: str, problems: Problems) -> tuple[int, int]:
    import kubernetes_validate.utils as kv

    validated = skipped = 0
    for doc in docs:
        where = f"{path.name} {name_of(doc)}"
        if (doc.get("apiVersion"), doc.get("kind")) in CUSTOM_KINDS:
            skipped += 1
            continue
        try:
            kv.validate(doc, version, strict=True)
            validated += 1
        except kv.ValidationError as e:
            field = ".".join(str(p) for p in e.path)
            problems.add(where, f"kubernetes-validate (strict, {version}): {field}: {e.message}")
        except kv.SchemaNotFoundError as e:
            problems.add(where, f"no schema for it in kubernetes {version}: {e.message}")
    return validated, skipped


def pod_spec(doc: dict) -> dict | None:
    if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return doc["spec"]["template"]["spec"]
    return None


def env_map(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def labels_match(selector: dict, labels: dict) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        value = labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


def check_pod_hardening(where: str, spec: dict, problems: Problems) -> None:
    psc = spec.get("securityContext") or {}
    problems.check(psc.get("runAsNonRoot") is True, where, "pod securityContext.runAsNonRoot is not true")
    problems.check((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", where,
                   "pod seccompProfile is not RuntimeDefault")
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext") or {}
        problems.check(sc.get("allowPrivilegeEscalation") is False, cw, "allowPrivilegeEscalation is not false")
        problems.check(sc.get("readOnlyRootFilesystem") is True, cw, "readOnlyRootFilesystem is not true")
        problems.check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), cw, "capabilities do not drop ALL")
        problems.check(sc.get("privileged") in (None, False), cw, "privileged")
        res = c.get("resources") or {}
        problems.check(bool((res.get("requests") or {}).get("cpu")), cw, "no cpu request")
        problems.check(bool((res.get("requests") or {}).get("memory")), cw, "no memory request")
        problems.check(bool((res.get("limits") or {}).get("memory")), cw, "no memory limit")
        image = c.get("image", "")
        problems.check(bool(image) and not image.endswith(":latest") and (":" in image or "@" in image), cw,
                       f"image {image!r} is not pinned to a tag or digest")
        problems.check(bool(c.get("command")) and c["command"][0].startswith("/usr/local/bin/junction"), cw,
                       "command is not a Junction binary by absolute path (the image has no shell)")


def check_http_process(where: str, doc: dict, component: str, port: int, drain: int, problems: Problems) -> None:
    spec = pod_spec(doc)
    assert spec is not None
    c = spec["containers"][0]
    env = env_map(c)
    listen = env.get("JUNCTION_HTTP__LISTEN", {}).get("value")
    problems.check(listen == f"0.0.0.0:{port}", where, f"JUNCTION_HTTP__LISTEN is {listen!r}, not 0.0.0.0:{port}")
    problems.check(env.get(f"JUNCTION_{component.upper()}__ID", {}).get("value") == "$(POD_NAME)", where,
                   "member id is not the pod name")
    db = env.get("JUNCTION_DATABASE__URL", {})
    problems.check("secretKeyRef" in db.get("valueFrom", {}), where, "JUNCTION_DATABASE__URL does not come from a Secret")
    problems.check(any(p.get("containerPort") == port and p.get("name") == "http" for p in c.get("ports", [])), where,
                   f"no container port http={port}")
    live = (c.get("livenessProbe") or {}).get("httpGet") or {}
    ready = (c.get("readinessProbe") or {}).get("httpGet") or {}
    problems.check(live.get("path") == "/healthz", where, "livenessProbe is not GET /healthz")
    problems.check(ready.get("path") == "/readyz", where, "readinessProbe is not GET /readyz")
    grace = spec.get("terminationGracePeriodSeconds", 30)
    problems.check(grace > drain, where,
                   f"terminationGracePeriodSeconds {grace} is not above shutdown.drain_seconds {drain}")
    mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
    problems.check("/etc/junction/junction.toml" in mounts, where, "the TOML config file is not mounted")


def check_manifests(path: Path, version: str, defaults: bool, problems: Problems) -> str:
    docs = load_docs(path)
    validated, skipped = validate_schemas(path, docs, version, problems)
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    where = path.name

    names = [name_of(d) for d in docs]
    dupes = {n for n in names if names.count(n) > 1}
    problems.check(not dupes, where, f"resources rendered twice: {sorted(dupes)}")
    problems.check("Secret" not in by_kind, where, "the chart renders a Secret (secrets must come from existingSecret)")

    # The TOML file and the env ConfigMap.
    config_maps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    toml_cm = [d for n, d in config_maps.items() if n.endswith("-config")]
    drain = 30
    prefix = ""
    if len(toml_cm) != 1:
        problems.add(where, "expected one <fullname>-config ConfigMap")
    else:
        try:
            config = tomllib.loads(toml_cm[0]["data"]["junction.toml"])
            for section, keys in TOML_KEYS.items():
                got = set(config.get(section, {})) - OPTIONAL_TOML_KEYS.get(section, set())
                problems.check(got == keys, where, f"junction.toml [{section}] has {sorted(got)}, expected {sorted(keys)}")
            problems.check(not (set(config) - set(TOML_KEYS)), where, f"junction.toml has unknown sections {sorted(set(config) - set(TOML_KEYS))}")
            for section, values in config.items():
                for key, value in values.items():
                    if key not in TEXT_TOML_KEYS:
                        problems.check(isinstance(value, int) and not isinstance(value, bool), where,
                                       f"junction.toml {section}.{key} = {value!r} is not an integer")
            drain = config["shutdown"]["drain_seconds"]
            prefix = config["nats"]["prefix"]
        except (tomllib.TOMLDecodeError, KeyError) as e:
            problems.add(where, f"junction.toml does not parse: {e}")
    env_cm = [d for n, d in config_maps.items() if n.endswith("-env")]
    problems.check(len(env_cm) == 1 and env_cm[0]["data"].get("JUNCTION_CONFIG") == "/etc/junction/junction.toml",
                   where, "the -env ConfigMap does not set JUNCTION_CONFIG=/etc/junction/junction.toml")

    # Workloads.
    deployments = {d["metadata"]["labels"].get("app.kubernetes.io/component"): d for d in by_kind.get("Deployment", [])}
    for d in by_kind.get("Deployment", []) + by_kind.get("Job", []):
        spec = pod_spec(d)
        check_pod_hardening(f"{where} {name_of(d)}", spec, problems)
        check_files_mounted(f"{where} {name_of(d)}", spec, problems)
        if d["kind"] == "Deployment":
            problems.check(labels_match(d["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"]),
                           f"{where} {name_of(d)}", "selector does not match its pod labels")
    for component, port in (("coordinator", 8080), ("worker", 8081)):
        d = deployments.get(component)
        if d is None:
            problems.add(where, f"no {component} Deployment")
            continue
        check_http_process(f"{where} {name_of(d)}", d, component, port, drain, problems)
    if "coordinator" in deployments:
        args = deployments["coordinator"]["spec"]["template"]["spec"]["containers"][0].get("args")
        problems.check(args == ["serve"], where, f"coordinator args {args!r}, expected ['serve']")

    # Migrations hook.
    jobs = by_kind.get("Job", [])
    for j in jobs:
        ann = j["metadata"].get("annotations") or {}
        jw = f"{where} {name_of(j)}"
        problems.check(set(ann.get("helm.sh/hook", "").split(",")) == {"pre-install", "pre-upgrade"}, jw,
                       "not a pre-install,pre-upgrade hook")
        c = j["spec"]["template"]["spec"]["containers"][0]
        problems.check(c["command"] == ["/usr/local/bin/junction-coordinator"] and c.get("args") == ["migrate"], jw,
                       "does not run junction-coordinator migrate")
        problems.check(not c.get("envFrom") and not any("configMap" in v for v in j["spec"]["template"]["spec"].get("volumes", [])),
                       jw, "uses a ConfigMap, which does not exist yet when a pre-install hook runs")

    # Services and PDBs select pods that exist.
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in by_kind.get("Deployment", [])]
    for s in by_kind.get("Service", []):
        problems.check(any(labels_match({"matchLabels": s["spec"]["selector"]}, l) for l in pod_labels),
                       f"{where} {name_of(s)}", "selects no pod of the chart")
    for p in by_kind.get("PodDisruptionBudget", []):
        problems.check(any(labels_match(p["spec"]["selector"], l) for l in pod_labels),
                       f"{where} {name_of(p)}", "selects no pod of the chart")

    # Autoscaling.
    asset = f"{prefix.upper()}_" if prefix else ""
    worker = deployments.get("worker")
    scalers = by_kind.get("ScaledObject", []) + by_kind.get("HorizontalPodAutoscaler", [])
    problems.check(len(scalers) <= 1, where, "both a ScaledObject and an HPA")
    for so in by_kind.get("ScaledObject", []):
        sw = f"{where} {name_of(so)}"
        spec = so["spec"]
        problems.check(worker is not None and spec["scaleTargetRef"]["name"] == worker["metadata"]["name"], sw,
                       "does not target the worker Deployment")
        problems.check(worker is not None and "replicas" not in worker["spec"], sw,
                       "the worker Deployment sets replicas although KEDA owns them")
        trig = [t for t in spec["triggers"] if t["type"] == "nats-jetstream"]
        problems.check(len(trig) == 1, sw, "expected one nats-jetstream trigger")
        if trig:
            md = trig[0]["metadata"]
            problems.check(md.get("stream") == f"{asset}WORKFLOW_TASKS", sw, f"stream {md.get('stream')!r}, expected {asset}WORKFLOW_TASKS")
            problems.check(md.get("consumer") == f"{asset}WORKERS", sw, f"consumer {md.get('consumer')!r}, expected {asset}WORKERS")
            for key in ("natsServerMonitoringEndpoint", "account", "lagThreshold"):
                problems.check(isinstance(md.get(key), str) and md[key] != "", sw, f"trigger metadata {key} missing or not a string")
            problems.check(all(isinstance(v, str) for v in md.values()), sw, "trigger metadata values must all be strings")
        problems.check(0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], sw, "minReplicaCount above maxReplicaCount")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        problems.check(worker is not None and "replicas" not in worker["spec"], f"{where} {name_of(hpa)}",
                       "the worker Deployment sets replicas although the HPA owns them")

    # Prometheus Operator resources.
    for sm in by_kind.get("ServiceMonitor", []):
        sw = f"{where} {name_of(sm)}"
        services = [s for s in by_kind.get("Service", []) if labels_match(sm["spec"]["selector"], s["metadata"]["labels"])]
        comps = sorted(s["metadata"]["labels"].get("app.kubernetes.io/component") for s in services)
        problems.check(comps == ["coordinator", "worker"], sw, f"selects the Services of {comps}, expected coordinator and worker")
        for ep in sm["spec"]["endpoints"]:
            problems.check(ep.get("port") == "http" and ep.get("path") == "/metrics", sw, "endpoint is not port http, path /metrics")
            relabel = [r for r in ep.get("relabelings", []) if r.get("targetLabel") == "job"]
            problems.check(bool(relabel) and relabel[0].get("replacement") == "junction-$1", sw,
                           "does not set job=junction-<component> (the dashboards and alerts select on it)")
    alerts = yaml.safe_load((REPO / "deploy/prometheus/alerts.yaml").read_text())
    for pr in by_kind.get("PrometheusRule", []):
        problems.check(pr["spec"].get("groups") == alerts["groups"], f"{where} {name_of(pr)}",
                       "rules differ from deploy/prometheus/alerts.yaml")
        for group in pr["spec"].get("groups", []):
            for rule in group.get("rules", []):
                problems.check(bool(rule.get("expr")) and bool(rule.get("alert") or rule.get("record")),
                               f"{where} {name_of(pr)}", f"malformed rule {rule!r}")

    if defaults:
        coord = deployments.get("coordinator")
        problems.check(coord is not None and coord["spec"].get("replicas", 1) >= 2, where, "defaults: fewer than 2 coordinators")
        problems.check(any(p["metadata"]["name"].endswith("-coordinator") for p in by_kind.get("PodDisruptionBudget", [])),
                       where, "defaults: no PodDisruptionBudget for the coordinators")
        problems.check("example-agents" not in deployments, where, "defaults: the example agents are on")
        problems.check(len(jobs) == 1, where, "defaults: no migrations Job")

    kinds = ", ".join(f"{k} {len(v)}" for k, v in sorted(by_kind.items()))
    return f"{path.name}: {len(docs)} manifests ({kinds}); {validated} valid against Kubernetes {version} (strict), {skipped} custom resources checked structurally"


# --------------------------------------------------------- chart README ----


def value_paths(values: object, schema: dict, definitions: dict, prefix: str = "") -> list[str]:
    """Leaf paths of values, descending where the schema lists properties."""
    while "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[1]]
    props = schema.get("properties")
    if isinstance(values, dict) and props and not str(schema.get("$comment", "")).startswith("leaf"):
        paths = []
        for key, value in values.items():
            paths += value_paths(value, props.get(key, {}), definitions, f"{prefix}{key}.")
        return paths
    return [prefix.rstrip(".")]


def check_chart_readme(chart: Path, problems: Problems) -> str:
    import json

    values = yaml.safe_load((chart / "values.yaml").read_text())
    schema = json.loads((chart / "values.schema.json").read_text())
    readme = (chart / "README.md").read_text()
    paths = value_paths(values, schema, schema.get("definitions", {}))
    for path in paths:
        problems.check(f"`{path}`" in readme, str((chart / "README.md").relative_to(REPO)), f"value `{path}` is not listed")
    return f"{chart.relative_to(REPO)}/README.md lists all {len(paths)} values"


# -------------------------------------------------------------- compose ----

PINNED = re.compile(r"^[^:@]+(:[^:@]+|@sha256:[a-f0-9]{64})$")


def check_compose(path: Path, problems: Problems) -> str:
    base = path.parent
    where = str(path.relative_to(REPO))
    doc = yaml.safe_load(path.read_text())
    services = doc.get("services") or {}
    problems.check(bool(services), where, "no services")
    volumes = set((doc.get("volumes") or {}).keys())
    configs = doc.get("configs") or {}
    files: set[Path] = set()

    def rel_file(p: str, w: str, what: str) -> Path:
        resolved = (base / p).resolve()
        problems.check(resolved.exists(), w, f"{what} {p} does not exist ({resolved})")
        files.add(resolved)
        return resolved

    for cname, c in configs.items():
        if "file" in c:
            rel_file(c["file"], f"{where} configs.{cname}", "file")

    for name, svc in services.items():
        w = f"{where} services.{name}"
        problems.check(bool(svc.get("image") or svc.get("build")), w, "neither image nor build")
        if svc.get("image"):
            problems.check(bool(PINNED.match(svc["image"])) and not svc["image"].endswith(":latest"), w,
                           f"image {svc['image']!r} is not pinned to a version tag or digest")
        build = svc.get("build")
        if build:
            ctx = build if isinstance(build, str) else build.get("context", ".")
            ctx_path = rel_file(ctx, w, "build context")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            problems.check((ctx_path / dockerfile).exists(), w, f"Dockerfile {dockerfile} not in {ctx}")
        for v in svc.get("volumes", []):
            src = v.get("source") if isinstance(v, dict) else v.split(":")[0]
            kind = v.get("type") if isinstance(v, dict) else ("bind" if src.startswith((".", "/")) else "volume")
            if kind == "bind":
                rel_file(src, w, "bind mount")
            else:
                problems.check(src in volumes, w, f"named volume {src} is not declared under volumes:")
        for cfg in svc.get("configs", []):
            cname = cfg if isinstance(cfg, str) else cfg["source"]
            problems.check(cname in configs, w, f"config {cname} is not declared under configs:")
        for f in svc.get("env_file", []) if isinstance(svc.get("env_file"), list) else ([svc["env_file"]] if svc.get("env_file") else []):
            rel_file(f if isinstance(f, str) else f["path"], w, "env_file")
        deps = svc.get("depends_on") or {}
        for dep in deps if isinstance(deps, list) else deps.keys():
            problems.check(dep in services, w, f"depends_on unknown service {dep}")
            if isinstance(deps, dict):
                cond = deps[dep].get("condition", "service_started")
                problems.check(cond in ("service_started", "service_healthy", "service_completed_successfully"), w,
                               f"depends_on {dep}: unknown condition {cond}")
                if cond == "service_healthy":
                    problems.check("healthcheck" in services.get(dep, {}), w, f"depends_on {dep} being healthy, which has no healthcheck")
        env = svc.get("environment") or {}
        env = dict(e.split("=", 1) for e in env) if isinstance(env, list) else env
        for key, value in env.items():
            if isinstance(value, str):
                for host in re.findall(r"(?:nats|postgres(?:ql)?|https?)://(?:[^@/]*@)?([A-Za-z0-9_.-]+)", value):
                    problems.check(host in services or host in ("127.0.0.1", "localhost"), w,
                                   f"{key} points at host {host}, which is no service")

    # The collector's pipelines use receivers, processors and exporters it defines.
    for f in sorted(files):
        if f.is_file() and f.suffix in (".yaml", ".yml"):
            try:
                content = yaml.safe_load(f.read_text())
            except yaml.YAMLError as e:
                problems.add(str(f.relative_to(REPO)), f"does not parse: {e}")
                continue
            if isinstance(content, dict) and "service" in content and "receivers" in content:
                fw = str(f.relative_to(REPO))
                for pname, p in content["service"].get("pipelines", {}).items():
                    for part in ("receivers", "processors", "exporters"):
                        for comp in p.get(part, []):
                            problems.check(comp in (content.get(part) or {}), fw, f"pipeline {pname} uses undefined {part[:-1]} {comp}")
            if isinstance(content, dict) and "scrape_configs" in content:
                fw = str(f.relative_to(REPO))
                jobs = {s["job_name"] for s in content["scrape_configs"]}
                problems.check({"junction-coordinator", "junction-worker"} <= jobs, fw,
                               "Prometheus must scrape jobs junction-coordinator and junction-worker (the dashboards and alerts select on them)")
                for s in content["scrape_configs"]:
                    for sc in s.get("static_configs", []):
                        for t in sc.get("targets", []):
                            host = t.rsplit(":", 1)[0]
                            problems.check(host in services, fw, f"scrape target {t}: no service {host}")
        elif f.is_file() and f.suffix == ".json":
            import json

            try:
                json.loads(f.read_text())
            except ValueError as e:
                problems.add(str(f.relative_to(REPO)), f"does not parse: {e}")
    return f"{where}: {len(services)} services ({', '.join(services)}), {len(files)} referenced files and directories exist"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("manifests")
    m.add_argument("--k8s", required=True)
    m.add_argument("--defaults", action="store_true")
    m.add_argument("files", nargs="+", type=Path)
    r = sub.add_parser("chart-readme")
    r.add_argument("chart", type=Path)
    c = sub.add_parser("compose")
    c.add_argument("file", type=Path)
    args = parser.parse_args()

    problems = Problems()
    if args.cmd == "manifests":
        patch_kubernetes_validate_cache()
        summaries = [check_manifests(f, args.k8s, args.defaults, problems) for f in args.files]
    elif args.cmd == "chart-readme":
        summaries = [check_chart_readme(args.chart.resolve(), problems)]
    else:
        summaries = [check_compose(args.file.resolve(), problems)]
    for line in problems.items:
        print(f"FAIL {line}", file=sys.stderr)
    if problems.items:
        return 1
    for s in summaries:
        print(f"    {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
