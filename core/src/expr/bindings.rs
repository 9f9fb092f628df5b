//! [`Bindings`]: the names an expression can read, and the docs/language.md §2 name
//! resolution order that fills them from a run context.
//!
//! A binding is a JSON value. Values are shared (`Arc`) and bound keys are
//! looked up in their document, so binding every key of `ctx` copies
//! nothing, and an evaluation converts only the names the expression reads.

use serde_json::Value;
use starlark::collections::SmallMap;
use std::sync::Arc;

/// Where a binding's value sits in its shared document. The key, when there
/// is one, is the binding's own name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// The whole document.
    Whole,
    /// The document's key `<name>`.
    Key,
    /// The document's `ctx.<name>`.
    CtxKey,
}

/// A JSON value inside a shared document.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    root: Arc<Value>,
    at: At,
}

impl Node {
    fn whole(root: Arc<Value>) -> Self {
        Self {
            root,
            at: At::Whole,
        }
    }

    /// The value of the binding `name`. Nodes are only built for keys that
    /// exist in an immutable document, so the lookups cannot miss; `Null`
    /// would be the answer if they did.
    pub(crate) fn value(&self, name: &str) -> &Value {
        let value = match self.at {
            At::Whole => Some(&*self.root),
            At::Key => self.root.get(name),
            At::CtxKey => self.root.get("ctx").and_then(|ctx| ctx.get(name)),
        };
        value.unwrap_or(&Value::Null)
    }
}

/// An ordered set of name → JSON value. The first binding of a name wins:
/// later ones are ignored, which is how the resolution order is expressed.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    entries: SmallMap<String, Node>,
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
        if self.entries.contains_key(name) || !is_bindable_name(name) {
            return false;
        }
        self.entries.insert(name.to_owned(), node);
        true
    }

    /// Binds every key of the object `object` (when it is one), found in
    /// `root` at `at`, unless already bound.
    fn bind_keys(&mut self, root: &Arc<Value>, object: Option<&Value>, at: At) {
        if let Some(Value::Object(map)) = object {
            for key in map.keys() {
                let node = Node {
                    root: Arc::clone(root),
                    at,
                };
                self.bind_node(key, node);
            }
        }
    }

    /// The bindings of docs/language.md §2 "Name resolution", earlier wins:
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
                Node {
                    root: Arc::clone(&context),
                    at: At::Key,
                }
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
            bindings.bind_keys(&result, Some(&result), At::Key);
        }
        for (name, value) in items.iter().rev() {
            bindings.bind_shared(name, Arc::clone(value));
        }
        bindings.bind_keys(&context, Some(&context), At::Key);
        bindings.bind_keys(&context, context.get("ctx"), At::CtxKey);
        bindings
    }

    /// The value bound to `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.get(name).map(|node| node.value(name))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The bound names, in resolution order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
