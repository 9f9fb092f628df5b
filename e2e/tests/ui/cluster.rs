//! The cluster under the browser: a coordinator with auth on and a trace
//! link, a worker, the example agents, the fixtures' workflows stored; the
//! API as the signed-in operator ([`Api`]); and the browser on it ([`Ui`]).

use crate::WAIT;
use crate::checks::check_page;
use crate::fixtures::{FANOUT, FLAKY, GATED, HELLO, TOKENS, WAITS};
use anyhow::{Context, bail};
use junction_e2e::TestEnv;
use junction_e2e::webdriver::{self, Browser};
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// The trace link template the coordinator is given.
pub(crate) const TRACE_URL: &str = "http://127.0.0.1:16686/trace/{trace_id}";

/// The API as the signed-in operator.
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
}

impl Api {
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
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

    pub(crate) async fn start(&self, workflow: &str, input: Value) -> anyhow::Result<String> {
        let reply = self
            .call(
                "POST",
                "/v1/runs",
                Some(json!({ "workflow_id": workflow, "input": input })),
            )
            .await?;
        Ok(reply["run_id"].as_str().context("run_id")?.to_owned())
    }

    pub(crate) async fn run(&self, run_id: &str) -> anyhow::Result<Value> {
        Ok(self
            .call("GET", &format!("/v1/runs/{run_id}"), None)
            .await?["run"]
            .clone())
    }

    pub(crate) async fn wait_for_status(
        &self,
        run_id: &str,
        status: &str,
    ) -> anyhow::Result<Value> {
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

/// The cluster, the operator's API and a 1280×800 browser.
pub(crate) struct Ui {
    pub(crate) env: TestEnv,
    pub(crate) api: Api,
    pub(crate) browser: Browser,
    /// `http://<coordinator>`.
    pub(crate) origin: String,
    /// Where screenshots go: `target/ui-screenshots/`, or
    /// `JUNCTION_TEST_UI_SCREENSHOTS`.
    shots: PathBuf,
}

impl Ui {
    pub(crate) async fn start() -> anyhow::Result<Self> {
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
                ("JUNCTION_COORDINATOR__TRACE_URL", TRACE_URL),
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
        let shots = std::env::var_os("JUNCTION_TEST_UI_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots")
            });
        let browser = Browser::start(1280, 800).await?;
        Ok(Self {
            env,
            api,
            browser,
            origin,
            shots,
        })
    }

    /// Opens the page at `hash` (`#/runs/<id>`).
    pub(crate) async fn open(&self, hash: &str) -> anyhow::Result<()> {
        self.browser
            .open(&format!("{}/ui/{hash}", self.origin))
            .await
    }

    /// Saves the window as `<file>.png`.
    pub(crate) async fn shot(&self, file: &str) -> anyhow::Result<()> {
        self.browser
            .screenshot(&self.shots.join(format!("{file}.png")))
            .await
            .map(drop)
    }

    /// The checks every page gets ([`check_page`]), named `page`.
    pub(crate) async fn check(&self, page: &str) -> anyhow::Result<()> {
        check_page(&self.browser, &self.origin, page).await
    }

    /// [`Self::shot`] then [`Self::check`].
    pub(crate) async fn shot_and_check(&self, file: &str, page: &str) -> anyhow::Result<()> {
        self.shot(file).await?;
        self.check(page).await
    }
}
