//! Driver errors are classified by SQLSTATE and kind, once, in
//! `junction_store::Error`'s `From` impls: checked against the machine's
//! Postgres (`JUNCTION_TEST_ADMIN_URL`, like the e2e tests).

use junction_core::wire::control::{ControlError, ErrorCode};
use junction_store::{Error, Store};

mod common;

use common::{Fallible, admin_url};

async fn connect() -> Fallible<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The store error of a statement that raises `sqlstate`.
async fn raised(client: &tokio_postgres::Client, sqlstate: &str) -> Fallible<Error> {
    let statement = format!(
        "DO $$ BEGIN RAISE EXCEPTION 'raised on purpose' USING ERRCODE = '{sqlstate}'; END $$"
    );
    match client.batch_execute(&statement).await {
        Ok(()) => Err(format!("{sqlstate} was not raised").into()),
        Err(error) => Ok(Error::from(error)),
    }
}

#[tokio::test]
async fn sqlstates_map_to_store_errors_and_control_codes() -> Fallible<()> {
    let client = connect().await?;
    let cases = [
        ("23505", ErrorCode::Conflict, false),
        ("08006", ErrorCode::Unavailable, true),
        ("57P01", ErrorCode::Unavailable, true),
        ("40001", ErrorCode::Unavailable, true),
        ("40P01", ErrorCode::Unavailable, true),
        ("22012", ErrorCode::Internal, false),
        ("22P05", ErrorCode::Internal, false),
        ("22021", ErrorCode::Internal, false),
        ("23514", ErrorCode::Internal, false),
    ];
    for (sqlstate, code, transient) in cases {
        let error = raised(&client, sqlstate).await?;
        assert_eq!(error.control_code(), code, "{sqlstate}: {error:?}");
        assert_eq!(error.is_transient(), transient, "{sqlstate}: {error:?}");
        let message = error.to_string();
        // The server's report, not tokio_postgres's bare `db error`.
        assert!(
            message.contains(sqlstate) && message.contains("raised on purpose"),
            "{sqlstate}: {message}"
        );
        let control = ControlError::from(error);
        assert_eq!((control.code, control.message), (code, message));
    }
    assert!(matches!(
        raised(&client, "23505").await?,
        Error::AlreadyExists(_)
    ));
    assert!(matches!(
        raised(&client, "40001").await?,
        Error::Transient(_)
    ));
    Ok(())
}

#[tokio::test]
async fn a_closed_connection_and_an_unreachable_server_are_unavailable() -> Fallible<()> {
    let victim = connect().await?;
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await?
        .get(0);
    connect()
        .await?
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await?;
    // The terminated session answers 57P01, or is simply closed by then.
    let error = Error::from(
        victim
            .simple_query("SELECT 1")
            .await
            .err()
            .ok_or("the terminated session still answers")?,
    );
    assert!(matches!(error, Error::Unavailable(_)), "{error:?}");

    // Nothing listens on port 1: the pool cannot connect.
    let store = Store::new("postgres://postgres@127.0.0.1:1/postgres", 1)?;
    let error = store.ping().await.err();
    let error = error.ok_or("port 1 answered")?;
    assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
    assert_eq!(ControlError::from(error).code, ErrorCode::Unavailable);
    Ok(())
}

#[tokio::test]
async fn a_nul_the_database_refuses_is_permanent_and_says_why() -> Fallible<()> {
    let client = connect().await?;
    let error = Error::from(
        client
            .query_one(r#"SELECT '{"a":"\u0000"}'::jsonb"#, &[])
            .await
            .err()
            .ok_or("jsonb took a NUL")?,
    );
    assert!(!error.is_transient(), "{error:?}");
    assert_eq!(error.control_code(), ErrorCode::Internal);
    let message = error.to_string();
    assert!(message.contains("22P05"), "{message}");
    assert!(!message.ends_with("db error"), "{message}");
    Ok(())
}
