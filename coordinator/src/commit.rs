//! Group commit across runs: every run's transition goes through one
//! [`GroupCommitter`], so transitions queued while earlier ones were being
//! written share one transaction (one pipelined statement per run, in run id
//! order). `None` for a transition means its run moved on since it was
//! decided.

use junction_runtime::group_commit::{BatchWriter, GroupCommitter};
use junction_store::{Committed, PendingWrite, Result, Store};

/// The coordinator's committer of run transitions.
pub type Committer = GroupCommitter<Transitions>;

/// Writes run transitions with [`Store::commit_transitions`].
#[derive(Debug)]
pub struct Transitions(pub Store);

impl BatchWriter for Transitions {
    type Item = PendingWrite;
    type Output = Option<Committed>;

    async fn write_batch(&self, items: &[PendingWrite]) -> Result<Vec<Option<Committed>>> {
        self.0.commit_transitions(items).await
    }

    async fn write_one(&self, item: &PendingWrite) -> Result<Option<Committed>> {
        let mut results = self
            .0
            .commit_transitions(std::slice::from_ref(item))
            .await?;
        Ok(results.pop().flatten())
    }
}
