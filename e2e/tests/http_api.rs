//! The HTTP API (docs/http.md) against a real cluster, over raw HTTP/1.1:
//!
//! - workflows put (201, then 200), validation errors (400 with diagnostics),
//!   get, list, delete (409), tenants by header;
//! - runs start (idempotent: 201 then 200), get, list with filters, event
//!   paging, cancel of a run waiting for approval, 409 for pausing it after,
//!   the approval flow (approve, then `ALREADY_DECIDED`), 404, 400 for
//!   malformed JSON, 413 for a body over the limit;
//! - the SSE stream: stored events first with increasing ids, live ones after
//!   an approval, the end after `workflow.run.completed`, and a reconnect with
//!   `Last-Event-ID` that gets only later events.

use anyhow::{Context, bail};
use junction_e2e::TestEnv;
use junction_example_agents::Registry;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(60);

/// Waits for a person, then ends with an `inject` state.
const SHIP: &str = r#"
id: ship
states:
  - name: ask
    type: human_approval
    message: "Ship {{ ctx.v }}?"
    next: done
  - { name: done, type: inject, data: { shipped: true }, end: true }
"#;

struct HttpResponse {
    status: u16,
    body: String,
}

impl HttpResponse {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.body).with_context(|| format!("not JSON: {}", self.body))
    }
}

/// Reads the status line and headers; returns the status and the headers
/// (names lowercased).
async fn read_head(
    reader: &mut BufReader<TcpStream>,
) -> anyhow::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Ok((status, headers))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Reads one chunk of a chunked body; `None` at the last chunk.
async fn read_chunk(reader: &mut BufReader<TcpStream>) -> anyhow::Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
        .with_context(|| format!("bad chunk size {line:?}"))?;
    if size == 0 {
        return Ok(None);
    }
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).await?;
    chunk.truncate(size);
    Ok(Some(chunk))
}

async fn connect(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> anyhow::Result<BufReader<TcpStream>> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    Ok(BufReader::new(stream))
}

async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> anyhow::Result<HttpResponse> {
    let mut reader = connect(addr, method, path, headers, body).await?;
    let (status, headers) = read_head(&mut reader).await?;
    let mut bytes = Vec::new();
    if header(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while let Some(chunk) = read_chunk(&mut reader).await? {
            bytes.extend(chunk);
        }
    } else if let Some(length) = header(&headers, "content-length") {
        bytes.resize(length.parse()?, 0);
        reader.read_exact(&mut bytes).await?;
    } else {
        reader.read_to_end(&mut bytes).await?;
    }
    Ok(HttpResponse {
        status,
        body: String::from_utf8(bytes)?,
    })
}

async fn get(addr: &str, path: &str) -> anyhow::Result<HttpResponse> {
    http(addr, "GET", path, &[], None).await
}

async fn post(addr: &str, path: &str, body: Value) -> anyhow::Result<HttpResponse> {
    http(addr, "POST", path, &[], Some(&serde_json::to_vec(&body)?)).await
}

/// Asserts the status and returns the JSON body.
fn expect(response: HttpResponse, status: u16) -> anyhow::Result<Value> {
    anyhow::ensure!(
        response.status == status,
        "expected {status}, got {}: {}",
        response.status,
        response.body
    );
    response.json()
}

/// Asserts an error response: status and code.
fn expect_error(response: HttpResponse, status: u16, code: &str) -> anyhow::Result<Value> {
    let body = expect(response, status)?;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    Ok(body)
}

async fn wait_for_status(addr: &str, run_id: &str, status: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let run = expect(get(addr, &format!("/v1/runs/{run_id}")).await?, 200)?["run"].clone();
        if run["status"] == status {
            return Ok(run);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("run {run_id} is {} not {status}: {run}", run["status"]);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pending_approval(addr: &str, run_id: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listed = expect(
            get(
                addr,
                &format!("/v1/approvals?run_id={run_id}&status=PENDING"),
            )
            .await?,
            200,
        )?;
        if let Some(approval) = listed["approvals"].as_array().and_then(|a| a.first()) {
            return Ok(approval.clone());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no pending approval for {run_id}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(addr: &str, input: Value) -> anyhow::Result<String> {
    let started = expect(
        post(
            addr,
            "/v1/runs",
            json!({ "workflow_id": "ship", "input": input }),
        )
        .await?,
        201,
    )?;
    Ok(started["run_id"].as_str().context("run_id")?.to_owned())
}

#[tokio::test]
async fn the_rest_api_answers_like_the_control_plane() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 0).await?;
    let addr = env.coordinator_http().await?;
    let addr = addr.as_str();

    // Workflows: put (201, then 200 unchanged), a broken one (400), get, list.
    let put = expect(
        post(addr, "/v1/workflows", json!({ "source": SHIP })).await?,
        201,
    )?;
    assert_eq!(put["id"], "ship");
    assert_eq!(put["version"], 1);
    assert_eq!(put["created"], true);
    let again = expect(
        post(addr, "/v1/workflows", json!({ "source": SHIP })).await?,
        200,
    )?;
    assert_eq!(again["created"], false);
    let broken = SHIP.replace("next: done", "next: nowhere");
    let failed = expect_error(
        post(addr, "/v1/workflows", json!({ "source": broken })).await?,
        400,
        "VALIDATION_FAILED",
    )?;
    assert!(
        failed["error"]["details"]["diagnostics"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{failed}"
    );
    let validated = expect(
        post(addr, "/v1/workflows/validate", json!({ "source": broken })).await?,
        200,
    )?;
    assert!(
        validated["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    let workflow = expect(get(addr, "/v1/workflows/ship?version=1").await?, 200)?;
    assert_eq!(workflow["workflow"]["id"], "ship");
    assert_eq!(workflow["workflow"]["version"], 1);
    expect_error(get(addr, "/v1/workflows/nope").await?, 404, "NOT_FOUND")?;
    // PUT updates a named workflow as a new version; the body must keep its id.
    let changed = SHIP.replacen("id: ship", "id: ship\ndescription: changed", 1);
    let body = serde_json::to_vec(&json!({ "source": changed }))?;
    let updated = expect(
        http(addr, "PUT", "/v1/workflows/ship", &[], Some(&body)).await?,
        201,
    )?;
    assert_eq!(updated["version"], 2, "{updated}");
    expect_error(
        http(addr, "PUT", "/v1/workflows/other", &[], Some(&body)).await?,
        400,
        "INVALID_REQUEST",
    )?;
    let listed = expect(get(addr, "/v1/workflows").await?, 200)?;
    assert_eq!(listed["workflows"][0]["id"], "ship");
    let other = http(
        addr,
        "GET",
        "/v1/workflows",
        &[("X-Junction-Tenant", "other")],
        None,
    )
    .await?;
    assert_eq!(expect(other, 200)?["workflows"], json!([]));
    let openapi = expect(get(addr, "/v1/openapi.json").await?, 200)?;
    assert_eq!(openapi["openapi"], "3.1.0");

    // Runs: an idempotent start, get, list with filters, event paging.
    let body = json!({ "workflow_id": "ship", "input": { "v": 1 }, "idempotency_key": "k1" });
    let started = expect(post(addr, "/v1/runs", body.clone()).await?, 201)?;
    let run_id = started["run_id"].as_str().context("run_id")?.to_owned();
    let repeated = expect(post(addr, "/v1/runs", body).await?, 200)?;
    assert_eq!(repeated["run_id"], run_id.as_str());
    assert_eq!(repeated["created"], false);
    let run = wait_for_status(addr, &run_id, "WAITING_APPROVAL").await?;
    assert_eq!(run["input"], json!({ "v": 1 }));
    let runs = expect(
        get(
            addr,
            "/v1/runs?workflow_id=ship&status=WAITING_APPROVAL&limit=10",
        )
        .await?,
        200,
    )?;
    assert_eq!(runs["runs"][0]["id"], run_id.as_str());
    let none = expect(get(addr, "/v1/runs?workflow_id=other").await?, 200)?;
    assert_eq!(none["runs"], json!([]));
    let first = expect(
        get(addr, &format!("/v1/runs/{run_id}/events?limit=1")).await?,
        200,
    )?;
    assert_eq!(first["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(first["events"][0]["seq"], 1);
    assert_eq!(first["events"][0]["type"], "workflow.run.started");
    let second = expect(
        get(
            addr,
            &format!("/v1/runs/{run_id}/events?after_seq=1&limit=1"),
        )
        .await?,
        200,
    )?;
    assert_eq!(second["events"][0]["seq"], 2);

    // Cancel the waiting run; pausing it afterwards is INVALID_STATE (409).
    let cancelled = expect(
        post(
            addr,
            &format!("/v1/runs/{run_id}/cancel"),
            json!({ "actor": "e2e", "reason": "not today" }),
        )
        .await?,
        200,
    )?;
    assert_eq!(cancelled, json!({ "status": "CANCELLED" }));
    expect_error(
        post(addr, &format!("/v1/runs/{run_id}/pause"), json!({})).await?,
        409,
        "INVALID_STATE",
    )?;
    // The workflow has runs: it cannot be deleted.
    expect_error(
        http(addr, "DELETE", "/v1/workflows/ship", &[], None).await?,
        409,
        "CONFLICT",
    )?;
    // A workflow that never ran can be deleted, with all its revisions.
    let unused = SHIP.replacen("id: ship", "id: unused", 1);
    expect(
        post(addr, "/v1/workflows", json!({ "source": unused })).await?,
        201,
    )?;
    let deleted = expect(
        http(addr, "DELETE", "/v1/workflows/unused", &[], None).await?,
        200,
    )?;
    assert_eq!(deleted["deleted"], true, "{deleted}");
    expect_error(get(addr, "/v1/workflows/unused").await?, 404, "NOT_FOUND")?;

    // Approve over HTTP: the run completes; a second decision is 409.
    let run_id = start(addr, json!({ "v": 2 })).await?;
    let approval = pending_approval(addr, &run_id).await?;
    let approval_id = approval["id"].as_str().context("approval id")?;
    let decided = expect(
        post(
            addr,
            &format!("/v1/approvals/{approval_id}/approve"),
            json!({ "actor": "e2e", "comment": "go" }),
        )
        .await?,
        200,
    )?;
    assert_eq!(decided["status"], "APPROVED");
    expect_error(
        post(
            addr,
            &format!("/v1/approvals/{approval_id}/reject"),
            json!({}),
        )
        .await?,
        409,
        "ALREADY_DECIDED",
    )?;
    wait_for_status(addr, &run_id, "COMPLETED").await?;

    // Errors: unknown run, malformed JSON, unknown path, too large a body.
    let unknown = uuid::Uuid::now_v7().to_string();
    expect_error(
        get(addr, &format!("/v1/runs/{unknown}")).await?,
        404,
        "NOT_FOUND",
    )?;
    expect_error(
        http(addr, "POST", "/v1/runs", &[], Some(b"{\"workflow_id\": ")).await?,
        400,
        "INVALID_REQUEST",
    )?;
    expect_error(get(addr, "/v1/nothing-here").await?, 404, "NOT_FOUND")?;
    expect_error(
        http(
            addr,
            "POST",
            "/v1/workflows",
            &[("Content-Length", "50000000")],
            None,
        )
        .await?,
        413,
        "PAYLOAD_TOO_LARGE",
    )?;
    Ok(())
}

/// One SSE message.
#[derive(Debug)]
struct Message {
    id: i64,
    event: String,
    data: Value,
}

/// A client reading `text/event-stream` over a chunked response.
struct EventStream {
    reader: BufReader<TcpStream>,
    pending: String,
}

impl EventStream {
    async fn open(addr: &str, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut reader = connect(addr, "GET", path, headers, None).await?;
        let (status, headers) = read_head(&mut reader).await?;
        anyhow::ensure!(status == 200, "stream answered {status}");
        assert_eq!(header(&headers, "content-type"), Some("text/event-stream"));
        Ok(Self {
            reader,
            pending: String::new(),
        })
    }

    /// The next message; `None` when the stream ended. Comments (keep-alive)
    /// are skipped.
    async fn next(&mut self) -> anyhow::Result<Option<Message>> {
        loop {
            while let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse::<i64>()?);
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str::<Value>(v.trim())?);
                    }
                }
                if let (Some(id), Some(event), Some(data)) = (id, event, data) {
                    return Ok(Some(Message { id, event, data }));
                }
            }
            match tokio::time::timeout(WAIT, read_chunk(&mut self.reader)).await?? {
                Some(chunk) => self.pending.push_str(std::str::from_utf8(&chunk)?),
                None => return Ok(None),
            }
        }
    }
}

#[tokio::test]
async fn a_run_streams_its_events_as_server_sent_events() -> anyhow::Result<()> {
    let env = TestEnv::cluster(Registry::builtin(), 0).await?;
    let addr = env.coordinator_http().await?;
    let addr = addr.as_str();
    expect(
        post(addr, "/v1/workflows", json!({ "source": SHIP })).await?,
        201,
    )?;
    let run_id = start(addr, json!({ "v": 3 })).await?;
    let approval = pending_approval(addr, &run_id).await?;
    wait_for_status(addr, &run_id, "WAITING_APPROVAL").await?;
    let stored = expect(get(addr, &format!("/v1/runs/{run_id}/events")).await?, 200)?;
    let stored = stored["events"].as_array().cloned().unwrap_or_default();
    assert!(!stored.is_empty());

    // Stored events first, in order, with `id:` = seq.
    let path = format!("/v1/runs/{run_id}/stream");
    let mut stream = EventStream::open(addr, &path, &[]).await?;
    for (i, event) in stored.iter().enumerate() {
        let message = stream.next().await?.context("stream ended early")?;
        assert_eq!(message.id, i as i64 + 1);
        assert_eq!(message.id, event["seq"].as_i64().unwrap_or_default());
        assert_eq!(message.event, event["type"].as_str().unwrap_or_default());
        assert_eq!(&message.data, event);
    }
    let seen = stored.len() as i64;

    // Approve: the rest arrives live, and the stream ends after completion.
    let approval_id = approval["id"].as_str().context("approval id")?;
    expect(
        post(
            addr,
            &format!("/v1/approvals/{approval_id}/approve"),
            json!({ "actor": "e2e" }),
        )
        .await?,
        200,
    )?;
    let mut live = Vec::new();
    while let Some(message) = stream.next().await? {
        live.push(message);
    }
    let types: Vec<&str> = live.iter().map(|m| m.event.as_str()).collect();
    let ids: Vec<i64> = live.iter().map(|m| m.id).collect();
    let expected_ids: Vec<i64> = (seen + 1..=seen + live.len() as i64).collect();
    assert_eq!(ids, expected_ids, "{types:?}");
    let approved = types
        .iter()
        .position(|t| *t == "workflow.approval.approved")
        .with_context(|| format!("no approval event in {types:?}"))?;
    assert_eq!(types.last(), Some(&"workflow.run.completed"), "{types:?}");
    assert!(approved < types.len() - 1);
    for message in &live {
        assert_eq!(message.data["run_id"], run_id.as_str());
        assert_eq!(message.data["seq"], message.id);
    }

    // Reconnect after `seen`: only later events, then the end (the run ended).
    let last = seen.to_string();
    let mut again = EventStream::open(addr, &path, &[("Last-Event-ID", &last)]).await?;
    let mut replayed = Vec::new();
    while let Some(message) = again.next().await? {
        replayed.push(message.id);
    }
    assert_eq!(replayed, expected_ids);
    // `?after_seq=` does the same.
    let mut by_query =
        EventStream::open(addr, &format!("{path}?after_seq={}", seen + 1), &[]).await?;
    let first = by_query.next().await?.context("no event after seq")?;
    assert_eq!(first.id, seen + 2);

    // An unknown run is 404 before any stream starts.
    let unknown = uuid::Uuid::now_v7().to_string();
    expect_error(
        get(addr, &format!("/v1/runs/{unknown}/stream")).await?,
        404,
        "NOT_FOUND",
    )?;
    Ok(())
}
