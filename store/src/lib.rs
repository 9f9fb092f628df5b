//! `junction-store`: persistence in Postgres (tokio-postgres + deadpool). **Architecture
//! Invariant:** this is the only crate that knows SQL. Callers speak in rows
//! and domain types; driver errors are mapped to [`Error`] here.

mod agents;
pub mod approvals;
mod attempts;
mod definitions;
mod members;
pub mod migrate;
mod outbox;
mod raw_json;
mod reads;
mod rows;
mod runs;
mod timers;

pub use agents::AgentRecord;
pub use approvals::{ApprovalRecord, NewApproval};
pub use attempts::{
    AttemptCheck, AttemptOutcome, ClaimOutcome, FinishOutcome, FinishRequest, Refusal,
};
pub use attempts::{RunIdentity, StepEventDraft};
pub use definitions::{DefinitionRecord, NewDefinition, PutOutcome};
pub use members::MemberRecord;
pub use raw_json::RawJson;
pub use rows::{
    NewAttempt, NewTimer, RunFilter, RunRecord, RunSummary, StepRecord, TransitionWrite,
};
pub use runs::{Committed, CreateOutcome, LockedRun, NewRun, PendingWrite};
pub use timers::{DueTimer, FireOutcome};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::str::FromStr;

/// A persistence failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("migration {name}: {message}")]
    Migration { name: String, message: String },
    #[error("conflict: {0}")]
    Conflict(String),
}

impl Error {
    /// Whether retrying the operation could succeed (connection trouble, serialization).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Pool(_) => true,
            Error::Db(e) => {
                e.is_closed()
                    || e.code()
                        .is_some_and(|c| c.code().starts_with("40") || c.code().starts_with("08"))
            }
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The connection pool and every query Junction runs.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
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
        Ok(Self { pool })
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
