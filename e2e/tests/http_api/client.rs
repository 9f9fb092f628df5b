//! A minimal HTTP/1.1 client over a raw TCP stream: requests with headers
//! and a body, responses with a length, chunked or read to the end.

use anyhow::Context;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    /// Names lowercased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl HttpResponse {
    pub(crate) fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.body).with_context(|| format!("not JSON: {}", self.body))
    }
}

/// Reads the status line and headers; returns the status and the headers
/// (names lowercased).
pub(crate) async fn read_head(
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

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Reads one chunk of a chunked body; `None` at the last chunk.
pub(crate) async fn read_chunk(
    reader: &mut BufReader<TcpStream>,
) -> anyhow::Result<Option<Vec<u8>>> {
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

pub(crate) async fn connect(
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

pub(crate) async fn http(
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
        headers,
        body: String::from_utf8(bytes)?,
    })
}

pub(crate) async fn get(addr: &str, path: &str) -> anyhow::Result<HttpResponse> {
    http(addr, "GET", path, &[], None).await
}

pub(crate) async fn post(addr: &str, path: &str, body: Value) -> anyhow::Result<HttpResponse> {
    http(addr, "POST", path, &[], Some(&serde_json::to_vec(&body)?)).await
}

/// Asserts the status and returns the JSON body.
pub(crate) fn expect(response: HttpResponse, status: u16) -> anyhow::Result<Value> {
    anyhow::ensure!(
        response.status == status,
        "expected {status}, got {}: {}",
        response.status,
        response.body
    );
    response.json()
}

/// Asserts an error response: status and code.
pub(crate) fn expect_error(
    response: HttpResponse,
    status: u16,
    code: &str,
) -> anyhow::Result<Value> {
    let body = expect(response, status)?;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    Ok(body)
}
