//! U+0000 anywhere in a signal is rejected `invalid_value`, and arbitrary
//! text in any field (NUL, lone-surrogate escapes, huge strings) in either
//! content mode gives a signal or a rejection, never a panic.

use super::content::percent_decode;
use super::*;
use proptest::prelude::*;
use serde_json::json;

const LIMIT: usize = 256 * 1024;

fn event() -> Value {
    json!({"specversion":"1.0","id":"e1","source":"s","type":"x","tenant":"acme",
        "correlationid":"c1","subject":"run:r1","ext":"v","data":{"a":["b",{"c":"d"}]}})
}

fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("serializable")
}

fn headers() -> Vec<(String, String)> {
    [
        ("ce-specversion", "1.0"),
        ("ce-id", "b1"),
        ("ce-source", "sdk"),
        ("ce-type", "x"),
        ("ce-tenant", "acme"),
        ("ce-ext", "v"),
        ("content-type", "application/json"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

fn parse_binary(body: &[u8], headers: &[(String, String)]) -> Result<Signal, Rejection> {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    parse_message(body, &pairs, "x", LIMIT)
}

#[test]
fn nul_anywhere_is_invalid_value() {
    assert!(parse(&body(&event()), "x", LIMIT).is_ok());
    let places: [&dyn Fn(&mut Value); 8] = [
        &|e| e["id"] = json!("e\u{0}1"),
        &|e| e["source"] = json!("\u{0}"),
        &|e| e["type"] = json!("x\u{0}"),
        &|e| e["ext"] = json!("v\u{0}"),
        &|e| e["data"]["a"][1]["c"] = json!("\u{0}"),
        &|e| e["data"]["k\u{0}"] = json!(1),
        &|e| e["bad\u{0}"] = json!("v"),
        &|e| e["specversion"] = json!("1.0\u{0}"),
    ];
    for (index, place) in places.iter().enumerate() {
        let mut e = event();
        place(&mut e);
        assert_eq!(
            parse(&body(&e), "x", LIMIT).map(drop),
            Err(Rejection::InvalidValue),
            "place {index}: {e}"
        );
    }
    // data_base64 of {"a":"\u0000"} (the escape in the decoded JSON).
    let mut e = event();
    e.as_object_mut().map(|o| o.remove("data"));
    e["data_base64"] = json!("eyJhIjoiXHUwMDAwIn0=");
    assert_eq!(
        parse(&body(&e), "x", LIMIT).map(drop),
        Err(Rejection::InvalidValue)
    );
    // Binary mode: a percent-encoded or raw NUL in a header, NUL in the body.
    assert!(parse_binary(b"{}", &headers()).is_ok());
    for (name, value) in [
        ("ce-id", "b%001"),
        ("ce-ext", "a\u{0}"),
        ("ce-e\u{0}xt", "v"),
        ("content-type", "application/json\u{0}"),
    ] {
        let mut h: Vec<_> = headers().into_iter().filter(|(k, _)| k != name).collect();
        h.push((name.to_owned(), value.to_owned()));
        assert_eq!(
            parse_binary(b"{}", &h).map(drop),
            Err(Rejection::InvalidValue),
            "{name}: {value:?}"
        );
    }
    assert_eq!(
        parse_binary(br#"{"a":"\u0000"}"#, &headers()).map(drop),
        Err(Rejection::InvalidValue)
    );
    assert_eq!(percent_decode("%00"), "\u{0}");
}

#[test]
fn huge_strings_are_too_large_not_a_panic() {
    let mut e = event();
    e["data"]["a"] = json!("\u{0}".repeat(LIMIT));
    assert_eq!(
        parse(&body(&e), "x", LIMIT).map(drop),
        Err(Rejection::TooLarge)
    );
    let mut h = headers();
    h.push(("ce-big".into(), "x".repeat(LIMIT)));
    assert_eq!(parse_binary(b"{}", &h).map(drop), Err(Rejection::TooLarge));
}

use crate::wire::storable::hostile_text as text;

/// Raw JSON string content: escapes included, some of them invalid.
fn json_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r"\ud800".to_owned()),
        Just(r"\udc00x".to_owned()),
        Just(r"\ud83d\ude00".to_owned()),
        Just(r"\u0000".to_owned()),
        Just(r"\x".to_owned()),
        "[a-z]{0,4}(\\\\u[0-9a-fA-F]{4}|\\\\[nt\"\\\\/])?[a-z]{0,4}",
    ]
}

const FIELDS: [&str; 9] = [
    "specversion",
    "id",
    "source",
    "type",
    "tenant",
    "correlationid",
    "subject",
    "ext",
    "traceparent",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn structured_fields_take_any_text(field in 0..FIELDS.len() + 2, value in text()) {
        let mut e = event();
        match field {
            f if f < FIELDS.len() => e[FIELDS[f]] = json!(value),
            f if f == FIELDS.len() => e["data"]["a"][1][value.as_str()] = json!(value),
            _ => e[value.as_str()] = json!("v"),
        }
        let result = parse(&body(&e), "x", LIMIT);
        if text_has_nul(&value) {
            prop_assert!(
                matches!(result, Err(Rejection::InvalidValue | Rejection::TooLarge)),
                "{result:?}"
            );
        }
        if let Ok(signal) = result {
            prop_assert!(!has_nul(&signal.envelope));
        }
    }

    #[test]
    fn raw_json_escapes_never_panic(field in 0..FIELDS.len(), raw in json_text()) {
        let text = format!(
            r#"{{"specversion":"1.0","id":"e1","source":"s","type":"x","{}":"{raw}","data":{{"k":"{raw}"}}}}"#,
            FIELDS[field]
        );
        let result = parse(text.as_bytes(), "x", LIMIT);
        if raw.contains(r"\u0000") {
            prop_assert_eq!(result.map(drop), Err(Rejection::InvalidValue));
        } else if let Ok(signal) = result {
            prop_assert!(!has_nul(&signal.envelope));
        }
    }

    #[test]
    fn binary_headers_and_body_take_any_text(
        name in prop_oneof![Just("ce-id".to_owned()), Just("ce-ext".to_owned()),
            Just("ce-source".to_owned()), Just("content-type".to_owned()), text()],
        value in text(),
        data in text(),
    ) {
        let mut h: Vec<_> = headers().into_iter().filter(|(k, _)| *k != name).collect();
        h.push((name.clone(), value.clone()));
        let payload = body(&json!({ "k": data }));
        let result = parse_binary(&payload, &h);
        if text_has_nul(&name) || text_has_nul(&percent_decode(&value)) {
            prop_assert!(
                matches!(result, Err(Rejection::InvalidValue | Rejection::TooLarge)),
                "{result:?}"
            );
        }
        // A body holding NUL is refused: `invalid_value` once it is read as
        // JSON, `data_not_object` when its content type is not JSON.
        if text_has_nul(&data) {
            prop_assert!(result.is_err(), "{result:?}");
        }
        if let Ok(signal) = result {
            prop_assert!(!has_nul(&signal.envelope));
        }
    }
}
