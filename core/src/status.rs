//! Run and step statuses (PROTOCOL §8.1). Enums in the code; strings only at the
//! persistence and wire edges, through [`RunStatus::as_str`] and `FromStr`.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// Error for a status string that names no status.
#[derive(Debug, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownStatus(other.to_owned())),
                }
            }
        }
    };
}

wire_enum!(
    /// A run's status (PROTOCOL §8.1).
    RunStatus {
        Pending => "PENDING",
        Running => "RUNNING",
        WaitingApproval => "WAITING_APPROVAL",
        WaitingSignal => "WAITING_SIGNAL",
        Paused => "PAUSED",
        Completed => "COMPLETED",
        Failed => "FAILED",
        Cancelled => "CANCELLED",
        TimedOut => "TIMED_OUT",
    }
);

wire_enum!(
    /// A step attempt's status (PROTOCOL §8.1).
    StepStatus {
        Pending => "PENDING",
        Running => "RUNNING",
        WaitingApproval => "WAITING_APPROVAL",
        WaitingSignal => "WAITING_SIGNAL",
        Succeeded => "SUCCEEDED",
        Failed => "FAILED",
        Cancelled => "CANCELLED",
        TimedOut => "TIMED_OUT",
    }
);

impl RunStatus {
    /// No transition leaves a terminal status, except a redrive (below).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::TimedOut
        )
    }

    /// The terminal statuses a redrive takes back to RUNNING (the only way
    /// out of one); a COMPLETED run stays completed.
    pub fn is_redrivable(self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled | Self::TimedOut)
    }
}

impl StepStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::TimedOut
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_wire_names() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().ok(), Some(*s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::Value::from(s.as_str()))
            );
        }
        for s in StepStatus::ALL {
            assert_eq!(s.as_str().parse::<StepStatus>().ok(), Some(*s));
        }
        assert!("running".parse::<RunStatus>().is_err());
    }
}
