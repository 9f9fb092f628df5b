//! Positions in block, flow and JSON sources, quoting, comments, anchors
//! and line endings, and the fallback to the nearest ancestor.

use super::*;
use crate::model::diag::Diagnostic;

#[test]
fn block_style_keys_and_elements() {
    let map = yaml(BLOCK);
    assert_eq!(map.position(""), Some((2, 1)));
    assert_eq!(map.position("id"), Some((2, 1)));
    assert_eq!(map.position("version"), Some((3, 1)));
    assert_eq!(map.position("trigger.signal"), Some((5, 3)));
    assert_eq!(map.position("states"), Some((6, 1)));
    assert_eq!(map.position("states[0]"), Some((7, 5)));
    assert_eq!(map.position("states[0].name"), Some((7, 5)));
    assert_eq!(map.position("states[0].data.currency"), Some((10, 7)));
    assert_eq!(map.position("states[1]"), Some((13, 5)));
    assert_eq!(map.position("states[1].input.agent"), Some((16, 7)));
    assert_eq!(map.position("states[1].input.task"), Some((17, 7)));
    assert_eq!(map.position("states[1].next"), Some((18, 5)));
    assert_eq!(map.position("states[2]"), None);
}

#[test]
fn values_on_the_key_line_have_spans() {
    let map = yaml(BLOCK);
    let next = map.entry("states[1].next").expect("next");
    assert_eq!(
        next.at,
        Span {
            line: 18,
            column: 5,
            width: 4
        }
    );
    assert_eq!(
        next.value,
        Some(Span {
            line: 18,
            column: 11,
            width: 2
        })
    );
    // A trailing comment is not part of the value.
    let name = map.entry("states[1].name").expect("name");
    assert_eq!(name.value.map(|s| (s.column, s.width)), Some((11, 8)));
    // A quoted value spans its quotes; a block value has no value span.
    let task = map.entry("states[1].input.task").expect("task");
    assert_eq!(task.value.map(|s| (s.column, s.width)), Some((13, 24)));
    assert_eq!(map.entry("states[1].input").expect("input").value, None);
}

#[test]
fn flow_style() {
    let source = "\
id: dag
trigger: { signal: order.created, filter: 'x == 1' }
steps:
  - { name: a, params: { n: 1 } }
  - name: b
    depends_on: [a, zz]
    retry: {maxAttempts: 3}
nodes: [
  {id: x, type: agent},
  {id: y, type: bogus}
]
";
    let map = yaml(source);
    assert_eq!(map.position("trigger"), Some((2, 1)));
    assert_eq!(map.position("trigger.signal"), Some((2, 12)));
    assert_eq!(map.position("trigger.filter"), Some((2, 35)));
    assert_eq!(map.position("steps[0]"), Some((4, 5)));
    assert_eq!(map.position("steps[0].name"), Some((4, 7)));
    assert_eq!(map.position("steps[0].params.n"), Some((4, 26)));
    assert_eq!(map.position("steps[1].depends_on[0]"), Some((6, 18)));
    assert_eq!(map.position("steps[1].depends_on[1]"), Some((6, 21)));
    assert_eq!(map.position("steps[1].retry.maxAttempts"), Some((7, 13)));
    assert_eq!(map.position("nodes[1]"), Some((10, 3)));
    assert_eq!(map.position("nodes[1].type"), Some((10, 11)));
    let element = map.entry("steps[1].depends_on[1]").expect("element");
    assert_eq!(element.value.map(|s| s.width), Some(2));
    // A one-line flow collection is the value's span.
    let trigger = map.entry("trigger").expect("trigger");
    assert_eq!(trigger.value.map(|s| (s.column, s.width)), Some((10, 43)));
}

#[test]
fn json_source() {
    let source = r#"{
  "id": "j",
  "states": [
    {"name": "a", "type": "inject", "next": "zz"},
    {
      "name": "b\"q",
      "end": true
    }
  ]
}"#;
    let map = json_map(source);
    assert_eq!(map.position(""), Some((1, 1)));
    assert_eq!(map.position("id"), Some((2, 3)));
    assert_eq!(map.position("states[0]"), Some((4, 5)));
    assert_eq!(map.position("states[0].next"), Some((4, 37)));
    assert_eq!(map.position("states[1]"), Some((5, 5)));
    assert_eq!(map.position("states[1].end"), Some((7, 7)));
    let next = map.entry("states[0].next").expect("next");
    assert_eq!(next.value.map(|s| (s.column, s.width)), Some((45, 4)));
    // The same text read as YAML gives the same positions.
    let as_yaml = yaml(source);
    for path in ["id", "states[0].next", "states[1].end"] {
        assert_eq!(as_yaml.position(path), map.position(path), "{path}");
    }
}

#[test]
fn nested_lists_of_mappings() {
    let source = "\
states:
- name: fan
  type: parallel
  branches:
  - name: left
    states:
    - name: l1
      end: true
  - name: right
    states:
      - name: r1
        next: r2
      -
        name: r2
        resultPath: steps.r2
- - inner
  - - deeper
";
    let map = yaml(source);
    assert_eq!(map.position("states[0]"), Some((2, 3)));
    assert_eq!(
        map.position("states[0].branches[0].states[0].end"),
        Some((8, 7))
    );
    assert_eq!(map.position("states[0].branches[1]"), Some((9, 5)));
    assert_eq!(
        map.position("states[0].branches[1].states[0].next"),
        Some((12, 9))
    );
    assert_eq!(
        map.position("states[0].branches[1].states[1]"),
        Some((14, 9))
    );
    assert_eq!(
        map.position("states[0].branches[1].states[1].resultPath"),
        Some((15, 9))
    );
    assert_eq!(map.position("states[1][0]"), Some((16, 5)));
    assert_eq!(map.position("states[1][1][0]"), Some((17, 7)));
}

#[test]
fn quoted_keys() {
    let source = "\
\"id\": x
'it''s': 1
\"a\\\"b\": 2
\"esc\\u0041\" : 3
states:
  - \"next\": zz
    'end': true
";
    let map = yaml(source);
    assert_eq!(map.position("id"), Some((1, 1)));
    assert_eq!(map.position("it's"), Some((2, 1)));
    assert_eq!(map.position("a\"b"), Some((3, 1)));
    assert_eq!(map.position("escA"), Some((4, 1)));
    assert_eq!(map.position("states[0].next"), Some((6, 5)));
    assert_eq!(map.position("states[0].end"), Some((7, 5)));
    assert_eq!(map.entry("id").map(|e| e.at.width), Some(4));
}

#[test]
fn comments_and_block_scalars_hide_keys() {
    let source = "\
# id: not-this
id: real # next: no
description: |
  line one
  next: not a key

  still text
# a comment
note: >-
  folded
  text
plain: first
  second: line
url: http://example.com/a#b
next: end
";
    let map = yaml(source);
    assert_eq!(map.position("id"), Some((2, 1)));
    assert_eq!(map.position("next"), Some((15, 1)));
    assert_eq!(map.position("note"), Some((9, 1)));
    assert_eq!(map.position("description.next"), None);
    assert_eq!(map.position("plain.second"), None);
    assert_eq!(map.position("url"), Some((14, 1)));
    let url = map.entry("url").expect("url");
    assert_eq!(url.value.map(|s| s.width), Some(22));
    let description = map.entry("description").expect("description");
    assert_eq!(
        description.value.map(|s| (s.column, s.width)),
        Some((14, 1))
    );
}

#[test]
fn documents_anchors_tags_and_crlf() {
    let source = "\
%YAML 1.2
---
base: &base
  type: operation
  retry: {maxAttempts: 2}
states:
  - <<: *base
    name: !!str a
    next: b
  - &second
    name: b
...
id: second-document
";
    let map = yaml(source);
    assert_eq!(map.position("base.type"), Some((4, 3)));
    assert_eq!(map.position("states[0].name"), Some((8, 5)));
    assert_eq!(map.position("states[0].next"), Some((9, 5)));
    assert_eq!(map.position("states[1].name"), Some((11, 5)));
    assert_eq!(
        map.position("id"),
        None,
        "only the first document is indexed"
    );

    let crlf = "id: x\r\nstates:\r\n  - name: a\r\n    next: b\r\n";
    let map = yaml(crlf);
    assert_eq!(map.position("states[0].next"), Some((4, 5)));
    assert_eq!(
        map.entry("states[0].next")
            .and_then(|e| e.value)
            .map(|s| s.width),
        Some(1)
    );

    // Document markers, several documents, and a marker opening the file.
    let map = yaml("--- {a: 1}\n--- {b: 2}\n");
    assert_eq!(map.position("a"), Some((1, 6)));
    assert_eq!(map.position("b"), None);
}

#[test]
fn compact_sequences_at_the_key_indentation() {
    let source = "\
states:
- name: a
  next: b
- name: b
  end: true
start: a
";
    let map = yaml(source);
    assert_eq!(map.position("states[1].end"), Some((5, 3)));
    assert_eq!(map.position("start"), Some((6, 1)));
}

#[test]
fn missing_paths_fall_back_to_the_nearest_ancestor() {
    let map = yaml(BLOCK);
    let (found, entry) = map
        .nearest("states[1].retry.maxAttempts")
        .expect("ancestor");
    assert_eq!(found, "states[1]");
    assert_eq!(entry.at.line, 13);
    assert_eq!(
        map.nearest("states[9].next").map(|(p, _)| p),
        Some("states")
    );
    assert_eq!(map.nearest("nope").map(|(p, _)| p), Some(""));
    assert_eq!(yaml("").nearest("states"), None);

    let mut diagnostics = Diagnostics::default();
    diagnostics.error("DANGLING_TARGET", "states[1].next", "x");
    diagnostics.error("MISSING_FIELD", "states[0].action", "x");
    diagnostics.push(Diagnostic::new("PARSE_ERROR", "", "x").at(3, 4));
    diagnostics.push(Diagnostic::new("UNREACHABLE_STATE", "states[1]", "x"));
    map.attach(&mut diagnostics);
    let at = |d: &Diagnostic| (d.line, d.column);
    assert_eq!(at(&diagnostics.errors[0]), (Some(18), Some(5)));
    assert_eq!(at(&diagnostics.errors[1]), (Some(7), Some(5)));
    assert_eq!(at(&diagnostics.errors[2]), (Some(3), Some(4)), "kept");
    assert_eq!(at(&diagnostics.warnings[0]), (Some(13), Some(5)));
    let before = diagnostics.clone();
    map.attach(&mut diagnostics);
    assert_eq!(diagnostics, before, "attach twice changes nothing");
}

#[test]
fn parent_paths() {
    assert_eq!(parent_path("states[2].next"), Some("states[2]"));
    assert_eq!(parent_path("states[2]"), Some("states"));
    assert_eq!(parent_path("states"), Some(""));
    assert_eq!(parent_path("a[0][1]"), Some("a[0]"));
    assert_eq!(parent_path("]"), Some(""));
    assert_eq!(parent_path(""), None);
}

#[test]
fn deep_nesting_is_bounded() {
    let deep = "[".repeat(100_000);
    let _ = json_map(&deep);
    let _ = yaml(&deep);
    let dashes = "- ".repeat(50_000);
    let _ = yaml(&dashes);
    let keys = "a: ".repeat(50_000);
    let _ = yaml(&keys);
    let anchors = "&a\n".repeat(10_000);
    let _ = yaml(&anchors);
    let mut nested = String::new();
    for depth in 0..300 {
        nested.push_str(&" ".repeat(depth));
        nested.push_str("k:\n");
    }
    let map = yaml(&nested);
    assert!(map.position("k.k.k").is_some());
}
