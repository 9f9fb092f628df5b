//! A headless Chromium driven over WebDriver (W3C), for the web UI's
//! browser tests: Debian's `chromium` and `chromium-driver` (installed by
//! `deploy/dev/services.sh --test-tools`), one `chromedriver` per test on a
//! free port, one browser session with its own profile directory. The few
//! commands the tests need: open a URL, find elements by CSS, click, type,
//! read text and attributes, run a script, resize, take a screenshot, and
//! read the browser console.

use anyhow::{Context, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The key W3C WebDriver names an element reference with.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long [`Browser::wait_for`] and friends wait by default.
pub const UI_WAIT: Duration = Duration::from_secs(30);

/// Where Debian puts the browser and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A plain HTTP client (the driver's and the tests' own API calls); the
/// workspace's reqwest has TLS without a built-in crypto provider, so ring
/// is installed once first.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// Whether the browser and its driver are installed.
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// One element of the page.
#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

/// A browser session; the driver and the browser stop when it is dropped.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("session", &self.session)
            .finish()
    }
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {CHROMEDRIVER}"))?;
        let http = http_client()?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ready = async {
                let reply: Value = serde_json::from_slice(
                    &http
                        .get(format!("{base}/status"))
                        .send()
                        .await?
                        .bytes()
                        .await?,
                )?;
                anyhow::Ok(reply["value"]["ready"] == true)
            };
            if ready.await.unwrap_or(false) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("chromedriver did not get ready on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir()?;
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run",
                    "--disable-extensions", "--disable-background-networking",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let reply = command(
            &http,
            "POST",
            &format!("{base}/session"),
            Some(capabilities),
        )
        .await?;
        let id = reply["sessionId"]
            .as_str()
            .with_context(|| format!("no session in {reply}"))?;
        let browser = Self {
            http,
            session: format!("{base}/session/{id}"),
            driver,
            _profile: profile,
        };
        browser.resize(width, height).await?;
        Ok(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        command(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    /// Opens `url` and waits for the document to load.
    pub async fn open(&self, url: &str) -> anyhow::Result<()> {
        self.call("POST", "/url", Some(json!({ "url": url })))
            .await?;
        Ok(())
    }

    /// Sets the window's size.
    pub async fn resize(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.call(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await?;
        Ok(())
    }

    /// Every element matching `css`, in document order.
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        let found = self
            .call(
                "POST",
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        Ok(found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT_KEY].as_str())
            .map(|id| Element { id: id.to_owned() })
            .collect())
    }

    /// The first element matching `css` once there is one that is shown.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<Element> {
        self.wait_until(&format!("{css} shown"), || async {
            for element in self.find_all(css).await? {
                if self.displayed(&element).await? {
                    return Ok(Some(element));
                }
            }
            Ok(None)
        })
        .await
    }

    /// Polls `probe` until it gives `Some`, for [`UI_WAIT`].
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut probe: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = tokio::time::Instant::now() + UI_WAIT;
        let mut last_error = None;
        loop {
            match probe().await {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                // A re-rendered page drops elements between two commands.
                Err(error) => last_error = Some(error),
            }
            if tokio::time::Instant::now() > deadline {
                let url = self.url().await.unwrap_or_default();
                bail!(
                    "timed out waiting for {what} on {url} (last error: {last_error:?})\nconsole:\n{}",
                    self.console().await.unwrap_or_default().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page says its data has loaded (`body[data-ready]`).
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        self.wait_for("body[data-ready='true']").await.map(|_| ())
    }

    /// Clicks the first shown element matching `css` once there is one.
    pub async fn click_on(&self, css: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css).await?;
        self.click(&element).await
    }

    /// Replaces the value of the first shown field matching `css`.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css).await?;
        self.type_into(&element, text).await
    }

    pub async fn click(&self, element: &Element) -> anyhow::Result<()> {
        self.call(
            "POST",
            &format!("/element/{}/click", element.id),
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    /// Replaces the field's value with `text`.
    pub async fn type_into(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        self.call(
            "POST",
            &format!("/element/{}/clear", element.id),
            Some(json!({})),
        )
        .await?;
        self.call(
            "POST",
            &format!("/element/{}/value", element.id),
            Some(json!({ "text": text })),
        )
        .await?;
        Ok(())
    }

    pub async fn text(&self, element: &Element) -> anyhow::Result<String> {
        let text = self
            .call("GET", &format!("/element/{}/text", element.id), None)
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    pub async fn attribute(&self, element: &Element, name: &str) -> anyhow::Result<Option<String>> {
        let value = self
            .call(
                "GET",
                &format!("/element/{}/attribute/{name}", element.id),
                None,
            )
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// A DOM property (`value` of a field), as text.
    pub async fn property(&self, element: &Element, name: &str) -> anyhow::Result<Option<String>> {
        let value = self
            .call(
                "GET",
                &format!("/element/{}/property/{name}", element.id),
                None,
            )
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    pub async fn displayed(&self, element: &Element) -> anyhow::Result<bool> {
        let shown = self
            .call("GET", &format!("/element/{}/displayed", element.id), None)
            .await?;
        Ok(shown == true)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn script(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    pub async fn url(&self) -> anyhow::Result<String> {
        Ok(self
            .call("GET", "/url", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// A PNG of the window, written to `path`.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<PathBuf> {
        let encoded = self.call("GET", "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().context("screenshot data")?)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(path.to_owned())
    }

    /// The browser console's messages since the last call, as
    /// `LEVEL message` lines.
    pub async fn console(&self) -> anyhow::Result<Vec<String>> {
        let entries = self
            .call("POST", "/se/log", Some(json!({ "type": "browser" })))
            .await?;
        Ok(entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{} {}",
                    e["level"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or_default()
                )
            })
            .collect())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver's end takes the browser with it.
        let _ = self.driver.start_kill();
    }
}

/// One WebDriver command; its `value`, or the driver's error.
async fn command(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let request = match method {
        "GET" => http.get(url),
        "DELETE" => http.delete(url),
        _ => http
            .post(url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body.unwrap_or_else(|| json!({})))?),
    };
    let response = request
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let reply: Value = serde_json::from_slice(&response.bytes().await?)
        .with_context(|| format!("{method} {url}: not JSON"))?;
    if !status.is_success() {
        bail!(
            "{method} {url}: {status} {} {}",
            reply["value"]["error"].as_str().unwrap_or_default(),
            reply["value"]["message"].as_str().unwrap_or_default()
        );
    }
    Ok(reply["value"].clone())
}
