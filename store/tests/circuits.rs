//! Agents' circuit breakers against the machine's Postgres: the state
//! machine (closed → open → one trial → closed or open again) and one
//! trial among racing callers. The cooldown is moved into the past with SQL
//! instead of being waited for.

use chrono::{Duration, Utc};
use junction_store::{CallOutcome, CircuitGate, Store};

mod common;

use common::{Fallible, with_database};

const POLICY: (u32, u32) = (3, 60);

async fn fail(store: &Store, trial: bool) -> Fallible<Option<chrono::DateTime<Utc>>> {
    Ok(store
        .circuit_record("default", "flaky", CallOutcome::Unreachable, POLICY, trial)
        .await?)
}

async fn gate(store: &Store) -> Fallible<CircuitGate> {
    let deadline = Utc::now() + Duration::seconds(30);
    Ok(store.circuit_gate("default", "flaky", deadline).await?)
}

/// Ends the cooldown as if `cooldownSeconds` had passed.
async fn cool_down(url: &str) -> Fallible<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .execute(
            "UPDATE agent_circuits SET open_until = now() - interval '1 second'",
            &[],
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn failures_open_the_breaker_and_one_trial_decides() -> Fallible<()> {
    with_database("circuits", |store, url| async move {
        assert_eq!(gate(&store).await?, CircuitGate::Closed { clean: true });
        assert_eq!(fail(&store, false).await?, None);
        assert_eq!(gate(&store).await?, CircuitGate::Closed { clean: false });
        // An answer ends the streak.
        store
            .circuit_record("default", "flaky", CallOutcome::Answered, POLICY, false)
            .await?;
        assert_eq!(gate(&store).await?, CircuitGate::Closed { clean: true });
        assert_eq!(fail(&store, false).await?, None);
        assert_eq!(fail(&store, false).await?, None);
        let opened = fail(&store, false).await?.ok_or("third failure opens")?;
        assert!(opened > Utc::now() + Duration::seconds(50), "{opened}");
        assert_eq!(gate(&store).await?, CircuitGate::Open { until: opened });
        // A late failure of a call made before the breaker opened does not
        // push the cooldown further.
        assert_eq!(fail(&store, false).await?, Some(opened));
        // Other agents and tenants are not concerned.
        let elsewhere = store
            .circuit_gate("acme", "flaky", Utc::now() + Duration::seconds(30))
            .await?;
        assert_eq!(elsewhere, CircuitGate::Closed { clean: true });

        cool_down(&url).await?;
        assert_eq!(gate(&store).await?, CircuitGate::Trial);
        // While the trial is in flight everyone else is refused.
        assert!(matches!(gate(&store).await?, CircuitGate::Open { .. }));
        // The trial fails: open again for a whole cooldown.
        let reopened = fail(&store, true).await?.ok_or("a failed trial re-opens")?;
        assert!(reopened > Utc::now() + Duration::seconds(50), "{reopened}");
        assert_eq!(gate(&store).await?, CircuitGate::Open { until: reopened });

        cool_down(&url).await?;
        assert_eq!(gate(&store).await?, CircuitGate::Trial);
        store
            .circuit_record("default", "flaky", CallOutcome::Answered, POLICY, true)
            .await?;
        assert_eq!(gate(&store).await?, CircuitGate::Closed { clean: true });
        Ok(())
    })
    .await
}

#[tokio::test]
async fn racing_callers_get_one_trial_and_a_lapsed_trial_is_taken_again() -> Fallible<()> {
    with_database("circuits_race", |store, url| async move {
        for _ in 0..3 {
            fail(&store, false).await?;
        }
        cool_down(&url).await?;
        let gates = futures::future::join_all((0..6).map(|_| gate(&store))).await;
        let gates: Vec<CircuitGate> = gates.into_iter().collect::<Fallible<_>>()?;
        let trials = gates.iter().filter(|g| **g == CircuitGate::Trial).count();
        assert_eq!(trials, 1, "{gates:?}");
        // The trial's caller died: once its deadline passed, another may try.
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client
            .execute(
                "UPDATE agent_circuits SET trial_until = now() - interval '1 second'",
                &[],
            )
            .await?;
        assert_eq!(gate(&store).await?, CircuitGate::Trial);
        Ok(())
    })
    .await
}
