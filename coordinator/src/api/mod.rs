//! The REST API (`/v1/…`, docs/http.md): the same behaviour as the NATS
//! control plane. Its routes come from the control plane's route table
//! (`control::routes`): one generic handler maps a call's method, path,
//! query, body and bearer token to the control [`Request`] and subject
//! (`request.rs`), calls the handler that answers the NATS subject, and
//! turns the reply into the response (`response.rs`). Besides the table,
//! `GET /v1/runs/{id}/stream` serves Server-Sent Events (`sse.rs`) and
//! `GET /v1/openapi.json` the API's description, generated from the same
//! table (`openapi.rs`), `views.rs` the web UI's read-only views
//! (`/v1/session`, a workflow's versions and graph), `publish.rs`
//! `POST /v1/signals/{type}`, a signal published over HTTP, and `tail.rs`
//! `GET /v1/events/stream`, every run's events live.

mod openapi;
mod publish;
mod request;
mod response;
mod sse;
mod tail;
mod views;

use crate::control::Request;
use crate::control::routes::{self, Http, Method, ROUTES};
use crate::driver::Driver;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get};
use junction_bus::{ControlSubject, ControlVerb};
use junction_core::wire::control::ControlError;
use response::{error_response, respond};
use serde_json::Value;
use std::collections::BTreeMap;
use tokio::sync::watch;

/// The OpenAPI document, rendered once.
fn openapi_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| serde_json::to_string_pretty(&openapi::document()).unwrap_or_default())
}

#[derive(Clone)]
pub struct Api {
    pub driver: Driver,
    /// Flips at shutdown: open event streams end.
    pub stop: watch::Receiver<bool>,
}

/// Every `/v1` route: the route table's HTTP twins, the event stream and
/// the OpenAPI document.
pub fn router(driver: Driver, stop: watch::Receiver<bool>) -> Router {
    let mut paths: BTreeMap<&'static str, Vec<(ControlVerb, &'static Http)>> = BTreeMap::new();
    for route in &ROUTES {
        for http in route.http {
            paths.entry(http.path).or_default().push((route.verb, http));
        }
    }
    let router = Router::new()
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/runs/{id}/stream", get(sse::stream))
        .route("/v1/events/stream", get(tail::stream))
        .route("/v1/session", get(views::session))
        .route("/v1/signals/{type}", axum::routing::post(publish::publish))
        .route("/v1/workflows/{id}/versions", get(views::versions))
        .route("/v1/workflows/{id}/graph", get(views::graph));
    paths
        .into_iter()
        .fold(router, |router, (path, endpoints)| {
            let methods = endpoints
                .into_iter()
                .fold(MethodRouter::new(), |methods, (verb, http)| {
                    with_endpoint(methods, verb, http.method, http.has_id())
                });
            router.route(path, methods)
        })
        .with_state(Api { driver, stop })
}

fn filter(method: Method) -> MethodFilter {
    match method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Delete => MethodFilter::DELETE,
    }
}

/// Adds the endpoint of `verb` for `method` (whose path names an id when `has_id`).
fn with_endpoint(
    methods: MethodRouter<Api>,
    verb: ControlVerb,
    method: Method,
    has_id: bool,
) -> MethodRouter<Api> {
    if has_id {
        methods.on(
            filter(method),
            move |State(api): State<Api>,
                  Path(id): Path<String>,
                  headers: HeaderMap,
                  RawQuery(query): RawQuery,
                  body: Body| {
                call(api, verb, method, Some(id), headers, query, body)
            },
        )
    } else {
        methods.on(
            filter(method),
            move |State(api): State<Api>,
                  headers: HeaderMap,
                  RawQuery(query): RawQuery,
                  body: Body| { call(api, verb, method, None, headers, query, body) },
        )
    }
}

/// One call of a control verb over HTTP: the request (the token first, then
/// the body of `POST` and `PUT`), the subject, the handler, the response.
async fn call(
    api: Api,
    verb: ControlVerb,
    method: Method,
    path_id: Option<String>,
    headers: HeaderMap,
    query: Option<String>,
    body: Body,
) -> Response {
    let allowed = openapi::query_keys(verb, method, path_id.is_some());
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    if let Err(error) = request::check_query_keys(query.as_deref(), &allowed) {
        return error_response(&error);
    }
    let request = if method.has_body() {
        request::body_request(&api, &headers, query.as_deref(), body).await
    } else {
        request::authorized_request(&api, &headers, query.as_deref(), b"")
    };
    let mut request = match request {
        Ok(request) => request,
        Err(error) => return error_response(&error),
    };
    // The path's id becomes the subject's or the `id` field, after the
    // request's own check: refused here if it holds NUL.
    let subject = crate::control::check_subject_id(path_id.as_deref())
        .and_then(|()| subject_of(verb, path_id, &mut request));
    match subject {
        Ok(subject) => respond(routes::dispatch(&api.driver, &subject, &request).await),
        Err(error) => error_response(&error),
    }
}

/// The subject of a call: the path's id is the subject's for a verb that
/// names one, else the request's `id` field (whatever the body or query said).
fn subject_of(
    verb: ControlVerb,
    path_id: Option<String>,
    request: &mut Request,
) -> Result<ControlSubject, ControlError> {
    let subject = match path_id {
        Some(id) if verb.takes_id() => verb.with_id(id),
        Some(id) => {
            request.fields.insert("id".into(), Value::String(id));
            verb.without_id()
        }
        None => verb.without_id(),
    };
    subject.ok_or_else(|| {
        ControlError::internal(format!(
            "the HTTP route of `{}` does not fit its path",
            verb.pattern()
        ))
    })
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from_static(openapi_text().as_bytes()),
    )
        .into_response()
}

/// `404` for a path no route matches, in the API's error shape.
pub async fn not_found() -> Response {
    error_response(&ControlError::not_found("no such endpoint"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_is_json() {
        let doc: Value = serde_json::from_str(openapi_text()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/v1/runs/{id}/stream"].is_object());
    }

    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: Value = serde_json::from_str(openapi_text()).unwrap();
        let mut ids = std::collections::HashSet::new();
        for http in ROUTES.iter().flat_map(|r| r.http) {
            let method = format!("{:?}", http.method).to_ascii_lowercase();
            let op = &doc["paths"][http.path][&method];
            assert!(op.is_object(), "{method} {} is not documented", http.path);
            assert!(ids.insert(op["operationId"].clone()), "{op}");
            let params = op["parameters"].as_array().unwrap();
            let path_params = params.iter().filter(|p| p["in"] == "path").count();
            assert_eq!(
                path_params,
                usize::from(http.has_id()),
                "{method} {}",
                http.path
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {}",
                http.path
            );
            for (status, response) in responses {
                let schema = &response["content"]["application/json"]["schema"];
                assert!(
                    schema["$ref"].is_string(),
                    "{method} {} {status}: a bare schema",
                    http.path
                );
            }
            if method != "get" {
                assert!(responses.contains_key("400"), "{method} {}", http.path);
            }
        }
        // Every reference resolves.
        let text = openapi_text();
        for piece in text.split("\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{name}");
        }
    }
}
