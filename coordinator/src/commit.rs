//! Group commit across runs. Every run's transition goes through one
//! committer, which gathers the transitions queued while earlier ones were
//! being committed and writes them together: one transaction with one
//! pipelined statement per run, so many runs share one WAL flush. Under
//! light load a batch holds one transition and costs what it did alone;
//! under heavy load batches grow and throughput grows with them.
//!
//! A batch that fails as a whole (one statement's error aborts its
//! transaction) is retried one transition at a time, so a bad write fails
//! only its own run's inputs.

use junction_shared::store::{Committed, PendingWrite, Store};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most transitions in one commit.
const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<junction_shared::store::Result<Option<Committed>>>;

/// Sends transitions to the committer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Committer {
    queue: mpsc::UnboundedSender<(PendingWrite, Reply)>,
}

impl Committer {
    /// Starts the committer with at most `in_flight` commits at once.
    pub fn start(store: Store, in_flight: usize) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(store, receiver, in_flight.max(1)));
        Self { queue }
    }

    /// Commits one run's transition (with whatever else is queued).
    /// `Ok(None)`: the run moved on since the transition was decided.
    pub async fn commit(
        &self,
        write: PendingWrite,
    ) -> junction_shared::store::Result<Option<Committed>> {
        let (reply, answer) = oneshot::channel();
        if self.queue.send((write, reply)).is_err() {
            return Err(junction_shared::store::Error::Conflict(
                "the committer has stopped".into(),
            ));
        }
        answer.await.unwrap_or_else(|_| {
            Err(junction_shared::store::Error::Conflict(
                "the committer dropped a transition".into(),
            ))
        })
    }
}

async fn run(
    store: Store,
    mut receiver: mpsc::UnboundedReceiver<(PendingWrite, Reply)>,
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

async fn commit_batch(store: &Store, batch: Vec<(PendingWrite, Reply)>) {
    let (writes, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    match store.commit_transitions(&writes).await {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(error) if writes.len() == 1 => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(error));
            }
        }
        Err(error) => {
            tracing::debug!(%error, transitions = writes.len(), "group commit failed; committing one by one");
            for (write, reply) in writes.iter().zip(replies) {
                let result = store.commit_transitions(std::slice::from_ref(write)).await;
                let _ = reply.send(result.map(|mut r| r.pop().flatten()));
            }
        }
    }
}
