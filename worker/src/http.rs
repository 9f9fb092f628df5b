//! The worker's HTTP listener: `GET /healthz` (the process is alive) and
//! `GET /readyz` (200 only while Postgres and NATS answer, else 503 with
//! what is down). Its address is the worker's `http_addr` in
//! `cluster.members`.

use axum::{Router, extract::State, http::StatusCode, routing::get};
use junction_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Clone)]
struct Probes {
    store: Store,
    nats: async_nats::Client,
}

/// Binds `listen` (port 0 picks one); returns the listener and its address.
pub async fn bind(listen: &str) -> anyhow::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?.to_string();
    Ok((listener, addr))
}

/// Serves the probes until `stop` flips.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    nats: async_nats::Client,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(Probes { store, nats });
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(%error, "http server stopped");
    }
}

async fn ready(State(probes): State<Probes>) -> (StatusCode, String) {
    match junction_runtime::probes::readiness(&probes.store, &probes.nats).await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(down) => (StatusCode::SERVICE_UNAVAILABLE, down),
    }
}
