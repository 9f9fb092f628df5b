//! Concurrency slots against the machine's Postgres: who is admitted at
//! creation, two creations racing for the last slot, and admissions in
//! start order once a holder ended.

use junction_core::status::RunStatus;
use junction_store::{CreateOutcome, NewRun, RawJson, SlotKey, Store, TransitionWrite};
use serde_json::json;

mod common;

use common::{Fallible, with_database};

fn new_run(id: &str, key: &str) -> NewRun {
    NewRun {
        run_id: id.into(),
        tenant: "default".into(),
        workflow_id: "limited".into(),
        version: 1,
        input: json!({}),
        causation_id: None,
        correlation_id: id.into(),
        dedupe_key: None,
        trace_id: "0".repeat(32),
        trace_parent: None,
        concurrency_key: Some(key.into()),
    }
}

/// A first transition with nothing but the status (no events, no tasks).
fn write(status: RunStatus) -> TransitionWrite {
    TransitionWrite {
        status,
        state: RawJson::of(&json!({ "status": status })).expect("serializes"),
        error: None,
        events: Vec::new(),
        event_subjects: Vec::new(),
        event_traceparents: Vec::new(),
        attempts: Vec::new(),
        outbox: Vec::new(),
        timers: Vec::new(),
        child_results: Vec::new(),
    }
}

/// Creates a run with `limit`; returns whether it was admitted.
async fn create(store: &Store, id: &str, key: &str, limit: u32) -> Fallible<bool> {
    let created = store
        .create_limited_run(&new_run(id, key), limit, |admitted| {
            Some(write(if admitted {
                RunStatus::Running
            } else {
                RunStatus::Pending
            }))
        })
        .await?;
    let Some((CreateOutcome::Created(_), admitted)) = created else {
        return Err(format!("{id} was not created").into());
    };
    Ok(admitted)
}

async fn status(store: &Store, id: &str) -> Fallible<RunStatus> {
    Ok(store.load_run(id).await?.ok_or("run exists")?.status)
}

async fn set_status(url: &str, id: &str, status: RunStatus) -> Fallible<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .execute(
            "UPDATE runs SET status = $2 WHERE id = $1",
            &[&id, &status.as_str()],
        )
        .await?;
    Ok(())
}

fn key(key: &str) -> SlotKey {
    SlotKey {
        tenant: "default".into(),
        workflow_id: "limited".into(),
        key: key.into(),
    }
}

/// Admits under `limit`; returns the admitted run ids in order.
async fn admit(store: &Store, slot: &str, limit: i64) -> Fallible<Vec<String>> {
    let admitted = store
        .admit_queued(&key(slot), |run, holders| {
            assert_eq!(run.status, RunStatus::Pending);
            (holders < limit).then(|| write(RunStatus::Running))
        })
        .await?;
    Ok(admitted.into_iter().map(|(id, _)| id).collect())
}

#[tokio::test]
async fn runs_beyond_the_limit_queue_and_are_admitted_in_start_order() -> Fallible<()> {
    with_database("slots_order", |store, url| async move {
        let mut admitted = Vec::new();
        for i in 0..5 {
            admitted.push(create(&store, &format!("r{i}"), "acme", 2).await?);
        }
        assert_eq!(admitted, [true, true, false, false, false]);
        // Another key has slots of its own.
        assert!(create(&store, "other", "globex", 2).await?);
        assert_eq!(store.slot_key_of("r0").await?, Some(key("acme")));
        // Nothing is free: nobody is admitted.
        assert!(admit(&store, "acme", 2).await?.is_empty());
        // A paused holder keeps its slot.
        set_status(&url, "r0", RunStatus::Paused).await?;
        assert!(admit(&store, "acme", 2).await?.is_empty());
        // r0 ends; r3 was cancelled while queued and is passed over.
        set_status(&url, "r0", RunStatus::Completed).await?;
        set_status(&url, "r3", RunStatus::Cancelled).await?;
        assert_eq!(admit(&store, "acme", 2).await?, ["r2"]);
        assert_eq!(status(&store, "r4").await?, RunStatus::Pending);
        // Both holders end: the last queued run gets in, then nobody is left.
        set_status(&url, "r1", RunStatus::Failed).await?;
        set_status(&url, "r2", RunStatus::TimedOut).await?;
        assert_eq!(admit(&store, "acme", 2).await?, ["r4"]);
        assert_eq!(status(&store, "r4").await?, RunStatus::Running);
        assert!(admit(&store, "acme", 2).await?.is_empty());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_new_run_queues_behind_waiting_runs_even_with_a_free_slot() -> Fallible<()> {
    with_database("slots_fifo", |store, url| async move {
        assert!(create(&store, "a", "k", 1).await?);
        assert!(!create(&store, "b", "k", 1).await?);
        // `a` ended, but its release has not admitted `b` yet: `c` waits
        // behind `b` instead of overtaking it.
        set_status(&url, "a", RunStatus::Completed).await?;
        assert!(!create(&store, "c", "k", 1).await?);
        assert_eq!(admit(&store, "k", 1).await?, ["b"]);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn creations_racing_for_the_last_slot_admit_exactly_one() -> Fallible<()> {
    with_database("slots_race", |store, _| async move {
        for round in 0..5 {
            let slot = format!("race-{round}");
            let starts = (0..6).map(|i| {
                let (store, slot) = (store.clone(), slot.clone());
                async move { create(&store, &format!("{slot}-{i}"), &slot, 1).await }
            });
            let admitted = futures::future::join_all(starts).await;
            let admitted: Vec<bool> = admitted.into_iter().collect::<Fallible<_>>()?;
            assert_eq!(
                admitted.iter().filter(|a| **a).count(),
                1,
                "round {round}: {admitted:?}"
            );
        }
        Ok(())
    })
    .await
}
