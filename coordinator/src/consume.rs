//! A bounded, stoppable loop over a JetStream pull consumer: each message is
//! handled in its own task, at most `limit` at once, and kept alive with an
//! in-progress ack every `progress_every` while it is handled.
//!
//! The intakes' `ack_wait` is short (`junction_bus::INTAKE_ACK_WAIT`), so
//! that what a dead coordinator had pulled reaches a survivor within
//! seconds; the in-progress acks keep a live coordinator's slow handling (a
//! transition redecided after conflicts, a database hiccup) from being
//! redelivered meanwhile.

use async_nats::jetstream::{AckKind, Message, consumer::pull};
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

/// Pulls from `messages` until `stop` flips, handing each message to `handler`.
pub async fn consume<F, Fut>(
    name: &'static str,
    mut messages: pull::Stream,
    limit: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    progress_every: Duration,
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
                    let keeper = message.clone();
                    kept_alive(handler(message), &keeper, progress_every).await;
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

/// Runs `handling` to its end, sending an in-progress ack for `message`
/// every `every` until then. A lost in-progress ack is only logged: the
/// worst it causes is a redelivery, which intake absorbs.
async fn kept_alive(handling: impl Future<Output = ()>, message: &Message, every: Duration) {
    tokio::pin!(handling);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut handling => return,
            _ = tick.tick() => {
                if let Err(error) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(subject = %message.subject, %error, "could not send an in-progress ack");
                }
            }
        }
    }
}
