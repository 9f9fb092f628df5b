//! The coordinator's HTTP listener: the probes (`/healthz`, `/readyz`,
//! shared with the worker in `junction_runtime::probes`), `/metrics`
//! (Prometheus text), plus the REST API and its event streams under `/v1`
//! (`crate::api`, docs/http.md).

use crate::metrics::Metrics;
use axum::{Router, extract::State, response::IntoResponse, routing::get};
use junction_bus::Bus;
use junction_runtime::probes;
use junction_store::Store;
use std::fmt::Write;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Clone)]
struct AppState {
    store: Store,
    bus: Bus,
    metrics: Metrics,
}

/// Serves until `stop` flips: the probes, `/metrics` and the `/v1` API
/// (`api`); an unknown path is a JSON `NOT_FOUND`.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    bus: Bus,
    metrics: Metrics,
    api: Router,
    stop: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/metrics", get(render_metrics))
        .with_state(AppState {
            store: store.clone(),
            bus: bus.clone(),
            metrics,
        })
        .merge(probes::routes(store, bus.client))
        .merge(api)
        .fallback(crate::api::not_found);
    probes::serve(listener, app, stop).await;
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP junction_signals_rejected_total Signals rejected at intake, by reason."
    );
    let _ = writeln!(text, "# TYPE junction_signals_rejected_total counter");
    for (reason, count) in state.metrics.signals_rejected() {
        let _ = writeln!(
            text,
            "junction_signals_rejected_total{{reason=\"{reason}\"}} {count}"
        );
    }
    let (committed, inputs, conflicts) = state.metrics.transitions();
    for (name, help, value) in [
        (
            "junction_transitions_total",
            "Run transitions committed by this coordinator.",
            committed,
        ),
        (
            "junction_transition_inputs_total",
            "Inputs (results, signals, actions) those transitions applied; several results of one run are decided together.",
            inputs,
        ),
        (
            "junction_transition_conflicts_total",
            "Advances decided again after a write conflict (the run moved on meanwhile).",
            conflicts,
        ),
    ] {
        let _ = writeln!(text, "# HELP {name} {help}");
        let _ = writeln!(text, "# TYPE {name} counter");
        let _ = writeln!(text, "{name} {value}");
    }
    match state.store.outbox_oldest_age_seconds().await {
        Ok(age) => {
            let _ = writeln!(
                text,
                "# HELP junction_outbox_oldest_age_seconds Age of the oldest unpublished outbox message (0 when empty)."
            );
            let _ = writeln!(text, "# TYPE junction_outbox_oldest_age_seconds gauge");
            let _ = writeln!(text, "junction_outbox_oldest_age_seconds {age}");
        }
        Err(error) => tracing::warn!(%error, "cannot read the outbox's age for /metrics"),
    }
    match state.bus.intake_pending().await {
        Ok(pending) => {
            let _ = writeln!(
                text,
                "# HELP junction_consumer_pending Messages a durable consumer has not been delivered yet."
            );
            let _ = writeln!(text, "# TYPE junction_consumer_pending gauge");
            for (consumer, count) in pending {
                let _ = writeln!(
                    text,
                    "junction_consumer_pending{{consumer=\"{consumer}\"}} {count}"
                );
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the intakes' pending counts for /metrics")
        }
    }
    ([("content-type", "text/plain; version=0.0.4")], text)
}
