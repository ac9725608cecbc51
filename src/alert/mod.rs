//! Alert mail (`smtp_alert`), as keepalived's core/smtp.c sends it.
//!
//! Mail goes out when `smtp_server` and at least one `notification_email` are set, for:
//! - a real server's checker changing state (subject `[router_id] Realserver RS of virtual
//!   server VS - UP|DOWN`, the real server's state after the change; the body names the check,
//!   e.g. `=> TCP CHECK failed on service <=`);
//! - a virtual server gaining or losing quorum (`[router_id] Virtualserver VS - UP|DOWN`);
//! - a real server removed at shutdown with `omega` (`... - DOWN`, `=> Shutting down <=`);
//! - a VRRP instance or sync group changing state ([`Alerter::vrrp_instance`],
//!   [`Alerter::vrrp_group`]: `[router_id] VRRP Instance NAME - Entering MASTER state`).
//!
//! Whether an object mails follows keepalived's defaults: its own `smtp_alert`, else
//! `smtp_alert_checker` / `smtp_alert_vrrp`, else `smtp_alert`, else off — except real
//! servers, which default to on (keepalived keeps that for backward compatibility).
//!
//! Sending never blocks the caller: each mail is a detached task bounded by
//! `smtp_connect_timeout` per step; at most [`MAX_IN_FLIGHT`] mails are under way at once
//! and further ones are dropped with a log line. Failures are logged, never retried (as in
//! keepalived).

pub mod smtp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use crate::config::model::{Config, RealServer, VirtualServer};
use crate::vrrp::fsm::State;

/// Mails under way at once; more are dropped (a flapping pool must not pile up tasks).
pub const MAX_IN_FLIGHT: usize = 64;
/// keepalived's `MAX_HEADERS_LENGTH` / `MAX_BODY_LENGTH`: longer subjects and bodies are cut.
const MAX_SUBJECT: usize = 255;
const MAX_BODY: usize = 511;

#[derive(Debug)]
struct Inner {
    server: SocketAddr,
    timeout: Duration,
    router_id: String,
    helo: String,
    from: String,
    to: Vec<String>,
    no_email_faults: bool,
    in_flight: AtomicUsize,
    /// keepalived `last_email_state`, per VRRP instance / group name.
    last_vrrp: Mutex<HashMap<(bool, String), State>>,
}

/// Sends alert mail; cheap to clone. Inert (sends nothing) without `smtp_server` or
/// `notification_email`.
#[derive(Debug, Clone, Default)]
pub struct Alerter {
    inner: Option<Arc<Inner>>,
}

/// keepalived `get_local_name`: the host name.
fn local_name() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
}

/// Cut `s` to at most `max` bytes on a character boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl Alerter {
    /// From the global settings (keepalived `init_global_data` defaults: router_id and HELO
    /// name are the host name, the sender is `user@hostname`).
    pub fn new(cfg: &Config) -> Alerter {
        let g = &cfg.global;
        let Some((ip, port)) = g.smtp_server else {
            return Alerter::default();
        };
        if g.notification_email.is_empty() {
            return Alerter::default();
        }
        let host = local_name();
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| "root".to_string());
        let name = host.clone().unwrap_or_else(|| "localhost".to_string());
        Alerter {
            inner: Some(Arc::new(Inner {
                server: SocketAddr::new(ip, port),
                timeout: Duration::from_micros(g.smtp_connect_timeout.0.max(1)),
                router_id: g.router_id.clone().unwrap_or_else(|| name.clone()),
                helo: g
                    .smtp_helo_name
                    .clone()
                    .or_else(|| host.clone())
                    .unwrap_or_else(|| "localhost".to_string()),
                from: g
                    .notification_email_from
                    .clone()
                    .unwrap_or_else(|| format!("{user}@{name}")),
                to: g.notification_email.clone(),
                no_email_faults: g.no_email_faults,
                in_flight: AtomicUsize::new(0),
                last_vrrp: Mutex::new(HashMap::new()),
            })),
        }
    }

    /// Whether mail can be sent at all.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// keepalived's default for a real server: its own `smtp_alert`, else
    /// `smtp_alert_checker`, else `smtp_alert`, else **on**.
    pub fn rs_wants(cfg: &Config, rs: &RealServer) -> bool {
        rs.smtp_alert
            .or(cfg.global.smtp_alert_checker)
            .or(cfg.global.smtp_alert)
            .unwrap_or(true)
    }

    /// keepalived's default for a virtual server (off unless asked for).
    pub fn vs_wants(cfg: &Config, vs: &VirtualServer) -> bool {
        vs.smtp_alert
            .or(cfg.global.smtp_alert_checker)
            .or(cfg.global.smtp_alert)
            .unwrap_or(false)
    }

    /// `[router_id] Realserver RS of virtual server VS - UP|DOWN` with `body`.
    pub fn real_server(&self, rs: &str, vs: &str, alive: bool, body: &str) {
        if let Some(i) = &self.inner {
            let subject = format!(
                "[{}] Realserver {rs} of virtual server {vs} - {}",
                i.router_id,
                if alive { "UP" } else { "DOWN" }
            );
            self.send(subject, body.to_string());
        }
    }

    /// `[router_id] Virtualserver VS - UP|DOWN` with `body`.
    pub fn virtual_server(&self, vs: &str, up: bool, body: &str) {
        if let Some(i) = &self.inner {
            let subject = format!(
                "[{}] Virtualserver {vs} - {}",
                i.router_id,
                if up { "UP" } else { "DOWN" }
            );
            self.send(subject, body.to_string());
        }
    }

    /// A VRRP instance entered `state` (keepalived `vrrp_smtp_notifier`): mails when the
    /// instance wants mail (`smtp_alert`, else `smtp_alert_vrrp`, else `smtp_alert`, else
    /// off) and the state differs from the last one mailed.
    pub fn vrrp_instance(&self, cfg: &Config, name: &str, state: State) {
        let own = cfg
            .instances
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.smtp_alert);
        self.vrrp_state(cfg, own, false, name, state);
    }

    /// A sync group entered `state` (keepalived `vrrp_sync_smtp_notifier`).
    pub fn vrrp_group(&self, cfg: &Config, name: &str, state: State) {
        let own = cfg
            .sync_groups
            .iter()
            .find(|g| g.name == name)
            .and_then(|g| g.smtp_alert);
        self.vrrp_state(cfg, own, true, name, state);
    }

    /// The subject and body keepalived writes for an instance or a group entering `state`.
    fn vrrp_state(&self, cfg: &Config, own: Option<bool>, group: bool, name: &str, state: State) {
        let wants = own
            .or(cfg.global.smtp_alert_vrrp)
            .or(cfg.global.smtp_alert)
            .unwrap_or(false);
        if !wants {
            return;
        }
        let (subject, instance_body, group_body) = match state {
            State::Master => (
                "Entering MASTER state",
                "=> VRRP Instance is now owning VRRP VIPs <=",
                "=> All VRRP group instances are now in MASTER state <=",
            ),
            State::Backup => (
                "Entering BACKUP state",
                "=> VRRP Instance is no longer owning VRRP VIPs <=",
                "=> All VRRP group instances are now in BACKUP state <=",
            ),
            State::Fault => (
                "Entering FAULT state",
                "=> VRRP Instance is no longer owning VRRP VIPs <=",
                "=> All VRRP group instances are now in FAULT state <=",
            ),
            State::Stop => (
                "Stopping",
                "=> VRRP Instance stopping <=",
                "=> All VRRP group instances are now stopping <=",
            ),
            State::Init => return,
        };
        let body = if group { group_body } else { instance_body };
        self.vrrp(group, name, state, subject, body);
    }

    fn vrrp(&self, group: bool, name: &str, state: State, subject: &str, body: &str) {
        let Some(i) = &self.inner else { return };
        if i.no_email_faults && state == State::Fault {
            return;
        }
        {
            let mut last = i.last_vrrp.lock().unwrap_or_else(|p| p.into_inner());
            let key = (group, name.to_string());
            if last.get(&key) == Some(&state) {
                return;
            }
            last.insert(key, state);
        }
        let what = if group { "Group" } else { "Instance" };
        let subject = format!("[{}] VRRP {what} {name} - {subject}", i.router_id);
        self.send(subject, body.to_string());
    }

    /// Queue one mail (keepalived `smtp_alert`); returns at once.
    pub fn send(&self, subject: String, body: String) {
        let Some(i) = &self.inner else { return };
        if tokio::runtime::Handle::try_current().is_err() {
            warn!("SMTP alert '{subject}' not sent: no runtime");
            return;
        }
        if i.in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
            i.in_flight.fetch_sub(1, Ordering::AcqRel);
            warn!("SMTP alert '{subject}' dropped: {MAX_IN_FLIGHT} alerts already under way");
            return;
        }
        let subject = cut(subject, MAX_SUBJECT);
        let body = cut(body, MAX_BODY);
        let data = message(&i.from, &i.to, &subject, &body, SystemTime::now());
        let env = smtp::Envelope {
            helo: i.helo.clone(),
            from: i.from.clone(),
            to: i.to.clone(),
            data,
        };
        let inner = i.clone();
        tokio::spawn(async move {
            match smtp::send(inner.server, inner.timeout, env).await {
                Ok(()) => info!("SMTP alert successfully sent."),
                Err(e) => info!("{e}"),
            }
            inner.in_flight.fetch_sub(1, Ordering::AcqRel);
        });
    }

    /// Mails still under way.
    pub fn in_flight(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |i| i.in_flight.load(Ordering::Acquire))
    }

    /// Wait up to `limit` for the mails under way (at shutdown).
    pub async fn flush(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// keepalived's DATA section: `Date`, `From`, `Subject`, `X-Mailer: Keepalived`, `To` (all
/// recipients, comma separated), a blank line, the body and a final CRLF.
pub fn message(from: &str, to: &[String], subject: &str, body: &str, now: SystemTime) -> String {
    format!(
        "Date: {}\r\nFrom: {from}\r\nSubject: {subject}\r\nX-Mailer: Keepalived\r\nTo: {}\r\n\r\n{body}\r\n",
        rfc5322_date(now),
        to.join(", ")
    )
}

/// `Mon, 01 Mar 2021 09:44:08 +0100`, local time as keepalived prints it.
pub fn rfc5322_date(t: SystemTime) -> String {
    crate::clock::rfc5322(t)
}

/// keepalived's body for a checker's state change (check_*.c), by checker keyword.
pub fn checker_body(keyword: &str, up: bool, misc_outcome: Option<&str>) -> String {
    match (keyword, up) {
        ("TCP_CHECK", true) => "=> TCP CHECK succeed on service <=".into(),
        ("TCP_CHECK", false) => "=> TCP CHECK failed on service <=".into(),
        ("HTTP_GET" | "SSL_GET", true) => "=> CHECK succeed on service <=".into(),
        ("HTTP_GET" | "SSL_GET", false) => {
            "=> CHECK failed on service : HTTP request failed <=".into()
        }
        ("SMTP_CHECK", true) => "=> CHECK succeed on service <=".into(),
        ("SMTP_CHECK", false) => "=> CHECK failed on service <=".into(),
        ("DNS_CHECK", true) => "=> DNS_CHECK: succeed on service <=".into(),
        ("DNS_CHECK", false) => "=> DNS_CHECK: failed on service <=".into(),
        ("PING_CHECK", true) => "=> ICMP CHECK succeed on service <=".into(),
        ("PING_CHECK", false) => "=> ICMP CHECK failed on service <=".into(),
        ("UDP_CHECK", true) => "=> UDP CHECK succeed on service <=".into(),
        ("UDP_CHECK", false) => "=> UDP CHECK failed on service <=".into(),
        ("MISC_CHECK", up) => format!(
            "=> MISC CHECK {} on service <=",
            misc_outcome.unwrap_or(if up { "succeeded" } else { "failed" })
        ),
        (k, up) => format!(
            "=> {k} {} on service <=",
            if up { "succeeded" } else { "failed" }
        ),
    }
}

/// keepalived `do_vs_notifies`' body for a quorum change.
pub fn quorum_body(
    up: bool,
    init: bool,
    quorum: u32,
    hysteresis: u32,
    threshold: i64,
    weight_sum: i64,
) -> String {
    let what = match (up, init) {
        (true, true) => "Starting with quorum up",
        (true, false) => "Gained quorum",
        (false, true) => "Starting with quorum down",
        (false, false) => "Lost quorum",
    };
    format!("=> {what} {quorum}+{hysteresis}={threshold} <= {weight_sum} <=")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout() {
        let m = message(
            "ka@lb",
            &["a@x".into(), "b@x".into()],
            "[lb] s",
            "body",
            std::time::UNIX_EPOCH,
        );
        // The date is local time (src/clock.rs tests its shape in fixed zones).
        let date = crate::clock::rfc5322(std::time::UNIX_EPOCH);
        assert_eq!(
            m,
            format!(
                "Date: {date}\r\nFrom: ka@lb\r\nSubject: [lb] s\r\n\
                 X-Mailer: Keepalived\r\nTo: a@x, b@x\r\n\r\nbody\r\n"
            )
        );
    }
}
