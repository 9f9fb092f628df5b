//! A run's events as server-sent events: stored ones first, live ones after,
//! the end after completion, and reconnects that get only later events.

use crate::client::{connect, expect, expect_error, get, header, post, read_chunk, read_head};
use crate::{WAIT, pending_approval, start, wait_for_status};
use anyhow::Context;
use junction_e2e::{SHIP, TestEnv};
use junction_example_agents::Registry;
use serde_json::{Value, json};
use tokio::io::BufReader;
use tokio::net::TcpStream;

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
    let path = format!("/v1/runs/{run_id}/stream");
    let mut stream = EventStream::open(addr, &path, &[]).await?;
    stored_events_come_first(&mut stream, &stored).await?;
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
    let expected_ids = live_events_follow_until_the_end(&mut stream, &run_id, seen).await?;
    reconnecting_gets_only_later_events(addr, &path, seen, &expected_ids).await?;

    // An unknown run is 404 before any stream starts.
    let unknown = uuid::Uuid::now_v7().to_string();
    expect_error(
        get(addr, &format!("/v1/runs/{unknown}/stream")).await?,
        404,
        "NOT_FOUND",
    )?;
    Ok(())
}

/// Stored events first, in order, with `id:` = seq.
async fn stored_events_come_first(
    stream: &mut EventStream,
    stored: &[Value],
) -> anyhow::Result<()> {
    for (i, event) in stored.iter().enumerate() {
        let message = stream.next().await?.context("stream ended early")?;
        assert_eq!(message.id, i as i64 + 1);
        assert_eq!(message.id, event["seq"].as_i64().unwrap_or_default());
        assert_eq!(message.event, event["type"].as_str().unwrap_or_default());
        assert_eq!(&message.data, event);
    }
    Ok(())
}

/// After the approval the rest arrives live, numbered on from `seen`, and the
/// stream ends after `workflow.run.completed`; returns the ids that came.
async fn live_events_follow_until_the_end(
    stream: &mut EventStream,
    run_id: &str,
    seen: i64,
) -> anyhow::Result<Vec<i64>> {
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
        assert_eq!(message.data["run_id"], run_id);
        assert_eq!(message.data["seq"], message.id);
    }
    Ok(expected_ids)
}

/// Reconnect after `seen`: only later events, then the end (the run ended).
async fn reconnecting_gets_only_later_events(
    addr: &str,
    path: &str,
    seen: i64,
    expected_ids: &[i64],
) -> anyhow::Result<()> {
    let last = seen.to_string();
    let mut again = EventStream::open(addr, path, &[("Last-Event-ID", &last)]).await?;
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
    Ok(())
}
