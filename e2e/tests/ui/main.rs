//! The web UI (`/ui`, docs/ui.md) in a real headless Chromium driven over
//! WebDriver, against a real cluster with auth on. An operator signs in
//! with a token, reads the workflows and a workflow's graph, publishes a
//! signal and starts a run and watches it complete live, decides an
//! approval (recorded under the token's identity), redrives a failed run,
//! sends a signal, pauses, resumes and cancels, filters the runs list,
//! follows the live page, and reads a graph of branches and items; the
//! phone layout does not overflow. Every page's inputs are labelled, its
//! text has enough contrast, nothing is loaded from another host, and the
//! console shows no script error. Each page is saved as a screenshot
//! (`target/ui-screenshots/`, or `JUNCTION_TEST_UI_SCREENSHOTS`): the
//! README shows them.
//!
//! This file holds the test and its first pages (sign-in, workflows, a
//! run started from the browser); `runs.rs` the run pages' actions, the
//! lists and the phone; `cluster.rs` the cluster and the browser on it;
//! `checks.rs` what every page is checked for; `fixtures.rs` the tokens
//! and workflows.

mod checks;
mod cluster;
mod fixtures;
mod runs;

use checks::wait_for_badge;
use cluster::{TRACE_URL, Ui};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn an_operator_runs_workflows_and_approvals_from_the_browser() -> anyhow::Result<()> {
    let ui = Ui::start().await?;
    session_view(&ui).await?;
    sign_in(&ui).await?;
    let by_signal = workflow_pages(&ui).await?;
    let started = start_and_follow(&ui).await?;
    let done = runs::operate(&ui).await?;
    let mut completed = vec![by_signal, started.clone()];
    completed.extend(done.completed);
    runs::listed(&ui, &completed, &done.cancelled).await?;
    runs::live(&ui).await?;
    runs::fanned_graph(&ui).await?;
    runs::on_a_phone(&ui, &started).await
}

/// The session view says who the token is; without one it is refused.
async fn session_view(ui: &Ui) -> anyhow::Result<()> {
    let session = ui.api.call("GET", "/v1/session", None).await?;
    assert_eq!(session["identity"], "alice", "{session}");
    assert_eq!(session["tenants"], json!(["default"]), "{session}");
    let anonymous = ui
        .api
        .http
        .get(format!("{}/v1/session", ui.origin))
        .send()
        .await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    Ok(())
}

async fn sign_in(ui: &Ui) -> anyhow::Result<()> {
    ui.open("").await?;
    ui.browser.wait_for("[data-testid='signin-token']").await?;
    ui.shot_and_check("signin", "sign-in").await?;
    ui.browser
        .fill("[data-testid='signin-token']", "t-alice")
        .await?;
    ui.browser.click_on("[data-testid='signin-submit']").await
}

/// The workflows, then one workflow with its graph; a signal published
/// from its page starts a run of it. Returns that run.
async fn workflow_pages(ui: &Ui) -> anyhow::Result<String> {
    let browser = &ui.browser;
    browser.click_on("[data-testid='nav-workflows']").await?;
    let row = browser
        .wait_for("[data-testid='workflow-row'][data-id='hello'] th a")
        .await?;
    browser.wait_ready().await?;
    ui.shot_and_check("workflows", "workflows").await?;
    browser.click(&row).await?;
    browser
        .wait_for("[data-testid='graph-node'][data-path='greet']")
        .await?;
    browser.wait_ready().await?;
    ui.shot_and_check("workflow", "workflow").await?;

    let signal_type = browser.wait_for("[data-testid='publish-type']").await?;
    assert_eq!(
        browser.property(&signal_type, "value").await?.as_deref(),
        Some("hello.requested"),
        "the type comes from the workflow's trigger"
    );
    browser
        .fill("[data-testid='publish-data']", r#"{"who": "grace"}"#)
        .await?;
    browser
        .fill("[data-testid='publish-id']", "ui-signal-1")
        .await?;
    browser.click_on("[data-testid='publish-signal']").await?;
    browser.click_on("[data-testid='confirm-ok']").await?;
    browser.wait_for("[data-testid='publish-ok']").await?;
    let signalled_run = ui
        .env
        .eventually("the run the signal started", WAIT, || async {
            let runs = ui
                .api
                .call("GET", "/v1/runs?causation_id=ui-signal-1", None)
                .await?;
            Ok(runs["runs"][0]["id"].as_str().map(str::to_owned))
        })
        .await?;
    let by_signal = ui.api.wait_for_status(&signalled_run, "COMPLETED").await?;
    assert_eq!(by_signal["input"], json!({ "who": "grace" }), "{by_signal}");
    Ok(signalled_run)
}

/// A run started from the workflow's page completes live: badge,
/// timeline and graph follow its events. Returns the run.
async fn start_and_follow(ui: &Ui) -> anyhow::Result<String> {
    let browser = &ui.browser;
    browser
        .fill("[data-testid='start-input']", r#"{"who": "ada"}"#)
        .await?;
    browser.click_on("[data-testid='start-run']").await?;
    browser.click_on("[data-testid='confirm-ok']").await?;
    let run_id = browser
        .wait_until("the new run's page", || async {
            let url = browser.url().await?;
            Ok(url
                .split("#/runs/")
                .nth(1)
                .map(|id| id.split(['?', '/']).next().unwrap_or_default().to_owned())
                .filter(|id| !id.is_empty()))
        })
        .await?;

    wait_for_badge(browser, "COMPLETED").await?;
    browser
        .wait_for("[data-testid='timeline-event'][data-type='workflow.run.completed']")
        .await?;
    browser
        .wait_for("[data-testid='graph-node'][data-path='again'][data-status='SUCCEEDED']")
        .await?;
    browser.wait_ready().await?;
    let run = ui.api.run(&run_id).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["input"], json!({ "who": "ada" }), "{run}");
    let steps = browser.find_all("[data-testid='step-row']").await?;
    assert_eq!(steps.len(), 2, "one row per attempt");
    let trace_id = run["trace_id"].as_str().unwrap_or_default();
    if !trace_id.is_empty() {
        let href = TRACE_URL.replace("{trace_id}", trace_id);
        let link = browser.wait_for(&format!("a[href='{href}']")).await?;
        assert!(browser.displayed(&link).await?);
    }
    ui.shot_and_check("run", "run").await?;
    Ok(run_id)
}
