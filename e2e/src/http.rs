//! Plain HTTP/1.1 against a cluster's coordinators, found through
//! `cluster.members`.

use crate::TestEnv;
use anyhow::Context;
use junction_bus::ControlSubject;
use serde_json::json;

impl TestEnv {
    /// The coordinator's HTTP address from `cluster.members`.
    pub async fn coordinator_http(&self) -> anyhow::Result<String> {
        let reply = self
            .control(ControlSubject::ClusterMembers, json!({}))
            .await?;
        let members = reply["members"]
            .as_array()
            .with_context(|| format!("no members in {reply}"))?;
        let addr = members
            .iter()
            .find(|m| m["role"] == "coordinator")
            .and_then(|m| m["http_addr"].as_str());
        Ok(addr.context("coordinator http_addr")?.to_owned())
    }

    /// Every live coordinator's HTTP address from `cluster.members`.
    pub async fn coordinator_http_addrs(&self) -> anyhow::Result<Vec<String>> {
        let reply = self
            .control(ControlSubject::ClusterMembers, json!({}))
            .await?;
        Ok(junction_core::wire::control::coordinator_http_addrs(&reply))
    }

    /// A plain HTTP/1.1 GET against the coordinator; returns the body.
    pub async fn http_get(&self, path: &str) -> anyhow::Result<String> {
        let addr = self.coordinator_http().await?;
        http_get_at(&addr, path).await
    }
}

/// A plain HTTP/1.1 GET against `addr`; returns the body.
pub async fn http_get_at(addr: &str, path: &str) -> anyhow::Result<String> {
    Ok(http_get_status_at(addr, path).await?.1)
}

/// A plain HTTP/1.1 GET against `addr`; returns the status code and the body.
pub async fn http_get_status_at(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    exchange(addr, &format!("GET {path}"), request).await
}

/// A plain HTTP/1.1 POST of a JSON `body` against `addr`; returns the
/// status code and the body.
pub async fn http_post_status_at(
    addr: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<(u16, String)> {
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, &format!("POST {path}"), request).await
}

/// Sends `request` and reads the response to the connection's close.
async fn exchange(addr: &str, what: &str, request: String) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .with_context(|| format!("{what}: no body in {response:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("{what}: no status in {head:?}"))?;
    Ok((status, body.to_owned()))
}
