//! Which coordinator decides for a run, so that with several coordinators a
//! run's inputs reach one decision point at a time instead of bouncing.
//!
//! Every coordinator knows the live coordinators (the member list, read every
//! [`REFRESH`]) and computes the same owner for a run by rendezvous hashing:
//! the member with the highest `hash(member, run)`. Step events reach any
//! coordinator through the shared `EVENT_INTAKE` consumer; one that pulls an
//! event of a run it does not own forwards it with a NATS request to the
//! owner's inbox (`wf.route.<member token>`), and acks the JetStream message
//! once the owner answers that the input is committed. If the owner does not
//! answer (it died, or the member list is changing), the coordinator decides
//! itself: the optimistic revision check keeps that correct, and
//! `junction_transition_conflicts_total` counts what it costs. A member that
//! joins or leaves moves only the runs it gains or loses (rendezvous hashing).

use crate::driver::Driver;
use async_nats::Message;
use futures::StreamExt;
use junction_store::Store;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How often the live coordinators are read.
pub const REFRESH: Duration = Duration::from_secs(2);

/// How long a forwarded input may take before this coordinator decides itself.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// This coordinator's view of who owns which run. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ownership {
    me: String,
    live: Arc<RwLock<Vec<String>>>,
}

impl Ownership {
    pub fn new(me: String) -> Self {
        Self {
            me,
            live: Arc::new(RwLock::new(Vec::new())),
        }
    }

    /// This coordinator's member id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The live coordinator that owns `run_id`, if it is another one.
    pub fn other_owner(&self, run_id: &str) -> Option<String> {
        let live = self.live.read().ok()?;
        let owner = live.iter().max_by_key(|member| score(member, run_id))?;
        (owner != &self.me).then(|| owner.clone())
    }

    /// Replaces the list of live coordinators.
    pub fn set_live(&self, mut members: Vec<String>) {
        members.sort();
        if let Ok(mut live) = self.live.write() {
            *live = members;
        }
    }
}

fn score(member: &str, run_id: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    member.hash(&mut hasher);
    run_id.hash(&mut hasher);
    hasher.finish()
}

/// Keeps the live coordinators current until `stop` flips.
pub async fn refresh(store: Store, ownership: Ownership, mut stop: watch::Receiver<bool>) {
    loop {
        match store.members().await {
            Ok(members) => ownership.set_live(
                members
                    .into_iter()
                    .filter(|m| m.role == "coordinator")
                    .map(|m| m.id)
                    .collect(),
            ),
            Err(error) => {
                tracing::debug!(%error, "could not read the member list; keeping the last one")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(REFRESH) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Serves this coordinator's inbox: each forwarded step event is applied to
/// its run here, and answered `ok` once committed (or with an error).
pub async fn serve_inbox(driver: Driver, ownership: Ownership, mut stop: watch::Receiver<bool>) {
    let subject = driver.subjects.coordinator_inbox(ownership.me());
    let mut inbox = match driver.client.subscribe(subject.clone()).await {
        Ok(inbox) => inbox,
        Err(error) => {
            tracing::error!(%subject, %error, "cannot serve the routing inbox; forwarded events will time out and be decided by their senders");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            message = inbox.next() => message,
            _ = stop.changed() => break,
        };
        let Some(message) = message else { break };
        let driver = driver.clone();
        // Not bounded by the intake's slots: the sender holds one of its own
        // while it waits, and two coordinators forwarding to each other must
        // not wait on each other's slots.
        tokio::spawn(async move { answer(driver, message).await });
    }
    let _ = inbox.unsubscribe().await;
}

async fn answer(driver: Driver, message: Message) {
    let reply = match crate::events::apply_event(&driver, &message.payload).await {
        Ok(()) => "ok".to_owned(),
        Err(error) => format!("error: {error:#}"),
    };
    if let Some(to) = message.reply
        && let Err(error) = driver.client.publish(to, reply.into()).await
    {
        tracing::debug!(%error, "could not answer a forwarded event");
    }
}

/// Forwards a step event to the coordinator owning its run. `true`: the
/// owner committed it; `false`: decide here.
pub async fn forward(driver: &Driver, owner: &str, payload: bytes::Bytes) -> bool {
    let subject = driver.subjects.coordinator_inbox(owner);
    let request = driver.client.request(subject, payload);
    match tokio::time::timeout(FORWARD_TIMEOUT, request).await {
        Ok(Ok(reply)) if reply.payload.as_ref() == b"ok" => true,
        Ok(Ok(reply)) => {
            tracing::debug!(owner, reply = %String::from_utf8_lossy(&reply.payload), "the owner could not apply a forwarded event; deciding here");
            false
        }
        Ok(Err(error)) => {
            tracing::debug!(owner, %error, "forwarding failed; deciding here");
            false
        }
        Err(_) => {
            tracing::debug!(owner, "the owner did not answer in time; deciding here");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_coordinator_computes_the_same_owner_and_runs_spread() {
        let a = Ownership::new("a".into());
        let b = Ownership::new("b".into());
        a.set_live(vec!["a".into(), "b".into()]);
        b.set_live(vec!["b".into(), "a".into()]);
        let mut owned_by_a = 0;
        for i in 0..1000 {
            let run = format!("run-{i}");
            match (a.other_owner(&run), b.other_owner(&run)) {
                (None, Some(owner)) => {
                    assert_eq!(owner, "a");
                    owned_by_a += 1;
                }
                (Some(owner), None) => assert_eq!(owner, "b"),
                other => panic!("both or neither own {run}: {other:?}"),
            }
        }
        assert!((350..650).contains(&owned_by_a), "{owned_by_a} of 1000");
    }

    #[test]
    fn alone_or_unknown_means_deciding_here() {
        let a = Ownership::new("a".into());
        assert_eq!(a.other_owner("r"), None, "no member list yet");
        a.set_live(vec!["a".into()]);
        assert_eq!(a.other_owner("r"), None);
    }

    #[test]
    fn a_leaving_member_moves_only_its_own_runs() {
        let before = Ownership::new("x".into());
        before.set_live(vec!["a".into(), "b".into(), "c".into()]);
        let after = Ownership::new("x".into());
        after.set_live(vec!["a".into(), "b".into()]);
        for i in 0..500 {
            let run = format!("run-{i}");
            let (was, is) = (before.other_owner(&run), after.other_owner(&run));
            if was.as_deref() != Some("c") {
                assert_eq!(was, is, "{run} moved though its owner stayed");
            }
        }
    }
}
