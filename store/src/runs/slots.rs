//! Concurrency slots (docs/language.md §1, `concurrency`). The runs of one
//! `(tenant, workflow, key)` that are RUNNING, WAITING_* or PAUSED hold its
//! slots; `PENDING` ones wait, oldest first. Every decision that takes a
//! slot (creating a run, admitting queued runs) runs in one transaction
//! under a transaction-scoped advisory lock on the key, and counts the
//! holders there, so two coordinators never both take the last slot. A run
//! that ends does not take the lock: it frees its slot by ending, and the
//! `release_slot` timer its end stored makes some coordinator admit the
//! next runs (the admission waits for the lock, so a start that counted
//! the ended run as a holder has committed its queued run by then).

use super::{Committed, CreateOutcome, LockedRun, NewRun, PendingWrite, create_on, load};
use crate::rows::TransitionWrite;
use crate::{Error, Result, Store};
use junction_core::status::RunStatus;

/// The statuses that hold a slot, and `PENDING` (queued).
const COUNT_SQL: &str = "SELECT count(*) FILTER (WHERE status <> 'PENDING'),
        count(*) FILTER (WHERE status = 'PENDING')
 FROM runs WHERE tenant = $1 AND workflow_id = $2 AND concurrency_key = $3
   AND status IN ('PENDING', 'RUNNING', 'WAITING_APPROVAL', 'WAITING_SIGNAL', 'PAUSED')";

/// The oldest queued runs of a key, in start order.
const QUEUED_SQL: &str = "SELECT id FROM runs
 WHERE tenant = $1 AND workflow_id = $2 AND concurrency_key = $3 AND status = 'PENDING'
 ORDER BY created_at, id LIMIT $4";

/// How many queued runs one admission reads at a time.
const QUEUE_PAGE: i64 = 32;

/// One concurrency key: `(tenant, workflow, rendered key)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotKey {
    pub tenant: String,
    pub workflow_id: String,
    pub key: String,
}

/// Who holds the key's slots and who waits, as counted under its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotCount {
    pub holders: i64,
    pub queued: i64,
}

/// Takes the key's lock for the rest of the transaction and counts.
async fn lock_and_count<C: deadpool_postgres::GenericClient>(
    client: &C,
    key: &SlotKey,
) -> Result<SlotCount> {
    client
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2 || chr(31) || $3, 10))",
            &[&key.tenant, &key.workflow_id, &key.key],
        )
        .await?;
    let row = client
        .query_one(COUNT_SQL, &[&key.tenant, &key.workflow_id, &key.key])
        .await?;
    Ok(SlotCount {
        holders: row.get(0),
        queued: row.get(1),
    })
}

impl Store {
    /// Creates a run of a limited workflow. Under the key's lock, `decide`
    /// is told whether the run is admitted (fewer than `limit` holders and
    /// nobody queued) and returns the run's first transition: its start,
    /// or its queueing. `None` from `decide` creates nothing and returns
    /// `None`. The answer says whether the run was admitted.
    pub async fn create_limited_run<F>(
        &self,
        run: &NewRun,
        limit: u32,
        decide: F,
    ) -> Result<Option<(CreateOutcome, bool)>>
    where
        F: FnOnce(bool) -> Option<TransitionWrite>,
    {
        let key = SlotKey {
            tenant: run.tenant.clone(),
            workflow_id: run.workflow_id.clone(),
            key: run.concurrency_key.clone().ok_or_else(|| {
                Error::Corrupt(format!("run {}: limited without a key", run.run_id))
            })?,
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let count = lock_and_count(&tx, &key).await?;
        let admitted = count.holders < i64::from(limit) && count.queued == 0;
        let Some(write) = decide(admitted) else {
            return Ok(None);
        };
        let outcome = create_on(&tx, run, write).await?;
        tx.commit().await?;
        Ok(Some((outcome, admitted)))
    }

    /// The concurrency key of a run, if its workflow is limited.
    pub async fn slot_key_of(&self, run_id: &str) -> Result<Option<SlotKey>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT tenant, workflow_id, concurrency_key FROM runs WHERE id = $1 AND concurrency_key IS NOT NULL",
                &[&run_id],
            )
            .await?;
        Ok(row.map(|row| SlotKey {
            tenant: row.get(0),
            workflow_id: row.get(1),
            key: row.get(2),
        }))
    }

    /// Admits queued runs of `key`, oldest first, in one transaction under
    /// the key's lock. For each queued run (locked), `decide(run, holders)`
    /// returns its admission (its start transition), or `None` to stop:
    /// no slot is free under that run's limit, or the driver cannot decide
    /// it now. Each admitted run counts as one more holder. Returns the
    /// admitted runs' ids and what their transitions publish.
    pub async fn admit_queued<F>(
        &self,
        key: &SlotKey,
        mut decide: F,
    ) -> Result<Vec<(String, Committed)>>
    where
        F: FnMut(&LockedRun, i64) -> Option<TransitionWrite>,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let count = lock_and_count(&tx, key).await?;
        let mut holders = count.holders;
        let mut admitted = Vec::new();
        loop {
            // Admitted runs (written in this transaction) and runs cancelled
            // meanwhile are no longer PENDING, so each page is fresh.
            let page: Vec<String> = tx
                .query(
                    QUEUED_SQL,
                    &[&key.tenant, &key.workflow_id, &key.key, &QUEUE_PAGE],
                )
                .await?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let full = page.len() as i64 == QUEUE_PAGE;
            let before = admitted.len();
            for run_id in page {
                // Locked: a cancel that got there first left it not PENDING.
                let Some(run) = load(&tx, &run_id, true).await? else {
                    continue;
                };
                if run.status != RunStatus::Pending {
                    continue;
                }
                let Some(write) = decide(&run, holders) else {
                    tx.commit().await?;
                    return Ok(admitted);
                };
                let pending = PendingWrite {
                    run_id: run.run_id.clone(),
                    revision: run.revision,
                    write,
                };
                let committed = super::write_advance(&tx, &pending).await?.ok_or_else(|| {
                    Error::Conflict(format!(
                        "run {run_id}: revision {} moved on under its row lock",
                        run.revision
                    ))
                })?;
                holders += 1;
                admitted.push((run_id, committed));
            }
            if !full || admitted.len() == before {
                break;
            }
        }
        tx.commit().await?;
        Ok(admitted)
    }
}
