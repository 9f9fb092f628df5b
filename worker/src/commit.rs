//! Group commit of results: every finished step's result goes through one
//! [`GroupCommitter`], so results queued while earlier ones were being
//! recorded share one transaction (pipelined, in run id order). Results of
//! one run that finish together (a wide parallel or foreach) then take that
//! run's seq counter once per batch instead of once each.

use junction_runtime::group_commit::{BatchWriter, GroupCommitter};
use junction_store::{FinishOutcome, FinishRequest, Result, Store};

/// The worker's committer of results.
pub type ResultCommitter = GroupCommitter<Results>;

/// Records results with [`Store::finish_batch`].
#[derive(Debug)]
pub struct Results(pub Store);

impl BatchWriter for Results {
    type Item = FinishRequest;
    type Output = FinishOutcome;

    async fn write_batch(&self, items: &[FinishRequest]) -> Result<Vec<FinishOutcome>> {
        self.0.finish_batch(items.to_vec()).await
    }

    async fn write_one(&self, item: &FinishRequest) -> Result<FinishOutcome> {
        match item.clone() {
            FinishRequest::Folded {
                started,
                completed,
                outcome,
                warnings,
                ran_seconds,
            } => {
                self.0
                    .claim_and_finish_attempt(*started, completed, &outcome, &warnings, ran_seconds)
                    .await
            }
            FinishRequest::Claimed {
                completed,
                outcome,
                warnings,
                claim,
            } => {
                self.0
                    .finish_attempt(completed, &outcome, &warnings, claim)
                    .await
            }
        }
    }
}
