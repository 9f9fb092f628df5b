//! Composer nodes: the fields each node type reads and the action it runs
//! (`signature`, `verifier`, `deployment`, `agent`, `approval`).

use super::{DEPLOYMENT_SIGNAL, Graph};
use crate::model::argv::shell_argv;
use crate::model::dag::{
    StepOptions, agent_name, approval, operation_state, step_options, unknown_fields,
};
use crate::model::ir::{Action, AgentCall, ExecutorCall, State};
use serde_json::{Map, Value};

/// Fields any node may have. `position` and `metadata` are the composer's own.
const NODE_FIELDS: &[&str] = &[
    "id",
    "type",
    "name",
    "description",
    "position",
    "metadata",
    "condition",
    "retries",
    "timeout",
    "timeoutSeconds",
    "resultPath",
];

/// Fields one node type reads besides [`NODE_FIELDS`].
fn type_fields(node_type: &str) -> &'static [&'static str] {
    match node_type {
        "signature" => &["signature", "agent", "input"],
        "verifier" => &["verifier"],
        "deployment" => &["deployment"],
        "agent" => &["agent", "task", "prompt", "input", "variables"],
        "approval" => &[
            "approval",
            "message",
            "approvers",
            "summaryPath",
            "onReject",
        ],
        _ => &[],
    }
}

impl Graph<'_> {
    pub(super) fn node(
        &mut self,
        object: &Map<String, Value>,
        id: &str,
        path: &str,
    ) -> Option<State> {
        let node_type = match object.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(other) => {
                self.error(
                    "INVALID_TYPE",
                    format!("{path}.type"),
                    format!("node type {other} must be a string"),
                );
                return None;
            }
            None => {
                self.error(
                    "MISSING_FIELD",
                    format!("{path}.type"),
                    "a node needs a `type`",
                );
                return None;
            }
        };
        let known = type_fields(node_type);
        if known.is_empty() {
            self.error(
                "UNKNOWN_STEP_TYPE",
                format!("{path}.type"),
                format!(
                    "unknown node type `{node_type}` (known: signature, verifier, deployment, agent, approval)"
                ),
            );
            return None;
        }
        let mut all: Vec<&str> = NODE_FIELDS.to_vec();
        all.extend_from_slice(known);
        unknown_fields(object, &all, path, self.diagnostics);
        let action = match node_type {
            "signature" => self.signature(object, path)?,
            "verifier" => self.verifier(object, path)?,
            "deployment" => self.deployment(object, path)?,
            "agent" => self.agent(object, path)?,
            _ => {
                let at = format!("{path}.approval");
                let gate = match object.get("approval") {
                    Some(Value::Object(inner)) => approval(inner, &at, self.diagnostics),
                    Some(_) => {
                        self.error("INVALID_TYPE", at, "approval must be a mapping");
                        return None;
                    }
                    None => approval(object, path, self.diagnostics),
                };
                Action::HumanApproval(gate)
            }
        };
        Some(self.finish(object, id, path, action))
    }

    fn finish(
        &mut self,
        object: &Map<String, Value>,
        id: &str,
        path: &str,
        action: Action,
    ) -> State {
        let options: StepOptions = step_options(object, id, path, None, self.diagnostics);
        operation_state(id, action, options)
    }

    /// The node's `<key>` object, or MISSING_FIELD / INVALID_TYPE.
    fn typed_object<'o>(
        &mut self,
        object: &'o Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<&'o Map<String, Value>> {
        match object.get(key) {
            Some(Value::Object(inner)) => Some(inner),
            Some(_) => {
                self.error(
                    "INVALID_TYPE",
                    format!("{path}.{key}"),
                    format!("`{key}` must be a mapping"),
                );
                None
            }
            None => {
                self.error(
                    "MISSING_FIELD",
                    format!("{path}.{key}"),
                    format!("a {key} node needs a `{key}` mapping"),
                );
                None
            }
        }
    }

    /// A non-empty string at `object[key]`, or MISSING_FIELD naming `what`.
    fn required_text<'o>(
        &mut self,
        object: &'o Map<String, Value>,
        key: &str,
        path: &str,
        what: &str,
    ) -> Option<&'o Value> {
        match object.get(key) {
            Some(value @ Value::String(s)) if !s.trim().is_empty() => Some(value),
            _ => {
                self.error("MISSING_FIELD", format!("{path}.{key}"), what.to_owned());
                None
            }
        }
    }

    fn signature(&mut self, object: &Map<String, Value>, path: &str) -> Option<Action> {
        let inner_path = format!("{path}.signature");
        let signature = self.typed_object(object, "signature", path)?;
        let prompt = self.required_text(
            signature,
            "prompt",
            &inner_path,
            "a signature node needs `signature.prompt`",
        );
        let agent = match (signature.get("agent"), object.get("agent")) {
            (Some(agent), _) => agent_name(
                Some(agent),
                &format!("{inner_path}.agent"),
                self.diagnostics,
            ),
            (None, Some(agent)) => {
                agent_name(Some(agent), &format!("{path}.agent"), self.diagnostics)
            }
            (None, None) => {
                self.error(
                    "MISSING_FIELD",
                    format!("{inner_path}.agent"),
                    "a signature node runs its prompt on an agent: name it in `signature.agent` (or the node's `agent`)",
                );
                None
            }
        };
        let (prompt, agent) = (prompt?, agent?);
        let settings: Map<String, Value> = signature
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "prompt" | "agent"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(Action::AgentRun(AgentCall {
            agent,
            task: Some(prompt.clone()),
            input: object.get("input").cloned(),
            variables: (!settings.is_empty()).then_some(Value::Object(settings)),
            timeout_seconds: None,
            default_task: None,
        }))
    }

    fn verifier(&mut self, object: &Map<String, Value>, path: &str) -> Option<Action> {
        let verifier = self.typed_object(object, "verifier", path)?;
        let command = self.required_text(
            verifier,
            "command",
            &format!("{path}.verifier"),
            "a verifier node needs `verifier.command`",
        )?;
        let argv = match shell_argv(command) {
            Ok(argv) => argv,
            Err(message) => {
                self.error("INVALID_VALUE", format!("{path}.verifier.command"), message);
                return None;
            }
        };
        let mut params = verifier.clone();
        params.insert("command".to_owned(), argv);
        Some(Action::Executor(ExecutorCall {
            executor: "shell.run".to_owned(),
            params: Value::Object(params),
        }))
    }

    fn deployment(&mut self, object: &Map<String, Value>, path: &str) -> Option<Action> {
        let inner_path = format!("{path}.deployment");
        let deployment = self.typed_object(object, "deployment", path)?;
        let mut data = deployment.clone();
        if !data.contains_key("tenant")
            && let Some(tenant) = self.tenant
        {
            data.insert("tenant".to_owned(), Value::String(tenant.to_owned()));
        }
        let mut complete = true;
        for key in ["tenant", "domain", "channel"] {
            let what = if key == "tenant" {
                "a deployment node needs `deployment.tenant` (or a graph-level `tenant`)".to_owned()
            } else {
                format!("a deployment node needs `deployment.{key}`")
            };
            complete &= self.required_text(&data, key, &inner_path, &what).is_some();
        }
        if !complete {
            return None;
        }
        let mut params = Map::new();
        params.insert(
            "type".to_owned(),
            Value::String(DEPLOYMENT_SIGNAL.to_owned()),
        );
        params.insert("data".to_owned(), Value::Object(data));
        Some(Action::Executor(ExecutorCall {
            executor: "signal.emit".to_owned(),
            params: Value::Object(params),
        }))
    }

    /// `agent: <name>` with `task`/`prompt`, `input`, `variables` on the node,
    /// or `agent: {name, task, input, variables}`.
    fn agent(&mut self, object: &Map<String, Value>, path: &str) -> Option<Action> {
        let (fields, at, name_key) = match object.get("agent") {
            Some(Value::Object(inner)) => {
                let key = if inner.contains_key("name") {
                    "name"
                } else {
                    "agent"
                };
                (inner, format!("{path}.agent"), key)
            }
            _ => (object, path.to_owned(), "agent"),
        };
        let agent = agent_name(
            fields.get(name_key),
            &format!("{at}.{name_key}"),
            self.diagnostics,
        )?;
        let task = fields
            .get("task")
            .or_else(|| fields.get("prompt"))
            .or_else(|| object.get("task"))
            .cloned();
        Some(Action::AgentRun(AgentCall {
            agent,
            task,
            input: fields.get("input").or_else(|| object.get("input")).cloned(),
            variables: fields
                .get("variables")
                .or_else(|| object.get("variables"))
                .cloned(),
            timeout_seconds: None,
            default_task: None,
        }))
    }
}
