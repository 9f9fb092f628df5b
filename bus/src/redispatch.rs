//! Lost tasks (ARCHITECTURE.md, "Lost tasks"): the task message of an
//! attempt read back from `WORKFLOW_TASKS`, which as a work queue keeps a
//! message until a worker acks it, and published again under a new message
//! id. This is for an attempt whose message JetStream holds but no longer
//! delivers (seen on nats-server 2.9 when a consumer's leader changed while
//! its deliveries were being nak'ed). Workers claim by
//! `run + step + attempt`, so a copy that turns out not to be needed is
//! refused like any redelivery.

use super::{Bus, Error};
use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use bytes::Bytes;
use junction_core::wire::StepTask;
use junction_core::wire::task::EXECUTORS;

/// A task message as the stream stores it.
#[derive(Debug, Clone)]
pub struct StoredTask {
    /// The executor whose subject holds it.
    pub executor: &'static str,
    subject: String,
    payload: Bytes,
    traceparent: Option<String>,
    /// Built again from the run, not read back from the stream.
    rebuilt: bool,
}

impl StoredTask {
    /// A task the stream no longer holds, built again from its run
    /// (`junction_core::engine::lost_task`), to publish like one read back.
    pub fn rebuilt(
        subjects: &crate::Subjects,
        task: &StepTask,
        traceparent: Option<String>,
    ) -> serde_json::Result<Self> {
        Ok(Self {
            executor: task.action.name(),
            subject: subjects.executor_task(task.action.name(), &task.run_id, &task.step_id),
            payload: serde_json::to_vec(task)?.into(),
            traceparent,
            rebuilt: true,
        })
    }
}

impl Bus {
    /// The task of `(run_id, step_id, attempt)` if the stream still holds
    /// it: the last message on the step's task subject of some executor,
    /// when it is that attempt's. `None` when no executor's subject has it.
    pub async fn stored_task(
        &self,
        run_id: &str,
        step_id: &str,
        attempt: u32,
    ) -> Result<Option<StoredTask>, Error> {
        let stream_name = self.subjects.tasks_stream();
        let unavailable = |message: String| Error::Unavailable {
            asset: stream_name.clone(),
            message,
        };
        let stream = self
            .jetstream
            .get_stream(&stream_name)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        for executor in EXECUTORS {
            let subject = self.subjects.executor_task(executor, run_id, step_id);
            let message = match stream.get_last_raw_message_by_subject(&subject).await {
                Ok(message) => message,
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => continue,
                Err(e) => return Err(unavailable(e.to_string())),
            };
            let stored_attempt = serde_json::from_slice::<serde_json::Value>(&message.payload)
                .ok()
                .and_then(|task| task.get("attempt")?.as_u64());
            if stored_attempt == Some(u64::from(attempt)) {
                let traceparent = message
                    .headers
                    .get("traceparent")
                    .map(|v| v.as_str().to_owned());
                return Ok(Some(StoredTask {
                    executor,
                    subject,
                    payload: message.payload,
                    traceparent,
                    rebuilt: false,
                }));
            }
        }
        Ok(None)
    }

    /// Publishes `task` again on its subject, with message id
    /// `<key>:redispatch:<round>` (`<key>:rebuilt:<round>` for a task built
    /// again): coordinators that redispatch the same attempt in the same
    /// round store one copy.
    pub async fn redispatch(&self, task: &StoredTask, key: &str, round: u64) -> Result<(), Error> {
        let unavailable = |message: String| Error::Unavailable {
            asset: task.subject.clone(),
            message,
        };
        let mut publish = PublishMessage::build()
            .payload(task.payload.clone())
            .message_id(format!(
                "{key}:{}:{round}",
                if task.rebuilt {
                    "rebuilt"
                } else {
                    "redispatch"
                }
            ));
        if let Some(traceparent) = &task.traceparent {
            publish = publish.header("traceparent", traceparent.as_str());
        }
        self.jetstream
            .send_publish(task.subject.clone(), publish)
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(())
    }

    /// Whether `executor`'s task consumer exists and has handed out every
    /// message it holds (none waits undelivered): only then does a task
    /// that stays unclaimed mean a lost delivery, not a queue that is
    /// behind, or an executor no live worker serves.
    pub async fn task_consumer_caught_up(&self, executor: &str) -> Result<bool, Error> {
        let name = self.subjects.executor_consumer(executor);
        let stream = self
            .jetstream
            .get_stream(self.subjects.tasks_stream())
            .await
            .map_err(|e| Error::Unavailable {
                asset: name.clone(),
                message: e.to_string(),
            })?;
        let Ok(mut consumer) = stream.get_consumer::<pull::Config>(&name).await else {
            return Ok(false);
        };
        let info = consumer.info().await.map_err(|e| Error::Unavailable {
            asset: name.clone(),
            message: e.to_string(),
        })?;
        Ok(info.num_pending == 0)
    }
}
