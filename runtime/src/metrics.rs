//! Prometheus metrics, through the `metrics` facade and its Prometheus
//! exporter: the recorder each process installs at start ([`install`]),
//! and `GET /metrics` ([`routes`]), which refreshes the gauges read at scrape
//! time and renders the exporter's text. Both processes report
//! `junction_consumer_pending{consumer}` for the durable consumers they pull
//! from (`junction_bus::Role`); the families of each process are named in
//! its own `metrics.rs` (docs/http.md lists them all).

use crate::probes::{Connected, Readiness};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// `junction_consumer_pending{consumer}` (gauge): messages a durable
/// consumer has not been delivered yet; `consumer` is the durable name.
pub const CONSUMER_PENDING: &str = "junction_consumer_pending";

/// How long a scrape may spend reading gauges before it renders what it has.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);

/// How often histogram samples are folded into their buckets when nobody
/// scrapes (the exporter keeps them until then).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("metrics: {0}")]
    Build(#[from] BuildError),
    #[error("metrics: a recorder is already installed in this process")]
    AlreadyInstalled,
    #[error("metrics: the recorder needs a tokio runtime")]
    NoRuntime,
}

/// What a process reads at scrape time, besides its consumers' pending
/// counts, from its connections.
pub type Refresh = Arc<dyn Fn(Connected) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Installs the process's global recorder, rendering each of `histograms`
/// (name, bucket upper bounds) as a Prometheus histogram, and starts its
/// upkeep on the current tokio runtime. Returns the handle `/metrics`
/// renders from.
pub fn install(histograms: &[(&str, &[f64])]) -> Result<PrometheusHandle, Error> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in histograms {
        builder = builder.set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)?;
    }
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| Error::AlreadyInstalled)?;
    metrics::describe_gauge!(
        CONSUMER_PENDING,
        "Messages a durable consumer has not been delivered yet, by durable name."
    );
    let upkeep = handle.clone();
    runtime.spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// `GET /metrics`: once the process is connected, refreshes its consumers'
/// pending counts and whatever `refresh` reads (within [`SCRAPE_TIMEOUT`];
/// a gauge that could not be read keeps its last value, and the failure is
/// logged), then renders every family.
pub fn routes(handle: PrometheusHandle, readiness: Readiness, refresh: Option<Refresh>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(Scrape {
            handle,
            readiness,
            refresh,
        })
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    readiness: Readiness,
    refresh: Option<Refresh>,
}

async fn render(State(scrape): State<Scrape>) -> impl axum::response::IntoResponse {
    if let Some(connected) = scrape.readiness.connections().cloned() {
        let own = async {
            if let Some(refresh) = &scrape.refresh {
                refresh(connected.clone()).await;
            }
        };
        let reads = async { tokio::join!(consumers_pending(&connected), own) };
        if tokio::time::timeout(SCRAPE_TIMEOUT, reads).await.is_err() {
            tracing::warn!(
                timeout_ms = SCRAPE_TIMEOUT.as_millis() as u64,
                "scrape-time gauges not all read in time; rendering their last values"
            );
        }
    }
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        scrape.handle.render(),
    )
}

/// Sets `junction_consumer_pending` for each consumer of the process.
async fn consumers_pending(connected: &Connected) {
    match connected.bus.pending_of(&connected.consumers).await {
        Ok(pending) => {
            for (consumer, count) in pending {
                metrics::gauge!(CONSUMER_PENDING, "consumer" => consumer).set(count as f64);
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the consumers' pending counts for /metrics")
        }
    }
}
