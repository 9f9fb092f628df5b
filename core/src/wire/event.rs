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
    #[serde(rename = "workflow.run.redriven")]
    RunRedriven,
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
    /// Every event type, in the order above.
    pub const ALL: &'static [EventType] = &[
        Self::RunStarted,
        Self::RunCompleted,
        Self::RunFailed,
        Self::RunTimedOut,
        Self::RunCancelled,
        Self::RunPaused,
        Self::RunResumed,
        Self::RunWaiting,
        Self::RunRedriven,
        Self::StepStarted,
        Self::StepCompleted,
        Self::StepFailed,
        Self::StepTimedOut,
        Self::StepCancelled,
        Self::StepRetrying,
        Self::StepWarning,
        Self::ApprovalRequested,
        Self::ApprovalApproved,
        Self::ApprovalRejected,
        Self::ApprovalTimedOut,
        Self::SignalReceived,
    ];

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
            Self::RunRedriven => "workflow.run.redriven",
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

    /// The event's JSON with `seq` replaced, without copying the event
    /// (a transition numbers its events only once they are committed).
    pub fn to_json_with_seq(&self, seq: i64) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&EventWithSeq { seq, event: self })
    }
}

/// [`Event`]'s wire shape, borrowed, with another `seq`.
struct EventWithSeq<'a> {
    seq: i64,
    event: &'a Event,
}

impl Serialize for EventWithSeq<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = self.event;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("run_id", &e.run_id)?;
        map.serialize_entry("seq", &self.seq)?;
        map.serialize_entry("type", &e.kind)?;
        map.serialize_entry("time", &e.time)?;
        map.serialize_entry("workflow_id", &e.workflow_id)?;
        map.serialize_entry("version", &e.version)?;
        map.serialize_entry("tenant", &e.tenant)?;
        if let Some(step_id) = &e.step_id {
            map.serialize_entry("step_id", step_id)?;
        }
        if let Some(state) = &e.state {
            map.serialize_entry("state", state)?;
        }
        if let Some(path) = &e.path {
            map.serialize_entry("path", path)?;
        }
        if let Some(attempt) = &e.attempt {
            map.serialize_entry("attempt", attempt)?;
        }
        if let Some(worker_id) = &e.worker_id {
            map.serialize_entry("worker_id", worker_id)?;
        }
        if let Some(data) = &e.data {
            map.serialize_entry("data", data)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_renumbered_on_the_wire_keeps_every_other_field() {
        let event = Event {
            run_id: "r".into(),
            seq: 2,
            kind: EventType::StepCompleted,
            time: "2026-12-04T00:00:00.000Z".into(),
            workflow_id: "w".into(),
            version: 3,
            tenant: "default".into(),
            step_id: Some("s".into()),
            state: Some("st".into()),
            path: None,
            attempt: Some(1),
            worker_id: None,
            data: Some(serde_json::json!({"output": 1})),
        };
        let bytes = event.to_json_with_seq(42).expect("serializes");
        let back: Event = serde_json::from_slice(&bytes).expect("parses");
        assert_eq!(back, Event { seq: 42, ..event });
    }

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
