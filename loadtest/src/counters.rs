//! The coordinators' transition counters, read from their `/metrics`
//! before and after a scenario: how many transitions it took, how many
//! inputs those decided (above the transitions when results of one run were
//! batched), and how many decisions were redone after a write conflict.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::cluster::Cluster;

/// The families summed over every live coordinator.
const FAMILIES: [(&str, &str); 3] = [
    ("junction_transitions_total", "transitions"),
    ("junction_transition_inputs_total", "transition_inputs"),
    (
        "junction_transition_conflicts_total",
        "transition_conflicts",
    ),
];

/// Counter values by short name, summed over the coordinators.
#[derive(Debug, Clone, Default)]
pub struct Counters(BTreeMap<&'static str, u64>);

impl Counters {
    /// Reads every live coordinator's `/metrics`. Unreachable coordinators
    /// are skipped (the figures are then missing, not wrong).
    pub async fn read(cluster: &Cluster) -> Result<Self> {
        let mut sums = BTreeMap::new();
        for addr in cluster.coordinator_http_addrs().await? {
            let text = match tokio::time::timeout(Duration::from_secs(5), get_metrics(&addr)).await
            {
                Ok(Ok(text)) => text,
                _ => continue,
            };
            for (family, short) in FAMILIES {
                *sums.entry(short).or_default() += sample(&text, family);
            }
        }
        Ok(Self(sums))
    }

    /// What happened between `self` (before) and `after`, as report figures.
    pub fn figures_since(&self, after: &Counters) -> BTreeMap<String, f64> {
        let mut figures = BTreeMap::new();
        for (name, value) in &after.0 {
            let before = self.0.get(name).copied().unwrap_or(0);
            figures.insert((*name).to_owned(), value.saturating_sub(before) as f64);
        }
        if let (Some(t), Some(c)) = (
            figures.get("transitions"),
            figures.get("transition_conflicts"),
        ) && *t > 0.0
        {
            figures.insert("conflicts_per_transition".to_owned(), c / t);
        }
        figures
    }
}

async fn get_metrics(addr: &str) -> Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default())
}

/// The value of an unlabelled sample `name value`, 0 if absent.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_by_exact_name() {
        let text = "# TYPE junction_transitions_total counter\njunction_transitions_total 42\njunction_transition_inputs_total 50\n";
        assert_eq!(sample(text, "junction_transitions_total"), 42);
        assert_eq!(sample(text, "junction_transition_inputs_total"), 50);
        assert_eq!(sample(text, "junction_transition_conflicts_total"), 0);
    }

    #[test]
    fn figures_are_differences_with_the_conflict_ratio() {
        let before = Counters(BTreeMap::from([
            ("transitions", 10),
            ("transition_conflicts", 1),
        ]));
        let after = Counters(BTreeMap::from([
            ("transitions", 210),
            ("transition_conflicts", 3),
        ]));
        let figures = before.figures_since(&after);
        assert_eq!(figures["transitions"], 200.0);
        assert_eq!(figures["transition_conflicts"], 2.0);
        assert_eq!(figures["conflicts_per_transition"], 0.01);
    }
}
