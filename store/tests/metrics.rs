//! The reads behind the coordinator's `/metrics`: runs in flight by status,
//! workflows by tenant and an ended run's duration, on a migrated database
//! of their own on the machine's Postgres.

use junction_core::status::RunStatus;

mod common;

use common::{Fallible, with_database};

#[tokio::test]
async fn active_runs_workflows_and_run_durations_are_read_from_the_rows() -> Fallible<()> {
    with_database("metrics", |store, url| async move {
        let active = store.runs_active().await?;
        let statuses: Vec<RunStatus> = active.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            statuses,
            [
                RunStatus::Pending,
                RunStatus::Running,
                RunStatus::WaitingApproval,
                RunStatus::WaitingSignal,
                RunStatus::Paused
            ]
        );
        assert!(active.iter().all(|(_, n)| *n == 0), "{active:?}");
        assert!(store.workflows_per_tenant().await?.is_empty());

        let (client, connection) =
            tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client
            .batch_execute(
                "INSERT INTO runs (id, tenant, workflow_id, version, status, input, state, correlation_id, created_at, ended_at)
                 VALUES ('r1', 'default', 'w', 1, 'RUNNING', '{}', '{}', 'c', now(), NULL),
                        ('r2', 'acme', 'w', 1, 'RUNNING', '{}', '{}', 'c', now(), NULL),
                        ('r3', 'default', 'w', 1, 'PAUSED', '{}', '{}', 'c', now(), NULL),
                        ('r4', 'default', 'w', 1, 'COMPLETED', '{}', '{}', 'c',
                         now() - interval '90 seconds', now() - interval '30 seconds');
                 INSERT INTO definitions (tenant, workflow_id, version, source, format, checksum, ir, archived)
                 VALUES ('default', 'a', 1, '', 'yaml', '', '{}', true),
                        ('default', 'a', 2, '', 'yaml', '', '{}', false),
                        ('default', 'b', 1, '', 'yaml', '', '{}', false),
                        ('acme', 'gone', 1, '', 'yaml', '', '{}', true);",
            )
            .await?;
        let active = store.runs_active().await?;
        let count = |status| active.iter().find(|(s, _)| *s == status).map(|(_, n)| *n);
        assert_eq!(count(RunStatus::Running), Some(2), "{active:?}");
        assert_eq!(count(RunStatus::Paused), Some(1), "{active:?}");
        assert_eq!(count(RunStatus::Pending), Some(0), "{active:?}");
        assert_eq!(
            store.workflows_per_tenant().await?,
            [("default".to_owned(), 2)],
            "revisions count once; archived workflows not at all"
        );
        let duration = store.run_duration_seconds("r4").await?;
        assert!(
            duration.is_some_and(|d| (59.9..60.1).contains(&d)),
            "{duration:?}"
        );
        assert_eq!(store.run_duration_seconds("r1").await?, None, "not ended");
        assert_eq!(store.run_duration_seconds("nope").await?, None);
        Fallible::Ok(())
    })
    .await
}
