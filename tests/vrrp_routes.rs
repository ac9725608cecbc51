//! virtual_routes, virtual_rules, static_routes and static_rules on two keepalived-rs routers
//! of one LAN (network namespaces, see `support::vrrp_lab`): the master holds the virtual
//! routes and rules, the backup does not; they move with mastership on SIGTERM and on SIGKILL,
//! and come back on preemption. Static ones are on both routers from start to exit.
//!
//! Privileged: needs root, `ip` and network namespaces. Skipped when those are missing, unless
//! `KEEPALIVED_RS_PRIVILEGED=1`, which turns a missing prerequisite into a failure. Every wait
//! is bounded.

mod support;

use std::process::Command;
use std::time::Duration;

use support::netns::{self, Need, NetNs};
use support::process::{Outcome, run_with_timeout};
use support::vrrp_lab::{Daemon, Kind, Lab, wait_until};

const VIP: &str = "198.51.100.250";

fn conf(prio: u8) -> String {
    format!(
        "global_defs {{\n    router_id lab\n}}\n\
         static_routes {{\n    unreachable 203.0.113.64/26 table 200\n}}\n\
         static_rules {{\n    from 203.0.113.64/26 table 200 pref 200\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {prio}\n    version 3\n    advert_int 0.1\n    \
         virtual_ipaddress {{\n        {VIP}/24\n    }}\n    \
         virtual_routes {{\n        203.0.113.0/26 via 198.51.100.254 dev eth0\n        \
         blackhole 203.0.113.128/25 table 100\n        \
         2001:db8:5::/48 via 2001:db8::fe dev eth0\n    }}\n    \
         virtual_rules {{\n        from 203.0.113.0/26 table 100 pref 100\n    }}\n}}\n"
    )
}

/// `ip -n NS [-6] route show table all` and `ip -n NS rule show`, both families.
fn tables(ns: &NetNs) -> String {
    let ip = netns::ip_path().expect("`ip` not found");
    let mut out = String::new();
    for args in [
        &["-4", "route", "show", "table", "all"][..],
        &["-6", "route", "show", "table", "all"],
        &["-4", "rule", "show"],
    ] {
        let r = run_with_timeout(
            Command::new(&ip).arg("-n").arg(ns.name()).args(args),
            Duration::from_secs(10),
        );
        assert_eq!(r.outcome, Outcome::Exited(0));
        out += &String::from_utf8_lossy(&r.stdout);
    }
    out
}

const VIRTUAL: &[&str] = &[
    "203.0.113.0/26 via 198.51.100.254 dev eth0 proto keepalived",
    "blackhole 203.0.113.128/25 table 100 proto keepalived",
    "2001:db8:5::/48 via 2001:db8::fe dev eth0 proto keepalived",
    "100:\tfrom 203.0.113.0/26 lookup 100 proto keepalived",
];
const STATIC: &[&str] = &[
    "unreachable 203.0.113.64/26 table 200 proto keepalived",
    "200:\tfrom 203.0.113.64/26 lookup 200 proto keepalived",
];

fn has_all(t: &str, lines: &[&str]) -> bool {
    lines.iter().all(|l| t.contains(l))
}

fn has_none(t: &str, lines: &[&str]) -> bool {
    lines.iter().all(|l| !t.contains(l))
}

fn logs(ds: &[&Daemon]) -> String {
    ds.iter()
        .map(|d| format!("--- {}\n{}", d.name, d.log_text()))
        .collect()
}

/// Router `who` holds the VIP and the virtual routes and rules; `other` (if alive) has none.
fn await_master(lab: &Lab, who: usize, other: Option<usize>, ds: &[&Daemon]) {
    let ok = wait_until(Duration::from_secs(10), || {
        let t = tables(lab.router(who));
        lab.holds(who, VIP)
            && has_all(&t, VIRTUAL)
            && other.is_none_or(|o| !lab.holds(o, VIP) && has_none(&tables(lab.router(o)), VIRTUAL))
    });
    assert!(
        ok,
        "router {who} should hold the VIP, routes and rules{}:\n{}\n{}",
        other.map_or(String::new(), |o| format!(", router {o} none of them")),
        tables(lab.router(who)),
        logs(ds)
    );
}

#[test]
fn virtual_routes_follow_mastership_and_static_routes_live_with_the_daemon() {
    if !netns::gate(
        "virtual_routes_follow_mastership_and_static_routes_live_with_the_daemon",
        &[Need::Root, Need::Ip, Need::NetnsWorks],
    ) {
        return;
    }
    let lab = Lab::new("vroutes", 2, 1).expect("lab");
    let mut d1 = lab.start(Kind::Ours, 1, &conf(100));
    let mut d0 = lab.start(Kind::Ours, 0, &conf(150));
    await_master(&lab, 0, Some(1), &[&d0, &d1]);
    for r in 0..2 {
        assert!(
            has_all(&tables(lab.router(r)), STATIC),
            "static routes and rules on router {r}:\n{}",
            tables(lab.router(r))
        );
    }

    // SIGTERM: the backup takes the routes over; the stopped router removed all of its own,
    // static ones included.
    assert!(d0.sigterm(), "master did not stop\n{}", logs(&[&d0, &d1]));
    await_master(&lab, 1, Some(0), &[&d0, &d1]);
    let t0 = tables(lab.router(0));
    assert!(
        has_none(&t0, STATIC) && !t0.contains("proto keepalived"),
        "router 0 after exit:\n{t0}"
    );

    // Preemption: the higher priority comes back and takes them again.
    let mut d0 = lab.start(Kind::Ours, 0, &conf(150));
    await_master(&lab, 0, Some(1), &[&d0, &d1]);

    // SIGKILL: the killed router keeps what it had (nobody is left to remove it); take its
    // link down, as when a router dies, and the backup installs its own.
    d0.sigkill();
    lab.router(0)
        .ip(&["link", "set", "eth0", "down"])
        .expect("link down");
    let ok = wait_until(Duration::from_secs(10), || {
        lab.holds(1, VIP) && has_all(&tables(lab.router(1)), VIRTUAL)
    });
    assert!(
        ok,
        "backup did not take over after SIGKILL\n{}",
        logs(&[&d0, &d1])
    );

    assert!(d1.sigterm(), "router 1 did not stop\n{}", logs(&[&d0, &d1]));
    let t1 = tables(lab.router(1));
    assert!(
        !t1.contains("proto keepalived"),
        "router 1 left routes or rules behind:\n{t1}"
    );
}
