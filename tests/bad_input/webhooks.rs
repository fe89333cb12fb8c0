//! Cases for the signed platform webhooks: bodies, signatures, content types and sizes.

use serde_json::{json, Value};
use ucrm_actors::signing::sign;
use ucrm_actors::Secret;

use crate::common::{now, SECRET};
use crate::inputs::{garbage_segments, malformed_bodies, mutations, shape_changes};
use crate::raw::Raw;
use crate::{Matrix, MAX_BODY_BYTES};

const BONUS: &str = "/v1/adapters/demo-casino/webhooks/bonus-events";
const KYC: &str = "/v1/adapters/demo-casino/webhooks/kyc-events";

/// A bonus event for a grant that does not exist: the best any variation of it can do is 404.
pub fn bonus_base() -> Value {
    json!({
        "event": "bonus.credited", "event_id": "evt-matrix", "ts": "2026-05-08T12:00:00Z",
        "grant_id": "no-such-grant", "platform_bonus_id": "pb-matrix", "data": {},
    })
}

/// A KYC event for a player that does not exist.
fn kyc_base() -> Value {
    json!({
        "event": "kyc.approved", "event_id": "kyc-matrix", "ts": "2026-05-08T12:00:00Z",
        "player_external_id": "no-such-player", "level": 1, "data": {},
    })
}

/// Cases for the two signed webhook endpoints.
pub fn webhook_cases(m: &mut Matrix) {
    for (name, path, base) in [("bonus", BONUS, bonus_base()), ("kyc", KYC, kyc_base())] {
        let valid = base.to_string();
        for (what, body) in malformed_bodies() {
            m.reject(
                format!("{name}: {what}"),
                Raw::new("POST", path).signed_json(body),
            );
        }
        for (what, body) in mutations(&base).into_iter().chain(shape_changes(&base)) {
            m.reject(
                format!("{name}: {what}"),
                Raw::new("POST", path).signed_json(body),
            );
        }
        for (what, value) in [
            ("ts not a time", json!("yesterday")),
            ("ts year 99999", json!("99999-01-01T00:00:00Z")),
            ("ts without zone", json!("2026-05-08T12:00:00")),
            ("ts offset out of range", json!("2026-05-08T12:00:00+99:00")),
            ("ts as a number", json!(1_778_241_600)),
            ("unknown event", json!("bonus.exploded")),
        ] {
            let field = if what.starts_with("ts") {
                "ts"
            } else {
                "event"
            };
            let mut body = base.clone();
            body[field] = value;
            m.reject(
                format!("{name}: {what}"),
                Raw::new("POST", path).signed_json(body.to_string()),
            );
        }
        let bad_data = if name == "bonus" {
            vec![
                r#"{"total_wagered":1e400}"#,
                r#"{"total_wagered":-1e400}"#,
                r#"{"total_wagered":9223372036854775808}"#,
                r#"{"total_wagered":-9223372036854775809}"#,
                r#"{"total_wagered":123456789012345678901234567890}"#,
                r#"{"total_wagered":-1}"#,
                r#"{"total_wagered":0.5}"#,
                r#"{"total_wagered":"100"}"#,
            ]
        } else {
            vec![r#"{"expires_at":"not a time"}"#, r#"{"expires_at":1e400}"#]
        };
        for data in bad_data {
            let body = valid.replacen(r#""data":{}"#, &format!(r#""data":{data}"#), 1);
            let body = body.replacen("bonus.credited", "bonus.wagered", 1);
            m.reject(
                format!("{name}: data {data}"),
                Raw::new("POST", path).signed_json(body),
            );
        }
        if name == "kyc" {
            for level in [
                "4294967296",
                "-1",
                "1e400",
                "18446744073709551616",
                "1.0",
                "\"1\"",
            ] {
                let body = valid.replacen(r#""level":1"#, &format!(r#""level":{level}"#), 1);
                m.reject(
                    format!("kyc: level {level}"),
                    Raw::new("POST", path).signed_json(body),
                );
            }
        }
        signature_cases(m, name, path, &valid);
        content_type_cases(m, name, path, &valid);
        size_cases(m, name, path, Raw::new("POST", path).signed_json(""));
    }

    for (what, slug) in garbage_segments()
        .into_iter()
        .chain([("unknown adapter", "nope".into())])
    {
        let path = format!("/v1/adapters/{slug}/webhooks/bonus-events");
        m.reject(
            format!("bonus: adapter slug {what}"),
            Raw::new("POST", &path).signed_json(bonus_base().to_string()),
        );
    }
}

/// Missing, garbage and injected signature headers on an otherwise valid body.
fn signature_cases(m: &mut Matrix, name: &str, path: &str, valid: &str) {
    let ts = now();
    let good = sign(&Secret::new(SECRET), ts, valid.as_bytes());
    let other_body = sign(&Secret::new(SECRET), ts, b"{}");
    let post = || Raw::new("POST", path).json(valid);
    let with = |t: &[u8], s: &[u8]| {
        post()
            .header("X-UCRM-Timestamp", t)
            .header("X-UCRM-Signature", s)
    };
    let ts_text = ts.to_string();
    let cases: Vec<(&str, Raw)> = vec![
        ("no signature headers", post()),
        ("no timestamp", post().header("X-UCRM-Signature", &good)),
        ("no signature", post().header("X-UCRM-Timestamp", &ts_text)),
        ("empty headers", with(b"", b"")),
        (
            "timestamp not a number",
            with(b"yesterday", good.as_bytes()),
        ),
        (
            "timestamp with a fraction",
            with(format!("{ts}.5").as_bytes(), good.as_bytes()),
        ),
        (
            "timestamp above i64",
            with(b"99999999999999999999999", good.as_bytes()),
        ),
        (
            "timestamp i64 min",
            with(b"-9223372036854775808", good.as_bytes()),
        ),
        (
            "timestamp an hour old",
            with((ts - 3600).to_string().as_bytes(), good.as_bytes()),
        ),
        (
            "timestamp far ahead",
            with(b"9223372036854775807", good.as_bytes()),
        ),
        ("timestamp not UTF-8", with(b"\xff\xfe", good.as_bytes())),
        (
            "signature not hex",
            with(ts_text.as_bytes(), b"not-hex-at-all"),
        ),
        (
            "signature odd length",
            with(ts_text.as_bytes(), &good.as_bytes()[1..]),
        ),
        (
            "signature of another body",
            with(ts_text.as_bytes(), other_body.as_bytes()),
        ),
        ("signature only a prefix", with(ts_text.as_bytes(), b"v1=")),
        (
            "signature 8,000 hex digits",
            with(ts_text.as_bytes(), "ab".repeat(4000).as_bytes()),
        ),
        (
            "signature not UTF-8",
            with(ts_text.as_bytes(), b"\xff\xfe\xfd"),
        ),
        ("signature with a wrong secret", {
            let wrong = sign(&Secret::new("wrong-secret"), ts, valid.as_bytes());
            with(ts_text.as_bytes(), wrong.as_bytes())
        }),
        (
            "injected header in the signature value",
            with(
                ts_text.as_bytes(),
                format!("00\r\nX-UCRM-Signature: {good}").as_bytes(),
            ),
        ),
        (
            "injected timestamp line",
            with(
                format!("1\r\nX-UCRM-Timestamp: {ts}").as_bytes(),
                good.as_bytes(),
            ),
        ),
        (
            "wrong signature first, right one second",
            with(ts_text.as_bytes(), b"00").header("X-UCRM-Signature", &good),
        ),
    ];
    for (what, raw) in cases {
        m.reject(format!("{name}: {what}"), raw);
    }
}

/// Missing and wrong content types on a correctly signed body.
fn content_type_cases(m: &mut Matrix, name: &str, path: &str, valid: &str) {
    let ts = now();
    let sig = sign(&Secret::new(SECRET), ts, valid.as_bytes());
    let signed = || {
        Raw::new("POST", path)
            .header("X-UCRM-Timestamp", ts.to_string())
            .header("X-UCRM-Signature", &sig)
            .body(valid)
    };
    for (what, ct) in [
        ("no content type", None),
        ("text/plain", Some(&b"text/plain"[..])),
        ("form", Some(b"application/x-www-form-urlencoded")),
        ("multipart", Some(b"multipart/form-data; boundary=x")),
        ("json lookalike", Some(b"application/jsonp")),
        ("empty content type", Some(b"")),
        ("content type not UTF-8", Some(b"application/json\xff")),
        ("content type of parameters only", Some(b"; charset=utf-8")),
    ] {
        let raw = match ct {
            Some(ct) => signed().header("Content-Type", ct),
            None => signed(),
        };
        m.reject(format!("{name}: {what}"), raw);
    }
}

/// Bodies over the limit, declared or streamed, on a request otherwise built by `raw`.
pub fn size_cases(m: &mut Matrix, name: &str, path: &str, raw: Raw) {
    let headers = raw.headers;
    let with_headers = |r: Raw| headers.iter().fold(r, |r, (n, v)| r.header(n, v));
    let big = vec![b'{'; MAX_BODY_BYTES + 1];
    m.reject(
        format!("{name}: body over the limit"),
        with_headers(Raw::new("POST", path)).body(&big),
    );

    // A declared length far over the limit, with no body behind it: refused before reading.
    m.reject(
        format!("{name}: declared length of 1 GB"),
        with_headers(Raw::new("POST", path))
            .header("Content-Length", "1000000000")
            .without_length(),
    );

    // A chunked body with no length that grows past the limit while it is read.
    let mut chunked = Vec::new();
    for chunk in big.chunks(4096) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    m.reject(
        format!("{name}: chunked body over the limit"),
        with_headers(Raw::new("POST", path))
            .header("Transfer-Encoding", "chunked")
            .without_length()
            .body(chunked),
    );
}
