//! HTTP_GET / SSL_GET: the request keepalived sends and the evaluation of the response
//! (check_http.c `http_request`, `http_process_response`, `http_handle_response`).
//!
//! The response is fed in chunks as it arrives; memory stays bounded whatever the server
//! sends: the header is capped at [`Limits::max_header`] (keepalived: its 4 KiB buffer), the
//! body is hashed as it streams and never stored, except up to [`Limits::max_regex_window`]
//! bytes kept for a `regex`. A body longer than [`Limits::max_body`] fails the check when the
//! body matters (digest or regex); without either, the verdict is reached at the end of the
//! header and the body is not read at all.

use std::fmt;

use md5::{Digest, Md5};
use regex::bytes::Regex;

/// `http_protocol`: the request line version and whether `Connection: close` is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HttpProtocol {
    /// `HTTP/1.0` (keepalived's default).
    #[default]
    V1_0,
    /// `1.0C`: `HTTP/1.0` with `Connection: close`.
    V1_0C,
    /// `HTTP/1.1` with `Connection: close`.
    V1_1,
}

impl HttpProtocol {
    /// Parse keepalived's `http_protocol` values (`1.0`, `1.0C`, `1.1`).
    pub fn parse(s: &str) -> Option<HttpProtocol> {
        match s {
            "1.0" => Some(HttpProtocol::V1_0),
            "1.0C" | "1.0c" => Some(HttpProtocol::V1_0C),
            "1.1" => Some(HttpProtocol::V1_1),
            _ => None,
        }
    }
}

/// Build keepalived's GET request. `vhost` is the resolved virtual host (url, checker, real
/// server or virtual server `virtualhost`); without one the Host header is the target
/// address and port, IPv6 literals in brackets (RFC 2732).
pub fn build_request(
    path: &str,
    protocol: HttpProtocol,
    vhost: Option<&str>,
    target: std::net::SocketAddr,
) -> String {
    let minor = if protocol == HttpProtocol::V1_1 { 1 } else { 0 };
    let conn = if protocol == HttpProtocol::V1_0 {
        ""
    } else {
        "Connection: close\r\n"
    };
    let host = match (vhost, target.ip()) {
        (Some(v), _) => v.to_string(),
        (None, std::net::IpAddr::V6(a)) => format!("[{a}]:{}", target.port()),
        (None, a) => format!("{a}:{}", target.port()),
    };
    format!(
        "GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{conn}Host: {host}\r\n\r\n"
    )
}

/// What one `url` block expects.
#[derive(Debug, Clone)]
pub struct UrlCheck {
    pub path: String,
    /// Expected MD5 of the body.
    pub digest: Option<[u8; 16]>,
    /// Accepted status codes (inclusive ranges); empty means 200-299.
    pub status_codes: Vec<(u16, u16)>,
    pub regex: Option<Regex>,
    /// The check passes when the regex does *not* match.
    pub regex_no_match: bool,
    pub virtualhost: Option<String>,
}

impl UrlCheck {
    /// A url with keepalived's defaults (status 200-299, no digest, no regex).
    pub fn new(path: impl Into<String>) -> UrlCheck {
        UrlCheck {
            path: path.into(),
            digest: None,
            status_codes: Vec::new(),
            regex: None,
            regex_no_match: false,
            virtualhost: None,
        }
    }

    /// Whether `code` is accepted (keepalived: 100-599 only, default 200-299).
    pub fn status_ok(&self, code: u16) -> bool {
        if !(100..=599).contains(&code) {
            return false;
        }
        if self.status_codes.is_empty() {
            return (200..=299).contains(&code);
        }
        self.status_codes
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }

    fn needs_body(&self) -> bool {
        self.digest.is_some() || self.regex.is_some()
    }
}

/// Parse a 32-hex-digit MD5 digest.
pub fn parse_digest(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let hi = (b[2 * i] as char).to_digit(16)?;
        let lo = (b[2 * i + 1] as char).to_digit(16)?;
        *o = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Lower-case hex of a digest, as genhash prints it.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Resource bounds for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_header: usize,
    pub max_body: u64,
    pub max_regex_window: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // keepalived's MAX_BUFFER_LENGTH is 4 KiB; allow more for large cookies.
            max_header: 16 * 1024,
            max_body: 64 * 1024 * 1024,
            max_regex_window: 1024 * 1024,
        }
    }
}

/// Why a response failed the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpFailure {
    #[error("no data received")]
    NoData,
    #[error("malformed HTTP response header")]
    BadHeader,
    #[error("HTTP response header larger than {0} bytes")]
    HeaderTooLarge(usize),
    #[error("HTTP status code {0} not accepted")]
    Status(u16),
    #[error("MD5 digest {} does not match", hex(.0))]
    Digest([u8; 16]),
    #[error("regex {}", if *.0 { "matched (regex_no_match)" } else { "did not match" })]
    Regex(bool),
    #[error("body longer than {0} bytes")]
    BodyTooLarge(u64),
}

/// The verdict on one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: u16,
    pub result: Result<(), HttpFailure>,
    /// MD5 of the body, when it was computed (a `digest` is set, or [`Mode::Genhash`]).
    pub digest: Option<[u8; 16]>,
    /// Body bytes received (counted up to Content-Length).
    pub body_bytes: u64,
    pub content_length: Option<u64>,
}

/// What the caller wants from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Evaluate as the checker does.
    Check,
    /// genhash: always hash the whole body, never stop at the header.
    Genhash,
}

/// Progress after a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    NeedMore,
    Done(Verdict),
}

enum Stage {
    Head(Vec<u8>),
    Body,
    Done,
}

/// A streaming response evaluator for one url.
pub struct ResponseEval<'a> {
    url: &'a UrlCheck,
    limits: Limits,
    mode: Mode,
    stage: Stage,
    status: u16,
    head_len: usize,
    content_length: Option<u64>,
    body_bytes: u64,
    md5: Option<Md5>,
    regex_buf: Vec<u8>,
}

impl fmt::Debug for ResponseEval<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseEval")
            .field("status", &self.status)
            .field("body_bytes", &self.body_bytes)
            .finish()
    }
}

impl<'a> ResponseEval<'a> {
    pub fn new(url: &'a UrlCheck, limits: Limits, mode: Mode) -> ResponseEval<'a> {
        let md5 = (url.digest.is_some() || mode == Mode::Genhash).then(Md5::new);
        ResponseEval {
            url,
            limits,
            mode,
            stage: Stage::Head(Vec::new()),
            status: 0,
            head_len: 0,
            content_length: None,
            body_bytes: 0,
            md5,
            regex_buf: Vec::new(),
        }
    }

    /// The raw header bytes, once complete (genhash -v prints them).
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// Feed the next chunk received.
    pub fn feed(&mut self, data: &[u8]) -> Progress {
        match &mut self.stage {
            Stage::Done => Progress::NeedMore,
            Stage::Head(buf) => {
                let start = buf.len().saturating_sub(3);
                buf.extend_from_slice(data);
                let Some(end) = find_head_end(buf, start) else {
                    if buf.len() > self.limits.max_header {
                        return self.done(Err(HttpFailure::HeaderTooLarge(self.limits.max_header)));
                    }
                    return Progress::NeedMore;
                };
                let head = std::mem::take(buf);
                self.head_len = end;
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(&head[..end]) {
                    Ok(httparse::Status::Complete(_)) => {}
                    _ => return self.done(Err(HttpFailure::BadHeader)),
                }
                self.status = resp.code.unwrap_or(0);
                self.content_length = resp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .and_then(|v| v.trim().parse().ok());
                self.stage = Stage::Body;
                if self.mode == Mode::Check && !self.url.needs_body() {
                    return self.finish();
                }
                self.body(&head[end..])
            }
            Stage::Body => self.body(data),
        }
    }

    /// The server closed the connection.
    pub fn eof(&mut self) -> Verdict {
        match &self.stage {
            Stage::Head(_) => self.fail(Err(HttpFailure::NoData)),
            _ => self.verdict(),
        }
    }

    fn body(&mut self, data: &[u8]) -> Progress {
        // Only Content-Length bytes count (http_process_response).
        let take = match self.content_length {
            Some(cl) => (cl.saturating_sub(self.body_bytes)).min(data.len() as u64) as usize,
            None => data.len(),
        };
        let chunk = &data[..take];
        self.body_bytes += take as u64;
        if let Some(md5) = &mut self.md5 {
            md5.update(chunk);
        }
        if self.url.regex.is_some() && self.regex_buf.len() < self.limits.max_regex_window {
            let room = self.limits.max_regex_window - self.regex_buf.len();
            self.regex_buf
                .extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        if self.mode == Mode::Check && self.body_bytes > self.limits.max_body {
            return self.done(Err(HttpFailure::BodyTooLarge(self.limits.max_body)));
        }
        if self.content_length.is_some_and(|cl| self.body_bytes >= cl) {
            return self.finish();
        }
        Progress::NeedMore
    }

    fn finish(&mut self) -> Progress {
        Progress::Done(self.verdict())
    }

    /// http_handle_response: status, then digest, then regex.
    fn verdict(&mut self) -> Verdict {
        let digest: Option<[u8; 16]> = self.md5.take().map(|m| m.finalize().into());
        let result = if !self.url.status_ok(self.status) {
            Err(HttpFailure::Status(self.status))
        } else if let (Some(want), Some(got)) = (self.url.digest, digest) {
            if want == got {
                Ok(())
            } else {
                Err(HttpFailure::Digest(got))
            }
        } else {
            Ok(())
        };
        let result = result.and_then(|()| match &self.url.regex {
            Some(re) => {
                let matched = re.is_match(&self.regex_buf);
                if matched == self.url.regex_no_match {
                    Err(HttpFailure::Regex(matched))
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        });
        self.stage = Stage::Done;
        Verdict {
            status: self.status,
            result,
            digest,
            body_bytes: self.body_bytes,
            content_length: self.content_length,
        }
    }

    fn done(&mut self, result: Result<(), HttpFailure>) -> Progress {
        Progress::Done(self.fail(result))
    }

    fn fail(&mut self, result: Result<(), HttpFailure>) -> Verdict {
        self.stage = Stage::Done;
        Verdict {
            status: self.status,
            result,
            digest: None,
            body_bytes: self.body_bytes,
            content_length: self.content_length,
        }
    }
}

fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| from + p + 4)
}
