//! A raw HTTP/1.1 client for the matrix: requests are written byte for byte as built, so that
//! nothing normalises a path or refuses a header value on the way, and answers are read whole.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ucrm_actors::signing::sign;
use ucrm_actors::Secret;

use crate::common::{now, ADMIN, SECRET};

/// How long one exchange may take before it counts as a hang.
const EXCHANGE_TIMEOUT_SECS: u64 = 20;

/// A raw HTTP/1.1 request builder; the target and header values are sent exactly as given.
pub struct Raw {
    method: String,
    target: String,
    /// Headers in the order they are sent.
    pub headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    content_length: bool,
}

impl Raw {
    /// A request line with no headers or body yet.
    pub fn new(method: &str, target: &str) -> Self {
        Raw {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            content_length: true,
        }
    }

    /// Adds a header, its value sent as given, CR and LF included.
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    /// Adds the admin bearer token.
    pub fn admin(self) -> Self {
        self.header("Authorization", format!("Bearer {ADMIN}"))
    }

    /// Sets a body sent as `application/json`.
    pub fn json(self, body: impl AsRef<[u8]>) -> Self {
        self.header("Content-Type", "application/json").body(body)
    }

    /// A body signed with the demo adapter's secret now, as a platform would send it.
    pub fn signed_json(self, body: impl AsRef<[u8]>) -> Self {
        let body = body.as_ref().to_vec();
        let ts = now();
        let sig = sign(&Secret::new(SECRET), ts, &body);
        self.header("X-UCRM-Timestamp", ts.to_string())
            .header("X-UCRM-Signature", sig)
            .json(body)
    }

    /// Sets the body, with no content type.
    pub fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }

    /// Leaves out `Content-Length`, for a chunked body written by hand.
    pub fn without_length(mut self) -> Self {
        self.content_length = false;
        self
    }

    /// The request as it goes on the wire.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        out.extend_from_slice(b"Host: 127.0.0.1\r\nConnection: close\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if self.content_length {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// An answer: status and body.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

/// Sends one request on a fresh connection and reads the whole answer.
///
/// A write error is not a failure by itself (a server may answer 413 before it has read the whole
/// body and close); an answer that never comes, or is not HTTP, is.
pub fn exchange(addr: &str, request: &[u8]) -> Result<Answer, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let timeout = Some(Duration::from_secs(EXCHANGE_TIMEOUT_SECS));
    stream.set_read_timeout(timeout).unwrap();
    stream.set_write_timeout(timeout).unwrap();
    let _ = stream.write_all(request);

    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if raw.is_empty() => return Err(format!("no answer: {e}")),
            Err(_) => break,
        }
    }
    parse_answer(&raw)
}

/// Reads the final answer out of what the server sent, past any interim `1xx` answer (such as
/// `100 Continue`).
fn parse_answer(mut raw: &[u8]) -> Result<Answer, String> {
    loop {
        let head_end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("connection closed without an answer ({} bytes)", raw.len()))?;
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("not an HTTP status line: {head:?}"))?;
        raw = &raw[head_end + 4..];
        if (100..200).contains(&status) {
            continue;
        }
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked { dechunk(raw) } else { raw.to_vec() };
        return Ok(Answer { status, body });
    }
}

/// Joins the chunks of a chunked body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let end = (start + size).min(raw.len());
        out.extend_from_slice(&raw[start..end]);
        raw = &raw[(end + 2).min(raw.len())..];
    }
    out
}

/// Prints a request for a failure report, cut to a readable length.
pub fn show(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    let cut: String = text.chars().take(600).collect();
    if cut.len() < text.len() {
        format!("{cut:?}… ({} bytes)", request.len())
    } else {
        format!("{cut:?}")
    }
}
