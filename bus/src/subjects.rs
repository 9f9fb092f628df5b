//! Every subject, stream, consumer and bucket name of PROTOCOL §1, derived from
//! the configured prefix. Nothing else in the codebase spells a subject.

/// Names for one prefix (`JUNCTION_NATS__PREFIX`). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    /// `"<p>."` or empty.
    subject_prefix: String,
    /// `"<P>_"` or empty.
    asset_prefix: String,
}

/// Error for a prefix that does not match `[a-z][a-z0-9]{0,31}`.
#[derive(Debug, thiserror::Error)]
#[error("invalid NATS prefix {0:?}: it must match [a-z][a-z0-9]{{0,31}} or be empty")]
pub struct InvalidPrefix(pub String);

impl Subjects {
    /// Builds the names for `prefix`, validating it.
    pub fn new(prefix: &str) -> Result<Self, InvalidPrefix> {
        if !is_valid_prefix(prefix) {
            return Err(InvalidPrefix(prefix.to_owned()));
        }
        Ok(if prefix.is_empty() {
            Self {
                subject_prefix: String::new(),
                asset_prefix: String::new(),
            }
        } else {
            Self {
                subject_prefix: format!("{prefix}."),
                asset_prefix: format!("{}_", prefix.to_ascii_uppercase()),
            }
        })
    }

    fn subject(&self, rest: &str) -> String {
        format!("{}{rest}", self.subject_prefix)
    }

    fn asset(&self, name: &str) -> String {
        format!("{}{name}", self.asset_prefix)
    }

    /// The prefix as configured (`""` when unset).
    pub fn prefix(&self) -> &str {
        self.subject_prefix.trim_end_matches('.')
    }

    // ----- streams and consumers -----
    pub fn signals_stream(&self) -> String {
        self.asset("WORKFLOW_SIGNALS")
    }
    pub fn tasks_stream(&self) -> String {
        self.asset("WORKFLOW_TASKS")
    }
    pub fn events_stream(&self) -> String {
        self.asset("WORKFLOW_EVENTS")
    }
    pub fn signal_intake_consumer(&self) -> String {
        self.asset("SIGNAL_INTAKE")
    }
    pub fn workers_consumer(&self) -> String {
        self.asset("WORKERS")
    }
    pub fn event_intake_consumer(&self) -> String {
        self.asset("EVENT_INTAKE")
    }

    // ----- signals -----
    /// `signals.>`: what `WORKFLOW_SIGNALS` captures.
    pub fn signals_wildcard(&self) -> String {
        self.subject("signals.>")
    }
    /// `signals.<type>`.
    pub fn signal(&self, signal_type: &str) -> String {
        self.subject(&format!("signals.{signal_type}"))
    }
    /// The signal type of a subject captured by `signals.>`, if it is one.
    pub fn signal_type_of<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject
            .strip_prefix(self.subject_prefix.as_str())?
            .strip_prefix("signals.")
            .filter(|t| !t.is_empty())
    }

    // ----- tasks -----
    pub fn tasks_wildcard(&self) -> String {
        self.subject("wf.task.>")
    }
    /// `wf.task.step.<run>.<step>`: an `agent.run` task (the public subject).
    pub fn step_task(&self, run_id: &str, step_id: &str) -> String {
        self.subject(&format!("wf.task.step.{run_id}.{step_id}"))
    }
    /// Where a task of `executor` goes: `wf.task.step.<run>.<step>` for
    /// `agent.run`, `wf.task.<executor token>.<run>.<step>` otherwise
    /// (`wf.task.http_request.…`).
    pub fn executor_task(&self, executor: &str, run_id: &str, step_id: &str) -> String {
        let token = executor_token(executor);
        self.subject(&format!("wf.task.{token}.{run_id}.{step_id}"))
    }
    /// `wf.task.<executor token>.>`: the filter of `executor`'s consumer.
    pub fn executor_tasks(&self, executor: &str) -> String {
        self.subject(&format!("wf.task.{}.>", executor_token(executor)))
    }
    /// The durable consumer of `executor`'s tasks: `WORKERS` for
    /// `agent.run`, `WORKERS_<EXECUTOR TOKEN>` otherwise (`WORKERS_HTTP_REQUEST`).
    pub fn executor_consumer(&self, executor: &str) -> String {
        match executor_token(executor).as_str() {
            "step" => self.workers_consumer(),
            token => self.asset(&format!("WORKERS_{}", token.to_ascii_uppercase())),
        }
    }

    // ----- events -----
    pub fn events_wildcard(&self) -> String {
        self.subject("wf.event.>")
    }
    /// `wf.event.step.>`: step events, the ones that advance runs.
    pub fn step_events_wildcard(&self) -> String {
        self.subject("wf.event.step.>")
    }
    /// `wf.event.step.<run>.<step>` or `wf.event.run.<run>`.
    pub fn event(&self, run_id: &str, step_id: Option<&str>) -> String {
        match step_id {
            Some(step) => self.subject(&format!("wf.event.step.{run_id}.{step}")),
            None => self.subject(&format!("wf.event.run.{run_id}")),
        }
    }
    /// Every event of one run, steps included (for live subscribers).
    pub fn run_events(&self, run_id: &str) -> [String; 2] {
        [
            self.subject(&format!("wf.event.run.{run_id}")),
            self.subject(&format!("wf.event.step.{run_id}.*")),
        ]
    }

    // ----- coordinator routing (internal, outside every stream) -----
    /// `wf.route.<member token>`: step events forwarded to the coordinator
    /// that owns their run. The token is a hash of the member id, so any id
    /// (a hostname with dots included) makes a valid subject.
    pub fn coordinator_inbox(&self, member_id: &str) -> String {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        member_id.hash(&mut hasher);
        self.subject(&format!("wf.route.{:016x}", hasher.finish()))
    }

    // ----- control plane -----
    /// `wf.ctl.>`: every control subject.
    pub fn control_wildcard(&self) -> String {
        self.subject("wf.ctl.>")
    }
    /// `wf.ctl.<rest>` with `rest` as given. Callers name control subjects
    /// with [`Subjects::control_subject`]; this raw form is for tests that
    /// send a subject no verb names.
    pub fn control(&self, rest: &str) -> String {
        self.subject(&format!("wf.ctl.{rest}"))
    }
    /// The part after `wf.ctl.` of a control subject.
    pub fn control_suffix<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject
            .strip_prefix(self.subject_prefix.as_str())?
            .strip_prefix("wf.ctl.")
    }

    // ----- agents -----
    /// `agents.<name>.run`.
    pub fn agent_run(&self, agent: &str) -> String {
        self.subject(&format!("agents.{agent}.run"))
    }
    /// `agents.<name>.cancel`.
    pub fn agent_cancel(&self, agent: &str) -> String {
        self.subject(&format!("agents.{agent}.cancel"))
    }
    /// `agents.*.run`: every agent endpoint, for a process serving many agents.
    pub fn agent_run_wildcard(&self) -> String {
        self.subject("agents.*.run")
    }
    /// The agent name in an `agents.<name>.run` subject.
    pub fn agent_of<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject
            .strip_prefix(self.subject_prefix.as_str())?
            .strip_prefix("agents.")?
            .strip_suffix(".run")
    }
}

/// An executor's token in task subjects: `step` for `agent.run` (the public
/// `wf.task.step.…`), otherwise its name with `.` written `_`
/// (`http.request` → `http_request`). Executor names are fixed lower-case
/// words (`junction_core::wire::task::EXECUTORS`), so a token is one
/// subject token.
pub fn executor_token(executor: &str) -> String {
    if executor == "agent.run" {
        return "step".to_owned();
    }
    executor.replace('.', "_")
}

/// `[a-z][a-z0-9]{0,31}` or empty.
pub fn is_valid_prefix(prefix: &str) -> bool {
    let bytes = prefix.as_bytes();
    match bytes.split_first() {
        None => true,
        Some((first, rest)) => {
            first.is_ascii_lowercase()
                && rest.len() <= 31
                && rest
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_names_follow_protocol() {
        let s = Subjects::new("t1").expect("valid prefix");
        assert_eq!(s.tasks_stream(), "T1_WORKFLOW_TASKS");
        assert_eq!(s.signals_wildcard(), "t1.signals.>");
        assert_eq!(s.step_task("r", "s"), "t1.wf.task.step.r.s");
        assert_eq!(s.event("r", None), "t1.wf.event.run.r");
        assert_eq!(s.event("r", Some("s")), "t1.wf.event.step.r.s");
        assert_eq!(s.agent_run("echo"), "t1.agents.echo.run");
        assert_eq!(
            s.signal_type_of("t1.signals.order.created"),
            Some("order.created")
        );
        assert_eq!(s.signal_type_of("t2.signals.order"), None);
        assert_eq!(
            s.control_suffix("t1.wf.ctl.run.abc.get"),
            Some("run.abc.get")
        );
        assert_eq!(s.agent_of("t1.agents.echo.run"), Some("echo"));
    }

    #[test]
    fn each_executor_has_its_own_task_subjects_and_consumer() {
        let s = Subjects::new("t1").expect("valid prefix");
        assert_eq!(
            s.executor_task("agent.run", "r", "s"),
            s.step_task("r", "s")
        );
        assert_eq!(s.executor_consumer("agent.run"), "T1_WORKERS");
        assert_eq!(s.executor_tasks("agent.run"), "t1.wf.task.step.>");
        assert_eq!(
            s.executor_task("http.request", "r", "s"),
            "t1.wf.task.http_request.r.s"
        );
        assert_eq!(
            s.executor_tasks("starlark.eval"),
            "t1.wf.task.starlark_eval.>"
        );
        assert_eq!(s.executor_consumer("shell.run"), "T1_WORKERS_SHELL_RUN");
        assert_eq!(s.executor_consumer("llm"), "T1_WORKERS_LLM");
        let bare = Subjects::new("").expect("empty prefix is valid");
        assert_eq!(bare.executor_consumer("signal.emit"), "WORKERS_SIGNAL_EMIT");
    }

    #[test]
    fn empty_prefix_uses_bare_names() {
        let s = Subjects::new("").expect("empty prefix is valid");
        assert_eq!(s.tasks_stream(), "WORKFLOW_TASKS");
        assert_eq!(s.signal("a.b"), "signals.a.b");
        assert_eq!(s.prefix(), "");
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for bad in ["T1", "1a", "a.b", "a-b", &"a".repeat(33)] {
            assert!(Subjects::new(bad).is_err(), "{bad} should be refused");
        }
        assert!(Subjects::new(&"a".repeat(32)).is_ok());
    }
}
