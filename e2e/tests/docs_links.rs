//! No reference leaves the repository: every relative link in README.md,
//! ARCHITECTURE.md, `docs/**/*.md` and `examples/**/*.md` names a file or
//! folder that exists (and, for a Markdown file, a heading that exists when
//! the link has an anchor), and no document points at the design notes that
//! live outside the repository (`../shared`, "PROTOCOL §n", "DESIGN §n", the
//! PRD, the seeds). Needs no cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The documents checked.
fn documents() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let root = root();
    let mut out = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    walk(&root.join("docs"), &mut out);
    walk(&root.join("examples"), &mut out);
    out.sort();
    out
}

/// The text outside fenced code blocks and inline code spans, line by line.
fn prose(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            lines.push(String::new());
            continue;
        }
        if fenced {
            lines.push(String::new());
            continue;
        }
        // Drop `code` spans (a line with an odd backtick keeps its tail).
        let mut out = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                out.push_str(part);
            }
        }
        lines.push(out);
    }
    lines
}

/// GitHub's anchor of a heading: lowercase, punctuation dropped (but `-`
/// and `_`), spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor of a Markdown file (`-1`, `-2` … for repeated headings).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        if fenced {
            continue;
        }
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let n = seen.entry(base.clone()).or_default();
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of inline links `[text](target)` and reference definitions
/// `[label]: target` in `line`.
fn targets(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].split_whitespace().next().unwrap_or("");
        out.push(target.trim_matches(|c| c == '<' || c == '>').to_owned());
        rest = &after[end..];
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('[')
        && let Some((label, target)) = trimmed.split_once("]:")
        && !label.contains(']')
        && let Some(target) = target.split_whitespace().next()
    {
        out.push(target.to_owned());
    }
    out
}

fn is_external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap_or_default();
        let name = document
            .strip_prefix(&root)
            .unwrap_or(&document)
            .display()
            .to_string();
        for (n, line) in prose(&text).iter().enumerate() {
            for target in targets(line) {
                if target.is_empty() || is_external(&target) {
                    continue;
                }
                checked += 1;
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let file = if path.is_empty() {
                    document.clone()
                } else {
                    document.parent().unwrap_or(&root).join(path)
                };
                let at = format!("{name}:{}: {target}", n + 1);
                if !file.exists() {
                    problems.push(format!("{at}: no such file"));
                    continue;
                }
                let outside = file
                    .canonicalize()
                    .map(|f| !f.starts_with(root.canonicalize().unwrap_or(root.clone())))
                    .unwrap_or(true);
                if outside {
                    problems.push(format!("{at}: outside the repository"));
                    continue;
                }
                if let Some(anchor) = anchor
                    && file.extension().is_some_and(|e| e == "md")
                {
                    let linked = std::fs::read_to_string(&file).unwrap_or_default();
                    if !anchors(&linked).contains(anchor) {
                        problems.push(format!("{at}: no heading with anchor #{anchor}"));
                    }
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the scan broken?"
    );
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_document_points_outside_the_repository() {
    let root = root();
    let forbidden = [
        "../shared",
        "PROTOCOL §",
        "DESIGN §",
        "PRD",
        "seeds 0",
        "seed 0",
    ];
    let mut problems = Vec::new();
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap_or_default();
        let name = document
            .strip_prefix(&root)
            .unwrap_or(&document)
            .display()
            .to_string();
        // docs/protocol.md says how code comments cite its sections.
        let is_protocol = document.ends_with("docs/protocol.md");
        for (n, line) in text.lines().enumerate() {
            for word in forbidden {
                if line.contains(word) && !(is_protocol && word == "PROTOCOL §") {
                    problems.push(format!("{name}:{}: `{word}`: {line}", n + 1));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "references to documents outside the repository (link docs/protocol.md or docs/language.md instead):\n{}",
        problems.join("\n")
    );
}

#[test]
fn anchors_follow_github() {
    assert_eq!(
        slug("1. Subjects, streams and consumers"),
        "1-subjects-streams-and-consumers"
    );
    assert_eq!(slug("8.15 Pagination"), "815-pagination");
    assert_eq!(slug("Auth (tokens file)"), "auth-tokens-file");
    assert_eq!(slug("`operation`"), "operation");
    let text = "# A\n## B c\n```\n# not\n```\n## B c\n";
    assert_eq!(
        anchors(text),
        ["a", "b-c", "b-c-1"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(targets("see [x](a.md#b) and [y](c.md)"), ["a.md#b", "c.md"]);
    assert_eq!(targets("[ref]: docs/x.md"), ["docs/x.md"]);
}
