//! The Grafana dashboards (`deploy/grafana/*.json`) and the Prometheus alert
//! rules (`deploy/prometheus/alerts.yaml`) against a real cluster and a real
//! Prometheus (Debian's `prometheus` package: `prometheus` and `promtool`
//! on the PATH; `deploy/dev/services.sh --test-tools` installs it).
//!
//! - `promtool check rules` accepts the rules and `promtool check config`
//!   the example `prometheus.yml`; docs/observability.md names every alert.
//! - Every dashboard takes its datasource from the `${datasource}` variable
//!   (no hard-coded datasource uid anywhere).
//! - The live test starts a coordinator, a worker and the example agents,
//!   starts Prometheus on a free port scraping both every second as jobs
//!   `junction-coordinator` and `junction-worker` and loading the rules,
//!   runs workflows (some complete, some fail, one waits for approval) and
//!   sends a malformed signal, then requires, polling with generous
//!   deadlines:
//!   - every panel target of every dashboard to evaluate (`status:
//!     success`) to a non-empty result, with `$__rate_interval` as `1m`,
//!     `$__interval` as `15s`, `$__range` as `5m` and each `query` template
//!     variable (`workflow_id`) as every workflow id the test used, after
//!     checking that the variable's `label_values(metric, label)` query
//!     offers those ids;
//!   - the runs counted by `junction_runs_total` to be what the test ran;
//!   - `JunctionSignalsRejected` to fire for the malformed signal.
//!
//! **Alert rules.** An alert's `expr` is empty on a healthy cluster by
//! design, so "the rule works" is checked in two parts. Each rule carries
//! an annotation `query`: the PromQL of the value the alert compares,
//! without the threshold (also what an operator graphs when it fires). The
//! test requires every rule Prometheus loaded (the same names as the file,
//! as many as promtool counted) to have a `severity` label and `summary`,
//! `description` and `query` annotations, to reach rule health `ok` (it was
//! evaluated without error), its `expr` to evaluate with `status: success`,
//! and its `query` to return data. Annotations rather than stripping the
//! comparison out of `expr` in the test: PromQL has no parser here, and an
//! `and` of two conditions has no single comparison to strip.

mod prometheus;
mod queries;

use anyhow::{Context, bail};
use junction_bus::ControlSubject;
use junction_e2e::{SHIP, TestEnv, chain_yaml};
use junction_example_agents::Registry;
use prometheus::{Prometheus, promtool};
use queries::Query;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const COORDINATOR_JOB: &str = "junction-coordinator";
const WORKER_JOB: &str = "junction-worker";
/// The workflows the live test runs: two `echo` steps, one `fail` step.
const COMPLETING: &str = "dash-ok";
const FAILING: &str = "dash-fail";
const COMPLETING_RUNS: usize = 5;
const FAILING_RUNS: usize = 2;
/// How long a run may take, and how long the queries may take to have data.
const WAIT: Duration = Duration::from_secs(60);
const DATA_WAIT: Duration = Duration::from_secs(180);

#[test]
fn promtool_accepts_the_alert_rules_and_the_example_config() -> anyhow::Result<()> {
    let root = queries::repo_root();
    let alerts = root.join("deploy/prometheus/alerts.yaml");
    let names = queries::alert_names(&std::fs::read_to_string(&alerts)?);
    let alerts_path = alerts.display().to_string();
    let checked = promtool(&["check", "rules", &alerts_path])?;
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", names.len())),
        "promtool counted other rules than the {} alerts {names:?}:\n{checked}",
        names.len()
    );
    let config = root.join("deploy/prometheus/prometheus.yml");
    promtool(&["check", "config", &config.display().to_string()])?;
    Ok(())
}

#[test]
fn the_docs_explain_every_alert() -> anyhow::Result<()> {
    let root = queries::repo_root();
    let names = queries::alert_names(&std::fs::read_to_string(
        root.join("deploy/prometheus/alerts.yaml"),
    )?);
    let docs = std::fs::read_to_string(root.join("docs/observability.md"))?;
    assert!(!names.is_empty(), "no alerts found");
    let missing: Vec<&String> = names.iter().filter(|n| !docs.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "docs/observability.md does not explain {missing:?}"
    );
    Ok(())
}

#[test]
fn dashboards_take_their_datasource_from_the_variable() -> anyhow::Result<()> {
    let mut uids = BTreeSet::new();
    for (file, dashboard) in queries::dashboards()? {
        let schema = dashboard["schemaVersion"].as_i64().unwrap_or_default();
        assert!(
            (36..=41).contains(&schema),
            "{file}: schemaVersion {schema}"
        );
        let uid = dashboard["uid"].as_str().unwrap_or_default().to_owned();
        assert!(!uid.is_empty(), "{file}: no uid");
        assert!(uids.insert(uid.clone()), "{file}: uid {uid} used twice");
        let variables = dashboard["templating"]["list"].as_array();
        let datasource = variables
            .into_iter()
            .flatten()
            .find(|v| v["name"] == "datasource");
        let datasource = datasource.with_context(|| format!("{file}: no datasource variable"))?;
        assert_eq!(datasource["type"], "datasource", "{file}");
        assert_eq!(datasource["query"], "prometheus", "{file}");
        let mut references = Vec::new();
        datasource_references(&dashboard, &mut references);
        for reference in references {
            let allowed = reference == &json!({ "type": "prometheus", "uid": "${datasource}" })
                || reference == &json!({ "type": "grafana", "uid": "-- Grafana --" });
            assert!(allowed, "{file}: a hard-coded datasource {reference}");
        }
        let mut ids = BTreeSet::new();
        for panel in queries::panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or_default();
            assert!(ids.insert(panel["id"].as_i64()), "{file}: panel id twice");
            if panel["type"] != "row" {
                let targets = panel["targets"].as_array().map_or(0, Vec::len);
                assert!(targets > 0, "{file} / {title}: no query");
            }
        }
    }
    Ok(())
}

/// Every value of a `datasource` key in `value`, at any depth.
fn datasource_references<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                // The variable itself names the plugin type, not a datasource.
                if key == "datasource" && !inner.is_string() {
                    out.push(inner);
                } else {
                    datasource_references(inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| datasource_references(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_panel_and_alert_query_has_data_from_a_live_cluster() -> anyhow::Result<()> {
    let alerts = queries::repo_root().join("deploy/prometheus/alerts.yaml");
    let alert_names = queries::alert_names(&std::fs::read_to_string(&alerts)?);
    let env = TestEnv::cluster(Registry::builtin(), 1).await?;
    let members = env
        .control(ControlSubject::ClusterMembers, json!({}))
        .await?;
    let coordinator = http_addr(&members, "coordinator")?;
    let worker = http_addr(&members, "worker")?;
    for source in [
        chain_yaml(COMPLETING, "echo", 2, None),
        chain_yaml(FAILING, "fail", 1, None),
        SHIP.to_owned(),
    ] {
        env.put_workflow(&source).await?;
    }

    let dir = env.dir.path().join("prometheus");
    std::fs::create_dir_all(&dir)?;
    let jobs = [
        (COORDINATOR_JOB, coordinator.as_str()),
        (WORKER_JOB, worker.as_str()),
    ];
    let prometheus = Prometheus::start(&dir, &jobs, &alerts).await?;
    prometheus
        .wait_for_targets_up(&[COORDINATOR_JOB, WORKER_JOB])
        .await?;

    // The work, once Prometheus scrapes: runs that complete and fail (so
    // counters move between scrapes), one left waiting for approval (an
    // active run), and a malformed signal (a rejection).
    let mut runs = Vec::new();
    for _ in 0..COMPLETING_RUNS {
        runs.push(("COMPLETED", env.start_run(COMPLETING, json!({})).await?));
    }
    for _ in 0..FAILING_RUNS {
        runs.push(("FAILED", env.start_run(FAILING, json!({})).await?));
    }
    let waiting = env.start_run("ship", json!({ "v": 1 })).await?;
    env.publish_raw_signal("dash", b"{ not json".to_vec())
        .await?;
    for (status, run_id) in &runs {
        let run = env.wait_for_end(run_id, WAIT).await?;
        assert_eq!(run["status"], *status, "{run}");
    }
    env.wait_for_status(&waiting, "WAITING_APPROVAL").await?;
    env.wait_for_signals_handled(1).await?;

    // The counters say what happened.
    for (workflow, status, count) in [
        (COMPLETING, "COMPLETED", COMPLETING_RUNS),
        (FAILING, "FAILED", FAILING_RUNS),
    ] {
        let expr =
            format!(r#"sum(junction_runs_total{{workflow_id="{workflow}",status="{status}"}})"#);
        wait_for_value(&env, &prometheus, &expr, count as f64).await?;
    }

    // The dashboards' variables offer the test's workflows.
    let workflows = [COMPLETING, FAILING];
    let mut checks = Vec::new();
    for (file, dashboard) in queries::dashboards()? {
        let mut assignments = vec![Vec::new()];
        for (name, metric, label) in queries::label_values_queries(&dashboard)? {
            let values: Vec<&str> = match name.as_str() {
                "workflow_id" => workflows.to_vec(),
                other => bail!("{file}: a variable {other} the test has no values for"),
            };
            let offered = eventually(&env, &prometheus, &format!("{file}: {name}"), || async {
                let offered = prometheus.label_values(&metric, &label).await?;
                Ok(values
                    .iter()
                    .all(|v| offered.iter().any(|o| o == v))
                    .then_some(offered))
            })
            .await?;
            assert!(!offered.is_empty(), "{file}: {name} offers nothing");
            let mut next = Vec::new();
            for assignment in &assignments {
                for value in &values {
                    let mut extended = assignment.clone();
                    extended.push((name.clone(), (*value).to_owned()));
                    next.push(extended);
                }
            }
            assignments = next;
        }
        for query in queries::panel_queries(&file, &dashboard, &assignments)? {
            checks.push((query, true));
        }
    }

    // The alert rules as Prometheus loaded them.
    let rules = eventually(&env, &prometheus, "alert rules evaluated", || async {
        let reply = prometheus.api("/api/v1/rules").await?;
        let rules: Vec<Value> = reply["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        if let Some(broken) = rules.iter().find(|r| r["health"] == "err") {
            bail!("an alert rule fails to evaluate: {broken}");
        }
        let evaluated = !rules.is_empty() && rules.iter().all(|r| r["health"] == "ok");
        Ok(evaluated.then_some(rules))
    })
    .await?;
    let loaded: Vec<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(loaded, alert_names, "Prometheus loaded other rules");
    for rule in &rules {
        let name = rule["name"].as_str().unwrap_or_default();
        assert_eq!(rule["type"], "alerting", "{name}");
        let severity = rule["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{name}: severity {severity:?}"
        );
        for key in ["summary", "description", "query"] {
            let text = rule["annotations"][key].as_str().unwrap_or_default();
            assert!(!text.trim().is_empty(), "{name}: no {key} annotation");
        }
        let expr = rule["query"].as_str().context("rule expr")?;
        checks.push((
            Query {
                origin: format!("alert {name} (expr)"),
                expr: expr.to_owned(),
            },
            false,
        ));
        let query = rule["annotations"]["query"].as_str().unwrap_or_default();
        checks.push((
            Query {
                origin: format!("alert {name} (annotation query)"),
                expr: query.to_owned(),
            },
            true,
        ));
    }
    // One alert fires for real: the malformed signal's (`for: 0m`).
    checks.push((
        Query {
            origin: "JunctionSignalsRejected firing".into(),
            expr: r#"ALERTS{alertname="JunctionSignalsRejected",alertstate="firing",reason="malformed_json"}"#
                .into(),
        },
        true,
    ));

    check_all(&env, &prometheus, checks).await
}

/// Evaluates every `(query, needs data)` until each evaluates with
/// `status: success` (at once, or fails: a query that does not parse will
/// not start to) and, when it needs data, returns a non-empty result;
/// fails after [`DATA_WAIT`] naming every query still without data.
async fn check_all(
    env: &TestEnv,
    prometheus: &Prometheus,
    mut pending: Vec<(Query, bool)>,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DATA_WAIT;
    loop {
        let mut empty = Vec::new();
        for (query, needs_data) in pending {
            let reply = prometheus.query(&query.expr).await?;
            anyhow::ensure!(
                reply["status"] == "success",
                "{}: `{}` does not evaluate: {reply}",
                query.origin,
                query.expr
            );
            if needs_data && !has_data(&reply) {
                empty.push((query, needs_data, reply));
            }
        }
        if empty.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            let families = prometheus
                .api("/api/v1/label/__name__/values")
                .await
                .map(|r| r["data"].clone())
                .unwrap_or_default();
            let listing: Vec<String> = empty
                .iter()
                .map(|(q, _, reply)| format!("- {}: `{}` → {}", q.origin, q.expr, reply["data"]))
                .collect();
            bail!(
                "{} queries without data after {DATA_WAIT:?}:\n{}\nmetric names Prometheus has: {families}\n{}\n{}",
                listing.len(),
                listing.join("\n"),
                prometheus.tail(),
                env.logs()
            );
        }
        pending = empty.into_iter().map(|(q, n, _)| (q, n)).collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether a query reply holds at least one sample.
fn has_data(reply: &Value) -> bool {
    match reply["data"]["resultType"].as_str() {
        Some("scalar" | "string") => true,
        _ => reply["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
    }
}

/// Waits until `expr` is one sample equal to `expected`.
async fn wait_for_value(
    env: &TestEnv,
    prometheus: &Prometheus,
    expr: &str,
    expected: f64,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DATA_WAIT;
    loop {
        let reply = prometheus.query(expr).await?;
        let value = reply["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok());
        if value == Some(expected) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{expr} is not {expected} after {DATA_WAIT:?}: {reply}\n{}\n{}",
                prometheus.tail(),
                env.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// [`TestEnv::eventually`] with [`DATA_WAIT`] and a 500 ms poll, adding
/// Prometheus's log to the failure.
async fn eventually<T, F, Fut>(
    env: &TestEnv,
    prometheus: &Prometheus,
    what: &str,
    mut probe: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + DATA_WAIT;
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{what}: not within {DATA_WAIT:?}\n{}\n{}",
                prometheus.tail(),
                env.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The `http_addr` of the first member with `role` in a `cluster.members`
/// reply.
fn http_addr(members: &Value, role: &str) -> anyhow::Result<String> {
    let member = members["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == role);
    let addr = member.and_then(|m| m["http_addr"].as_str());
    Ok(addr
        .with_context(|| format!("no {role} http_addr in {members}"))?
        .to_owned())
}
