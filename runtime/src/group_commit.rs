//! Group commit: writes queued while earlier ones were being committed go
//! to the database together, one transaction per batch, so many writes
//! share one WAL flush. Under light load a batch holds one write and costs
//! what it did alone; under load batches grow and throughput grows with
//! them. A batch that fails as a whole is written again one by one, so a bad
//! write fails only itself. The coordinator commits run transitions through
//! it, the worker step results.

use junction_store::{Error, Result};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most writes in one batch.
pub const MAX_BATCH: usize = 64;

/// How one kind of write reaches the database.
pub trait BatchWriter: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Output: Send + 'static;
    /// Writes `items` in one transaction; one output per item, in order.
    fn write_batch(
        &self,
        items: &[Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Output>>> + Send;
    /// Writes one item alone.
    fn write_one(&self, item: &Self::Item) -> impl Future<Output = Result<Self::Output>> + Send;
}

type Reply<T> = oneshot::Sender<Result<T>>;

/// Sends writes to the committer. Cheap to clone.
pub struct GroupCommitter<W: BatchWriter> {
    queue: mpsc::UnboundedSender<(W::Item, Reply<W::Output>)>,
}

impl<W: BatchWriter> Clone for GroupCommitter<W> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<W: BatchWriter> std::fmt::Debug for GroupCommitter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitter").finish_non_exhaustive()
    }
}

impl<W: BatchWriter> GroupCommitter<W> {
    /// Starts the committer with at most `in_flight` batches at once.
    pub fn start(writer: W, in_flight: usize) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(Arc::new(writer), receiver, in_flight.max(1)));
        Self { queue }
    }

    /// Writes `item` with whatever else is queued; resolves once committed.
    pub async fn write(&self, item: W::Item) -> Result<W::Output> {
        let (reply, answer) = oneshot::channel();
        if self.queue.send((item, reply)).is_err() {
            return Err(Error::Conflict("the group committer has stopped".into()));
        }
        answer.await.unwrap_or_else(|_| {
            Err(Error::Conflict(
                "the group committer dropped a write".into(),
            ))
        })
    }
}

async fn run<W: BatchWriter>(
    writer: Arc<W>,
    mut receiver: mpsc::UnboundedReceiver<(W::Item, Reply<W::Output>)>,
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
        let writer = writer.clone();
        tokio::spawn(async move {
            commit_batch(&*writer, batch).await;
            drop(permit);
        });
    }
}

async fn commit_batch<W: BatchWriter>(writer: &W, batch: Vec<(W::Item, Reply<W::Output>)>) {
    let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    if let ([item], [_]) = (items.as_slice(), replies.as_slice()) {
        let result = writer.write_one(item).await;
        if let Some(reply) = replies.into_iter().next() {
            let _ = reply.send(result);
        }
        return;
    }
    match writer.write_batch(&items).await {
        Ok(outputs) if outputs.len() == items.len() => {
            for (reply, output) in replies.into_iter().zip(outputs) {
                let _ = reply.send(Ok(output));
            }
        }
        Ok(_) => {
            for reply in replies {
                let _ = reply.send(Err(Error::Corrupt(
                    "a batch answered for too few writes".into(),
                )));
            }
        }
        Err(error) => {
            tracing::debug!(%error, writes = items.len(), "group commit failed; writing one by one");
            for (item, reply) in items.iter().zip(replies) {
                let _ = reply.send(writer.write_one(item).await);
            }
        }
    }
}
