//! What the store's integration tests share: the machine's Postgres, and a
//! migrated database of a test's own that is dropped when the test is done.

#![allow(dead_code, reason = "each test file uses what it needs")]

use junction_store::Store;
use std::future::Future;

pub type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// The admin connection (a database server that may create databases).
pub fn admin_url() -> String {
    std::env::var("JUNCTION_TEST_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `admin_url` with its database replaced by `name`.
pub fn url_of(name: &str) -> String {
    let admin = admin_url();
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => admin,
    }
}

/// Runs `test` on a fresh migrated database named after `tag` (its store
/// and URL), then drops the database whatever the outcome.
pub async fn with_database<F, Fut>(tag: &str, test: F) -> Fallible<()>
where
    F: FnOnce(Store, String) -> Fut,
    Fut: Future<Output = Fallible<()>>,
{
    let (admin, connection) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let name = format!("junction_store_{tag}_{}", uuid::Uuid::now_v7().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let url = url_of(&name);
    let checked = async {
        let store = Store::new(&url, 2)?;
        store.migrate().await?;
        test(store, url.clone()).await
    }
    .await;
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await?;
    checked
}
