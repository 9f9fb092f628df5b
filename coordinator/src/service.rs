//! Wires the coordinator together and runs it until shutdown: the HTTP
//! listener (probes and `/metrics`) first, then migrations and streams
//! (Postgres and NATS retried until they answer), then the definition files
//! (stored, then watched: `sync`), then signal intake,
//! event intake, timers, schedules, the outbox relay, the lost-task sweep,
//! the API, the control plane and
//! membership. Shutdown is staged: stop pulling, drain in-flight work within
//! the deadline, leave the member list.

use crate::catalog::Catalog;
use crate::commit::Committer;
use crate::consume::consume;
use crate::driver::Driver;
use crate::metrics::Metrics;
use crate::routing::{self, Ownership};
use crate::run_queue::RunQueues;
use crate::{control, events, http, schedules, signals, sync, timers};
use anyhow::Context;
use junction_bus::{Bus, Role};
use junction_runtime::config::{Config, default_member_id};
use junction_runtime::membership::{self, Member};
use junction_runtime::otel::Tracing;
use junction_runtime::outbox::{self, Publisher};
use junction_runtime::probes::Readiness;
use junction_runtime::startup;
use junction_store::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, watch};

/// Group commits in flight at once: enough to keep Postgres busy while the
/// next batch gathers, few enough to leave connections for reads.
const COMMITS_IN_FLIGHT: usize = 4;

/// A startup failure: the process exits with status 2.
#[derive(Debug)]
pub struct StartupError(pub anyhow::Error);

/// Applies migrations and exits (`junction-coordinator migrate`).
pub async fn migrate(config: &Config) -> anyhow::Result<Vec<String>> {
    let store = Store::new(&config.database.url, 2)?;
    Ok(store.migrate().await?)
}

/// Runs the coordinator until `shutdown` resolves. The HTTP listener (probes
/// and `/metrics`) starts first; Postgres and NATS are then retried until
/// they answer (`junction_runtime::startup`), so only bad configuration is
/// a startup error. A shutdown during start-up ends it at once.
pub async fn run(
    config: Config,
    otel: Tracing,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartupError> {
    tokio::pin!(shutdown);
    let started = tokio::select! {
        started = start(&config, otel) => started.map_err(StartupError)?,
        () = &mut shutdown => {
            tracing::info!("shutting down before start-up finished");
            return Ok(());
        }
    };
    shutdown.await;
    tracing::info!(
        drain_seconds = config.shutdown.drain_seconds,
        "shutting down: stopping intake, draining in-flight work"
    );
    started
        .stop(Duration::from_secs(config.shutdown.drain_seconds))
        .await;
    Ok(())
}

struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    in_flight: Arc<Semaphore>,
    capacity: u32,
    janitor: outbox::Janitor,
    driver: Driver,
}

async fn start(config: &Config, otel: Tracing) -> anyhow::Result<Running> {
    let auth = crate::auth::Tokens::load(config.auth.tokens_file.as_deref())?.map(Arc::new);
    let member_id = config
        .coordinator
        .id
        .clone()
        .unwrap_or_else(default_member_id);
    let store = Store::new(&config.database.url, config.database.pool_size)?;
    let handle = crate::metrics::install()?;
    let (listener, http_addr) =
        junction_runtime::probes::bind(config.http.coordinator_listen()).await?;
    let readiness = Readiness::new(Role::Coordinator);
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = vec![tokio::spawn(http::serve(
        listener,
        readiness.clone(),
        handle,
        stop_rx.clone(),
    ))];
    if let (Some(tokens), Some(path)) = (&auth, &config.auth.tokens_file) {
        let interval = Duration::from_secs(config.auth.reload_interval_seconds);
        tasks.push(crate::auth::watch(
            tokens.clone(),
            path.clone(),
            interval,
            stop_rx.clone(),
        )?);
    }
    tracing::info!(member_id = %member_id, http_addr = %http_addr, "coordinator starting: probes and /metrics are served");
    let bus = connect(config, &store, &member_id, &readiness).await?;
    let (publisher, janitor) = Publisher::new(bus.clone(), store.clone());
    let metrics = Metrics::new(store.clone());
    let driver = Driver {
        store: store.clone(),
        catalog: Catalog::new(store.clone()),
        publisher: publisher.clone(),
        client: bus.client.clone(),
        subjects: bus.subjects.clone(),
        faults: config.fault.faults(),
        payload_limit: config.limits.payload_bytes,
        signal_limit: config.limits.signal_bytes,
        timers_changed: Arc::new(Notify::new()),
        runs: RunQueues::default(),
        committer: Committer::start(crate::commit::Transitions(store.clone()), COMMITS_IN_FLIGHT),
        metrics,
        routing: Ownership::new(member_id.clone()),
        auth,
        otel,
    };
    tasks.extend(sync_files(config, &driver, &stop_rx).await?);
    let capacity = config.coordinator.concurrency as u32;
    let in_flight = Arc::new(Semaphore::new(capacity as usize));
    tasks.extend(spawn_intakes(config, &bus, &driver, &in_flight, &stop_rx, &readiness).await?);
    tasks.push(tokio::spawn(timers::run(driver.clone(), stop_rx.clone())));
    tasks.push(tokio::spawn(schedules::run(
        driver.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(routing::refresh(
        store.clone(),
        driver.routing.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(routing::serve_inbox(
        driver.clone(),
        driver.routing.clone(),
        stop_rx.clone(),
    )));
    tasks.push(spawn_relay(config, &store, publisher, &stop_rx));
    tasks.push(tokio::spawn(crate::lost_tasks::run(
        driver.clone(),
        bus.clone(),
        Duration::from_secs(config.coordinator.lost_task_seconds),
        stop_rx.clone(),
    )));
    http::mount(
        &readiness,
        crate::api::router(driver.clone(), stop_rx.clone())
            .merge(crate::ui::routes(config.coordinator.trace_url.as_deref())),
    );
    {
        let (driver, stop) = (driver.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(error) = control::serve(driver, stop).await {
                tracing::error!(%error, "control plane stopped");
            }
        }));
    }
    readiness.connected(store.clone(), bus.clone());
    // Join the member list last: listed means ready to answer.
    let member = Member {
        id: member_id.clone(),
        role: "coordinator",
        http_addr: Some(http_addr.clone()),
        started_at: chrono::Utc::now(),
        executors: Vec::new(),
    };
    tasks.push(tokio::spawn(membership::keep(store, member, stop_rx)));
    tracing::info!(member_id = %member_id, http_addr = %http_addr, prefix = %bus.subjects.prefix(), "coordinator ready");
    Ok(Running {
        stop,
        tasks,
        in_flight,
        capacity,
        janitor,
        driver,
    })
}

/// The database (migrated) and the bus (streams ensured), each retried
/// until it answers.
async fn connect(
    config: &Config,
    store: &Store,
    member_id: &str,
    readiness: &Readiness,
) -> anyhow::Result<Bus> {
    let applied = startup::retry(
        "apply database migrations",
        readiness,
        |error: &junction_store::Error| !error.is_transient(),
        || store.migrate(),
    )
    .await
    .context("apply migrations")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let name = format!("junction-coordinator {member_id}");
    let (bus, _) = startup::connect_bus(config, &name, readiness).await?;
    Ok(bus)
}

/// The agent and definition directories stored into the database before
/// any intake starts, then watched (`definitions.watch_interval_seconds`).
/// A directory that cannot be read at startup is a startup error.
async fn sync_files(
    config: &Config,
    driver: &Driver,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let mut files = sync::FileSync::new(
        driver.clone(),
        config.definitions.dir.clone(),
        config.agents.dir.clone(),
    );
    if !files.is_configured() {
        return Ok(None);
    }
    let summary = files.pass().await.context("sync definition files")?;
    let interval = config.definitions.watch_interval_seconds;
    tracing::info!(
        stored = summary.stored,
        unchanged = summary.unchanged,
        failed = summary.failed,
        watch_interval_seconds = interval,
        "definition files synced"
    );
    Ok((interval > 0)
        .then(|| tokio::spawn(files.watch(Duration::from_secs(interval), stop.clone()))))
}

/// The two JetStream intakes, signals and step events, sharing the
/// coordinator's concurrency bound.
async fn spawn_intakes(
    config: &Config,
    bus: &Bus,
    driver: &Driver,
    in_flight: &Arc<Semaphore>,
    stop: &watch::Receiver<bool>,
    readiness: &Readiness,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let never = |_: &junction_bus::Error| false;
    let signal_stream = startup::retry("join SIGNAL_INTAKE", readiness, never, || {
        bus.signal_intake_consumer()
    })
    .await?;
    let event_stream = startup::retry("join EVENT_INTAKE", readiness, never, || {
        bus.event_intake_consumer()
    })
    .await?;
    let signal_limit = config.limits.signal_bytes;
    let (signal_driver, metrics) = (driver.clone(), driver.metrics.clone());
    let signals = tokio::spawn(consume(
        "signals",
        signal_stream,
        in_flight.clone(),
        stop.clone(),
        junction_bus::INTAKE_PROGRESS_EVERY,
        move |m| signals::handle(signal_driver.clone(), metrics.clone(), signal_limit, m),
    ));
    let event_driver = driver.clone();
    let events = tokio::spawn(consume(
        "events",
        event_stream,
        in_flight.clone(),
        stop.clone(),
        junction_bus::INTAKE_PROGRESS_EVERY,
        move |m| events::handle(event_driver.clone(), m),
    ));
    Ok(vec![signals, events])
}

/// The outbox relay: re-sends what was left unpublished past the grace.
fn spawn_relay(
    config: &Config,
    store: &Store,
    publisher: Publisher,
    stop: &watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut stop = stop.clone();
    let relay_stop = async move {
        let _ = stop.changed().await;
    };
    let grace = Duration::from_millis(config.coordinator.relay_grace_ms);
    let interval = Duration::from_millis(config.coordinator.relay_interval_ms);
    tokio::spawn(outbox::relay(
        store.clone(),
        publisher,
        grace,
        interval,
        relay_stop,
    ))
}

impl Running {
    async fn stop(self, drain: Duration) {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(drain, async {
            let _ = self.in_flight.acquire_many(self.capacity).await;
            for task in self.tasks {
                let _ = task.await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "drain deadline passed; exiting with work in flight (it will be redelivered)"
            );
        }
        drop(self.driver);
        self.janitor.finish(Duration::from_secs(2)).await;
        tracing::info!("coordinator stopped");
    }
}
