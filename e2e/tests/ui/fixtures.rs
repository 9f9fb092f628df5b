//! The browser test's cluster fixtures: the tokens file (auth on, one
//! operator `alice`) and the workflows the pages are driven with.

pub(crate) const TOKENS: &str = r#"{"tokens":[
  {"token":"t-alice","identity":"alice","groups":["release"],"tenants":["default"]}
]}"#;

pub(crate) const HELLO: &str = r#"
id: hello
name: Say hello twice
trigger: { signal: hello.requested }
states:
  - name: greet
    type: operation
    action: agent.run
    input: { agent: echo, task: "hello {{ ctx.who }}" }
    resultPath: steps.greet
    next: again
  - name: again
    type: operation
    action: agent.run
    input: { agent: echo, task: "again" }
    resultPath: steps.again
    end: true
"#;

pub(crate) const GATED: &str = r#"
id: gated
states:
  - name: ask
    type: human_approval
    message: "Ship {{ ctx.version }}?"
    approvers: ["team:release"]
    next: done
  - { name: done, type: inject, data: { shipped: true }, end: true }
"#;

/// Branches and items: the graph draws containers.
pub(crate) const FANOUT: &str = r#"
id: fanout
states:
  - name: both
    type: parallel
    branches:
      - name: left
        states:
          - { name: fetch, type: agent, agent: echo, end: true }
      - name: right
        states:
          - { name: score, type: agent, agent: echo, next: label }
          - { name: label, type: inject, data: { labelled: true }, end: true }
    next: route
  - name: route
    type: switch
    conditions:
      - { condition: "ctx.items != None", next: each }
    defaultNext: done
  - name: each
    type: foreach
    itemsPath: ctx.items
    itemName: item
    iterator:
      states:
        - { name: check, type: agent, agent: echo, end: true }
    next: done
  - { name: done, type: inject, data: { done: true }, end: true }
"#;

/// Fails its first attempt (no retry): the run fails, a redrive completes it.
pub(crate) const FLAKY: &str = r#"
id: flaky
states:
  - name: call
    type: operation
    action: agent.run
    input: { agent: flaky, input: { succeed_at: 2 } }
    end: true
"#;

pub(crate) const WAITS: &str = r#"
id: waits
states:
  - name: hold
    type: operation
    action: signal.wait
    input: { signal: go }
    resultPath: steps.go
    end: true
"#;
