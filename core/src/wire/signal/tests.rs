//! Signal validation: both content modes, every rejection reason.

use super::content::{decode_base64, percent_decode};
use super::*;
use serde_json::json;

fn body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).expect("serializable")
}

#[test]
fn a_valid_signal_parses_with_defaults() {
    let s = parse(&body(json!({"specversion":"1.0","id":"e1","source":"test","type":"order.created","data":{"a":1}})), "order.created", 1024)
        .expect("valid");
    assert_eq!(
        (s.tenant.as_str(), s.correlation_id.as_str()),
        ("default", "e1")
    );
    assert_eq!(s.data, json!({"a":1}));
    let s = parse(&body(json!({"specversion":"1.0","id":"e1","source":"t","type":"x","tenant":"acme","correlationid":"c9","subject":"run:r1"})), "x", 1024)
        .expect("valid");
    assert_eq!(
        (
            s.tenant.as_str(),
            s.correlation_id.as_str(),
            s.target_run.as_deref()
        ),
        ("acme", "c9", Some("r1"))
    );
    assert_eq!(s.data, json!({}));
}

#[test]
fn every_envelope_mistake_has_a_reason() {
    let ok = json!({"specversion":"1.0","id":"e1","source":"s","type":"x"});
    let with = |k: &str, v: Value| {
        let mut o = ok.clone();
        o[k] = v;
        body(o)
    };
    assert_eq!(
        parse(b"{not json", "x", 1024),
        Err(Rejection::MalformedJson)
    );
    assert_eq!(parse(b"[1]", "x", 1024), Err(Rejection::NotAnObject));
    assert_eq!(
        parse(&with("specversion", json!("0.3")), "x", 1024),
        Err(Rejection::SpecVersion)
    );
    assert_eq!(
        parse(&with("id", json!("")), "x", 1024),
        Err(Rejection::MissingId)
    );
    assert_eq!(
        parse(&with("id", json!("i".repeat(257))), "x", 4096),
        Err(Rejection::IdTooLong)
    );
    assert_eq!(
        parse(&with("source", json!(null)), "x", 1024),
        Err(Rejection::MissingSource)
    );
    assert_eq!(
        parse(&body(ok.clone()), "y", 1024),
        Err(Rejection::TypeMismatch)
    );
    assert_eq!(
        parse(&with("data", json!([1])), "x", 1024),
        Err(Rejection::DataNotObject)
    );
    assert_eq!(
        parse(&with("tenant", json!("a b")), "x", 1024),
        Err(Rejection::BadTenant)
    );
    assert_eq!(parse(&body(ok), "x", 10), Err(Rejection::TooLarge));
}
#[test]
fn binary_mode_takes_attributes_from_ce_headers_and_data_from_the_body() {
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "b1"),
        ("ce-source", "sdk"),
        ("ce-type", "order.created"),
        ("ce-tenant", "acme"),
        ("Ce-CorrelationId", "c7"),
        ("ce-comment", "caf%C3%A9%20ok"),
        ("content-type", "application/json; charset=utf-8"),
        ("traceparent", "ignored-here"),
    ];
    let s = parse_message(br#"{"a":1}"#, &headers, "order.created", 1024).expect("valid");
    assert_eq!(s.id, "b1");
    assert_eq!(s.data, json!({"a":1}));
    assert_eq!(
        (s.tenant.as_str(), s.correlation_id.as_str()),
        ("acme", "c7")
    );
    assert_eq!(
        s.envelope["datacontenttype"],
        "application/json; charset=utf-8"
    );
    assert_eq!(s.envelope["comment"], "café ok");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%ff"), "%ff");
    assert_eq!(s.envelope["data"], json!({"a":1}));
    assert!(s.envelope.get("traceparent").is_none());
    // No body: data is {}; a body that is not a JSON object is refused.
    let s = parse_message(b"", &headers, "order.created", 1024).expect("valid");
    assert_eq!(s.data, json!({}));
    assert_eq!(
        parse_message(b"[1]", &headers, "order.created", 1024),
        Err(Rejection::DataNotObject)
    );
    assert_eq!(
        parse_message(b"{nope", &headers, "order.created", 1024),
        Err(Rejection::MalformedJson)
    );
    let mut text = headers.to_vec();
    text[7] = ("content-type", "text/plain");
    assert_eq!(
        parse_message(b"hello", &text, "order.created", 1024),
        Err(Rejection::DataNotObject)
    );
    // The same checks as structured mode, and the limit counts headers.
    assert_eq!(
        parse_message(b"{}", &headers, "other", 1024),
        Err(Rejection::TypeMismatch)
    );
    assert_eq!(
        parse_message(b"{}", &headers, "order.created", 100),
        Err(Rejection::TooLarge)
    );
    let mut bad = headers.to_vec();
    bad.push(("ce-my_ext", "x"));
    assert_eq!(
        parse_message(b"{}", &bad, "order.created", 1024),
        Err(Rejection::AttributeName)
    );
    bad.pop();
    bad.push(("ce-data", "x"));
    assert_eq!(
        parse_message(b"{}", &bad, "order.created", 1024),
        Err(Rejection::AttributeName)
    );
    // Without ce-specversion the body is a structured event.
    assert_eq!(
        parse_message(br#"{"a":1}"#, &headers[1..], "order.created", 1024),
        Err(Rejection::SpecVersion)
    );
}

#[test]
fn data_base64_is_decoded_into_data() {
    // base64 of {"amount":42}
    let event = json!({"specversion":"1.0","id":"e1","source":"s","type":"x",
        "datacontenttype":"application/json","data_base64":"eyJhbW91bnQiOjQyfQ=="});
    let s = parse(&body(event), "x", 1024).expect("valid");
    assert_eq!(s.data, json!({"amount":42}));
    assert_eq!(s.envelope["data"], json!({"amount":42}));
    assert!(s.envelope.get("data_base64").is_none());
    let unpadded = json!({"specversion":"1.0","id":"e1","source":"s","type":"x","data_base64":"eyJhbW91bnQiOjQyfQ"});
    assert_eq!(
        parse(&body(unpadded), "x", 1024).map(|s| s.data),
        Ok(json!({"amount":42}))
    );
    for bad in [json!("not base64!"), json!(5), json!("eyJ=a")] {
        let event =
            json!({"specversion":"1.0","id":"e1","source":"s","type":"x","data_base64":bad});
        assert_eq!(
            parse(&body(event), "x", 1024),
            Err(Rejection::DataBase64),
            "{bad}"
        );
    }
    let both = json!({"specversion":"1.0","id":"e1","source":"s","type":"x","data":{},"data_base64":"e30="});
    assert_eq!(parse(&body(both), "x", 1024), Err(Rejection::DataBase64));
    // "WzFd" is [1]; "aGk=" is `hi` with a non-JSON type.
    let list = json!({"specversion":"1.0","id":"e1","source":"s","type":"x","data_base64":"WzFd"});
    assert_eq!(parse(&body(list), "x", 1024), Err(Rejection::DataNotObject));
    let text = json!({"specversion":"1.0","id":"e1","source":"s","type":"x","datacontenttype":"text/plain","data_base64":"aGk="});
    assert_eq!(parse(&body(text), "x", 1024), Err(Rejection::DataNotObject));
}

#[test]
fn base64_decodes_every_length() {
    for (text, bytes) in [
        ("", &b""[..]),
        ("Zg==", b"f"),
        ("Zm8=", b"fo"),
        ("Zm9v", b"foo"),
        ("Zm9vYg==", b"foob"),
        ("Zm9vYmE=", b"fooba"),
        ("Zm9vYmFy", b"foobar"),
        ("+/+/", &[0xfb, 0xff, 0xbf]),
    ] {
        assert_eq!(decode_base64(text).as_deref(), Some(bytes), "{text}");
    }
    for bad in ["Z", "Zm9vY", "Zg===", "Zg=a", "Zm9v\n"] {
        assert_eq!(decode_base64(bad), None, "{bad}");
    }
}

#[test]
fn attribute_names_are_lowercase_letters_and_digits() {
    for good in [
        "id",
        "specversion",
        "ext1",
        "averyveryverylongextensionname",
    ] {
        assert!(is_valid_attribute_name(good), "{good}");
    }
    for bad in ["", "Id", "my_ext", "my-ext", "é"] {
        assert!(!is_valid_attribute_name(bad), "{bad}");
        let mut event = json!({"specversion":"1.0","id":"e1","source":"s","type":"x"});
        event[bad] = json!("v");
        assert_eq!(
            parse(&body(event), "x", 1024),
            Err(Rejection::AttributeName),
            "{bad}"
        );
    }
    let labels: std::collections::HashSet<_> = Rejection::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), Rejection::ALL.len());
}

#[test]
fn a_binary_body_too_deep_to_store_is_malformed() {
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "deep"),
        ("ce-source", "s"),
        ("ce-type", "x"),
    ];
    let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
    // 126 levels of body parse, but the envelope adds one around `data`.
    assert_eq!(
        parse_message(deep(125).as_bytes(), &headers, "x", 1 << 20).map(|s| s.id),
        Err(Rejection::MalformedJson)
    );
    assert!(parse_message(deep(100).as_bytes(), &headers, "x", 1 << 20).is_ok());
}
