//! Privileged: virtual addresses through rtnetlink (`keepalived_rs::netlink`) and gratuitous
//! ARP / unsolicited NA frames (`keepalived_rs::vrrp::garp`), inside throw-away network
//! namespaces. Only 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32 are used.
//!
//! Nothing runs in the host namespace. Each top-level test prepares one or two namespaces with
//! `ip`, then re-executes this test binary inside one of them (`ip netns exec NS <exe> --exact
//! child_… --ignored`), with [`CHILD_ENV`] set to the namespace name. The `child_*` tests are
//! `#[ignore]`d. They do nothing unless that variable is set, and they refuse to run unless
//! `ip netns identify` confirms they are inside the namespace it names. The parent checks the
//! child's exit status and inspects the namespaces from outside (`ip -n NS …`).
//!
//! Gate: without root or `ip`, the tests print `skipped: …`; with `KEEPALIVED_RS_PRIVILEGED=1`
//! they fail instead. Every command and child has a timeout.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use keepalived_rs::config::diag::Loc;
use keepalived_rs::config::model::IpAddress;
use keepalived_rs::netlink::address::{AddressSpec, flags};
use keepalived_rs::netlink::{
    AddOutcome, AddrOp, AddressManager, InterfaceAddress, NetlinkError, RemoveOutcome,
    list_addresses,
};
use keepalived_rs::vrrp::garp::{
    self, ARP_FRAME_LEN, GarpError, GarpSender, Link, MacAddr, NA_FRAME_LEN, Sent,
};
use nix::errno::Errno;
use support::netns::{self, Need, NetNs};
use support::process::{Outcome, RunResult, run_with_timeout};

/// Set (to the namespace's name) only for the re-executed child.
const CHILD_ENV: &str = "KEEPALIVED_RS_NETNS_CHILD";
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
const CMD_TIMEOUT: Duration = Duration::from_secs(10);

const NEEDS: &[Need] = &[Need::Root, Need::Ip, Need::NetnsWorks];

// GARP test parameters (the sender's MAC is set on its veth end).
const SENDER_MAC: MacAddr = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
const GARP_VIP4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const GARP_VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

// ===== harness =====

/// Inside a child: the namespace we must be in, after checking we really are. `None` when
/// not re-executed by a parent (e.g. `cargo test -- --ignored` on the host): do nothing.
fn child_namespace(test: &str) -> Option<String> {
    let Ok(ns) = std::env::var(CHILD_ENV) else {
        println!("skipped: {test}: runs only when re-executed inside a test namespace");
        return None;
    };
    let ip = netns::ip_path().expect("`ip` not found");
    let r = run_with_timeout(Command::new(ip).args(["netns", "identify"]), CMD_TIMEOUT);
    let current = String::from_utf8_lossy(&r.stdout).trim().to_string();
    assert_eq!(
        current, ns,
        "{test}: refusing to run: this process is not inside network namespace {ns:?}"
    );
    Some(ns)
}

fn report(what: &str, r: &RunResult) -> String {
    format!(
        "{what}: exit {}\n--- stdout\n{}--- stderr\n{}",
        r.outcome,
        support::excerpt(&r.stdout, 200, 300, "  "),
        support::excerpt(&r.stderr, 200, 300, "  ")
    )
}

/// The command that re-executes this binary's `child` test inside `ns`.
fn child_command(ns: &NetNs, child: &str, env: &[(&str, String)]) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = ns.command(exe);
    cmd.args([
        "--exact",
        child,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, ns.name());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run_child(ns: &NetNs, child: &str, env: &[(&str, String)]) {
    let r = run_with_timeout(&mut child_command(ns, child, env), CHILD_TIMEOUT);
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.outcome == Outcome::Exited(0) && out.contains("1 passed"),
        "{}",
        report(&format!("child {child} in {}", ns.name()), &r)
    );
}

/// `ip -n NS ARGS`, returning stdout.
fn ip_out(ns: &str, args: &[&str]) -> String {
    let ip = netns::ip_path().expect("`ip` not found");
    let r = run_with_timeout(Command::new(ip).arg("-n").arg(ns).args(args), CMD_TIMEOUT);
    assert_eq!(
        r.outcome,
        Outcome::Exited(0),
        "{}",
        report(&format!("ip -n {ns} {}", args.join(" ")), &r)
    );
    String::from_utf8_lossy(&r.stdout).into_owned()
}

/// `ip netns exec NS sysctl -w KEY=VALUE`.
fn sysctl(ns: &NetNs, setting: &str) {
    let r = run_with_timeout(ns.command("sysctl").args(["-w", setting]), CMD_TIMEOUT);
    assert_eq!(
        r.outcome,
        Outcome::Exited(0),
        "{}",
        report(&format!("sysctl -w {setting} in {}", ns.name()), &r)
    );
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    loop {
        match ok() {
            Ok(()) => return,
            Err(e) if start.elapsed() >= timeout => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

// ===== `ip -o addr show` =====

/// One line of `ip -o addr show`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct IpLine {
    ifname: String,
    family: String,
    addr: String,
    prefix: u8,
    peer: Option<String>,
    brd: Option<String>,
    scope: String,
    label: Option<String>,
    flags: BTreeSet<String>,
    preferred_lft: String,
}

fn parse_ip_addr(out: &str) -> Vec<IpLine> {
    const FLAGS: &[&str] = &[
        "secondary",
        "temporary",
        "dynamic",
        "nodad",
        "optimistic",
        "dadfailed",
        "home",
        "deprecated",
        "tentative",
        "permanent",
        "mngtmpaddr",
        "noprefixroute",
        "autojoin",
        "stable-privacy",
    ];
    let mut lines = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let (main, lifetimes) = line.split_once('\\').unwrap_or((line, ""));
        let t: Vec<&str> = main.split_whitespace().collect();
        assert!(t.len() >= 4, "unexpected `ip -o addr` line: {line}");
        let (addr, mut prefix) = match t[3].split_once('/') {
            Some((a, p)) => (a.to_string(), p.parse().expect("prefix")),
            None => (t[3].to_string(), if t[2] == "inet" { 32 } else { 128 }),
        };
        let mut l = IpLine {
            ifname: t[1].trim_end_matches(':').to_string(),
            family: t[2].to_string(),
            addr,
            prefix: 0,
            peer: None,
            brd: None,
            scope: String::new(),
            label: None,
            flags: BTreeSet::new(),
            preferred_lft: String::new(),
        };
        let mut i = 4;
        while i < t.len() {
            match t[i] {
                "peer" => {
                    let (p, len) = t[i + 1].split_once('/').expect("peer/len");
                    l.peer = Some(p.to_string());
                    prefix = len.parse().expect("peer prefix");
                    i += 2;
                }
                "brd" => {
                    l.brd = Some(t[i + 1].to_string());
                    i += 2;
                }
                "scope" => {
                    l.scope = t[i + 1].to_string();
                    i += 2;
                }
                f if FLAGS.contains(&f) => {
                    l.flags.insert(f.to_string());
                    i += 1;
                }
                // For IPv4 the label comes last.
                label if l.family == "inet" && i == t.len() - 1 => {
                    l.label = Some(label.to_string());
                    i += 1;
                }
                other => panic!("unexpected word {other:?} in `ip -o addr` line: {line}"),
            }
        }
        l.prefix = prefix;
        let lt: Vec<&str> = lifetimes.split_whitespace().collect();
        if let Some(p) = lt.iter().position(|w| *w == "preferred_lft") {
            l.preferred_lft = lt.get(p + 1).unwrap_or(&"").to_string();
        }
        lines.push(l);
    }
    lines
}

fn ip_addrs(ns: &str, dev: &str) -> Vec<IpLine> {
    parse_ip_addr(&ip_out(ns, &["-o", "addr", "show", "dev", dev]))
}

fn find<'a>(lines: &'a [IpLine], addr: &str) -> &'a IpLine {
    lines
        .iter()
        .find(|l| l.addr == addr)
        .unwrap_or_else(|| panic!("{addr} not in `ip addr show`: {lines:#?}"))
}

#[test]
fn parse_ip_addr_lines() {
    let out = "2: eth0    inet 198.51.100.10/24 brd 198.51.100.255 scope global secondary eth0:vip\\       valid_lft forever preferred_lft forever\n\
               2: eth0    inet 203.0.113.5 peer 203.0.113.6/32 scope global eth0\\       valid_lft forever preferred_lft forever\n\
               2: eth0    inet6 2001:db8::11/128 scope global deprecated tentative \\       valid_lft forever preferred_lft 0sec\n";
    let l = parse_ip_addr(out);
    assert_eq!(l.len(), 3);
    assert_eq!(l[0].label.as_deref(), Some("eth0:vip"));
    assert_eq!(l[0].brd.as_deref(), Some("198.51.100.255"));
    assert!(l[0].flags.contains("secondary"));
    assert_eq!(
        (l[1].peer.as_deref(), l[1].prefix),
        (Some("203.0.113.6"), 32)
    );
    assert_eq!(l[2].preferred_lft, "0sec");
    assert!(l[2].flags.contains("tentative") && l[2].flags.contains("deprecated"));
}

// ===== addresses =====

/// Config entries as the lowering produces them, for `AddressSpec::from_config`.
fn entry(addr: &str, prefix: u8) -> IpAddress {
    IpAddress {
        addr: addr.parse().expect("address"),
        prefix,
        broadcast: None,
        dev: None,
        scope: None,
        label: None,
        peer: None,
        peer_prefix: None,
        flags: Vec::new(),
        preferred_lft: None,
        loc: Loc::default(),
    }
}

fn spec(e: IpAddress) -> AddressSpec {
    AddressSpec::from_config(&e, "eth0").expect("valid entry")
}

#[test]
fn vips_added_listed_and_removed_in_a_netns() {
    if !netns::gate("vips_added_listed_and_removed_in_a_netns", NEEDS) {
        return;
    }
    let ns = NetNs::new("vip", &["eth0"]).expect("netns");
    // Addresses that are not ours: they must survive everything the child does.
    ns.ip(&["addr", "add", "198.51.100.99/24", "dev", "eth0"])
        .unwrap();
    ns.ip(&["addr", "add", "2001:db8::99/64", "dev", "eth0", "nodad"])
        .unwrap();
    // The kernel refuses IPv6 addresses here (EACCES): the error path.
    sysctl(&ns, "net.ipv6.conf.peer0.disable_ipv6=1");
    // Link-local DAD must be over, so that the baseline is stable.
    wait_until("link-local DAD to finish", Duration::from_secs(10), || {
        let out = ip_out(ns.name(), &["-o", "addr", "show"]);
        if out.contains("tentative") {
            Err(out)
        } else {
            Ok(())
        }
    });
    let before = ip_out(ns.name(), &["-o", "addr", "show"]);

    run_child(&ns, "child_vip_manager", &[]);

    let after = ip_out(ns.name(), &["-o", "addr", "show"]);
    assert_eq!(
        parse_ip_addr(&after),
        parse_ip_addr(&before),
        "remove_all_added must leave the namespace as it was"
    );
}

/// Runs inside the namespace of [`vips_added_listed_and_removed_in_a_netns`].
#[test]
#[ignore = "re-executed inside a network namespace by vips_added_listed_and_removed_in_a_netns"]
fn child_vip_manager() {
    let Some(ns) = child_namespace("child_vip_manager") else {
        return;
    };
    let baseline = list_addresses("eth0").expect("list");
    assert!(
        baseline
            .iter()
            .any(|a| a.addr == "198.51.100.99".parse::<IpAddr>().unwrap()),
        "pre-existing address missing from our list: {baseline:#?}"
    );
    let mut mgr = AddressManager::new().expect("rtnetlink socket");

    // 198.51.100.10/24 brd + dev eth0 scope global label eth0:vip
    let mut e = entry("198.51.100.10", 24);
    e.broadcast = Some("+".into());
    e.dev = Some("eth0".into());
    e.scope = Some("global".into());
    e.label = Some("eth0:vip".into());
    let brd = spec(e);
    // 198.51.100.11/32 scope host
    let mut e = entry("198.51.100.11", 32);
    e.scope = Some("host".into());
    let host = spec(e);
    // 203.0.113.5 peer 203.0.113.6
    let mut e = entry("203.0.113.5", 32);
    e.peer = Some("203.0.113.6".parse().unwrap());
    let peer = spec(e);
    // 198.51.100.12/24 noprefixroute
    let mut e = entry("198.51.100.12", 24);
    e.flags = vec!["noprefixroute".into()];
    let nopfx = spec(e);
    // 2001:db8::10/64 home mngtmpaddr (nodad by default)
    let mut e = entry("2001:db8::10", 64);
    e.flags = vec!["home".into(), "mngtmpaddr".into()];
    let v6 = spec(e);
    // 2001:db8::11/128 -nodad (DAD runs; a /128 defaults to preferred_lft 0)
    let mut e = entry("2001:db8::11", 128);
    e.flags = vec!["-nodad".into()];
    let v6dad = spec(e);
    let ours = [&brd, &host, &peer, &nopfx, &v6, &v6dad];
    for s in ours {
        assert_eq!(mgr.add(s).expect("add"), AddOutcome::Added, "{s}");
    }

    // Already configured by someone else: accepted, not ours.
    let foreign4 = spec(entry("198.51.100.99", 24));
    let foreign6 = spec(entry("2001:db8::99", 64));
    assert_eq!(mgr.add(&foreign4).unwrap(), AddOutcome::Existed);
    assert_eq!(mgr.add(&foreign6).unwrap(), AddOutcome::Existed);
    // Already configured by us: still ours, recorded once.
    assert_eq!(mgr.add(&brd).unwrap(), AddOutcome::Existed);
    assert!(mgr.is_added(&brd) && !mgr.is_added(&foreign4) && !mgr.is_added(&foreign6));
    let recorded: Vec<&AddressSpec> = mgr.added().collect();
    assert_eq!(recorded, ours.to_vec());

    // Errors carry the interface and address.
    match mgr.add(&AddressSpec::new(
        "nosuch0",
        "198.51.100.77".parse().unwrap(),
        24,
    )) {
        Err(NetlinkError::NoSuchInterface { ifname }) => assert_eq!(ifname, "nosuch0"),
        other => panic!("expected NoSuchInterface, got {other:?}"),
    }
    match mgr.add(&AddressSpec::new(
        "peer0",
        "2001:db8::50".parse().unwrap(),
        64,
    )) {
        Err(e @ NetlinkError::Address { .. }) => {
            let NetlinkError::Address {
                op,
                ref addr,
                ref ifname,
                errno,
            } = e
            else {
                unreachable!()
            };
            assert_eq!(
                (op, addr.as_str(), ifname.as_str()),
                (AddrOp::Add, "2001:db8::50/64", "peer0")
            );
            assert_eq!(errno, Errno::EACCES);
            assert!(e.to_string().contains("2001:db8::50/64 on peer0"), "{e}");
        }
        other => panic!("expected a kernel refusal, got {other:?}"),
    }
    assert_eq!(mgr.added().count(), ours.len());

    // What `ip` sees.
    let lines = ip_addrs(&ns, "eth0");
    let l = find(&lines, "198.51.100.10");
    assert_eq!(
        (
            l.prefix,
            l.brd.as_deref(),
            l.scope.as_str(),
            l.label.as_deref()
        ),
        (24, Some("198.51.100.255"), "global", Some("eth0:vip"))
    );
    assert!(l.flags.contains("secondary"), "{l:?}");
    let l = find(&lines, "198.51.100.11");
    assert_eq!(
        (l.prefix, l.scope.as_str(), l.brd.as_deref()),
        (32, "host", None)
    );
    let l = find(&lines, "203.0.113.5");
    assert_eq!((l.peer.as_deref(), l.prefix), (Some("203.0.113.6"), 32));
    let l = find(&lines, "198.51.100.12");
    assert!(l.flags.contains("noprefixroute"), "{l:?}");
    let l = find(&lines, "2001:db8::10");
    assert_eq!(l.prefix, 64);
    for f in ["nodad", "home", "mngtmpaddr"] {
        assert!(l.flags.contains(f), "{f} missing: {l:?}");
    }
    assert_eq!(l.preferred_lft, "forever");
    let l = find(&lines, "2001:db8::11");
    assert!(
        !l.flags.contains("nodad"),
        "-nodad must leave DAD on: {l:?}"
    );
    assert!(
        l.flags.contains("tentative"),
        "DAD should be running: {l:?}"
    );
    assert!(l.flags.contains("deprecated"), "{l:?}");
    assert_eq!(l.preferred_lft, "0sec");

    // What our dump sees.
    let listed = list_addresses("eth0").expect("list");
    let get = |a: &str| -> &InterfaceAddress {
        let ip: IpAddr = a.parse().unwrap();
        listed
            .iter()
            .find(|x| x.addr == ip)
            .unwrap_or_else(|| panic!("{a} not listed: {listed:#?}"))
    };
    let a = get("198.51.100.10");
    assert_eq!(
        (a.prefix, a.broadcast, a.scope, a.label.as_deref(), a.peer),
        (
            24,
            Some(Ipv4Addr::new(198, 51, 100, 255)),
            0,
            Some("eth0:vip"),
            None
        )
    );
    assert!(a.has_flag(flags::SECONDARY) && a.has_flag(flags::PERMANENT));
    assert_eq!(get("198.51.100.11").scope, 254);
    assert_eq!(get("198.51.100.11").label.as_deref(), Some("eth0"));
    assert_eq!(
        get("203.0.113.5").peer,
        Some("203.0.113.6".parse().unwrap())
    );
    assert!(get("198.51.100.12").has_flag(flags::NOPREFIXROUTE));
    let a = get("2001:db8::10");
    assert!(a.has_flag(flags::NODAD | flags::HOMEADDRESS | flags::MANAGETEMPADDR));
    assert_eq!(
        (a.preferred_lft, a.label.as_deref(), a.broadcast),
        (None, None, None)
    );
    let a = get("2001:db8::11");
    assert!(
        !a.has_flag(flags::NODAD) && a.has_flag(flags::DEPRECATED),
        "{a:?}"
    );
    assert_eq!(a.preferred_lft, Some(0));

    // Not ours: `remove` sends nothing.
    assert_eq!(mgr.remove(&foreign4).unwrap(), RemoveOutcome::NotOurs);
    // Ours: removed once, then forgotten.
    assert_eq!(mgr.remove(&host).unwrap(), RemoveOutcome::Removed);
    assert_eq!(mgr.remove(&host).unwrap(), RemoveOutcome::NotOurs);
    assert!(
        ip_addrs(&ns, "eth0")
            .iter()
            .all(|l| l.addr != "198.51.100.11")
    );
    // Ours but already gone (removed behind our back): released without error.
    ip_out(
        &ns,
        &[
            "addr",
            "del",
            "203.0.113.5",
            "peer",
            "203.0.113.6/32",
            "dev",
            "eth0",
        ],
    );

    assert_eq!(mgr.remove_all_added().expect("release"), ours.len() - 1);
    assert_eq!(mgr.added().count(), 0);
    assert_eq!(mgr.remove_all_added().unwrap(), 0);
    let mut end = list_addresses("eth0").expect("list");
    let mut start = baseline;
    end.sort_by_key(|a| a.addr);
    start.sort_by_key(|a| a.addr);
    assert_eq!(end, start, "only the addresses we added may go");
}

// ===== gratuitous ARP and unsolicited NA =====

#[test]
fn garp_and_na_reach_the_peer() {
    if !netns::gate("garp_and_na_reach_the_peer", NEEDS) {
        return;
    }
    let a = NetNs::new("garpa", &[]).expect("netns A");
    let b = NetNs::new("garpb", &[]).expect("netns B");
    let mac = SENDER_MAC.to_string();
    a.ip(&[
        "link",
        "add",
        "va",
        "address",
        &mac,
        "type",
        "veth",
        "peer",
        "name",
        "vb",
        "netns",
        b.name(),
    ])
    .unwrap();
    a.ip(&["link", "set", "va", "up"]).unwrap();
    b.ip(&["link", "set", "vb", "up"]).unwrap();
    // A second interface in A with ARP off: nothing may be sent on it.
    a.ip(&["link", "add", "vn", "type", "veth", "peer", "name", "vn2"])
        .unwrap();
    a.ip(&["link", "set", "vn", "arp", "off", "up"]).unwrap();
    // B: an address in the VIP's subnet, and ARP entries may be created by gratuitous ARP.
    b.ip(&["addr", "add", "198.51.100.2/24", "dev", "vb"])
        .unwrap();
    b.ip(&["addr", "add", "2001:db8::2/64", "dev", "vb", "nodad"])
        .unwrap();
    sysctl(&b, "net.ipv4.conf.all.arp_accept=1");
    // An NA never creates an entry on a host (RFC 4861 §7.2.5): give B a stale one with
    // another MAC, which the NA's override flag must replace.
    b.ip(&[
        "neigh",
        "add",
        "2001:db8::10",
        "lladdr",
        "02:00:00:00:00:01",
        "dev",
        "vb",
        "nud",
        "stale",
    ])
    .unwrap();

    // Receiver in B first; it says READY once its socket is bound.
    let mut rx = child_command(&b, "child_capture", &[]);
    rx.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut receiver = rx.spawn().expect("spawn receiver");
    let (tx, lines) = mpsc::channel();
    let stdout = receiver.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = receiver.stderr.take().expect("stderr");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let mut ready = false;
    while !ready {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                ready = line.ends_with("READY"); // after libtest's "test child_capture ... "
                seen.push(line);
            }
            Err(_) => {
                let _ = receiver.kill();
                let _ = receiver.wait();
                panic!(
                    "receiver never became ready: {seen:#?}\n{}",
                    err_thread.join().unwrap_or_default()
                );
            }
        }
    }

    run_child(&a, "child_send", &[]);

    // Collect the receiver's report.
    let mut frames = Vec::new();
    let status = loop {
        if let Some(status) = receiver.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = receiver.kill();
            let _ = receiver.wait();
            panic!("receiver timed out: {seen:#?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The output thread ends at EOF; drain what is left.
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        seen.push(line);
    }
    for line in &seen {
        if let Some(rest) = line.strip_prefix("FRAME ") {
            let (kind, hex) = rest.split_once(' ').expect("FRAME kind hex");
            frames.push((kind.to_string(), unhex(hex)));
        }
    }
    assert!(
        status.success(),
        "receiver failed ({status}): {seen:#?}\n{}",
        err_thread.join().unwrap_or_default()
    );

    let arp = &frames
        .iter()
        .find(|(k, _)| k == "arp")
        .expect("ARP frame")
        .1;
    check_garp_frame(arp);
    let na = &frames.iter().find(|(k, _)| k == "na").expect("NA frame").1;
    check_na_frame(na);

    // B's neighbour table learned the VIPs' MAC.
    wait_until("neighbour entries in B", Duration::from_secs(5), || {
        let out = ip_out(b.name(), &["neigh", "show", "dev", "vb"]);
        for vip in [GARP_VIP4.to_string(), GARP_VIP6.to_string()] {
            let ok = out.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.first() == Some(&vip.as_str())
                    && w.windows(2).any(|p| p == ["lladdr", mac.as_str()])
            });
            if !ok {
                return Err(format!("{vip} lladdr {mac} not in:\n{out}"));
            }
        }
        Ok(())
    });
}

/// Field by field, against the layout keepalived sends (vrrp_arp.c), not against our builder.
fn check_garp_frame(f: &[u8]) {
    // The receiver sees the frame as sent (veth does not pad).
    assert_eq!(f.len(), ARP_FRAME_LEN, "{}", hex(f));
    assert_eq!(&f[0..6], &[0xff; 6], "Ethernet destination: broadcast");
    assert_eq!(&f[6..12], &SENDER_MAC.0, "Ethernet source");
    assert_eq!(&f[12..14], &[0x08, 0x06], "ethertype ARP");
    assert_eq!(&f[14..16], &[0, 1], "hardware type Ethernet");
    assert_eq!(&f[16..18], &[0x08, 0x00], "protocol IPv4");
    assert_eq!((f[18], f[19]), (6, 4), "address lengths");
    assert_eq!(&f[20..22], &[0, 1], "op REQUEST");
    assert_eq!(&f[22..28], &SENDER_MAC.0, "sender MAC");
    assert_eq!(&f[28..32], &GARP_VIP4.octets(), "sender IP = VIP");
    assert_eq!(&f[32..38], &[0xff; 6], "target MAC: broadcast");
    assert_eq!(&f[38..42], &GARP_VIP4.octets(), "target IP = VIP");
    assert_eq!(f, garp::gratuitous_arp(SENDER_MAC, GARP_VIP4));
}

/// Field by field, against vrrp_ndisc.c; the checksum is verified independently.
fn check_na_frame(f: &[u8]) {
    assert_eq!(f.len(), NA_FRAME_LEN, "{}", hex(f));
    assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1], "Ethernet destination");
    assert_eq!(&f[6..12], &SENDER_MAC.0, "Ethernet source");
    assert_eq!(&f[12..14], &[0x86, 0xdd], "ethertype IPv6");
    let ip6 = &f[14..54];
    assert_eq!(&ip6[0..4], &[0x60, 0, 0, 0], "version 6, class 0, flow 0");
    assert_eq!(&ip6[4..6], &[0, 32], "payload length");
    assert_eq!(
        (ip6[6], ip6[7]),
        (58, 255),
        "next header ICMPv6, hop limit 255"
    );
    assert_eq!(&ip6[8..24], &GARP_VIP6.octets(), "source = VIP");
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    assert_eq!(&ip6[24..40], &all_nodes.octets(), "destination ff02::1");
    let icmp = &f[54..];
    assert_eq!((icmp[0], icmp[1]), (136, 0), "neighbour advertisement");
    // Forwarding is off in A: override only.
    assert_eq!(&icmp[4..8], &[0x20, 0, 0, 0], "flags: O");
    assert_eq!(&icmp[8..24], &GARP_VIP6.octets(), "target = VIP");
    assert_eq!(&icmp[24..26], &[2, 1], "target link-layer address option");
    assert_eq!(&icmp[26..32], &SENDER_MAC.0, "option MAC");
    // RFC 8200 §8.1 pseudo-header + message sums to 0xffff.
    let mut sum: u32 = 0;
    let mut words = |b: &[u8]| {
        for w in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
    };
    words(&ip6[8..40]);
    words(&(icmp.len() as u32).to_be_bytes());
    words(&[0, 0, 0, 58]);
    words(icmp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    assert_eq!(sum, 0xffff, "ICMPv6 checksum");
    assert_eq!(f, garp::unsolicited_na(SENDER_MAC, GARP_VIP6, false));
}

/// Runs in namespace A: sends one gratuitous ARP and one NA on `va`.
#[test]
#[ignore = "re-executed inside a network namespace by garp_and_na_reach_the_peer"]
fn child_send() {
    if child_namespace("child_send").is_none() {
        return;
    }
    let link = Link::lookup("va").expect("va");
    assert_eq!(link.mac, SENDER_MAC);
    assert!(!link.noarp);
    let sender = GarpSender::new().expect("packet socket");
    assert_eq!(
        sender.send_arp("va", GARP_VIP4).expect("send ARP"),
        Sent::Sent
    );
    assert_eq!(
        sender.send_na("va", GARP_VIP6).expect("send NA"),
        Sent::Sent
    );
    // ARP off: skipped, as keepalived does.
    assert_eq!(
        sender.send_arp("vn", GARP_VIP4).unwrap(),
        Sent::SkippedNoArp
    );
    assert_eq!(sender.send_na("vn", GARP_VIP6).unwrap(), Sent::SkippedNoArp);
    // Not Ethernet, not there.
    assert!(matches!(
        sender.send_arp("lo", GARP_VIP4),
        Err(GarpError::NotEthernet { hatype: 772, .. })
    ));
    assert!(matches!(
        sender.send_na("nosuch0", GARP_VIP6),
        Err(GarpError::NoSuchInterface { .. })
    ));
}

/// Runs in namespace B: captures on `vb` until it has seen the ARP and the NA from A.
#[test]
#[ignore = "re-executed inside a network namespace by garp_and_na_reach_the_peer"]
fn child_capture() {
    use nix::sys::socket::{
        AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, bind, recv, setsockopt, socket,
        sockopt,
    };
    use nix::sys::time::TimeVal;

    if child_namespace("child_capture").is_none() {
        return;
    }
    let fd = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .expect("packet socket");
    // Bind to vb: its link address from getifaddrs (protocol 0 keeps ETH_P_ALL).
    let vb = nix::ifaddrs::getifaddrs()
        .expect("getifaddrs")
        .find_map(|e| {
            (e.interface_name == "vb")
                .then(|| e.address.and_then(|a| a.as_link_addr().copied()))
                .flatten()
        })
        .expect("vb link address");
    bind(fd.as_raw_fd(), &vb).expect("bind to vb");
    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 200_000)).expect("SO_RCVTIMEO");
    println!("READY");

    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut arp, mut na) = (false, false);
    let mut buf = [0u8; 2048];
    while !(arp && na) {
        assert!(
            Instant::now() < deadline,
            "timed out: ARP seen {arp}, NA seen {na}"
        );
        let n = match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(n) => n,
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            Err(e) => panic!("recv: {e}"),
        };
        let f = &buf[..n];
        if n < 14 || f[6..12] != SENDER_MAC.0 {
            continue;
        }
        let ethertype = u16::from_be_bytes([f[12], f[13]]);
        if ethertype == 0x0806 && n >= 42 && f[28..32] == GARP_VIP4.octets() && !arp {
            arp = true;
            println!("FRAME arp {}", hex(f));
        } else if ethertype == 0x86dd
            && n >= 78
            && f[20] == 58
            && f[54] == 136
            && f[62..78] == GARP_VIP6.octets()
            && !na
        {
            na = true;
            println!("FRAME na {}", hex(f));
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
