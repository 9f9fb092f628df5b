//! The agent registry: agents resolved by name within a tenant.

use super::{Result, Store};
use crate::wire::time;
use serde::Serialize;
use serde_json::Value;

/// A registered agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentRecord {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Option<Value>,
    pub output_schema: Option<Value>,
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
    ) -> Result<bool> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO agents (tenant, name, description, input_schema, output_schema) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant, name) DO UPDATE SET description = EXCLUDED.description,
                     input_schema = EXCLUDED.input_schema, output_schema = EXCLUDED.output_schema, updated_at = now()
                 RETURNING (xmax = 0)",
                &[&tenant, &name, &description, &input_schema, &output_schema],
            )
            .await?;
        Ok(row.get(0))
    }

    pub async fn list_agents(&self, tenant: &str) -> Result<Vec<AgentRecord>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT name, description, input_schema, output_schema, updated_at FROM agents WHERE tenant = $1 ORDER BY name", &[&tenant])
            .await?;
        Ok(rows
            .iter()
            .map(|r| AgentRecord {
                name: r.get(0),
                description: r.get(1),
                input_schema: r.get(2),
                output_schema: r.get(3),
                updated_at: time::format(r.get(4)),
            })
            .collect())
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
