//! The durable consumers each kind of process pulls from, and what they
//! report: the messages not yet delivered (`junction_consumer_pending` on
//! `/metrics`), which also proves the consumer answers (`/readyz`).

use super::{Bus, Error};

/// Whose durable consumers: a coordinator pulls from `SIGNAL_INTAKE` and
/// `EVENT_INTAKE`, a worker from `WORKERS` (and, for each other executor it
/// enables, that executor's consumer: [`Bus::executor_consumers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Coordinator,
    Worker,
}

impl Bus {
    /// `(stream, durable name)` of every consumer `role` pulls from.
    pub fn consumers(&self, role: Role) -> Vec<(String, String)> {
        let s = &self.subjects;
        match role {
            Role::Coordinator => vec![
                (s.signals_stream(), s.signal_intake_consumer()),
                (s.events_stream(), s.event_intake_consumer()),
            ],
            Role::Worker => vec![(s.tasks_stream(), s.workers_consumer())],
        }
    }

    /// `(stream, durable name)` of the task consumers of a worker that
    /// enables `executors` (one per executor, see [`Bus::executor_consumer`]).
    pub fn executor_consumers<'e>(
        &self,
        executors: impl IntoIterator<Item = &'e str>,
    ) -> Vec<(String, String)> {
        let s = &self.subjects;
        executors
            .into_iter()
            .map(|executor| (s.tasks_stream(), s.executor_consumer(executor)))
            .collect()
    }

    /// Messages each consumer of `role` has not been delivered yet, by
    /// durable name (with the prefix), asked of the server one consumer
    /// info each. An error names the stream or consumer that did not answer.
    pub async fn pending(&self, role: Role) -> Result<Vec<(String, u64)>, Error> {
        self.pending_of(&self.consumers(role)).await
    }

    /// [`Bus::pending`] of the given `(stream, durable name)` consumers.
    pub async fn pending_of(
        &self,
        consumers: &[(String, String)],
    ) -> Result<Vec<(String, u64)>, Error> {
        let mut pending = Vec::with_capacity(consumers.len());
        for (stream, consumer) in consumers {
            let info = self
                .jetstream
                .get_stream(stream)
                .await
                .map_err(|e| unavailable(stream, e))?
                .consumer_info(consumer)
                .await
                .map_err(|e| unavailable(consumer, e))?;
            pending.push((consumer.clone(), info.num_pending));
        }
        Ok(pending)
    }
}

fn unavailable(asset: &str, error: impl std::fmt::Display) -> Error {
    Error::Unavailable {
        asset: asset.to_owned(),
        message: error.to_string(),
    }
}
