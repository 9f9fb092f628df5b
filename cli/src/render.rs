//! Compiler-style text for diagnostics, the way rustc prints them: a header
//! with the code, the `file:line:column`, the source line and a caret under
//! the offending token. Pure: the caller decides where the text goes and
//! whether it is coloured.

use junction_core::model::locate::{SourceMap, Span};
use junction_core::model::{Diagnostic, Severity};
use std::fmt::Write as _;

/// Codes about a key rather than its value: the caret goes under the key.
const KEY_CODES: &[&str] = &["UNKNOWN_FIELD"];

/// How diagnostics are drawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colours (only for a terminal, and not under `NO_COLOR`).
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn severity_code(severity: Severity) -> &'static str {
        match severity {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
        }
    }
}

/// One source file being reported on.
pub struct SourceFile<'a> {
    /// As the user named it.
    pub name: &'a str,
    pub text: &'a str,
    /// Positions of the definition's paths (YAML and JSON sources only).
    pub map: Option<&'a SourceMap>,
}

impl SourceFile<'_> {
    fn line(&self, number: u32) -> Option<&str> {
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        self.text
            .split('\n')
            .nth(index)
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
    }

    /// What to underline for `diagnostic`: its value when it sits at a
    /// located key with a one-line value, else the key or element, else the
    /// token at the diagnostic's own position.
    pub fn highlight(&self, diagnostic: &Diagnostic) -> Option<Span> {
        let line = diagnostic.line?;
        let column = diagnostic.column.unwrap_or(1).max(1);
        if let Some((_, entry)) = self.map.and_then(|m| m.nearest(&diagnostic.path)) {
            if (entry.at.line, entry.at.column) == (line, column) {
                let on_key = KEY_CODES.contains(&diagnostic.code.as_str());
                return Some(if on_key {
                    entry.at
                } else {
                    entry.value.unwrap_or(entry.at)
                });
            }
            if let Some(value) = entry.value.filter(|v| (v.line, v.column) == (line, column)) {
                return Some(value);
            }
        }
        // A position from elsewhere (a parse error): the token found there.
        let text = self.line(line).unwrap_or("");
        let length = text.chars().count();
        let column = column.min(u32::try_from(length + 1).unwrap_or(u32::MAX));
        let width = text
            .chars()
            .skip((column as usize).saturating_sub(1))
            .take_while(|c| !c.is_whitespace())
            .count();
        Some(Span {
            line,
            column,
            width: u32::try_from(width.max(1)).unwrap_or(1),
        })
    }
}

/// One diagnostic, ending with a blank line.
pub fn diagnostic(style: Style, file: &SourceFile, diagnostic: &Diagnostic) -> String {
    let mut out = String::new();
    let severity = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let tone = Style::severity_code(diagnostic.severity);
    let _ = writeln!(
        out,
        "{}{}",
        style.paint(tone, &format!("{severity}[{}]", diagnostic.code)),
        style.paint("1", &format!(": {}", diagnostic.message)),
    );
    let span = file.highlight(diagnostic);
    let source_line = span.and_then(|s| file.line(s.line).map(|text| (s, text)));
    let gutter = source_line.map_or(1, |(s, _)| s.line.to_string().len());
    let pad = " ".repeat(gutter);
    let location = match span {
        Some(s) => format!("{}:{}:{}", file.name, s.line, s.column),
        None => file.name.to_owned(),
    };
    let _ = writeln!(out, "{pad}{} {location}", style.paint("1;34", "-->"));
    if let Some((s, text)) = source_line {
        let bar = style.paint("1;34", "|");
        let _ = writeln!(out, "{pad} {bar}");
        let number = style.paint("1;34", &format!("{:>gutter$}", s.line));
        let _ = writeln!(out, "{number} {bar} {text}");
        // Keep tabs so the caret lines up under what the terminal shows.
        let indent: String = text
            .chars()
            .take((s.column as usize).saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = "^".repeat(s.width as usize);
        let _ = writeln!(out, "{pad} {bar} {indent}{}", style.paint(tone, &carets));
    }
    if !diagnostic.path.is_empty() {
        let _ = writeln!(
            out,
            "{pad} {} path: {}",
            style.paint("1;34", "="),
            diagnostic.path
        );
    }
    out.push('\n');
    out
}

/// `x.workflow.yaml: 1 error, 2 warnings`, or `x.workflow.yaml: ok`.
pub fn summary(name: &str, errors: usize, warnings: usize) -> String {
    if errors == 0 && warnings == 0 {
        return format!("{name}: ok");
    }
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    format!(
        "{name}: {}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use junction_core::model::SourceFormat;

    const SOURCE: &str = "\
id: x
states:
  - name: a
    type: inject
    next: zz
  - name: b
    type: inject
    colour: red
    end: true
";

    fn render(d: Diagnostic) -> String {
        let map = SourceMap::build(SOURCE, SourceFormat::Yaml);
        let mut diagnostics = junction_core::model::Diagnostics::default();
        diagnostics.push(d);
        map.attach(&mut diagnostics);
        let d = diagnostics
            .errors
            .into_iter()
            .chain(diagnostics.warnings)
            .next()
            .expect("one");
        let file = SourceFile {
            name: "x.workflow.yaml",
            text: SOURCE,
            map: Some(&map),
        };
        diagnostic(Style::default(), &file, &d)
    }

    #[test]
    fn caret_under_the_value() {
        let text = render(Diagnostic::new(
            "DANGLING_TARGET",
            "states[0].next",
            "state `a` goes to `zz`, which does not exist",
        ));
        assert_eq!(
            text,
            "\
error[DANGLING_TARGET]: state `a` goes to `zz`, which does not exist
 --> x.workflow.yaml:5:11
  |
5 |     next: zz
  |           ^^
  = path: states[0].next

"
        );
    }

    #[test]
    fn caret_under_an_unknown_key_and_ancestors() {
        let text = render(Diagnostic::new(
            "UNKNOWN_FIELD",
            "states[1].colour",
            "unknown field `colour` is ignored",
        ));
        assert!(text.starts_with("warning[UNKNOWN_FIELD]"), "{text}");
        assert!(text.contains("--> x.workflow.yaml:8:5\n"), "{text}");
        assert!(text.contains("  |     ^^^^^^\n"), "{text}");
        // A missing field points at the element that lacks it.
        let text = render(Diagnostic::new("MISSING_FIELD", "states[1].action", "x"));
        assert!(text.contains("--> x.workflow.yaml:6:5\n"), "{text}");
        assert!(text.contains("6 |   - name: b\n  |     ^^^^\n"), "{text}");
    }

    #[test]
    fn positions_from_elsewhere_and_none() {
        let d = Diagnostic::new("PARSE_ERROR", "", "bad").at(3, 11);
        let text = render(d);
        assert!(
            text.contains("3 |   - name: a\n  |           ^\n"),
            "{text}"
        );
        assert!(!text.contains("= path"), "{text}");
        let file = SourceFile {
            name: "f",
            text: "",
            map: None,
        };
        let text = diagnostic(Style::default(), &file, &Diagnostic::new("X", "a", "m"));
        assert_eq!(text, "error[X]: m\n --> f\n  = path: a\n\n");
        let colored = diagnostic(
            Style { color: true },
            &file,
            &Diagnostic::new("X", "a", "m"),
        );
        assert!(colored.contains("\x1b[1;31merror[X]\x1b[0m"), "{colored}");
    }

    #[test]
    fn tabs_and_wide_gutters() {
        let source = format!("{}k:\tvalue\n", "\n".repeat(11));
        let map = SourceMap::build(&source, SourceFormat::Yaml);
        let file = SourceFile {
            name: "f",
            text: &source,
            map: Some(&map),
        };
        let d = Diagnostic::new("X", "k", "m").at(12, 1);
        let text = diagnostic(Style::default(), &file, &d);
        assert!(text.contains("  --> f:12:4\n"), "{text}");
        assert!(text.contains("12 | k:\tvalue\n   |   \t^^^^^\n"), "{text}");
    }

    #[test]
    fn summaries() {
        assert_eq!(summary("a", 0, 0), "a: ok");
        assert_eq!(summary("a", 1, 2), "a: 1 error, 2 warnings");
        assert_eq!(summary("a", 2, 1), "a: 2 errors, 1 warning");
    }
}
