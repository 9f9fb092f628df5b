//! The `cluster.members` reply.

use crate::control::Reply;
use junction_store::Store;
use serde_json::json;

/// Answers `wf.ctl.cluster.members` from the heartbeat rows.
#[derive(Debug, Clone)]
pub struct Membership {
    pub store: Store,
}

impl Membership {
    pub async fn list(&self) -> Reply {
        let members = self
            .store
            .members()
            .await
            .map_err(crate::control::internal)?;
        Ok(json!({ "members": members }))
    }
}
