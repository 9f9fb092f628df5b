//! Source positions: where a diagnostic's path (`states[2].next`) is written
//! in a YAML or JSON definition, as a 1-based line and column.
//!
//! Deserializing into `serde_json::Value` forgets positions, so [`SourceMap`]
//! scans the source a second time. The scanner reads block and flow YAML (JSON
//! is YAML flow syntax, so one scanner serves both) and records, under the
//! compiler's path syntax, where each mapping key and each list element is
//! written. It is forgiving on purpose: text it does not understand is skipped
//! and only yields fewer positions. It never fails, never panics, and stays
//! linear in the size of the source. Pure.
//!
//! Not understood (no positions below them): explicit `? key` entries and
//! collections used as keys. Only the first document of a multi-document
//! stream is indexed; anchors, tags and aliases are skipped over.

use super::diag::Diagnostics;
use super::parse::SourceFormat;
use scan::Scanner;
use std::collections::HashMap;

mod scan;

/// A run of characters on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// In characters, at least 1. Never runs past the end of its line.
    pub width: u32,
}

/// Where one path is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The key, for a mapping entry; the element's first token, for a list
    /// element or the whole document. This is the diagnostic's position.
    pub at: Span,
    /// The value, when it is written on the same line as `at` and fits on it:
    /// a scalar, an alias, a block-scalar header (`|`) or a one-line flow
    /// collection. Renderers underline it rather than the key.
    pub value: Option<Span>,
}

/// Positions of the paths of one source. Build it once, look up many paths.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    entries: HashMap<String, Entry>,
}

impl SourceMap {
    /// Indexes `source`. Never fails: whatever cannot be read is left out.
    pub fn build(source: &str, format: SourceFormat) -> SourceMap {
        let mut scanner = Scanner::new(source);
        match format {
            SourceFormat::Json => scanner.json_document(),
            SourceFormat::Yaml => scanner.yaml_document(),
            // A Starlark plan's paths point into the plan it returns, not
            // into the file: there is nothing to index.
            SourceFormat::Star => {}
        }
        SourceMap {
            entries: scanner.entries,
        }
    }

    /// Line and column (1-based) of exactly `path`: the key of a mapping
    /// entry, the start of a list element, or the document for `""`.
    pub fn position(&self, path: &str) -> Option<(u32, u32)> {
        self.entries
            .get(path)
            .map(|entry| (entry.at.line, entry.at.column))
    }

    /// Where exactly `path` is written, with its value's span.
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// `path` or, when it is not written in the source (a missing field), its
    /// nearest ancestor that is: `states[2].next` → `states[2]` → `states` →
    /// `""`. Returns the path found with its entry.
    pub fn nearest<'p>(&self, path: &'p str) -> Option<(&'p str, &Entry)> {
        let mut current = path;
        loop {
            if let Some(entry) = self.entries.get(current) {
                return Some((current, entry));
            }
            current = parent_path(current)?;
        }
    }

    /// Fills `line` and `column` of every diagnostic that has no line yet,
    /// from its path or its nearest written ancestor. Positions a front end
    /// already set are kept, so calling this twice changes nothing.
    pub fn attach(&self, diagnostics: &mut Diagnostics) {
        let all = diagnostics
            .errors
            .iter_mut()
            .chain(diagnostics.warnings.iter_mut());
        for diagnostic in all.filter(|d| d.line.is_none()) {
            if let Some((_, entry)) = self.nearest(&diagnostic.path) {
                diagnostic.line = Some(entry.at.line);
                diagnostic.column = Some(entry.at.column);
            }
        }
    }

    /// Every recorded path with its entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries
            .iter()
            .map(|(path, entry)| (path.as_str(), entry))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The path one level up: `a.b[2]` → `a.b` → `a` → `""`; `None` for `""`.
pub fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']')
        && let Some(open) = path.rfind('[')
    {
        return Some(&path[..open]);
    }
    Some(path.rfind('.').map_or("", |dot| &path[..dot]))
}

fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests;
