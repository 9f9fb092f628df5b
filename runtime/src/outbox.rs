//! After-commit publishing shared by coordinator and worker: publish the
//! outbox rows a transaction wrote, then delete the acknowledged ones in
//! batches off the hot path. Rows that fail to publish stay for the relay.

use junction_bus::Bus;
use junction_core::outbox::OutboxMessage;
use junction_store::Store;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Most ids deleted in one statement.
const DELETE_BATCH: usize = 1024;

/// Publishes committed outbox rows. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Publisher {
    bus: Bus,
    published: mpsc::UnboundedSender<Vec<i64>>,
}

/// Deletes published rows in the background until every [`Publisher`] is dropped.
#[derive(Debug)]
pub struct Janitor {
    handle: JoinHandle<()>,
}

impl Publisher {
    /// A publisher and the janitor that deletes what it published.
    pub fn new(bus: Bus, store: Store) -> (Self, Janitor) {
        let (published, receiver) = mpsc::unbounded_channel();
        let handle = tokio::spawn(delete_published(store, receiver));
        (Self { bus, published }, Janitor { handle })
    }

    /// Publishes and schedules deletion of what JetStream acknowledged.
    pub async fn publish(&self, messages: &[OutboxMessage]) {
        if messages.is_empty() {
            return;
        }
        let ids = self.bus.publish_outbox(messages).await;
        if !ids.is_empty() {
            let _ = self.published.send(ids);
        }
    }
}

impl Publisher {
    /// Publishes a message that has no outbox row (a re-emitted stored event).
    pub async fn publish_untracked(&self, message: &OutboxMessage) {
        self.bus.publish_outbox(std::slice::from_ref(message)).await;
    }
}

impl Janitor {
    /// Waits for the pending deletions (call after dropping every publisher).
    pub async fn finish(self, deadline: Duration) {
        let _ = tokio::time::timeout(deadline, self.handle).await;
    }
}

async fn delete_published(store: Store, mut receiver: mpsc::UnboundedReceiver<Vec<i64>>) {
    let mut batch = Vec::new();
    while let Some(ids) = receiver.recv().await {
        batch.extend(ids);
        while batch.len() < DELETE_BATCH {
            match receiver.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        if let Err(error) = store.delete_outbox(&batch).await {
            // Harmless: the relay re-sends them and JetStream or the claims absorb the repeats.
            tracing::warn!(%error, rows = batch.len(), "could not delete published outbox rows");
        }
        batch.clear();
    }
}

/// Re-publishes rows left behind by a crash or a failed publish, every
/// `interval`, for rows older than `grace`. Runs until `shutdown` resolves.
pub async fn relay(
    store: Store,
    publisher: Publisher,
    grace: Duration,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        loop {
            match store.stale_outbox(grace.as_millis() as i64, 500).await {
                Ok(rows) if rows.is_empty() => break,
                Ok(rows) => {
                    tracing::info!(rows = rows.len(), "relaying unpublished outbox rows");
                    let full = rows.len() == 500;
                    publisher.publish(&rows).await;
                    if !full {
                        break;
                    }
                    // Give the janitor a moment so the next page is new rows.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "outbox relay could not read the outbox");
                    break;
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
