//! The children of a fan-out: each one's status, and their compact form
//! in the snapshot (run-length encoded when every child is plain, so a
//! foreach of thousands of items costs a few bytes per write).

use crate::wire::ErrorInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where one child of a fan-out stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "child")]
pub enum Child {
    /// A foreach item not started yet.
    Waiting,
    Running,
    /// Ended; its value is in [`RunState::child_results`](super::RunState)
    /// (stored as its own row, not in the snapshot). `local` is set only in
    /// snapshots stored before that.
    Done {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<Value>,
    },
    Failed {
        error: ErrorInfo,
    },
    Cancelled,
}

impl Child {
    /// One letter per plain status, for the compact form.
    fn letter(&self) -> Option<char> {
        match self {
            Self::Waiting => Some('w'),
            Self::Running => Some('r'),
            Self::Done { local: None } => Some('d'),
            Self::Cancelled => Some('c'),
            Self::Done { local: Some(_) } | Self::Failed { .. } => None,
        }
    }

    fn of_letter(letter: char) -> Option<Self> {
        Some(match letter {
            'w' => Self::Waiting,
            'r' => Self::Running,
            'd' => Self::Done { local: None },
            'c' => Self::Cancelled,
            _ => return None,
        })
    }
}

/// The children of a fan-out in the snapshot: run-length encoded statuses
/// (`"12d3r185w"`: 12 done, 3 running, 185 waiting) when every child is
/// plain, so a foreach of thousands of items costs a few bytes per write;
/// otherwise the list.
pub(super) mod children_codec {
    use super::Child;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(children: &[Child], serializer: S) -> Result<S::Ok, S::Error> {
        let mut encoded = String::new();
        let mut letters = children.iter().map(Child::letter);
        let mut current: Option<(char, usize)> = None;
        for letter in letters.by_ref() {
            let Some(letter) = letter else {
                return children.serialize(serializer);
            };
            current = match current {
                Some((l, n)) if l == letter => Some((l, n + 1)),
                Some((l, n)) => {
                    encoded.push_str(&format!("{n}{l}"));
                    Some((letter, 1))
                }
                None => Some((letter, 1)),
            };
        }
        if let Some((l, n)) = current {
            encoded.push_str(&format!("{n}{l}"));
        }
        serializer.serialize_str(&encoded)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Child>, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(encoded) => decode(&encoded).ok_or_else(|| {
                serde::de::Error::custom(format!("bad children encoding {encoded:?}"))
            }),
            other => serde_json::from_value(other).map_err(serde::de::Error::custom),
        }
    }

    fn decode(encoded: &str) -> Option<Vec<Child>> {
        let mut children = Vec::new();
        let mut count = 0usize;
        for c in encoded.chars() {
            if let Some(digit) = c.to_digit(10) {
                count = count.checked_mul(10)?.checked_add(digit as usize)?;
                continue;
            }
            let child = Child::of_letter(c)?;
            if count == 0 || children.len() + count > 1_000_000 {
                return None;
            }
            children.extend(std::iter::repeat_n(child, count));
            count = 0;
        }
        (count == 0).then_some(children)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        #[serde(with = "children_codec")]
        children: Vec<Child>,
    }

    fn round_trip(children: Vec<Child>) -> (String, Vec<Child>) {
        let text = serde_json::to_string(&Holder { children }).expect("serializes");
        let back: Holder = serde_json::from_str(&text).expect("parses");
        (text, back.children)
    }

    #[test]
    fn plain_children_are_run_length_encoded() {
        let mut children = vec![Child::Done { local: None }; 12];
        children.extend(vec![Child::Running; 3]);
        children.extend(vec![Child::Waiting; 185]);
        children.push(Child::Cancelled);
        let (text, back) = round_trip(children.clone());
        assert_eq!(text, r#"{"children":"12d3r185w1c"}"#);
        assert_eq!(back, children);
    }

    #[test]
    fn children_with_data_and_old_snapshots_use_the_list() {
        let children = vec![
            Child::Running,
            Child::Failed {
                error: ErrorInfo::new("X", "boom"),
            },
            Child::Done {
                local: Some(json!({"a": 1})),
            },
        ];
        let (text, back) = round_trip(children.clone());
        assert!(text.contains(r#""children":["#), "{text}");
        assert_eq!(back, children);
        let old: Holder = serde_json::from_str(
            r#"{"children":[{"child":"done","local":{"x":1}},{"child":"waiting"}]}"#,
        )
        .expect("an old snapshot loads");
        assert_eq!(old.children[1], Child::Waiting);
    }

    #[test]
    fn bad_encodings_are_errors() {
        for bad in [
            r#"{"children":"3x"}"#,
            r#"{"children":"d"}"#,
            r#"{"children":"12"}"#,
        ] {
            assert!(serde_json::from_str::<Holder>(bad).is_err(), "{bad}");
        }
        let empty: Holder = serde_json::from_str(r#"{"children":""}"#).expect("empty");
        assert!(empty.children.is_empty());
    }
}
