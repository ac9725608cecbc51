//! Every mapping decision from lvs.cf to keepalived, made once. [`super::lower`] turns a
//! [`Plan`] into the model for one role, [`super::convert`] into text for both roles; neither
//! decides anything itself.
//!
//! The decisions (man/lvs.cf.5, MAPPING TO KEEPALIVED, says the same for operators):
//! - pulse's heartbeat becomes VRRPv2 (multicast) between the two routers: one
//!   `vrrp_instance` per interface that carries a moving address (the virtual addresses of the
//!   blocks in use, then `nat_router`), all in one `vrrp_sync_group` when there are several,
//!   so they move together as pulse moved them.
//! - VRID: the last byte of `primary` for the first instance, counting up for the next ones
//!   (wrapping within 1-255): clusters in one subnet have distinct primaries, hence distinct
//!   VRIDs.
//! - `advert_int` = `keepalive` (1-255 s); `down_timer_adverts` = ceil(`deadtime` /
//!   `keepalive`) (1-100), so the backup takes over after about `deadtime` seconds.
//! - primary: `state MASTER`, `priority 150`; backup: `state BACKUP`, `priority 100`; preemption
//!   on (pulse's backup yields when the primary is back).
//! - nanny's check → one checker per real server (see [`Check`]); `timeout` → `delay_loop` and
//!   the checker's timeout; `retry 0` (nanny removes a server on its first failed check);
//!   `alpha` (nanny adds a server only after a successful check).

use std::net::Ipv4Addr;

use super::parse::{self, LvsCf, Section, SectionKind, Server, Setting, Value, get};
use crate::config::diag::{Diagnostics, ErrorClass as E, Loc};
use crate::config::model::{Forwarding, LvsTimeouts, Protocol};

/// Priorities of the two routers (primary wins and preempts, as in pulse).
pub const PRIORITY_PRIMARY: u8 = 150;
pub const PRIORITY_BACKUP: u8 = 100;

/// The name of the sync group that holds every instance when there are several.
pub const SYNC_GROUP: &str = "piranha";

/// An lvs.cf line and what became of it, for the converter's comments.
#[derive(Debug, Clone)]
pub struct Echo {
    pub line: u32,
    /// The lvs.cf line as written.
    pub text: String,
    /// Where it went, or why it went nowhere.
    pub to: String,
    /// `false`: kept only as a comment (and warned about).
    pub mapped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub dev: String,
    /// The piranha alias device (`eth0:1`) as keepalived's `label`.
    pub label: Option<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub vips: Vec<Vip>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct SyncDaemon {
    pub interface: String,
    pub instance: String,
    pub id: Option<u32>,
    pub loc: Loc,
}

/// The checker that replaces nanny for one virtual server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Connect only: no strings, or a raw exchange keepalived cannot express.
    Tcp,
    /// An HTTP request in `send` (or nanny's default for port 80).
    Http {
        path: String,
        virtualhost: Option<String>,
        status: (u16, u16),
    },
    /// A 220 greeting expected on an SMTP port.
    Smtp { helo: Option<String> },
    /// UDP services: `send` as payload, `expect` as the required reply prefix.
    Udp {
        payload: Option<Vec<u8>>,
        require_reply: Option<Vec<u8>>,
    },
    /// `send_program` with `%h`/`%p` replaced per real server.
    Misc { argv: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct RealServer {
    pub name: String,
    pub active: bool,
    pub addr: Ipv4Addr,
    /// `None` for fwmark services (keepalived ignores a port there).
    pub port: Option<u16>,
    /// The port the checker uses: `port` when set; for a fwmark service's real server, which
    /// has none, the port nanny checked (the server's `port`, else the virtual's), given to
    /// the checker as `connect_port`: without it, keepalived's checkers connect to port 0 and
    /// never see the server up.
    pub check_port: u16,
    pub weight: i32,
    pub echo: Vec<Echo>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub enum VsAddr {
    Ip(Ipv4Addr, u16),
    Fwmark(u32),
}

#[derive(Debug, Clone)]
pub struct VirtualServer {
    pub address: VsAddr,
    /// `None` for fwmark services.
    pub protocol: Option<Protocol>,
    pub scheduler: &'static str,
    pub forwarding: Forwarding,
    pub persistence_timeout: Option<u32>,
    pub persistence_granularity: Option<String>,
    pub sorry_server: Option<(Ipv4Addr, Option<u16>)>,
    /// nanny's interval (`timeout`), seconds.
    pub interval: u32,
    pub inhibit_on_failure: bool,
    pub check: Check,
    pub real_servers: Vec<RealServer>,
    pub loc: Loc,
}

/// One lvs.cf block and what it became.
#[derive(Debug, Clone)]
pub struct Block {
    pub kind: SectionKind,
    pub name: String,
    pub line: u32,
    /// `None`: the block is not used (kept as comments); the reason is in `note`.
    pub vs: Option<VirtualServer>,
    pub note: String,
    pub echo: Vec<Echo>,
    /// Servers of blocks that are not virtual servers (comments only).
    pub server_echo: Vec<(String, u32, Vec<Echo>)>,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub source: String,
    pub primary: Option<Ipv4Addr>,
    /// `None` when there is no backup router (`backup` unset or `backup_active = 0`).
    pub backup: Option<Ipv4Addr>,
    pub fos: bool,
    pub advert_int: u32,
    pub down_timer_adverts: u32,
    pub dont_track_primary: bool,
    pub lvs_timeouts: LvsTimeouts,
    pub sync_daemon: Option<SyncDaemon>,
    pub instances: Vec<Instance>,
    /// `notify_master` and `notify_backup`/`notify_fault`/`notify_stop` of the sync group (or of
    /// the only instance).
    pub notify_master: Option<Vec<String>>,
    pub notify_backup: Option<Vec<String>>,
    pub global_echo: Vec<Echo>,
    pub blocks: Vec<Block>,
}

impl Plan {
    /// The sync group's name when there is one (two instances or more).
    pub fn sync_group(&self) -> Option<&'static str> {
        (self.instances.len() >= 2).then_some(SYNC_GROUP)
    }
}

/// A netmask as a prefix length (`None`: not contiguous).
pub fn mask_prefix(m: Ipv4Addr) -> Option<u8> {
    let v = u32::from(m);
    let p = v.leading_ones();
    (v.checked_shl(p).unwrap_or(0) == 0).then_some(p as u8)
}

/// The base device of a piranha alias (`eth0:1` → `eth0`).
pub fn base_device(dev: &str) -> &str {
    dev.split(':').next().unwrap_or(dev)
}

/// `"cmd args"` as piranha runs it: surrounding quotes stripped, split at blanks.
pub fn command_argv(s: &str) -> Vec<String> {
    let t = s.trim();
    let t = t
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| t.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(t);
    t.split_whitespace().map(str::to_string).collect()
}

/// Several commands for one notify slot: run them in order through `/bin/sh -c`.
fn combine(cmds: &[String]) -> Option<Vec<String>> {
    match cmds {
        [] => None,
        [one] => Some(command_argv(one)),
        many => Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            many.iter()
                .map(|c| command_argv(c).join(" "))
                .collect::<Vec<_>>()
                .join("; "),
        ]),
    }
}

struct Planner<'d> {
    diags: &'d mut Diagnostics,
}

impl Planner<'_> {
    fn echo(&mut self, s: &Setting, to: impl Into<String>) -> Echo {
        Echo {
            line: s.loc.line,
            text: s.text.clone(),
            to: to.into(),
            mapped: true,
        }
    }

    /// A setting with no keepalived equivalent: a comment in the output and a warning.
    fn unmapped(&mut self, s: &Setting, why: &str) -> Echo {
        self.diags.warn(
            E::Logged,
            s.loc,
            format!(
                "lvs.cf '{}' has no keepalived equivalent: {why}; kept as a comment",
                s.key()
            ),
        );
        Echo {
            line: s.loc.line,
            text: s.text.clone(),
            to: format!("not mapped: {why}"),
            mapped: false,
        }
    }
}

fn int_of(s: Option<&Setting>, default: i64) -> i64 {
    s.and_then(Setting::int).unwrap_or(default)
}

fn bool_of(s: Option<&Setting>, default: bool) -> bool {
    s.and_then(Setting::bool).unwrap_or(default)
}

/// Why each global key without an equivalent has none.
fn global_reason(key: &str) -> &'static str {
    match key {
        "serial_no" => "the piranha GUI's revision number",
        "primary_private" | "backup_private" => {
            "a second heartbeat path; VRRP runs on the interfaces of the moving addresses"
        }
        "primary_shared" | "backup_shared" | "reservation_conflict_action" => {
            "shared SCSI reservation is not part of keepalived"
        }
        "debug_level" => "unused by piranha",
        "hard_shutdown" => "keepalived never reboots the node",
        "ipvsadm" => "keepalived programs IPVS over netlink, without ipvsadm",
        "rsh_command" => "rsh/ssh served file sync and load_monitor, which keepalived lacks",
        "heartbeat" | "heartbeat_port" => {
            "pulse's UDP heartbeat is replaced by VRRP (IP protocol 112)"
        }
        "sync" => "keepalived does not copy its configuration between nodes",
        _ => "no equivalent",
    }
}

/// Build the plan. Warnings for every setting kept only as a comment go to `diags`.
pub fn plan(cf: &LvsCf, diags: &mut Diagnostics) -> Plan {
    let mut p = Planner { diags };
    let g = |k| cf.global(k);
    let host = |k| match g(k).map(|s| &s.value) {
        Some(Value::Host(a, _)) => Some(*a),
        _ => None,
    };
    let mut plan = Plan {
        source: cf.path.clone(),
        primary: host("primary"),
        fos: g("service").and_then(Setting::str) == Some("fos"),
        ..Plan::default()
    };
    let backup_active = bool_of(g("backup_active"), false);
    plan.backup = host("backup").filter(|_| backup_active);
    if plan.primary.is_none() && !cf.globals.is_empty() {
        p.diags.error(
            E::General,
            Loc {
                file: cf.file,
                line: 1,
                col: 1,
            },
            "'primary' is not set: piranha needs the primary router's address",
        );
    }

    // Timers: VRRPv2 advertisement interval in whole seconds.
    let keepalive = int_of(g("keepalive"), 2);
    let deadtime = int_of(g("deadtime"), 5);
    plan.advert_int = keepalive.clamp(1, 255) as u32;
    let adverts = (deadtime.max(1) + i64::from(plan.advert_int) - 1) / i64::from(plan.advert_int);
    plan.down_timer_adverts = adverts.clamp(1, 100) as u32;
    plan.dont_track_primary = int_of(g("monitor_links"), 0) == 0;
    let network = g("network").and_then(Setting::str).unwrap_or("nat");

    // Blocks in use, and their addresses → instances per base device.
    let used_kind = if plan.fos {
        SectionKind::Failover
    } else {
        SectionKind::Virtual
    };
    let mut devices: Vec<(String, Vec<Vip>, Loc)> = Vec::new();
    let mut add_vip = |p: &mut Planner<'_>, vip: Vip| {
        let base = vip.dev.clone();
        match devices.iter_mut().find(|(d, _, _)| *d == base) {
            Some((_, vips, _)) => match vips.iter().find(|v| v.addr == vip.addr) {
                Some(v) if v.prefix != vip.prefix => p.diags.warn(
                    E::Logged,
                    vip.loc,
                    format!(
                        "{} is configured with /{} and /{}: keeping /{}",
                        vip.addr, v.prefix, vip.prefix, v.prefix
                    ),
                ),
                Some(_) => {}
                None => vips.push(vip),
            },
            None => {
                let loc = vip.loc;
                devices.push((base, vec![vip], loc));
            }
        }
    };

    let nat_router = g("nat_router");
    let syncdaemon = bool_of(g("syncdaemon"), false);
    // Global settings, in file order.
    for s in &cf.globals {
        let e = match s.key() {
            "primary" => p.echo(s, "@primary lines: this node is the primary router"),
            "backup" if plan.backup.is_some() => {
                p.echo(s, "@backup lines: this node is the backup router")
            }
            "backup" => p.echo(s, "(no backup router: backup_active is not 1)"),
            "backup_active" if plan.backup.is_some() => p.echo(s, "@backup lines"),
            "backup_active" => p.echo(s, "single router: no @backup lines"),
            "service" => p.echo(
                s,
                if plan.fos {
                    "failover blocks are used"
                } else {
                    "virtual blocks become virtual_server"
                },
            ),
            "keepalive" => {
                if s.int() != Some(i64::from(plan.advert_int)) {
                    p.diags.warn(
                        E::Logged,
                        s.loc,
                        format!(
                            "keepalive must be 1-255 seconds for VRRP: using {}",
                            plan.advert_int
                        ),
                    );
                }
                p.echo(s, format!("advert_int {}", plan.advert_int))
            }
            "deadtime" => p.echo(
                s,
                format!(
                    "down_timer_adverts {} (about {} s)",
                    plan.down_timer_adverts,
                    plan.down_timer_adverts * plan.advert_int
                ),
            ),
            "monitor_links" if plan.dont_track_primary => p.echo(s, "dont_track_primary"),
            "monitor_links" => p.echo(s, "instance interfaces are tracked (keepalived's default)"),
            "network" => p.echo(s, format!("lvs_method {}", forwarding_word(network))),
            "nat_router" if network == "nat" && !plan.fos => {
                p.echo(s, "virtual_ipaddress of the instance on its interface")
            }
            "nat_router" => p.unmapped(s, "used only with network = nat and service = lvs"),
            "nat_nmask" if nat_router.is_some() => p.echo(s, "prefix of the nat_router address"),
            "nat_nmask" => p.unmapped(s, "there is no nat_router"),
            "active_cmd" => p.echo(s, "notify_master"),
            "inactive_cmd" => p.echo(s, "notify_backup, notify_fault, notify_stop"),
            "syncdaemon" => p.echo(
                s,
                if syncdaemon {
                    "lvs_sync_daemon"
                } else {
                    "(no lvs_sync_daemon)"
                },
            ),
            "syncd_iface" | "syncd_id" if syncdaemon => p.echo(s, "lvs_sync_daemon"),
            "syncd_iface" | "syncd_id" => p.unmapped(s, "syncdaemon is not 1"),
            "tcp_timeout" | "tcpfin_timeout" | "udp_timeout" => {
                let v = s.int().unwrap_or(0);
                let which = s.key().trim_end_matches("_timeout");
                if v <= 0 {
                    p.echo(s, "(0: kernel default, no lvs_timeouts)")
                } else {
                    let v = v as u32;
                    match which {
                        "tcp" => plan.lvs_timeouts.tcp = Some(v),
                        "tcpfin" => plan.lvs_timeouts.tcpfin = Some(v),
                        _ => plan.lvs_timeouts.udp = Some(v),
                    }
                    p.echo(s, format!("lvs_timeouts {which} {v}"))
                }
            }
            k => p.unmapped(s, global_reason(k)),
        };
        plan.global_echo.push(e);
    }

    let mut notify_master: Vec<String> = Vec::new();
    let mut notify_backup: Vec<String> = Vec::new();
    if let Some(c) = g("active_cmd").and_then(Setting::str) {
        notify_master.push(c.to_string());
    }

    for sec in &cf.sections {
        let in_use = sec.kind == used_kind;
        let active = bool_of(get(&sec.settings, "active"), false);
        let block = if !in_use {
            let why = if plan.fos {
                "service = fos: virtual blocks are not used"
            } else {
                "service = lvs: failover blocks are not used"
            };
            unused_block(&mut p, sec, why)
        } else if !active {
            unused_block(&mut p, sec, "active = 0: pulse does not start it")
        } else if plan.fos {
            let (block, vip, start, stop) = failover_block(&mut p, sec);
            if let Some(v) = vip {
                add_vip(&mut p, v);
            }
            notify_master.extend(start);
            notify_backup.extend(stop);
            block
        } else {
            let (block, vip) = virtual_block(&mut p, sec, network);
            if let Some(v) = vip {
                add_vip(&mut p, v);
            }
            block
        };
        plan.blocks.push(block);
    }
    if let Some(c) = g("inactive_cmd").and_then(Setting::str) {
        notify_backup.push(c.to_string());
    }

    // nat_router: moves with the public addresses (NAT only, as pulse).
    if let Some(Setting {
        value: Value::HostDev(addr, dev),
        loc,
        ..
    }) = nat_router
        && network == "nat"
        && !plan.fos
    {
        let prefix = match g("nat_nmask").map(|s| &s.value) {
            Some(Value::Addr(m)) => mask_prefix(*m).unwrap_or(32),
            _ => 32,
        };
        add_vip(
            &mut p,
            Vip {
                addr: *addr,
                prefix,
                dev: base_device(dev).to_string(),
                label: dev.contains(':').then(|| dev.clone()),
                loc: *loc,
            },
        );
    }

    // VRID: last byte of primary, counting up per instance, wrapping within 1..=255.
    let base = plan.primary.map_or(0, |a| i64::from(a.octets()[3]));
    for (i, (dev, vips, loc)) in devices.into_iter().enumerate() {
        let vrid = ((base - 1 + i as i64).rem_euclid(255) + 1) as u8;
        plan.instances.push(Instance {
            name: format!("VI_{dev}"),
            interface: dev,
            vrid,
            vips,
            loc,
        });
    }
    if plan.instances.len() > 255 {
        p.diags.error(
            E::General,
            Loc {
                file: cf.file,
                line: 1,
                col: 1,
            },
            "more than 255 interfaces carry virtual addresses: VRIDs repeat",
        );
    }
    plan.notify_master = combine(&notify_master);
    plan.notify_backup = combine(&notify_backup);

    if syncdaemon {
        match plan.instances.first() {
            Some(i) => {
                plan.sync_daemon = Some(SyncDaemon {
                    interface: g("syncd_iface")
                        .and_then(Setting::str)
                        .unwrap_or("eth0")
                        .to_string(),
                    instance: i.name.clone(),
                    id: g("syncd_id")
                        .and_then(Setting::int)
                        .map(|v| (v & 0xff) as u32),
                    loc: g("syncdaemon").map_or(i.loc, |s| s.loc),
                })
            }
            None => {
                if let Some(s) = g("syncdaemon") {
                    p.diags.warn(
                        E::Logged,
                        s.loc,
                        "syncdaemon = 1 but no VRRP instance to follow: no lvs_sync_daemon",
                    );
                }
            }
        }
    }
    plan
}

fn forwarding_word(network: &str) -> &'static str {
    match network {
        "direct" => "DR",
        "tunnel" => "TUN",
        _ => "NAT",
    }
}

/// A block that is not used: everything kept as comments.
fn unused_block(p: &mut Planner<'_>, sec: &Section, why: &str) -> Block {
    p.diags.warn(
        E::Logged,
        sec.loc,
        format!(
            "{} '{}' is not used ({why}); kept as comments",
            kind_word(sec.kind),
            sec.name
        ),
    );
    let echo = sec
        .settings
        .iter()
        .map(|s| Echo {
            line: s.loc.line,
            text: s.text.clone(),
            to: String::new(),
            mapped: false,
        })
        .collect();
    let server_echo = sec
        .servers
        .iter()
        .map(|srv| {
            let e = srv
                .settings
                .iter()
                .map(|s| Echo {
                    line: s.loc.line,
                    text: s.text.clone(),
                    to: String::new(),
                    mapped: false,
                })
                .collect();
            (srv.name.clone(), srv.loc.line, e)
        })
        .collect();
    Block {
        kind: sec.kind,
        name: sec.name.clone(),
        line: sec.loc.line,
        vs: None,
        note: why.to_string(),
        echo,
        server_echo,
    }
}

fn kind_word(k: SectionKind) -> &'static str {
    match k {
        SectionKind::Virtual => "virtual",
        SectionKind::Failover => "failover",
    }
}

/// The virtual address of a block (`address = IP DEV`, `vip_nmask`).
fn block_vip(p: &mut Planner<'_>, sec: &Section) -> Option<Vip> {
    let Some(Setting {
        value: Value::HostDev(addr, dev),
        loc,
        ..
    }) = get(&sec.settings, "address")
    else {
        p.diags.error(
            E::General,
            sec.loc,
            format!(
                "{} '{}' has no 'address = IP DEVICE'",
                kind_word(sec.kind),
                sec.name
            ),
        );
        return None;
    };
    let prefix = match get(&sec.settings, "vip_nmask") {
        Some(
            s @ Setting {
                value: Value::Addr(m),
                ..
            },
        ) => match mask_prefix(*m) {
            Some(0) | None => {
                p.diags.warn(
                    E::Logged,
                    s.loc,
                    format!("vip_nmask {m} is not a usable netmask: using /32"),
                );
                32
            }
            Some(n) => n,
        },
        _ => 32,
    };
    Some(Vip {
        addr: *addr,
        prefix,
        dev: base_device(dev).to_string(),
        label: dev.contains(':').then(|| dev.clone()),
        loc: *loc,
    })
}

fn failover_block(
    p: &mut Planner<'_>,
    sec: &Section,
) -> (Block, Option<Vip>, Vec<String>, Vec<String>) {
    let vip = block_vip(p, sec);
    let mut start = Vec::new();
    let mut stop = Vec::new();
    let mut echo = Vec::new();
    for s in &sec.settings {
        let e = match s.key() {
            "active" => p.echo(s, "the failover service is used"),
            "address" => p.echo(s, "virtual_ipaddress"),
            "vip_nmask" => p.echo(s, "prefix of the virtual address"),
            "start_cmd" => {
                start.push(s.str().unwrap_or("").to_string());
                p.echo(s, "notify_master")
            }
            "stop_cmd" => {
                stop.push(s.str().unwrap_or("").to_string());
                p.echo(s, "notify_backup, notify_fault, notify_stop")
            }
            _ => p.unmapped(
                s,
                "fos watched the partner's service; keepalived only checks itself \
                 (add a vrrp_script to fail over on a local service failure)",
            ),
        };
        echo.push(e);
    }
    for (what, v) in [("start_cmd", &start), ("stop_cmd", &stop)] {
        if v.is_empty() {
            p.diags.error(
                E::General,
                sec.loc,
                format!(
                    "failover '{}' has no {what} (piranha requires one)",
                    sec.name
                ),
            );
        }
    }
    let server_echo = sec
        .servers
        .iter()
        .map(|srv| {
            let e = srv
                .settings
                .iter()
                .map(|s| p.unmapped(s, "server blocks have no meaning in a failover block"))
                .collect();
            (srv.name.clone(), srv.loc.line, e)
        })
        .collect();
    let block = Block {
        kind: sec.kind,
        name: sec.name.clone(),
        line: sec.loc.line,
        vs: None,
        note: "its address moves with the VRRP instance; start_cmd/stop_cmd run as notify scripts"
            .into(),
        echo,
        server_echo,
    };
    (block, vip, start, stop)
}

fn virtual_block(p: &mut Planner<'_>, sec: &Section, network: &str) -> (Block, Option<Vip>) {
    let st = |k| get(&sec.settings, k);
    let vip = block_vip(p, sec);
    let port = match st("port").map(|s| &s.value) {
        Some(Value::Port(p)) => *p,
        _ => 80,
    };
    let fwmark = st("fwmark").and_then(Setting::int).filter(|&m| m != 0);
    let udp = st("protocol").and_then(Setting::str) == Some("udp");
    let interval = int_of(st("timeout"), 10).max(1) as u32;
    let persistent = int_of(st("persistent"), 0);
    let pmask = match st("pmask").map(|s| &s.value) {
        Some(Value::Addr(m)) if *m != Ipv4Addr::BROADCAST && !m.is_unspecified() => Some(*m),
        _ => None,
    };
    let (check, check_notes) = check_for(sec, port, udp);
    let sorry = match st("sorry_server").map(|s| &s.value) {
        Some(Value::Addr(a)) if !a.is_unspecified() => {
            Some((*a, if fwmark.is_some() { None } else { Some(port) }))
        }
        _ => None,
    };
    let mut vs = VirtualServer {
        address: match (fwmark, &vip) {
            (Some(m), _) => VsAddr::Fwmark(m as u32),
            (None, Some(v)) => VsAddr::Ip(v.addr, port),
            (None, None) => VsAddr::Ip(Ipv4Addr::UNSPECIFIED, port),
        },
        protocol: match (fwmark, udp) {
            (Some(_), _) => None,
            (None, true) => Some(Protocol::Udp),
            (None, false) => Some(Protocol::Tcp),
        },
        scheduler: match st("scheduler").map(|s| &s.value) {
            Some(Value::Word(w)) => w,
            _ => "wlc",
        },
        forwarding: match network {
            "direct" => Forwarding::Dr,
            "tunnel" => Forwarding::Tun {
                kind: None,
                port: None,
                csum: None,
            },
            _ => Forwarding::Nat,
        },
        persistence_timeout: (persistent > 0).then_some(persistent as u32),
        persistence_granularity: pmask.filter(|_| persistent > 0).map(|m| m.to_string()),
        sorry_server: sorry,
        interval,
        inhibit_on_failure: bool_of(st("quiesce_server"), false),
        check,
        real_servers: Vec::new(),
        loc: sec.loc,
    };

    let mut echo = Vec::new();
    for s in &sec.settings {
        let key = s.key();
        if let Some(note) = check_notes.iter().find(|(k, _, _)| *k == key) {
            echo.push(if note.2 {
                p.echo(s, note.1.clone())
            } else {
                p.unmapped(s, &note.1)
            });
            continue;
        }
        let e = match key {
            "active" => p.echo(s, "the virtual server is used"),
            "address" if fwmark.is_some() => {
                p.echo(s, "virtual_ipaddress (the service is the fwmark)")
            }
            "address" => p.echo(s, "virtual_server address, virtual_ipaddress"),
            "vip_nmask" => p.echo(s, "prefix of the virtual address"),
            "fwmark" if fwmark.is_some() => p.echo(s, "virtual_server fwmark"),
            "fwmark" => p.echo(s, "(0: no fwmark)"),
            "protocol" if fwmark.is_some() => {
                p.echo(s, "(keepalived ignores the protocol of fwmark services)")
            }
            "protocol" => p.echo(s, "protocol"),
            "port" => p.echo(s, format!("port {port}")),
            "scheduler" => p.echo(s, "lvs_sched"),
            "persistent" if persistent > 0 => p.echo(s, "persistence_timeout"),
            "persistent" => p.echo(s, "(0: no persistence)"),
            "pmask" if vs.persistence_granularity.is_some() => p.echo(s, "persistence_granularity"),
            "pmask" => p.echo(
                s,
                "(no persistence granularity: not persistent or a /32 mask)",
            ),
            "sorry_server" => p.echo(s, "sorry_server"),
            "timeout" => p.echo(
                s,
                format!("delay_loop {interval} and the checker's timeout"),
            ),
            "quiesce_server" if vs.inhibit_on_failure => p.echo(s, "inhibit_on_failure"),
            "quiesce_server" => p.echo(s, "(0: failed real servers are removed)"),
            "load_monitor" if s.str() == Some("none") => p.echo(s, "(none: no load monitoring)"),
            "load_monitor" => p.unmapped(
                s,
                "keepalived does not adjust weights from the real servers' load average",
            ),
            "reentry" => p.unmapped(
                s,
                "keepalived re-adds a real server after its first good check, nanny after \
                 'reentry' seconds of good checks",
            ),
            "client_monitor" => p.unmapped(s, "keepalived's checkers replace nanny"),
            "start_cmd" | "stop_cmd" => p.unmapped(s, "used only in failover blocks"),
            "master" | "dirs" => p.unmapped(s, "legacy, ignored by piranha too"),
            _ => p.unmapped(s, "no equivalent"),
        };
        echo.push(e);
    }
    if vip.is_none() {
        // Already reported; the block cannot become a virtual server.
        return (
            Block {
                kind: sec.kind,
                name: sec.name.clone(),
                line: sec.loc.line,
                vs: None,
                note: "no address: not converted".into(),
                echo,
                server_echo: Vec::new(),
            },
            None,
        );
    }

    let remap = vs.forwarding == Forwarding::Nat;
    for srv in &sec.servers {
        let mut rs = real_server(p, srv, fwmark.is_some());
        if let Some(rp) = rs.port.filter(|&rp| !remap && rp != port) {
            // IPVS forwards DR and TUN packets unchanged: the real port is the virtual one.
            p.diags.warn(
                E::Logged,
                get(&srv.settings, "port").map_or(srv.loc, |s| s.loc),
                format!(
                    "server '{}': port {rp} differs from the virtual port {port}, which \
                     network = {network} cannot change: using {port}",
                    srv.name
                ),
            );
            rs.port = Some(port);
            rs.check_port = port;
        }
        vs.real_servers.push(rs);
    }
    if vs.real_servers.iter().all(|r| !r.active) {
        // keepalived ignores (and reports) a virtual_server without real servers; pulse
        // created the empty service. The address still moves.
        p.diags.warn(
            E::Logged,
            sec.loc,
            format!(
                "virtual '{}' has no active server: keepalived has no empty virtual_server; \
                 kept as comments",
                sec.name
            ),
        );
        let server_echo = vs
            .real_servers
            .into_iter()
            .map(|r| (r.name, r.loc.line, r.echo))
            .collect();
        return (
            Block {
                kind: sec.kind,
                name: sec.name.clone(),
                line: sec.loc.line,
                vs: None,
                note: "no active server: its address moves, no virtual_server".into(),
                echo,
                server_echo,
            },
            vip,
        );
    }
    if vs
        .real_servers
        .iter()
        .filter(|r| r.active)
        .all(|r| r.weight == 0)
    {
        p.diags.warn(
            E::Logged,
            sec.loc,
            format!(
                "virtual '{}': every active server has weight 0; keepalived reports that its \
                 quorum exceeds the total weight (nanny started servers at weight 1)",
                sec.name
            ),
        );
    }
    (
        Block {
            kind: sec.kind,
            name: sec.name.clone(),
            line: sec.loc.line,
            vs: Some(vs),
            note: String::new(),
            echo,
            server_echo: Vec::new(),
        },
        vip,
    )
}

fn real_server(p: &mut Planner<'_>, srv: &Server, fwmark: bool) -> RealServer {
    let st = |k| get(&srv.settings, k);
    let active = bool_of(st("active"), false);
    let addr = match st("address").map(|s| &s.value) {
        Some(Value::Host(a, _)) => *a,
        _ => {
            if active {
                p.diags.error(
                    E::General,
                    srv.loc,
                    format!("server '{}' has no address", srv.name),
                );
            }
            Ipv4Addr::UNSPECIFIED
        }
    };
    let port = match st("port").and_then(Setting::int) {
        Some(v) => match u16::try_from(v) {
            Ok(v) => v,
            Err(_) => {
                if let Some(s) = st("port") {
                    p.diags.error(
                        E::General,
                        s.loc,
                        format!("server port {v} is out of range (0-65535)"),
                    );
                }
                srv.inherited_port
            }
        },
        None => srv.inherited_port,
    };
    let mut weight = int_of(st("weight"), 1);
    if weight < 0 {
        if let Some(s) = st("weight") {
            p.diags.warn(
                E::Logged,
                s.loc,
                format!("weight {weight} is negative: using 0"),
            );
        }
        weight = 0;
    }
    let echo = srv
        .settings
        .iter()
        .map(|s| match s.key() {
            "address" => p.echo(s, "real_server address"),
            "active" if active => p.echo(s, "the real server is used"),
            "active" => p.echo(s, "(0: not configured)"),
            "weight" => p.echo(s, format!("weight {weight}")),
            "port" if fwmark => p.echo(
                s,
                format!("checker connect_port {port} (a fwmark real server has no port)"),
            ),
            _ => p.echo(s, format!("real_server port {port}")),
        })
        .collect();
    if !active && addr != Ipv4Addr::UNSPECIFIED {
        p.diags.warn(
            E::Logged,
            srv.loc,
            format!(
                "server '{}' is not active (active = 0); kept as a comment",
                srv.name
            ),
        );
    }
    RealServer {
        name: srv.name.clone(),
        active: active && addr != Ipv4Addr::UNSPECIFIED,
        addr,
        port: (!fwmark).then_some(port),
        check_port: port,
        weight: weight.min(i64::from(i32::MAX)) as i32,
        echo,
        loc: srv.loc,
    }
}

/// A parsed HTTP request line from a `send` string.
struct HttpRequest {
    path: String,
    host: Option<String>,
}

fn http_request(send: &str) -> Option<HttpRequest> {
    let mut lines = send.split('\n').map(|l| l.trim_end_matches('\r'));
    let first = lines.next()?;
    let mut w = first.split(' ');
    let method = w.next()?;
    let path = w.next()?;
    let version = w.next()?;
    if !matches!(method, "GET" | "HEAD") || !version.starts_with("HTTP/") || !path.starts_with('/')
    {
        return None;
    }
    let host = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("host")
            .then(|| v.trim().to_string())
    });
    Some(HttpRequest {
        path: path.to_string(),
        host: host.filter(|h| !h.is_empty()),
    })
}

/// The HTTP status range that accepts what nanny accepted for `expect` (a prefix of the
/// response): `HTTP/1.1 200` → 200-200, `HTTP/1.0 2` → 200-299, `HTTP` or `*` → 100-599.
fn status_range(expect: &str) -> Option<(u16, u16)> {
    if expect == "*" {
        return Some((100, 599));
    }
    if !"HTTP/1.x".starts_with(expect) && !expect.starts_with("HTTP") {
        return None;
    }
    let Some((_, rest)) = expect.split_once(' ') else {
        return Some((100, 599));
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let tail = &rest[digits.len()..];
    if !tail.is_empty() && !tail.starts_with(' ') {
        return None;
    }
    let d = digits.len().min(3);
    if d == 0 {
        return if rest.is_empty() {
            Some((100, 599))
        } else {
            None
        };
    }
    let n: u16 = digits[..d].parse().ok()?;
    let scale = 10u16.pow(3 - d as u32);
    let (lo, hi) = (n * scale, n * scale + scale - 1);
    (100..=599).contains(&lo).then_some((lo, hi.min(599)))
}

/// Which checker replaces nanny for this block, and a note per check key:
/// `(key, comment, mapped)`.
fn check_for(sec: &Section, port: u16, udp: bool) -> (Check, Vec<(&'static str, String, bool)>) {
    let st = |k| get(&sec.settings, k);
    let send = st("send").and_then(Setting::str).map(parse::unescape);
    let expect = st("expect").and_then(Setting::str).map(parse::unescape);
    let program = st("send_program")
        .and_then(Setting::str)
        .filter(|s| !s.trim().is_empty());
    let regex = bool_of(st("use_regex"), false);
    let mut notes: Vec<(&'static str, String, bool)> = Vec::new();

    if let Some(prog) = program {
        notes.push((
            "send_program",
            "MISC_CHECK misc_path (%h, %p replaced per real server)".into(),
            true,
        ));
        if expect.is_some() {
            notes.push((
                "expect",
                "MISC_CHECK judges the program's exit status, nanny compared its output with \
                 expect"
                    .into(),
                false,
            ));
        }
        if send.is_some() {
            notes.push((
                "send",
                "send_program overrides send in nanny too".into(),
                false,
            ));
        }
        if st("use_regex").is_some() {
            notes.push((
                "use_regex",
                "MISC_CHECK does not read the program's output".into(),
                false,
            ));
        }
        return (
            Check::Misc {
                argv: command_argv(prog),
            },
            notes,
        );
    }

    if udp {
        if regex {
            notes.push((
                "use_regex",
                "UDP_CHECK compares bytes, not a regular expression".into(),
                false,
            ));
        } else if st("use_regex").is_some() {
            notes.push(("use_regex", "(0: literal expect)".into(), true));
        }
        if send.is_some() {
            notes.push(("send", "UDP_CHECK payload".into(), true));
        }
        if expect.is_some() {
            notes.push(("expect", "UDP_CHECK require_reply".into(), true));
        }
        let check = Check::Udp {
            payload: send.filter(|s| !s.is_empty()).map(String::into_bytes),
            require_reply: expect
                .filter(|e| !e.is_empty() && !regex && e != "*")
                .map(String::into_bytes),
        };
        return (check, notes);
    }

    if st("use_regex").is_some() && !regex {
        notes.push(("use_regex", "(0: literal expect)".into(), true));
    }
    match (&send, &expect) {
        (None, None) if port == 80 => {
            // nanny's built-in check for port 80: "GET / HTTP/1.0", expect "HTTP".
            return (
                Check::Http {
                    path: "/".into(),
                    virtualhost: None,
                    status: (100, 599),
                },
                notes,
            );
        }
        (None, None) => return (Check::Tcp, notes),
        _ => {}
    }
    if let Some(req) = send.as_deref().and_then(http_request) {
        notes.push(("send", format!("HTTP_GET url path {}", req.path), true));
        let status = match (&expect, regex) {
            (None, _) => (100, 599),
            (Some(_), true) => {
                notes.push((
                    "use_regex",
                    "HTTP_GET checks the status code, not a regular expression (100-599 accepted)"
                        .into(),
                    false,
                ));
                notes.push(("expect", "status_code 100-599".into(), true));
                (100, 599)
            }
            (Some(e), false) => match status_range(e) {
                Some(r) => {
                    notes.push(("expect", format!("status_code {}-{}", r.0, r.1), true));
                    r
                }
                None => {
                    notes.push((
                        "expect",
                        "HTTP_GET checks the status code, not the response text (100-599 accepted)"
                            .into(),
                        false,
                    ));
                    (100, 599)
                }
            },
        };
        return (
            Check::Http {
                path: req.path,
                virtualhost: req.host,
                status,
            },
            notes,
        );
    }
    // A raw exchange. SMTP greeting → SMTP_CHECK; anything else → connect only.
    let smtp_send = send.as_deref().is_none_or(|s| {
        let u = s.trim().to_ascii_uppercase();
        u.is_empty() || u.starts_with("HELO") || u.starts_with("EHLO") || u.starts_with("QUIT")
    });
    if expect.as_deref().is_some_and(|e| e.starts_with("220")) && smtp_send && !regex {
        let helo = send.as_deref().and_then(|s| {
            let u = s.trim();
            (u.len() > 5 && u[..4].eq_ignore_ascii_case("HELO"))
                .then(|| u[5..].trim().to_string())
                .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        });
        if send.is_some() {
            notes.push(("send", "SMTP_CHECK (HELO, QUIT)".into(), true));
        }
        notes.push(("expect", "SMTP_CHECK expects the 220 greeting".into(), true));
        return (Check::Smtp { helo }, notes);
    }
    let why = "TCP_CHECK only connects: keepalived has no generic send/expect check";
    if send.is_some() {
        notes.push(("send", why.into(), false));
    }
    if expect.is_some() {
        notes.push(("expect", why.into(), false));
    }
    if regex {
        notes.push(("use_regex", why.into(), false));
    }
    (Check::Tcp, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netmasks() {
        assert_eq!(mask_prefix(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(mask_prefix(Ipv4Addr::BROADCAST), Some(32));
        assert_eq!(mask_prefix(Ipv4Addr::UNSPECIFIED), Some(0));
        assert_eq!(mask_prefix(Ipv4Addr::new(255, 0, 255, 0)), None);
    }

    #[test]
    fn http_expect_to_status() {
        assert_eq!(status_range("HTTP"), Some((100, 599)));
        assert_eq!(status_range("*"), Some((100, 599)));
        assert_eq!(status_range("HTTP/1.1 200"), Some((200, 200)));
        assert_eq!(status_range("HTTP/1.0 200 OK"), Some((200, 200)));
        assert_eq!(status_range("HTTP/1.1 2"), Some((200, 299)));
        assert_eq!(status_range("HTTP/1.1 30"), Some((300, 309)));
        assert_eq!(status_range("HTTP/1.1 "), Some((100, 599)));
        assert_eq!(status_range("HTTP/1."), Some((100, 599)));
        assert_eq!(status_range("<html>"), None);
        assert_eq!(status_range("HTTP/1.1 200x"), None);
    }

    #[test]
    fn http_requests() {
        let r = http_request("GET /health HTTP/1.1\r\nHost: www.example.com\r\n\r\n").unwrap();
        assert_eq!(r.path, "/health");
        assert_eq!(r.host.as_deref(), Some("www.example.com"));
        assert!(http_request("\n").is_none());
        assert!(http_request("HELO x\r\n").is_none());
    }

    #[test]
    fn commands() {
        assert_eq!(
            command_argv("\"/etc/init.d/httpd start\""),
            ["/etc/init.d/httpd", "start"]
        );
        assert_eq!(
            combine(&["a b".into(), "c".into()]).unwrap(),
            ["/bin/sh", "-c", "a b; c"]
        );
    }
}
