//! Runs of a workflow whose start state is `type: cron`: the state is not a
//! step, and a manual start carries `ctx._cronTriggeredAt`.

use super::*;

const SCHEDULED: &str = r#"
id: nightly
states:
  - { id: tick, type: cron, cron: "0 2 * * *", input: { region: eu }, transition: mark }
  - { id: mark, type: inject, data: { marked: true }, end: true }
"#;

#[test]
fn a_manual_start_skips_the_cron_state_and_stamps_the_start_time() {
    let mut env = Env::new(SCHEDULED);
    env.start(json!({"region": "us"}));
    assert_eq!(env.state.status, RunStatus::Completed);
    let ctx = &env.state.context["ctx"];
    assert_eq!(
        ctx["region"],
        json!("us"),
        "run.start's input, not the state's"
    );
    assert_eq!(ctx["marked"], json!(true));
    assert_eq!(
        ctx["_cronTriggeredAt"],
        json!(crate::wire::time::format(now()))
    );
    assert_eq!(
        env.state.input,
        json!({"region": "us"}),
        "the run input is as given"
    );
}

#[test]
fn a_scheduled_start_keeps_its_tick() {
    let mut env = Env::new(SCHEDULED);
    let schedule = env.workflow.schedule.clone().expect("schedule");
    let tick = DateTime::from_timestamp(1_799_996_400, 0).expect("valid time");
    env.start(schedule.run_input(tick));
    let ctx = &env.state.context["ctx"];
    assert_eq!(ctx["region"], json!("eu"));
    assert_eq!(ctx["_cronTriggeredAt"], json!("2027-01-15T07:00:00Z"));
}
