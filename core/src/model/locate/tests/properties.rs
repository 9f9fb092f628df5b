//! Properties: no input makes the scanner panic, hang or point outside
//! the text, every path of a serialized document is located, and large
//! sources stay cheap.

use super::*;
use proptest::prelude::*;
use serde_json::Value;

const PIECES: &[&str] = &[
    " ", "  ", "\n", "\r\n", "\t", "-", "- ", ":", ": ", "#", " #", "?", "? ", "[", "]", "{", "}",
    ",", "'", "''", "\"", "\\", "\\u00", "|", ">", "&a", "*a", "!", "!!str ", "%", "---", "...",
    "a", "key", "states", "é", "\u{feff}", "0", "true", "\n  ", "\n- ", "\n  - ",
];

/// Every span lies on its line of the source.
fn assert_spans_inside(source: &str, map: &SourceMap) {
    let lines: Vec<usize> = source.split('\n').map(|l| l.chars().count()).collect();
    for (path, entry) in map.iter() {
        for span in std::iter::once(entry.at).chain(entry.value) {
            let length = lines
                .get(span.line as usize - 1)
                .copied()
                .unwrap_or_else(|| panic!("{path}: line {} outside {source:?}", span.line));
            assert!(span.column >= 1 && span.width >= 1, "{path} in {source:?}");
            assert!(
                (span.column - 1 + span.width) as usize <= length,
                "{path}: {span:?} past its line in {source:?}"
            );
        }
    }
}

/// Builds both ways and attaches odd paths: no panic, spans inside the text.
fn check_any(source: &str) {
    for format in [SourceFormat::Yaml, SourceFormat::Json] {
        let map = SourceMap::build(source, format);
        assert_spans_inside(source, &map);
        let mut diagnostics = Diagnostics::default();
        for path in ["", "states[0].next", "a", "a.b[1]", "]", "[", "x.", "."] {
            diagnostics.error("X", path, "x");
        }
        map.attach(&mut diagnostics);
        if !map.is_empty() {
            assert!(diagnostics.errors.iter().all(|d| d.line.is_some()));
        }
    }
}

fn pieces() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|p| p.concat())
}

/// One edit: delete, insert a piece, or replace one character.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, &'static str),
    Replace(usize, char),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), prop::sample::select(PIECES)).prop_map(|(at, p)| Edit::Insert(at, p)),
        (
            any::<usize>(),
            prop::sample::select(vec!['"', '\n', ' ', '[', '{', ':', '-', '#', '\'', '}'])
        )
            .prop_map(|(at, c)| Edit::Replace(at, c)),
    ];
    prop::collection::vec(edit, 1..8)
}

fn mutate(seed: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for edit in edits {
        match *edit {
            Edit::Delete(at) if !chars.is_empty() => {
                chars.remove(at % chars.len());
            }
            Edit::Insert(at, piece) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, piece.chars());
            }
            Edit::Replace(at, c) if !chars.is_empty() => {
                let at = at % chars.len();
                chars[at] = c;
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

const JSON_SEED: &str =
    r#"{"id": "j", "states": [{"name": "a", "next": "b"}, {"name": "b", "end": true}]}"#;

/// Keys without `.`, `[` and `]`, which a path could not tell apart from
/// its own syntax, and without line breaks, which make serializers write
/// explicit `? key` entries.
fn key() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'b', 'z', '_', '-', ' ', ':', '#', '\'', '"', '\\', 'é', '1', '\t', '&', '*', '!',
            '|', '>', '{', '}', ',', '?', '%', '@',
        ]),
        1..7,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn document() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        "[a-z :#'\"\\\\-]{0,12}",
        "[a-z ]{90,140}",
        "[a-z:]{0,6}\n[a-z :]{0,12}\n?",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-500i64..500).prop_map(Value::from),
        text.prop_map(Value::from),
    ];
    let tree = leaf.prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map(key(), tree, 1..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn all_paths(value: &Value, path: &str, out: &mut Vec<(String, Option<String>)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let p = join_key(path, key);
                out.push((p.clone(), Some(key.clone())));
                all_paths(child, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                out.push((p.clone(), None));
                all_paths(child, &p, out);
            }
        }
        _ => {}
    }
}

/// Every path of `document` is located in `source`, and a key's position
/// shows that key (or its opening quote).
fn assert_every_path(document: &Value, source: &str, format: SourceFormat) {
    let map = SourceMap::build(source, format);
    assert_spans_inside(source, &map);
    let mut paths = Vec::new();
    all_paths(document, "", &mut paths);
    let lines: Vec<&str> = source.split('\n').collect();
    for (path, key) in &paths {
        let (line, column) = map
            .position(path)
            .unwrap_or_else(|| panic!("{path:?} not found in\n{source}"));
        let Some(key) = key else { continue };
        let rest: String = lines[line as usize - 1]
            .chars()
            .skip(column as usize - 1)
            .collect();
        assert!(
            rest.starts_with(key.as_str()) || rest.starts_with(['"', '\'']),
            "{path:?} at {line}:{column} shows {rest:?} in\n{source}"
        );
    }
}

proptest! {
    #[test]
    fn random_text_never_breaks_the_scanner(source in pieces()) {
        check_any(&source);
    }

    #[test]
    fn any_string_never_breaks_the_scanner(source in any::<String>()) {
        check_any(&source);
    }

    #[test]
    fn mutated_definitions_never_break_the_scanner(
        yaml_seed in any::<bool>(),
        edits in edits(),
    ) {
        check_any(&mutate(if yaml_seed { BLOCK } else { JSON_SEED }, &edits));
    }

    #[test]
    fn serialized_documents_have_every_path(document in document()) {
        let yaml = yaml_serde::to_string(&document).expect("yaml");
        assert_every_path(&document, &yaml, SourceFormat::Yaml);
        let pretty = serde_json::to_string_pretty(&document).expect("json");
        assert_every_path(&document, &pretty, SourceFormat::Json);
        let compact = serde_json::to_string(&document).expect("json");
        assert_every_path(&document, &compact, SourceFormat::Json);
    }
}

#[test]
fn large_sources_stay_cheap() {
    let started = std::time::Instant::now();
    let flat = "key: value # note\n".repeat(60_000);
    assert_eq!(yaml(&flat).len(), 2);
    let list = format!("states:\n{}", "  - name: a\n    next: b\n".repeat(40_000));
    assert_eq!(
        yaml(&list).position("states[39999].next"),
        Some((80_001, 5))
    );
    let line = format!("[{}]", "1, ".repeat(200_000));
    assert!(json_map(&line).position("[199999]").is_some());
    let long_line = "x".repeat(1_000_000);
    let _ = yaml(&long_line);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
