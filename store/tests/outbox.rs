//! The outbox gauge: the age of the oldest unpublished message, read from a
//! migrated database of its own on the machine's Postgres.

mod common;

use common::{Fallible, with_database};

#[tokio::test]
async fn the_outbox_age_is_its_oldest_rows_and_zero_when_empty() -> Fallible<()> {
    with_database("outbox", |store, url| async move {
        assert_eq!(store.outbox_oldest_age_seconds().await?, 0.0);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client
            .batch_execute(
                "INSERT INTO outbox (subject, msg_id, payload, created_at)
                 VALUES ('a', 'old', '\\x00', now() - interval '42 seconds'),
                        ('b', 'new', '\\x00', now())",
            )
            .await?;
        let age = store.outbox_oldest_age_seconds().await?;
        assert!((42.0..100.0).contains(&age), "{age}");
        client.batch_execute("DELETE FROM outbox").await?;
        assert_eq!(store.outbox_oldest_age_seconds().await?, 0.0);
        Fallible::Ok(())
    })
    .await
}
