//! The NATS side: one queue subscription per agent on `agents.<name>.run`, one
//! task per request, and the reply on the request's reply subject.
//!
//! Subscribing per agent (not to `agents.*.run`) means a request for an agent no
//! process serves gets "no responders" at once, which the engine maps to
//! `AGENT_UNAVAILABLE`. Every process joins the queue group [`QUEUE_GROUP`], so
//! running several copies spreads the calls. Cancels on `agents.<name>.cancel`
//! are recorded in the [`CallLog`] (by every copy: they are not queued); the
//! call they target is left to finish, since the worker ignores its reply.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Message, Subject, Subscriber};
use bytes::Bytes;
use futures::FutureExt;
use futures::stream::{SelectAll, Stream, StreamExt};
use junction_bus::Subjects;
use junction_core::wire::agent::{AgentCancel, AgentReply, AgentRequest, IDEMPOTENCY_HEADER};
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::call_log::{CallLog, CallRecord, CancelRecord};
use crate::registry::{Handler, Registry, Reply};

/// The queue group every agent subscription joins.
pub const QUEUE_GROUP: &str = "junction-example-agents";
/// Error code of a request body that is not an [`AgentRequest`].
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// Error code of a call whose handler panicked.
pub const AGENT_PANICKED: &str = "AGENT_PANICKED";
/// W3C trace context header a worker sends with every call (PROTOCOL §5).
const TRACEPARENT_HEADER: &str = "traceparent";
/// How long shutdown waits for in-flight calls to reply before abandoning them.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long the server may take to confirm our subscriptions.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Why serving could not start or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("subscribe to {subject}")]
    Subscribe {
        subject: String,
        #[source]
        source: async_nats::SubscribeError,
    },
    #[error("flush to the NATS server")]
    Flush(#[source] async_nats::client::FlushError),
    #[error("publish the readiness probe")]
    Publish(#[source] async_nats::PublishError),
    #[error("the NATS server did not confirm the subscriptions within {0:?}")]
    NotConfirmed(Duration),
    #[error("the agent subscriptions ended: the NATS connection was closed or drained")]
    Closed,
    #[error("the serve task failed")]
    Task(#[source] JoinError),
}

/// Serves every agent of `registry` until `shutdown` resolves.
///
/// Each call is recorded in `log` before its handler runs. On shutdown it
/// unsubscribes, gives in-flight calls a short grace to reply, and returns
/// `Ok(())`. It returns [`Error::Closed`] if the connection is closed under it.
pub async fn serve(
    client: Client,
    subjects: Subjects,
    registry: Registry,
    log: CallLog,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    Server::bind(client, &subjects, registry, log)
        .await?
        .run(shutdown)
        .await
}

/// Starts [`serve`] in a tokio task, for tests that run agents in-process.
///
/// When this returns, the NATS server has confirmed the subscriptions: a request
/// sent from any connection reaches the agents.
pub async fn spawn(
    client: Client,
    subjects: Subjects,
    registry: Registry,
    log: CallLog,
) -> Result<ServeHandle, Error> {
    let server = Server::bind(client, &subjects, registry, log).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        // A send and a dropped handle both mean stop.
        stopped.await.ok();
    }));
    Ok(ServeHandle { stop, task })
}

/// A [`spawn`]ed server. Dropping the handle also stops it, without waiting.
pub struct ServeHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), Error>>,
}

impl ServeHandle {
    /// Stops serving and waits for it. Once this returns, the server no longer
    /// routes requests to these agents.
    pub async fn stop(self) -> Result<(), Error> {
        // An error means the task already ended; its result says why.
        self.stop.send(()).ok();
        self.task.await.map_err(Error::Task)?
    }

    /// Whether serving has ended (stopped, or failed).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// What every call task needs. Cheap to clone.
#[derive(Clone)]
struct Shared {
    client: Client,
    registry: Registry,
    log: CallLog,
}

/// A bound server: subscriptions confirmed, not yet reading.
struct Server {
    shared: Shared,
    subscriptions: Vec<Subscription>,
}

/// One subscription and what its messages are.
struct Subscription {
    agent: Arc<str>,
    kind: Kind,
    subscriber: Subscriber,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Run,
    Cancel,
}

/// A message tagged with its subscription.
struct Incoming {
    agent: Arc<str>,
    kind: Kind,
    message: Message,
}

impl Server {
    /// Subscribes to every agent's run and cancel subjects and waits for the
    /// server to confirm.
    async fn bind(
        client: Client,
        subjects: &Subjects,
        registry: Registry,
        log: CallLog,
    ) -> Result<Self, Error> {
        let mut subscriptions = Vec::with_capacity(2 * registry.len());
        for agent in registry.names() {
            let agent: Arc<str> = Arc::from(agent);
            let run = subjects.agent_run(&agent);
            let subscriber = client
                .queue_subscribe(run.clone(), QUEUE_GROUP.to_owned())
                .await
                .map_err(|source| Error::Subscribe {
                    subject: run,
                    source,
                })?;
            subscriptions.push(Subscription {
                agent: agent.clone(),
                kind: Kind::Run,
                subscriber,
            });
            let cancel = subjects.agent_cancel(&agent);
            let subscriber =
                client
                    .subscribe(cancel.clone())
                    .await
                    .map_err(|source| Error::Subscribe {
                        subject: cancel,
                        source,
                    })?;
            subscriptions.push(Subscription {
                agent,
                kind: Kind::Cancel,
                subscriber,
            });
        }
        confirm(&client).await?;
        Ok(Self {
            shared: Shared {
                client,
                registry,
                log,
            },
            subscriptions,
        })
    }

    /// Reads and dispatches messages until `shutdown`, then winds down.
    async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Server {
            shared,
            mut subscriptions,
        } = self;
        let listening = !subscriptions.is_empty();
        let mut calls = JoinSet::new();
        let outcome = {
            let mut incoming = merge(&mut subscriptions);
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    () = &mut shutdown => break Ok(()),
                    next = incoming.next(), if listening => match next {
                        Some(incoming) => dispatch(&shared, incoming, &mut calls),
                        None => break Err(Error::Closed),
                    },
                    Some(done) = calls.join_next(), if !calls.is_empty() => report(done),
                }
            }
        };
        unsubscribe(&shared.client, &mut subscriptions).await;
        drain(&mut calls).await;
        outcome
    }
}

/// All subscriptions as one stream of tagged messages.
fn merge(
    subscriptions: &mut [Subscription],
) -> SelectAll<impl Stream<Item = Incoming> + Unpin + '_> {
    futures::stream::select_all(subscriptions.iter_mut().map(|subscription| {
        let (agent, kind) = (subscription.agent.clone(), subscription.kind);
        subscription
            .subscriber
            .by_ref()
            .map(move |message| Incoming {
                agent: agent.clone(),
                kind,
                message,
            })
    }))
}

/// Routes one message: a run becomes a call task, a cancel is recorded.
fn dispatch(shared: &Shared, incoming: Incoming, calls: &mut JoinSet<()>) {
    match incoming.kind {
        Kind::Run => spawn_call(shared, incoming.agent, incoming.message, calls),
        Kind::Cancel => record_cancel(&shared.log, &incoming.agent, &incoming.message),
    }
}

/// Answers one run request in its own task.
fn spawn_call(shared: &Shared, agent: Arc<str>, message: Message, calls: &mut JoinSet<()>) {
    let Some(reply_to) = message.reply.clone() else {
        warn!(agent = %agent, "agent request without a reply subject dropped");
        return;
    };
    let Some(handler) = shared.registry.get(&agent).cloned() else {
        // Unreachable: we only subscribe to registered agents.
        warn!(agent = %agent, "request for an agent this process does not serve dropped");
        return;
    };
    let Shared { client, log, .. } = shared.clone();
    calls.spawn(async move {
        let reply = answer(&agent, &message, &handler, &log).await;
        send_reply(&client, reply_to, reply).await;
    });
}

/// Parses the request, records it, and runs the handler.
async fn answer(agent: &str, message: &Message, handler: &Handler, log: &CallLog) -> Reply {
    let request: AgentRequest = match serde_json::from_slice(&message.payload) {
        Ok(request) => request,
        Err(err) => {
            warn!(agent, error = %err, "agent request body is not an agent request");
            return Reply::error(
                BAD_REQUEST,
                format!("the body is not an agent request: {err}"),
            );
        }
    };
    log.record(CallRecord::new(
        agent,
        &request,
        header(message, IDEMPOTENCY_HEADER),
        header(message, TRACEPARENT_HEADER),
    ));
    let span = info_span!(
        "agent_call",
        agent,
        run_id = %request.run_id,
        step_id = %request.step_id,
        attempt = request.attempt,
    );
    call(handler, request).instrument(span).await
}

/// Runs `handler`, turning a panic into an [`AGENT_PANICKED`] error reply.
async fn call(handler: &Handler, request: AgentRequest) -> Reply {
    let reply = AssertUnwindSafe(async move { handler(request).await })
        .catch_unwind()
        .await;
    match reply {
        Ok(reply) => {
            debug!(
                ok = matches!(reply, Reply::Agent(AgentReply::Output(_))),
                "agent call answered"
            );
            reply
        }
        Err(_) => {
            error!("agent handler panicked");
            Reply::error(AGENT_PANICKED, "the agent panicked")
        }
    }
}

/// The value of header `name`, if the message has it.
fn header(message: &Message, name: &str) -> Option<String> {
    let value = message.headers.as_ref()?.get(name)?;
    Some(value.as_str().to_owned())
}

/// Publishes `reply` on the request's reply subject.
async fn send_reply(client: &Client, reply_to: Subject, reply: Reply) {
    if let Err(err) = client
        .publish(reply_to, Bytes::from(reply.into_body()))
        .await
    {
        warn!(error = %err, "could not send the agent reply");
    }
}

/// Records a cancel; a malformed one is only logged.
fn record_cancel(log: &CallLog, agent: &str, message: &Message) {
    match serde_json::from_slice::<AgentCancel>(&message.payload) {
        Ok(cancel) => {
            info!(
                agent,
                run_id = %cancel.run_id,
                step_id = %cancel.step_id,
                attempt = cancel.attempt,
                reason = %cancel.reason,
                "agent call cancelled"
            );
            log.record_cancel(CancelRecord {
                agent: agent.to_owned(),
                cancel,
            });
        }
        Err(err) => warn!(agent, error = %err, "agent cancel body is not an agent cancel"),
    }
}

/// Logs a call task that died (panics inside handlers are caught earlier).
fn report(done: Result<(), JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        error!(error = %err, "agent call task panicked");
    }
}

/// Unsubscribes everything and waits until the server has applied it.
async fn unsubscribe(client: &Client, subscriptions: &mut [Subscription]) {
    for subscription in subscriptions {
        if let Err(err) = subscription.subscriber.unsubscribe().await {
            debug!(agent = %subscription.agent, error = %err, "unsubscribe failed");
        }
    }
    if let Err(err) = confirm(client).await {
        debug!(error = %err, "could not confirm the unsubscribes");
    }
}

/// Waits up to [`DRAIN_GRACE`] for in-flight calls, then abandons the rest.
async fn drain(calls: &mut JoinSet<()>) {
    let all_done = async {
        while let Some(done) = calls.join_next().await {
            report(done);
        }
    };
    if tokio::time::timeout(DRAIN_GRACE, all_done).await.is_err() {
        warn!(
            abandoned = calls.len(),
            "in-flight agent calls abandoned at shutdown"
        );
        calls.shutdown().await;
    }
}

/// Returns once the server has processed everything this connection sent so far.
///
/// `flush` only empties the client's write buffer. The server handles one
/// connection's protocol messages in order, so when a probe we publish to our
/// own inbox comes back, every earlier `SUB` and `UNSUB` is in effect.
async fn confirm(client: &Client) -> Result<(), Error> {
    let inbox = client.new_inbox();
    let mut probe = client
        .subscribe(inbox.clone())
        .await
        .map_err(|source| Error::Subscribe {
            subject: inbox.clone(),
            source,
        })?;
    client
        .publish(inbox, Bytes::new())
        .await
        .map_err(Error::Publish)?;
    client.flush().await.map_err(Error::Flush)?;
    match tokio::time::timeout(CONFIRM_TIMEOUT, probe.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Error::Closed),
        Err(_) => Err(Error::NotConfirmed(CONFIRM_TIMEOUT)),
    }
}
