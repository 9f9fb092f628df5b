//! The web UI (docs/ui.md): static files under `coordinator/ui/`, embedded
//! in the binary at build time, served at `/ui/` (the page) and
//! `/ui/<file>` (its scripts and styles). No Node toolchain is involved;
//! the page calls the `/v1` API from the browser. Every response forbids
//! loading anything from another origin (`Content-Security-Policy`), so
//! the UI works offline and a stored value cannot inject a script.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The embedded files: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/api.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../ui/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/app.js"),
    ),
    (
        "approvals.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/approvals.js"),
    ),
    (
        "dialog.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/dialog.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/dom.js"),
    ),
    (
        "graph.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/graph.js"),
    ),
    (
        "layout.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/layout.js"),
    ),
    (
        "publish.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/publish.js"),
    ),
    (
        "run.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/run.js"),
    ),
    (
        "runs.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/runs.js"),
    ),
    (
        "signin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/signin.js"),
    ),
    (
        "tail.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/tail.js"),
    ),
    (
        "timeline.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/timeline.js"),
    ),
    (
        "workflows.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/workflows.js"),
    ),
];

/// The page itself; `{TRACE_URL}` is filled at start-up.
const INDEX: &str = include_str!("../ui/index.html");

/// Nothing from another origin, no inline script or style, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The `/ui` routes. `trace_url` (`coordinator.trace_url`) becomes the
/// page's `data-trace-url`, the link template of a run's trace.
pub fn routes<S: Clone + Send + Sync + 'static>(trace_url: Option<&str>) -> Router<S> {
    let page = page(trace_url);
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route(
            "/ui/",
            get(move || {
                let page = page.clone();
                async move { respond("text/html; charset=utf-8", page.into_bytes()) }
            }),
        )
        .route("/ui/{file}", get(asset))
}

/// The page with the trace link template on its `<body>`.
fn page(trace_url: Option<&str>) -> String {
    let attribute = trace_url
        .map(|url| format!(" data-trace-url=\"{}\"", escape_attribute(url)))
        .unwrap_or_default();
    INDEX.replacen("<body", &format!("<body{attribute}"), 1)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => respond(content_type, bytes.to_vec()),
        None => crate::api::not_found().await,
    }
}

fn respond(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Not fingerprinted: a new release must be fetched again.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Text safe inside a double-quoted HTML attribute.
fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_link_template_is_an_escaped_body_attribute() {
        let with_link = page(Some("http://g/explore?a=\"{trace_id}\"&b=<x>"));
        assert!(
            with_link.contains(
                "<body data-trace-url=\"http://g/explore?a=&quot;{trace_id}&quot;&amp;b=&lt;x&gt;\""
            ),
            "{with_link}"
        );
        assert!(!page(None).contains("data-trace-url"));
    }

    #[test]
    fn every_file_of_the_ui_directory_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name != "index.html")
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|(n, _, _)| (*n).to_owned()).collect();
        embedded.sort();
        assert_eq!(files, embedded, "update ASSETS in coordinator/src/ui.rs");
    }

    #[test]
    fn every_script_the_page_loads_is_embedded_and_nothing_comes_from_another_host() {
        for (name, _, bytes) in ASSETS {
            let text = String::from_utf8_lossy(bytes);
            for scheme in ["http://", "https://", "//cdn"] {
                assert!(
                    !text.contains(&format!("src=\"{scheme}"))
                        && !text.contains(&format!("href=\"{scheme}"))
                        && !text.contains(&format!("url({scheme}")),
                    "{name} loads from another host"
                );
            }
        }
        for reference in INDEX
            .split(['"', '\''])
            .filter(|part| part.ends_with(".js") || part.ends_with(".css"))
        {
            assert!(
                ASSETS.iter().any(|(name, _, _)| *name == reference),
                "index.html loads {reference}, which is not embedded"
            );
        }
    }
}
