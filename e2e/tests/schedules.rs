//! Schedules end to end (docs/language.md, "Schedules"):
//!
//! - two coordinators fire a one-second `trigger.schedule` for 20 ticks and
//!   start exactly one run per tick: distinct `ctx._cronTriggeredAt`, no
//!   gap, no duplicate, each with the dedupe key `cron:<tick>`;
//! - ticks missed while no coordinator ran start one late run, then the
//!   schedule continues from the restart;
//! - a Station file whose start state is `type: cron` fires with the
//!   state's `input`; a manual start skips the state and carries the start
//!   time; a new revision with `enabled: false` stops the schedule;
//! - `junction workflows list` shows the next fire time;
//! - a schedule whose stored revision no longer compiles stops (logged)
//!   instead of being retried every second, and the others keep firing.

use chrono::{DateTime, Datelike, Duration as Span, Utc};
use junction_bus::ControlSubject;
use junction_e2e::TestEnv;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

const EVERY_SECOND: &str = r#"
id: every-second
trigger: { schedule: "* * * * * *" }
states:
  - { name: mark, type: inject, data: { marked: true }, end: true }
"#;

/// The ticks of the runs of `workflow_id` (their `_cronTriggeredAt`), with
/// how many runs each tick started, in tick order.
async fn ticks(env: &TestEnv, workflow_id: &str) -> anyhow::Result<Vec<(DateTime<Utc>, i64)>> {
    let db = env.db().await?;
    let rows = db
        .query(
            "SELECT input->>'_cronTriggeredAt', count(*) FROM runs WHERE workflow_id = $1
             GROUP BY 1 ORDER BY 1",
            &[&workflow_id],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let text: Option<String> = row.get(0);
            let text = text.ok_or_else(|| anyhow::anyhow!("a run without a tick"))?;
            let tick = DateTime::parse_from_rfc3339(&text)?.with_timezone(&Utc);
            Ok((tick, row.get(1)))
        })
        .collect()
}

/// Waits until the runs of `workflow_id` hold a tick after `after` (and
/// returns all ticks).
async fn wait_for_tick_after(
    env: &TestEnv,
    workflow_id: &str,
    after: DateTime<Utc>,
) -> anyhow::Result<Vec<(DateTime<Utc>, i64)>> {
    env.eventually(&format!("a tick after {after}"), WAIT, || async {
        let found = ticks(env, workflow_id).await?;
        Ok(found.iter().any(|(tick, _)| *tick > after).then_some(found))
    })
    .await
}

#[tokio::test]
async fn two_coordinators_start_exactly_one_run_per_tick() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.start_coordinator("c1", &[]).await?;
    env.start_coordinator("c2", &[]).await?;
    env.wait_for_members(2, 0).await?;
    env.put_workflow(EVERY_SECOND).await?;

    let first = env
        .eventually("the first scheduled run", WAIT, || async {
            Ok(ticks(&env, "every-second").await?.first().map(|t| t.0))
        })
        .await?;
    let last = first + Span::seconds(19);
    let found = wait_for_tick_after(&env, "every-second", last).await?;
    let window: Vec<_> = found.iter().filter(|(tick, _)| *tick <= last).collect();
    let expected: Vec<_> = (0..20).map(|i| (first + Span::seconds(i), 1)).collect();
    let got: Vec<_> = window.iter().map(|(t, n)| (*t, *n)).collect();
    assert_eq!(got, expected, "one run per tick, no gap\n{}", env.logs());
    assert!(
        found.iter().all(|(_, runs)| *runs == 1),
        "a tick started two runs: {found:?}"
    );

    // The run's context and dedupe key carry the tick.
    let db = env.db().await?;
    let row = db
        .query_one(
            "SELECT id, dedupe_key FROM runs WHERE workflow_id = 'every-second' AND input->>'_cronTriggeredAt' = $1",
            &[&tick_text(first)],
        )
        .await?;
    let (run_id, dedupe): (String, String) = (row.get(0), row.get(1));
    assert_eq!(dedupe, format!("cron:{}", tick_text(first)));
    let run = env.wait_for_end(&run_id, WAIT).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(
        run["context"]["ctx"]["_cronTriggeredAt"],
        json!(tick_text(first))
    );
    assert_eq!(run["context"]["ctx"]["marked"], json!(true));
    Ok(())
}

/// A tick as the scheduler writes it (whole seconds, `Z`).
fn tick_text(tick: DateTime<Utc>) -> String {
    tick.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[tokio::test]
async fn ticks_missed_while_no_coordinator_ran_start_one_late_run() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let coordinator = env.start_coordinator("c1", &[]).await?;
    env.wait_for_members(1, 0).await?;
    env.put_workflow(EVERY_SECOND).await?;
    let started = Utc::now();
    wait_for_tick_after(&env, "every-second", started + Span::seconds(2)).await?;

    env.processes[coordinator].terminate();
    env.wait_for_exit(coordinator, 0, "a drained coordinator")
        .await?;
    let before = ticks(&env, "every-second").await?;
    let last_before = before.last().map(|t| t.0).unwrap_or(started);
    // The outage: several ticks pass with no coordinator running.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let restarted = Utc::now();
    env.start_coordinator("c1-again", &[]).await?;
    let after = wait_for_tick_after(&env, "every-second", restarted + Span::seconds(2)).await?;
    let missed: Vec<_> = after
        .iter()
        .filter(|(tick, _)| *tick > last_before && *tick < restarted)
        .collect();
    assert_eq!(
        missed.len(),
        1,
        "one late run for the ticks missed between {last_before} and {restarted}: {after:?}"
    );
    assert_eq!(
        missed[0].0,
        last_before + Span::seconds(1),
        "the first missed tick"
    );
    assert!(after.iter().all(|(_, runs)| *runs == 1), "{after:?}");
    Ok(())
}

const STATION_CRON: &str = r#"id: station-cron
states:
  - id: every_second
    type: cron
    cron: "* * * * * *"
    timezone: Europe/Paris
    input: { region: eu-west, depth: 2 }
    transition: mark
  - id: mark
    type: inject
    data: { marked: true }
    end: true
"#;

#[tokio::test]
async fn a_station_cron_start_state_fires_with_its_input() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    std::fs::write(
        env.workflows_dir().join("station-cron.workflow.yaml"),
        STATION_CRON,
    )?;
    env.start_coordinator("c1", &[]).await?;
    env.wait_for_members(1, 0).await?;

    // A scheduled run: the state's input, and the tick.
    let first = env
        .eventually("a scheduled run", WAIT, || async {
            Ok(ticks(&env, "station-cron").await?.first().map(|t| t.0))
        })
        .await?;
    let db = env.db().await?;
    let row = db
        .query_one(
            "SELECT id FROM runs WHERE workflow_id = 'station-cron' AND dedupe_key = $1",
            &[&format!("cron:{}", tick_text(first))],
        )
        .await?;
    let scheduled = env.wait_for_end(&row.get::<_, String>(0), WAIT).await?;
    let ctx = &scheduled["context"]["ctx"];
    assert_eq!(ctx["region"], json!("eu-west"), "{scheduled}");
    assert_eq!(ctx["depth"], json!(2));
    assert_eq!(ctx["_cronTriggeredAt"], json!(tick_text(first)));
    assert_eq!(ctx["marked"], json!(true));

    // A manual start skips the cron state and carries its start time.
    let before = Utc::now();
    let run_id = env
        .start_run("station-cron", json!({ "region": "us" }))
        .await?;
    let manual = env.wait_for_end(&run_id, WAIT).await?;
    let ctx = &manual["context"]["ctx"];
    assert_eq!(ctx["region"], json!("us"), "run.start's input: {manual}");
    assert!(
        ctx.get("depth").is_none(),
        "not the state's input: {manual}"
    );
    let stamped = ctx["_cronTriggeredAt"].as_str().unwrap_or_default();
    let stamped = DateTime::parse_from_rfc3339(stamped)?.with_timezone(&Utc);
    assert!(
        stamped >= before - Span::seconds(1) && stamped <= Utc::now(),
        "the start time: {manual}"
    );
    let states: Vec<&str> = manual["steps"]
        .as_array()
        .map(|steps| steps.iter().filter_map(|s| s["state"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        !states.contains(&"every_second"),
        "the cron state is no step: {manual}"
    );

    // A revision with `enabled: false` stops the schedule.
    let disabled = STATION_CRON.replace("    timezone:", "    enabled: false\n    timezone:");
    env.put_workflow(&disabled).await?;
    let rows = db
        .query(
            "SELECT 1 FROM schedules WHERE workflow_id = 'station-cron'",
            &[],
        )
        .await?;
    assert!(rows.is_empty(), "a disabled schedule has no row");
    let listed = env
        .control(ControlSubject::WorkflowsList, json!({}))
        .await?;
    let entry = workflow_entry(&listed, "station-cron");
    assert!(entry.get("next_fire_at").is_none(), "{listed}");
    Ok(())
}

fn workflow_entry<'a>(listed: &'a Value, id: &str) -> &'a Value {
    listed["workflows"]
        .as_array()
        .and_then(|all| all.iter().find(|w| w["id"] == id))
        .unwrap_or(&Value::Null)
}

const NEW_YEAR_IN_TOKYO: &str = r#"
id: new-year
trigger: { schedule: "0 9 1 1 *", timezone: Asia/Tokyo }
states:
  - { name: mark, type: inject, data: { marked: true }, end: true }
"#;

const UNSCHEDULED: &str = r#"
id: plain
states:
  - { name: mark, type: inject, data: { marked: true }, end: true }
"#;

#[tokio::test]
async fn junction_workflows_list_shows_the_next_fire_time() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.start_coordinator("c1", &[]).await?;
    env.wait_for_members(1, 0).await?;
    env.put_workflow(NEW_YEAR_IN_TOKYO).await?;
    env.put_workflow(UNSCHEDULED).await?;
    // 09:00 on 1 January in Tokyo is midnight UTC.
    let expected = format!("{}-01-01T00:00:00.000Z", Utc::now().year() + 1);

    let text = junction(&env, &["workflows", "list"]).await?;
    let header = text.lines().next().unwrap_or_default();
    assert!(header.contains("NEXT FIRE"), "{text}");
    let line = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("new-year").contains(&expected), "{text}");
    assert!(line("plain").trim_end().ends_with('-'), "{text}");

    let json_out = junction(&env, &["workflows", "list", "-o", "json"]).await?;
    let listed: Value = serde_json::from_str(&json_out)?;
    let by_id = |id: &str| {
        listed
            .as_array()
            .and_then(|all| all.iter().find(|w| w["id"] == id).cloned())
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        by_id("new-year")["next_fire_at"],
        json!(expected),
        "{listed}"
    );
    assert!(by_id("plain").get("next_fire_at").is_none(), "{listed}");

    // `workflows.get` says it too; deleting the workflow removes its schedule.
    let got = env
        .control(ControlSubject::WorkflowsGet, json!({ "id": "new-year" }))
        .await?;
    assert_eq!(got["workflow"]["next_fire_at"], json!(expected), "{got}");
    env.control(ControlSubject::WorkflowsDelete, json!({ "id": "new-year" }))
        .await?;
    let rows = env
        .db()
        .await?
        .query("SELECT 1 FROM schedules", &[])
        .await?;
    assert!(rows.is_empty(), "the deleted workflow's schedule is gone");
    Ok(())
}

/// Runs `junction ARGS…` against this cluster; it must exit 0.
async fn junction(env: &TestEnv, args: &[&str]) -> anyhow::Result<String> {
    let path = junction_e2e::bin_dir().join("junction");
    let output = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(&path)
            .args(args)
            .env_remove("JUNCTION_CONFIG")
            .env("JUNCTION_NATS__URL", junction_e2e::nats_url())
            .env("JUNCTION_NATS__PREFIX", &env.prefix)
            .env("NO_COLOR", "1")
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "junction {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(stdout)
}

/// A schedule whose stored revision no longer compiles (written behind the
/// coordinator's back) is removed with an error in the log; the schedules
/// due after it keep firing.
#[tokio::test]
async fn a_schedule_whose_revision_cannot_compile_stops_and_the_others_go_on() -> anyhow::Result<()>
{
    let mut env = TestEnv::new().await?;
    env.start_coordinator("c1", &[]).await?;
    env.wait_for_members(1, 0).await?;
    env.put_workflow(EVERY_SECOND).await?;
    wait_for_tick_after(&env, "every-second", Utc::now()).await?;

    let db = env.db().await?;
    db.batch_execute(
        "INSERT INTO definitions (tenant, workflow_id, version, source, format, checksum, ir)
         VALUES ('default', 'broken-cron', 1, 'id: broken-cron', 'yaml', 'x', '{\"not\": \"an ir\"}');
         INSERT INTO schedules (tenant, workflow_id, version, next_fire_at)
         VALUES ('default', 'broken-cron', 1, now() - interval '1 second');
         NOTIFY junction_schedules;",
    )
    .await?;
    env.eventually("the broken schedule removed", WAIT, || async {
        let left = db
            .query_one(
                "SELECT count(*) FROM schedules WHERE workflow_id = 'broken-cron'",
                &[],
            )
            .await?
            .get::<_, i64>(0);
        Ok((left == 0).then_some(()))
    })
    .await?;
    assert!(
        env.logs()
            .contains("a scheduled workflow's stored revision cannot be compiled"),
        "the cause is logged"
    );
    wait_for_tick_after(&env, "every-second", Utc::now() + Span::seconds(2)).await?;
    Ok(())
}
