//! Reading a `/metrics` page as Prometheus would: its samples by name and
//! labels ([`Samples`]), and `promtool check metrics` on the text
//! ([`promtool_check`]; Debian's `prometheus` package, which
//! `deploy/dev/test.sh` installs).

use anyhow::Context;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of a `/metrics` page.
#[derive(Debug, Clone)]
pub struct Samples {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Samples {
    /// Parses every sample line of `text` (comments and blank lines skipped).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let samples = text
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .map(|line| sample(line).with_context(|| format!("unreadable sample {line:?}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            text: text.to_owned(),
            samples,
        })
    }

    /// The value of the sample named `name` with exactly `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// Every sample named `name`.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// Whether the page declares `name` with `# TYPE name kind`.
    pub fn has_type(&self, name: &str, kind: &str) -> bool {
        let line = format!("# TYPE {name} {kind}");
        self.text.lines().any(|l| l.trim_end() == line)
    }
}

/// `name{k="v",…} value` (a timestamp after the value is ignored).
fn sample(line: &str) -> anyhow::Result<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(at) => line.split_at(at),
        None => anyhow::bail!("no value"),
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest;
    if let Some(inside) = rest.strip_prefix('{') {
        let mut chars = inside.char_indices();
        let mut key = String::new();
        loop {
            let (at, c) = chars.next().context("unterminated labels")?;
            match c {
                '}' => {
                    rest = &inside[at + 1..];
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    let Some((_, '"')) = chars.next() else {
                        anyhow::bail!("label value without quotes");
                    };
                    let mut value = String::new();
                    loop {
                        let (_, c) = chars.next().context("unterminated label value")?;
                        match c {
                            '"' => break,
                            '\\' => match chars.next().context("dangling escape")?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        }
    }
    let value = rest
        .split_whitespace()
        .next()
        .context("no value")?
        .parse::<f64>()?;
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Runs `promtool check metrics` with `text` on its standard input; an
/// error carries promtool's complaints.
pub fn promtool_check(text: &str) -> anyhow::Result<()> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("run promtool (Debian package prometheus; deploy/dev/test.sh installs it)")?;
    child
        .stdin
        .take()
        .context("promtool's stdin")?
        .write_all(text.as_bytes())?;
    let output = child.wait_with_output()?;
    anyhow::ensure!(
        output.status.success(),
        "promtool check metrics failed ({}):\n{}{}\n--- the page ---\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_with_their_labels() -> anyhow::Result<()> {
        let page = Samples::parse(
            "# HELP a_total A.\n# TYPE a_total counter\na_total 3\n\nb{x=\"1\",y=\"q\\\"uote\"} 0.5\n",
        )?;
        assert_eq!(page.get("a_total", &[]), Some(3.0));
        assert_eq!(page.get("b", &[("x", "1"), ("y", "q\"uote")]), Some(0.5));
        assert_eq!(page.get("b", &[("x", "1")]), None);
        assert!(page.has_type("a_total", "counter"));
        Ok(())
    }
}
