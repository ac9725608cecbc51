//! A [`Plan`] for one router → the typed model, exactly as keepalived.conf's lowering would
//! build it from the converted file read with `-i primary|backup` (tests compare the two
//! through `-d`). No decisions here: they are all in [`super::plan`].

use std::net::IpAddr;

use super::Role;
use super::plan::{self, Check, Plan, VsAddr};
use crate::config::diag::{Diagnostics, ErrorClass as E, Loc};
use crate::config::model::*;

/// The configuration `role` runs.
pub fn lower(plan: &Plan, role: Role, diags: &mut Diagnostics) -> Config {
    let mut c = Config::default();
    let role = if plan.backup.is_none() && role == Role::Backup {
        // pulse: "We are backup node and backup is marked inactive -- exiting pulse".
        diags.report(
            E::Fatal,
            None,
            "this node is the backup router but the lvs.cf has no active backup \
             (backup_active = 1 and backup = ADDRESS): nothing to run",
        );
        return c;
    } else {
        role
    };

    let g = &mut c.global;
    g.enable_script_security = true;
    g.script_user = Some(("root".into(), None));
    g.lvs_timeouts = plan.lvs_timeouts;
    if let Some(sd) = &plan.sync_daemon {
        let mut args = vec![sd.instance.clone()];
        if let Some(id) = sd.id {
            args.extend(["id".to_string(), id.to_string()]);
        }
        g.lvs_sync_daemon = Some(LvsSyncDaemon {
            interface: sd.interface.clone(),
            instance: Some(sd.instance.clone()),
            id: sd.id,
            args,
        });
    }

    let notify = Notify {
        master: plan
            .notify_master
            .as_ref()
            .map(|a| command(a, Loc::default())),
        backup: plan
            .notify_backup
            .as_ref()
            .map(|a| command(a, Loc::default())),
        fault: plan
            .notify_backup
            .as_ref()
            .map(|a| command(a, Loc::default())),
        stop: plan
            .notify_backup
            .as_ref()
            .map(|a| command(a, Loc::default())),
        ..Notify::default()
    };
    let grouped = plan.sync_group().is_some();
    if let Some(name) = plan.sync_group() {
        c.sync_groups.push(SyncGroup {
            name: name.to_string(),
            members: plan
                .instances
                .iter()
                .map(|i| (i.name.clone(), i.loc))
                .collect(),
            tracking: Tracking::default(),
            notify: notify.clone(),
            smtp_alert: None,
            global_tracking: false,
            sync_group_tracking_weight: false,
            notify_priority_changes: None,
            loc: plan.instances[0].loc,
        });
    }

    for i in &plan.instances {
        let mut v = VrrpInstance::new(i.name.clone(), i.loc);
        let (state, prio) = match role {
            Role::Primary => (InitialState::Master, plan::PRIORITY_PRIMARY),
            Role::Backup => (InitialState::Backup, plan::PRIORITY_BACKUP),
        };
        v.state = state;
        v.state_given = true;
        v.priority = Priority(prio);
        v.priority_given = true;
        v.interface = Some((i.interface.clone(), i.loc));
        v.dont_track_primary = plan.dont_track_primary;
        v.vrid = Some(Vrid(i.vrid));
        v.advert_int = Centis(plan.advert_int * 100);
        v.down_timer_adverts = Some(plan.down_timer_adverts);
        v.vips = i
            .vips
            .iter()
            .map(|vip| IpAddress {
                addr: IpAddr::V4(vip.addr),
                prefix: vip.prefix,
                broadcast: None,
                dev: Some(vip.dev.clone()),
                scope: None,
                label: vip.label.clone(),
                peer: None,
                peer_prefix: None,
                flags: Vec::new(),
                preferred_lft: None,
                loc: vip.loc,
            })
            .collect();
        // lvs.cf is IPv4 only; keepalived takes the family from the first address.
        if !v.vips.is_empty() {
            v.family = Family::Inet;
        }
        if !grouped {
            v.notify = notify.clone();
        }
        c.instances.push(v);
    }

    for b in &plan.blocks {
        if let Some(vs) = &b.vs {
            c.virtual_servers.push(virtual_server(vs));
        }
    }
    c
}

fn command(argv: &[String], loc: Loc) -> Command {
    Command {
        args: argv.to_vec(),
        user: None,
        group: None,
        loc,
    }
}

fn virtual_server(p: &plan::VirtualServer) -> VirtualServer {
    let interval = Micros::secs(u64::from(p.interval));
    let mut vs = VirtualServer {
        address: match p.address {
            VsAddr::Ip(a, port) => VsAddress::Ip {
                addr: IpAddr::V4(a),
                port,
            },
            VsAddr::Fwmark(m) => VsAddress::Fwmark {
                mark: m,
                family: Family::Unspecified,
            },
        },
        ip_family: Family::Unspecified,
        protocol: p.protocol.unwrap_or(Protocol::Tcp),
        protocol_given: p.protocol.is_some(),
        scheduler_given: true,
        forwarding_given: true,
        scheduler: p.scheduler.to_string(),
        sched_flags: Vec::new(),
        forwarding: p.forwarding.clone(),
        persistence_timeout: p.persistence_timeout,
        persistence_granularity: p.persistence_granularity.clone(),
        persistence_engine: None,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        alpha: true,
        omega: false,
        inhibit_on_failure: false,
        ha_suspend: false,
        virtualhost: None,
        sorry_server: p
            .sorry_server
            .map(|(a, port)| (IpAddr::V4(a), port.unwrap_or(0))),
        sorry_server_inhibit: false,
        sorry_server_forwarding: None,
        default_weight: 1,
        smtp_alert: None,
        timing: TimingOverrides {
            delay_loop: Some(interval),
            ..TimingOverrides::default()
        },
        real_servers: Vec::new(),
        loc: p.loc,
    };
    for r in p.real_servers.iter().filter(|r| r.active) {
        let port = r.port.unwrap_or(match p.address {
            VsAddr::Ip(_, port) => port,
            VsAddr::Fwmark(_) => 0,
        });
        // fwmark: the real server has no port; the checker connects to nanny's port.
        let connect_port = r.port.is_none().then_some(r.check_port);
        let (kind, default_retry_dbr) = checker_kind(&p.check, r.addr, r.check_port, interval);
        let connect_timeout = match kind {
            CheckerKind::Misc(_) => Micros::secs(5),
            _ => interval,
        };
        let checker = Checker {
            connect_port: connect_port.filter(|_| !matches!(kind, CheckerKind::Misc(_))),
            kind,
            connect_ip: None,
            bind: None,
            alpha: None,
            log_all_failures: None,
            timing: CheckTiming {
                delay_loop: interval,
                connect_timeout,
                retry: 0,
                delay_before_retry: default_retry_dbr,
                warmup: None,
            },
            loc: r.loc,
        };
        vs.real_servers.push(RealServer {
            addr: IpAddr::V4(r.addr),
            port,
            weight: r.weight,
            forwarding: None,
            uthreshold: None,
            lthreshold: None,
            inhibit_on_failure: p.inhibit_on_failure.then_some(true),
            notify_up: None,
            notify_down: None,
            alpha: None,
            virtualhost: None,
            smtp_alert: None,
            timing: None,
            checkers: vec![checker].into_boxed_slice(),
            loc: r.loc,
        });
    }
    vs
}

/// The checker for one real server, and keepalived's default `delay_before_retry` for it.
fn checker_kind(
    check: &Check,
    addr: std::net::Ipv4Addr,
    port: u16,
    interval: Micros,
) -> (CheckerKind, Micros) {
    match check {
        Check::Tcp => (CheckerKind::Tcp, Micros::secs(1)),
        Check::Http {
            path,
            virtualhost,
            status,
        } => (
            CheckerKind::Http(Box::new(HttpCheck {
                virtualhost: virtualhost.clone(),
                urls: vec![Url {
                    path: Some(path.clone()),
                    status_codes: vec![*status],
                    ..Url::default()
                }],
                ..HttpCheck::default()
            })),
            Micros::secs(3),
        ),
        Check::Smtp { helo } => (
            CheckerKind::Smtp(Box::new(SmtpCheck {
                helo_name: helo.clone(),
                hosts: Vec::new(),
            })),
            Micros::secs(1),
        ),
        Check::Udp {
            payload,
            require_reply,
        } => (
            CheckerKind::Udp(Box::new(UdpCheck {
                payload: payload.clone(),
                require_reply: require_reply.as_ref().map(|b| hex(b)),
                min_reply_length: None,
                max_reply_length: None,
            })),
            Micros::secs(1),
        ),
        Check::Misc { argv } => (
            CheckerKind::Misc(Box::new(MiscCheck {
                path: Some(Command {
                    args: substitute(argv, addr, port),
                    user: None,
                    group: None,
                    loc: Loc::default(),
                }),
                timeout: Some(interval),
                dynamic: false,
                user: None,
            })),
            Micros::secs(1),
        ),
    }
}

/// nanny's `%h` (real server address) and `%p` (real port) in a send_program.
pub fn substitute(argv: &[String], addr: std::net::Ipv4Addr, port: u16) -> Vec<String> {
    argv.iter()
        .map(|a| {
            a.replace("%h", &addr.to_string())
                .replace("%p", &port.to_string())
        })
        .collect()
}

/// Bytes as lowercase hex (UDP_CHECK payloads).
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
