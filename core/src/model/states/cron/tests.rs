//! `type: cron` start states: what they compile to, and where they may not be.

use crate::model::{SourceFormat, compile};
use serde_json::json;

const STATION: &str = r#"id: nightly-report
name: Nightly report
states:
  - id: schedule
    type: cron
    cron: "0 0 6 * * 1-5"
    timezone: America/New_York
    input: { region: us-east, depth: 2 }
    transition: gather
  - id: gather
    type: agent
    agent: echo
    prompt: "report for {{ ctx.region }}"
    transition: done
  - id: done
    type: inject
    data: { finished: true }
    end: true
"#;

/// The errors of `source`: (code, path, line).
fn errors(source: &str) -> Vec<(String, String, Option<u32>)> {
    compile(source, SourceFormat::Yaml)
        .diagnostics
        .errors
        .into_iter()
        .map(|d| (d.code, d.path, d.line))
        .collect()
}

#[test]
fn a_cron_start_state_becomes_the_schedule_and_is_not_a_state() {
    let compiled = compile(STATION, SourceFormat::Yaml);
    assert!(compiled.diagnostics.errors.is_empty(), "{compiled:?}");
    assert!(compiled.diagnostics.warnings.is_empty(), "{compiled:?}");
    let workflow = compiled.workflow.expect("workflow");
    assert_eq!(workflow.start, "gather");
    let names: Vec<&str> = workflow.states.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["gather", "done"]);
    let schedule = workflow.schedule.expect("schedule");
    assert_eq!(schedule.cron, "0 0 6 * * 1-5");
    assert_eq!(schedule.timezone, "America/New_York");
    assert!(schedule.enabled);
    assert_eq!(schedule.input, json!({"region": "us-east", "depth": 2}));
    assert_eq!(schedule.state.as_deref(), Some("schedule"));
}

#[test]
fn enabled_false_keeps_the_schedule_switched_off() {
    let off = STATION.replace("    timezone:", "    enabled: false\n    timezone:");
    let workflow = compile(&off, SourceFormat::Yaml)
        .workflow
        .expect("workflow");
    assert!(!workflow.schedule.expect("schedule").enabled);
    let bad = STATION.replace("    timezone:", "    enabled: sometimes\n    timezone:");
    assert_eq!(
        errors(&bad),
        vec![("INVALID_TYPE".into(), "states[0].enabled".into(), Some(7))]
    );
}

#[test]
fn bad_cron_and_time_zone_are_errors_on_their_lines() {
    let bad = STATION.replace("0 0 6 * * 1-5", "0 0 6 * * 1-9");
    assert_eq!(
        errors(&bad),
        vec![("INVALID_CRON".into(), "states[0].cron".into(), Some(6))]
    );
    let zone = STATION.replace("America/New_York", "America/Gotham");
    assert_eq!(
        errors(&zone),
        vec![(
            "UNKNOWN_TIMEZONE".into(),
            "states[0].timezone".into(),
            Some(7)
        )]
    );
    let missing = STATION.replace("    cron: \"0 0 6 * * 1-5\"\n", "");
    assert_eq!(
        errors(&missing),
        vec![("MISSING_FIELD".into(), "states[0].cron".into(), Some(4))]
    );
}

#[test]
fn a_cron_state_must_be_the_first_state_and_the_start() {
    // Second in the list.
    let moved = r#"id: w
states:
  - { id: done, type: inject, data: {}, end: true }
  - { id: tick, type: cron, cron: "* * * * *", transition: done }
"#;
    assert_eq!(
        errors(moved),
        vec![("CRON_NOT_START".into(), "states[1].type".into(), Some(4))]
    );
    // First, but `start` names another state.
    let elsewhere = "id: w\nstart: done\nstates:\n  - { id: tick, type: cron, cron: \"* * * * *\", transition: done }\n  - { id: done, type: inject, data: {}, end: true }\n";
    assert_eq!(errors(elsewhere)[0].0, "CRON_NOT_START");
    // Inside a parallel branch.
    let nested = r#"id: w
states:
  - name: fan
    type: parallel
    branches:
      - name: a
        states:
          - { name: tick, type: cron, cron: "* * * * *", next: x }
          - { name: x, type: inject, data: {}, end: true }
    end: true
"#;
    let found = errors(nested);
    assert_eq!(found[0].0, "CRON_NOT_START", "{found:?}");
    assert_eq!(found[0].1, "states[0].branches[0].states[0].type");
}

#[test]
fn a_cron_state_needs_a_next_that_exists() {
    let dangling = STATION.replace("transition: gather", "transition: nowhere");
    let found = errors(&dangling);
    assert_eq!(found[0].0, "DANGLING_TARGET", "{found:?}");
    assert_eq!(found[0].1, "states[0].next");
    let none = STATION.replace("    transition: gather\n", "");
    assert_eq!(errors(&none)[0].0, "MISSING_TRANSITION");
}

#[test]
fn one_schedule_per_workflow() {
    let both = STATION.replace(
        "name: Nightly report\n",
        "name: Nightly report\ntrigger: { schedule: \"* * * * *\" }\n",
    );
    assert_eq!(errors(&both)[0].0, "CONFLICTING_SCHEDULE");
}

#[test]
fn graph_findings_point_at_the_source_states_after_a_cron_state() {
    // `orphan` is state 3 in the file and state 2 in the IR.
    let orphan = STATION.replace(
        "    end: true\n",
        "    end: true\n  - id: orphan\n    type: inject\n    data: {}\n    end: true\n",
    );
    let compiled = compile(&orphan, SourceFormat::Yaml);
    let warning = &compiled.diagnostics.warnings[0];
    assert_eq!(warning.code, "UNREACHABLE_STATE");
    assert_eq!(warning.path, "states[3]");
    assert_eq!(warning.line, Some(19));
}
