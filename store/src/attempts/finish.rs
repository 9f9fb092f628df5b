//! Ending an attempt: a result on a claimed attempt, a result folded with
//! its claim, and batches of both in one transaction (the worker's group
//! commit), with the warnings stored before the completion event.

use super::sql::{CLAIM_AND_FINISH_SQL, FINISH_SQL, FINISH_WITH_WARNINGS_SQL};
use super::{AttemptOutcome, FinishOutcome, RunIdentity, StepEventDraft};
use crate::{Error, Result, Store};
use chrono::{DateTime, Utc};
use junction_core::outbox::OutboxMessage;
use junction_core::status::StepStatus;
use junction_core::wire::EventType;
use serde_json::Value;

impl Store {
    /// Records a worker's result and its completion event (the draft) in one
    /// statement, preceded by one `workflow.step.warning` event per entry of
    /// `warnings` (each the event's `data`, `{code, message}`). Fenced by
    /// `claim`, the generation [`Store::claim_attempt`] returned: only the
    /// attempt's current claim may end it, so a worker whose claim was taken
    /// over gets [`FinishOutcome::Fenced`] and nothing is written.
    pub async fn finish_attempt(
        &self,
        draft: StepEventDraft,
        outcome: &AttemptOutcome,
        warnings: &[Value],
        claim: i32,
    ) -> Result<FinishOutcome> {
        let client = self.client().await?;
        finish_on(&client, draft, outcome, warnings, claim).await
    }

    /// Records the claim and the result of an execution that ran for
    /// `ran_seconds` in ONE statement ([`CLAIM_AND_FINISH_SQL`]): the attempt
    /// goes from `PENDING` (or `RUNNING` under an expired lease) straight to
    /// its final status under `completed.worker_id`, and `started` (the
    /// `workflow.step.started` draft), one `workflow.step.warning` per entry
    /// of `warnings`, and `completed` (the completion draft) are appended
    /// with consecutive seqs. If the attempt is no longer claimable (claimed
    /// by a live worker, finished, cancelled, its run ended), nothing is
    /// written and the result is [`FinishOutcome::AlreadyFinished`].
    pub async fn claim_and_finish_attempt(
        &self,
        started: StepEventDraft,
        completed: StepEventDraft,
        outcome: &AttemptOutcome,
        warnings: &[Value],
        ran_seconds: f64,
    ) -> Result<FinishOutcome> {
        let client = self.client().await?;
        claim_and_finish_on(&client, started, completed, outcome, warnings, ran_seconds).await
    }

    /// Records several results in one transaction (one commit), their
    /// statements pipelined in the order of their runs' ids so that
    /// concurrent batches lock the runs' counters in one order. Each result
    /// stands alone (its own conditions); an error rolls back the batch and
    /// is returned for all of them (record them one by one then).
    pub async fn finish_batch(&self, requests: Vec<FinishRequest>) -> Result<Vec<FinishOutcome>> {
        let mut client = self.client().await?;
        let mut order: Vec<usize> = (0..requests.len()).collect();
        order.sort_by(|a, b| requests[*a].run_id().cmp(requests[*b].run_id()));
        let tx = client.transaction().await?;
        let mut slots: Vec<Option<FinishRequest>> = requests.into_iter().map(Some).collect();
        let sorted: Vec<FinishRequest> = order.iter().filter_map(|i| slots[*i].take()).collect();
        let outcomes = futures::future::join_all(sorted.into_iter().map(|r| r.run_on(&tx)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        let mut answers: Vec<Option<FinishOutcome>> = (0..order.len()).map(|_| None).collect();
        for (outcome, index) in outcomes.into_iter().zip(order) {
            answers[index] = Some(outcome);
        }
        Ok(answers
            .into_iter()
            .map(|a| a.unwrap_or(FinishOutcome::AlreadyFinished))
            .collect())
    }
}

/// A result to record ([`Store::finish_batch`]).
#[derive(Debug, Clone)]
pub enum FinishRequest {
    /// A short step: claim and result together ([`Store::claim_and_finish_attempt`]).
    Folded {
        started: Box<StepEventDraft>,
        completed: StepEventDraft,
        outcome: AttemptOutcome,
        warnings: Vec<Value>,
        ran_seconds: f64,
    },
    /// A claimed step's result ([`Store::finish_attempt`]), fenced by the
    /// claim's generation.
    Claimed {
        completed: StepEventDraft,
        outcome: AttemptOutcome,
        warnings: Vec<Value>,
        claim: i32,
    },
}

impl FinishRequest {
    fn run_id(&self) -> &str {
        match self {
            Self::Folded { completed, .. } | Self::Claimed { completed, .. } => &completed.run_id,
        }
    }

    async fn run_on<C: deadpool_postgres::GenericClient>(
        self,
        client: &C,
    ) -> Result<FinishOutcome> {
        match self {
            Self::Folded {
                started,
                completed,
                outcome,
                warnings,
                ran_seconds,
            } => {
                claim_and_finish_on(
                    client,
                    *started,
                    completed,
                    &outcome,
                    &warnings,
                    ran_seconds,
                )
                .await
            }
            Self::Claimed {
                completed,
                outcome,
                warnings,
                claim,
            } => finish_on(client, completed, &outcome, &warnings, claim).await,
        }
    }
}

async fn finish_on<C: deadpool_postgres::GenericClient>(
    client: &C,
    draft: StepEventDraft,
    outcome: &AttemptOutcome,
    warnings: &[Value],
    claim: i32,
) -> Result<FinishOutcome> {
    {
        let sql: &str = if warnings.is_empty() {
            &FINISH_SQL
        } else {
            &FINISH_WITH_WARNINGS_SQL
        };
        let statement = client.prepare_cached(sql).await?;
        let (status, output, error) = match outcome {
            AttemptOutcome::Succeeded(output) => (StepStatus::Succeeded, Some(output), None),
            AttemptOutcome::Failed { status, error } => (*status, None, Some(error)),
        };
        let attempt = draft.attempt as i32;
        let (status, kind) = (status.as_str(), draft.kind.as_str());
        let warning_data = Value::Array(warnings.to_vec());
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
            &draft.run_id,
            &draft.step_id,
            &attempt,
            &status,
            &output,
            &error,
            &draft.worker_id,
            &kind,
            &draft.time,
            &draft.state,
            &draft.path,
            &draft.data,
            &draft.subject,
            &draft.traceparent,
            &claim,
        ];
        if !warnings.is_empty() {
            params.push(&warning_data);
        }
        let row = client.query_opt(&statement, &params).await?;
        let Some(row) = row else {
            return Ok(FinishOutcome::AlreadyFinished);
        };
        let identity = RunIdentity {
            workflow_id: row.get(0),
            version: row.get(1),
            tenant: row.get(2),
        };
        let seq = row.get::<_, Option<i64>>(3);
        let outbox_ids: Vec<i64> = if warnings.is_empty() {
            row.get::<_, Option<i64>>(4).into_iter().collect()
        } else {
            row.get::<_, Option<Vec<i64>>>(4).unwrap_or_default()
        };
        let Some(seq) = seq else {
            return Ok(match row.get::<_, Option<i32>>(6) {
                Some(claims) => FinishOutcome::Fenced {
                    holder: row.get(5),
                    claims,
                },
                None => FinishOutcome::AlreadyFinished,
            });
        };
        let mut drafts = warning_drafts(&draft, warnings);
        drafts.push(draft);
        let messages = stored_messages(drafts, seq, &identity, &outbox_ids)?;
        Ok(FinishOutcome::Recorded(messages))
    }
}

async fn claim_and_finish_on<C: deadpool_postgres::GenericClient>(
    client: &C,
    started: StepEventDraft,
    completed: StepEventDraft,
    outcome: &AttemptOutcome,
    warnings: &[Value],
    ran_seconds: f64,
) -> Result<FinishOutcome> {
    {
        let statement = client.prepare_cached(&CLAIM_AND_FINISH_SQL).await?;
        let (status, output, error) = match outcome {
            AttemptOutcome::Succeeded(output) => (StepStatus::Succeeded, Some(output), None),
            AttemptOutcome::Failed { status, error } => (*status, None, Some(error)),
        };
        let mut drafts = Vec::with_capacity(warnings.len() + 2);
        drafts.push(started);
        drafts.extend(warning_drafts(&completed, warnings));
        drafts.push(completed);
        let kinds: Vec<&str> = drafts.iter().map(|d| d.kind.as_str()).collect();
        let times: Vec<DateTime<Utc>> = drafts.iter().map(|d| d.time).collect();
        let data: Vec<&Value> = drafts.iter().map(|d| &d.data).collect();
        let last = &drafts[drafts.len() - 1];
        let attempt = last.attempt as i32;
        let status = status.as_str();
        let row = client
            .query_opt(
                &statement,
                &[
                    &last.run_id,
                    &last.step_id,
                    &attempt,
                    &status,
                    &output,
                    &error,
                    &last.worker_id,
                    &ran_seconds.max(0.0),
                    &last.state,
                    &last.path,
                    &last.subject,
                    &kinds,
                    &times,
                    &data,
                    &last.traceparent,
                ],
            )
            .await?;
        let Some(row) = row else {
            return Ok(FinishOutcome::AlreadyFinished);
        };
        let identity = RunIdentity {
            workflow_id: row.get(0),
            version: row.get(1),
            tenant: row.get(2),
        };
        let Some(seq) = row.get::<_, Option<i64>>(3) else {
            return Ok(FinishOutcome::AlreadyFinished);
        };
        let outbox_ids = row.get::<_, Option<Vec<i64>>>(4).unwrap_or_default();
        let messages = stored_messages(drafts, seq, &identity, &outbox_ids)?;
        Ok(FinishOutcome::Recorded(messages))
    }
}

/// One `workflow.step.warning` draft per entry of `warnings` (its `data`),
/// otherwise like `completion`.
fn warning_drafts(completion: &StepEventDraft, warnings: &[Value]) -> Vec<StepEventDraft> {
    warnings
        .iter()
        .map(|warning| StepEventDraft {
            kind: EventType::StepWarning,
            data: warning.clone(),
            ..completion.clone()
        })
        .collect()
}

/// The outbox messages of `drafts`, stored by one statement with
/// consecutive seqs ending at `last_seq` and the outbox rows `outbox_ids`
/// (ordered by seq), in seq order.
fn stored_messages(
    drafts: Vec<StepEventDraft>,
    last_seq: i64,
    identity: &RunIdentity,
    outbox_ids: &[i64],
) -> Result<Vec<OutboxMessage>> {
    if outbox_ids.len() != drafts.len() {
        return Err(Error::Corrupt(
            "events stored without their outbox rows".into(),
        ));
    }
    let first_seq = last_seq - drafts.len() as i64 + 1;
    drafts
        .into_iter()
        .zip(outbox_ids)
        .enumerate()
        .map(|(offset, (draft, outbox_id))| {
            draft.into_message(first_seq + offset as i64, identity.clone(), *outbox_id)
        })
        .collect()
}
