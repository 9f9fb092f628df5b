//! Waits for events, never for time: [`TestEnv::eventually`] polls a probe
//! until it holds, and the JetStream waits prove the cluster has handled
//! what it was sent, for tests that assert something did NOT happen:
//! instead of sleeping and hoping a slow machine was fast enough, such a test
//! waits until the consumer that would have made it happen has acknowledged
//! every message that could have caused it.

use crate::TestEnv;
use anyhow::Context;
use async_nats::jetstream::consumer::Info;
use async_nats::jetstream::stream::State;
use std::time::Duration;

/// How long a wait here may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

impl TestEnv {
    /// Polls `probe` every 20 ms until it returns `Some`, and returns that;
    /// fails after `timeout`, naming `what`, with the process logs.
    pub async fn eventually<T, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(value) = probe().await? {
                return Ok(value);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {timeout:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the agents this process serves have been called as
    /// `agent` at least `n` times (a call counts from when it arrives, before
    /// its handler answers).
    pub async fn wait_for_calls(&self, agent: &str, n: usize) -> anyhow::Result<()> {
        self.eventually(&format!("{agent} called {n} times"), WAIT, || async {
            Ok((self.calls.count_for(agent) >= n).then_some(()))
        })
        .await
    }

    /// The state of `stream` and of its durable `consumer`.
    pub async fn consumer_state(
        &self,
        stream: &str,
        consumer: &str,
    ) -> anyhow::Result<(State, Info)> {
        let jetstream = async_nats::jetstream::new(self.nats.clone());
        let stream = jetstream
            .get_stream(stream)
            .await
            .with_context(|| format!("stream {stream}"))?;
        let info = stream
            .consumer_info(consumer)
            .await
            .with_context(|| format!("consumer {consumer}"))?;
        let state = stream.get_info().await?.state;
        Ok((state, info))
    }

    /// Polls the state of `stream` and `consumer` every 50 ms until `done`
    /// holds, and returns it; fails after a minute, naming `what`.
    async fn wait_for_consumer(
        &self,
        what: &str,
        stream: &str,
        consumer: &str,
        done: impl Fn(&State, &Info) -> bool,
    ) -> anyhow::Result<(State, Info)> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let last = self.consumer_state(stream, consumer).await;
            if let Ok((state, info)) = &last
                && done(state, info)
            {
                return last;
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "{what}: not within {WAIT:?}; last seen {last:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until at least `published` signals are on the signals stream
    /// and `SIGNAL_INTAKE` has acknowledged every one of them. A coordinator
    /// acknowledges a signal only after every run it starts is committed
    /// (or it decided to start none), so from then on `runs.list` shows
    /// every run those signals will ever start.
    pub async fn wait_for_signals_handled(&self, published: u64) -> anyhow::Result<()> {
        self.wait_for_consumer(
            &format!("{published} signals handled"),
            &self.subjects.signals_stream(),
            &self.subjects.signal_intake_consumer(),
            |state, info| {
                state.last_sequence >= published
                    && info.ack_floor.stream_sequence >= state.last_sequence
                    && info.num_pending == 0
                    && info.num_ack_pending == 0
            },
        )
        .await
        .map(drop)
    }

    /// Waits until the task queue is idle: no task waits on the tasks stream
    /// (a work queue: an acknowledged task is deleted) and no worker holds
    /// one. Workers acknowledge a task after its result is committed, so
    /// from then on no agent call can still come from a task sent so far.
    pub async fn wait_for_tasks_idle(&self) -> anyhow::Result<()> {
        self.wait_for_consumer(
            "the task queue idle",
            &self.subjects.tasks_stream(),
            &self.subjects.workers_consumer(),
            |state, info| state.messages == 0 && info.num_pending == 0 && info.num_ack_pending == 0,
        )
        .await
        .map(drop)
    }

    /// Waits until `WORKERS` has made at least `deliveries` deliveries, and
    /// returns the state then. With one task on the stream, a second
    /// delivery proves that a worker received the first and did not
    /// acknowledge it: it refused the task instead of executing it.
    pub async fn wait_for_task_deliveries(&self, deliveries: u64) -> anyhow::Result<(State, Info)> {
        self.wait_for_consumer(
            &format!("{deliveries} task deliveries"),
            &self.subjects.tasks_stream(),
            &self.subjects.workers_consumer(),
            |_, info| info.delivered.consumer_sequence >= deliveries,
        )
        .await
    }
}
