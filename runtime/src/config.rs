//! Configuration (PROTOCOL §7): built-in defaults, then an optional TOML file
//! (`--config` or `JUNCTION_CONFIG`), then `JUNCTION_*` variables with `__` for
//! nesting. Every key is documented in `docs/configuration.md`. A key of the
//! file or a `JUNCTION_*` variable that names no setting is an error naming
//! the closest valid key ([`crate::config_keys`]).

use figment::Figment;
use figment::Provider as _;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A configuration that could not be loaded or does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: {0}")]
    Unknown(crate::config_keys::UnknownKey),
}

/// Everything a Junction process can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub nats: NatsConfig,
    pub http: HttpConfig,
    pub worker: WorkerConfig,
    pub coordinator: CoordinatorConfig,
    pub auth: AuthConfig,
    pub fault: FaultConfig,
    pub shutdown: ShutdownConfig,
    pub limits: LimitsConfig,
    pub definitions: DefinitionsConfig,
    pub agents: AgentsConfig,
    pub executors: ExecutorsConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `postgres://` or `postgresql://` URL.
    pub url: String,
    /// Connections in each process's pool.
    pub pool_size: usize,
}

/// Where NATS is and how to log in. `Debug` hides the password and token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatsConfig {
    pub url: String,
    /// Namespace for subjects and streams (PROTOCOL §1); empty for none.
    pub prefix: String,
    /// `max_age` of `WORKFLOW_EVENTS`, in seconds (7 days by default).
    pub events_max_age_seconds: u64,
    /// Replicas of the three streams when a process creates them (1 to 5;
    /// 3 on a three-server cluster). Streams that exist are left as they are.
    pub stream_replicas: usize,
    /// User name, with `password` (one auth method at most; none: no auth).
    pub user: Option<String>,
    /// Never logged.
    pub password: Option<String>,
    /// A server token; never logged.
    pub token: Option<String>,
    /// A `.creds` file (user JWT and nkey seed).
    pub credentials_file: Option<PathBuf>,
    /// A file holding an nkey user seed (`SU…`).
    pub nkey_file: Option<PathBuf>,
    /// Prefix of this process's reply subjects (`<prefix>.<id>`), so a
    /// locked-down server can let each user read only its own replies.
    pub inbox_prefix: String,
}

impl NatsConfig {
    /// The credentials and inbox prefix to connect with.
    pub fn auth(&self) -> junction_bus::NatsAuth {
        junction_bus::NatsAuth {
            user: self.user.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            credentials_file: self.credentials_file.clone(),
            nkey_file: self.nkey_file.clone(),
            inbox_prefix: self.inbox_prefix.clone(),
        }
    }
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("events_max_age_seconds", &self.events_max_age_seconds)
            .field("stream_replicas", &self.stream_replicas)
            .field("auth", &self.auth())
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// The process's HTTP address; port 0 picks a free port. Unset: the
    /// coordinator listens on [`COORDINATOR_LISTEN`], a worker on
    /// [`WORKER_LISTEN`].
    pub listen: Option<String>,
}

/// The coordinator's HTTP address when `http.listen` is unset.
pub const COORDINATOR_LISTEN: &str = "127.0.0.1:8080";
/// A worker's HTTP address when `http.listen` is unset.
pub const WORKER_LISTEN: &str = "127.0.0.1:8081";

impl HttpConfig {
    /// Where the coordinator listens.
    pub fn coordinator_listen(&self) -> &str {
        self.listen.as_deref().unwrap_or(COORDINATOR_LISTEN)
    }

    /// Where a worker listens.
    pub fn worker_listen(&self) -> &str {
        self.listen.as_deref().unwrap_or(WORKER_LISTEN)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    /// Member id, recorded on each attempt; defaults to `<hostname>-<pid>`.
    pub id: Option<String>,
    /// Steps in flight per worker.
    pub concurrency: usize,
    /// Claim lease; a dead worker's step is taken over within 2× this.
    pub lease_seconds: u64,
    /// The executors this worker runs, a comma list (see
    /// [`WorkerConfig::executor_list`]); it binds only their task consumers.
    pub executors: String,
}

impl WorkerConfig {
    /// The enabled executors, each once, in the order written. An empty
    /// list, or a name that is no executor, is an error naming the known ones.
    pub fn executor_list(&self) -> Result<Vec<&'static str>, String> {
        let known = junction_core::wire::task::EXECUTORS;
        let mut list = Vec::new();
        for name in self
            .executors
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let Some(executor) = known.iter().find(|k| **k == name) else {
                return Err(format!(
                    "worker.executors: unknown executor {name:?} (known: {})",
                    known.join(", ")
                ));
            };
            if !list.contains(executor) {
                list.push(*executor);
            }
        }
        if list.is_empty() {
            return Err(format!(
                "worker.executors lists no executor (known: {})",
                known.join(", ")
            ));
        }
        Ok(list)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CoordinatorConfig {
    /// Member id; defaults to `<hostname>-<pid>`.
    pub id: Option<String>,
    /// Events and signals processed at once.
    pub concurrency: usize,
    /// How long an outbox row may stay unpublished before the relay re-sends it.
    pub relay_grace_ms: u64,
    /// How often the relay looks for such rows.
    pub relay_interval_ms: u64,
    /// A worker task still unclaimed this long after its dispatch, while its
    /// executor's queue has handed out everything, is published again
    /// (ARCHITECTURE.md, "Lost tasks"); 0 turns the sweep off.
    pub lost_task_seconds: u64,
    /// The web UI's link to a run's trace, `{trace_id}` replaced (a Grafana
    /// Explore or Jaeger URL); unset, the UI shows the trace id alone.
    pub trace_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Identities file (PROTOCOL §6); unset means auth is off.
    pub tokens_file: Option<PathBuf>,
    /// How often the coordinator looks for a changed tokens file; 0: only
    /// on SIGHUP.
    pub reload_interval_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            tokens_file: None,
            reload_interval_seconds: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Crash on purpose at this named point (exit 86); inert when unset.
    pub point: Option<String>,
    /// Survive this many passes through the point first.
    pub skip: u32,
}

impl FaultConfig {
    pub fn faults(&self) -> crate::fault::Faults {
        crate::fault::Faults::with_skip(self.point.clone(), self.skip)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShutdownConfig {
    /// Bound on the drain after SIGTERM.
    pub drain_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Largest step input or output, in bytes.
    pub payload_bytes: usize,
    /// Largest signal, in bytes (PROTOCOL §2: 256 KiB).
    pub signal_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DefinitionsConfig {
    /// Directory of `*.workflow.yaml|yml|json|star` files stored at
    /// coordinator start, then watched.
    pub dir: Option<PathBuf>,
    /// How often the coordinator looks for changed files in `definitions.dir`
    /// and `agents.dir`, in seconds; 0 reads them at startup only.
    pub watch_interval_seconds: u64,
}

impl Default for DefinitionsConfig {
    fn default() -> Self {
        Self {
            dir: None,
            watch_interval_seconds: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentsConfig {
    /// Directory of `*.agent.yaml|yml|json` files stored at coordinator
    /// start, then watched (`definitions.watch_interval_seconds`).
    pub dir: Option<PathBuf>,
}

/// Settings of the built-in executors (docs/protocol.md, "Executors").
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutorsConfig {
    pub http: HttpExecutorConfig,
    pub llm: LlmExecutorConfig,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpExecutorConfig {
    /// Comma list of hosts (`api.example.com`) or `*.domain` that
    /// `http.request` may call; empty: any but link-local and metadata ones.
    pub allow_hosts: String,
}

/// The `llm` executor's endpoint. `Debug` hides the key.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmExecutorConfig {
    /// OpenAI-compatible base URL (`https://host/v1`); unset: `llm` fails.
    pub base_url: Option<String>,
    /// Sent as `Authorization: Bearer`; never logged.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for LlmExecutorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmExecutorConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "postgres://postgres@127.0.0.1:5432/junction".into(),
            pool_size: 16,
        }
    }
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            prefix: String::new(),
            events_max_age_seconds: 7 * 24 * 3600,
            stream_replicas: 1,
            user: None,
            password: None,
            token: None,
            credentials_file: None,
            nkey_file: None,
            inbox_prefix: junction_bus::DEFAULT_INBOX_PREFIX.into(),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: None,
            concurrency: 16,
            lease_seconds: 10,
            executors: junction_core::wire::task::DEFAULT_EXECUTORS.join(","),
        }
    }
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            id: None,
            concurrency: 64,
            relay_grace_ms: 2_000,
            relay_interval_ms: 5_000,
            lost_task_seconds: 30,
            trace_url: None,
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self { drain_seconds: 30 }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            payload_bytes: 1024 * 1024 - 16 * 1024,
            signal_bytes: 256 * 1024,
        }
    }
}

impl Config {
    /// Loads defaults, then `file` (or `JUNCTION_CONFIG`) if given, then the
    /// environment. An unknown key in the file or an unknown `JUNCTION_*`
    /// variable is an error ([`Error::Unknown`]).
    pub fn load(file: Option<&Path>) -> Result<Self, Error> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("JUNCTION_CONFIG").map(PathBuf::from));
        if let Some(file) = &file
            && let Ok(profiles) = Toml::file_exact(file).data()
        {
            for dict in profiles.values() {
                let keys = crate::config_keys::file_keys(dict);
                crate::config_keys::check_file_keys(&keys, &file.display().to_string())
                    .map_err(Error::Unknown)?;
            }
        }
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect();
        crate::config_keys::check_env_names(names.iter().map(String::as_str))
            .map_err(Error::Unknown)?;
        Self::figment(file.as_deref())
            .extract::<Config>()
            .map_err(|e| Error::Load(Box::new(e)))?
            .validated()
    }

    /// The layered sources, for callers that want to add their own.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment.merge(
            Env::prefixed("JUNCTION_")
                .split("__")
                .ignore(&["config", "log"]),
        )
    }

    fn validated(self) -> Result<Self, Error> {
        if !(self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return Err(Error::Invalid(format!(
                "database.url must be a postgres:// URL, got {:?}",
                self.database.url
            )));
        }
        // A bad address is configuration (exit 2); an unreachable one is
        // retried at start (`crate::startup`).
        if let Some(bad) = self
            .nats
            .url
            .split(',')
            .find(|url| url.trim().parse::<async_nats::ServerAddr>().is_err())
        {
            return Err(Error::Invalid(format!(
                "nats.url must be a NATS server address (nats://host:port, comma-separated), got {bad:?}"
            )));
        }
        if !(1..=5).contains(&self.nats.stream_replicas) {
            return Err(Error::Invalid(format!(
                "nats.stream_replicas must be between 1 and 5, got {}",
                self.nats.stream_replicas
            )));
        }
        self.nats.auth().validate().map_err(Error::Invalid)?;
        if !junction_bus::subjects::is_valid_prefix(&self.nats.prefix) {
            return Err(Error::Invalid(format!(
                "nats.prefix {:?} must match [a-z][a-z0-9]{{0,31}} or be empty",
                self.nats.prefix
            )));
        }
        if self.worker.concurrency == 0
            || self.worker.lease_seconds == 0
            || self.coordinator.concurrency == 0
        {
            return Err(Error::Invalid("worker.concurrency, worker.lease_seconds and coordinator.concurrency must be positive".into()));
        }
        if let Some(url) = &self.executors.llm.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Error::Invalid(format!(
                "executors.llm.base_url must be an http:// or https:// URL, got {url:?}"
            )));
        }
        self.worker.executor_list().map_err(Error::Invalid)?;
        if self.database.pool_size == 0 {
            return Err(Error::Invalid("database.pool_size must be positive".into()));
        }
        Ok(self)
    }
}

/// `<hostname>-<pid>`: the default member id.
pub fn default_member_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment::Jail closures return figment::Error"
)]
mod tests;
