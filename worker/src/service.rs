//! Wires the worker together and runs it until shutdown: serve the probes
//! and `/metrics`, wait for the migrations, join the task consumer of each
//! executor it runs (`WORKERS` for `agent.run`, `WORKERS_<EXECUTOR>` for the
//! others; retrying Postgres and NATS until they answer), advertise those
//! executors in its membership heartbeat, execute up to `concurrency` steps
//! at once, whatever their executor. Shutdown stops pulling, then lets in-flight
//! steps finish within the drain deadline.

use crate::catalog::{AgentCatalog, REGISTRY_TTL};
use crate::commit::ResultCommitter;
use crate::executor::{AgentExecutor, Parts, Registry};
use crate::task::{self, Worker};
use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::pull;
use axum::Router;
use futures::StreamExt;
use junction_bus::{Bus, Role};
use junction_runtime::config::{Config, default_member_id};
use junction_runtime::membership::{self, Member};
use junction_runtime::metrics;
use junction_runtime::outbox::Publisher;
use junction_runtime::probes::{self, Readiness};
use junction_runtime::startup;
use junction_store::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

/// Result commits in flight at once (each a batch of results).
const RESULT_COMMITS_IN_FLIGHT: usize = 4;

/// Runs the worker until `shutdown` resolves. The HTTP listener (probes and
/// `/metrics`) starts first; Postgres and NATS are then retried until they
/// answer (`junction_runtime::startup`), so errors are bad configuration. A
/// shutdown during start-up ends it at once.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let worker_id = config.worker.id.clone().unwrap_or_else(default_member_id);
    let store = Store::new(&config.database.url, config.database.pool_size)?;
    let handle = crate::metrics::install()?;
    let (listener, http_addr) = probes::bind(config.http.worker_listen()).await?;
    let readiness = Readiness::new(Role::Worker);
    let (stop, stop_rx) = watch::channel(false);
    let app = Router::new()
        .merge(readiness.routes())
        .merge(metrics::routes(handle, readiness.clone(), None));
    let http = tokio::spawn(probes::serve(listener, app, stop_rx.clone()));
    tracing::info!(worker_id = %worker_id, http_addr = %http_addr, "worker starting: probes and /metrics are served");
    let enabled = config.worker.executor_list().map_err(anyhow::Error::msg)?;
    let connecting = connect(&config, &store, &worker_id, &readiness, &enabled);
    let (bus, tasks, executors) = tokio::select! {
        connected = connecting => connected?,
        () = &mut shutdown => {
            tracing::info!("shutting down before start-up finished");
            let _ = stop.send(true);
            let _ = http.await;
            return Ok(());
        }
    };
    let lease = Duration::from_secs(config.worker.lease_seconds);
    let concurrency = config.worker.concurrency;
    let (publisher, janitor) = Publisher::new(bus.clone(), store.clone());
    let worker = Arc::new(worker(
        &config,
        worker_id.clone(),
        &bus,
        store.clone(),
        publisher,
        executors,
    ));
    let names = worker.executors.names();
    readiness.connected_with(
        store.clone(),
        bus.clone(),
        bus.executor_consumers(names.iter().copied()),
    );
    let member = Member {
        id: worker_id.clone(),
        role: "worker",
        http_addr: Some(http_addr.clone()),
        started_at: chrono::Utc::now(),
        executors: names.iter().map(|n| (*n).to_owned()).collect(),
    };
    let heartbeat = tokio::spawn(membership::keep(store, member, stop_rx));
    let executors = names.join(",");
    tracing::info!(worker_id = %worker_id, http_addr = %http_addr, concurrency, lease_seconds = lease.as_secs(), prefix = %bus.subjects.prefix(), %executors, "worker ready");

    let slots = Arc::new(Semaphore::new(concurrency));
    pull(tasks, &worker, &slots, shutdown).await?;
    drain(
        &slots,
        concurrency,
        Duration::from_secs(config.shutdown.drain_seconds),
    )
    .await;
    let _ = stop.send(true);
    let _ = heartbeat.await;
    let _ = http.await;
    drop(worker);
    janitor.finish(Duration::from_secs(2)).await;
    tracing::info!("worker stopped");
    Ok(())
}

/// Waits for the coordinator's migrations, connects to NATS, builds the
/// executors of `enabled` and joins each one's task consumer, each step
/// retried until it succeeds. The tasks of every consumer come as one stream.
async fn connect(
    config: &Config,
    store: &Store,
    worker_id: &str,
    readiness: &Readiness,
    enabled: &[&'static str],
) -> anyhow::Result<(Bus, Tasks, Registry)> {
    let never = |_: &String| false;
    startup::retry(
        "wait for the database migrations",
        readiness,
        never,
        || async {
            match store.is_migrated().await {
                Ok(true) => Ok(()),
                Ok(false) => Err("not applied yet (a coordinator applies them)".to_owned()),
                Err(error) => Err(error.to_string()),
            }
        },
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let name = format!("junction-worker {worker_id}");
    let (bus, settings) = startup::connect_bus(config, &name, readiness).await?;
    let executors = executors(config, &bus, store, enabled)?;
    let never = |_: &junction_bus::Error| false;
    let concurrency = config.worker.concurrency;
    let mut consumers = Vec::new();
    for executor in executors.names() {
        let what = format!("join {}", bus.subjects.executor_consumer(executor));
        let tasks = startup::retry(&what, readiness, never, || {
            bus.executor_consumer(&settings, executor, 10_000, concurrency)
        })
        .await?;
        consumers.push(tasks);
    }
    Ok((bus, futures::stream::select_all(consumers), executors))
}

/// The tasks of all the worker's consumers.
type Tasks = futures::stream::SelectAll<pull::Stream>;

/// The executors of `enabled` this build has.
fn executors(
    config: &Config,
    bus: &Bus,
    store: &Store,
    enabled: &[&'static str],
) -> anyhow::Result<Registry> {
    let agent = AgentExecutor {
        client: bus.client.clone(),
        subjects: bus.subjects.clone(),
        payload_limit: config.limits.payload_bytes,
        catalog: Arc::new(AgentCatalog::new(store.clone(), REGISTRY_TTL)),
    };
    let parts = Parts {
        config,
        bus,
        store,
        agent,
    };
    let registry = Registry::build(enabled, parts).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !registry.names().is_empty(),
        "this worker runs none of the executors it enables ({})",
        enabled.join(", ")
    );
    Ok(registry)
}

/// What every task handler shares, from the configuration and connections.
fn worker(
    config: &Config,
    id: String,
    bus: &Bus,
    store: Store,
    publisher: Publisher,
    executors: Registry,
) -> Worker {
    Worker {
        id,
        client: bus.client.clone(),
        store: store.clone(),
        publisher,
        subjects: bus.subjects.clone(),
        executors,
        faults: config.fault.faults(),
        lease: Duration::from_secs(config.worker.lease_seconds),
        results: ResultCommitter::start(crate::commit::Results(store), RESULT_COMMITS_IN_FLIGHT),
    }
}

/// Pulls tasks while a slot is free, each handled on its own task, until
/// `shutdown` resolves. An error: the consumer ended.
async fn pull(
    mut tasks: impl futures::Stream<Item = Result<Message, impl std::fmt::Display>> + Unpin,
    worker: &Arc<Worker>,
    slots: &Arc<Semaphore>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit?,
            _ = &mut shutdown => return Ok(()),
        };
        let next = tokio::select! {
            next = tasks.next() => next,
            _ = &mut shutdown => return Ok(()),
        };
        match next {
            Some(Ok(message)) => {
                let worker = worker.clone();
                tokio::spawn(async move {
                    task::handle(worker, message).await;
                    drop(permit);
                });
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "task consumer error; continuing");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None => anyhow::bail!("task consumer ended"),
        }
    }
}

/// Waits up to `deadline` for the steps in flight (every slot free again).
async fn drain(slots: &Semaphore, concurrency: usize, deadline: Duration) {
    tracing::info!(
        drain_seconds = deadline.as_secs(),
        "shutting down: stopped pulling, draining in-flight steps"
    );
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    if tokio::time::timeout(deadline, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("drain deadline passed; unfinished steps will be redelivered");
    }
}
