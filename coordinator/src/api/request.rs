//! From an HTTP call to a control [`Request`]: the query's fields, the
//! tenant (`?tenant=`, `X-Junction-Tenant`, the body's `tenant`; an empty
//! query value or header counts as absent), the body
//! read up to its limit, and the bearer token checked (PROTOCOL §6) before
//! the body is read.

use super::Api;
use crate::control::Request;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use futures::StreamExt;
use junction_core::wire::control::{ControlError, ErrorCode, parse_request};
use serde_json::{Map, Value};

/// The header that names the tenant when `?tenant=` is absent.
pub const TENANT_HEADER: &str = "x-junction-tenant";

/// Query keys whose values are integers in the control requests.
const INTEGER_KEYS: &[&str] = &["limit", "after_seq", "version"];

fn percent_decode(text: &str) -> Result<String, ControlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ControlError::invalid("malformed percent-encoding in query"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ControlError::invalid("query is not UTF-8"))
}

/// Refuses a query that names a key the operation does not take (`allowed`,
/// besides `tenant`): a misspelled filter must not be ignored.
pub fn check_query_keys(raw: Option<&str>, allowed: &[&str]) -> Result<(), ControlError> {
    let pairs = raw.into_iter().flat_map(|q| q.split('&'));
    for pair in pairs.filter(|p| !p.is_empty()) {
        let key = percent_decode(pair.split_once('=').map_or(pair, |(k, _)| k))?;
        if key != "tenant" && !allowed.contains(&key.as_str()) {
            return Err(ControlError::invalid(format!(
                "unknown query parameter `{key}`"
            )));
        }
    }
    Ok(())
}

/// A tenant given as `source`: empty is absent (`None`), else it must match
/// `[A-Za-z0-9_.-]{1,64}`.
fn tenant_from(value: &str, source: &str) -> Result<Option<String>, ControlError> {
    if value.is_empty() {
        Ok(None)
    } else if junction_core::wire::signal::is_valid_tenant(value) {
        Ok(Some(value.to_owned()))
    } else {
        Err(ControlError::invalid(format!(
            "{source} {value:?} must match [A-Za-z0-9_.-]{{1,64}}"
        )))
    }
}

/// Parses a query string into request fields: integers for [`INTEGER_KEYS`]
/// (an empty one is refused), strings otherwise. An empty `tenant` is
/// absent (see [`request_fields`]).
pub fn query_fields(raw: Option<&str>) -> Result<Map<String, Value>, ControlError> {
    let mut fields = Map::new();
    let pairs = raw.into_iter().flat_map(|q| q.split('&'));
    for pair in pairs.filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key)?, percent_decode(value)?);
        let value = if INTEGER_KEYS.contains(&key.as_str()) {
            let n: i64 = value
                .parse()
                .map_err(|_| ControlError::invalid(format!("`{key}` must be an integer")))?;
            Value::from(n)
        } else {
            Value::String(value)
        };
        fields.insert(key, value);
    }
    Ok(fields)
}

/// The token of `Authorization: Bearer <token>`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Builds the control request of a call (PROTOCOL §6): with auth on, the
/// bearer token must be known (`UNAUTHENTICATED`, checked before anything
/// else) and list the request's tenant (`FORBIDDEN`). A `token` in the body
/// or query is ignored: HTTP takes tokens only as `Authorization: Bearer`.
pub fn authorized_request(
    api: &Api,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Request, ControlError> {
    let tokens = api.driver.auth.as_deref();
    let token = bearer(headers);
    if let Some(tokens) = tokens {
        tokens.caller(token)?;
    }
    Request::authorized(request_fields(headers, query, body)?, tokens, token)
}

/// The request of a call with a JSON body: the token is checked before the
/// body is read.
pub async fn body_request(
    api: &Api,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
) -> Result<Request, ControlError> {
    if let Some(tokens) = api.driver.auth.as_deref() {
        tokens.caller(bearer(headers))?;
    }
    let bytes = read_body(api, headers, body).await?;
    authorized_request(api, headers, query, &bytes)
}

/// Builds the control request, trusted as sent (auth off).
#[cfg(test)]
pub fn build_request(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Request, ControlError> {
    Request::new(request_fields(headers, query, body)?)
}

/// The fields of a call: body fields, then query fields (which win), then
/// the tenant from `?tenant=`, else `X-Junction-Tenant`, else the body's
/// `tenant` (as over NATS), else `default`. Each of the three is absent when
/// empty, and refused when it breaks the tenant pattern, even when another
/// one wins.
fn request_fields(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, ControlError> {
    let mut fields = parse_request(body)?;
    let mut query = query_fields(query)?;
    let header_tenant = match headers.get(TENANT_HEADER) {
        None => None,
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ControlError::invalid("X-Junction-Tenant is not valid text"))?;
            tenant_from(text, "X-Junction-Tenant")?
        }
    };
    let query_tenant = match query.remove("tenant") {
        None => None,
        Some(Value::String(t)) => tenant_from(&t, "?tenant=")?,
        Some(_) => return Err(ControlError::invalid("`tenant` must be a string")),
    };
    let body_tenant = match fields.remove("tenant") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => tenant_from(&t, "tenant")?,
        Some(_) => return Err(ControlError::invalid("`tenant` must be a string")),
    };
    fields.extend(query);
    if let Some(tenant) = query_tenant.or(header_tenant).or(body_tenant) {
        fields.insert("tenant".into(), Value::String(tenant));
    }
    Ok(fields)
}

/// Reads the body up to the payload limit (`limits.payload_bytes` plus room
/// for the envelope): a larger one (or a larger `Content-Length`) is
/// `PAYLOAD_TOO_LARGE`.
async fn read_body(api: &Api, headers: &HeaderMap, body: Body) -> Result<Bytes, ControlError> {
    let limit = api.driver.payload_limit + crate::control::ENVELOPE_BYTES;
    let too_large = || {
        ControlError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|error| {
            ControlError::invalid(format!("cannot read the request body: {error}"))
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queries_become_fields() {
        let fields = query_fields(Some("workflow_id=a%20b&limit=5&status=&x=1+2")).unwrap();
        assert_eq!(
            Value::Object(fields),
            json!({"workflow_id": "a b", "limit": 5, "status": "", "x": "1 2"})
        );
        assert!(query_fields(Some("limit=")).is_err());
        assert!(query_fields(Some("limit=abc")).is_err());
        assert!(query_fields(Some("a=%zz")).is_err());
        assert!(query_fields(None).unwrap().is_empty());
        assert!(check_query_keys(Some("limit=1&tenant=a"), &["limit"]).is_ok());
        assert!(check_query_keys(Some("limt=1"), &["limit"]).is_err());
    }

    #[test]
    fn the_tenant_comes_from_the_query_then_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert(TENANT_HEADER, "acme".parse().unwrap());
        let r = build_request(&headers, Some("tenant=other"), b"{}").unwrap();
        assert_eq!(r.tenant, "other");
        let r = build_request(&headers, None, b"{\"tenant\":\"body\"}").unwrap();
        assert_eq!(r.tenant, "acme");
        let r = build_request(&HeaderMap::new(), None, b"{\"tenant\":\"body\"}").unwrap();
        assert_eq!(r.tenant, "body");
        let r = build_request(&HeaderMap::new(), None, b"").unwrap();
        assert_eq!(r.tenant, "default");
        // Empty is absent, in the query and in the header alike.
        let mut empty = HeaderMap::new();
        empty.insert(TENANT_HEADER, "".parse().unwrap());
        let r = build_request(&empty, Some("tenant="), b"{\"tenant\":\"body\"}").unwrap();
        assert_eq!(r.tenant, "body");
        let r = build_request(&empty, None, b"").unwrap();
        assert_eq!(r.tenant, "default");
        // A bad tenant is refused wherever it is, even when another wins.
        let mut bad = HeaderMap::new();
        bad.insert(TENANT_HEADER, "no way".parse().unwrap());
        assert!(build_request(&bad, Some("tenant=ok"), b"").is_err());
        assert!(
            build_request(
                &HeaderMap::new(),
                Some("tenant=ok"),
                b"{\"tenant\":\"b d\"}"
            )
            .is_err()
        );
        assert!(build_request(&HeaderMap::new(), Some("tenant=b%20d"), b"").is_err());
        let bad = build_request(&HeaderMap::new(), None, b"{").map_err(|e| e.code);
        assert_eq!(bad.err(), Some(ErrorCode::InvalidRequest));
    }

    #[test]
    fn bearer_tokens_come_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "bearer  xyz ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("xyz"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
