//! Which agents a process serves: a map from agent name to [`Handler`].
//!
//! A handler gets the parsed [`AgentRequest`] and returns a [`Reply`]. Nearly
//! every handler answers with a well-formed [`AgentReply`]; [`Reply::Raw`] exists
//! so the `garbage` agent can send a body that is *not* one, which is how tests
//! reach the engine's `BAD_AGENT_REPLY` path. Keeping both in one return type
//! means one map and one reply path in the server, with no special case by name.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use junction_core::wire::agent::{AgentError, AgentReply, AgentRequest};
use serde_json::Value;

/// An agent: an async function from request to reply. Cheap to clone.
pub type Handler = Arc<dyn Fn(AgentRequest) -> BoxFuture<'static, Reply> + Send + Sync>;

/// What a [`Handler`] sends back on the request's reply subject.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A well-formed reply, sent as [`AgentReply::to_json`].
    Agent(AgentReply),
    /// These exact bytes, whatever they are. Only for testing malformed replies.
    Raw(Vec<u8>),
}

impl Reply {
    /// A success reply `{output}`.
    pub fn output(output: Value) -> Self {
        Reply::Agent(AgentReply::Output(output))
    }

    /// A failure reply `{error:{code, message}}`, with `retryable` left unset.
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Reply::Agent(AgentReply::Error(AgentError {
            code: code.into(),
            message: message.into(),
            retryable: None,
        }))
    }

    /// The reply body as sent on the wire.
    pub fn into_body(self) -> Vec<u8> {
        match self {
            Reply::Agent(reply) => reply.to_json().to_string().into_bytes(),
            Reply::Raw(bytes) => bytes,
        }
    }
}

impl From<AgentReply> for Reply {
    fn from(reply: AgentReply) -> Self {
        Reply::Agent(reply)
    }
}

/// An agent name asked for that the registry does not hold.
#[derive(Debug, thiserror::Error)]
#[error("unknown agent {0:?}")]
pub struct UnknownAgent(pub String);

/// Agent name → [`Handler`]. Cheap to clone; names iterate in sorted order.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: BTreeMap<String, Handler>,
}

impl Registry {
    /// A registry serving nothing, to build a custom one with [`Registry::with`].
    pub fn empty() -> Self {
        Self::default()
    }

    /// Every agent of [`crate::builtin`].
    pub fn builtin() -> Self {
        crate::builtin::register(Self::empty())
    }

    /// The built-in agents and those Station's example workflows call
    /// ([`crate::station`]).
    pub fn examples() -> Self {
        crate::station::register(Self::builtin())
    }

    /// Adds (or replaces) the agent `name`, served by the async function `agent`.
    ///
    /// `agent` may return an [`AgentReply`] or a [`Reply`]:
    /// `Registry::empty().with("twice", |req| async move { AgentReply::Output(req.input) })`.
    pub fn with<F, Fut, R>(self, name: impl Into<String>, agent: F) -> Self
    where
        F: Fn(AgentRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: Into<Reply> + 'static,
    {
        let handler: Handler = Arc::new(move |request| {
            let call = agent(request);
            async move { call.await.into() }.boxed()
        });
        self.with_handler(name, handler)
    }

    /// Adds (or replaces) the agent `name` with an already built [`Handler`].
    pub fn with_handler(mut self, name: impl Into<String>, handler: Handler) -> Self {
        self.handlers.insert(name.into(), handler);
        self
    }

    /// Keeps only the agents named in `names`; an unknown name is an error.
    pub fn only<S: AsRef<str>>(mut self, names: &[S]) -> Result<Self, UnknownAgent> {
        let mut kept = BTreeMap::new();
        for name in names.iter().map(AsRef::as_ref) {
            let handler = self
                .handlers
                .remove(name)
                .or_else(|| kept.get(name).cloned())
                .ok_or_else(|| UnknownAgent(name.to_owned()))?;
            kept.insert(name.to_owned(), handler);
        }
        Ok(Self { handlers: kept })
    }

    /// The served agent names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.handlers.keys().map(String::as_str).collect()
    }

    /// The handler of `name`, if served.
    pub fn get(&self, name: &str) -> Option<&Handler> {
        self.handlers.get(name)
    }

    /// How many agents are served.
    pub fn len(&self) -> usize {
        self.handlers.len()
    }

    /// Whether no agent is served.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("agents", &self.names())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keeps_the_named_agents() {
        let registry = Registry::builtin()
            .only(&["add", "echo", "add"])
            .expect("known agents");
        assert_eq!(registry.names(), ["add", "echo"]);
    }

    #[test]
    fn only_refuses_an_unknown_agent() {
        let err = Registry::builtin()
            .only(&["echo", "nope"])
            .expect_err("nope is unknown");
        assert_eq!(err.0, "nope");
    }

    #[test]
    fn with_accepts_agent_replies_and_replies() {
        let registry = Registry::empty()
            .with("a", |req| async move { AgentReply::Output(req.input) })
            .with("b", |_req| async move { Reply::Raw(b"x".to_vec()) });
        assert_eq!(registry.names(), ["a", "b"]);
    }
}
