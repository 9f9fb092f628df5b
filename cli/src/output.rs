//! Printing what commands return, in the format `-o` chose: `text` is each
//! command's own, `json` one pretty document, `jsonl` one compact object
//! per line (each element of a list). Lines are flushed as written, so a
//! pipe sees them at once.

use crate::args::Output;
use serde_json::Value;
use std::io::Write;

/// Writes one line to stdout and flushes it.
pub fn line(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// One compact JSON object on its own line.
pub fn json_line(value: &Value) -> anyhow::Result<()> {
    line(&serde_json::to_string(value)?)
}

/// A document in a JSON format: pretty for `json`, one line for `jsonl`.
pub fn document(output: Output, value: &Value) -> anyhow::Result<()> {
    match output {
        Output::Jsonl => json_line(value),
        _ => line(&serde_json::to_string_pretty(value)?),
    }
}

/// A list: `json` prints `document` (the list, or the object holding it),
/// `jsonl` each item on its line; `text` calls `text`.
pub fn list(
    output: Output,
    document_value: &Value,
    items: &[Value],
    text: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match output {
        Output::Text => text(),
        Output::Json => line(&serde_json::to_string_pretty(document_value)?),
        Output::Jsonl => items.iter().try_for_each(json_line),
    }
}

/// A table: a header row and rows, columns padded to their widest cell
/// (the last column is not padded).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut text = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                text.push_str(cell);
            } else {
                let pad = width - cell.chars().count();
                text.push_str(&format!("{cell}{}  ", " ".repeat(pad)));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// A string field, or empty.
pub fn text(value: &Value, key: &str) -> String {
    match &value[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let rows = vec![vec!["a".to_owned(), "long value".into(), "x".into()]];
        assert_eq!(
            table(&["ID", "V", "LAST"], &rows),
            "ID  V           LAST\na   long value  x\n"
        );
    }
}
