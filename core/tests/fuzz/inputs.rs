//! Generators shared by the fuzz targets: hostile JSON trees, nesting past
//! the parsers' limits, random bytes, and the two kinds of mutation (of a
//! parsed tree, of a text).

use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Strings that mean something to some layer: templates, paths,
/// expressions (some of them bombs), YAML and JSON syntax, odd Unicode.
pub const HOSTILE_STRINGS: &[&str] = &[
    "",
    " ",
    "{{ ctx.a }}",
    "{{ ctx }}",
    "{{ }}",
    "{{ steps.a.output | tojson }}",
    "{{{{",
    "}}",
    "${steps.b.c}",
    "$.ctx.a",
    "$..a",
    "$[0]",
    "ctx.a == 'b'",
    "result.x > 1",
    "[x for x in",
    "'x' * 10**9",
    "[0] * 10**9",
    "len(range(10**12))",
    "[i for i in range(100000) for j in range(100000)]",
    "agent.run",
    "human.approval",
    "signal.wait",
    "shell.run",
    "http.request",
    "starlark.eval",
    "states[0]",
    "30s",
    "-1s",
    "99999999999999999999d",
    "*/5 * * * *",
    "@every 0s",
    "all",
    "any",
    "merge",
    "\0",
    "a\0b",
    "\u{feff}",
    "\u{202e}",
    "é",
    "🦀",
    "\\u0000",
    "&a",
    "*a",
    "!!binary",
    "- ",
    ": ",
    "---",
    "\n",
];

/// Keys the front ends read, so that mutations hit fields that matter.
pub const KEYS: &[&str] = &[
    "id",
    "name",
    "type",
    "action",
    "input",
    "next",
    "transition",
    "end",
    "resultPath",
    "retry",
    "timeoutSeconds",
    "data",
    "dataPath",
    "conditions",
    "defaultNext",
    "branches",
    "join",
    "itemsPath",
    "itemName",
    "iterator",
    "expression",
    "catch",
    "onError",
    "agent",
    "task",
    "prompt",
    "outputAggregation",
    "maxConcurrency",
    "states",
    "start",
    "steps",
    "depends_on",
    "retries",
    "timeout",
    "condition",
    "nodes",
    "edges",
    "source",
    "target",
    "kind",
    "trigger",
    "signal",
    "cron",
    "filter",
    "inputSchema",
    "outputSchema",
    "concurrency",
    "key",
    "variables",
    "transform",
    "output",
    "error",
    "code",
    "message",
    "retryable",
    "specversion",
    "datacontenttype",
    "data_base64",
    "tenant",
    "subject",
    "correlationid",
    "traceparent",
    "workflow_id",
    "token",
    "decision",
    "approval_id",
];

/// A scalar: hostile strings, random text, extreme numbers.
pub fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![0.0, -0.0, 1e308, -1e308, 5e-324]).prop_map(|f| json!(f)),
        prop::sample::select(HOSTILE_STRINGS).prop_map(Value::from),
        prop::sample::select(KEYS).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        (1usize..5000).prop_map(|n| Value::from("x".repeat(n))),
    ]
}

/// A JSON tree up to a few levels deep, keys drawn from [`KEYS`] and text.
pub fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

/// Deepest value built as a tree: deeper ones are written as text
/// ([`deep_text`]), as a `Value` that deep would overflow the test's own
/// stack when dropped.
pub const MAX_TREE_DEPTH: usize = 300;

/// A value nested `depth` levels (at most [`MAX_TREE_DEPTH`]) in arrays or
/// objects around `inner`.
pub fn nest(inner: Value, depth: usize, objects: bool) -> Value {
    (0..depth.min(MAX_TREE_DEPTH)).fold(inner, |value, _| {
        if objects {
            json!({ "a": value })
        } else {
            Value::Array(vec![value])
        }
    })
}

/// Nesting depths around the limits: serde_json and the YAML parser stop at
/// 128, the expression sandbox converts at most 256, and far beyond.
pub fn depth() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..140,
        prop::sample::select(vec![
            63, 64, 65, 126, 127, 128, 129, 255, 256, 257, 1000, 10_000
        ]),
    ]
}

/// Text that opens `depth` brackets (closed or not): what no serializer
/// writes, so it is built by hand.
pub fn deep_text() -> impl Strategy<Value = String> {
    (
        depth(),
        prop::sample::select(vec!["[", "{\"a\":", "[{\"a\":", "- ", "a:\n "]),
        any::<bool>(),
    )
        .prop_map(|(depth, open, closed)| {
            let mut text = open.repeat(depth);
            text.push('1');
            if closed {
                let close = match open {
                    "[" => "]",
                    "{\"a\":" => "}",
                    "[{\"a\":" => "}]",
                    _ => "",
                };
                text.push_str(&close.repeat(depth));
            }
            text
        })
}

/// Random bytes, sometimes valid UTF-8 text.
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        ".{0,300}".prop_map(String::into_bytes),
    ]
}

/// One change to a parsed tree, at the node numbered `at` (modulo the
/// number of nodes, in depth-first order).
#[derive(Debug, Clone)]
pub enum TreeEdit {
    Replace(usize, Value),
    Remove(usize),
    Rename(usize, String),
    Wrap(usize),
    Nest(usize, usize),
    Stringify(usize),
    Duplicate(usize),
    Insert(usize, String, Value),
}

pub fn tree_edits() -> impl Strategy<Value = Vec<TreeEdit>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), tree()).prop_map(|(at, v)| TreeEdit::Replace(at, v)),
        2 => any::<usize>().prop_map(TreeEdit::Remove),
        2 => (any::<usize>(), key()).prop_map(|(at, k)| TreeEdit::Rename(at, k)),
        1 => any::<usize>().prop_map(TreeEdit::Wrap),
        1 => (any::<usize>(), depth()).prop_map(|(at, d)| TreeEdit::Nest(at, d)),
        1 => any::<usize>().prop_map(TreeEdit::Stringify),
        1 => any::<usize>().prop_map(TreeEdit::Duplicate),
        3 => (any::<usize>(), key(), tree()).prop_map(|(at, k, v)| TreeEdit::Insert(at, k, v)),
    ];
    prop::collection::vec(edit, 1..6)
}

/// JSON pointers of every node of `value`, depth first (the root is "").
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{at}/{escaped}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Splits a pointer into its parent and its last (unescaped) segment.
fn parent_of(pointer: &str) -> Option<(&str, String)> {
    let cut = pointer.rfind('/')?;
    let last = pointer[cut + 1..].replace("~1", "/").replace("~0", "~");
    Some((&pointer[..cut], last))
}

/// Applies `edits` to `value`; nesting is capped so that a mutated tree
/// stays small enough to serialize.
pub fn apply_tree_edits(value: &mut Value, edits: &[TreeEdit]) {
    for edit in edits {
        let mut all = Vec::new();
        pointers(value, String::new(), &mut all);
        let pick = |at: usize| all[at % all.len()].clone();
        match edit {
            TreeEdit::Replace(at, new) => {
                if let Some(node) = value.pointer_mut(&pick(*at)) {
                    *node = new.clone();
                }
            }
            TreeEdit::Wrap(at) => {
                if let Some(node) = value.pointer_mut(&pick(*at)) {
                    *node = Value::Array(vec![node.take()]);
                }
            }
            TreeEdit::Nest(at, depth) => {
                if let Some(node) = value.pointer_mut(&pick(*at)) {
                    *node = nest(node.take(), *depth, depth % 2 == 0);
                }
            }
            TreeEdit::Stringify(at) => {
                if let Some(node) = value.pointer_mut(&pick(*at)) {
                    *node = Value::String(node.to_string());
                }
            }
            TreeEdit::Insert(at, key, new) => match value.pointer_mut(&pick(*at)) {
                Some(Value::Object(map)) => {
                    map.insert(key.clone(), new.clone());
                }
                Some(Value::Array(items)) => items.push(new.clone()),
                _ => {}
            },
            TreeEdit::Remove(at) | TreeEdit::Rename(at, _) | TreeEdit::Duplicate(at) => {
                let pointer = pick(*at);
                let Some((parent, last)) = parent_of(&pointer) else {
                    continue;
                };
                match (value.pointer_mut(parent), edit) {
                    (Some(Value::Object(map)), TreeEdit::Remove(_)) => {
                        map.remove(&last);
                    }
                    (Some(Value::Object(map)), TreeEdit::Rename(_, key)) => {
                        if let Some(node) = map.remove(&last) {
                            map.insert(key.clone(), node);
                        }
                    }
                    (Some(Value::Object(map)), TreeEdit::Duplicate(_)) => {
                        if let Some(node) = map.get(&last).cloned() {
                            map.insert(format!("{last}2"), node);
                        }
                    }
                    (Some(Value::Array(items)), edit) => {
                        let Ok(i) = last.parse::<usize>() else {
                            continue;
                        };
                        if i < items.len() {
                            match edit {
                                TreeEdit::Duplicate(_) => items.insert(i, items[i].clone()),
                                _ => {
                                    items.remove(i);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Pieces text edits insert: syntax of both languages, brackets, quotes.
pub const PIECES: &[&str] = &[
    " ",
    "\n",
    "\r\n",
    "\t",
    "- ",
    ":",
    ": ",
    "#",
    "?",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    "\"",
    "\\",
    "\\u00",
    "\\ud800",
    "|",
    ">",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "%YAML 1.2\n",
    "---\n",
    "...\n",
    "<<: *a\n",
    "~",
    "null",
    "true",
    "1e999",
    "-0",
    "0x1f",
    "\u{feff}",
    "\0",
    "{{",
    "}}",
    "\n  ",
    "\n- ",
    "\n  - ",
    "def ",
    "return ",
    "(",
    ")",
    "lambda x: x",
    "for ",
    " in ",
    "if ",
    "* 10**9",
    "**",
    "\"\"\"",
    "'''",
];

/// One change to a text.
#[derive(Debug, Clone)]
pub enum TextEdit {
    Delete(usize, usize),
    Insert(usize, &'static str),
    Replace(usize, char),
    Duplicate(usize, usize),
    Truncate(usize),
    Brackets(usize, usize),
}

pub fn text_edits() -> impl Strategy<Value = Vec<TextEdit>> {
    let edit = prop_oneof![
        3 => (any::<usize>(), 1usize..20).prop_map(|(at, n)| TextEdit::Delete(at, n)),
        4 => (any::<usize>(), prop::sample::select(PIECES)).prop_map(|(at, p)| TextEdit::Insert(at, p)),
        3 => (any::<usize>(), any::<char>()).prop_map(|(at, c)| TextEdit::Replace(at, c)),
        1 => (any::<usize>(), 1usize..200).prop_map(|(at, n)| TextEdit::Duplicate(at, n)),
        1 => any::<usize>().prop_map(TextEdit::Truncate),
        1 => (any::<usize>(), depth()).prop_map(|(at, n)| TextEdit::Brackets(at, n)),
    ];
    prop::collection::vec(edit, 1..10)
}

/// Applies `edits` to `seed`, character-wise.
pub fn apply_text_edits(seed: &str, edits: &[TextEdit]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for edit in edits {
        let len = chars.len();
        let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *edit {
            TextEdit::Delete(i, n) => {
                let start = at(i).min(len);
                let end = (start + n).min(len);
                chars.drain(start..end);
            }
            TextEdit::Insert(i, piece) => {
                let start = at(i);
                chars.splice(start..start, piece.chars());
            }
            TextEdit::Replace(i, c) => {
                if len > 0 {
                    chars[i % len] = c;
                }
            }
            TextEdit::Duplicate(i, n) => {
                let start = at(i).min(len);
                let end = (start + n).min(len);
                let copy: Vec<char> = chars[start..end].to_vec();
                chars.splice(end..end, copy);
            }
            TextEdit::Truncate(i) => chars.truncate(at(i)),
            TextEdit::Brackets(i, n) => {
                let start = at(i);
                let open = if n % 2 == 0 { '[' } else { '{' };
                chars.splice(start..start, std::iter::repeat_n(open, n));
            }
        }
    }
    chars.into_iter().collect()
}
