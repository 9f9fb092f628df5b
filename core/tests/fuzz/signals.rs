//! CloudEvents: valid structured and binary events mutated (attributes
//! dropped, retyped, renamed, `data` and `data_base64` swapped, nested deep),
//! random trees and bytes as bodies, random `ce-*` headers, under random
//! size limits.

use crate::inputs::{self, TreeEdit};
use junction_core::wire::signal::{
    MAX_SIGNAL_ID_CHARS, Rejection, is_valid_tenant, parse, parse_message,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const TYPE: &str = "order.created";

/// One message on `signals.order.created`: its body, its headers and the
/// size limit it is checked against.
#[derive(Debug, Clone)]
pub struct Message {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub max_bytes: usize,
}

fn valid_event() -> impl Strategy<Value = Value> {
    (
        prop::option::of(inputs::tree()),
        prop::option::of("[A-Za-z0-9_.-]{1,64}"),
        any::<bool>(),
    )
        .prop_map(|(data, tenant, base64)| {
            let mut event = json!({
                "specversion": "1.0",
                "id": "e-1",
                "source": "fuzz",
                "type": TYPE,
                "subject": "run:abc",
                "correlationid": "c-1",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            });
            if let Some(tenant) = tenant {
                event["tenant"] = Value::from(tenant);
            }
            let data = data.map(|d| json!({ "d": d }));
            match (data, base64) {
                (Some(data), true) => {
                    use base64::Engine as _;
                    let bytes = serde_json::to_vec(&data).unwrap_or_default();
                    event["data_base64"] =
                        Value::from(base64::engine::general_purpose::STANDARD.encode(bytes));
                }
                (Some(data), false) => event["data"] = data,
                (None, _) => {}
            }
            event
        })
}

fn structured() -> impl Strategy<Value = (Vec<u8>, Vec<(String, String)>)> {
    prop_oneof![
        4 => (valid_event(), inputs::tree_edits())
            .prop_map(|(mut event, edits): (Value, Vec<TreeEdit>)| {
                inputs::apply_tree_edits(&mut event, &edits);
                (serde_json::to_vec(&event).unwrap_or_default(), Vec::new())
            }),
        2 => valid_event().prop_map(|e| (serde_json::to_vec(&e).unwrap_or_default(), Vec::new())),
        1 => (inputs::depth(), any::<bool>()).prop_map(|(depth, objects)| {
            let event = json!({"specversion": "1.0", "id": "e", "source": "s", "type": TYPE,
                "data": {"deep": inputs::nest(json!(1), depth, objects)}});
            (serde_json::to_vec(&event).unwrap_or_default(), Vec::new())
        }),
        1 => inputs::deep_text().prop_map(|t| (t.into_bytes(), Vec::new())),
        1 => inputs::bytes().prop_map(|b| (b, Vec::new())),
    ]
}

/// A header name: a CloudEvents attribute in any case, `content-type`, or
/// something else.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["ce-specversion", "CE-SpecVersion", "ce-id", "ce-source",
            "ce-type", "ce-tenant", "ce-subject", "ce-data", "ce-Data_Base64", "ce-", "ce-é",
            "content-type", "Content-Type", "nats-msg-id", "ce-traceparent"]).prop_map(str::to_owned),
        1 => "ce-[a-z0-9]{1,8}",
        1 => ".{0,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["1.0", "e-1", "src", TYPE, "application/json",
            "text/plain", "application/cloudevents+json; charset=utf-8", "run:x", "%", "%ff%fe",
            "%7B%7D", "", "default"]).prop_map(str::to_owned),
        1 => ".{0,40}",
    ]
}

fn binary() -> impl Strategy<Value = (Vec<u8>, Vec<(String, String)>)> {
    let base = vec![
        ("ce-specversion".to_owned(), "1.0".to_owned()),
        ("ce-id".to_owned(), "e-1".to_owned()),
        ("ce-source".to_owned(), "src".to_owned()),
        ("ce-type".to_owned(), TYPE.to_owned()),
    ];
    let body = prop_oneof![
        3 => inputs::tree().prop_map(|t| serde_json::to_vec(&t).unwrap_or_default()),
        1 => inputs::deep_text().prop_map(String::into_bytes),
        1 => inputs::bytes(),
        1 => Just(b"  \n".to_vec()),
    ];
    (
        body,
        prop::collection::vec((header_name(), header_value()), 0..6),
        prop::collection::vec(any::<usize>(), 0..3),
    )
        .prop_map(move |(body, extra, drops)| {
            let mut headers = base.clone();
            for drop in drops {
                if !headers.is_empty() {
                    headers.remove(drop % headers.len());
                }
            }
            headers.extend(extra);
            (body, headers)
        })
}

pub fn message() -> impl Strategy<Value = Message> {
    let limit = prop_oneof![
        4 => Just(256 * 1024),
        1 => 0usize..512,
    ];
    (prop_oneof![structured(), binary()], limit).prop_map(|((body, headers), max_bytes)| Message {
        body,
        headers,
        max_bytes,
    })
}

/// Accepted events are well formed; refused ones have a known reason; an
/// accepted event's stored envelope is itself accepted as the same signal.
pub fn check(message: Message) -> Result<(), TestCaseError> {
    let headers: Vec<(&str, &str)> = message
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let result = parse_message(&message.body, &headers, TYPE, message.max_bytes);
    let binary = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("ce-specversion"));
    let size = message.body.len()
        + if binary {
            headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
        } else {
            0
        };
    match result {
        Err(rejection) => {
            prop_assert!(Rejection::ALL.contains(&rejection));
            prop_assert_eq!(rejection == Rejection::TooLarge, size > message.max_bytes);
        }
        Ok(signal) => {
            prop_assert!(size <= message.max_bytes);
            prop_assert_eq!(signal.signal_type.as_str(), TYPE);
            prop_assert!(!signal.id.is_empty() && signal.id.chars().count() <= MAX_SIGNAL_ID_CHARS);
            prop_assert!(!signal.source.is_empty());
            prop_assert!(signal.data.is_object());
            prop_assert!(is_valid_tenant(&signal.tenant));
            prop_assert!(!signal.correlation_id.is_empty());
            let stored = serde_json::to_vec(&signal.envelope)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let again = parse(&stored, TYPE, usize::MAX);
            prop_assert_eq!(again.as_ref().ok(), Some(&signal), "{:?}", again);
        }
    }
    Ok(())
}
