//! `llm` against the chat-completions stub of the test server.

use super::*;
use crate::executor::test_server::Server;

const LIMIT: usize = 64 * 1024;

fn executor(server: &Server, mode: &str, key: Option<&str>) -> LlmExecutor {
    let http = HttpExecutor::new("", LIMIT).expect("a client");
    let base = server.url(&format!("/{mode}/"));
    LlmExecutor::new(&http, Some(&base), key.map(str::to_owned), LIMIT).expect("an executor")
}

async fn run(llm: &LlmExecutor, input: Value) -> Outcome {
    llm.run(&input, Utc::now() + chrono::Duration::seconds(60))
        .await
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
async fn a_prompt_becomes_one_user_message_and_the_key_is_sent_as_bearer() {
    let server = Server::start().await;
    let llm = executor(&server, "v1", Some("sk-test"));
    let reply = output(run(&llm, json!({"model": "tiny", "prompt": "Hello"})).await);
    assert_eq!(
        reply,
        json!({"content": "Hello back", "model": "tiny-served",
               "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
    );
    let (headers, request) = server.last_chat().expect("the stub was called");
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some("Bearer sk-test")
    );
    assert_eq!(
        request,
        json!({"model": "tiny", "messages": [{"role": "user", "content": "Hello"}]})
    );
}

#[tokio::test]
async fn messages_temperature_and_max_tokens_are_forwarded_as_given() {
    let server = Server::start().await;
    let llm = executor(&server, "v1", None);
    let messages = json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"}
    ]);
    let input =
        json!({"model": "tiny", "messages": messages, "temperature": 0.2, "max_tokens": 16});
    output(run(&llm, input).await);
    let (headers, request) = server.last_chat().expect("the stub was called");
    assert_eq!(
        request,
        json!({"model": "tiny", "messages": messages, "temperature": 0.2, "max_tokens": 16})
    );
    assert!(headers.get("authorization").is_none(), "no key, no header");
}

#[tokio::test]
async fn a_server_error_is_a_retryable_http_status() {
    let server = Server::start().await;
    let llm = executor(&server, "down", Some("sk-test"));
    let failed = error(run(&llm, json!({"model": "tiny", "prompt": "Hi"})).await);
    assert_eq!(failed.code, codes::HTTP_STATUS);
    assert_eq!(failed.retryable, Some(true));
    assert_eq!(
        failed.details,
        Some(json!({"status": 500, "body": {"error": {"message": "overloaded"}}}))
    );
    assert!(!failed.message.contains("sk-test"));
}

#[tokio::test]
async fn a_reply_that_is_not_a_chat_completion_is_a_bad_reply() {
    let server = Server::start().await;
    for (mode, fragment) in [
        ("garbage", "not JSON"),
        ("shapeless", "no choices[0].message"),
    ] {
        let llm = executor(&server, mode, None);
        let failed = error(run(&llm, json!({"model": "tiny", "prompt": "Hi"})).await);
        assert_eq!(failed.code, codes::LLM_BAD_REPLY, "{mode}");
        assert!(
            failed.message.contains(fragment),
            "{mode}: {}",
            failed.message
        );
    }
}

#[tokio::test]
async fn without_a_base_url_the_step_fails_for_good() {
    let http = HttpExecutor::new("", LIMIT).expect("a client");
    let llm = LlmExecutor::new(&http, None, None, LIMIT).expect("an executor");
    let failed = error(run(&llm, json!({"model": "tiny", "prompt": "Hi"})).await);
    assert_eq!(failed.code, codes::EXECUTOR_NOT_CONFIGURED);
    assert_eq!(failed.retryable, Some(false));
    assert!(failed.message.contains("JUNCTION_EXECUTORS__LLM__BASE_URL"));
}

#[tokio::test]
async fn malformed_input_is_refused_before_any_call() {
    let server = Server::start().await;
    let llm = executor(&server, "v1", None);
    for (input, fragment) in [
        (json!({"prompt": "Hi"}), "`model` is required"),
        (json!({"model": "m"}), "`prompt` or `messages` is required"),
        (
            json!({"model": "m", "prompt": "a", "messages": [{"role": "user"}]}),
            "not both",
        ),
        (json!({"model": "m", "messages": []}), "non-empty array"),
        (
            json!({"model": "m", "messages": [{"content": "x"}]}),
            "`role`",
        ),
        (
            json!({"model": "m", "prompt": "a", "temperature": "hot"}),
            "`temperature`",
        ),
        (
            json!({"model": "m", "prompt": "a", "max_tokens": 0}),
            "`max_tokens`",
        ),
    ] {
        let failed = error(run(&llm, input.clone()).await);
        assert_eq!(failed.code, codes::INVALID_INPUT, "{input}");
        assert!(
            failed.message.contains(fragment),
            "{input}: {}",
            failed.message
        );
    }
    assert_eq!(server.hits(), 0);
}
