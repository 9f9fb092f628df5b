//! The HTTP listener both processes run, and the probes on it.
//!
//! The listener starts before the process connects to anything, so that an
//! orchestrator always gets an answer: `GET /healthz` is 200 `ok` while the
//! process runs; `GET /readyz` is 200 `ready` once start-up is done and while
//! Postgres answers a query, the NATS connection is up and the process's
//! durable consumers answer (their info, [`junction_bus::Role`]), each
//! within [`CHECK_TIMEOUT`]; otherwise 503 with one line naming what is
//! down, or what start-up is waiting for. Routes that need the connections
//! (the coordinator's API) are mounted when start-up is done
//! ([`Readiness::mount`]) and answer 503 `UNAVAILABLE` until then.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use junction_bus::{Bus, Role};
use junction_core::wire::control::{ControlError, ErrorCode};
use junction_store::Store;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long each readiness check (the Postgres query, the consumer infos)
/// may take before it counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The connections of a process that finished its start-up.
#[derive(Debug, Clone)]
pub struct Connected {
    pub store: Store,
    pub bus: Bus,
    pub role: Role,
    /// `(stream, durable name)` of the consumers the process pulls from:
    /// its role's, or a worker's executor consumers.
    pub consumers: Vec<(String, String)>,
}

/// What `/readyz` reports, shared by the probes, `/metrics` and start-up.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    role: Role,
    /// What start-up waits for (its last failure), until it is done.
    waiting: Mutex<String>,
    connected: OnceLock<Connected>,
    mounted: OnceLock<Router>,
}

impl Readiness {
    /// A process of `role` that has not connected yet.
    pub fn new(role: Role) -> Self {
        Self {
            inner: Arc::new(Inner {
                role,
                waiting: Mutex::new("starting".to_owned()),
                connected: OnceLock::new(),
                mounted: OnceLock::new(),
            }),
        }
    }

    /// Records what start-up is waiting for, shown by `/readyz` until it is done.
    pub fn waiting(&self, what: impl Into<String>) {
        if let Ok(mut waiting) = self.inner.waiting.lock() {
            *waiting = what.into();
        }
    }

    /// Start-up is done: from now on `/readyz` checks these connections.
    pub fn connected(&self, store: Store, bus: Bus) {
        let consumers = bus.consumers(self.inner.role);
        self.connected_with(store, bus, consumers);
    }

    /// [`Self::connected`], checking the given consumers (a worker's, one
    /// per executor it enables) instead of the role's.
    pub fn connected_with(&self, store: Store, bus: Bus, consumers: Vec<(String, String)>) {
        let role = self.inner.role;
        let connected = Connected {
            store,
            bus,
            role,
            consumers,
        };
        let _ = self.inner.connected.set(connected);
    }

    /// The connections, once start-up is done.
    pub fn connections(&self) -> Option<&Connected> {
        self.inner.connected.get()
    }

    /// Mounts the routes that need the connections (see [`Self::routes_when_mounted`]).
    pub fn mount(&self, router: Router) {
        let _ = self.inner.mounted.set(router);
    }

    /// `Ok` once started and while Postgres, NATS and the process's
    /// consumers answer; otherwise what is down (or awaited), as one line.
    pub async fn check(&self) -> Result<(), String> {
        let Some(connected) = self.connections() else {
            let waiting = self
                .inner
                .waiting
                .lock()
                .map(|w| w.clone())
                .unwrap_or_default();
            return Err(format!("starting: {waiting}"));
        };
        let postgres = async {
            match tokio::time::timeout(CHECK_TIMEOUT, connected.store.ping()).await {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(format!("postgres: {error}")),
                Err(_) => Some(format!("postgres: no answer within {CHECK_TIMEOUT:?}")),
            }
        };
        let nats = async {
            let state = connected.bus.client.connection_state();
            if state != async_nats::connection::State::Connected {
                return Some(format!("nats: {state}"));
            }
            match tokio::time::timeout(
                CHECK_TIMEOUT,
                connected.bus.pending_of(&connected.consumers),
            )
            .await
            {
                Ok(Ok(_)) => None,
                Ok(Err(error)) => Some(format!("nats: {error}")),
                Err(_) => Some(format!(
                    "nats: the consumers did not answer within {CHECK_TIMEOUT:?}"
                )),
            }
        };
        let (postgres, nats) = tokio::join!(postgres, nats);
        let down: Vec<String> = postgres.into_iter().chain(nats).collect();
        match down.is_empty() {
            true => Ok(()),
            false => Err(down.join("; ")),
        }
    }

    /// `/healthz` and `/readyz`, to merge into a process's routes.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .with_state(self.clone())
    }

    /// A fallback that hands every other request to the routes given to
    /// [`Self::mount`], or answers 503 `UNAVAILABLE` before they are.
    pub fn routes_when_mounted(&self) -> Router {
        Router::new()
            .fallback(when_mounted)
            .with_state(self.clone())
    }
}

async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, String) {
    match readiness.check().await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(down) => (StatusCode::SERVICE_UNAVAILABLE, down),
    }
}

async fn when_mounted(State(readiness): State<Readiness>, request: Request) -> Response {
    let Some(mut router) = readiness.inner.mounted.get().cloned() else {
        let error = ControlError::new(
            ErrorCode::Unavailable,
            "the process is starting (see /readyz)",
        );
        let mut body = error.to_reply();
        if let serde_json::Value::Object(map) = &mut body {
            map.remove("ok");
        }
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response();
    };
    match tower_service::Service::call(&mut router, request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Binds `listen` (port 0 picks one); returns the listener and the address
/// it got, to list in `cluster.members`.
pub async fn bind(listen: &str) -> std::io::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
    let addr = listener.local_addr()?.to_string();
    Ok((listener, addr))
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
