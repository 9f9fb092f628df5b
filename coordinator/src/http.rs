//! The coordinator's HTTP listener: the probes (`/healthz`, `/readyz`) and
//! `/metrics` (Prometheus text, families in `metrics.rs`), shared with the
//! worker through `junction_runtime::probes` and `junction_runtime::metrics`,
//! plus the REST API and its event streams under `/v1` (`crate::api`,
//! docs/http.md), mounted once start-up is done (503 `UNAVAILABLE` before).

use crate::metrics::ScrapeGauges;
use axum::Router;
use junction_runtime::metrics::{self, Refresh};
use junction_runtime::probes::{self, Readiness};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves until `stop` flips: the probes and `/metrics` at once, the rest
/// once [`mount`]ed.
pub async fn serve(
    listener: TcpListener,
    readiness: Readiness,
    handle: PrometheusHandle,
    stop: watch::Receiver<bool>,
) {
    let gauges = Arc::new(ScrapeGauges::default());
    let refresh: Refresh =
        Arc::new(move |connected| Box::pin(gauges.clone().refresh(connected.store)));
    let app = Router::new()
        .merge(readiness.routes())
        .merge(metrics::routes(handle, readiness.clone(), Some(refresh)))
        .merge(readiness.routes_when_mounted());
    probes::serve(listener, app, stop).await;
}

/// Mounts the `/v1` API (`api`); an unknown path is then a JSON `NOT_FOUND`.
pub fn mount(readiness: &Readiness, api: Router) {
    readiness.mount(api.fallback(crate::api::not_found));
}
