//! keepalived's cross-object checks, run after the whole file is read: interfaces that must exist,
//! references between objects (track_script → vrrp_script, sync group → instances, VS → group),
//! VRRP instance completion (keepalived's `vrrp_complete_instance`), VRID conflicts, and script
//! security. Each message says what keepalived says, with the keepalived error class that decides
//! `-t`'s exit code.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use super::LoadOptions;
use super::diag::{Diagnostics, ErrorClass as E, Loc};
use super::model::*;

/// Does a network interface with this name exist (in this network namespace)?
pub fn interface_exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

pub fn validate(c: &mut Config, opts: &LoadOptions, d: &mut Diagnostics) {
    check_default_script_user(c, d);
    let if_ok =
        |n: &str| !opts.check_interfaces || c.global.dynamic_interfaces || interface_exists(n);
    let mut nonexistent = false;

    // ----- interfaces and references, checked as keepalived's parser does -----
    for a in &c.static_addresses {
        match &a.dev {
            None => d.error(
                E::Fatal,
                a.loc,
                format!(
                    "Static address {} requires either an interface or a broadcast address",
                    a.addr
                ),
            ),
            Some(dev) if !if_ok(dev) => {
                d.error(
                    E::General,
                    a.loc,
                    format!(
                        "WARNING - interface {dev} for ip address {} doesn't exist",
                        a.addr
                    ),
                );
            }
            _ => {}
        }
    }
    for r in &c.static_routes {
        check_route(r, false, &if_ok, d);
    }
    for r in &c.static_rules {
        check_rule(r, d);
    }
    for g in &c.garp_groups {
        for i in &g.interfaces {
            if !if_ok(i) {
                d.error(
                    E::General,
                    g.loc,
                    format!("WARNING - interface {i} specified for garp_group doesn't exist"),
                );
            }
        }
    }
    let default_if = c.global.default_interface.clone();
    for v in &mut c.instances {
        let name = v.name.clone();
        if v.interface.is_none()
            && let Some(di) = &default_if
        {
            v.interface = Some((di.clone(), v.loc));
        }
        if let Some((ifname, loc)) = &v.interface
            && !if_ok(ifname)
        {
            d.error(
                E::General,
                *loc,
                format!("WARNING - interface {ifname} for vrrp_instance {name} doesn't exist"),
            );
            nonexistent = true;
        }
        for t in &v.tracking.interfaces {
            if !if_ok(&t.name) {
                d.error(
                    E::General,
                    t.loc,
                    format!("({name}) tracked interface {} doesn't exist", t.name),
                );
            }
        }
        for a in v.vips.iter().chain(&v.evips) {
            if let Some(dev) = &a.dev
                && !if_ok(dev)
            {
                d.error(
                    E::General,
                    a.loc,
                    format!(
                        "WARNING - interface {dev} for ip address {} doesn't exist",
                        a.addr
                    ),
                );
            }
        }
        for r in &v.virtual_routes {
            check_route(r, true, &if_ok, d);
        }
        for r in &v.virtual_rules {
            check_rule(r, d);
        }
        check_tracked(
            &name,
            "script",
            &v.tracking.scripts,
            c.vrrp_scripts.iter().map(|s| s.name.as_str()),
            d,
        );
        check_tracked(
            &name,
            "file",
            &v.tracking.files,
            c.track_files.iter().map(|s| s.name.as_str()),
            d,
        );
        check_tracked(
            &name,
            "process",
            &v.tracking.processes,
            c.track_processes.iter().map(|s| s.name.as_str()),
            d,
        );
        check_tracked(
            &name,
            "bfd",
            &v.tracking.bfds,
            c.bfd_instances.iter().map(|s| s.name.as_str()),
            d,
        );
    }
    for g in &c.sync_groups {
        check_tracked(
            &g.name,
            "script",
            &g.tracking.scripts,
            c.vrrp_scripts.iter().map(|s| s.name.as_str()),
            d,
        );
        check_tracked(
            &g.name,
            "file",
            &g.tracking.files,
            c.track_files.iter().map(|s| s.name.as_str()),
            d,
        );
        for t in &g.tracking.interfaces {
            if !if_ok(&t.name) {
                d.error(
                    E::General,
                    t.loc,
                    format!("({}) tracked interface {} doesn't exist", g.name, t.name),
                );
            }
        }
    }

    if nonexistent {
        // keepalived stops the VRRP process here: the instance checks below are not reached.
        d.report(
            E::BadInterface,
            None,
            "Non-existent interface specified in configuration",
        );
    } else {
        complete_instances(c, d);
    }

    check_virtual_servers(c, d);
    check_script_security(c, d);
}

/// With `enable_script_security` and no `script_user`, scripts run as `keepalived_script`;
/// keepalived removes scripts when that user does not exist.
fn check_default_script_user(c: &mut Config, d: &mut Diagnostics) {
    if !c.global.enable_script_security || c.global.script_user.is_some() {
        return;
    }
    if nix::unistd::User::from_name("keepalived_script")
        .ok()
        .flatten()
        .is_some()
    {
        return;
    }
    c.vrrp_scripts.retain(|s| {
        if s.user.is_some() {
            return true;
        }
        d.error(E::General, s.loc, "Unable to set default user keepalived_script for script (create the user, or set script_user)");
        d.error(E::General, s.loc, format!("Unable to set default user for vrrp script {} - removing", s.name));
        false
    });
}

fn check_tracked<'a>(
    owner: &str,
    what: &str,
    refs: &[Tracked],
    known: impl Iterator<Item = &'a str> + Clone,
    d: &mut Diagnostics,
) {
    for t in refs {
        if !known.clone().any(|k| k == t.name) {
            d.error(
                E::General,
                t.loc,
                format!("({owner}) track {what} {} not found, ignoring...", t.name),
            );
        }
    }
}

fn check_route(
    r: &Route,
    tracked_by_default: bool,
    if_ok: &dyn Fn(&str) -> bool,
    d: &mut Diagnostics,
) {
    let w = &r.words;
    if w.iter().any(|x| x == "gw") {
        d.error(
            E::General,
            r.loc,
            "\"gw\" for routes is deprecated. Please use \"via\"",
        );
    }
    if w.iter().any(|x| x == "or") {
        d.error(
            E::General,
            r.loc,
            "\"or\" for routes is deprecated. Please use \"nexthop\"",
        );
    }
    if let Some(dev) = &r.dev
        && !if_ok(dev)
    {
        d.error(
            E::General,
            r.loc,
            format!("WARNING - interface {dev} for VROUTE nexthop doesn't exist"),
        );
    }
    let Some(dest) = &r.dest else {
        d.error(E::General, r.loc, "Route must have a destination");
        return;
    };
    let tracked = if tracked_by_default {
        !w.iter().any(|x| x == "no_track")
    } else {
        w.iter().any(|x| x == "track")
    };
    if tracked && r.dev.is_none() {
        let shown = if dest.contains('/') {
            dest.clone()
        } else if dest.contains(':') {
            format!("{dest}/128")
        } else {
            format!("{dest}/32")
        };
        d.error(
            E::General,
            r.loc,
            format!(
                "Warning - cannot track route {shown} with no interface specified, not tracking"
            ),
        );
    }
}

fn check_rule(r: &Rule, d: &mut Diagnostics) {
    let w = &r.words;
    let mut i = 0;
    let mut has_pref = false;
    while i < w.len() {
        match w[i].as_str() {
            "from" | "to" => {
                let v = w.get(i + 1).map(String::as_str).unwrap_or("");
                if v != "all" && !valid_prefix(v) {
                    d.error(
                        E::General,
                        r.loc,
                        format!("VRRP parsed invalid IP {v}. skipping IP..."),
                    );
                    d.error(
                        E::General,
                        r.loc,
                        format!("Invalid rule {} address {v}", w[i]),
                    );
                }
                i += 2;
            }
            "preference" | "priority" | "pref" | "order" => {
                has_pref = true;
                if w.get(i + 1).and_then(|p| p.parse::<u32>().ok()).is_none() {
                    d.error(
                        E::General,
                        r.loc,
                        format!(
                            "Invalid rule preference {} specified",
                            w.get(i + 1).map_or("", |s| s)
                        ),
                    );
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    if !has_pref {
        d.error(
            E::General,
            r.loc,
            "Rule has no preference specified. This is probably not what you want.",
        );
    }
}

fn valid_prefix(s: &str) -> bool {
    let (a, p) = s.split_once('/').unwrap_or((s, ""));
    let Ok(addr) = a.parse::<IpAddr>() else {
        return false;
    };
    p.is_empty()
        || p.parse::<u8>()
            .is_ok_and(|p| p <= if addr.is_ipv4() { 32 } else { 128 })
}

/// keepalived's `vrrp_complete_instance()` and sync-group completion.
fn complete_instances(c: &mut Config, d: &mut Diagnostics) {
    let g = c.global.clone();
    // Sync group membership.
    let mut member_of: HashMap<String, String> = HashMap::new();
    for sg in &c.sync_groups {
        let mut found = 0;
        for (m, loc) in &sg.members {
            if c.instances.iter().any(|i| &i.name == m) {
                if let Some(other) = member_of.get(m) {
                    d.error(E::General, *loc, format!("Virtual router {m} cannot exist in more than one sync group; ignoring {}", sg.name));
                    let _ = other;
                    continue;
                }
                member_of.insert(m.clone(), sg.name.clone());
                found += 1;
            } else {
                d.error(
                    E::General,
                    *loc,
                    format!(
                        "Virtual router {m} specified in sync group {} doesn't exist - ignoring",
                        sg.name
                    ),
                );
            }
        }
        if found == 0 {
            d.error(E::General, sg.loc, format!("Sync group {}, no matching virtual router found in group declaration - removing", sg.name));
        } else if found == 1 {
            d.error(E::General, sg.loc, format!("Sync group {} has only 1 virtual router(s) - this probably isn't what you want", sg.name));
        }
    }
    let sg_weight: HashMap<&str, bool> = c
        .sync_groups
        .iter()
        .map(|s| (s.name.as_str(), s.sync_group_tracking_weight))
        .collect();

    for v in &mut c.instances {
        let n = v.name.clone();
        if v.vrid.is_none() {
            d.error(
                E::General,
                v.loc,
                format!("({n}) the virtual router id must be set"),
            );
            continue;
        }
        let unicast = !v.unicast_peers.is_empty();
        if v.interface.is_none() && !unicast {
            d.error(E::General, v.loc, format!("({n}) Unknown interface!"));
            continue;
        }
        let strict = v.strict_mode.unwrap_or(g.vrrp_strict);
        if v.family == Family::Inet6 {
            if v.version == Some(2) {
                d.error(
                    E::General,
                    v.loc,
                    format!("({n}) cannot use IPv6 with VRRP version 2; setting version 3"),
                );
            }
            v.version = Some(3);
        }
        let version = *v.version.get_or_insert(g.vrrp_version);
        if v.vips.is_empty() && !v.no_virtual_ipaddress {
            if strict {
                d.error(
                    E::General,
                    v.loc,
                    format!("({n}) No VIP specified; at least one is required"),
                );
            } else {
                d.error(
                    E::Warning,
                    v.loc,
                    format!("({n}) No VIP specified; at least one is sensible"),
                );
            }
        }
        // keepalived's vrrp_complete_instance(): derive the missing one of state / priority.
        if !v.priority_given {
            v.priority = Priority(if v.state == InitialState::Master {
                255
            } else {
                100
            });
        }
        if !v.state_given {
            v.state = if v.priority.0 == 255 {
                InitialState::Master
            } else {
                InitialState::Backup
            };
        } else if strict && (v.state == InitialState::Master) != (v.priority.0 == 255) {
            d.error(
                E::General,
                v.loc,
                format!("({n}) State MASTER must match being address owner"),
            );
            v.state = if v.priority.0 == 255 {
                InitialState::Master
            } else {
                InitialState::Backup
            };
        }
        if let Some(auth) = v.authentication.clone() {
            if strict {
                d.error(
                    E::General,
                    auth.loc,
                    format!("({n}) Strict mode does not support authentication. Ignoring."),
                );
                v.authentication = None;
            } else if version == 3 {
                d.error(
                    E::General,
                    auth.loc,
                    format!("({n}) VRRP version 3 does not support authentication. Ignoring."),
                );
                v.authentication = None;
            } else if auth.auth_type.is_some() && auth.auth_pass.is_none() {
                d.error(
                    E::General,
                    auth.loc,
                    format!("({n}) Authentication specified but no password given. Ignoring"),
                );
                v.authentication = None;
            } else if auth.auth_type == Some(AuthType::Ah) && v.family == Family::Inet6 {
                d.error(
                    E::General,
                    auth.loc,
                    format!("({n}) Cannot use AH authentication with IPv6 - ignoring"),
                );
                v.authentication = None;
            } else if auth.auth_type == Some(AuthType::Ah) && v.state == InitialState::Master {
                d.error(E::General, auth.loc, format!("({n}) Initial state master is incompatible with AH authentication - clearing"));
                v.state = InitialState::Backup;
            }
        }
        if strict && unicast {
            d.error(
                E::General,
                v.loc,
                format!("({n}) Unicast peers are not supported in strict mode"),
            );
        }
        if !unicast
            && (v.unicast_ttl.is_some() || v.unicast_src_ip.is_some())
            && v.mcast_src_ip.is_none()
        {
            d.error(
                E::Deprecated,
                v.loc,
                format!("({n}) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration."),
            );
        }
        if unicast && v.mcast_dst_ip.is_some() {
            d.error(
                E::General,
                v.loc,
                format!("({n}) multicast destination specified with unicast - ignoring"),
            );
        }
        if v.nopreempt && v.priority.0 == 255 {
            d.error(
                E::General,
                v.loc,
                format!("({n}) nopreempt is incompatible with priority 255."),
            );
        }
        if v.nopreempt && v.state == InitialState::Master {
            d.error(
                E::General,
                v.loc,
                format!(
                    "({n}) Warning - nopreempt will not work with initial state MASTER - clearing"
                ),
            );
            v.state = InitialState::Backup;
        }
        if v.preempt_delay.0 > 0 && v.state == InitialState::Master {
            d.error(E::General, v.loc, format!("({n}) Warning - preempt delay will not work with initial state MASTER - clearing"));
            v.state = InitialState::Backup;
        }
        if v.preempt_delay.0 > 0 && v.nopreempt {
            d.error(
                E::General,
                v.loc,
                format!("({n}) preempt_delay is incompatible with nopreempt mode - resetting"),
            );
            v.preempt_delay = Micros(0);
        }
        if strict && v.accept == Some(true) && version == 2 {
            d.error(E::General, v.loc, format!("({n}) warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting"));
            v.accept = Some(false);
        }
        // RFC 3768 §5.3.7: v2 advertisement interval is whole seconds; RFC 5798 §5.2.7: v3 is
        // 12 bits of centiseconds.
        if version == 2 && v.advert_int.0 % 100 != 0 {
            d.error(
                E::General,
                v.loc,
                format!(
                    "({n}) VRRPv2 advertisement interval {} is not an integer - rounding",
                    v.advert_int
                ),
            );
            v.advert_int = Centis(((v.advert_int.0 + 50) / 100).max(1) * 100);
        } else if version == 3 && v.advert_int.0 > 4095 {
            d.error(E::General, v.loc, format!("({n}) VRRPv3 advertisement interval {} out of range - must be <= 40.95s; setting to 40.95s", v.advert_int));
            v.advert_int = Centis(4095);
        }
        if strict && v.garp.master_repeat != 1 && v.garp.master_repeat != 5 {
            // keepalived accepts its own defaults in strict mode.
        }
        // Tracked weights ignored in a sync group (without tracking weight) or for the owner.
        let in_sg_noweight = member_of
            .get(&n)
            .is_some_and(|s| !sg_weight.get(s.as_str()).copied().unwrap_or(false));
        if in_sg_noweight || v.priority.0 == 255 {
            let why = if in_sg_noweight {
                "SYNC group"
            } else {
                "address owner"
            };
            for t in &v.tracking.interfaces {
                if t.weight.is_some_and(|w| w != 0) {
                    d.error(
                        E::General,
                        t.loc,
                        format!(
                            "({n}) ignoring {} tracked interface {}due to {why}",
                            t.name,
                            if in_sg_noweight { "weight " } else { "" }
                        ),
                    );
                }
            }
        }
    }

    // VRID conflicts: same VRID, family and interface (multicast), or same peers (unicast).
    let mut seen: HashMap<(String, u8, bool), String> = HashMap::new();
    for v in &c.instances {
        let (Some(vrid), Some((ifname, _))) = (v.vrid, &v.interface) else {
            continue;
        };
        if !v.unicast_peers.is_empty() {
            continue;
        }
        let key = (ifname.clone(), vrid.0, v.family == Family::Inet6);
        if let Some(other) = seen.get(&key) {
            d.error(
                E::General,
                v.loc,
                format!(
                    "({}) duplicate VRID conflict with {other} VRID {}",
                    v.name, vrid.0
                ),
            );
        } else {
            seen.insert(key, v.name.clone());
        }
    }
}

/// keepalived's `validate_check_config()` for virtual servers: each default it has to apply is
/// reported (2.2.7 wants `protocol`, `lvs_sched` and `lvs_method` written), then the real servers
/// inherit what they did not set.
fn check_virtual_servers(c: &mut Config, d: &mut Diagnostics) {
    let groups = c.vs_groups.clone();
    c.virtual_servers.retain_mut(|vs| {
        let name = vs_name(vs);
        if vs.real_servers.is_empty() {
            d.error(E::General, vs.loc, format!("Virtual server {name} has no real servers - ignoring"));
            return false;
        }
        let group = match &vs.address {
            VsAddress::Group(g) => match groups.iter().find(|x| &x.name == g) {
                Some(g) => Some(g),
                None => {
                    // keepalived 2.2.7 says nothing; the virtual server would simply never exist.
                    d.warn(
                        E::Logged,
                        vs.loc,
                        format!("virtual_server group {g}: no virtual_server_group of that name - this virtual server does nothing"),
                    );
                    None
                }
            },
            _ => None,
        };
        let group_has = |f: fn(&VsGroupEntry) -> bool| group.is_some_and(|g| g.entries.iter().any(|(e, _)| f(e)));
        let has_ranges = group_has(|e| matches!(e, VsGroupEntry::Range { .. }));
        let has_fwmarks = group_has(|e| matches!(e, VsGroupEntry::Fwmark { .. }));
        let by_fwmark = matches!(vs.address, VsAddress::Fwmark { .. });
        let is_group = matches!(vs.address, VsAddress::Group(_));
        if vs.ha_suspend && (by_fwmark || has_fwmarks) {
            d.error(E::General, vs.loc, format!("Virtual server {name}: cannot use ha_suspend with fwmarks - clearing ha_suspend"));
            vs.ha_suspend = false;
        }
        if has_ranges || (!is_group && !by_fwmark) {
            if !vs.protocol_given {
                d.error(E::General, vs.loc, format!("Virtual server {name}: no protocol set - defaulting to UDP"));
                vs.protocol = Protocol::Udp;
                vs.protocol_given = true;
            }
            if vs.sched_flags.iter().any(|f| f == "ops") && vs.protocol != Protocol::Udp {
                d.error(E::General, vs.loc, format!("Virtual server {name}: one packet scheduling requires UDP - resetting"));
                vs.sched_flags.retain(|f| f != "ops");
            }
            if vs.persistence_timeout.is_none() && matches!(vs.address, VsAddress::Ip { port: 0, .. }) {
                d.error(E::General, vs.loc, format!("Virtual server {name}: zero port only valid for persistent services - setting"));
                vs.persistence_timeout = Some(360);
            }
        }
        if vs.persistence_timeout.is_none()
            && group.is_some_and(|g| g.entries.iter().any(|(e, _)| matches!(e, VsGroupEntry::Range { port: 0, .. })))
        {
            d.error(E::General, vs.loc, format!("Virtual server {name}: zero port only valid for persistent services - setting"));
            vs.persistence_timeout = Some(360);
        }
        if vs.protocol_given && ((is_group && !has_ranges && has_fwmarks) || by_fwmark) {
            d.error(E::General, vs.loc, format!("Warning: Virtual server {name}: protocol specified for fwmark - protocol will be ignored"));
        }
        if !vs.scheduler_given {
            d.error(E::General, vs.loc, format!("Virtual server {name}: no scheduler set, setting default 'wlc'"));
            vs.scheduler_given = true;
        }
        // Real servers: duplicates removed, forwarding method inherited.
        let mut seen: Vec<(std::net::IpAddr, u16)> = Vec::new();
        let mut weight_sum: i64 = 0;
        let mut i = 0;
        while i < vs.real_servers.len() {
            let rs = &vs.real_servers[i];
            let key = (rs.addr, rs.port);
            if seen.contains(&key) {
                d.error(E::General, rs.loc, format!("VS {name}: real server {} is duplicated - removing second rs", rs_name(rs)));
                vs.real_servers.remove(i);
                continue;
            }
            seen.push(key);
            if vs.real_servers[i].forwarding.is_none() {
                if !vs.forwarding_given {
                    d.error(E::General, vs.loc, format!("Virtual server {name}: no forwarding method set, setting default NAT"));
                    vs.forwarding_given = true;
                }
                vs.real_servers[i].forwarding = Some(vs.forwarding.clone());
            }
            weight_sum += i64::from(vs.real_servers[i].weight);
            i += 1;
        }
        if vs.sorry_server.is_some() && vs.sorry_server_forwarding.is_none() {
            if !vs.forwarding_given {
                d.error(E::General, vs.loc, format!("Virtual server {name}: no forwarding method set, setting default NAT"));
                vs.forwarding_given = true;
            }
            vs.sorry_server_forwarding = Some(vs.forwarding.clone());
        } else if vs.sorry_server.is_none() && vs.sorry_server_forwarding.is_some() {
            d.error(E::General, vs.loc, format!("Virtual server {name}: sorry_server_lvs_method specified without a sorry_server - ignoring"));
            vs.sorry_server_forwarding = None;
        }
        let weight_sum = u32::try_from(weight_sum.max(0)).unwrap_or(u32::MAX);
        if vs.quorum > weight_sum {
            d.error(
                E::General,
                vs.loc,
                format!(
                    "Warning - quorum {} for {name} exceeds total weight of real servers {weight_sum}, reducing quorum to {weight_sum}",
                    vs.quorum
                ),
            );
            vs.quorum = weight_sum;
        }
        if vs.hysteresis >= vs.quorum && !(vs.hysteresis == 0 && vs.quorum == 0) {
            let h = vs.quorum.saturating_sub(1);
            d.error(
                E::General,
                vs.loc,
                format!("Virtual server {name}: hysteresis {} >= quorum {}; setting hysteresis to {h}", vs.hysteresis, vs.quorum),
            );
            vs.hysteresis = h;
        }
        // Unless NAT, a fwmark service forwards to the real server's port as-is: a port is ignored.
        if by_fwmark || has_fwmarks {
            for rs in &vs.real_servers {
                if rs.forwarding != Some(Forwarding::Nat) && rs.port != 0 {
                    d.error(
                        E::General,
                        rs.loc,
                        format!("WARNING - fwmark virtual server {name}, real server {} has port specified - port will be ignored", rs_name(rs)),
                    );
                }
            }
        }
        true
    });
}

/// keepalived's way of naming a virtual server in messages.
fn vs_name(vs: &VirtualServer) -> String {
    let proto = match (vs.protocol_given, vs.protocol) {
        (false, _) => "none",
        (true, Protocol::Tcp) => "tcp",
        (true, Protocol::Udp) => "udp",
        (true, Protocol::Sctp) => "sctp",
    };
    match &vs.address {
        VsAddress::Ip { addr, port } => format!("[{addr}]:{proto}:{port}"),
        VsAddress::Fwmark { mark, .. } => format!("FWM {mark}"),
        VsAddress::Group(g) => format!("[{g}]:{proto}"),
    }
}

fn rs_name(rs: &RealServer) -> String {
    format!("[{}]:{}", rs.addr, rs.port)
}

/// Where a script's command would be found: `None` if it is not a file that exists.
fn script_file(cmd: &Command) -> Option<std::path::PathBuf> {
    let prog = cmd.args.first()?;
    if prog.starts_with('<') {
        return None; // a shell redirection builtin: keepalived's SC_SYSTEM
    }
    if prog.contains('/') {
        let p = Path::new(prog);
        return p.exists().then(|| p.to_path_buf());
    }
    let path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

/// keepalived refuses to run scripts as root without `enable_script_security` (it reports
/// "SECURITY VIOLATION"; `-t` exits 6). Only scripts that exist count, as in keepalived.
fn check_script_security(c: &Config, d: &mut Diagnostics) {
    if c.global.enable_script_security {
        return;
    }
    let mut vrrp_scripts: Vec<&Command> = Vec::new();
    for v in &c.instances {
        vrrp_scripts.extend(v.notify.all());
    }
    for g in &c.sync_groups {
        vrrp_scripts.extend(g.notify.all());
    }
    for s in &c.vrrp_scripts {
        vrrp_scripts.extend(&s.script);
    }
    for f in [&c.global.notify_fifo, &c.global.vrrp_notify_fifo] {
        if let Some((_, Some(cmd))) = f {
            vrrp_scripts.push(cmd);
        }
    }
    let mut check_scripts: Vec<&Command> = Vec::new();
    for vs in &c.virtual_servers {
        check_scripts.extend(vs.quorum_up.iter().chain(&vs.quorum_down).map(|c| &**c));
        for rs in &vs.real_servers {
            check_scripts.extend(rs.notify_up.iter().chain(&rs.notify_down).map(|c| &**c));
            for ck in &rs.checkers {
                if let CheckerKind::Misc(m) = &ck.kind {
                    check_scripts.extend(&m.path);
                }
            }
        }
    }
    if let Some((_, Some(cmd))) = &c.global.lvs_notify_fifo {
        check_scripts.push(cmd);
    }
    let first_existing = |v: &[&Command]| {
        v.iter()
            .find(|cmd| script_file(cmd).is_some())
            .map(|c| c.loc)
    };
    if let Some(loc) = first_existing(&vrrp_scripts) {
        report_security(
            d,
            loc,
            "scripts are being executed but script_security not enabled.",
        );
    }
    if let Some(loc) = first_existing(&check_scripts) {
        report_security(
            d,
            loc,
            "check scripts are being executed but script_security not enabled.",
        );
    }
}

fn report_security(d: &mut Diagnostics, loc: Loc, what: &str) {
    d.error(
        E::Security,
        loc,
        format!("SECURITY VIOLATION - {what} (add 'enable_script_security' to global_defs, and 'script_user' if the scripts should not run as root)"),
    );
}

#[cfg(test)]
mod tests {
    use super::super::{LoadOptions, load};
    use super::*;

    fn instance(body: &str) -> VrrpInstance {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.conf");
        std::fs::write(&p, format!("vrrp_instance VI {{\n interface lo\n virtual_router_id 1\n{body}\n virtual_ipaddress {{\n 198.51.100.1\n }}\n}}\n")).unwrap();
        let mut o = LoadOptions::new(&p);
        o.check_interfaces = false;
        load(&o).config.instances.remove(0)
    }

    #[test]
    fn state_and_priority_complete_each_other() {
        let v = instance(" state MASTER");
        assert_eq!((v.state, v.priority), (InitialState::Master, Priority(255)));
        let v = instance(" priority 255");
        assert_eq!((v.state, v.priority), (InitialState::Master, Priority(255)));
        let v = instance("");
        assert_eq!((v.state, v.priority), (InitialState::Backup, Priority(100)));
        let v = instance(" state MASTER\n priority 150");
        assert_eq!((v.state, v.priority), (InitialState::Master, Priority(150)));
    }
}
