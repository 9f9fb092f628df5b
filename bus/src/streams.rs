//! The streams and durable consumers of PROTOCOL §1, created idempotently by
//! every process at start.

use super::{Bus, Error};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::stream::{Config as StreamConfig, RetentionPolicy, StorageType};
use std::time::Duration;

/// JetStream's duplicate window on every stream (PROTOCOL §1: at least 2 min).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// `ack_wait` of the coordinators' intakes (`SIGNAL_INTAKE`, `EVENT_INTAKE`):
/// what a message a dead coordinator had pulled waits before another one
/// gets it. Short, because a coordinator keeps each message it is handling
/// alive with an in-progress ack every [`INTAKE_PROGRESS_EVERY`] (a slow
/// transition is not redelivered), so only a dead or frozen coordinator's
/// messages ever wait for it.
pub const INTAKE_ACK_WAIT: Duration = Duration::from_secs(5);

/// How often a coordinator sends an in-progress ack for an intake message
/// it is still handling: a third of [`INTAKE_ACK_WAIT`], so two can be lost.
pub const INTAKE_PROGRESS_EVERY: Duration = Duration::from_millis(1_666);

/// Messages a coordinator pulls ahead per intake. Pulled messages wait in
/// the client for a handling slot without in-progress acks, so few enough
/// that they are taken well within [`INTAKE_ACK_WAIT`] (a later one is
/// only redelivered, which intake absorbs), and few enough that a dead
/// coordinator strands little.
pub const INTAKE_BATCH: usize = 32;

/// How consumers deliver; derived from the configuration.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// `ack_wait` of `WORKERS`: a task not acked or kept alive is redelivered after this.
    pub task_ack_wait: Duration,
    /// `max_age` of `WORKFLOW_EVENTS`.
    pub events_max_age: Duration,
    /// Replicas of a stream this process creates (consumers inherit them).
    pub stream_replicas: usize,
}

fn setup_error(asset: &str) -> impl FnOnce(String) -> Error + '_ {
    move |message| Error::Setup {
        asset: asset.to_owned(),
        message,
    }
}

impl Bus {
    /// Creates the three streams if they are missing, at
    /// `settings.stream_replicas` replicas. An existing stream is used as
    /// it is (its replicas are changed with `nats stream edit`).
    pub async fn ensure_streams(&self, settings: &ConsumerSettings) -> Result<(), Error> {
        let s = &self.subjects;
        let streams = [
            StreamConfig {
                name: s.signals_stream(),
                subjects: vec![s.signals_wildcard()],
                retention: RetentionPolicy::Limits,
                max_age: Duration::from_secs(7 * 24 * 3600),
                ..Default::default()
            },
            StreamConfig {
                name: s.tasks_stream(),
                subjects: vec![s.tasks_wildcard()],
                retention: RetentionPolicy::WorkQueue,
                ..Default::default()
            },
            StreamConfig {
                name: s.events_stream(),
                subjects: vec![s.events_wildcard()],
                retention: RetentionPolicy::Limits,
                max_age: settings.events_max_age,
                ..Default::default()
            },
        ];
        for config in streams {
            let name = config.name.clone();
            let config = StreamConfig {
                storage: StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                num_replicas: settings.stream_replicas,
                ..config
            };
            self.jetstream
                .get_or_create_stream(config)
                .await
                .map_err(|e| setup_error(&name)(e.to_string()))?;
        }
        Ok(())
    }

    /// The `WORKERS` consumer that all workers share (the `agent.run` tasks).
    /// `batch` bounds the messages prefetched per pull (the worker's concurrency).
    pub async fn workers_consumer(
        &self,
        settings: &ConsumerSettings,
        max_ack_pending: i64,
        batch: usize,
    ) -> Result<pull::Stream, Error> {
        self.executor_consumer(settings, "agent.run", max_ack_pending, batch)
            .await
    }

    /// The consumer of `executor`'s tasks that every worker enabling it
    /// shares: `WORKERS` (filter `wf.task.step.>`) for `agent.run`,
    /// `WORKERS_<TOKEN>` (filter `wf.task.<token>.>`) otherwise. The filters
    /// never overlap, as a work-queue stream requires. A `WORKERS` created
    /// by a release that gave it no filter is replaced once (a work queue
    /// keeps its unacked messages; the next consumer delivers them).
    pub async fn executor_consumer(
        &self,
        settings: &ConsumerSettings,
        executor: &str,
        max_ack_pending: i64,
        batch: usize,
    ) -> Result<pull::Stream, Error> {
        let name = self.subjects.executor_consumer(executor);
        let filter = self.subjects.executor_tasks(executor);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: settings.task_ack_wait,
            max_ack_pending,
            deliver_policy: DeliverPolicy::All,
            filter_subject: filter.clone(),
            ..Default::default()
        };
        let stream = self
            .jetstream
            .get_stream(self.subjects.tasks_stream())
            .await
            .map_err(|e| setup_error(&name)(e.to_string()))?;
        let mut consumer = stream
            .get_or_create_consumer(&name, config.clone())
            .await
            .map_err(|e| setup_error(&name)(e.to_string()))?;
        if consumer.cached_info().config.filter_subject != filter {
            tracing::warn!(consumer = %name, %filter, "replacing a task consumer without its executor's filter");
            let _ = stream.delete_consumer(&name).await;
            consumer = stream
                .get_or_create_consumer(&name, config)
                .await
                .map_err(|e| setup_error(&name)(e.to_string()))?;
        }
        consumer
            .stream()
            .max_messages_per_batch(batch)
            .messages()
            .await
            .map_err(|e| setup_error(&name)(e.to_string()))
    }

    /// `SIGNAL_INTAKE`, shared by coordinators.
    pub async fn signal_intake_consumer(&self) -> Result<pull::Stream, Error> {
        let name = self.subjects.signal_intake_consumer();
        let config = pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: INTAKE_ACK_WAIT,
            max_ack_pending: 10_000,
            ..Default::default()
        };
        self.pull_consumer(&self.subjects.signals_stream(), &name, config)
            .await
    }

    /// `EVENT_INTAKE`, shared by coordinators; it sees step events only,
    /// since only they advance runs.
    pub async fn event_intake_consumer(&self) -> Result<pull::Stream, Error> {
        let name = self.subjects.event_intake_consumer();
        let config = pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: INTAKE_ACK_WAIT,
            max_ack_pending: 20_000,
            filter_subject: self.subjects.step_events_wildcard(),
            ..Default::default()
        };
        self.pull_consumer(&self.subjects.events_stream(), &name, config)
            .await
    }

    /// An intake consumer, created if missing. One created by an earlier
    /// release with other delivery settings (the 30 s `ack_wait`) is updated
    /// in place: JetStream keeps its position and its unacked messages.
    async fn pull_consumer(
        &self,
        stream: &str,
        name: &str,
        config: pull::Config,
    ) -> Result<pull::Stream, Error> {
        let stream = self
            .jetstream
            .get_stream(stream)
            .await
            .map_err(|e| setup_error(stream)(e.to_string()))?;
        let mut consumer = stream
            .get_or_create_consumer(name, config.clone())
            .await
            .map_err(|e| setup_error(name)(e.to_string()))?;
        let current = &consumer.cached_info().config;
        if current.ack_wait != config.ack_wait || current.max_ack_pending != config.max_ack_pending
        {
            tracing::info!(
                consumer = name,
                from_ack_wait = ?current.ack_wait,
                ack_wait = ?config.ack_wait,
                max_ack_pending = config.max_ack_pending,
                "updating an intake consumer's delivery settings"
            );
            // Create-or-update: the durable keeps its state.
            consumer = stream
                .create_consumer(config)
                .await
                .map_err(|e| setup_error(name)(e.to_string()))?;
        }
        consumer
            .stream()
            .max_messages_per_batch(INTAKE_BATCH)
            .messages()
            .await
            .map_err(|e| setup_error(name)(e.to_string()))
    }
}
