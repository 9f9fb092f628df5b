//! The composer graph's structure: node ids (valid and unique) and edges
//! (ids, kinds, ends), turned into what each node depends on.

use super::Graph;
use crate::model::dag::{is_valid_step_name, unknown_fields};
use serde_json::{Map, Value};
use std::collections::HashMap;

const EDGE_FIELDS: &[&str] = &["id", "source", "target", "kind", "label"];

impl Graph<'_> {
    /// Each node's id, when valid; a duplicate keeps its id (for dependency
    /// lookups the first node with it counts) and is DUPLICATE_STATE.
    pub(super) fn node_ids(&mut self, nodes: &[Value]) -> Vec<Option<String>> {
        let mut seen = HashMap::new();
        let mut ids = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let path = format!("nodes[{i}]");
            let id = match node.as_object().map(|o| o.get("id")) {
                None => {
                    self.error("INVALID_TYPE", &path, "a node must be a mapping");
                    None
                }
                Some(Some(Value::String(id))) if is_valid_step_name(id) => Some(id.clone()),
                Some(Some(other)) => {
                    self.error(
                        "INVALID_ID",
                        format!("{path}.id"),
                        format!("node id {other} must match [A-Za-z0-9_-]{{1,128}}"),
                    );
                    None
                }
                Some(None) => {
                    self.error(
                        "MISSING_FIELD",
                        format!("{path}.id"),
                        "a node needs an `id`",
                    );
                    None
                }
            };
            if let Some(id) = &id
                && let Some(&first) = seen.get(id)
            {
                self.error(
                    "DUPLICATE_STATE",
                    format!("{path}.id"),
                    format!("node id `{id}` is used twice (first by nodes[{first}])"),
                );
            }
            if let Some(id) = &id {
                seen.entry(id.clone()).or_insert(i);
            }
            ids.push(id);
        }
        ids
    }

    /// Per node, what it depends on: `(node index, edge index)` pairs.
    pub(super) fn edges(
        &mut self,
        edges: &[Value],
        ids: &[Option<String>],
    ) -> Vec<Vec<(usize, usize)>> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(id) = id {
                index.entry(id.as_str()).or_insert(i);
            }
        }
        let mut deps = vec![Vec::new(); ids.len()];
        let mut seen_ids: HashMap<String, usize> = HashMap::new();
        for (e, edge) in edges.iter().enumerate() {
            let path = format!("edges[{e}]");
            let Some(object) = edge.as_object() else {
                self.error("INVALID_TYPE", path, "an edge must be a mapping");
                continue;
            };
            unknown_fields(object, EDGE_FIELDS, &path, self.diagnostics);
            self.edge_id(object, &path, e, &mut seen_ids);
            self.edge_kind(object, &path);
            let source = self.edge_end(object, &path, "source", &index);
            let target = self.edge_end(object, &path, "target", &index);
            let (Some(source), Some(target)) = (source, target) else {
                continue;
            };
            if source == target {
                let id = ids[source].as_deref().unwrap_or("?");
                self.error(
                    "DAG_CYCLE",
                    path,
                    format!("edge from `{id}` to itself: a node cannot depend on itself"),
                );
                continue;
            }
            if !deps[target].iter().any(|&(j, _)| j == source) {
                deps[target].push((source, e));
            }
        }
        deps
    }

    /// An edge's optional `id`: a non-empty string, unique.
    fn edge_id(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        e: usize,
        seen_ids: &mut HashMap<String, usize>,
    ) {
        match object.get("id") {
            None => {}
            Some(Value::String(id)) if !id.is_empty() => {
                if let Some(first) = seen_ids.get(id) {
                    self.error(
                        "DUPLICATE_EDGE",
                        format!("{path}.id"),
                        format!("edge id `{id}` is used twice (first by edges[{first}])"),
                    );
                } else {
                    seen_ids.insert(id.clone(), e);
                }
            }
            Some(other) => self.error(
                "INVALID_ID",
                format!("{path}.id"),
                format!("edge id {other} must be a non-empty string"),
            ),
        }
    }

    /// An edge's optional `kind`: `control` or `data`.
    fn edge_kind(&mut self, object: &Map<String, Value>, path: &str) {
        match object.get("kind") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "control" || kind == "data" => {}
            Some(other) => self.error(
                "INVALID_VALUE",
                format!("{path}.kind"),
                format!("edge kind {other} must be `control` or `data`"),
            ),
        }
    }

    /// The node index an edge's `source` or `target` names.
    fn edge_end(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        key: &str,
        index: &HashMap<&str, usize>,
    ) -> Option<usize> {
        let at = format!("{path}.{key}");
        match object.get(key) {
            Some(Value::String(id)) => match index.get(id.as_str()) {
                Some(&i) => Some(i),
                None => {
                    self.error(
                        "DANGLING_TARGET",
                        at,
                        format!("edge {key} `{id}` names no node"),
                    );
                    None
                }
            },
            Some(other) => {
                self.error(
                    "INVALID_TYPE",
                    at,
                    format!("edge {key} {other} must be a node id"),
                );
                None
            }
            None => {
                self.error(
                    "MISSING_FIELD",
                    at,
                    format!("an edge needs a `{key}` node id"),
                );
                None
            }
        }
    }
}
