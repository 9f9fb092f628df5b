//! Mermaid rendering: shapes, edges, subgraphs, escaping and ids.

use super::*;
use junction_core::model::{
    Action, AgentCall, Aggregation, Dag, DagStep, Foreach, Operation, RetryPolicy, SourceFormat,
    State, StateKind, SubGraph, Transition, compile,
};
use serde_json::json;
use std::collections::HashSet;

fn state(name: &str, kind: StateKind, transition: Transition) -> State {
    State {
        name: name.to_owned(),
        kind,
        transition,
        catch: Vec::new(),
    }
}

fn agent(name: &str, agent: &str, transition: Transition) -> State {
    let call = AgentCall {
        agent: agent.to_owned(),
        task: None,
        input: None,
        variables: None,
        timeout_seconds: None,
        default_task: None,
    };
    let operation = Operation {
        action: Action::AgentRun(call),
        timeout_seconds: None,
        retry: RetryPolicy::default(),
        result_path: None,
    };
    state(name, StateKind::Operation(operation), transition)
}

fn inject(name: &str, transition: Transition) -> State {
    let kind = StateKind::Inject {
        data: json!({}),
        result_path: None,
    };
    state(name, kind, transition)
}

fn next(name: &str) -> Transition {
    Transition::Next(name.to_owned())
}

fn workflow(start: &str, states: Vec<State>) -> Workflow {
    Workflow {
        id: "w".to_owned(),
        name: None,
        description: None,
        definition_version: None,
        input_schema: None,
        output_schema: None,
        timeout_seconds: None,
        trigger: None,
        schedule: None,
        concurrency: None,
        start: start.to_owned(),
        states,
    }
}

fn compiled(source: &str) -> Workflow {
    let compiled = compile(source, SourceFormat::Yaml);
    compiled
        .workflow
        .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics.errors))
}

/// Every id in the chart is `[A-Za-z0-9_]+`, subgraphs are balanced, and
/// nothing outside a quoted label holds a quote.
fn assert_well_formed(chart: &str) {
    let id_ok = |id: &str| {
        !id.is_empty() && id != "end" && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut depth = 0i32;
    for line in chart.lines().skip(1) {
        let line = line.trim();
        if line == "end" {
            depth -= 1;
            assert!(depth >= 0, "unbalanced end in\n{chart}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("subgraph ") {
            depth += 1;
            let id = rest.split('[').next().unwrap_or_default();
            assert!(id_ok(id), "subgraph id {id:?} in\n{chart}");
            continue;
        }
        if line.contains("-->") || line.contains("-.->") {
            let parts: Vec<&str> = line.split(' ').collect();
            let (from, to) = (parts[0], parts[parts.len() - 1]);
            assert!(id_ok(from) && id_ok(to), "edge {line:?} in\n{chart}");
            if let Some(label) = line.split('|').nth(1) {
                let inner = label.trim_matches('"');
                assert!(!inner.contains('"'), "label {label:?}");
            }
            continue;
        }
        let id: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(id_ok(&id), "node {line:?} in\n{chart}");
        let quoted = line.split('"').nth(1).unwrap_or_default();
        assert_eq!(line.matches('"').count(), 2, "node {line:?}");
        assert!(!quoted.contains(['<', '>']) || quoted.contains("<br/>"));
    }
    assert_eq!(depth, 0, "unbalanced subgraphs in\n{chart}");
}

#[test]
fn a_chain_from_start_to_end() {
    let wf = workflow(
        "defaults",
        vec![
            inject("defaults", next("validate")),
            agent("validate", "echo", Transition::End),
        ],
    );
    assert_eq!(
        mermaid(&wf),
        r#"flowchart TD
    start(("start"))
    s_defaults[/"defaults<br/>inject"/]
    s_validate["validate<br/>agent.run: echo"]
    finish(("end"))
    start --> s_defaults
    s_defaults --> s_validate
    s_validate --> finish
"#
    );
}

#[test]
fn switch_cases_are_labelled_edges_and_labels_are_escaped() {
    let wf = compiled(
        r##"
id: route
states:
  - name: pick
    type: switch
    conditions:
      - { if: 'ctx.kind == "a|b" and ctx.n[0] > 1', next: one }
      - { if: "ctx.n < 2 # <b>&", next: two }
    defaultNext: two
  - { name: one, type: inject, data: {}, end: true }
  - { name: two, type: inject, data: {}, end: true }
"##,
    );
    let chart = mermaid(&wf);
    assert_well_formed(&chart);
    assert!(chart.contains("    s_pick{\"pick\"}\n"), "{chart}");
    assert!(
        chart.contains(
            "s_pick -->|\"ctx.kind == #quot;a#124;b#quot; and ctx.n[0] #62; 1\"| s_one\n"
        ),
        "{chart}"
    );
    assert!(
        chart.contains("s_pick -->|\"ctx.n #60; 2 #35; #60;b#62;#38;\"| s_two\n"),
        "{chart}"
    );
    assert!(chart.contains("s_pick -->|\"default\"| s_two\n"), "{chart}");
    assert!(!chart.contains("s_pick --> "), "a switch has no plain next");
}

#[test]
fn parallel_branches_foreach_bodies_and_catch_edges() {
    let wf = compiled(
        r#"
id: fan
states:
  - name: fan
    type: parallel
    branches:
      - name: left
        states:
          - { name: a, type: agent, agent: echo, next: b }
          - { name: b, type: agent, agent: echo, end: true }
      - name: right
        states:
          - { name: a, type: agent, agent: echo, end: true }
    catch:
      - { errors: [STEP_TIMEOUT, AGENT_ERROR], next: recover }
    next: each
  - name: each
    type: foreach
    itemsPath: ctx.items
    itemName: item
    iterator:
      states:
        - { name: one, type: agent, agent: echo, end: true }
    onError: recover
    end: true
  - { name: recover, type: inject, data: {}, end: true }
"#,
    );
    let chart = mermaid(&wf);
    assert_well_formed(&chart);
    for expected in [
        "    subgraph s_fan[\"fan<br/>parallel\"]\n",
        "        subgraph b_fan__left[\"left\"]\n",
        "            start_fan_left((\"start\"))\n",
        "            s_fan_left__a[\"a<br/>agent.run: echo\"]\n",
        "            finish_fan_left((\"end\"))\n",
        "            s_fan_right__a[\"a<br/>agent.run: echo\"]\n",
        "    subgraph s_each[\"each<br/>foreach item in ctx.items\"]\n",
        "        s_each__one[\"one<br/>agent.run: echo\"]\n",
        "    start_fan_left --> s_fan_left__a\n",
        "    s_fan_left__a --> s_fan_left__b\n",
        "    s_fan_left__b --> finish_fan_left\n",
        "    s_fan -.->|\"catch: STEP_TIMEOUT, AGENT_ERROR\"| s_recover\n",
        "    s_each -.->|\"catch\"| s_recover\n",
        "    s_fan --> s_each\n",
        "    s_each --> finish\n",
    ] {
        assert!(chart.contains(expected), "{expected:?} missing in\n{chart}");
    }
}

#[test]
fn dag_steps_follow_their_dependencies() {
    let step = |name: &str, depends_on: &[&str], condition: Option<&str>| DagStep {
        state: agent(name, "echo", Transition::End),
        depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
        condition: condition.map(str::to_owned),
    };
    let dag = Dag {
        steps: vec![
            step("test", &[], None),
            step("lint", &[], None),
            step("build", &["test", "lint"], Some("ctx.branch == \"main\"")),
        ],
        result_path: None,
    };
    let wf = workflow(
        "pipeline",
        vec![state("pipeline", StateKind::Dag(dag), Transition::End)],
    );
    let chart = mermaid(&wf);
    assert_well_formed(&chart);
    for expected in [
        "    subgraph s_pipeline[\"pipeline<br/>dag\"]\n",
        "        s_pipeline__build[\"build<br/>agent.run: echo<br/>if ctx.branch == #quot;main#quot;\"]\n",
        "    s_pipeline__test --> s_pipeline__build\n",
        "    s_pipeline__lint --> s_pipeline__build\n",
        "    start --> s_pipeline\n",
        "    s_pipeline --> finish\n",
    ] {
        assert!(chart.contains(expected), "{expected:?} missing in\n{chart}");
    }
    assert!(
        !chart.contains("s_pipeline__test --> finish"),
        "steps have no end edges"
    );
}

#[test]
fn ids_are_sanitized_and_unique() {
    let names = ["end", "a b", "a-b", "a_b", "\"q\"[x]", "é", "graph", "o"];
    let states: Vec<State> = names
        .iter()
        .enumerate()
        .map(|(i, name)| match names.get(i + 1) {
            Some(following) => inject(name, next(following)),
            None => inject(name, Transition::End),
        })
        .collect();
    let chart = mermaid(&workflow("end", states));
    assert_well_formed(&chart);
    let ids: Vec<&str> = chart
        .lines()
        .filter(|l| l.contains("[/\""))
        .map(|l| l.trim().split('[').next().unwrap_or_default())
        .collect();
    assert_eq!(ids.len(), names.len());
    let unique: HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    assert!(ids.contains(&"s_a_b") && ids.contains(&"s_a_b_2") && ids.contains(&"s_a_b_3"));
    assert!(
        chart.contains("[/\"#quot;q#quot;[x]<br/>inject\"/]"),
        "{chart}"
    );
    assert!(chart.contains("start --> s_end\n"), "{chart}");
}

#[test]
fn aggregation_does_not_change_the_chart() {
    // The chart shows structure only; data options stay out of the way.
    let foreach = Foreach {
        items_path: "ctx.items".to_owned(),
        item_name: "it".to_owned(),
        max_concurrency: 4,
        iterator: SubGraph {
            start: "x".to_owned(),
            states: vec![inject("x", Transition::End)],
        },
        aggregation: Aggregation::Array,
        result_path: Some("steps.all".to_owned()),
    };
    let wf = workflow(
        "each",
        vec![state("each", StateKind::Foreach(foreach), Transition::End)],
    );
    let chart = mermaid(&wf);
    assert_well_formed(&chart);
    assert!(chart.contains("foreach it in ctx.items"), "{chart}");
}
