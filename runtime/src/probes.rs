//! The HTTP listener both processes run: binding it, serving it until
//! shutdown, and the probes on it, `GET /healthz` (the process is alive)
//! and `GET /readyz` (200 `ready` while Postgres answers a query and the
//! NATS connection is up, else 503 naming what is down).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use junction_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Binds `listen` (port 0 picks one); returns the listener and the address
/// it got, to list in `cluster.members`.
pub async fn bind(listen: &str) -> std::io::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
    let addr = listener.local_addr()?.to_string();
    Ok((listener, addr))
}

/// `/healthz` and `/readyz`, to merge into a process's routes.
pub fn routes(store: Store, nats: async_nats::Client) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let (store, nats) = (store.clone(), nats.clone());
                async move {
                    match readiness(&store, &nats).await {
                        Ok(()) => (StatusCode::OK, "ready".to_owned()),
                        Err(down) => (StatusCode::SERVICE_UNAVAILABLE, down),
                    }
                }
            }),
        )
}

/// Serves `app` on `listener` until `stop` flips.
pub async fn serve(listener: TcpListener, app: Router, mut stop: watch::Receiver<bool>) {
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
