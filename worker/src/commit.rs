//! Group commit of results. Every finished step's result goes through one
//! committer, which writes the results queued while earlier ones were being
//! committed in one transaction (their statements pipelined, in run id
//! order). Results of one run that finish together (a wide parallel or
//! foreach) then take that run's seq counter once per batch instead of once
//! each, and many steps share one WAL flush. Under light load a batch holds
//! one result and costs what it did alone.
//!
//! A batch that fails as a whole is retried one result at a time, so one
//! bad result fails only itself.

use junction_shared::store::{FinishOutcome, FinishRequest, Store};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most results in one commit.
const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<junction_shared::store::Result<FinishOutcome>>;

/// Sends results to the committer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ResultCommitter {
    queue: mpsc::UnboundedSender<(FinishRequest, Reply)>,
}

impl ResultCommitter {
    /// Starts the committer with at most `in_flight` commits at once.
    pub fn start(store: Store, in_flight: usize) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(store, receiver, in_flight.max(1)));
        Self { queue }
    }

    /// Records one result (with whatever else is queued).
    pub async fn record(
        &self,
        request: FinishRequest,
    ) -> junction_shared::store::Result<FinishOutcome> {
        let (reply, answer) = oneshot::channel();
        if self.queue.send((request, reply)).is_err() {
            return Err(junction_shared::store::Error::Conflict(
                "the result committer has stopped".into(),
            ));
        }
        answer.await.unwrap_or_else(|_| {
            Err(junction_shared::store::Error::Conflict(
                "the result committer dropped a result".into(),
            ))
        })
    }
}

async fn run(
    store: Store,
    mut receiver: mpsc::UnboundedReceiver<(FinishRequest, Reply)>,
    in_flight: usize,
) {
    let slots = Arc::new(Semaphore::new(in_flight));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let store = store.clone();
        tokio::spawn(async move {
            commit_batch(&store, batch).await;
            drop(permit);
        });
    }
}

async fn commit_batch(store: &Store, batch: Vec<(FinishRequest, Reply)>) {
    let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    if let [request] = requests.as_slice() {
        let result = single(store, request.clone()).await;
        if let Some(reply) = replies.into_iter().next() {
            let _ = reply.send(result);
        }
        return;
    }
    match store.finish_batch(requests.clone()).await {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(error) => {
            tracing::debug!(%error, results = requests.len(), "group commit of results failed; recording one by one");
            for (request, reply) in requests.into_iter().zip(replies) {
                let _ = reply.send(single(store, request).await);
            }
        }
    }
}

async fn single(
    store: &Store,
    request: FinishRequest,
) -> junction_shared::store::Result<FinishOutcome> {
    match request {
        FinishRequest::Folded {
            started,
            completed,
            outcome,
            warnings,
            ran_seconds,
        } => {
            store
                .claim_and_finish_attempt(*started, completed, &outcome, &warnings, ran_seconds)
                .await
        }
        FinishRequest::Claimed {
            completed,
            outcome,
            warnings,
        } => store.finish_attempt(completed, &outcome, &warnings).await,
    }
}
