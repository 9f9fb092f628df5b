//! The web UI (`/ui`, docs/ui.md) in a real headless Chromium driven over
//! WebDriver, against a real cluster with auth on. An operator signs in
//! with a token, reads the workflows and a workflow's graph, starts a run
//! and watches it complete live, decides an approval (recorded under the
//! token's identity), redrives a failed run, sends a signal, pauses,
//! resumes and cancels, and filters the runs list; the phone layout does
//! not overflow. Every page's inputs are labelled, nothing is loaded from
//! another host, and the console shows no script error. Each page is saved
//! as a screenshot (`target/ui-screenshots/`, or
//! `JUNCTION_TEST_UI_SCREENSHOTS`): the README shows them.

use anyhow::{Context, bail};
use junction_e2e::TestEnv;
use junction_e2e::webdriver::{self, Browser};
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const TOKENS: &str = r#"{"tokens":[
  {"token":"t-alice","identity":"alice","groups":["release"],"tenants":["default"]}
]}"#;

const HELLO: &str = r#"
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

const GATED: &str = r#"
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
const FANOUT: &str = r#"
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
const FLAKY: &str = r#"
id: flaky
states:
  - name: call
    type: operation
    action: agent.run
    input: { agent: flaky, input: { succeed_at: 2 } }
    end: true
"#;

const WAITS: &str = r#"
id: waits
states:
  - name: hold
    type: operation
    action: signal.wait
    input: { signal: go }
    resultPath: steps.go
    end: true
"#;

/// The API as the signed-in operator.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(&url),
            _ => self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body.unwrap_or_else(|| json!({})))?),
        };
        let response = request
            .header("authorization", "Bearer t-alice")
            .send()
            .await?;
        let status = response.status();
        let reply: Value = serde_json::from_slice(&response.bytes().await?)?;
        anyhow::ensure!(status.is_success(), "{method} {path}: {status} {reply}");
        Ok(reply)
    }

    async fn start(&self, workflow: &str, input: Value) -> anyhow::Result<String> {
        let reply = self
            .call(
                "POST",
                "/v1/runs",
                Some(json!({ "workflow_id": workflow, "input": input })),
            )
            .await?;
        Ok(reply["run_id"].as_str().context("run_id")?.to_owned())
    }

    async fn run(&self, run_id: &str) -> anyhow::Result<Value> {
        Ok(self
            .call("GET", &format!("/v1/runs/{run_id}"), None)
            .await?["run"]
            .clone())
    }

    async fn wait_for_status(&self, run_id: &str, status: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let run = self.run(run_id).await?;
            if run["status"] == status {
                return Ok(run);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("run {run_id} is {} not {status}", run["status"]);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn screenshots() -> PathBuf {
    std::env::var_os("JUNCTION_TEST_UI_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots")
        })
}

/// Text whose contrast with its background is under WCAG AA (4.5:1, 3:1
/// for large text), disabled controls excepted: `tag "text" ratio` lines.
const LOW_CONTRAST: &str = r#"
const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const low = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('[disabled], [aria-disabled="true"], .visually-hidden, svg')) continue;
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !el.getClientRects().length) continue;
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden' || Number(style.opacity) < 0.1) continue;
  const fg = lum(rgb(style.color).slice(0, 3)), bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < needed) low.push(`${el.tagName} "${el.textContent.trim().slice(0, 40)}" ${ratio.toFixed(2)}`);
}
return low;
"#;

/// The page's checks every test page gets: each input has a label, text
/// has enough contrast, every resource came from the coordinator, no
/// script error in the console.
async fn check_page(browser: &Browser, origin: &str, page: &str) -> anyhow::Result<()> {
    let unlabelled = browser
        .script(
            "return [...document.querySelectorAll('input, textarea, select')]
                .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length)
                             && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
                .map(e => e.outerHTML.slice(0, 120));",
            json!([]),
        )
        .await?;
    assert_eq!(unlabelled, json!([]), "{page}: inputs without a label");
    let low = browser.script(LOW_CONTRAST, json!([])).await?;
    assert_eq!(low, json!([]), "{page}: text under WCAG AA contrast");
    let foreign = browser
        .script(
            "return performance.getEntriesByType('resource').map(e => e.name)
                .filter(n => !n.startsWith(arguments[0]));",
            json!([origin]),
        )
        .await?;
    assert_eq!(foreign, json!([]), "{page}: loaded from another host");
    let errors: Vec<String> = browser
        .console()
        .await?
        .into_iter()
        .filter(|line| {
            [
                "Uncaught",
                "TypeError",
                "ReferenceError",
                "SyntaxError",
                "Content Security Policy",
            ]
            .iter()
            .any(|marker| line.contains(marker))
        })
        .collect();
    assert!(errors.is_empty(), "{page}: console errors {errors:#?}");
    Ok(())
}

/// Waits until the run page's status badge reads `status`.
async fn wait_for_badge(browser: &Browser, status: &str) -> anyhow::Result<()> {
    browser
        .wait_until(&format!("run status {status}"), || async {
            let badge = browser.wait_for("[data-testid='run-status']").await?;
            Ok((browser.text(&badge).await?.trim() == status).then_some(()))
        })
        .await
}

/// Clicks the run page's action `name`, fills the confirmation's reason,
/// and confirms.
async fn act(browser: &Browser, name: &str, reason: Option<&str>) -> anyhow::Result<()> {
    let button = browser
        .wait_for(&format!("[data-testid='action-{name}']:not([disabled])"))
        .await?;
    browser.click(&button).await?;
    if let Some(reason) = reason {
        let field = browser.wait_for("[data-testid='confirm-reason']").await?;
        browser.type_into(&field, reason).await?;
    }
    let ok = browser.wait_for("[data-testid='confirm-ok']").await?;
    browser.click(&ok).await
}

#[tokio::test]
async fn an_operator_runs_workflows_and_approvals_from_the_browser() -> anyhow::Result<()> {
    anyhow::ensure!(
        webdriver::available(),
        "the browser tests need Debian's chromium and chromium-driver: deploy/dev/services.sh --test-tools installs them"
    );
    let mut env = TestEnv::new().await?;
    let tokens = env.dir.path().join("tokens.json");
    std::fs::write(&tokens, TOKENS)?;
    let tokens = tokens.display().to_string();
    env.serve_agents(Registry::builtin()).await?;
    env.start_coordinator(
        "coordinator",
        &[
            ("JUNCTION_AUTH__TOKENS_FILE", &tokens),
            (
                "JUNCTION_COORDINATOR__TRACE_URL",
                "http://127.0.0.1:16686/trace/{trace_id}",
            ),
        ],
    )
    .await?;
    env.start_worker("worker-1", &[]).await?;
    env.wait_for_members(1, 1).await?;
    let origin = format!("http://{}", env.coordinator_http().await?);
    let api = Api {
        http: webdriver::http_client()?,
        base: origin.clone(),
    };
    for source in [HELLO, GATED, FLAKY, WAITS, FANOUT] {
        api.call("POST", "/v1/workflows", Some(json!({ "source": source })))
            .await?;
    }
    // The session view says who the token is; without one it is refused.
    let session = api.call("GET", "/v1/session", None).await?;
    assert_eq!(session["identity"], "alice", "{session}");
    assert_eq!(session["tenants"], json!(["default"]), "{session}");
    let anonymous = api.http.get(format!("{origin}/v1/session")).send().await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    let shots = screenshots();
    let browser = Browser::start(1280, 800).await?;

    // Sign in.
    browser.open(&format!("{origin}/ui/")).await?;
    let token = browser.wait_for("[data-testid='signin-token']").await?;
    browser.screenshot(&shots.join("signin.png")).await?;
    check_page(&browser, &origin, "sign-in").await?;
    browser.type_into(&token, "t-alice").await?;
    browser
        .click(&browser.wait_for("[data-testid='signin-submit']").await?)
        .await?;

    // Workflows, then one workflow with its graph; start a run from it.
    browser
        .click(&browser.wait_for("[data-testid='nav-workflows']").await?)
        .await?;
    let row = browser
        .wait_for("[data-testid='workflow-row'][data-id='hello'] th a")
        .await?;
    browser.wait_ready().await?;
    browser.screenshot(&shots.join("workflows.png")).await?;
    check_page(&browser, &origin, "workflows").await?;
    browser.click(&row).await?;
    browser
        .wait_for("[data-testid='graph-node'][data-path='greet']")
        .await?;
    browser.wait_ready().await?;
    browser.screenshot(&shots.join("workflow.png")).await?;
    check_page(&browser, &origin, "workflow").await?;
    // A signal published from the page starts a run of its workflow.
    let signal_type = browser.wait_for("[data-testid='publish-type']").await?;
    assert_eq!(
        browser.property(&signal_type, "value").await?.as_deref(),
        Some("hello.requested"),
        "the type comes from the workflow's trigger"
    );
    let data = browser.wait_for("[data-testid='publish-data']").await?;
    browser.type_into(&data, r#"{"who": "grace"}"#).await?;
    let id = browser.wait_for("[data-testid='publish-id']").await?;
    browser.type_into(&id, "ui-signal-1").await?;
    browser
        .click(&browser.wait_for("[data-testid='publish-signal']").await?)
        .await?;
    browser
        .click(&browser.wait_for("[data-testid='confirm-ok']").await?)
        .await?;
    browser.wait_for("[data-testid='publish-ok']").await?;
    let signalled_run = env
        .eventually("the run the signal started", WAIT, || async {
            let runs = api
                .call("GET", "/v1/runs?causation_id=ui-signal-1", None)
                .await?;
            Ok(runs["runs"][0]["id"].as_str().map(str::to_owned))
        })
        .await?;
    let by_signal = api.wait_for_status(&signalled_run, "COMPLETED").await?;
    assert_eq!(by_signal["input"], json!({ "who": "grace" }), "{by_signal}");

    let input = browser.wait_for("[data-testid='start-input']").await?;
    browser.type_into(&input, r#"{"who": "ada"}"#).await?;
    browser
        .click(&browser.wait_for("[data-testid='start-run']").await?)
        .await?;
    browser
        .click(&browser.wait_for("[data-testid='confirm-ok']").await?)
        .await?;
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

    // The run completes live: badge, timeline and graph follow its events.
    wait_for_badge(&browser, "COMPLETED").await?;
    browser
        .wait_for("[data-testid='timeline-event'][data-type='workflow.run.completed']")
        .await?;
    browser
        .wait_for("[data-testid='graph-node'][data-path='again'][data-status='SUCCEEDED']")
        .await?;
    browser.wait_ready().await?;
    let run = api.run(&run_id).await?;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["input"], json!({ "who": "ada" }), "{run}");
    let steps = browser.find_all("[data-testid='step-row']").await?;
    assert_eq!(steps.len(), 2, "one row per attempt");
    let trace_id = run["trace_id"].as_str().unwrap_or_default();
    if !trace_id.is_empty() {
        let link = browser
            .wait_for(&format!(
                "a[href='http://127.0.0.1:16686/trace/{trace_id}']"
            ))
            .await?;
        assert!(browser.displayed(&link).await?);
    }
    browser.screenshot(&shots.join("run.png")).await?;
    check_page(&browser, &origin, "run").await?;

    // An approval, decided from the pending list with a comment.
    let gated = api.start("gated", json!({ "version": "1.4" })).await?;
    api.wait_for_status(&gated, "WAITING_APPROVAL").await?;
    browser
        .click(&browser.wait_for("[data-testid='nav-approvals']").await?)
        .await?;
    let row = browser.wait_for("[data-testid='approval-row']").await?;
    browser.wait_ready().await?;
    assert!(
        browser.text(&row).await?.contains("Ship 1.4?"),
        "the approval's message"
    );
    browser.screenshot(&shots.join("approvals.png")).await?;
    check_page(&browser, &origin, "approvals").await?;
    let comment = browser.wait_for("[data-testid='approval-comment']").await?;
    browser.type_into(&comment, "ship it").await?;
    browser
        .click(&browser.wait_for("[data-testid='approve']").await?)
        .await?;
    browser
        .click(&browser.wait_for("[data-testid='confirm-ok']").await?)
        .await?;
    api.wait_for_status(&gated, "COMPLETED").await?;
    let decided = api
        .call("GET", &format!("/v1/approvals?run_id={gated}"), None)
        .await?;
    let approval = &decided["approvals"][0];
    assert_eq!(approval["status"], "APPROVED", "{decided}");
    assert_eq!(
        approval["actor"], "alice",
        "the signed-in identity: {decided}"
    );
    assert_eq!(approval["comment"], "ship it", "{decided}");

    // A failed run, redriven from its page.
    let flaky = api.start("flaky", json!({})).await?;
    api.wait_for_status(&flaky, "FAILED").await?;
    browser.open(&format!("{origin}/ui/#/runs/{flaky}")).await?;
    wait_for_badge(&browser, "FAILED").await?;
    browser.wait_ready().await?;
    browser.screenshot(&shots.join("run-failed.png")).await?;
    act(&browser, "redrive", Some("agent fixed")).await?;
    wait_for_badge(&browser, "COMPLETED").await?;
    let redriven = api.run(&flaky).await?;
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

    // A waiting run: pause, resume, then a signal completes it.
    let waiting = api.start("waits", json!({})).await?;
    api.wait_for_status(&waiting, "WAITING_SIGNAL").await?;
    browser
        .open(&format!("{origin}/ui/#/runs/{waiting}"))
        .await?;
    wait_for_badge(&browser, "WAITING_SIGNAL").await?;
    act(&browser, "pause", Some("hold on")).await?;
    wait_for_badge(&browser, "PAUSED").await?;
    act(&browser, "resume", None).await?;
    wait_for_badge(&browser, "WAITING_SIGNAL").await?;
    browser
        .click(
            &browser
                .wait_for("[data-testid='action-signal']:not([disabled])")
                .await?,
        )
        .await?;
    let name = browser.wait_for("[data-testid='signal-name']").await?;
    browser.type_into(&name, "go").await?;
    let data = browser.wait_for("[data-testid='signal-data']").await?;
    browser.type_into(&data, r#"{"n": 7}"#).await?;
    browser
        .click(&browser.wait_for("[data-testid='confirm-ok']").await?)
        .await?;
    wait_for_badge(&browser, "COMPLETED").await?;
    let signalled = api.run(&waiting).await?;
    assert_eq!(
        signalled["context"]["steps"]["go"]["data"]["n"], 7,
        "{signalled}"
    );

    // Another waiting run, cancelled with a reason.
    let doomed = api.start("waits", json!({})).await?;
    api.wait_for_status(&doomed, "WAITING_SIGNAL").await?;
    browser
        .open(&format!("{origin}/ui/#/runs/{doomed}"))
        .await?;
    wait_for_badge(&browser, "WAITING_SIGNAL").await?;
    act(&browser, "cancel", Some("not needed")).await?;
    wait_for_badge(&browser, "CANCELLED").await?;
    check_page(&browser, &origin, "actions").await?;

    // The runs list, filtered by status.
    browser
        .open(&format!("{origin}/ui/#/runs?status=COMPLETED"))
        .await?;
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
            Ok((ids.len() == 5).then_some(ids))
        })
        .await?;
    for id in [&run_id, &gated, &flaky, &waiting, &signalled_run] {
        assert!(listed.contains(id), "{id} among the completed: {listed:?}");
    }
    assert!(!listed.contains(&doomed), "a cancelled run is filtered out");
    browser.screenshot(&shots.join("runs.png")).await?;
    check_page(&browser, &origin, "runs").await?;

    // The live page shows every run's events as they happen.
    browser
        .click(&browser.wait_for("[data-testid='nav-events']").await?)
        .await?;
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
    let live = api.start("hello", json!({ "who": "live" })).await?;
    browser
        .wait_for(&format!(
            "[data-testid='tail-event'][data-run='{live}'][data-type='workflow.run.completed']"
        ))
        .await?;
    browser.screenshot(&shots.join("live.png")).await?;
    check_page(&browser, &origin, "live").await?;

    // A run of branches and items: its graph holds them, coloured.
    let fanned = api
        .start("fanout", json!({ "items": ["a", "b", "c"] }))
        .await?;
    api.wait_for_status(&fanned, "COMPLETED").await?;
    browser
        .open(&format!("{origin}/ui/#/runs/{fanned}"))
        .await?;
    wait_for_badge(&browser, "COMPLETED").await?;
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
    browser.screenshot(&shots.join("run-graph.png")).await?;

    // A phone: the run page fits the screen's width.
    browser.resize(390, 844).await?;
    browser
        .open(&format!("{origin}/ui/#/runs/{run_id}"))
        .await?;
    wait_for_badge(&browser, "COMPLETED").await?;
    browser.wait_ready().await?;
    let fits = browser
        .script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            json!([]),
        )
        .await?;
    assert_eq!(fits, true, "the run page scrolls sideways on a phone");
    browser.screenshot(&shots.join("run-phone.png")).await?;
    Ok(())
}
