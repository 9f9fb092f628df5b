//! The second opinion of jsonschema's experimental schema algebra
//! (`canonicalize(..).covers(..)`), for schemas small enough to hand over.

use super::MAX_DEPTH;
use serde_json::Value;

/// Largest schema (in JSON nodes) handed to the schema algebra.
const MAX_ALGEBRA_NODES: usize = 2_000;

/// Whether `input` covers `output` by jsonschema's schema algebra:
/// `Some(true)` proven, `Some(false)` refuted, `None` undecided (including
/// schemas too deep or too large to hand over, and any error or panic of the
/// experimental API).
pub(super) fn algebra_covers(output: &Value, input: &Value) -> Option<bool> {
    let small = |v: &Value| {
        let mut budget = MAX_ALGEBRA_NODES;
        within(v, MAX_DEPTH, &mut budget)
    };
    if !small(output) || !small(input) {
        return None;
    }
    let attempt = || -> Option<bool> {
        let canonical = |v: &Value| {
            jsonschema::canonical::options()
                .offline()
                .canonicalize(v)
                .ok()
        };
        let (output, input) = (canonical(output)?, canonical(input)?);
        match input.covers(&output).ok()? {
            jsonschema::canonical::Containment::Yes => Some(true),
            jsonschema::canonical::Containment::No => Some(false),
            jsonschema::canonical::Containment::Unknown => None,
        }
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(attempt))
        .ok()
        .flatten()
}

/// Whether `value` nests at most `depth` levels and has at most `budget` nodes.
fn within(value: &Value, depth: usize, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return true,
    };
    let mut children = children.peekable();
    if children.peek().is_some() && depth == 0 {
        return false;
    }
    children.all(|child| within(child, depth - 1, budget))
}
