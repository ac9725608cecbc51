//! From the configuration model to what the engine runs: the list of distinct probes and the
//! pool of virtual / real servers they report to.
//!
//! Identical checks are run once. Two checkers are the same probe when everything that
//! shapes the probe and its up/down decisions is equal: kind and settings, target, source
//! binding, timing and alpha. A real server listed in several virtual servers with the same
//! checker is therefore probed once per `delay_loop`, not once per virtual server (in
//! keepalived each copy probes on its own).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use regex::bytes::RegexBuilder;
use tracing::warn;

use super::proto::checker::{Flavor, Timing};
use super::proto::dns::QType;
use super::proto::http::{HttpProtocol, UrlCheck, hex, parse_digest};
use super::proto::pool::{RsSpec, SlotSpec, SorrySpec, VsSpec};
use super::proto::udp::{ReplyCheck, parse_hex};
use crate::config::model::{
    Checker, CheckerBind, CheckerKind, Command, Config, Micros, Protocol, RealServer,
    VirtualServer, VsAddress,
};
use crate::vrrp::notify::ScriptEnv;

/// TLS settings of an SSL_GET probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsSpec {
    /// Server name to send (`enable_sni`: `sni_name`, else the virtual host).
    pub sni: Option<String>,
    /// Client certificate and key files (global `SSL { certificate key }`).
    pub certificate: Option<String>,
    pub key: Option<String>,
}

/// What a probe does.
#[derive(Debug, Clone)]
pub enum ProbeKind {
    Tcp,
    Http {
        tls: Option<TlsSpec>,
        protocol: HttpProtocol,
        urls: Arc<[UrlCheck]>,
    },
    Udp {
        payload: Vec<u8>,
        /// `None` without `require_reply`.
        reply: Option<ReplyCheck>,
    },
    Dns {
        name: String,
        qtype: QType,
    },
    Smtp {
        helo: String,
    },
    Misc {
        command: Command,
        timeout: Micros,
        dynamic: bool,
        user: Option<(String, Option<String>)>,
        /// The script as it runs (user resolved, security checked), set by the engine at
        /// start-up ([`Plan::prepare_scripts`]); a probe without one is not run.
        prepared: Option<Arc<super::io::misc::Prepared>>,
    },
    Ping,
    File {
        path: String,
        weight: i32,
        reverse: bool,
    },
}

impl ProbeKind {
    /// keepalived's checker keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            ProbeKind::Tcp => "TCP_CHECK",
            ProbeKind::Http { tls: None, .. } => "HTTP_GET",
            ProbeKind::Http { tls: Some(_), .. } => "SSL_GET",
            ProbeKind::Udp { .. } => "UDP_CHECK",
            ProbeKind::Dns { .. } => "DNS_CHECK",
            ProbeKind::Smtp { .. } => "SMTP_CHECK",
            ProbeKind::Misc { .. } => "MISC_CHECK",
            ProbeKind::Ping => "PING_CHECK",
            ProbeKind::File { .. } => "FILE_CHECK",
        }
    }
}

/// One distinct probe.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub kind: ProbeKind,
    pub target: SocketAddr,
    pub bind: Option<CheckerBind>,
    pub connect_timeout: Micros,
    pub timing: Timing,
    pub flavor: Flavor,
    pub alpha: bool,
    pub log_all_failures: bool,
    /// keepalived's `FMT_CHK`: `[addr]:proto:port` of the target.
    pub name: String,
}

impl ProbeSpec {
    /// The identity used for deduplication and for keeping state across a reload.
    pub fn key(&self) -> String {
        let mut k = String::new();
        let _ = write!(
            k,
            "{}|{}|{:?}|{}|{:?}|{:?}|{}|",
            self.kind.keyword(),
            self.target,
            self.bind,
            self.connect_timeout.0,
            self.timing,
            self.flavor,
            self.alpha
        );
        match &self.kind {
            ProbeKind::Tcp | ProbeKind::Ping => {}
            ProbeKind::Http {
                tls,
                protocol,
                urls,
            } => {
                let _ = write!(k, "{tls:?}|{protocol:?}");
                for u in urls.iter() {
                    let _ = write!(
                        k,
                        "|{}#{:?}#{:?}#{:?}#{}#{:?}",
                        u.path,
                        u.digest.map(|d| hex(&d)),
                        u.status_codes,
                        u.regex.as_ref().map(|r| r.as_str()),
                        u.regex_no_match,
                        u.virtualhost
                    );
                }
            }
            ProbeKind::Udp { payload, reply } => {
                let _ = write!(k, "{payload:?}|{reply:?}");
            }
            ProbeKind::Dns { name, qtype } => {
                let _ = write!(k, "{name}|{qtype:?}");
            }
            ProbeKind::Smtp { helo } => k.push_str(helo),
            ProbeKind::Misc {
                command,
                timeout,
                dynamic,
                user,
                ..
            } => {
                let _ = write!(
                    k,
                    "{:?}|{:?}|{:?}|{}|{dynamic}|{user:?}",
                    command.args, command.user, command.group, timeout.0
                );
            }
            ProbeKind::File {
                path,
                weight,
                reverse,
            } => {
                let _ = write!(k, "{path}|{weight}|{reverse}");
            }
        }
        k
    }
}

/// Everything the engine needs, built from a [`Config`].
#[derive(Debug, Clone)]
pub struct Plan {
    pub probes: Vec<ProbeSpec>,
    pub keys: Vec<String>,
    /// The engine's stable id of each probe (its index until the engine renumbers).
    pub ids: Vec<usize>,
    pub pool: Vec<VsSpec>,
    /// For each virtual server, its keepalived name (`FMT_VS`) and its protocol name.
    pub vs_names: Vec<String>,
    /// For each virtual server and real server, `FMT_RS`.
    pub rs_names: Vec<Vec<String>>,
    /// Probes that must not run (a MISC_CHECK script disabled by script security).
    pub disabled: Vec<bool>,
}

/// The FILE_CHECK poll interval (keepalived watches the file with inotify).
pub const FILE_POLL: Micros = Micros(1_000_000);

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// keepalived `format_vs`.
pub fn vs_name(vs: &VirtualServer) -> String {
    match &vs.address {
        VsAddress::Ip { addr, port } => format!("[{addr}]:{}:{port}", proto_name(vs.protocol)),
        VsAddress::Fwmark { mark, .. } => format!("FWM {mark}"),
        VsAddress::Group(g) => format!("[{g}]:0"),
    }
}

impl Plan {
    /// Build the plan. Checkers that cannot run are left out with a warning (BFD_CHECK: no
    /// BFD process; a FILE_CHECK naming an unknown track_file).
    pub fn build(config: &Config) -> Plan {
        let mut plan = Plan {
            probes: Vec::new(),
            keys: Vec::new(),
            ids: Vec::new(),
            pool: Vec::new(),
            vs_names: Vec::new(),
            rs_names: Vec::new(),
            disabled: Vec::new(),
        };
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for vs in &config.virtual_servers {
            let mut rss = Vec::with_capacity(vs.real_servers.len());
            let mut names = Vec::with_capacity(vs.real_servers.len());
            for rs in &vs.real_servers {
                names.push(format!(
                    "[{}]:{}:{}",
                    rs.addr,
                    proto_name(vs.protocol),
                    rs.port
                ));
                let mut slots = Vec::new();
                for ck in rs.checkers.iter() {
                    for spec in probe_specs(config, vs, rs, ck) {
                        let key = spec.key();
                        let id = *by_key.entry(key.clone()).or_insert_with(|| {
                            plan.probes.push(spec.clone());
                            plan.keys.push(key);
                            plan.probes.len() - 1
                        });
                        slots.push(SlotSpec {
                            checker: id,
                            initially_up: !spec.alpha,
                            alpha: spec.alpha,
                        });
                    }
                }
                rss.push(RsSpec {
                    addr: rs.addr,
                    port: rs.port,
                    weight: rs.weight as i64,
                    inhibit: rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
                    slots,
                });
            }
            plan.pool.push(VsSpec {
                quorum: vs.quorum,
                hysteresis: vs.hysteresis,
                omega: vs.omega,
                sorry: vs.sorry_server.map(|(addr, port)| SorrySpec {
                    addr,
                    port,
                    weight: 1,
                    inhibit: vs.sorry_server_inhibit,
                }),
                real_servers: rss,
            });
            plan.vs_names.push(vs_name(vs));
            plan.rs_names.push(names);
        }
        plan.ids = (0..plan.probes.len()).collect();
        plan.disabled = vec![false; plan.probes.len()];
        plan
    }

    /// Resolve every MISC_CHECK script as keepalived's checker does at start-up (user:
    /// MISC_CHECK `user`, else `script_user`, else `keepalived_script` if it exists, else
    /// ours; then `check_misc_script_security`). A script that cannot run disables its probe
    /// and the real servers it serves then behave as keepalived's do once it frees the
    /// checker (check_misc.c `check_misc_script_security`, check_data.c):
    /// - an unknown user removes the checker cleanly (keepalived `dequeue_new_checker`);
    /// - an insecure, missing or non-executable script removes it too, but an `alpha`
    ///   checker was already counted as failed, so its real server stays down for good.
    ///
    /// Must run before the engine renumbers the probes.
    pub fn prepare_scripts(&mut self, env: &ScriptEnv) {
        let mut removed = vec![false; self.probes.len()];
        for (i, p) in self.probes.iter_mut().enumerate() {
            let ProbeKind::Misc {
                command,
                user,
                prepared,
                ..
            } = &mut p.kind
            else {
                continue;
            };
            let mut cmd = command.clone();
            if let Some((u, g)) = user {
                cmd.user = Some(u.clone());
                cmd.group = g.clone();
            }
            let user_ok = match &cmd.user {
                Some(u) => nix::unistd::User::from_name(u).ok().flatten().is_some(),
                None => env.default.is_some(),
            };
            match env.prepare(&cmd, "MISC_CHECK") {
                Some(script) => {
                    *prepared = Some(Arc::new(super::io::misc::Prepared {
                        env: env.clone(),
                        script,
                    }));
                }
                None => {
                    let shown = cmd.args.join(" ");
                    if !user_ok {
                        warn!("Unable to set default user for misc script {shown} - removing");
                        removed[i] = true;
                    } else {
                        warn!("Disabling misc script {shown} due to insecure");
                    }
                    self.disabled[i] = true;
                }
            }
        }
        for vs in &mut self.pool {
            for rs in &mut vs.real_servers {
                rs.slots
                    .retain(|s| !self.disabled[s.checker] || (s.alpha && !removed[s.checker]));
            }
        }
    }
}

/// The probes one configured checker stands for (SMTP_CHECK `host` blocks are one each).
fn probe_specs(
    config: &Config,
    vs: &VirtualServer,
    rs: &RealServer,
    ck: &Checker,
) -> Vec<ProbeSpec> {
    let alpha = ck.alpha.or(rs.alpha).unwrap_or(vs.alpha);
    let t = ck.timing;
    let timing = Timing {
        delay_loop: t.delay_loop,
        delay_before_retry: t.delay_before_retry,
        retry: t.retry,
        warmup: t.warmup.unwrap_or(t.delay_loop),
    };
    let target = SocketAddr::new(
        ck.connect_ip.unwrap_or(rs.addr),
        ck.connect_port.unwrap_or(rs.port),
    );
    let proto = proto_name(
        if matches!(ck.kind, CheckerKind::Udp(_) | CheckerKind::Dns(_)) {
            Protocol::Udp
        } else {
            Protocol::Tcp
        },
    );
    let base = |kind: ProbeKind, flavor: Flavor, target: SocketAddr| ProbeSpec {
        name: format!("[{}]:{proto}:{}", target.ip(), target.port()),
        kind,
        target,
        bind: ck.bind.as_deref().cloned(),
        connect_timeout: t.connect_timeout,
        timing,
        flavor,
        alpha,
        log_all_failures: ck.log_all_failures.unwrap_or(false),
    };
    match &ck.kind {
        CheckerKind::Tcp => vec![base(ProbeKind::Tcp, Flavor::Standard, target)],
        CheckerKind::Ping => vec![base(ProbeKind::Ping, Flavor::Standard, target)],
        CheckerKind::Http(h) | CheckerKind::Ssl(h) => {
            let tls = matches!(ck.kind, CheckerKind::Ssl(_));
            let mut urls = Vec::with_capacity(h.urls.len());
            for u in &h.urls {
                let vhost = u
                    .virtualhost
                    .clone()
                    .or_else(|| h.virtualhost.clone())
                    .or_else(|| rs.virtualhost.clone())
                    .or_else(|| vs.virtualhost.clone());
                let regex = u.regex.as_deref().and_then(|r| {
                    RegexBuilder::new(r)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| warn!(regex = r, error = %e, "invalid url regex ignored"))
                        .ok()
                });
                urls.push(UrlCheck {
                    path: u.path.clone().unwrap_or_else(|| "/".into()),
                    digest: u.digest.as_deref().and_then(parse_digest),
                    status_codes: u.status_codes.clone(),
                    regex,
                    regex_no_match: u.regex_no_match,
                    virtualhost: vhost,
                });
            }
            let ssl = config.ssl.clone().unwrap_or_default();
            let tls = tls.then(|| TlsSpec {
                sni: h
                    .enable_sni
                    .then(|| {
                        h.sni_name
                            .clone()
                            .or_else(|| urls.first().and_then(|u| u.virtualhost.clone()))
                    })
                    .flatten(),
                certificate: ssl.certificate,
                key: ssl.key,
            });
            let n = urls.len();
            vec![base(
                ProbeKind::Http {
                    tls,
                    protocol: h
                        .http_protocol
                        .as_deref()
                        .and_then(HttpProtocol::parse)
                        .unwrap_or_default(),
                    urls: urls.into(),
                },
                Flavor::Http {
                    urls: n,
                    fast_recovery: h.fast_recovery,
                },
                target,
            )]
        }
        CheckerKind::Udp(u) => {
            let reply = u.require_reply.as_ref().map(|r| ReplyCheck {
                pattern: if r.trim().is_empty() {
                    None
                } else {
                    parse_hex(r, true)
                        .map_err(|e| warn!(pattern = r, error = %e, "invalid require_reply"))
                        .ok()
                },
                min_len: u.min_reply_length.unwrap_or(0) as usize,
                max_len: u.max_reply_length.unwrap_or(255) as usize,
            });
            // layer4.c: without a payload, 32 bytes are sent.
            let payload = u.payload.clone().unwrap_or_else(|| vec![0; 32]);
            vec![base(
                ProbeKind::Udp { payload, reply },
                Flavor::Standard,
                target,
            )]
        }
        CheckerKind::Dns(d) => vec![base(
            ProbeKind::Dns {
                name: d.name.clone().unwrap_or_else(|| ".".into()),
                qtype: d
                    .qtype
                    .as_deref()
                    .and_then(QType::parse)
                    .unwrap_or_default(),
            },
            Flavor::Standard,
            target,
        )],
        CheckerKind::Smtp(s) => {
            let helo = s
                .helo_name
                .clone()
                .unwrap_or_else(|| "smtpchecker.keepalived.org".into());
            let mut out = Vec::new();
            let own = ck.connect_ip.is_some() || ck.connect_port.is_some() || ck.bind.is_some();
            if s.hosts.is_empty() || own {
                out.push(base(
                    ProbeKind::Smtp { helo: helo.clone() },
                    Flavor::Smtp,
                    target,
                ));
            }
            for h in &s.hosts {
                let mut p = base(
                    ProbeKind::Smtp { helo: helo.clone() },
                    Flavor::Smtp,
                    SocketAddr::new(
                        h.connect_ip.unwrap_or(rs.addr),
                        h.connect_port.unwrap_or(rs.port),
                    ),
                );
                if let Some(ct) = h.connect_timeout {
                    p.connect_timeout = ct;
                }
                if h.bindto.is_some()
                    || h.bind_port.is_some()
                    || h.bind_if.is_some()
                    || h.fwmark.is_some()
                {
                    p.bind = Some(CheckerBind {
                        bindto: h.bindto,
                        bind_port: h.bind_port,
                        bind_if: h.bind_if.clone(),
                        fwmark: h.fwmark,
                    });
                }
                out.push(p);
            }
            out
        }
        CheckerKind::Misc(m) => {
            let Some(command) = m.path.clone() else {
                return Vec::new();
            };
            let vs_delay = vs.timing.delay_loop.unwrap_or(Micros::secs(60));
            vec![base(
                ProbeKind::Misc {
                    command,
                    timeout: m.timeout.unwrap_or(vs_delay),
                    dynamic: m.dynamic,
                    user: m.user.clone(),
                    prepared: None,
                },
                Flavor::Misc,
                target,
            )]
        }
        CheckerKind::File(f) => {
            let tf = f
                .track_file
                .as_deref()
                .and_then(|n| config.track_files.iter().find(|t| t.name == n));
            let Some(path) = tf.and_then(|t| t.file.clone()) else {
                warn!(track_file = ?f.track_file, "FILE_CHECK: unknown track_file, checker ignored");
                return Vec::new();
            };
            let (weight, reverse) = match f.weight {
                Some(w) => (w, f.reverse),
                None => tf
                    .map(|t| (t.weight, t.weight_reverse))
                    .unwrap_or((0, false)),
            };
            let mut p = base(
                ProbeKind::File {
                    path,
                    weight,
                    reverse,
                },
                Flavor::Standard,
                target,
            );
            // The file's state applies at once, with no retry and no warmup.
            p.timing = Timing {
                delay_loop: FILE_POLL,
                delay_before_retry: FILE_POLL,
                retry: 0,
                warmup: Micros(0),
            };
            p.name = format!(
                "file {}",
                match &p.kind {
                    ProbeKind::File { path, .. } => path.as_str(),
                    _ => "",
                }
            );
            vec![p]
        }
        CheckerKind::Bfd(_) => {
            warn!(rs = %rs.addr, "BFD_CHECK is not supported by this checker; ignored");
            Vec::new()
        }
    }
}
