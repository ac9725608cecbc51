//! Privileged: routes and rules through rtnetlink (`keepalived_rs::netlink::route`/`rule`,
//! `RouteManager`) inside a throw-away network namespace, compared with what
//! `ip route show table all` and `ip rule show` report. Only 198.51.100.0/24, 203.0.113.0/24
//! and 2001:db8::/32 are used.
//!
//! The pattern of tests/netlink_vip.rs: the parent prepares a namespace with `ip`, then
//! re-executes this test binary inside it (`ip netns exec NS <exe> --exact child_… --ignored`)
//! with [`CHILD_ENV`] naming the namespace; the child refuses to run anywhere else. The parent
//! checks that the namespace's routes and rules are as before.
//!
//! Gate: without root or `ip`, the test prints `skipped: …`; with `KEEPALIVED_RS_PRIVILEGED=1`
//! it fails instead. Every command and child has a timeout.

mod support;

use std::process::Command;
use std::time::Duration;

use keepalived_rs::netlink::RouteManager;
use keepalived_rs::netlink::route::{Added, RouteSpec};
use keepalived_rs::netlink::rule::RuleSpec;
use support::netns::{self, Need, NetNs};
use support::process::{Outcome, run_with_timeout};

const CHILD_ENV: &str = "KEEPALIVED_RS_NETNS_CHILD";
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
const CMD_TIMEOUT: Duration = Duration::from_secs(10);
const NEEDS: &[Need] = &[Need::Root, Need::Ip, Need::NetnsWorks];

/// Route words and a line `ip route show table all` must then contain.
const ROUTES: &[(&str, &str)] = &[
    (
        "203.0.113.0/26 via 198.51.100.254 dev eth0",
        "203.0.113.0/26 via 198.51.100.254 dev eth0 proto keepalived",
    ),
    (
        "203.0.113.64/26 dev eth0 table 100 metric 7 scope link",
        "203.0.113.64/26 dev eth0 table 100 proto keepalived scope link metric 7",
    ),
    (
        "blackhole 203.0.113.128/26 table main",
        "blackhole 203.0.113.128/26 proto keepalived",
    ),
    (
        "unreachable 203.0.113.192/27 table 1000",
        "unreachable 203.0.113.192/27 table 1000 proto keepalived",
    ),
    (
        "203.0.113.224/28 src 198.51.100.1 nexthop via 198.51.100.253 dev eth0 weight 2 \
         nexthop via 198.51.100.252 dev eth0 weight 3",
        "nexthop via 198.51.100.253 dev eth0 weight 2",
    ),
    (
        "2001:db8:1::/48 via 2001:db8::fe dev eth0 metric 5",
        "2001:db8:1::/48 via 2001:db8::fe dev eth0 proto keepalived metric 5",
    ),
    (
        "prohibit 2001:db8:2::/48 table 100",
        "prohibit 2001:db8:2::/48 dev lo table 100 proto keepalived",
    ),
];

/// Rule words and a line `ip rule show` (or `ip -6 rule show`) must then contain.
const RULES: &[(&str, &str)] = &[
    (
        "from 198.51.100.0/24 table 100 preference 100",
        "100:\tfrom 198.51.100.0/24 lookup 100 proto keepalived",
    ),
    (
        "to 203.0.113.0/24 fwmark 0x10/0xff lookup 1000 pref 101",
        "101:\tfrom all to 203.0.113.0/24 fwmark 0x10/0xff lookup 1000 proto keepalived",
    ),
    (
        "from all iif eth0 table main suppress_prefixlength 0 pref 102",
        "102:\tfrom all iif eth0 lookup main suppress_prefixlength 0 proto keepalived",
    ),
    (
        "from 198.51.100.7 pref 103 goto 104",
        "103:\tfrom 198.51.100.7 goto 104 proto keepalived",
    ),
    (
        "from 198.51.100.8 prohibit pref 104 no_track",
        "104:\tfrom 198.51.100.8 prohibit",
    ),
    (
        "from 2001:db8::/32 table 100 priority 105",
        "105:\tfrom 2001:db8::/32 lookup 100 proto keepalived",
    ),
];

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// `ip ARGS` in the current namespace.
fn ip(args: &[&str]) -> String {
    let ip = netns::ip_path().expect("`ip` not found");
    let r = run_with_timeout(Command::new(ip).args(args), CMD_TIMEOUT);
    assert_eq!(r.outcome, Outcome::Exited(0), "ip {}", args.join(" "));
    String::from_utf8_lossy(&r.stdout).into_owned()
}

fn tables(prefix: &[&str]) -> String {
    let mut all = prefix.to_vec();
    let mut out = String::new();
    for what in [&["route", "show", "table", "all"][..], &["rule", "show"]] {
        for fam in ["-4", "-6"] {
            all.truncate(prefix.len());
            all.push(fam);
            all.extend_from_slice(what);
            out += &ip(&all);
        }
    }
    out
}

#[test]
fn routes_and_rules_added_and_removed_in_a_netns() {
    if !netns::gate("routes_and_rules_added_and_removed_in_a_netns", NEEDS) {
        return;
    }
    let ns = NetNs::new("routes", &["eth0"]).expect("netns");
    ns.ip(&["addr", "add", "198.51.100.1/24", "dev", "eth0"])
        .unwrap();
    ns.ip(&["addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad"])
        .unwrap();
    // Not ours: must survive the child, which also tries to add an identical one.
    ns.ip(&[
        "route",
        "add",
        "203.0.113.0/28",
        "via",
        "198.51.100.250",
        "table",
        "50",
    ])
    .unwrap();
    let before = tables(&["-n", ns.name()]);

    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = ns.command(exe);
    cmd.args([
        "--exact",
        "child_routes_and_rules",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, ns.name());
    let r = run_with_timeout(&mut cmd, CHILD_TIMEOUT);
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.outcome == Outcome::Exited(0) && out.contains("1 passed"),
        "child: {}\n{}\n{}",
        r.outcome,
        out,
        String::from_utf8_lossy(&r.stderr)
    );

    assert_eq!(
        tables(&["-n", ns.name()]),
        before,
        "the namespace must be as it was"
    );
}

/// Runs inside the namespace of [`routes_and_rules_added_and_removed_in_a_netns`].
#[test]
#[ignore = "re-executed inside a network namespace by routes_and_rules_added_and_removed_in_a_netns"]
fn child_routes_and_rules() {
    let Ok(ns) = std::env::var(CHILD_ENV) else {
        println!("skipped: runs only when re-executed inside a test namespace");
        return;
    };
    let here = ip(&["netns", "identify"]);
    assert_eq!(here.trim(), ns, "refusing to run outside namespace {ns}");

    let mut m = RouteManager::new().expect("rtnetlink");
    let routes: Vec<RouteSpec> = ROUTES
        .iter()
        .map(|(w, _)| RouteSpec::parse(&words(w)).unwrap())
        .collect();
    let rules: Vec<RuleSpec> = RULES
        .iter()
        .map(|(w, _)| RuleSpec::parse(&words(w)).unwrap())
        .collect();
    for r in &routes {
        assert_eq!(
            m.add_route(r).unwrap_or_else(|e| panic!("{r}: {e}")),
            Added::Added,
            "{r}"
        );
    }
    for r in &rules {
        assert_eq!(
            m.add_rule(r).unwrap_or_else(|e| panic!("{r}: {e}")),
            Added::Added,
            "{r}"
        );
    }
    let shown = tables(&[]);
    for (w, line) in ROUTES.iter().chain(RULES) {
        assert!(shown.contains(line), "{w:?}: expected {line:?} in\n{shown}");
    }
    // A rule that is already there is not ours (EEXIST).
    assert_eq!(m.add_rule(&rules[0]).unwrap(), Added::Existed);

    // The route that was there before: EEXIST, not recorded, never removed.
    let foreign = RouteSpec::parse(&words(
        "203.0.113.0/28 via 198.51.100.250 table 50 proto boot",
    ))
    .unwrap();
    assert_eq!(m.add_route(&foreign).unwrap(), Added::Existed);
    assert!(!m.remove_route(&foreign).unwrap(), "not ours");

    for r in rules.iter().rev() {
        assert!(m.remove_rule(r).unwrap(), "{r}");
    }
    for r in routes.iter().rev() {
        assert!(m.remove_route(r).unwrap(), "{r}");
    }
    let (left_routes, left_rules) = m.added();
    assert!(left_routes.is_empty() && left_rules.is_empty());
    let after = tables(&[]);
    assert!(!after.contains("proto keepalived"), "left behind:\n{after}");
}
