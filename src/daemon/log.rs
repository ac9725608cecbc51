//! Daemon logging as keepalived does it: syslog (ident `Keepalived_vrrp`, facility `daemon`
//! or `-S`), plus the console with `-l`, with keepalived's console line shape
//! (`Thu Nov 27 13:01:00 2026: (VI_1) Entering MASTER STATE`); structured fields, if any,
//! follow in brackets. `-D` lowers the level to debug; `RUST_LOG` overrides the level.
//!
//! This module must not: format protocol messages (callers write keepalived's wording), or
//! block: a syslog datagram that cannot be sent at once is dropped.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// `Thu Nov 27 13:01:00 2026` (UTC; keepalived uses local time, which is UTC on most
/// servers and containers).
pub fn console_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {y}",
        WD[(days.rem_euclid(7)) as usize],
        MON[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn console_time_matches_ctime_shape() {
        let t = UNIX_EPOCH + Duration::from_secs(1_764_248_460); // 2025-11-27 13:01:00 UTC
        assert_eq!(console_time(t), "Thu Nov 27 13:01:00 2025");
        assert_eq!(console_time(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
    }
}
