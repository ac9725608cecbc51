//! The sans-IO health-checker core: every decision keepalived's checker process makes, as pure
//! state machines and codecs.
//!
//! Nothing here may read a clock, open a socket, spawn a process or draw a random number: time
//! comes in as a [`Now`] argument, randomness (warmup) as a number the caller drew, and every
//! effect goes out as an action value for the driver (`check::engine`) to carry out.
//!
//! - [`checker`] — one checker's retry / delay_before_retry / warmup / alpha logic (keepalived's
//!   per-checker epilogs), `handle(now, event) -> actions`;
//! - [`pool`]    — real-server and virtual-server state: several checkers per real server,
//!   weights, inhibit_on_failure, quorum / hysteresis, sorry server, notifications, and the
//!   resulting table of IPVS destinations;
//! - [`http`]    — the HTTP_GET / SSL_GET request and response evaluation (status ranges, MD5
//!   digest, regex), with bounded buffers;
//! - [`udp`], [`dns`], [`smtp`], [`misc`], [`file`] — the other checkers' protocol logic.

pub mod checker;
pub mod dns;
pub mod file;
pub mod http;
pub mod misc;
pub mod pool;
pub mod smtp;
pub mod udp;

use std::fmt;

use crate::config::model::Micros;

/// A point on the caller's monotonic clock, in microseconds from an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Now(pub u64);

impl Now {
    /// `self + d`, saturating at the end of time.
    pub const fn add(self, d: Micros) -> Now {
        Now(self.0.saturating_add(d.0))
    }

    /// How long after `earlier` this instant is (zero if it is not later).
    pub const fn since(self, earlier: Now) -> Micros {
        Micros(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Now {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", Micros(self.0))
    }
}
