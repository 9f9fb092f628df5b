//! Source-map tests, by subject: positions in block, flow and JSON sources
//! and the fallbacks (`positions`), and properties: no input makes the
//! scanner panic, hang or point outside the text, and every path of a
//! serialized document is found (`properties`). Shared helpers are here.

mod positions;
mod properties;

use super::*;

pub(super) fn yaml(source: &str) -> SourceMap {
    SourceMap::build(source, SourceFormat::Yaml)
}

pub(super) fn json_map(source: &str) -> SourceMap {
    SourceMap::build(source, SourceFormat::Json)
}

/// A block-style states document: the example and the seed of the
/// mutation property.
pub(super) const BLOCK: &str = "\
# An order pipeline.
id: order-pipeline
version: \"1.0\"
trigger:
  signal: order.created
states:
  - name: defaults
    type: inject
    data:
      currency: EUR
    next: validate

  - name: validate   # trailing comment
    type: operation
    input:
      agent: echo
      task: \"validate: {{ ctx.id }}\"
    next: zz
";
