//! Readiness, as both processes' `/readyz` report it: Postgres answers a
//! query and the NATS connection is up.

use junction_store::Store;

/// `Ok` while Postgres and NATS answer; otherwise what is down, as one line.
pub async fn readiness(store: &Store, nats: &async_nats::Client) -> Result<(), String> {
    let mut down = Vec::new();
    if let Err(error) = store.ping().await {
        down.push(format!("postgres: {error}"));
    }
    let state = nats.connection_state();
    if state != async_nats::connection::State::Connected {
        down.push(format!("nats: {state}"));
    }
    match down.is_empty() {
        true => Ok(()),
        false => Err(down.join("; ")),
    }
}
