//! The SMTP client that sends alert mail: a sans-IO dialogue ([`Dialogue`]) and a tokio
//! driver ([`send`]).
//!
//! The dialogue is keepalived's (core/smtp.c): wait for the 220 greeting, `HELO`, `MAIL
//! FROM`, one `RCPT TO` per recipient, `DATA`, the message ending in `CRLF.CRLF`, `QUIT`. Each
//! reply's code is that of its last line (RFC 5321 §4.2.1: `250-` lines continue). A reply
//! with another code than expected logs keepalived's "Error processing ... cmd" line and
//! skips to `QUIT`, as keepalived does. There is no ESMTP, no TLS and no authentication
//! (keepalived has none either).
//!
//! Bounds: the connection and every reply must arrive within `smtp_connect_timeout`
//! (keepalived applies it to each read), the whole dialogue within [`MAX_STEPS`] of those,
//! and a reply longer than [`MAX_REPLY`] bytes ends the dialogue.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// keepalived's `SMTP_BUFFER_MAX`: a reply that does not fit is an error.
pub const MAX_REPLY: usize = 1024;
/// Upper bound on the number of timed steps (connect, greeting, HELO, MAIL, DATA, body,
/// QUIT, plus one per recipient): the whole dialogue is bounded by this many timeouts.
pub const MAX_STEPS: u32 = 8;

/// Where the dialogue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Greeting,
    Helo,
    Mail,
    Rcpt(usize),
    Data,
    Body,
    Quit,
    Done,
}

impl Stage {
    /// The reply code keepalived expects at this stage.
    fn expected(self) -> u16 {
        match self {
            Stage::Greeting => 220,
            Stage::Data => 354,
            Stage::Quit => 221,
            _ => 250,
        }
    }

    /// keepalived's name of the command, for its error line.
    fn name(self) -> &'static str {
        match self {
            Stage::Greeting => "(E)SMTP",
            Stage::Helo => "HELO",
            Stage::Mail => "MAIL",
            Stage::Rcpt(_) => "RCPT",
            Stage::Data => "DATA",
            Stage::Body => "BODY",
            Stage::Quit | Stage::Done => "QUIT",
        }
    }
}

/// One message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    /// The DATA section: headers, blank line, body (without the final `.` line).
    pub data: String,
}

/// What the driver must do after a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes, then read the next reply.
    Send(Vec<u8>),
    /// The dialogue is over; `delivered` tells whether the server accepted the message.
    Done { delivered: bool },
}

/// Why a reply was not what the dialogue expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpError {
    #[error("Error processing {cmd} cmd on SMTP server {server}. SMTP status code = {code}")]
    Code {
        cmd: &'static str,
        server: String,
        code: u16,
    },
    #[error("Timeout connecting SMTP server {0}.")]
    ConnectTimeout(String),
    #[error("SMTP connection ERROR to {0}: {1}")]
    Connect(String, String),
    #[error("Timeout reading data to remote SMTP server {0}.")]
    ReadTimeout(String),
    #[error("Remote SMTP server {0} has closed the connection.")]
    Closed(String),
    #[error("Received buffer from remote SMTP server {0} overflow our get read buffer length.")]
    Overflow(String),
    #[error("Cannot send data to remote SMTP server {0}.")]
    Send(String),
    #[error("SMTP dialogue with {0} did not finish in time")]
    TooLong(String),
}

/// keepalived's SMTP state machine, without I/O.
#[derive(Debug, Clone)]
pub struct Dialogue {
    env: Envelope,
    stage: Stage,
    delivered: bool,
    /// The first unexpected code, if any (the dialogue then only sends QUIT).
    pub failure: Option<(&'static str, u16)>,
}

impl Dialogue {
    pub fn new(env: Envelope) -> Dialogue {
        Dialogue {
            env,
            stage: Stage::Greeting,
            delivered: false,
            failure: None,
        }
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    fn command(&self) -> Vec<u8> {
        match self.stage {
            Stage::Helo => format!("HELO {}\r\n", self.env.helo),
            Stage::Mail => format!("MAIL FROM:<{}>\r\n", self.env.from),
            Stage::Rcpt(i) => format!("RCPT TO:<{}>\r\n", self.env.to[i]),
            Stage::Data => "DATA\r\n".to_string(),
            // keepalived sends the headers and body, then "\r\n.\r\n"; lines starting with
            // a dot are doubled (RFC 5321 §4.5.2) so a body cannot end the message early.
            Stage::Body => format!("{}\r\n.\r\n", dot_stuff(&self.env.data)),
            Stage::Quit => "QUIT\r\n".to_string(),
            Stage::Greeting | Stage::Done => String::new(),
        }
        .into_bytes()
    }

    /// Feed the code of one complete reply.
    pub fn on_reply(&mut self, code: u16) -> Step {
        if code != self.stage.expected() {
            if self.failure.is_none() && self.stage != Stage::Quit {
                self.failure = Some((self.stage.name(), code));
            }
            if self.stage == Stage::Quit {
                self.stage = Stage::Done;
                return Step::Done {
                    delivered: self.delivered,
                };
            }
            self.stage = Stage::Quit;
            return Step::Send(self.command());
        }
        self.stage = match self.stage {
            Stage::Greeting => Stage::Helo,
            Stage::Helo => Stage::Mail,
            Stage::Mail if self.env.to.is_empty() => Stage::Quit,
            Stage::Mail => Stage::Rcpt(0),
            Stage::Rcpt(i) if i + 1 < self.env.to.len() => Stage::Rcpt(i + 1),
            Stage::Rcpt(_) => Stage::Data,
            Stage::Data => Stage::Body,
            Stage::Body => {
                self.delivered = true;
                Stage::Quit
            }
            Stage::Quit | Stage::Done => {
                self.stage = Stage::Done;
                return Step::Done {
                    delivered: self.delivered,
                };
            }
        };
        Step::Send(self.command())
    }

    /// A read failed or timed out: keepalived then sends QUIT (unless already quitting).
    pub fn abort(&mut self) -> Step {
        if matches!(self.stage, Stage::Quit | Stage::Done) {
            self.stage = Stage::Done;
            return Step::Done {
                delivered: self.delivered,
            };
        }
        self.stage = Stage::Quit;
        Step::Send(self.command())
    }
}

fn dot_stuff(data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 8);
    for (i, line) in data.split("\r\n").enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
    }
    out
}

/// Reply parsing: accumulates bytes and yields the code of each complete reply (the code of
/// its last line; continuation lines have `-` after the code).
#[derive(Debug, Default)]
pub struct Replies {
    buf: Vec<u8>,
}

/// A reply line that does not start with three digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Garbage;

/// The pending reply text would exceed [`MAX_REPLY`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow;

impl Replies {
    /// Add received bytes. `Err` when the pending text exceeds [`MAX_REPLY`].
    pub fn push(&mut self, data: &[u8]) -> Result<(), Overflow> {
        if self.buf.len() + data.len() >= MAX_REPLY {
            return Err(Overflow);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next complete reply's code, if one is buffered.
    pub fn next_reply(&mut self) -> Option<Result<u16, Garbage>> {
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\r\n")?;
            let line: Vec<u8> = self.buf.drain(..end + 2).collect();
            let continued = line.get(3) == Some(&b'-');
            if continued {
                continue;
            }
            let code = match line.get(..3) {
                Some(d) if d.iter().all(u8::is_ascii_digit) => {
                    d.iter().fold(0u16, |acc, c| acc * 10 + u16::from(c - b'0'))
                }
                _ => return Some(Err(Garbage)),
            };
            return Some(Ok(code));
        }
    }
}

/// Deliver one message to `server`, each step bounded by `step_timeout`. Returns whether the
/// server accepted the message; every failure is returned for the caller to log.
pub async fn send(
    server: SocketAddr,
    step_timeout: Duration,
    env: Envelope,
) -> Result<(), SmtpError> {
    let host = crate::check::proto::pool::fmt_addr(server.ip(), server.port());
    let total = step_timeout.saturating_mul(MAX_STEPS + env.to.len() as u32);
    match timeout(total, dialogue(server, step_timeout, env, &host)).await {
        Ok(r) => r,
        Err(_) => Err(SmtpError::TooLong(host)),
    }
}

async fn dialogue(
    server: SocketAddr,
    step_timeout: Duration,
    env: Envelope,
    host: &str,
) -> Result<(), SmtpError> {
    let mut stream = match timeout(step_timeout, TcpStream::connect(server)).await {
        Err(_) => return Err(SmtpError::ConnectTimeout(host.to_string())),
        Ok(Err(e)) => return Err(SmtpError::Connect(host.to_string(), e.to_string())),
        Ok(Ok(s)) => s,
    };
    let mut d = Dialogue::new(env);
    let mut replies = Replies::default();
    let mut buf = [0u8; 512];
    let mut error: Option<SmtpError> = None;
    loop {
        let code = loop {
            if let Some(r) = replies.next_reply() {
                break r.ok();
            }
            match timeout(step_timeout, stream.read(&mut buf)).await {
                Err(_) => {
                    error.get_or_insert(SmtpError::ReadTimeout(host.to_string()));
                    break None;
                }
                Ok(Ok(0)) => {
                    return Err(error.unwrap_or(SmtpError::Closed(host.to_string())));
                }
                Ok(Ok(n)) => {
                    if replies.push(&buf[..n]).is_err() {
                        error.get_or_insert(SmtpError::Overflow(host.to_string()));
                        replies = Replies::default();
                        break None;
                    }
                }
                Ok(Err(_)) => return Err(error.unwrap_or(SmtpError::Closed(host.to_string()))),
            }
        };
        let step = match code {
            Some(c) => d.on_reply(c),
            None => d.abort(),
        };
        match step {
            Step::Send(bytes) => {
                if timeout(step_timeout, stream.write_all(&bytes))
                    .await
                    .map_or(true, |r| r.is_err())
                {
                    return Err(error.unwrap_or(SmtpError::Send(host.to_string())));
                }
            }
            Step::Done { delivered } => {
                if let Some(e) = error {
                    return Err(e);
                }
                if let Some((cmd, code)) = d.failure {
                    return Err(SmtpError::Code {
                        cmd,
                        server: host.to_string(),
                        code,
                    });
                }
                return if delivered {
                    Ok(())
                } else {
                    Err(SmtpError::Closed(host.to_string()))
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(to: &[&str]) -> Envelope {
        Envelope {
            helo: "lb1".into(),
            from: "ka@lb1".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            data: "Subject: x\r\n\r\nbody\r\n.dot".into(),
        }
    }

    fn sent(s: Step) -> String {
        match s {
            Step::Send(b) => String::from_utf8(b).expect("utf8"),
            Step::Done { delivered } => format!("done {delivered}"),
        }
    }

    #[test]
    fn full_dialogue_with_two_recipients() {
        let mut d = Dialogue::new(env(&["a@x", "b@x"]));
        assert_eq!(sent(d.on_reply(220)), "HELO lb1\r\n");
        assert_eq!(sent(d.on_reply(250)), "MAIL FROM:<ka@lb1>\r\n");
        assert_eq!(sent(d.on_reply(250)), "RCPT TO:<a@x>\r\n");
        assert_eq!(sent(d.on_reply(250)), "RCPT TO:<b@x>\r\n");
        assert_eq!(sent(d.on_reply(250)), "DATA\r\n");
        assert_eq!(
            sent(d.on_reply(354)),
            "Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\n"
        );
        assert_eq!(sent(d.on_reply(250)), "QUIT\r\n");
        assert_eq!(sent(d.on_reply(221)), "done true");
    }

    #[test]
    fn rejected_recipient_skips_to_quit() {
        let mut d = Dialogue::new(env(&["a@x"]));
        d.on_reply(220);
        d.on_reply(250);
        d.on_reply(250);
        assert_eq!(sent(d.on_reply(550)), "QUIT\r\n");
        assert_eq!(d.failure, Some(("RCPT", 550)));
        assert_eq!(sent(d.on_reply(221)), "done false");
    }

    #[test]
    fn multiline_replies_take_the_last_code() {
        let mut r = Replies::default();
        r.push(b"220-first\r\n220 second\r\n250").expect("fits");
        assert_eq!(r.next_reply(), Some(Ok(220)));
        assert_eq!(r.next_reply(), None);
        r.push(b" ok\r\nxyz\r\n").expect("fits");
        assert_eq!(r.next_reply(), Some(Ok(250)));
        assert_eq!(r.next_reply(), Some(Err(Garbage)));
        assert!(r.push(&[b'a'; MAX_REPLY]).is_err());
    }
}
