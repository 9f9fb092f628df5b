//! The agents of a test cluster: the registry files every coordinator syncs
//! at startup, changes to the registry through the control plane, and the
//! agents the test process serves itself.

use crate::TestEnv;
use junction_bus::ControlSubject;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::path::PathBuf;

impl TestEnv {
    pub(crate) fn agent_file(&self, name: &str) -> PathBuf {
        self.agents_dir().join(format!("{name}.agent.json"))
    }

    /// Writes the registry file of agent `name` (replacing any).
    pub(crate) fn write_agent_file(
        &self,
        name: &str,
        input_schema: Option<&Value>,
        output_schema: Option<&Value>,
    ) -> anyhow::Result<()> {
        let mut agent = json!({ "name": name, "description": "served by the e2e harness" });
        if let Some(schema) = input_schema {
            agent["input_schema"] = schema.clone();
        }
        if let Some(schema) = output_schema {
            agent["output_schema"] = schema.clone();
        }
        std::fs::write(self.agent_file(name), serde_json::to_vec_pretty(&agent)?)?;
        Ok(())
    }

    /// Registers (or replaces) agent `name` in the `default` tenant through
    /// `wf.ctl.agents.put`, and updates its agent file so coordinators started
    /// later keep it. A running worker sees the change within its registry
    /// cache TTL (2 s); put schemas before starting the runs they concern.
    pub async fn put_agent(
        &self,
        name: &str,
        input_schema: Option<Value>,
        output_schema: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut body = json!({ "name": name });
        if let Some(schema) = &input_schema {
            body["input_schema"] = schema.clone();
        }
        if let Some(schema) = &output_schema {
            body["output_schema"] = schema.clone();
        }
        let reply = self.control(ControlSubject::AgentsPut, body).await?;
        self.write_agent_file(name, input_schema.as_ref(), output_schema.as_ref())?;
        Ok(reply)
    }

    /// Deletes agent `name` through `wf.ctl.agents.delete`, and its agent file.
    pub async fn delete_agent(&self, name: &str) -> anyhow::Result<()> {
        self.control(ControlSubject::AgentsDelete, json!({ "name": name }))
            .await?;
        let file = self.agent_file(name);
        if file.exists() {
            std::fs::remove_file(file)?;
        }
        Ok(())
    }

    /// Serves `registry` in this test process (real NATS), recording calls in
    /// [`Self::calls`]. Agents without an agent file get one (no schemas), so
    /// coordinators started afterwards register them.
    pub async fn serve_agents(&mut self, registry: Registry) -> anyhow::Result<()> {
        for name in registry.names() {
            if !self.agent_file(name).exists() {
                self.write_agent_file(name, None, None)?;
            }
        }
        let handle = junction_example_agents::spawn(
            self.nats.clone(),
            self.subjects.clone(),
            registry,
            self.calls.clone(),
        )
        .await?;
        self.agents = Some(handle);
        Ok(())
    }
}
