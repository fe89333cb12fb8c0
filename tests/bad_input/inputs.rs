//! Inputs that are wrong for any endpoint: malformed bodies, bad field values, odd shapes and
//! garbage path segments.

use serde_json::{json, Map, Value};

/// `depth` opening brackets with nothing to close them.
fn open_arrays(depth: usize) -> Vec<u8> {
    "[".repeat(depth).into_bytes()
}

/// Balanced nesting `depth` deep, so only the depth is wrong.
fn balanced_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Bodies that no JSON endpoint may accept, whatever it expects.
pub fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let utf16: Vec<u8> = std::iter::once(0xFEFF_u16)
        .chain(r#"{"a":1}"#.encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect();
    vec![
        ("empty body", Vec::new()),
        ("whitespace only", b" \r\n\t ".to_vec()),
        ("not JSON", b"not json at all".to_vec()),
        ("truncated JSON", br#"{"event": "bonus.cred"#.to_vec()),
        ("trailing garbage", br#"{} {}"#.to_vec()),
        ("JSON array", b"[]".to_vec()),
        ("JSON array of objects", br#"[{"a":1},{"b":2}]"#.to_vec()),
        ("JSON string", br#""text""#.to_vec()),
        ("JSON null", b"null".to_vec()),
        ("JSON true", b"true".to_vec()),
        ("JSON number", b"42".to_vec()),
        ("number out of range", b"1e999".to_vec()),
        ("huge integer", "9".repeat(4000).into_bytes()),
        ("10,000 open arrays", open_arrays(10_000)),
        (
            "10,000 balanced arrays",
            balanced_arrays(10_000).into_bytes(),
        ),
        (
            "10,000 open objects",
            r#"{"a":"#.repeat(10_000).into_bytes(),
        ),
        ("invalid UTF-8", b"\xff\xfe\xfd\x80\x81".to_vec()),
        (
            "invalid UTF-8 in a string",
            b"{\"event\":\"\xc3\x28\xa0\xa1\"}".to_vec(),
        ),
        ("NUL bytes", b"\0\0\0{}".to_vec()),
        ("UTF-8 byte order mark", b"\xef\xbb\xbf{}".to_vec()),
        ("UTF-16 body", utf16),
        ("lone surrogate escape", br#"{"event":"\ud800"}"#.to_vec()),
        ("single quotes", b"{'event':'x'}".to_vec()),
        ("comment", b"/* c */ {}".to_vec()),
    ]
}

/// Values that are wrong for any field of a well-formed body.
pub fn bad_values() -> Vec<(&'static str, Value)> {
    vec![
        ("null", Value::Null),
        ("true", json!(true)),
        ("empty string", json!("")),
        ("blank string", json!("   ")),
        ("array", json!([1, 2])),
        ("object", json!({"nested": {"deeper": []}})),
        ("float", json!(1.5)),
        ("negative", json!(-1)),
        ("above i64", json!(9_223_372_036_854_775_808_u64)),
        ("u64 max", json!(u64::MAX)),
        ("below i64", json!(-9.3e18)),
        ("f64 max", json!(f64::MAX)),
        ("300-byte string", json!("x".repeat(300))),
        ("20,000-byte string", json!("y".repeat(20_000))),
        ("control characters", json!("\u{0}\u{1}\u{1b}[31m\r\n")),
        (
            "right-to-left and emoji",
            json!("\u{202e}\u{1F4A5}\u{FFFF}"),
        ),
    ]
}

/// `base` with `field` set to each bad value, and with `field` missing.
pub fn mutations(base: &Value) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for field in base.as_object().unwrap().keys() {
        let mut without = base.clone();
        without.as_object_mut().unwrap().remove(field);
        out.push((format!("without {field}"), without.to_string().into_bytes()));
        for (what, value) in bad_values() {
            let mut changed = base.clone();
            changed[field] = value;
            out.push((
                format!("{field} = {what}"),
                changed.to_string().into_bytes(),
            ));
        }
    }
    out
}

/// `base` with an extra unknown field and with a duplicated key whose second value is bad.
pub fn shape_changes(base: &Value) -> Vec<(String, Vec<u8>)> {
    let obj: &Map<String, Value> = base.as_object().unwrap();
    let text = base.to_string();
    let inner = &text[1..text.len() - 1];
    let (first, _) = obj.iter().next().unwrap();
    let mut out = vec![
        (
            "duplicate key".to_owned(),
            format!(r#"{{{inner},"{first}":[]}}"#).into_bytes(),
        ),
        (
            "deep nesting in a field".to_owned(),
            format!(r#"{{{inner},"{first}":{}}}"#, balanced_arrays(5_000)).into_bytes(),
        ),
    ];
    let mut extra = base.clone();
    extra["unexpected_field"] = json!({"x": [1, 2, 3]});
    out.push(("extra field".to_owned(), extra.to_string().into_bytes()));
    out
}

/// Path segments that name nothing, or are not segments at all.
pub fn garbage_segments() -> Vec<(&'static str, String)> {
    vec![
        ("4,000-byte id", "a".repeat(4_000)),
        ("percent-encoded NUL", "%00".into()),
        ("percent-encoded invalid UTF-8", "%ff%fe%C3%28".into()),
        ("lone percent", "%".into()),
        ("bad percent escape", "%zz%4".into()),
        (
            "encoded slashes and dots",
            "..%2F..%2F..%2Fetc%2Fpasswd".into(),
        ),
        ("encoded dots", "%2e%2e".into()),
        ("double encoding", "%2525%252F".into()),
        ("encoded CRLF", "x%0d%0aSet-Cookie:%20a=b".into()),
        ("unicode", "%E2%80%AE%F0%9F%92%A5".into()),
        ("quotes and brackets", "%22%3Cscript%3E%7B%7D".into()),
    ]
}
