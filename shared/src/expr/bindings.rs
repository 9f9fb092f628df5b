//! [`Bindings`]: the names an expression can read, and the DESIGN §5 name
//! resolution order that fills them from a run context.
//!
//! A binding is a JSON value. Values are shared (`Arc`) and addressed by a
//! path from their root, so binding every key of `ctx` copies nothing, and
//! an evaluation converts only the names the expression mentions.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A JSON value inside a shared document: `root` at the key path `path`.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    root: Arc<Value>,
    path: Arc<[Arc<str>]>,
}

impl Node {
    pub(crate) fn whole(root: Arc<Value>) -> Self {
        Self {
            root,
            path: Arc::from(Vec::new()),
        }
    }

    fn at(root: &Arc<Value>, path: Vec<Arc<str>>) -> Self {
        Self {
            root: Arc::clone(root),
            path: Arc::from(path),
        }
    }

    /// The value this node names. Paths are only ever built from existing
    /// keys and indexes of an immutable root, so the walk cannot miss; `Null`
    /// would be the answer if it did.
    pub(crate) fn value(&self) -> &Value {
        let mut value: &Value = &self.root;
        for key in self.path.iter() {
            value = value.get(&**key).unwrap_or(&Value::Null);
        }
        value
    }

    /// The child at `key` (which must exist in [`Node::value`]).
    fn child(&self, key: &str) -> Self {
        let mut path = Vec::with_capacity(self.path.len() + 1);
        path.extend(self.path.iter().cloned());
        path.push(Arc::from(key));
        Self {
            root: Arc::clone(&self.root),
            path: Arc::from(path),
        }
    }
}

/// An ordered set of name → JSON value. The first binding of a name wins:
/// later ones are ignored, which is how the resolution order is expressed.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    entries: Vec<(String, Node)>,
    index: HashMap<String, usize>,
}

/// Words that cannot be bound: Starlark keywords and reserved words, and the
/// constants `True`, `False` and `None`.
const NOT_BINDABLE: &[&str] = &[
    "and", "break", "continue", "def", "elif", "else", "for", "if", "in", "lambda", "load", "not",
    "or", "pass", "return", "as", "assert", "async", "await", "class", "del", "except", "finally",
    "from", "global", "import", "is", "nonlocal", "raise", "try", "while", "with", "yield", "True",
    "False", "None",
];

/// Prefix of the sandbox's own helper functions; never bindable.
pub(crate) const INTERNAL_PREFIX: &str = "__junction";

/// Whether `name` can be bound: an ASCII identifier that is not a keyword.
pub fn is_bindable_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !NOT_BINDABLE.contains(&name)
        && !name.starts_with(INTERNAL_PREFIX)
}

impl Bindings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `name` unless it is already bound or is not a valid identifier;
    /// returns whether it was bound.
    pub fn bind(&mut self, name: &str, value: Value) -> bool {
        self.bind_shared(name, Arc::new(value))
    }

    /// [`Bindings::bind`] for a value that is already shared.
    pub fn bind_shared(&mut self, name: &str, value: Arc<Value>) -> bool {
        self.bind_node(name, Node::whole(value))
    }

    /// Builder form of [`Bindings::bind`].
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.bind(name, value);
        self
    }

    fn bind_node(&mut self, name: &str, node: Node) -> bool {
        if self.index.contains_key(name) || !is_bindable_name(name) {
            return false;
        }
        self.index.insert(name.to_owned(), self.entries.len());
        self.entries.push((name.to_owned(), node));
        true
    }

    /// Binds every key of the object at `prefix` in `root` (if it is an
    /// object), unless already bound.
    fn bind_keys(&mut self, root: &Arc<Value>, prefix: &[&str]) {
        let node = Node::at(root, prefix.iter().map(|k| Arc::from(*k)).collect());
        if let Value::Object(map) = node.value() {
            for key in map.keys() {
                if self.index.contains_key(key.as_str()) || !is_bindable_name(key) {
                    continue;
                }
                let child = node.child(key);
                self.bind_node(key, child);
            }
        }
    }

    /// The bindings of DESIGN §5 "Name resolution", earlier wins:
    /// 1. `ctx`, `steps`, `signal` (from `context`, None when absent),
    ///    `input`, `result` (None when `result` is `None`), and in a switch
    ///    `_value` and `val` (both the dataPath value `result`);
    /// 2. in a switch, the top-level keys of the dataPath object `result`;
    /// 3. the foreach item names; `items` is ordered outermost to innermost,
    ///    and the innermost wins;
    /// 4. the top-level keys of `context` (flat roots such as `alert`);
    /// 5. the keys of `context.ctx`.
    ///
    /// Names that are not identifiers (`my-key`) or are keywords are skipped.
    /// Each of `context`, `input`, `result` and the items is copied once;
    /// use [`Bindings::for_shared_context`] to avoid even that.
    pub fn for_context(
        context: &Value,
        input: &Value,
        result: Option<&Value>,
        in_switch: bool,
        items: &[(String, Value)],
    ) -> Self {
        let items: Vec<(String, Arc<Value>)> = items
            .iter()
            .map(|(name, value)| (name.clone(), Arc::new(value.clone())))
            .collect();
        Self::for_shared_context(
            Arc::new(context.clone()),
            Arc::new(input.clone()),
            result.map(|r| Arc::new(r.clone())),
            in_switch,
            &items,
        )
    }

    /// [`Bindings::for_context`] over shared values.
    pub fn for_shared_context(
        context: Arc<Value>,
        input: Arc<Value>,
        result: Option<Arc<Value>>,
        in_switch: bool,
        items: &[(String, Arc<Value>)],
    ) -> Self {
        let mut bindings = Self::new();
        let none = Arc::new(Value::Null);
        for reserved in ["ctx", "steps", "signal"] {
            let node = if context.get(reserved).is_some() {
                Node::at(&context, vec![Arc::from(reserved)])
            } else {
                Node::whole(Arc::clone(&none))
            };
            bindings.bind_node(reserved, node);
        }
        bindings.bind_shared("input", input);
        let result = result.unwrap_or(none);
        bindings.bind_shared("result", Arc::clone(&result));
        if in_switch {
            bindings.bind_shared("_value", Arc::clone(&result));
            bindings.bind_shared("val", Arc::clone(&result));
            bindings.bind_keys(&result, &[]);
        }
        for (name, value) in items.iter().rev() {
            bindings.bind_shared(name, Arc::clone(value));
        }
        bindings.bind_keys(&context, &[]);
        bindings.bind_keys(&context, &["ctx"]);
        bindings
    }

    /// The value bound to `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.node(name).map(Node::value)
    }

    pub(crate) fn node(&self, name: &str) -> Option<&Node> {
        self.index.get(name).map(|&i| &self.entries[i].1)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The bound names, in resolution order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
