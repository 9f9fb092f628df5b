//! Identifiers: newtype ids, their validation (PROTOCOL §1), and the
//! deterministic step id of docs/protocol.md §8.6. Pure: randomness is passed in.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Namespace for step ids (uuid v5), fixed forever: changing it changes every id.
const STEP_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6a75_6e63_7469_6f6e_2d73_7465_7073_0001);

/// `[A-Za-z0-9_-]{1,64}`: run, step and approval ids.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `[a-z0-9][a-z0-9_-]{0,63}`: agent names.
pub fn is_valid_agent_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.split_first() {
        None => false,
        Some((first, rest)) => {
            (first.is_ascii_lowercase() || first.is_ascii_digit())
                && rest.len() <= 63
                && rest.iter().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-'
                })
        }
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id read from a trusted edge (database, own messages).
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A run's id: a UUID v7 in its hyphenated form, so ids sort by creation.
    RunId
);
id_type!(
    /// A step's id, derived by [`step_id`].
    StepId
);

impl RunId {
    /// A fresh id from caller-provided entropy and time (a v7 UUID).
    pub fn from_uuid(uuid: uuid::Uuid) -> Self {
        Self(uuid.hyphenated().to_string())
    }
}

/// Where a step sits: its state name, the branch path above it, the foreach
/// indexes and how often the state was entered before on the same path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLocation<'a> {
    pub state: &'a str,
    /// Enclosing branches and iterations, as in PROTOCOL §8.7 (`""` at top level).
    pub branch_path: &'a str,
    /// Earlier entries into the same state on the same path (loops); 0 the first time.
    pub visit: u32,
}

/// `hash(run_id, state_name, branch_path, foreach_index)` (docs/protocol.md §8.6), as the
/// 32 hex digits of a UUID v5. The foreach index is part of `branch_path`
/// (`check_all[3]`). A state entered again through a loop mixes in its visit
/// count, so each entry is a distinct step; the first visit hashes as the formula says.
pub fn step_id(run_id: &RunId, location: &StepLocation<'_>) -> StepId {
    let mut name = format!(
        "{}\u{1f}{}\u{1f}{}",
        run_id.as_str(),
        location.state,
        location.branch_path
    );
    if location.visit > 0 {
        name.push('\u{1f}');
        name.push_str(&location.visit.to_string());
    }
    StepId(
        uuid::Uuid::new_v5(&STEP_NAMESPACE, name.as_bytes())
            .simple()
            .to_string(),
    )
}

/// `<run>:<step>:<attempt>`: task `Nats-Msg-Id` and agent idempotency key.
pub fn idempotency_key(run_id: &str, step_id: &str, attempt: u32) -> String {
    format!("{run_id}:{step_id}:{attempt}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_ids_are_deterministic_and_distinct() {
        let run = RunId::new("r1");
        let at = |state, path, visit| {
            step_id(
                &run,
                &StepLocation {
                    state,
                    branch_path: path,
                    visit,
                },
            )
        };
        assert_eq!(at("a", "", 0), at("a", "", 0));
        assert_ne!(at("a", "", 0), at("b", "", 0));
        assert_ne!(at("a", "", 0), at("a", "p[1]", 0));
        assert_ne!(at("a", "", 0), at("a", "", 1));
        assert_ne!(
            at("a", "", 0),
            step_id(
                &RunId::new("r2"),
                &StepLocation {
                    state: "a",
                    branch_path: "",
                    visit: 0
                }
            )
        );
        assert!(is_valid_id(at("a", "", 0).as_str()));
    }

    #[test]
    fn id_rules() {
        assert!(is_valid_id("abc-DEF_1"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a.b"));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert!(is_valid_agent_name("echo"));
        assert!(is_valid_agent_name("0k-8_s"));
        assert!(!is_valid_agent_name("Echo"));
        assert!(!is_valid_agent_name("-x"));
        assert!(!is_valid_agent_name("a.b"));
    }
}
