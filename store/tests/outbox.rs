//! The outbox gauge: the age of the oldest unpublished message, read from a
//! migrated database of its own on the machine's Postgres.

use junction_store::Store;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn admin_url() -> String {
    std::env::var("JUNCTION_TEST_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `admin_url` with its database replaced by `name`.
fn url_of(name: &str) -> String {
    let admin = admin_url();
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => admin,
    }
}

#[tokio::test]
async fn the_outbox_age_is_its_oldest_rows_and_zero_when_empty() -> Fallible<()> {
    let (admin, connection) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let name = format!("junction_store_outbox_{}", uuid::Uuid::now_v7().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let checked = async {
        let store = Store::new(&url_of(&name), 2)?;
        store.migrate().await?;
        assert_eq!(store.outbox_oldest_age_seconds().await?, 0.0);
        let (client, connection) =
            tokio_postgres::connect(&url_of(&name), tokio_postgres::NoTls).await?;
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
    }
    .await;
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await?;
    checked
}
