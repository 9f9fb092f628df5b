//! `junction-bus`: messaging over NATS JetStream. **Architecture Invariant:** only this crate
//! (through [`Subjects`]) knows subject, stream and consumer names; callers
//! publish outbox rows and consume the shared durable consumers.

mod auth;
pub mod consumers;
pub mod control;
pub mod messages;
mod publish;
pub mod redispatch;
mod streams;
pub mod subjects;

pub use auth::{DEFAULT_INBOX_PREFIX, NatsAuth};
pub use consumers::Role;
pub use control::{ControlSubject, ControlVerb, Decision, RunVerb};
pub use streams::{ConsumerSettings, INTAKE_ACK_WAIT, INTAKE_PROGRESS_EVERY};
pub use subjects::Subjects;

use async_nats::jetstream;

/// A messaging failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect { url: String, message: String },
    /// The server refused the credentials: retrying cannot help.
    #[error("NATS at {url} refused the credentials ({method}): {message}")]
    Refused {
        url: String,
        method: &'static str,
        message: String,
    },
    /// A credentials file that cannot be read or used.
    #[error("NATS credentials: {0}")]
    Credentials(String),
    #[error("JetStream setup of {asset}: {message}")]
    Setup { asset: String, message: String },
    #[error("JetStream {asset} does not answer: {message}")]
    Unavailable { asset: String, message: String },
    #[error(transparent)]
    Prefix(#[from] subjects::InvalidPrefix),
}

/// A NATS connection with its JetStream context and the names of one prefix.
#[derive(Debug, Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub subjects: Subjects,
    /// Moves the connection off a cluster server that does not know the
    /// streams yet (`publish.rs`); inert with one server.
    lagging: publish::LaggingServer,
}

/// The addresses of `url`: one, or several separated by commas.
fn server_addresses(url: &str) -> Result<Vec<async_nats::ServerAddr>, Error> {
    url.split(',')
        .map(|one| one.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Connect {
            url: url.to_owned(),
            message: e.to_string(),
        })
}

impl Error {
    /// Whether retrying cannot help: a bad prefix, refused credentials, an
    /// unusable credentials file.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::Prefix(_) | Error::Refused { .. } | Error::Credentials(_)
        )
    }
}

/// Connects to `url` (one address, or several separated by commas: the
/// servers of one NATS cluster, tried in turn at connect and reconnect) with
/// `auth`, naming the connection `name` for server monitoring. A refusal of the credentials is [`Error::Refused`]. Errors
/// the server reports later (a permissions violation) are logged as warnings
/// (this replaces any event callback of `options`).
pub async fn connect_client(
    url: &str,
    name: &str,
    auth: &NatsAuth,
    options: async_nats::ConnectOptions,
) -> Result<async_nats::Client, Error> {
    let options = options.name(name).event_callback(|event| async move {
        if let async_nats::Event::ServerError(error) = event {
            tracing::warn!(%error, "NATS server error");
        }
    });
    let addresses = server_addresses(url)?;
    auth.apply(options)?
        .connect(addresses)
        .await
        .map_err(|e| match e.kind() {
            async_nats::ConnectErrorKind::AuthorizationViolation
            | async_nats::ConnectErrorKind::Authentication => Error::Refused {
                url: url.to_owned(),
                method: auth.method(),
                message: e.to_string(),
            },
            _ => Error::Connect {
                url: url.to_owned(),
                message: e.to_string(),
            },
        })
}

impl Bus {
    /// Connects to `url` with `auth`, naming the connection `name` for
    /// server monitoring.
    pub async fn connect(
        url: &str,
        prefix: &str,
        name: &str,
        auth: &NatsAuth,
    ) -> Result<Self, Error> {
        let subjects = Subjects::new(prefix)?;
        let options =
            async_nats::ConnectOptions::new().connection_timeout(std::time::Duration::from_secs(5));
        let client = connect_client(url, name, auth, options).await?;
        let mut bus = Self::from_client(client, subjects);
        bus.lagging = publish::LaggingServer::new(server_addresses(url)?.len());
        Ok(bus)
    }

    pub fn from_client(client: async_nats::Client, subjects: Subjects) -> Self {
        let jetstream = jetstream::new(client.clone());
        Self {
            client,
            jetstream,
            subjects,
            lagging: publish::LaggingServer::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_separated_url_names_every_server_and_a_bad_one_is_refused() {
        let addresses = server_addresses("nats://127.0.0.1:4222, nats://127.0.0.1:4223")
            .expect("two addresses");
        assert_eq!(addresses.len(), 2);
        let error = server_addresses("nats://127.0.0.1:4222,nats://a b:1")
            .expect_err("the second address does not parse");
        assert!(matches!(error, Error::Connect { .. }), "{error}");
    }
}
