//! Daemon logging as keepalived does it: syslog (ident `Keepalived_vrrp`, facility `daemon`
//! or `-S`), plus the console with `-l`, with keepalived's console line shape
//! (`Thu Nov 27 13:01:00 2026: (VI_1) Entering MASTER STATE`); structured fields, if any,
//! follow in brackets. `-D` lowers the level to debug; `RUST_LOG` overrides the level.
//!
//! This module must not: format protocol messages (callers write keepalived's wording), or
//! block: a syslog datagram that cannot be sent at once is dropped.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{LogFacility, Options};

/// syslog facility codes (RFC 5424 §6.2.1).
const FACILITY_USER: u8 = 1;
const FACILITY_DAEMON: u8 = 3;
const FACILITY_LOCAL0: u8 = 16;

struct Syslog {
    sock: UnixDatagram,
    facility: u8,
    ident: String,
}

/// The keepalived-style output layer.
pub struct KaLayer {
    console: bool,
    syslog: Option<Syslog>,
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = std::fmt::Write::write_fmt(
                &mut self.rest,
                format_args!(" {}={value}", field.name()),
            );
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = std::fmt::Write::write_fmt(&mut self.message, format_args!("{value:?}"));
        } else {
            let _ = std::fmt::Write::write_fmt(
                &mut self.rest,
                format_args!(" {}={value:?}", field.name()),
            );
        }
    }
}

fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

impl<S: Subscriber> Layer<S> for KaLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let mut line = f.message;
        // Structured fields (the checkers log them; the VRRP lines keepalived prints have
        // none, so they stay exactly keepalived's).
        if !f.rest.is_empty() {
            line.push_str(" [");
            line.push_str(f.rest.trim_start());
            line.push(']');
        }
        if self.console {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}: {line}", console_time(SystemTime::now()));
        }
        if let Some(s) = &self.syslog {
            let pri = s.facility * 8 + severity(event.metadata().level());
            let msg = format!("<{pri}>{}[{}]: {line}", s.ident, std::process::id());
            let _ = s.sock.send(msg.as_bytes());
        }
    }
}

/// Installs the daemon's subscriber. `ident` is the syslog ident (`Keepalived_vrrp`).
pub fn init(opts: &Options, ident: &str) {
    let level = match opts.log_detail {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let syslog = if opts.no_syslog {
        None
    } else {
        let facility = match opts.log_facility {
            None | Some(LogFacility::Daemon) => FACILITY_DAEMON,
            Some(LogFacility::User) => FACILITY_USER,
            Some(LogFacility::Local(n)) => FACILITY_LOCAL0 + n.min(7),
        };
        UnixDatagram::unbound()
            .and_then(|sock| {
                sock.connect("/dev/log")?;
                sock.set_nonblocking(true)?;
                Ok(sock)
            })
            .ok()
            .map(|sock| Syslog {
                sock,
                facility,
                ident: ident.to_string(),
            })
    };
    let layer = KaLayer {
        console: opts.log_console,
        syslog,
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
}

/// `Thu Nov 27 13:01:00 2026`, local time (keepalived's console lines).
pub fn console_time(t: SystemTime) -> String {
    crate::clock::ctime(t)
}
