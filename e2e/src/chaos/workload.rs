//! The chaos suite's workflows and what each run of them must end as: a
//! chain, a parallel, a foreach, transient failures retried with durable
//! backoff timers, a permanent failure, an approval the test decides, a
//! signal wait the test feeds, a wait that times out into its `catch` (a
//! durable timer), and a parent that runs a child (`workflow.run`).
//!
//! Every agent step retries what a fault can cause (`AGENT_UNAVAILABLE`
//! when a NATS node dies under the call, `STEP_TIMEOUT` when its reply is
//! lost) with a short timeout, as a workflow in production would: the
//! faults must not change any run's outcome.

/// The retry and timeout of every agent step (faults are transient).
const INFRA: &str = "timeoutSeconds: 5, retry: { maxAttempts: 8, backoffSeconds: 0.2, maxBackoffSeconds: 1, retryOn: [AGENT_UNAVAILABLE, STEP_TIMEOUT] }";

/// One workflow of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Chain,
    Parallel,
    Foreach,
    Retry,
    Doomed,
    Approval,
    Wait,
    Timer,
    Parent,
    /// Started only by [`Kind::Parent`].
    Child,
}

impl Kind {
    /// The workflows the test starts, with their weights in the mix.
    pub const STARTED: [(Kind, u64); 9] = [
        (Kind::Chain, 2),
        (Kind::Parallel, 2),
        (Kind::Foreach, 2),
        (Kind::Retry, 2),
        (Kind::Doomed, 1),
        (Kind::Approval, 2),
        (Kind::Wait, 2),
        (Kind::Timer, 1),
        (Kind::Parent, 2),
    ];

    pub const ALL: [Kind; 10] = [
        Kind::Chain,
        Kind::Parallel,
        Kind::Foreach,
        Kind::Retry,
        Kind::Doomed,
        Kind::Approval,
        Kind::Wait,
        Kind::Timer,
        Kind::Parent,
        Kind::Child,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Chain => "chain",
            Kind::Parallel => "parallel",
            Kind::Foreach => "foreach",
            Kind::Retry => "retry",
            Kind::Doomed => "doomed",
            Kind::Approval => "approval",
            Kind::Wait => "wait",
            Kind::Timer => "timer",
            Kind::Parent => "parent",
            Kind::Child => "child",
        }
    }

    /// The workflow id.
    pub fn workflow_id(self) -> String {
        format!("chaos-{}", self.name())
    }

    /// The signal type that starts it.
    pub fn signal_type(self) -> String {
        format!("chaos.{}", self.name())
    }

    pub fn from_workflow_id(id: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.workflow_id() == id)
    }

    /// The status every run must end in; for approvals, the test's decision
    /// decides (`approved`).
    pub fn expected_status(self, approved: Option<bool>) -> &'static str {
        match self {
            Kind::Doomed => "FAILED",
            Kind::Approval if approved == Some(false) => "FAILED",
            _ => "COMPLETED",
        }
    }

    /// The workflow's source.
    pub fn source(self) -> String {
        let head = match self {
            Kind::Child => format!("id: {}\nstates:\n", self.workflow_id()),
            _ => format!(
                "id: {}\ntrigger: {{ signal: {} }}\nstates:\n",
                self.workflow_id(),
                self.signal_type()
            ),
        };
        let body = match self {
            Kind::Chain => format!(
                "  - {{ name: a, type: agent, agent: echo, task: a, {INFRA}, resultPath: steps.a, next: b }}\n\
                 \x20 - {{ name: b, type: agent, agent: upper, task: b, {INFRA}, resultPath: steps.b, next: c }}\n\
                 \x20 - {{ name: c, type: agent, agent: sleep, input: {{ input: {{ ms: 150 }} }}, {INFRA}, resultPath: steps.c, next: d }}\n\
                 \x20 - {{ name: d, type: agent, agent: echo, task: d, {INFRA}, resultPath: steps.d, end: true }}\n"
            ),
            Kind::Parallel => format!(
                "  - name: fan\n    type: parallel\n    branches:\n\
                 \x20     - {{ name: x, agent: echo, task: x, {INFRA} }}\n\
                 \x20     - {{ name: y, agent: upper, task: y, {INFRA} }}\n\
                 \x20     - {{ name: z, agent: sleep, input: {{ ms: 100 }}, {INFRA} }}\n\
                 \x20   resultPath: steps.fan\n    next: done\n\
                 \x20 - {{ name: done, type: inject, data: {{ done: true }}, end: true }}\n"
            ),
            Kind::Foreach => format!(
                "  - {{ name: list, type: inject, data: {{ items: [p, q, r, s] }}, resultPath: ctx.list, next: each }}\n\
                 \x20 - {{ name: each, type: foreach, itemsPath: ctx.list.items, itemName: it, maxConcurrency: 2, agent: upper, agentTask: \"{{{{ it }}}}\", {INFRA}, resultPath: steps.each, end: true }}\n"
            ),
            Kind::Retry => format!(
                "  - {{ name: shaky, type: agent, agent: flaky, input: {{ input: {{ succeed_at: 3 }} }}, timeoutSeconds: 5, retry: {{ maxAttempts: 8, backoffSeconds: 1, multiplier: 1 }}, resultPath: steps.shaky, next: after }}\n\
                 \x20 - {{ name: after, type: agent, agent: echo, task: after, {INFRA}, end: true }}\n"
            ),
            Kind::Doomed => format!(
                "  - {{ name: first, type: agent, agent: echo, task: first, {INFRA}, next: boom }}\n\
                 \x20 - {{ name: boom, type: agent, agent: fail, input: {{ input: {{ code: DOOMED, retryable: false }} }}, {INFRA}, end: true }}\n"
            ),
            Kind::Approval => format!(
                "  - {{ name: before, type: agent, agent: echo, task: before, {INFRA}, next: ask }}\n\
                 \x20 - {{ name: ask, type: human_approval, message: \"go on?\", resultPath: steps.ask, next: after }}\n\
                 \x20 - {{ name: after, type: agent, agent: echo, task: after, {INFRA}, end: true }}\n"
            ),
            Kind::Wait => format!(
                "  - {{ name: before, type: agent, agent: echo, task: before, {INFRA}, next: wait }}\n\
                 \x20 - {{ name: wait, type: operation, action: signal.wait, input: {{ signal: chaos.feed, timeoutSeconds: 3600 }}, resultPath: steps.fed, next: after }}\n\
                 \x20 - {{ name: after, type: agent, agent: echo, task: after, {INFRA}, end: true }}\n"
            ),
            Kind::Timer => format!(
                "  - {{ name: nap, type: operation, action: signal.wait, input: {{ signal: chaos.never, timeoutSeconds: 2 }}, catch: [{{ next: woke }}], next: woke }}\n\
                 \x20 - {{ name: woke, type: agent, agent: echo, task: woke, {INFRA}, end: true }}\n"
            ),
            Kind::Parent => format!(
                "  - {{ name: before, type: agent, agent: echo, task: before, {INFRA}, next: spawn }}\n\
                 \x20 - {{ name: spawn, type: operation, action: workflow.run, input: {{ workflow: {child}, input: {{ from: parent }} }}, resultPath: steps.child, next: after }}\n\
                 \x20 - {{ name: after, type: agent, agent: echo, task: after, {INFRA}, end: true }}\n",
                child = Kind::Child.workflow_id()
            ),
            Kind::Child => format!(
                "  - {{ name: one, type: agent, agent: echo, task: one, {INFRA}, next: two }}\n\
                 \x20 - {{ name: two, type: agent, agent: upper, task: two, {INFRA}, end: true }}\n"
            ),
        };
        head + &body
    }
}
