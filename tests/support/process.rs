//! Run a command with a timeout, capturing its output (bounded), without ever blocking
//! the test forever.

use std::fmt;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// At most this many bytes of each stream are kept (the rest is read and dropped).
pub const CAPTURE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    TimedOut(Duration),
    SpawnFailed(String),
}

impl Outcome {
    fn from_status(status: ExitStatus) -> Outcome {
        match (status.code(), status.signal()) {
            (Some(c), _) => Outcome::Exited(c),
            (None, Some(s)) => Outcome::Signaled(s),
            (None, None) => Outcome::SpawnFailed(format!("unknown wait status {status:?}")),
        }
    }

    /// The code a shell would report: the exit code, or 128 + signal number.
    pub fn shell_code(&self) -> Option<i32> {
        match *self {
            Outcome::Exited(c) => Some(c),
            Outcome::Signaled(s) => Some(128 + s),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(c) => write!(f, "{c}"),
            Outcome::Signaled(s) => {
                write!(f, "{} (killed by signal {s}{})", 128 + s, signal_name(*s))
            }
            Outcome::TimedOut(d) => write!(f, "TIMEOUT after {:.1}s (killed)", d.as_secs_f64()),
            Outcome::SpawnFailed(e) => write!(f, "SPAWN FAILED: {e}"),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => ", SIGSEGV",
        libc::SIGABRT => ", SIGABRT",
        libc::SIGBUS => ", SIGBUS",
        libc::SIGILL => ", SIGILL",
        libc::SIGFPE => ", SIGFPE",
        libc::SIGKILL => ", SIGKILL",
        libc::SIGTERM => ", SIGTERM",
        _ => "",
    }
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub outcome: Outcome,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl RunResult {
    /// stderr followed by stdout (keepalived prints `-t` messages on stderr; tools differ).
    pub fn output(&self) -> Vec<u8> {
        let mut v = self.stderr.clone();
        if !self.stdout.is_empty() {
            if !v.is_empty() && !v.ends_with(b"\n") {
                v.push(b'\n');
            }
            v.extend_from_slice(&self.stdout);
        }
        v
    }
}

fn drain<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = CAPTURE_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

/// Run `cmd` (stdin = /dev/null) in its own process group; if it has not exited after
/// `timeout`, SIGKILL that group (the group is the child's own: only processes this
/// call started; it is killed before the child is reaped, so the id cannot be stale).
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> RunResult {
    let start = Instant::now();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return RunResult {
                outcome: Outcome::SpawnFailed(format!("{cmd:?}: {e}")),
                stdout: Vec::new(),
                stderr: Vec::new(),
                elapsed: start.elapsed(),
            };
        }
    };
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let pgid = child.id() as libc::pid_t;
    let outcome = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Outcome::from_status(status),
            Ok(None) => {}
            Err(e) => break Outcome::SpawnFailed(format!("wait: {e}")),
        }
        if start.elapsed() >= timeout {
            // SAFETY: plain kill(2) of the process group we created above (pgid == child pid).
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let _ = child.wait();
            break Outcome::TimedOut(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(
            if start.elapsed() < Duration::from_secs(1) {
                2
            } else {
                20
            },
        ));
    };
    // The pipes reach EOF once every process holding them has exited. A straggler that
    // the command left behind (it should not: `-t` never forks a daemon) would keep them
    // open, so do not wait for the output forever.
    let grace = Duration::from_secs(5);
    let mut note = Vec::new();
    let stdout = out.recv_timeout(grace).unwrap_or_else(|_| {
        note.extend_from_slice(
            b"[harness: stdout still open 5s after exit - a child process was left running]\n",
        );
        Vec::new()
    });
    let mut stderr = err.recv_timeout(grace).unwrap_or_else(|_| {
        note.extend_from_slice(
            b"[harness: stderr still open 5s after exit - a child process was left running]\n",
        );
        Vec::new()
    });
    stderr.extend_from_slice(&note);
    RunResult {
        outcome,
        stdout,
        stderr,
        elapsed: start.elapsed(),
    }
}
