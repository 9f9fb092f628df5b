//! The control plane's subjects (PROTOCOL §4), typed: every `wf.ctl.<…>`
//! subject is a [`ControlSubject`], rendered with [`Subjects::control_subject`]
//! and parsed with [`Subjects::parse_control`] (or [`ControlSubject::parse`]
//! for the part after `wf.ctl.`). This file is the only place that spells a
//! control verb.

use crate::Subjects;
use std::fmt;

/// What a control request does, without the id it may name: one per
/// control subject (PROTOCOL §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlVerb {
    WorkflowsPut,
    WorkflowsValidate,
    WorkflowsGet,
    WorkflowsList,
    WorkflowsDelete,
    AgentsPut,
    AgentsList,
    AgentsDelete,
    RunStart,
    RunsList,
    RunGet,
    RunEvents,
    RunCancel,
    RunPause,
    RunResume,
    RunRedrive,
    RunSignal,
    ApprovalsList,
    ApprovalApprove,
    ApprovalReject,
    ClusterMembers,
}

impl ControlVerb {
    /// Every verb, in the order PROTOCOL §4 and docs/http.md list them.
    pub const ALL: [ControlVerb; 21] = [
        Self::WorkflowsPut,
        Self::WorkflowsValidate,
        Self::WorkflowsGet,
        Self::WorkflowsList,
        Self::WorkflowsDelete,
        Self::AgentsPut,
        Self::AgentsList,
        Self::AgentsDelete,
        Self::RunStart,
        Self::RunsList,
        Self::RunGet,
        Self::RunEvents,
        Self::RunCancel,
        Self::RunPause,
        Self::RunResume,
        Self::RunRedrive,
        Self::RunSignal,
        Self::ApprovalsList,
        Self::ApprovalApprove,
        Self::ApprovalReject,
        Self::ClusterMembers,
    ];

    /// The subject after `wf.ctl.`, with `<id>` where the subject names a run
    /// or an approval: `run.<id>.cancel`. For documentation and logs.
    pub fn pattern(self) -> &'static str {
        match self {
            Self::WorkflowsPut => "workflows.put",
            Self::WorkflowsValidate => "workflows.validate",
            Self::WorkflowsGet => "workflows.get",
            Self::WorkflowsList => "workflows.list",
            Self::WorkflowsDelete => "workflows.delete",
            Self::AgentsPut => "agents.put",
            Self::AgentsList => "agents.list",
            Self::AgentsDelete => "agents.delete",
            Self::RunStart => "run.start",
            Self::RunsList => "runs.list",
            Self::RunGet => "run.<id>.get",
            Self::RunEvents => "run.<id>.events",
            Self::RunCancel => "run.<id>.cancel",
            Self::RunPause => "run.<id>.pause",
            Self::RunResume => "run.<id>.resume",
            Self::RunRedrive => "run.<id>.redrive",
            Self::RunSignal => "run.<id>.signal",
            Self::ApprovalsList => "approvals.list",
            Self::ApprovalApprove => "approval.<id>.approve",
            Self::ApprovalReject => "approval.<id>.reject",
            Self::ClusterMembers => "cluster.members",
        }
    }

    /// Whether the subject names a run or an approval by id.
    pub fn takes_id(self) -> bool {
        self.with_id(String::new()).is_some()
    }

    /// The subject of this verb without an id; `None` for one that takes an id.
    pub fn without_id(self) -> Option<ControlSubject> {
        Some(match self {
            Self::WorkflowsPut => ControlSubject::WorkflowsPut,
            Self::WorkflowsValidate => ControlSubject::WorkflowsValidate,
            Self::WorkflowsGet => ControlSubject::WorkflowsGet,
            Self::WorkflowsList => ControlSubject::WorkflowsList,
            Self::WorkflowsDelete => ControlSubject::WorkflowsDelete,
            Self::AgentsPut => ControlSubject::AgentsPut,
            Self::AgentsList => ControlSubject::AgentsList,
            Self::AgentsDelete => ControlSubject::AgentsDelete,
            Self::RunStart => ControlSubject::RunStart,
            Self::RunsList => ControlSubject::RunsList,
            Self::ApprovalsList => ControlSubject::ApprovalsList,
            Self::ClusterMembers => ControlSubject::ClusterMembers,
            _ => return None,
        })
    }

    /// The subject of this verb naming `id`; `None` for one that takes no id.
    pub fn with_id(self, id: String) -> Option<ControlSubject> {
        let action = match self {
            Self::RunGet => RunVerb::Get,
            Self::RunEvents => RunVerb::Events,
            Self::RunCancel => RunVerb::Cancel,
            Self::RunPause => RunVerb::Pause,
            Self::RunResume => RunVerb::Resume,
            Self::RunRedrive => RunVerb::Redrive,
            Self::RunSignal => RunVerb::Signal,
            Self::ApprovalApprove => return Some(ControlSubject::approval(id, Decision::Approve)),
            Self::ApprovalReject => return Some(ControlSubject::approval(id, Decision::Reject)),
            _ => return None,
        };
        Some(ControlSubject::Run { id, action })
    }
}

/// What a `run.<id>.<verb>` subject does to its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunVerb {
    Get,
    Events,
    Cancel,
    Pause,
    Resume,
    Redrive,
    Signal,
}

impl RunVerb {
    fn token(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Events => "events",
            Self::Cancel => "cancel",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Redrive => "redrive",
            Self::Signal => "signal",
        }
    }

    fn parse(token: &str) -> Option<Self> {
        [
            Self::Get,
            Self::Events,
            Self::Cancel,
            Self::Pause,
            Self::Resume,
            Self::Redrive,
            Self::Signal,
        ]
        .into_iter()
        .find(|v| v.token() == token)
    }
}

/// The decision of an `approval.<id>.approve|reject` subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    fn token(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

/// One control subject: `wf.ctl.<this>` (PROTOCOL §4). Ids are carried as
/// given: whether one is valid is for the handler to say, so a malformed id
/// gets the same answer over every surface.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ControlSubject {
    WorkflowsPut,
    WorkflowsValidate,
    WorkflowsGet,
    WorkflowsList,
    WorkflowsDelete,
    AgentsPut,
    AgentsList,
    AgentsDelete,
    RunStart,
    RunsList,
    /// `run.<id>.<action>`.
    Run {
        id: String,
        action: RunVerb,
    },
    ApprovalsList,
    /// `approval.<id>.<decision>`.
    Approval {
        id: String,
        decision: Decision,
    },
    ClusterMembers,
}

impl ControlSubject {
    /// `run.<id>.<action>`.
    pub fn run(id: impl Into<String>, action: RunVerb) -> Self {
        Self::Run {
            id: id.into(),
            action,
        }
    }

    /// `approval.<id>.<decision>`.
    pub fn approval(id: impl Into<String>, decision: Decision) -> Self {
        Self::Approval {
            id: id.into(),
            decision,
        }
    }

    /// What the subject does, without its id.
    pub fn verb(&self) -> ControlVerb {
        match self {
            Self::WorkflowsPut => ControlVerb::WorkflowsPut,
            Self::WorkflowsValidate => ControlVerb::WorkflowsValidate,
            Self::WorkflowsGet => ControlVerb::WorkflowsGet,
            Self::WorkflowsList => ControlVerb::WorkflowsList,
            Self::WorkflowsDelete => ControlVerb::WorkflowsDelete,
            Self::AgentsPut => ControlVerb::AgentsPut,
            Self::AgentsList => ControlVerb::AgentsList,
            Self::AgentsDelete => ControlVerb::AgentsDelete,
            Self::RunStart => ControlVerb::RunStart,
            Self::RunsList => ControlVerb::RunsList,
            Self::Run { action, .. } => match action {
                RunVerb::Get => ControlVerb::RunGet,
                RunVerb::Events => ControlVerb::RunEvents,
                RunVerb::Cancel => ControlVerb::RunCancel,
                RunVerb::Pause => ControlVerb::RunPause,
                RunVerb::Resume => ControlVerb::RunResume,
                RunVerb::Redrive => ControlVerb::RunRedrive,
                RunVerb::Signal => ControlVerb::RunSignal,
            },
            Self::ApprovalsList => ControlVerb::ApprovalsList,
            Self::Approval { decision, .. } => match decision {
                Decision::Approve => ControlVerb::ApprovalApprove,
                Decision::Reject => ControlVerb::ApprovalReject,
            },
            Self::ClusterMembers => ControlVerb::ClusterMembers,
        }
    }

    /// The run or approval id the subject names, if it names one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Run { id, .. } | Self::Approval { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Parses the part after `wf.ctl.`; `None` for a subject that is not a
    /// control verb (the coordinator answers those `NOT_FOUND`).
    pub fn parse(suffix: &str) -> Option<Self> {
        let parts: Vec<&str> = suffix.split('.').collect();
        match parts.as_slice() {
            ["run", id, verb] => RunVerb::parse(verb).map(|action| Self::run(*id, action)),
            ["approval", id, "approve"] => Some(Self::approval(*id, Decision::Approve)),
            ["approval", id, "reject"] => Some(Self::approval(*id, Decision::Reject)),
            _ => ControlVerb::ALL
                .into_iter()
                .filter(|verb| !verb.takes_id())
                .find(|verb| verb.pattern() == suffix)
                .and_then(ControlVerb::without_id),
        }
    }
}

/// The part after `wf.ctl.`: `workflows.put`, `run.<id>.cancel`.
impl fmt::Display for ControlSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Run { id, action } => write!(f, "run.{id}.{}", action.token()),
            Self::Approval { id, decision } => write!(f, "approval.{id}.{}", decision.token()),
            other => f.write_str(other.verb().pattern()),
        }
    }
}

impl Subjects {
    /// `wf.ctl.<subject>`.
    pub fn control_subject(&self, subject: &ControlSubject) -> String {
        self.control(&subject.to_string())
    }

    /// The control subject of a NATS subject: `Err` with the part after
    /// `wf.ctl.` (or the whole subject, outside `wf.ctl.`) when it names no
    /// control verb.
    pub fn parse_control<'a>(&self, subject: &'a str) -> Result<ControlSubject, &'a str> {
        let suffix = self.control_suffix(subject).ok_or(subject)?;
        ControlSubject::parse(suffix).ok_or(suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_renders_and_parses_back() {
        let s = Subjects::new("t1").expect("valid prefix");
        for verb in ControlVerb::ALL {
            let subject = match verb.without_id() {
                Some(subject) => subject,
                None => verb.with_id("abc-1".into()).expect("a verb with an id"),
            };
            assert_eq!(subject.verb(), verb);
            assert_eq!(subject.to_string(), verb.pattern().replace("<id>", "abc-1"));
            let rendered = s.control_subject(&subject);
            assert!(rendered.starts_with("t1.wf.ctl."), "{rendered}");
            assert_eq!(s.parse_control(&rendered), Ok(subject));
        }
    }

    #[test]
    fn ids_are_kept_as_given() {
        let subject = ControlSubject::parse("run.nope.cancel");
        assert_eq!(subject, Some(ControlSubject::run("nope", RunVerb::Cancel)));
        assert_eq!(
            subject.and_then(|s| s.id().map(str::to_owned)),
            Some("nope".into())
        );
        assert_eq!(
            ControlSubject::parse("approval..reject"),
            Some(ControlSubject::approval("", Decision::Reject))
        );
    }

    #[test]
    fn unknown_subjects_are_refused_with_their_suffix() {
        let s = Subjects::new("").expect("empty prefix");
        for unknown in [
            "wf.ctl.workflows.frobnicate",
            "wf.ctl.run.a.b.cancel",
            "wf.ctl.run.start.x",
            "wf.ctl.run.a.nope",
            "wf.ctl.approval.a.maybe",
            "wf.ctl.",
        ] {
            let suffix = unknown.trim_start_matches("wf.ctl.");
            assert_eq!(s.parse_control(unknown), Err(suffix), "{unknown}");
        }
        assert_eq!(s.parse_control("signals.x"), Err("signals.x"));
        assert!(!ControlVerb::RunsList.takes_id());
        assert!(ControlVerb::ApprovalReject.takes_id());
    }
}
