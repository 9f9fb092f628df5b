//! The run pages' actions (an approval decided, a failed run redriven, a
//! waiting run paused, resumed, signalled, another cancelled), the runs
//! list filtered, the live page, a graph of branches and items, and the
//! run page on a phone.

use crate::checks::{act, wait_for_badge};
use crate::cluster::Ui;
use anyhow::Context;
use serde_json::{Value, json};

/// What [`operate`] left behind.
pub(crate) struct Operated {
    /// Runs that completed: the approved, the redriven, the signalled.
    pub(crate) completed: Vec<String>,
    pub(crate) cancelled: String,
}

pub(crate) async fn operate(ui: &Ui) -> anyhow::Result<Operated> {
    let gated = approve(ui).await?;
    let flaky = redrive(ui).await?;
    let waiting = pause_resume_signal(ui).await?;
    let cancelled = cancel(ui).await?;
    Ok(Operated {
        completed: vec![gated, flaky, waiting],
        cancelled,
    })
}

/// An approval, decided from the pending list with a comment, is
/// recorded under the signed-in identity.
async fn approve(ui: &Ui) -> anyhow::Result<String> {
    let browser = &ui.browser;
    let gated = ui.api.start("gated", json!({ "version": "1.4" })).await?;
    ui.api.wait_for_status(&gated, "WAITING_APPROVAL").await?;
    browser.click_on("[data-testid='nav-approvals']").await?;
    let row = browser.wait_for("[data-testid='approval-row']").await?;
    browser.wait_ready().await?;
    assert!(
        browser.text(&row).await?.contains("Ship 1.4?"),
        "the approval's message"
    );
    ui.shot_and_check("approvals", "approvals").await?;
    browser
        .fill("[data-testid='approval-comment']", "ship it")
        .await?;
    browser.click_on("[data-testid='approve']").await?;
    browser.click_on("[data-testid='confirm-ok']").await?;
    ui.api.wait_for_status(&gated, "COMPLETED").await?;
    let decided = ui
        .api
        .call("GET", &format!("/v1/approvals?run_id={gated}"), None)
        .await?;
    let approval = &decided["approvals"][0];
    assert_eq!(approval["status"], "APPROVED", "{decided}");
    assert_eq!(
        approval["actor"], "alice",
        "the signed-in identity: {decided}"
    );
    assert_eq!(approval["comment"], "ship it", "{decided}");
    Ok(gated)
}

/// A failed run, redriven from its page.
async fn redrive(ui: &Ui) -> anyhow::Result<String> {
    let flaky = ui.api.start("flaky", json!({})).await?;
    ui.api.wait_for_status(&flaky, "FAILED").await?;
    ui.open(&format!("#/runs/{flaky}")).await?;
    wait_for_badge(&ui.browser, "FAILED").await?;
    ui.browser.wait_ready().await?;
    ui.shot("run-failed").await?;
    act(&ui.browser, "redrive", Some("agent fixed")).await?;
    wait_for_badge(&ui.browser, "COMPLETED").await?;
    let redriven = ui.api.run(&flaky).await?;
    let attempts: Vec<&Value> = redriven["steps"]
        .as_array()
        .context("steps")?
        .iter()
        .map(|s| &s["status"])
        .collect();
    assert_eq!(
        attempts,
        [&json!("FAILED"), &json!("SUCCEEDED")],
        "{redriven}"
    );
    Ok(flaky)
}

/// A run waiting for a signal, opened at its page.
async fn waiting_run(ui: &Ui) -> anyhow::Result<String> {
    let waiting = ui.api.start("waits", json!({})).await?;
    ui.api.wait_for_status(&waiting, "WAITING_SIGNAL").await?;
    ui.open(&format!("#/runs/{waiting}")).await?;
    wait_for_badge(&ui.browser, "WAITING_SIGNAL").await?;
    Ok(waiting)
}

/// A waiting run: pause, resume, then a signal completes it.
async fn pause_resume_signal(ui: &Ui) -> anyhow::Result<String> {
    let browser = &ui.browser;
    let waiting = waiting_run(ui).await?;
    act(browser, "pause", Some("hold on")).await?;
    wait_for_badge(browser, "PAUSED").await?;
    act(browser, "resume", None).await?;
    wait_for_badge(browser, "WAITING_SIGNAL").await?;
    browser
        .click_on("[data-testid='action-signal']:not([disabled])")
        .await?;
    browser.fill("[data-testid='signal-name']", "go").await?;
    browser
        .fill("[data-testid='signal-data']", r#"{"n": 7}"#)
        .await?;
    browser.click_on("[data-testid='confirm-ok']").await?;
    wait_for_badge(browser, "COMPLETED").await?;
    let signalled = ui.api.run(&waiting).await?;
    assert_eq!(
        signalled["context"]["steps"]["go"]["data"]["n"], 7,
        "{signalled}"
    );
    Ok(waiting)
}

/// Another waiting run, cancelled with a reason.
async fn cancel(ui: &Ui) -> anyhow::Result<String> {
    let doomed = waiting_run(ui).await?;
    act(&ui.browser, "cancel", Some("not needed")).await?;
    wait_for_badge(&ui.browser, "CANCELLED").await?;
    ui.check("actions").await?;
    Ok(doomed)
}

/// The runs list, filtered by status, holds exactly the completed runs.
pub(crate) async fn listed(ui: &Ui, completed: &[String], cancelled: &str) -> anyhow::Result<()> {
    let browser = &ui.browser;
    ui.open("#/runs?status=COMPLETED").await?;
    browser.wait_ready().await?;
    let listed = browser
        .wait_until("the completed runs", || async {
            let mut ids = Vec::new();
            for row in browser.find_all("[data-testid='run-row']").await? {
                ids.push(
                    browser
                        .attribute(&row, "data-id")
                        .await?
                        .unwrap_or_default(),
                );
            }
            Ok((ids.len() == completed.len()).then_some(ids))
        })
        .await?;
    for id in completed {
        assert!(listed.contains(id), "{id} among the completed: {listed:?}");
    }
    assert!(
        !listed.iter().any(|id| id == cancelled),
        "a cancelled run is filtered out"
    );
    ui.shot_and_check("runs", "runs").await
}

/// The live page shows every run's events as they happen.
pub(crate) async fn live(ui: &Ui) -> anyhow::Result<()> {
    let browser = &ui.browser;
    browser.click_on("[data-testid='nav-events']").await?;
    browser.wait_ready().await?;
    browser.wait_for("[data-testid='tail-table']").await?;
    // The server has subscribed once the page says it follows (it says so
    // when the stream's answer arrives).
    browser
        .wait_until("the live stream following", || async {
            let state = browser.wait_for("[data-testid='tail-state']").await?;
            Ok(browser
                .text(&state)
                .await?
                .contains("Following")
                .then_some(()))
        })
        .await?;
    let live = ui.api.start("hello", json!({ "who": "live" })).await?;
    browser
        .wait_for(&format!(
            "[data-testid='tail-event'][data-run='{live}'][data-type='workflow.run.completed']"
        ))
        .await?;
    ui.shot_and_check("live", "live").await
}

/// A run of branches and items: its graph holds them, coloured.
pub(crate) async fn fanned_graph(ui: &Ui) -> anyhow::Result<()> {
    let browser = &ui.browser;
    let fanned = ui
        .api
        .start("fanout", json!({ "items": ["a", "b", "c"] }))
        .await?;
    ui.api.wait_for_status(&fanned, "COMPLETED").await?;
    ui.open(&format!("#/runs/{fanned}")).await?;
    wait_for_badge(browser, "COMPLETED").await?;
    for path in ["both/left/fetch", "both/right/score", "each/check"] {
        browser
            .wait_for(&format!(
                "[data-testid='graph-node'][data-path='{path}'][data-status='SUCCEEDED']"
            ))
            .await?;
    }
    browser.wait_ready().await?;
    browser
        .script(
            "document.querySelector(\"[data-testid='graph-node']\").scrollIntoView({block: 'start'}); window.scrollBy(0, -60);",
            json!([]),
        )
        .await?;
    ui.shot("run-graph").await
}

/// A phone: the run page fits the screen's width.
pub(crate) async fn on_a_phone(ui: &Ui, run_id: &str) -> anyhow::Result<()> {
    let browser = &ui.browser;
    browser.resize(390, 844).await?;
    ui.open(&format!("#/runs/{run_id}")).await?;
    wait_for_badge(browser, "COMPLETED").await?;
    browser.wait_ready().await?;
    let fits = browser
        .script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            json!([]),
        )
        .await?;
    assert_eq!(fits, true, "the run page scrolls sideways on a phone");
    ui.shot("run-phone").await
}
