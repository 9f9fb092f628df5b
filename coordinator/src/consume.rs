//! A bounded, stoppable loop over a JetStream pull consumer: each message is
//! handled in its own task, at most `limit` at once.

use async_nats::jetstream::{Message, consumer::pull};
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Semaphore, watch};

/// Pulls from `messages` until `stop` flips, handing each message to `handler`.
pub async fn consume<F, Fut>(
    name: &'static str,
    mut messages: pull::Stream,
    limit: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    handler: F,
) where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::new(handler);
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            _ = stop.changed() => break,
        };
        let next = tokio::select! {
            next = messages.next() => next,
            _ = stop.changed() => break,
        };
        match next {
            Some(Ok(message)) => {
                let handler = handler.clone();
                tokio::spawn(async move {
                    handler(message).await;
                    drop(permit);
                });
            }
            Some(Err(error)) => {
                tracing::warn!(consumer = name, %error, "consumer error; continuing");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            None => {
                tracing::warn!(consumer = name, "consumer stream ended");
                break;
            }
        }
    }
    tracing::info!(consumer = name, "stopped pulling");
}
