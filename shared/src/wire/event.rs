//! Lifecycle events (PROTOCOL §3): their types and the JSON every subscriber sees.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::{fmt, str::FromStr};

/// Every event type of PROTOCOL §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "workflow.run.started")]
    RunStarted,
    #[serde(rename = "workflow.run.completed")]
    RunCompleted,
    #[serde(rename = "workflow.run.failed")]
    RunFailed,
    #[serde(rename = "workflow.run.timed_out")]
    RunTimedOut,
    #[serde(rename = "workflow.run.cancelled")]
    RunCancelled,
    #[serde(rename = "workflow.run.paused")]
    RunPaused,
    #[serde(rename = "workflow.run.resumed")]
    RunResumed,
    #[serde(rename = "workflow.run.waiting")]
    RunWaiting,
    #[serde(rename = "workflow.step.started")]
    StepStarted,
    #[serde(rename = "workflow.step.completed")]
    StepCompleted,
    #[serde(rename = "workflow.step.failed")]
    StepFailed,
    #[serde(rename = "workflow.step.timed_out")]
    StepTimedOut,
    #[serde(rename = "workflow.step.cancelled")]
    StepCancelled,
    #[serde(rename = "workflow.step.retrying")]
    StepRetrying,
    #[serde(rename = "workflow.step.warning")]
    StepWarning,
    #[serde(rename = "workflow.approval.requested")]
    ApprovalRequested,
    #[serde(rename = "workflow.approval.approved")]
    ApprovalApproved,
    #[serde(rename = "workflow.approval.rejected")]
    ApprovalRejected,
    #[serde(rename = "workflow.approval.timed_out")]
    ApprovalTimedOut,
    #[serde(rename = "workflow.signal.received")]
    SignalReceived,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunStarted => "workflow.run.started",
            Self::RunCompleted => "workflow.run.completed",
            Self::RunFailed => "workflow.run.failed",
            Self::RunTimedOut => "workflow.run.timed_out",
            Self::RunCancelled => "workflow.run.cancelled",
            Self::RunPaused => "workflow.run.paused",
            Self::RunResumed => "workflow.run.resumed",
            Self::RunWaiting => "workflow.run.waiting",
            Self::StepStarted => "workflow.step.started",
            Self::StepCompleted => "workflow.step.completed",
            Self::StepFailed => "workflow.step.failed",
            Self::StepTimedOut => "workflow.step.timed_out",
            Self::StepCancelled => "workflow.step.cancelled",
            Self::StepRetrying => "workflow.step.retrying",
            Self::StepWarning => "workflow.step.warning",
            Self::ApprovalRequested => "workflow.approval.requested",
            Self::ApprovalApproved => "workflow.approval.approved",
            Self::ApprovalRejected => "workflow.approval.rejected",
            Self::ApprovalTimedOut => "workflow.approval.timed_out",
            Self::SignalReceived => "workflow.signal.received",
        }
    }

    /// Whether a worker's step event of this type ends an attempt, so that
    /// the coordinator must advance the run.
    pub fn ends_attempt(self) -> bool {
        matches!(
            self,
            Self::StepCompleted | Self::StepFailed | Self::StepTimedOut | Self::StepCancelled
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = crate::status::UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(Value::String(s.to_owned()))
            .map_err(|_| crate::status::UnknownStatus(s.to_owned()))
    }
}

/// A stored lifecycle event, as published on `WORKFLOW_EVENTS`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub run_id: String,
    /// 1, 2, 3… per run, without gaps. `(run_id, seq)` is the identity.
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// RFC 3339 UTC with milliseconds.
    pub time: String,
    pub workflow_id: String,
    pub version: i32,
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl Event {
    /// `Nats-Msg-Id` of the event: `<run>:<seq>`.
    pub fn msg_id(&self) -> String {
        format!("{}:{}", self.run_id, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_use_protocol_names() {
        assert_eq!(
            "workflow.step.completed".parse::<EventType>().ok(),
            Some(EventType::StepCompleted)
        );
        assert_eq!(
            serde_json::to_value(EventType::RunTimedOut).ok(),
            Some(Value::from("workflow.run.timed_out"))
        );
        assert_eq!(
            EventType::ApprovalTimedOut.as_str(),
            "workflow.approval.timed_out"
        );
        assert!("workflow.nope".parse::<EventType>().is_err());
    }
}
