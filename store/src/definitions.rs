//! Workflow definitions: versioned puts (a changed source adds a revision and
//! archives the previous one), reads, and lookup by trigger.

use super::{Error, Result, Store};
use junction_core::model::Workflow;
use junction_core::wire::time;
use serde_json::Value;

/// The latest revision of a workflow as `workflows.list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionSummary {
    pub workflow_id: String,
    pub version: i32,
    pub name: Option<String>,
    /// RFC 3339: when the revision was stored.
    pub updated_at: String,
    /// What starts it besides `run.start`: `signal: <type>`,
    /// `schedule: <cron> <time zone>`.
    pub triggers: Vec<String>,
}

/// A stored revision.
#[derive(Debug, Clone)]
pub struct DefinitionRecord {
    pub workflow_id: String,
    pub version: i32,
    pub definition_version: Option<String>,
    pub name: Option<String>,
    pub source: String,
    pub format: String,
    pub created_at: String,
    pub ir: Value,
    /// A newer revision replaced this one; runs pinned to it still finish on it.
    pub archived: bool,
}

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOutcome {
    pub version: i32,
    /// `false` when the source equals the latest revision's.
    pub created: bool,
}

/// A compiled definition ready to store.
#[derive(Debug, Clone)]
pub struct NewDefinition<'a> {
    pub tenant: &'a str,
    pub workflow: &'a Workflow,
    pub source: &'a str,
    pub format: &'a str,
}

fn checksum(source: &str, format: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{format}\n{source}").as_bytes(),
    )
    .simple()
    .to_string()
}

impl Store {
    /// Stores a new revision unless the source equals the latest one.
    pub async fn put_definition(&self, new: &NewDefinition<'_>) -> Result<PutOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let key = format!("{}/{}", new.tenant, new.workflow.id);
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&key],
        )
        .await?;
        let sum = checksum(new.source, new.format);
        let latest = tx
            .query_opt(
                "SELECT version, checksum FROM definitions WHERE tenant = $1 AND workflow_id = $2 ORDER BY version DESC LIMIT 1",
                &[&new.tenant, &new.workflow.id],
            )
            .await?;
        if let Some(row) = &latest
            && row.get::<_, String>(1) == sum
        {
            return Ok(PutOutcome {
                version: row.get(0),
                created: false,
            });
        }
        let version = latest.map_or(1, |r| r.get::<_, i32>(0) + 1);
        let ir = serde_json::to_value(new.workflow).map_err(|e| Error::Corrupt(e.to_string()))?;
        let trigger = new.workflow.trigger.as_ref().map(|t| t.signal.as_str());
        tx.execute(
            "UPDATE definitions SET archived = true WHERE tenant = $1 AND workflow_id = $2 AND NOT archived",
            &[&new.tenant, &new.workflow.id],
        )
        .await?;
        tx.execute(
            "INSERT INTO definitions (tenant, workflow_id, version, definition_version, name, source, format, checksum, ir, trigger_signal)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[&new.tenant, &new.workflow.id, &version, &new.workflow.definition_version, &new.workflow.name, &new.source, &new.format, &sum, &ir, &trigger],
        )
        .await?;
        super::schedules::replace(&tx, new.tenant, new.workflow, version, chrono::Utc::now())
            .await?;
        tx.commit().await?;
        Ok(PutOutcome {
            version,
            created: true,
        })
    }

    /// A revision, or the latest one when `version` is `None`.
    pub async fn get_definition(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: Option<i32>,
    ) -> Result<Option<DefinitionRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT workflow_id, version, definition_version, name, source, format, created_at, ir, archived FROM definitions
                 WHERE tenant = $1 AND workflow_id = $2 AND ($3::int IS NULL OR version = $3)
                 ORDER BY version DESC LIMIT 1",
                &[&tenant, &workflow_id, &version],
            )
            .await?;
        Ok(row.map(|r| DefinitionRecord {
            workflow_id: r.get(0),
            version: r.get(1),
            definition_version: r.get(2),
            name: r.get(3),
            source: r.get(4),
            format: r.get(5),
            created_at: time::format(r.get(6)),
            ir: r.get(7),
            archived: r.get(8),
        }))
    }

    /// Deletes every revision of a workflow that no run was ever started
    /// from, in one statement; `false` when it has runs (or does not exist).
    pub async fn delete_definition(&self, tenant: &str, workflow_id: &str) -> Result<bool> {
        let client = self.client().await?;
        let deleted = client
            .execute(
                "DELETE FROM definitions WHERE tenant = $1 AND workflow_id = $2
                   AND NOT EXISTS (SELECT 1 FROM runs WHERE tenant = $1 AND workflow_id = $2)",
                &[&tenant, &workflow_id],
            )
            .await?;
        Ok(deleted > 0)
    }

    /// The latest revision of every workflow of a tenant, with what starts
    /// it, by workflow id.
    pub async fn list_definitions(&self, tenant: &str) -> Result<Vec<DefinitionSummary>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT DISTINCT ON (workflow_id) workflow_id, version, name, created_at,
                        trigger_signal, ir -> 'schedule' ->> 'cron', ir -> 'schedule' ->> 'timezone'
                 FROM definitions
                 WHERE tenant = $1 ORDER BY workflow_id, version DESC",
                &[&tenant],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let mut triggers = Vec::new();
                if let Some(signal) = r.get::<_, Option<String>>(4) {
                    triggers.push(format!("signal: {signal}"));
                }
                if let Some(cron) = r.get::<_, Option<String>>(5) {
                    let zone = r.get::<_, Option<String>>(6).unwrap_or_default();
                    triggers.push(format!("schedule: {cron} {zone}").trim_end().to_owned());
                }
                DefinitionSummary {
                    workflow_id: r.get(0),
                    version: r.get(1),
                    name: r.get(2),
                    updated_at: time::format(r.get(3)),
                    triggers,
                }
            })
            .collect())
    }

    /// Every revision of a workflow, newest first: (version,
    /// definition_version, created_at, archived). Empty for an unknown one.
    pub async fn definition_versions(
        &self,
        tenant: &str,
        workflow_id: &str,
    ) -> Result<Vec<(i32, Option<String>, String, bool)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT version, definition_version, created_at, archived FROM definitions
                 WHERE tenant = $1 AND workflow_id = $2 ORDER BY version DESC",
                &[&tenant, &workflow_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), time::format(r.get(2)), r.get(3)))
            .collect())
    }

    /// The latest revisions whose trigger is `signal_type`: (workflow id, version, IR).
    pub async fn definitions_triggered_by(
        &self,
        tenant: &str,
        signal_type: &str,
    ) -> Result<Vec<(String, i32, Value)>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT workflow_id, version, ir FROM definitions WHERE tenant = $1 AND trigger_signal = $2 AND NOT archived")
            .await?;
        let rows = client.query(&statement, &[&tenant, &signal_type]).await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// The IR of one revision.
    pub async fn definition_ir(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: i32,
    ) -> Result<Option<Value>> {
        let client = self.client().await?;
        let statement = client.prepare_cached("SELECT ir FROM definitions WHERE tenant = $1 AND workflow_id = $2 AND version = $3").await?;
        Ok(client
            .query_opt(&statement, &[&tenant, &workflow_id, &version])
            .await?
            .map(|r| r.get(0)))
    }
}
