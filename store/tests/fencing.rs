//! Fencing of claimed attempts against the machine's Postgres: a worker
//! whose claim was taken over (its lease expired while it stalled) presents
//! a stale claim generation, and its result, lease extension and cancel
//! close write nothing, even when they come before the new holder's.

use chrono::Utc;
use junction_core::wire::EventType;
use junction_store::{AttemptOutcome, ClaimOutcome, FinishOutcome, FinishRequest, StepEventDraft};
use serde_json::{Value, json};

mod common;

use common::{Fallible, with_database};

const RUN: &str = "run-fenced";

/// A running run with one `PENDING` attempt of step `s1`.
async fn seed(url: &str) -> Fallible<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "INSERT INTO runs (id, tenant, workflow_id, version, status, input, state, correlation_id)
             VALUES ('{RUN}', 'default', 'wf', 1, 'RUNNING', '{{}}', '{{}}', '{RUN}');
             INSERT INTO run_counters (run_id, last_seq) VALUES ('{RUN}', 2);
             INSERT INTO step_attempts (run_id, step_id, attempt, state, path, status)
             VALUES ('{RUN}', 's1', 1, 's1', 's1', 'PENDING');"
        ))
        .await?;
    Ok(client)
}

fn draft(worker: &str, kind: EventType, data: Value) -> StepEventDraft {
    StepEventDraft {
        run_id: RUN.into(),
        step_id: "s1".into(),
        state: "s1".into(),
        path: "s1".into(),
        attempt: 1,
        worker_id: worker.into(),
        kind,
        time: Utc::now(),
        data,
        // Stored in the outbox only; nothing is published here.
        subject: "the-step-event-subject".into(),
        traceparent: None,
    }
}

/// Claims the attempt for `worker`; returns the claim's generation.
async fn claim(store: &junction_store::Store, worker: &str) -> Fallible<i32> {
    let started = draft(worker, EventType::StepStarted, json!({ "input": {} }));
    match store.claim_attempt(started, 30.0, 60.0, 0.0).await? {
        ClaimOutcome::Claimed { claims, .. } => Ok(claims),
        ClaimOutcome::Refused(refusal) => Err(format!("claim refused: {refusal:?}").into()),
    }
}

fn completed(worker: &str) -> StepEventDraft {
    draft(
        worker,
        EventType::StepCompleted,
        json!({ "output": { "by": worker } }),
    )
}

fn success(worker: &str) -> AttemptOutcome {
    AttemptOutcome::Succeeded(json!({ "by": worker }))
}

/// The attempt row, the stored event types and the run's last seq.
async fn snapshot(db: &tokio_postgres::Client) -> Fallible<(Value, Vec<String>, i64, i64)> {
    let row = db
        .query_one(
            "SELECT status, worker_id, claims, output, completion_seq
             FROM step_attempts WHERE run_id = $1",
            &[&RUN],
        )
        .await?;
    let attempt = json!({
        "status": row.get::<_, String>(0),
        "worker_id": row.get::<_, Option<String>>(1),
        "claims": row.get::<_, i32>(2),
        "output": row.get::<_, Option<Value>>(3),
        "completion_seq": row.get::<_, Option<i64>>(4),
    });
    let events = db
        .query(
            "SELECT type || ':' || worker_id FROM events WHERE run_id = $1 ORDER BY seq",
            &[&RUN],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let last_seq = db
        .query_one(
            "SELECT last_seq FROM run_counters WHERE run_id = $1",
            &[&RUN],
        )
        .await?
        .get(0);
    let outbox = db
        .query_one("SELECT count(*) FROM outbox", &[])
        .await?
        .get(0);
    Ok((attempt, events, last_seq, outbox))
}

#[tokio::test]
async fn a_taken_over_claim_records_nothing_and_the_new_holder_records() -> Fallible<()> {
    with_database("fencing", |store, url| async move {
        let db = seed(&url).await?;
        let stale = claim(&store, "worker-a").await?;
        assert_eq!(stale, 1);
        // worker-a stalls past its lease; worker-b takes the attempt over.
        db.execute(
            "UPDATE step_attempts SET lease_until = now() - interval '1 second' WHERE run_id = $1",
            &[&RUN],
        )
        .await?;
        let current = claim(&store, "worker-b").await?;
        assert_eq!(current, 2, "a takeover bumps the claim generation");
        let before = snapshot(&db).await?;

        // worker-a wakes and its execution ends first: every write it makes
        // under its stale generation changes nothing.
        let fenced = store
            .finish_attempt(completed("worker-a"), &success("worker-a"), &[], stale)
            .await?;
        assert!(
            matches!(&fenced, FinishOutcome::Fenced { holder: Some(h), claims: 2 } if h == "worker-b"),
            "{fenced:?}"
        );
        let warning = json!({ "code": "SCHEMA_VALIDATION_OUTPUT", "message": "late" });
        let fenced = store
            .finish_attempt(
                completed("worker-a"),
                &success("worker-a"),
                std::slice::from_ref(&warning),
                stale,
            )
            .await?;
        assert!(
            matches!(fenced, FinishOutcome::Fenced { claims: 2, .. }),
            "{fenced:?}"
        );
        let batch = store
            .finish_batch(vec![FinishRequest::Claimed {
                completed: completed("worker-a"),
                outcome: success("worker-a"),
                warnings: Vec::new(),
                claim: stale,
            }])
            .await?;
        assert!(
            matches!(batch.as_slice(), [FinishOutcome::Fenced { claims: 2, .. }]),
            "{batch:?}"
        );
        assert!(
            !store
                .extend_lease(RUN, "s1", 1, "worker-a", stale, 30.0)
                .await?
        );
        let cancel = json!({ "code": "CANCELLED", "message": "late" });
        assert!(
            !store
                .cancel_attempt(RUN, "s1", 1, Some(("worker-a", stale)), 99, &cancel)
                .await?,
            "a stale claim cannot close a live successor's attempt"
        );
        let after = snapshot(&db).await?;
        assert_eq!(before, after, "the stale generation wrote nothing");
        assert_eq!(
            after.1,
            [
                "workflow.step.started:worker-a",
                "workflow.step.started:worker-b"
            ]
        );

        // The current holder extends and records under its generation.
        assert!(
            store
                .extend_lease(RUN, "s1", 1, "worker-b", current, 30.0)
                .await?
        );
        let recorded = store
            .finish_attempt(completed("worker-b"), &success("worker-b"), &[], current)
            .await?;
        let FinishOutcome::Recorded(messages) = recorded else {
            return Err(format!("worker-b's result was not recorded: {recorded:?}").into());
        };
        assert_eq!(messages.len(), 1);
        let (attempt, events, last_seq, _) = snapshot(&db).await?;
        assert_eq!(
            attempt,
            json!({
                "status": "SUCCEEDED",
                "worker_id": "worker-b",
                "claims": 2,
                "output": { "by": "worker-b" },
                "completion_seq": last_seq,
            })
        );
        assert_eq!(
            events.last().map(String::as_str),
            Some("workflow.step.completed:worker-b")
        );
        // Once ended, a stale result is still refused (and names the holder).
        let late = store
            .finish_attempt(completed("worker-a"), &success("worker-a"), &[], stale)
            .await?;
        assert!(
            matches!(late, FinishOutcome::Fenced { claims: 2, .. }),
            "{late:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_current_claim_is_not_fenced_and_an_ended_attempt_is_already_finished() -> Fallible<()>
{
    with_database("fencing_current", |store, url| async move {
        let db = seed(&url).await?;
        let claim = claim(&store, "worker-a").await?;
        assert!(
            store
                .extend_lease(RUN, "s1", 1, "worker-a", claim, 30.0)
                .await?
        );
        let cancel = json!({ "code": "CANCELLED", "message": "by the coordinator" });
        assert!(
            store
                .cancel_attempt(RUN, "s1", 1, Some(("worker-a", claim)), 3, &cancel)
                .await?
        );
        // The coordinator ended it: the holder's own late result is not
        // fenced (its claim is current), only too late.
        let late = store
            .finish_attempt(completed("worker-a"), &success("worker-a"), &[], claim)
            .await?;
        assert!(matches!(late, FinishOutcome::AlreadyFinished), "{late:?}");
        let (attempt, ..) = snapshot(&db).await?;
        assert_eq!(attempt["status"], "CANCELLED");
        Ok(())
    })
    .await
}

/// Telling a worker that an attempt already ended (with the event that
/// ended it, to publish again) takes one pooled connection, not two: with
/// every connection held by a task waiting for a second one, the pool
/// starved and workers stalled for minutes in a chaos run. A store with a
/// pool of one connection answers both the check and the lazy claim.
#[tokio::test]
async fn an_ended_attempt_is_reported_on_the_one_connection_it_holds() -> Fallible<()> {
    with_database("single_connection", |store, url| async move {
        let _db = seed(&url).await?;
        let claims = claim(&store, "worker-a").await?;
        let finished = store
            .finish_attempt(completed("worker-a"), &success("worker-a"), &[], claims)
            .await?;
        assert!(
            matches!(finished, FinishOutcome::Recorded(_)),
            "{finished:?}"
        );

        let single = junction_store::Store::new(&url, 1)?;
        let checked = single.check_attempt(RUN, "s1", 1).await?;
        let junction_store::AttemptCheck::Unclaimable(junction_store::Refusal::AlreadyFinished(
            Some(event),
        )) = checked
        else {
            return Err(format!("not reported as ended: {checked:?}").into());
        };
        assert_eq!(event.kind, EventType::StepCompleted);
        let started = draft("worker-b", EventType::StepStarted, json!({ "input": {} }));
        let refused = single.claim_attempt(started, 30.0, 60.0, 0.0).await?;
        assert!(
            matches!(
                refused,
                ClaimOutcome::Refused(junction_store::Refusal::AlreadyFinished(Some(_)))
            ),
            "{refused:?}"
        );
        Ok(())
    })
    .await
}
