//! Schedules: parsing, the next tick (time zones, DST, seconds), and the
//! compile errors of `trigger.schedule` and `type: cron`, with their lines.

use super::*;
use crate::model::{SourceFormat, compile};
use serde_json::json;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn schedule(cron: &str, timezone: &str) -> Schedule {
    Schedule {
        cron: cron.to_owned(),
        timezone: timezone.to_owned(),
        enabled: true,
        input: json!({}),
        state: None,
    }
}

fn next(cron: &str, timezone: &str, after: &str) -> String {
    let tick = schedule(cron, timezone)
        .next_after(at(after))
        .unwrap_or_else(|| panic!("`{cron}` fires after {after}"));
    tick_text(tick)
}

#[test]
fn five_fields_are_minutes_and_fire_on_the_minute() {
    assert_eq!(
        next("*/15 * * * *", "UTC", "2026-03-01T10:07:30Z"),
        "2026-03-01T10:15:00Z"
    );
    // Strictly after: a tick equal to `after` is not the next one.
    assert_eq!(
        next("*/15 * * * *", "UTC", "2026-03-01T10:15:00Z"),
        "2026-03-01T10:30:00Z"
    );
    // POSIX weekdays: 1-5 is Monday to Friday (2026-03-06 is a Friday).
    assert_eq!(
        next("0 9 * * 1-5", "UTC", "2026-03-06T10:00:00Z"),
        "2026-03-09T09:00:00Z"
    );
}

#[test]
fn six_fields_put_seconds_first() {
    assert_eq!(
        next("* * * * * *", "UTC", "2026-03-01T10:00:05Z"),
        "2026-03-01T10:00:06Z"
    );
    assert_eq!(
        next("*/10 * * * * *", "UTC", "2026-03-01T10:00:05.500Z"),
        "2026-03-01T10:00:10Z"
    );
    assert_eq!(
        next("30 0 12 * * *", "UTC", "2026-03-01T10:00:00Z"),
        "2026-03-01T12:00:30Z"
    );
}

#[test]
fn wall_times_are_read_in_the_time_zone() {
    // Paris is UTC+1 in winter and UTC+2 in summer.
    assert_eq!(
        next("0 9 * * *", "Europe/Paris", "2026-01-10T00:00:00Z"),
        "2026-01-10T08:00:00Z"
    );
    assert_eq!(
        next("0 9 * * *", "Europe/Paris", "2026-07-10T00:00:00Z"),
        "2026-07-10T07:00:00Z"
    );
    assert_eq!(
        next("0 9 * * *", "Asia/Kolkata", "2026-07-10T00:00:00Z"),
        "2026-07-10T03:30:00Z"
    );
}

#[test]
fn a_wall_time_skipped_by_spring_forward_fires_after_the_gap() {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 never
    // happens that day; the tick is the first instant after the gap.
    assert_eq!(
        next("30 2 * * *", "America/New_York", "2026-03-08T05:00:00Z"),
        "2026-03-08T07:00:00Z"
    );
    // The next day is back to normal (02:30 EDT = 06:30Z).
    assert_eq!(
        next("30 2 * * *", "America/New_York", "2026-03-08T07:00:00Z"),
        "2026-03-09T06:30:00Z"
    );
}

#[test]
fn a_wall_time_repeated_by_fall_back_fires_once() {
    // New York, 2026-11-01: 01:00–01:59 happens twice (EDT, then EST).
    let first = next("30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z");
    assert_eq!(first, "2026-11-01T05:30:00Z", "01:30 EDT, the first pass");
    let then = next("30 1 * * *", "America/New_York", &first);
    assert_eq!(then, "2026-11-02T06:30:00Z", "not 01:30 EST the same night");
    // Continuing from inside the second pass never goes back in time.
    assert_eq!(
        next("*/30 * * * *", "America/New_York", "2026-11-01T06:10:00Z"),
        "2026-11-01T06:30:00Z"
    );
}

#[test]
fn bad_expressions_and_zones_are_refused_with_reasons() {
    let four = parse_cron("* * * *").expect_err("four fields");
    assert!(four.contains("4 field(s)"), "{four}");
    let seven = parse_cron("0 0 0 * * * 2030").expect_err("seven fields");
    assert!(seven.contains("7 field(s)"), "{seven}");
    let minute = parse_cron("61 * * * *").expect_err("minute 61");
    assert!(minute.contains("61 * * * *"), "{minute}");
    assert!(parse_cron("0 9 * * MON-FRI").is_ok());
    let zone = parse_timezone("Mars/Olympus").expect_err("no such zone");
    assert!(zone.contains("Mars/Olympus"), "{zone}");
    assert!(parse_timezone("UTC").is_ok());
}

#[test]
fn a_firing_input_carries_its_tick_and_dedupe_key() {
    let mut cron = schedule("* * * * * *", "UTC");
    cron.input = json!({"region": "eu"});
    let tick = at("2026-03-01T10:00:06Z");
    assert_eq!(
        cron.run_input(tick),
        json!({"region": "eu", "_cronTriggeredAt": "2026-03-01T10:00:06Z"})
    );
    assert_eq!(Schedule::dedupe_key(tick), "cron:2026-03-01T10:00:06Z");
}

#[test]
fn a_manual_start_is_stamped_only_for_a_cron_start_state() {
    let now = at("2026-03-01T10:00:00.250Z");
    let mut ctx = json!({"a": 1});
    stamp_manual_start(Some(&schedule("* * * * *", "UTC")), &mut ctx, now);
    assert_eq!(
        ctx,
        json!({"a": 1}),
        "trigger.schedule: manual runs are plain"
    );
    let mut from_state = schedule("* * * * *", "UTC");
    from_state.state = Some("tick".into());
    stamp_manual_start(Some(&from_state), &mut ctx, now);
    assert_eq!(ctx["_cronTriggeredAt"], json!("2026-03-01T10:00:00.250Z"));
    let mut scheduled = json!({"_cronTriggeredAt": "2026-03-01T09:00:00Z"});
    stamp_manual_start(Some(&from_state), &mut scheduled, now);
    assert_eq!(scheduled["_cronTriggeredAt"], json!("2026-03-01T09:00:00Z"));
}

const TRIGGERED: &str = r#"
id: nightly
trigger:
  schedule: "0 2 * * *"
  timezone: Europe/Berlin
states:
  - { name: work, type: inject, data: { done: true }, end: true }
"#;

#[test]
fn trigger_schedule_compiles_with_or_without_a_signal() {
    let compiled = compile(TRIGGERED, SourceFormat::Yaml);
    assert!(compiled.diagnostics.errors.is_empty(), "{compiled:?}");
    let workflow = compiled.workflow.expect("workflow");
    assert!(workflow.trigger.is_none());
    let schedule = workflow.schedule.expect("schedule");
    assert_eq!(
        (schedule.cron.as_str(), schedule.timezone.as_str()),
        ("0 2 * * *", "Europe/Berlin")
    );
    assert_eq!((schedule.enabled, schedule.state), (true, None));

    let both = TRIGGERED.replace("trigger:\n", "trigger:\n  signal: order.created\n");
    let workflow = compile(&both, SourceFormat::Yaml)
        .workflow
        .expect("workflow");
    assert_eq!(workflow.trigger.expect("signal").signal, "order.created");
    let schedule = workflow.schedule.expect("schedule");
    assert_eq!(schedule.timezone, "Europe/Berlin");

    let dag = "id: d\ntrigger: { schedule: '*/5 * * * * *' }\nsteps:\n  - { id: a, type: agent, agent: echo }\n";
    let compiled = compile(dag, SourceFormat::Yaml);
    assert!(compiled.diagnostics.errors.is_empty(), "{compiled:?}");
    let schedule = compiled
        .workflow
        .and_then(|w| w.schedule)
        .expect("dag schedule");
    assert_eq!(schedule.timezone, "UTC");
}

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
fn a_bad_trigger_schedule_is_an_error_on_its_line() {
    let bad = TRIGGERED.replace("0 2 * * *", "0 25 * * *");
    assert_eq!(
        errors(&bad),
        vec![("INVALID_CRON".into(), "trigger.schedule".into(), Some(4))]
    );
    let zone = TRIGGERED.replace("Europe/Berlin", "Europe/Atlantis");
    assert_eq!(
        errors(&zone),
        vec![(
            "UNKNOWN_TIMEZONE".into(),
            "trigger.timezone".into(),
            Some(5)
        )]
    );
    let never = TRIGGERED.replace("0 2 * * *", "0 0 31 2 *");
    let found = errors(&never);
    assert_eq!(found[0].0, "INVALID_CRON");
    let message = &compile(&never, SourceFormat::Yaml).diagnostics.errors[0].message;
    assert!(message.contains("never fires"), "{message}");
}
