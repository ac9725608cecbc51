//! SMTP_CHECK: the dialogue keepalived has with a mail server (check_smtp.c
//! `smtp_engine_thread`): read a `220` banner, send `HELO name`, read `250`, send `QUIT`,
//! read the answer. Multi-line replies (`220-...`) are read to their last line (RFC 5321
//! §4.2.1); keepalived reads only the first line.

/// Where the dialogue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Banner,
    Helo,
    Quit,
    Done,
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read more.
    NeedMore,
    /// Send these bytes, then read more.
    Send(Vec<u8>),
    /// The check passed.
    Success,
    /// The check failed.
    Fail(SmtpFailure),
}

/// Why the dialogue failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpFailure {
    #[error("bad greeting banner")]
    BadBanner,
    #[error("bad HELO response")]
    BadHelo,
    #[error("reply line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("connection closed")]
    Closed,
}

/// The longest reply line accepted (RFC 5321 §4.5.3.1.5: 512 octets).
pub const MAX_LINE: usize = 512;

/// The SMTP dialogue state machine; feed it bytes as they arrive.
#[derive(Debug, Clone)]
pub struct Dialogue {
    helo_name: String,
    stage: Stage,
    line: Vec<u8>,
}

impl Dialogue {
    pub fn new(helo_name: impl Into<String>) -> Dialogue {
        Dialogue {
            helo_name: helo_name.into(),
            stage: Stage::Banner,
            line: Vec::new(),
        }
    }

    /// Feed received bytes; returns the first step that is not [`Step::NeedMore`], or
    /// `NeedMore`. Bytes after a complete reply are kept for the next call.
    pub fn feed(&mut self, data: &[u8]) -> Step {
        let mut sends = Vec::new();
        for &b in data {
            if self.stage == Stage::Done {
                break;
            }
            if b != b'\n' {
                if self.line.len() >= MAX_LINE {
                    self.stage = Stage::Done;
                    return Step::Fail(SmtpFailure::LineTooLong(MAX_LINE));
                }
                self.line.push(b);
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            // "NNN-text" continues; "NNN text" or "NNN" ends the reply.
            if line.len() >= 4 && line[3] == b'-' {
                continue;
            }
            let code = reply_code(line);
            match self.stage {
                Stage::Banner if code == Some(220) => {
                    self.stage = Stage::Helo;
                    sends.extend_from_slice(format!("HELO {}\r\n", self.helo_name).as_bytes());
                }
                Stage::Banner => {
                    self.stage = Stage::Done;
                    return Step::Fail(SmtpFailure::BadBanner);
                }
                Stage::Helo if code == Some(250) => {
                    self.stage = Stage::Quit;
                    sends.extend_from_slice(b"QUIT\r\n");
                }
                Stage::Helo => {
                    self.stage = Stage::Done;
                    return Step::Fail(SmtpFailure::BadHelo);
                }
                Stage::Quit => {
                    // keepalived accepts any answer to QUIT.
                    self.stage = Stage::Done;
                    return Step::Success;
                }
                Stage::Done => {}
            }
        }
        if sends.is_empty() {
            Step::NeedMore
        } else {
            Step::Send(sends)
        }
    }

    /// The server closed the connection.
    pub fn eof(&mut self) -> Step {
        let was = self.stage;
        self.stage = Stage::Done;
        match was {
            // A server that closes right after QUIT without answering is still fine.
            Stage::Quit => Step::Success,
            _ => Step::Fail(SmtpFailure::Closed),
        }
    }
}

/// keepalived `smtp_get_status`: exactly three digits, then a blank or the end.
fn reply_code(line: &[u8]) -> Option<u16> {
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if line.len() > 3 && line[3] != b' ' {
        return None;
    }
    std::str::from_utf8(&line[..3]).ok()?.parse().ok()
}
