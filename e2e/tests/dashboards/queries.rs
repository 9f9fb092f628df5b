//! What the test reads from the repository's files: the dashboards (every
//! panel target's `expr`, with Grafana's variables substituted, and the
//! `label_values(metric, label)` variable queries) and the names of the
//! alert rules.

use anyhow::{Context, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What Grafana's built-in interval variables become in the test: windows
/// long enough to hold several 1 s scrapes.
const INTERVALS: [(&str, &str); 6] = [
    ("${__rate_interval}", "1m"),
    ("$__rate_interval", "1m"),
    ("${__interval}", "15s"),
    ("$__interval", "15s"),
    ("${__range}", "5m"),
    ("$__range", "5m"),
];

/// The repository root (the parent of the `e2e` crate).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Every dashboard JSON file of `deploy/grafana/`, sorted, with its parsed
/// content.
pub fn dashboards() -> anyhow::Result<Vec<(String, Value)>> {
    let dir = repo_root().join("deploy/grafana");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no dashboards in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path)?;
            let json = serde_json::from_str(&text).with_context(|| format!("parse {name}"))?;
            Ok((name, json))
        })
        .collect()
}

/// Every panel of a dashboard, including those nested in rows.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// One query to evaluate: where it comes from and the PromQL to send.
#[derive(Debug, Clone)]
pub struct Query {
    pub origin: String,
    pub expr: String,
}

/// `(variable, metric, label)` for every `label_values(metric, label)`
/// variable query of a dashboard; any other variable query is an error.
pub fn label_values_queries(dashboard: &Value) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] != "query" {
            continue;
        }
        let name = variable["name"].as_str().unwrap_or_default().to_owned();
        let query = variable["query"]["query"]
            .as_str()
            .or_else(|| variable["query"].as_str())
            .with_context(|| format!("variable {name} has no query: {variable}"))?;
        let Some((metric, label)) = query
            .trim()
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|args| args.split_once(','))
        else {
            bail!("variable {name}: not label_values(metric, label): {query}");
        };
        out.push((name, metric.trim().to_owned(), label.trim().to_owned()));
    }
    Ok(out)
}

/// Every visible panel target of `dashboard`, once for each assignment of
/// its query variables in `assignments` (one empty assignment when it has
/// none), with the interval variables replaced by [`INTERVALS`]. Fails on a
/// `$` left over: a variable the test does not know.
pub fn panel_queries(
    file: &str,
    dashboard: &Value,
    assignments: &[Vec<(String, String)>],
) -> anyhow::Result<Vec<Query>> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        for target in panel["targets"].as_array().into_iter().flatten() {
            if target["hide"] == true {
                continue;
            }
            let expr = target["expr"]
                .as_str()
                .with_context(|| format!("{file} / {title}: a target without expr"))?;
            for assignment in assignments {
                let mut expr = expr.to_owned();
                for (from, to) in INTERVALS {
                    expr = expr.replace(from, to);
                }
                for (name, value) in assignment {
                    expr = expr
                        .replace(&format!("${{{name}}}"), value)
                        .replace(&format!("${name}"), value);
                }
                anyhow::ensure!(
                    !expr.contains('$'),
                    "{file} / {title}: unknown variable left in {expr}"
                );
                let with: Vec<String> =
                    assignment.iter().map(|(n, v)| format!("{n}={v}")).collect();
                out.push(Query {
                    origin: format!(
                        "{file} / {title} / {}{}",
                        target["refId"].as_str().unwrap_or("?"),
                        if with.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", with.join(", "))
                        }
                    ),
                    expr,
                });
            }
        }
    }
    Ok(out)
}

/// The names of the alert rules in `alerts.yaml` (`- alert: Name` lines),
/// read without a YAML parser; the live test cross-checks them against
/// what Prometheus loaded.
pub fn alert_names(alerts_yaml: &str) -> Vec<String> {
    alerts_yaml
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_owned())
        .collect()
}
