//! The `cluster.members` reply.

use crate::control::Reply;
use junction_store::Store;
use serde_json::json;

/// Answers `wf.ctl.cluster.members` from the heartbeat rows.
pub async fn list(store: &Store) -> Reply {
    let members = store.members().await?;
    Ok(json!({ "members": members }))
}
