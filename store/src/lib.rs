//! `junction-store`: persistence in Postgres (tokio-postgres + deadpool). **Architecture
//! Invariant:** this is the only crate that knows SQL. Callers speak in rows
//! and domain types; driver errors are mapped to [`Error`] here.

mod agents;
pub mod approvals;
mod attempts;
mod circuits;
mod definitions;
mod lost_tasks;
mod members;
mod metrics;
pub mod migrate;
mod outbox;
mod raw_json;
mod reads;
mod recorded;
mod rows;
mod runs;
mod schedules;
mod timers;

pub use agents::AgentRecord;
pub use approvals::{ApprovalRecord, NewApproval};
pub use attempts::{
    AttemptCheck, AttemptOutcome, ClaimOutcome, FinishOutcome, FinishRequest, Refusal,
};
pub use attempts::{RunIdentity, StepEventDraft};
pub use circuits::{CallOutcome, CircuitGate};
pub use definitions::{DefinitionRecord, DefinitionSummary, NewDefinition, PutOutcome};
pub use lost_tasks::UnclaimedAttempt;
pub use members::MemberRecord;
pub use raw_json::RawJson;
pub use rows::{
    NewAttempt, NewTimer, RunFilter, RunRecord, RunSummary, StepRecord, TransitionWrite,
};
pub use runs::{Committed, CreateOutcome, LockedRun, NewRun, PendingWrite, SlotCount, SlotKey};
pub use schedules::{Advance, DueSchedule, Listener, SCHEDULES_CHANNEL};
pub use timers::{DueTimer, FireOutcome};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use junction_core::wire::control::{ControlError, ErrorCode};
use std::str::FromStr;
use tokio_postgres::error::SqlState;

/// A persistence failure. Driver errors are classified once, here, by
/// SQLSTATE and error kind (never by their text): see
/// `From<tokio_postgres::Error>`. Control replies take their code from
/// [`Error::control_code`] (`From<Error> for ControlError`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be reached or dropped the connection: no pooled
    /// connection in time or connecting failed, the connection closed or
    /// broke, SQLSTATE class `08` (connection exception) or `57P01`–`57P03`
    /// (the server shuts down or is not accepting connections yet).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Unreachable),
    /// A serialization failure or deadlock (SQLSTATE class `40`): the same
    /// transaction may succeed if tried again.
    #[error("database: {}", Cause(.0))]
    Transient(#[source] tokio_postgres::Error),
    /// A unique constraint refused the row (`23505`).
    #[error("database: {}", Cause(.0))]
    AlreadyExists(#[source] tokio_postgres::Error),
    /// Any other database error.
    #[error("database: {}", Cause(.0))]
    Db(#[source] tokio_postgres::Error),
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("migration {name}: {message}")]
    Migration { name: String, message: String },
    /// A write that lost a race it may win when tried again (a run that
    /// moved under its lock), or a committer that stopped: transient.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// Why the database is unavailable.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    /// No connection from the pool (timed out, or a new one failed).
    #[error(transparent)]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The connection in use closed or broke.
    #[error("{}", Cause(.0))]
    Connection(#[source] tokio_postgres::Error),
}

/// A driver error told with the server's own report: `tokio_postgres`
/// shows a server error as just `db error`, so its severity, SQLSTATE,
/// message and detail are written out here; any other error shows its
/// chain of causes.
struct Cause<'a>(&'a tokio_postgres::Error);

impl std::fmt::Display for Cause<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(db) = self.0.as_db_error() else {
            write!(f, "{}", self.0)?;
            let mut source = std::error::Error::source(self.0);
            while let Some(cause) = source {
                let text = cause.to_string();
                // tokio_postgres often repeats its cause in its own text.
                if !self.0.to_string().contains(&text) {
                    write!(f, ": {text}")?;
                }
                source = cause.source();
            }
            return Ok(());
        };
        write!(
            f,
            "{} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        )?;
        if let Some(detail) = db.detail() {
            // A detail may quote a whole row: its start is enough.
            const MAX: usize = 300;
            match detail.char_indices().nth(MAX) {
                Some((cut, _)) => write!(f, " ({}…)", &detail[..cut])?,
                None => write!(f, " ({detail})")?,
            }
        }
        if let Some(constraint) = db.constraint() {
            write!(f, " [constraint {constraint}]")?;
        }
        Ok(())
    }
}

/// SQLSTATEs of a server that shuts down or is not accepting connections yet.
const SERVER_GOING_AWAY: [&SqlState; 3] = [
    &SqlState::ADMIN_SHUTDOWN,
    &SqlState::CRASH_SHUTDOWN,
    &SqlState::CANNOT_CONNECT_NOW,
];

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => Self::AlreadyExists(error),
            Some(code) if code.code().starts_with("08") || SERVER_GOING_AWAY.contains(&code) => {
                Self::Unavailable(Unreachable::Connection(error))
            }
            Some(code) if code.code().starts_with("40") => Self::Transient(error),
            Some(_) => Self::Db(error),
            // No SQLSTATE: the connection closed, or its socket failed.
            None if error.is_closed() || io_failure(&error) => {
                Self::Unavailable(Unreachable::Connection(error))
            }
            None => Self::Db(error),
        }
    }
}

/// Whether the driver error comes from the connection's socket.
fn io_failure(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(Unreachable::Pool(error))
    }
}

impl Error {
    /// Whether retrying the operation could succeed: the one place a
    /// failure is classified transient or permanent (ARCHITECTURE.md,
    /// "Transient and permanent failures"). Transient: the database was
    /// away (no pooled connection in time, connecting failed, the
    /// connection broke, the server shuts down or starts) or a
    /// serialization failure or deadlock (class `40`), or a lost race
    /// ([`Error::Conflict`]). Everything else is
    /// permanent: data the database refuses (`22P05`/`22021` untranslatable
    /// character, invalid JSON, a check or unique violation), a corrupt row,
    /// a bad URL, a failed migration: the same operation fails the same way
    /// again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::Transient(_) | Self::Conflict(_)
        )
    }

    /// The control error code of this failure (PROTOCOL §4): `UNAVAILABLE`
    /// for a transient one (the database is away, a serialization failure
    /// or deadlock: try again later), `CONFLICT` for a row that already
    /// exists, `INTERNAL` otherwise. `UNAVAILABLE` exactly when
    /// [`Error::is_transient`].
    pub fn control_code(&self) -> ErrorCode {
        match self {
            Self::Unavailable(_) | Self::Transient(_) | Self::Conflict(_) => ErrorCode::Unavailable,
            Self::AlreadyExists(_) => ErrorCode::Conflict,
            Self::Db(_) | Self::Url(_) | Self::Corrupt(_) | Self::Migration { .. } => {
                ErrorCode::Internal
            }
        }
    }
}

/// A store failure as a control reply: [`Error::control_code`] and the
/// error's text.
impl From<Error> for ControlError {
    fn from(error: Error) -> Self {
        ControlError::new(error.control_code(), error.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The connection pool and every query Junction runs.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// Where the pool connects, for connections of their own (`LISTEN`).
    config: std::sync::Arc<tokio_postgres::Config>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl Store {
    /// A pool of up to `size` connections to `url`. Connects lazily.
    pub fn new(url: &str, size: usize) -> Result<Self> {
        let pg = tokio_postgres::Config::from_str(url).map_err(|e| Error::Url(e.to_string()))?;
        let config = std::sync::Arc::new(pg.clone());
        let manager = Manager::from_config(
            pg,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .build()
            .map_err(|e| Error::Url(e.to_string()))?;
        Ok(Self { pool, config })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }
}
