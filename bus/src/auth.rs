//! How a process proves who it is to NATS (`nats.user` and `nats.password`,
//! `nats.token`, `nats.credentials_file` or `nats.nkey_file`) and the inbox
//! prefix its replies use (`nats.inbox_prefix`), so a server whose users
//! have per-role permissions (`deploy/nats/locked-down.conf`) can let each
//! user read only its own replies. Secrets are never logged: `Debug` hides
//! them, and errors name files, not their contents.

use super::Error;
use async_nats::ConnectOptions;
use std::path::PathBuf;

/// The inbox prefix NATS clients use unless told otherwise.
pub const DEFAULT_INBOX_PREFIX: &str = "_INBOX";

/// NATS credentials: at most one method (user and password, token, creds
/// file, nkey seed file), or none for a server without auth.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NatsAuth {
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    /// A `.creds` file (user JWT and nkey seed), as `nsc` writes them.
    pub credentials_file: Option<PathBuf>,
    /// A file holding an nkey user seed (`SU…`).
    pub nkey_file: Option<PathBuf>,
    /// Replies come to `<inbox_prefix>.<id>`; empty: `_INBOX`.
    pub inbox_prefix: String,
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("NatsAuth")
            .field("user", &self.user)
            .field("password", &hidden(&self.password))
            .field("token", &hidden(&self.token))
            .field("credentials_file", &self.credentials_file)
            .field("nkey_file", &self.nkey_file)
            .field("inbox_prefix", &self.inbox_prefix)
            .finish()
    }
}

impl NatsAuth {
    /// These settings overridden by the `JUNCTION_NATS__USER`, `__PASSWORD`,
    /// `__TOKEN`, `__CREDENTIALS_FILE`, `__NKEY_FILE` and `__INBOX_PREFIX`
    /// variables that `var` finds non-empty: how the CLI, the example
    /// agents and the load generator, which read no full configuration,
    /// take the processes' settings.
    pub fn with_env(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        if let Some(user) = get("JUNCTION_NATS__USER") {
            self.user = Some(user);
        }
        if let Some(password) = get("JUNCTION_NATS__PASSWORD") {
            self.password = Some(password);
        }
        if let Some(token) = get("JUNCTION_NATS__TOKEN") {
            self.token = Some(token);
        }
        if let Some(path) = get("JUNCTION_NATS__CREDENTIALS_FILE") {
            self.credentials_file = Some(path.into());
        }
        if let Some(path) = get("JUNCTION_NATS__NKEY_FILE") {
            self.nkey_file = Some(path.into());
        }
        if let Some(prefix) = get("JUNCTION_NATS__INBOX_PREFIX") {
            self.inbox_prefix = prefix;
        }
        self
    }

    /// [`NatsAuth::with_env`] over no settings, from the process environment.
    pub fn from_env() -> Self {
        Self::default().with_env(|name| std::env::var(name).ok())
    }

    /// Which method is set, for logs: `none`, `user`, `token`,
    /// `credentials_file` or `nkey_file`.
    pub fn method(&self) -> &'static str {
        if self.user.is_some() {
            "user"
        } else if self.token.is_some() {
            "token"
        } else if self.credentials_file.is_some() {
            "credentials_file"
        } else if self.nkey_file.is_some() {
            "nkey_file"
        } else {
            "none"
        }
    }

    /// Refuses settings that cannot be meant: two methods at once, a
    /// password without a user, an empty value, or an inbox prefix that
    /// is no plain subject.
    pub fn validate(&self) -> Result<(), String> {
        let empty = |s: &Option<String>| s.as_deref().is_some_and(str::is_empty);
        if empty(&self.user) || empty(&self.password) || empty(&self.token) {
            return Err(
                "nats.user, nats.password and nats.token must not be empty when set".into(),
            );
        }
        if self.password.is_some() && self.user.is_none() {
            return Err("nats.password needs nats.user".into());
        }
        if self.user.is_some() && self.password.is_none() {
            return Err("nats.user needs nats.password".into());
        }
        let methods = [
            self.user.is_some(),
            self.token.is_some(),
            self.credentials_file.is_some(),
            self.nkey_file.is_some(),
        ];
        if methods.iter().filter(|set| **set).count() > 1 {
            return Err("set one NATS auth method: nats.user and nats.password, nats.token, nats.credentials_file or nats.nkey_file".into());
        }
        let prefix = &self.inbox_prefix;
        if !prefix.is_empty()
            && (prefix.split('.').any(str::is_empty)
                || prefix
                    .chars()
                    .any(|c| c.is_whitespace() || c == '*' || c == '>'))
        {
            return Err(format!(
                "nats.inbox_prefix {prefix:?} must be dot-separated tokens without wildcards or spaces"
            ));
        }
        Ok(())
    }

    /// `options` with these credentials and inbox prefix. A file that
    /// cannot be read or parsed is [`Error::Credentials`].
    pub fn apply(&self, options: ConnectOptions) -> Result<ConnectOptions, Error> {
        let mut options = if self.inbox_prefix.is_empty() {
            options
        } else {
            options.custom_inbox_prefix(&self.inbox_prefix)
        };
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(path) = &self.credentials_file {
            let text = read(path)?;
            options = options
                .credentials(&text)
                .map_err(|e| credentials(path, &e.to_string()))?;
        }
        if let Some(path) = &self.nkey_file {
            let seed = read(path)?;
            let seed = seed.trim();
            if !seed.starts_with('S') {
                return Err(credentials(path, "it holds no nkey seed (S…)"));
            }
            options = options.nkey(seed.to_owned());
        }
        Ok(options)
    }
}

fn read(path: &std::path::Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| credentials(path, &e.to_string()))
}

fn credentials(path: &std::path::Path, why: &str) -> Error {
    Error::Credentials(format!("{}: {why}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> NatsAuth {
        NatsAuth {
            user: Some("worker".into()),
            password: Some("s3cret".into()),
            ..NatsAuth::default()
        }
    }

    #[test]
    fn one_method_at_a_time() {
        assert_eq!(NatsAuth::default().validate(), Ok(()));
        assert_eq!(user().validate(), Ok(()));
        let both = NatsAuth {
            token: Some("t".into()),
            ..user()
        };
        assert!(both.validate().is_err());
        let lonely = NatsAuth {
            password: Some("p".into()),
            ..NatsAuth::default()
        };
        assert!(lonely.validate().is_err());
        let no_password = NatsAuth {
            user: Some("u".into()),
            ..NatsAuth::default()
        };
        assert!(no_password.validate().is_err());
        let wild = NatsAuth {
            inbox_prefix: "_INBOX.>".into(),
            ..NatsAuth::default()
        };
        assert!(wild.validate().is_err());
        let role = NatsAuth {
            inbox_prefix: "_INBOX.worker".into(),
            ..user()
        };
        assert_eq!(role.validate(), Ok(()));
    }

    #[test]
    fn variables_override_settings() {
        let base = NatsAuth {
            inbox_prefix: "_INBOX.file".into(),
            ..user()
        };
        let auth = base.with_env(|name| match name {
            "JUNCTION_NATS__PASSWORD" => Some("from-env".into()),
            "JUNCTION_NATS__TOKEN" => Some(String::new()),
            _ => None,
        });
        assert_eq!(auth.password.as_deref(), Some("from-env"));
        assert_eq!(auth.user.as_deref(), Some("worker"));
        assert_eq!(auth.token, None);
        assert_eq!(auth.inbox_prefix, "_INBOX.file");
    }

    #[test]
    fn debug_hides_secrets() {
        let shown = format!(
            "{:?}",
            NatsAuth {
                token: Some("tok-123".into()),
                ..user()
            }
        );
        assert!(
            !shown.contains("s3cret") && !shown.contains("tok-123"),
            "{shown}"
        );
        assert!(shown.contains("worker"));
    }

    #[test]
    fn unreadable_files_name_the_file_only() {
        let missing = NatsAuth {
            nkey_file: Some("/nonexistent/seed.nk".into()),
            ..NatsAuth::default()
        };
        let error = missing
            .apply(ConnectOptions::new())
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("/nonexistent/seed.nk")),
            "{error:?}"
        );
    }
}
