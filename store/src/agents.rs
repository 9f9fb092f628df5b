//! The agent registry: agents resolved by name within a tenant. The
//! coordinator writes it (`wf.ctl.agents.*`, agent files); workers read one
//! agent at a time ([`Store::get_agent`]) to check that a step's agent exists
//! and to validate its input and output against the registered schemas
//! (PROTOCOL §5). Workers cache what they read, so this is not a
//! query per step.

use super::{Result, Store};
use junction_core::wire::time;
use serde::Serialize;
use serde_json::Value;

/// A registered agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentRecord {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Option<Value>,
    pub output_schema: Option<Value>,
    /// The circuit breaker policy `{failures, cooldownSeconds}`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit: Option<Value>,
    pub updated_at: String,
}

impl Store {
    /// Creates or replaces an agent; `true` when the name was new.
    pub async fn put_agent(
        &self,
        tenant: &str,
        name: &str,
        description: Option<&str>,
        input_schema: Option<&Value>,
        output_schema: Option<&Value>,
        circuit: Option<&Value>,
    ) -> Result<bool> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO agents (tenant, name, description, input_schema, output_schema, circuit) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant, name) DO UPDATE SET description = EXCLUDED.description,
                     input_schema = EXCLUDED.input_schema, output_schema = EXCLUDED.output_schema,
                     circuit = EXCLUDED.circuit, updated_at = now()
                 RETURNING (xmax = 0)",
                &[&tenant, &name, &description, &input_schema, &output_schema, &circuit],
            )
            .await?;
        Ok(row.get(0))
    }

    /// One agent of `tenant`, or `None` when no agent of that name is registered there.
    pub async fn get_agent(&self, tenant: &str, name: &str) -> Result<Option<AgentRecord>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT name, description, input_schema, output_schema, updated_at, circuit FROM agents WHERE tenant = $1 AND name = $2",
            )
            .await?;
        let row = client.query_opt(&statement, &[&tenant, &name]).await?;
        Ok(row.as_ref().map(agent_from))
    }

    pub async fn list_agents(&self, tenant: &str) -> Result<Vec<AgentRecord>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT name, description, input_schema, output_schema, updated_at, circuit FROM agents WHERE tenant = $1 ORDER BY name", &[&tenant])
            .await?;
        Ok(rows.iter().map(agent_from).collect())
    }

    /// `true` when an agent was deleted.
    pub async fn delete_agent(&self, tenant: &str, name: &str) -> Result<bool> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "DELETE FROM agents WHERE tenant = $1 AND name = $2",
                &[&tenant, &name],
            )
            .await?
            == 1)
    }
}

/// An agent from a row of `name, description, input_schema, output_schema, updated_at, circuit`.
fn agent_from(row: &tokio_postgres::Row) -> AgentRecord {
    AgentRecord {
        name: row.get(0),
        description: row.get(1),
        input_schema: row.get(2),
        output_schema: row.get(3),
        updated_at: time::format(row.get(4)),
        circuit: row.get(5),
    }
}
