//! Identities (PROTOCOL §6, §8.13): the tokens file named by
//! `JUNCTION_AUTH__TOKENS_FILE`. Without it auth is off: `actor` and
//! `tenant` come from the request as given. With it, every control request
//! (except `cluster.members`) and every `/v1` call must carry a known token
//! that has not expired (`expires_at`); the token decides the recorded actor
//! (its `identity`), the tenants it may act in, and the approvals it may
//! decide (its identity and `groups` against an approval's `approvers`).
//! The file is read at startup and again when it changes ([`reload`]).

mod reload;

pub use reload::watch;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use junction_core::wire::control::{ControlError, ErrorCode};
use junction_core::wire::signal::is_valid_tenant;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Who a token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub identity: String,
    pub groups: Vec<String>,
    pub tenants: Vec<String>,
}

impl Caller {
    /// `FORBIDDEN` unless the token lists `tenant`.
    pub fn check_tenant(&self, tenant: &str) -> Result<(), ControlError> {
        if self.tenants.iter().any(|t| t == tenant) {
            Ok(())
        } else {
            Err(ControlError::new(
                ErrorCode::Forbidden,
                format!("`{}` may not act in tenant `{tenant}`", self.identity),
            ))
        }
    }

    /// Whether this caller may decide an approval with these `approvers`
    /// (`user:<identity>` or `team:<group>`); no approvers means anyone
    /// allowed in the tenant may (§8.13).
    pub fn may_decide(&self, approvers: &Value) -> bool {
        let listed: Vec<&str> = match approvers {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            Value::String(one) => vec![one.as_str()],
            _ => Vec::new(),
        };
        listed.is_empty()
            || listed.iter().any(|entry| {
                if let Some(user) = entry.strip_prefix("user:") {
                    user == self.identity
                } else if let Some(team) = entry.strip_prefix("team:") {
                    self.groups.iter().any(|g| g == team)
                } else {
                    false
                }
            })
    }
}

#[derive(Deserialize)]
struct FileEntry {
    token: String,
    identity: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    tenants: Vec<String>,
    /// RFC 3339; from then on the token is `UNAUTHENTICATED`.
    #[serde(default)]
    expires_at: Option<String>,
}

#[derive(Deserialize)]
struct File {
    tokens: Vec<FileEntry>,
}

/// One token's caller and end.
#[derive(Debug, Clone)]
struct Entry {
    caller: Caller,
    expires_at: Option<DateTime<Utc>>,
}

/// The tokens of one version of the file.
#[derive(Debug, Default)]
struct TokenSet {
    by_token: HashMap<String, Entry>,
}

/// The tokens file as last read successfully; [`reload`] replaces its
/// contents while requests keep reading it.
#[derive(Debug, Default)]
pub struct Tokens {
    current: RwLock<Arc<TokenSet>>,
}

impl Tokens {
    /// Parses the file's JSON text; every entry needs a non-empty `token`
    /// and `identity`, valid tenant names, an RFC 3339 `expires_at` if
    /// any, and tokens must be unique.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(Self {
            current: RwLock::new(Arc::new(TokenSet::parse(text)?)),
        })
    }

    /// How many tokens are loaded (expired ones included).
    pub fn len(&self) -> usize {
        self.snapshot().by_token.len()
    }

    fn snapshot(&self) -> Arc<TokenSet> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the tokens with those of `text`; if `text` is not a valid
    /// file, the tokens stay as they were and the error is returned.
    pub fn replace(&self, text: &str) -> anyhow::Result<usize> {
        let next = Arc::new(TokenSet::parse(text)?);
        let count = next.by_token.len();
        match self.current.write() {
            Ok(mut current) => *current = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(count)
    }
}

impl TokenSet {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let file: File = serde_json::from_str(text).context(
            "expected {\"tokens\":[{\"token\",\"identity\",\"groups\":[…],\"tenants\":[…],\"expires_at\"?}]}",
        )?;
        let mut by_token = HashMap::new();
        for (i, entry) in file.tokens.into_iter().enumerate() {
            if entry.token.is_empty() {
                bail!("tokens[{i}].token is empty");
            }
            if entry.identity.is_empty() {
                bail!("tokens[{i}].identity is empty");
            }
            if let Some(bad) = entry.tenants.iter().find(|t| !is_valid_tenant(t)) {
                bail!("tokens[{i}].tenants: {bad:?} must match [A-Za-z0-9_.-]{{1,64}}");
            }
            let expires_at = entry
                .expires_at
                .map(|at| {
                    DateTime::parse_from_rfc3339(&at)
                        .map(|at| at.with_timezone(&Utc))
                        .with_context(|| {
                            format!("tokens[{i}].expires_at: {at:?} is not an RFC 3339 time")
                        })
                })
                .transpose()?;
            let caller = Caller {
                identity: entry.identity,
                groups: entry.groups,
                tenants: entry.tenants,
            };
            let entry_value = Entry { caller, expires_at };
            if by_token.insert(entry.token, entry_value).is_some() {
                bail!("tokens[{i}].token repeats an earlier token");
            }
        }
        Ok(Self { by_token })
    }
}

impl Tokens {
    /// Reads the tokens file at startup (`None`: auth is off). A missing or
    /// malformed file is an error (the coordinator exits 2).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Option<Self>> {
        let Some(path) = path else {
            tracing::warn!(
                "auth is off: no JUNCTION_AUTH__TOKENS_FILE; actors and tenants are taken from requests unauthenticated"
            );
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the tokens file {}", path.display()))?;
        let tokens = Self::parse(&text)
            .with_context(|| format!("malformed tokens file {}", path.display()))?;
        tracing::info!(file = %path.display(), tokens = tokens.len(), "auth is on");
        Ok(Some(tokens))
    }

    /// The caller of a request carrying `token`, else `UNAUTHENTICATED`
    /// (no token, an unknown one, or one past its `expires_at`).
    pub fn caller(&self, token: Option<&str>) -> Result<Caller, ControlError> {
        self.caller_at(token, Utc::now())
    }

    fn caller_at(&self, token: Option<&str>, now: DateTime<Utc>) -> Result<Caller, ControlError> {
        let token = token
            .ok_or_else(|| ControlError::new(ErrorCode::Unauthenticated, "a token is required"))?;
        let tokens = self.snapshot();
        let entry = tokens
            .by_token
            .get(token)
            .ok_or_else(|| ControlError::new(ErrorCode::Unauthenticated, "unknown token"))?;
        match entry.expires_at {
            Some(end) if end <= now => Err(ControlError::new(
                ErrorCode::Unauthenticated,
                format!("the token expired at {}", end.to_rfc3339()),
            )),
            _ => Ok(entry.caller.clone()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = r#"{"tokens":[
        {"token":"t-alice","identity":"alice","groups":["release"],"tenants":["default","acme"]},
        {"token":"t-bob","identity":"bob","tenants":["default"]}
    ]}"#;

    #[test]
    fn tokens_name_callers() {
        let tokens = Tokens::parse(FILE).unwrap();
        let alice = tokens.caller(Some("t-alice")).unwrap();
        assert_eq!(alice.identity, "alice");
        assert!(alice.check_tenant("acme").is_ok());
        let bob = tokens.caller(Some("t-bob")).unwrap();
        assert_eq!(
            bob.check_tenant("acme").map_err(|e| e.code).err(),
            Some(ErrorCode::Forbidden)
        );
        for missing in [None, Some("nope")] {
            assert_eq!(
                tokens.caller(missing).map_err(|e| e.code).err(),
                Some(ErrorCode::Unauthenticated)
            );
        }
    }

    #[test]
    fn approvers_match_identity_or_group() {
        let tokens = Tokens::parse(FILE).unwrap();
        let alice = tokens.caller(Some("t-alice")).unwrap();
        let bob = tokens.caller(Some("t-bob")).unwrap();
        let team = json!(["team:release"]);
        assert!(alice.may_decide(&team));
        assert!(!bob.may_decide(&team));
        assert!(bob.may_decide(&json!(["user:bob"])));
        assert!(bob.may_decide(&json!([])));
        assert!(bob.may_decide(&Value::Null));
        assert!(!alice.may_decide(&json!(["user:bob", "team:ops"])));
    }

    #[test]
    fn malformed_files_are_rejected() {
        for bad in [
            "",
            "{",
            "{}",
            r#"{"tokens":[{"identity":"a"}]}"#,
            r#"{"tokens":[{"token":"","identity":"a"}]}"#,
            r#"{"tokens":[{"token":"x","identity":"a","tenants":["bad tenant"]}]}"#,
            r#"{"tokens":[{"token":"x","identity":"a"},{"token":"x","identity":"b"}]}"#,
        ] {
            assert!(Tokens::parse(bad).is_err(), "{bad}");
        }
        assert!(Tokens::load(Some(Path::new("/nonexistent/tokens.json"))).is_err());
        let bad_time = r#"{"tokens":[{"token":"x","identity":"a","expires_at":"tomorrow"}]}"#;
        let error = Tokens::parse(bad_time).err().map(|e| format!("{e:#}"));
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("tokens[0].expires_at")),
            "{error:?}"
        );
    }

    #[test]
    fn a_token_ends_at_its_expiry() {
        let tokens = Tokens::parse(
            r#"{"tokens":[
                {"token":"t-carol","identity":"carol","expires_at":"2030-01-01T12:00:00+02:00"},
                {"token":"t-dave","identity":"dave"}
            ]}"#,
        )
        .unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let before = at("2030-01-01T09:59:59Z");
        let after = at("2030-01-01T10:00:00Z");
        assert_eq!(
            tokens.caller_at(Some("t-carol"), before).unwrap().identity,
            "carol"
        );
        let expired = tokens.caller_at(Some("t-carol"), after).err().unwrap();
        assert_eq!(expired.code, ErrorCode::Unauthenticated);
        assert!(expired.message.contains("expired"), "{}", expired.message);
        assert!(tokens.caller_at(Some("t-dave"), after).is_ok());
    }

    #[test]
    fn a_bad_replacement_keeps_the_tokens() {
        let tokens = Tokens::parse(FILE).unwrap();
        assert!(tokens.replace("{").is_err());
        assert!(tokens.caller(Some("t-alice")).is_ok());
        let next = r#"{"tokens":[{"token":"t-erin","identity":"erin"}]}"#;
        assert_eq!(tokens.replace(next).unwrap(), 1);
        assert!(tokens.caller(Some("t-alice")).is_err());
        assert_eq!(tokens.caller(Some("t-erin")).unwrap().identity, "erin");
    }
}
