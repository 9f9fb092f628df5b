//! Configuration mistakes are loud: every key of a TOML file and every
//! `JUNCTION_*` environment variable must name a known setting, else the
//! process refuses to start (exit 2) and names the closest valid key
//! (`JUNCTION_WORKER__CONCURENCY` → "did you mean
//! JUNCTION_WORKER__CONCURRENCY?").
//!
//! The known keys are read off [`Config::default`] itself, so a new setting
//! is known as soon as it exists. Variables read outside the configuration
//! ([`OTHER_VARIABLES`], and `JUNCTION_TEST_*` of the test suites) are
//! allowed as they are.

use crate::config::Config;
use figment::value::{Dict, Value as FigmentValue};
use serde_json::Value;
use std::collections::BTreeSet;

/// `JUNCTION_*` variables read by the processes, the CLI or the dev
/// scripts outside the configuration: never an error.
pub const OTHER_VARIABLES: &[&str] = &[
    "JUNCTION_CONFIG",
    "JUNCTION_LOG",
    "JUNCTION_LOG_FORMAT",
    "JUNCTION_TOKEN",
    "JUNCTION_TENANT",
    "JUNCTION_PEERS_DIR",
];

/// Prefixes of variables that belong to the test suites and dev scripts.
pub const OTHER_PREFIXES: &[&str] = &["JUNCTION_TEST_", "JUNCTION_DEV_"];

/// A key that names no setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// As the user wrote it: `JUNCTION_WORKER__CONCURENCY` or `worker.concurency`.
    pub key: String,
    /// Where it came from: "environment variable" or the file's path.
    pub source: String,
    /// The closest valid key, spelled like `key`.
    pub suggestion: Option<String>,
}

impl std::fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {}", self.source, self.key)?;
        match &self.suggestion {
            Some(suggestion) => write!(f, ": did you mean {suggestion}?"),
            None => write!(
                f,
                " (docs/configuration.md lists every key; variables use JUNCTION_<SECTION>__<KEY>)"
            ),
        }
    }
}

/// Every setting's dotted key: `database.url`, `worker.concurrency`, …
pub fn known_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    if let Ok(value) = serde_json::to_value(Config::default()) {
        collect_json(&value, "", &mut keys);
    }
    keys
}

fn collect_json(value: &Value, path: &str, keys: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            for (name, value) in fields {
                collect_json(value, &join(path, name), keys);
            }
        }
        _ => {
            keys.insert(path.to_owned());
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The dotted keys of a TOML file's contents (tables are walked, values are not).
pub fn file_keys(dict: &Dict) -> Vec<String> {
    fn walk(dict: &Dict, path: &str, out: &mut Vec<String>) {
        for (name, value) in dict {
            let key = join(path, name);
            match value {
                FigmentValue::Dict(_, inner) => walk(inner, &key, out),
                _ => out.push(key),
            }
        }
    }
    let mut out = Vec::new();
    walk(dict, "", &mut out);
    out
}

/// The first key of `keys` that is not a setting (a table where a value
/// belongs, or a value where a table belongs, counts as unknown too).
pub fn check_file_keys(keys: &[String], source: &str) -> Result<(), UnknownKey> {
    let known = known_keys();
    match keys.iter().find(|k| !known.contains(*k)) {
        None => Ok(()),
        Some(key) => Err(UnknownKey {
            key: key.clone(),
            source: format!("key in {source}:"),
            suggestion: closest(key, &known),
        }),
    }
}

/// The first `JUNCTION_*` variable of `names` that names no setting and is
/// not one of [`OTHER_VARIABLES`] or [`OTHER_PREFIXES`].
pub fn check_env_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), UnknownKey> {
    let known = known_keys();
    for name in names {
        let Some(rest) = name.strip_prefix("JUNCTION_") else {
            continue;
        };
        if OTHER_VARIABLES.contains(&name) || OTHER_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let key = env_to_key(rest);
        if !known.contains(&key) {
            return Err(UnknownKey {
                key: name.to_owned(),
                source: "environment variable".to_owned(),
                suggestion: closest(&key, &known).map(|k| key_to_env(&k)),
            });
        }
    }
    Ok(())
}

/// `WORKER__LEASE_SECONDS` → `worker.lease_seconds`.
fn env_to_key(rest: &str) -> String {
    rest.to_ascii_lowercase().replace("__", ".")
}

/// `worker.lease_seconds` → `JUNCTION_WORKER__LEASE_SECONDS`.
pub fn key_to_env(key: &str) -> String {
    format!("JUNCTION_{}", key.replace('.', "__").to_ascii_uppercase())
}

/// The known key nearest to `key` by edit distance, when near enough to be
/// a slip (at most a third of its length, and at least 2, away).
fn closest(key: &str, known: &BTreeSet<String>) -> Option<String> {
    let (distance, best) = known
        .iter()
        .map(|k| (edit_distance(key, k), k))
        .min_by_key(|(d, _)| *d)?;
    let allowed = (key.chars().count() / 3).max(2);
    (distance <= allowed).then(|| best.clone())
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_known() {
        let known = known_keys();
        for key in [
            "database.url",
            "worker.concurrency",
            "http.listen",
            "auth.tokens_file",
            "fault.point",
            "definitions.dir",
            "definitions.watch_interval_seconds",
            "nats.events_max_age_seconds",
            "nats.user",
            "nats.password",
            "nats.token",
            "nats.credentials_file",
            "nats.nkey_file",
            "nats.inbox_prefix",
            "auth.reload_interval_seconds",
            "executors.http.allow_hosts",
            "executors.llm.api_key",
        ] {
            assert!(known.contains(key), "{key} missing from {known:?}");
        }
        assert!(!known.contains("worker"));
    }

    #[test]
    fn a_misspelled_variable_names_the_closest_one() {
        let error = check_env_names(["PATH", "JUNCTION_WORKER__CONCURENCY"]);
        let error = error.err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some(
                "unknown environment variable JUNCTION_WORKER__CONCURENCY: did you mean JUNCTION_WORKER__CONCURRENCY?"
            )
        );
        let error = check_env_names(["JUNCTION_NATS_URL"]).err();
        assert_eq!(
            error.and_then(|e| e.suggestion).as_deref(),
            Some("JUNCTION_NATS__URL")
        );
        let far = check_env_names(["JUNCTION_SOMETHING_ELSE_ENTIRELY"]).err();
        assert_eq!(far.as_ref().map(|e| e.suggestion.is_none()), Some(true));
        assert!(
            far.map(|e| e.to_string())
                .unwrap_or_default()
                .contains("docs/configuration.md")
        );
    }

    #[test]
    fn variables_read_elsewhere_are_allowed() {
        let names = [
            "JUNCTION_LOG",
            "JUNCTION_LOG_FORMAT",
            "JUNCTION_CONFIG",
            "JUNCTION_TOKEN",
            "JUNCTION_TENANT",
            "JUNCTION_TEST_ADMIN_URL",
            "JUNCTION_TEST_NATS_SERVER",
            "JUNCTION_WORKER__CONCURRENCY",
            "JUNCTION_HTTP__LISTEN",
            "HOME",
        ];
        assert_eq!(check_env_names(names), Ok(()));
    }

    #[test]
    fn a_misspelled_file_key_names_the_closest_one() {
        let keys = vec![
            "worker.concurrency".to_owned(),
            "wroker.lease_seconds".into(),
        ];
        let error = check_file_keys(&keys, "junction.toml").err();
        assert_eq!(
            error.map(|e| e.to_string()).as_deref(),
            Some(
                "unknown key in junction.toml: wroker.lease_seconds: did you mean worker.lease_seconds?"
            )
        );
        assert_eq!(check_file_keys(&["nats.url".to_owned()], "f"), Ok(()));
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("concurency", "concurrency"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
