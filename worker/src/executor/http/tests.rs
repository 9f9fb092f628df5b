//! `http.request` against an axum server started by each test.

use super::*;
use crate::executor::test_server::{Server, big_body};
use junction_core::status::StepStatus;
use serde_json::json;

const LIMIT: usize = 64 * 1024;

fn executor(allow_hosts: &str) -> HttpExecutor {
    HttpExecutor::new(allow_hosts, LIMIT).expect("a client")
}

fn in_a_minute() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(60)
}

async fn run(executor: &HttpExecutor, input: Value) -> Outcome {
    executor.run(&input, in_a_minute()).await
}

fn output(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Succeeded { output, .. } => output,
        other => panic!("expected a success, got {other:?}"),
    }
}

fn error(outcome: Outcome) -> ErrorInfo {
    match outcome {
        Outcome::Failed { error, .. } => error,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn methods_headers_and_a_json_body_reach_the_server_and_json_comes_back() {
    let server = Server::start().await;
    let http = executor("");
    let reply = output(
        run(
            &http,
            json!({"url": server.url("/echo"), "method": "post",
                   "headers": {"x-trace": "abc"}, "body": {"a": [1, 2]}}),
        )
        .await,
    );
    assert_eq!(reply["status"], 200);
    assert_eq!(reply["headers"]["content-type"], "application/json");
    assert_eq!(reply["body"]["method"], "POST");
    assert_eq!(reply["body"]["headers"]["x-trace"], "abc");
    assert_eq!(reply["body"]["headers"]["content-type"], "application/json");
    assert_eq!(reply["body"]["body"], r#"{"a":[1,2]}"#);
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let reply = output(run(&http, json!({"url": server.url("/echo"), "method": method})).await);
        assert_eq!(reply["body"]["method"], method);
    }
}

#[tokio::test]
async fn a_string_body_is_sent_as_is_and_text_comes_back_as_text() {
    let server = Server::start().await;
    let http = executor("");
    let reply = output(
        run(
            &http,
            json!({"url": server.url("/echo"), "method": "POST", "body": "plain words",
                   "headers": {"content-type": "text/plain"}}),
        )
        .await,
    );
    assert_eq!(reply["body"]["body"], "plain words");
    assert_eq!(reply["body"]["headers"]["content-type"], "text/plain");
    let text = output(run(&http, json!({"url": server.url("/text")})).await);
    assert_eq!(text["body"], "just text");
    assert_eq!(text["headers"]["content-type"], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn a_client_error_status_fails_for_good_and_429_or_5xx_may_be_retried() {
    let server = Server::start().await;
    let http = executor("");
    let not_found = error(run(&http, json!({"url": server.url("/status/404")})).await);
    assert_eq!(not_found.code, codes::HTTP_STATUS);
    assert_eq!(not_found.retryable, Some(false));
    assert_eq!(
        not_found.details,
        Some(json!({"status": 404, "body": "status 404"}))
    );
    for status in [429, 503] {
        let failed = error(
            run(
                &http,
                json!({"url": server.url(&format!("/status/{status}"))}),
            )
            .await,
        );
        assert_eq!(failed.code, codes::HTTP_STATUS);
        assert_eq!(failed.retryable, Some(true), "{status}");
        assert_eq!(
            failed.details.map(|d| d["status"].clone()),
            Some(json!(status))
        );
    }
}

#[tokio::test]
async fn the_allow_list_admits_listed_hosts_and_refuses_the_rest() {
    let server = Server::start().await;
    let allowed = executor("127.0.0.1");
    let reply = output(run(&allowed, json!({"url": server.url("/text")})).await);
    assert_eq!(reply["status"], 200);
    let refused = executor("api.example.com");
    let refusal = error(run(&refused, json!({"url": server.url("/text")})).await);
    assert_eq!(refusal.code, codes::EXECUTOR_FORBIDDEN);
    assert_eq!(refusal.retryable, Some(false));
    assert_eq!(server.hits(), 1, "a refused host is never called");
    // A wildcard admits a subdomain (which then fails to resolve) but not
    // the domain itself.
    let wildcard = executor("*.example.invalid");
    let unresolved = error(run(&wildcard, json!({"url": "http://api.example.invalid/"})).await);
    assert_eq!(unresolved.code, codes::HTTP_UNAVAILABLE);
    assert_ne!(unresolved.retryable, Some(false));
    let bare = error(run(&wildcard, json!({"url": "http://example.invalid/"})).await);
    assert_eq!(bare.code, codes::EXECUTOR_FORBIDDEN);
}

#[tokio::test]
async fn an_empty_list_still_refuses_link_local_and_metadata_hosts() {
    let http = executor("");
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ] {
        let refusal = error(run(&http, json!({"url": url})).await);
        assert_eq!(refusal.code, codes::EXECUTOR_FORBIDDEN, "{url}");
    }
}

#[tokio::test]
async fn a_redirect_to_a_host_off_the_list_is_refused() {
    let server = Server::start().await;
    let http = executor("127.0.0.1");
    let to_localhost = format!("/redirect?http://localhost:{}/text", server.port());
    let refusal = error(run(&http, json!({"url": server.url(&to_localhost)})).await);
    assert_eq!(refusal.code, codes::EXECUTOR_FORBIDDEN);
    assert!(refusal.message.contains("localhost"), "{}", refusal.message);
    let to_itself = format!("/redirect?{}", server.url("/text"));
    let followed = output(run(&http, json!({"url": server.url(&to_itself)})).await);
    assert_eq!(followed["body"], "just text");
}

#[tokio::test]
async fn no_complete_response_by_the_timeout_is_a_step_timeout() {
    let server = Server::start().await;
    let http = executor("");
    let outcome = run(
        &http,
        json!({"url": server.url("/hang"), "timeoutSeconds": 0.3}),
    )
    .await;
    match outcome {
        Outcome::Failed { status, error } => {
            assert_eq!(status, StepStatus::TimedOut);
            assert_eq!(error.code, codes::STEP_TIMEOUT);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn bodies_over_the_payload_limit_are_refused_both_ways() {
    let server = Server::start().await;
    let http = executor("");
    let request =
        json!({"url": server.url("/echo"), "method": "POST", "body": big_body(LIMIT + 1)});
    let refused = error(run(&http, request).await);
    assert_eq!(refused.code, codes::PAYLOAD_TOO_LARGE);
    assert_eq!(server.hits(), 0, "an oversized request is never sent");
    for path in ["/big", "/big-stream"] {
        let url = server.url(&format!("{path}?{}", LIMIT + 1));
        let too_large = error(run(&http, json!({"url": url})).await);
        assert_eq!(too_large.code, codes::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(too_large.retryable, Some(false));
    }
    let url = server.url(&format!("/big-stream?{LIMIT}"));
    let at_the_limit = output(run(&http, json!({"url": url})).await);
    assert_eq!(at_the_limit["body"].as_str().map(str::len), Some(LIMIT));
}

#[tokio::test]
async fn malformed_input_is_refused_before_any_call() {
    let http = executor("");
    for (input, fragment) in [
        (json!({}), "`url` is required"),
        (json!({"url": 5}), "`url` must be a string"),
        (json!({"url": "not a url"}), "is not a URL"),
        (json!({"url": "ftp://example.com/"}), "http:// or https://"),
        (
            json!({"url": "http://example.com/", "method": "FETCH"}),
            "`method`",
        ),
        (
            json!({"url": "http://example.com/", "headers": {"x": 1}}),
            "`headers.x`",
        ),
        (
            json!({"url": "http://example.com/", "headers": {"bad name": "v"}}),
            "header name",
        ),
        (
            json!({"url": "http://example.com/", "timeoutSeconds": -1}),
            "timeoutSeconds",
        ),
        (json!("http://example.com/"), "must be an object"),
    ] {
        let refused = error(run(&http, input.clone()).await);
        assert_eq!(refused.code, codes::INVALID_INPUT, "{input}");
        assert_eq!(refused.retryable, Some(false));
        assert!(
            refused.message.contains(fragment),
            "{input}: {}",
            refused.message
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_and_retryable() {
    let port = Server::unused_port().await;
    let http = executor("");
    let failed = error(run(&http, json!({"url": format!("http://127.0.0.1:{port}/")})).await);
    assert_eq!(failed.code, codes::HTTP_UNAVAILABLE);
    assert_eq!(failed.retryable, Some(true));
}
