//! piranha's `lvs.cf` programs IPVS for real (issues 3 and 6): in the IPVS VM (Debian's kernel
//! under qemu, see `tests/vm/`), every sample in `samples/lvs.cf/` is run twice in its own
//! router network namespace, in one boot:
//!
//! 1. our daemon directly on the lvs.cf (`keepalived -n -l -D -f X.cf`, no `-i`: the router
//!    namespace holds the lvs.cf's `primary` address, so src/lvs_cf picks the primary role from
//!    the host's addresses, as pulse's `amMaster()` did);
//! 2. Debian's keepalived 2.2.7 on the conversion (`keepalived --convert-lvs-cf=X.cf`, run on
//!    the host) with `-i primary`.
//!
//! The seven samples run side by side (IPVS tables, addresses and VRRP are per namespace):
//! first all under our daemon, then all under keepalived. Each phase waits (bounded) until
//! every router holds its VIPs and the real servers the lvs.cf names, then records
//! `ipvsadm -Ln`, `--persistent-conn`, `--timeout`, `--daemon` and the addresses, stops the
//! daemons with SIGTERM and records what they leave behind. The test asserts, per sample:
//! - both tables are identical (destination counters ignored), and so are the tables left after
//!   SIGTERM;
//! - the table is the one the lvs.cf describes, derived here by a small parse of the file
//!   (independent of src/lvs_cf): every `virtual` block with `active = 1` is a service with its
//!   scheduler, persistence and netmask, holding each `active = 1` server with its weight and
//!   the forwarding method of `network`; no other service; `tcp_timeout`/`tcpfin_timeout`/
//!   `udp_timeout`, the sync daemon of `syncdaemon`, and the virtual addresses (plus
//!   `nat_router`) with their `vip_nmask`/`nat_nmask`;
//! - our daemon took the primary role from the addresses (no "running as backup" warning).
//!
//! Real servers' health: the conversion gives every real server a checker (HTTP_GET,
//! TCP_CHECK, SMTP_CHECK, UDP_CHECK, MISC_CHECK) and `alpha`, so a real server enters the
//! table only after its first good check. Comparing two tables of unreachable servers would
//! compare two empty tables, so each router has a "real servers" namespace behind its `eth0`
//! (real servers in 203.0.113.0/24) and `eth1` (the others) holding every real server's
//! address, where this test binary (copied into the guest) answers like the service each
//! checker expects: HTTP 200 on TCP ports, an SMTP dialogue on port 25, a UDP echo for UDP
//! services; the programs lvs.cf names (send_program, active_cmd, start_cmd...) are stub
//! scripts that succeed. Both daemons must then bring up every active server at its full
//! weight, and the wait ends when they have. (This is how the test found that a fwmark
//! service's checkers connected to port 0 in both daemons, leaving its servers at weight 0:
//! src/lvs_cf now gives them `connect_port`.)
//!
//! Each router's `eth1` gets `primary_private`, or 198.51.100.1/24 when the lvs.cf has none
//! (VRRP needs an address on each instance's interface, as a real router's private side has).
//!
//! Without qemu or the kernel the test skips (fails with `KEEPALIVED_RS_PRIVILEGED=1`).
//! `IPVS_VM_CONSOLE=PATH` keeps the console in PATH and the guest script in `PATH.script`.

#[path = "vm/mod.rs"]
mod vm;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use vm::{Guest, GuestRun};

// ===== the guest side: real servers =====

/// The entry point run inside the VM (a no-op on the host): `LVSCF_GUEST="serve SECS SPEC…"`
/// with SPEC = `http|smtp|udp@ADDR:PORT` answers on each socket for at most SECS seconds.
#[test]
fn guest_tool() {
    let Ok(script) = std::env::var("LVSCF_GUEST") else {
        return;
    };
    let words: Vec<&str> = script.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"serve"), "unknown guest step {script}");
    let secs: u64 = words
        .get(1)
        .and_then(|s| s.parse().ok())
        .expect("serve SECS");
    for spec in &words[2..] {
        let (kind, addr) = spec.split_once('@').expect("KIND@ADDR:PORT");
        let addr: std::net::SocketAddr = addr.parse().expect("ADDR:PORT");
        match kind {
            "udp" => {
                let s = std::net::UdpSocket::bind(addr).expect("bind udp");
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                std::thread::spawn(move || udp_echo(&s, secs));
            }
            "http" | "smtp" => {
                let l = std::net::TcpListener::bind(addr).expect("bind tcp");
                let smtp = kind == "smtp";
                std::thread::spawn(move || {
                    for c in l.incoming().flatten() {
                        std::thread::spawn(move || {
                            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                            let _ = if smtp { smtp_session(c) } else { http_reply(c) };
                        });
                    }
                });
            }
            other => panic!("unknown listener kind {other}"),
        }
        println!("@@LISTEN {spec}@@");
    }
    // The listeners live as long as this process: at most `secs`.
    std::thread::sleep(Duration::from_secs(secs));
}

fn udp_echo(s: &std::net::UdpSocket, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 1500];
    while Instant::now() < end {
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    }
}

fn http_reply(mut c: std::net::TcpStream) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    // Up to the end of the headers (or EOF: TCP_CHECK only connects), at most 8 KiB.
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        req.extend_from_slice(&buf[..n]);
    }
    c.write_all(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\
          Connection: close\r\n\r\nok\n",
    )
}

/// The dialogue SMTP_CHECK holds: 220 greeting, 250 to HELO/EHLO, 221 to QUIT.
fn smtp_session(c: std::net::TcpStream) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let mut w = c.try_clone()?;
    w.write_all(b"220 relay.example.com ESMTP\r\n")?;
    let mut r = BufReader::new(c);
    for _ in 0..16 {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        if verb == "QUIT" {
            w.write_all(b"221 bye\r\n")?;
            break;
        }
        w.write_all(b"250 relay.example.com\r\n")?;
    }
    Ok(())
}

// ===== a small lvs.cf reader, for the expectations =====

/// A `virtual`/`failover`/`server` block (its name is not needed): settings and nested blocks.
#[derive(Debug, Default)]
struct Block {
    kind: String,
    settings: BTreeMap<String, String>,
    children: Vec<Block>,
}

impl Block {
    fn get(&self, k: &str) -> Option<&str> {
        self.settings.get(k).map(String::as_str)
    }
    fn int(&self, k: &str, default: i64) -> i64 {
        self.get(k).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{k} = {v}: not a number"))
        })
    }
    fn active(&self) -> bool {
        self.int("active", 0) == 1
    }
    /// `address = IP [DEVICE]`: the IP.
    fn addr(&self) -> Ipv4Addr {
        let v = self.get("address").expect("address");
        v.split_whitespace()
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("address = {v}"))
    }
}

/// The lvs.cf as a root block (globals) with its sections as children.
fn read_lvs_cf(text: &str) -> Block {
    let mut stack = vec![Block::default()];
    for raw in text.lines() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l == "}" {
            let b = stack.pop().expect("balanced braces");
            stack
                .last_mut()
                .expect("an enclosing block")
                .children
                .push(b);
        } else if let Some(head) = l.strip_suffix('{') {
            let mut w = head.split_whitespace();
            stack.push(Block {
                kind: w.next().unwrap_or("").to_string(),
                ..Block::default()
            });
        } else if let Some((k, v)) = l.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(v);
            stack
                .last_mut()
                .expect("a block")
                .settings
                .insert(k.trim().to_string(), v.to_string());
        }
    }
    assert_eq!(stack.len(), 1, "unbalanced braces");
    stack.pop().expect("root")
}

/// A port number or one of the /etc/services names the samples use.
fn port_of(v: &str) -> u16 {
    match v {
        "http" => 80,
        "https" => 443,
        "domain" => 53,
        "smtp" => 25,
        "ftp" => 21,
        n => n.parse().unwrap_or_else(|_| panic!("port {n}")),
    }
}

fn prefix_of(mask: Option<&str>) -> u32 {
    mask.map_or(32, |m| {
        u32::from(m.parse::<Ipv4Addr>().expect("netmask")).leading_ones()
    })
}

/// What one sample must produce.
#[derive(Debug)]
struct Expect {
    primary: Ipv4Addr,
    private: Ipv4Addr,
    /// Service (`TCP 203.0.113.10:80`, `FWM 80`) → (scheduler and flags as ipvsadm prints
    /// them, destinations as `ADDR:PORT FORWARD WEIGHT`).
    services: BTreeMap<String, (String, BTreeSet<String>)>,
    /// `ADDR/PREFIX` of every moving address.
    vips: BTreeSet<String>,
    /// tcp, tcpfin, udp (kernel defaults 900 120 300 unless the lvs.cf sets them).
    timeouts: (i64, i64, i64),
    /// `master sync daemon (mcast=IFACE, syncid=ID` (then `,` or `)`) when `syncdaemon = 1`.
    sync: Option<String>,
    /// Real server listeners, `KIND@ADDR:PORT`.
    listeners: BTreeSet<String>,
    /// Real server addresses and the router side they sit behind (eth0 or eth1).
    real_servers: BTreeMap<Ipv4Addr, &'static str>,
}

/// The side of the router a real server sits behind.
fn side(a: Ipv4Addr) -> &'static str {
    if a.octets()[..3] == [203, 0, 113] {
        "eth0"
    } else {
        "eth1"
    }
}

fn expect(cf: &Block) -> Expect {
    let global = |k: &str| cf.get(k);
    let primary: Ipv4Addr = global("primary")
        .and_then(|a| a.parse().ok())
        .expect("primary");
    let network = global("network").unwrap_or("nat");
    let fos = global("service") == Some("fos");
    let t = |k: &str, d: i64| match cf.int(k, 0) {
        0 => d,
        v => v,
    };
    let mut e = Expect {
        primary,
        private: global("primary_private").map_or(Ipv4Addr::new(198, 51, 100, 1), |a| {
            a.parse().expect("address")
        }),
        services: BTreeMap::new(),
        vips: BTreeSet::new(),
        timeouts: (
            t("tcp_timeout", 900),
            t("tcpfin_timeout", 120),
            t("udp_timeout", 300),
        ),
        sync: None,
        listeners: BTreeSet::new(),
        real_servers: BTreeMap::new(),
    };
    if cf.int("syncdaemon", 0) == 1 {
        e.sync = Some(format!(
            "master sync daemon (mcast={}, syncid={}",
            global("syncd_iface").unwrap_or("eth0"),
            cf.int("syncd_id", 0)
        ));
    }
    let used = if fos { "failover" } else { "virtual" };
    for b in cf.children.iter().filter(|b| b.kind == used && b.active()) {
        e.vips
            .insert(format!("{}/{}", b.addr(), prefix_of(b.get("vip_nmask"))));
        if fos {
            continue;
        }
        let vport = port_of(b.get("port").unwrap_or("80"));
        let udp = b.get("protocol") == Some("udp");
        let fwmark = b.int("fwmark", 0);
        let key = if fwmark != 0 {
            format!("FWM {fwmark}")
        } else {
            format!("{} {}:{vport}", if udp { "UDP" } else { "TCP" }, b.addr())
        };
        let mut flags = b.get("scheduler").unwrap_or("wlc").to_string();
        let persistent = b.int("persistent", 0);
        if persistent > 0 {
            let _ = write!(flags, " persistent {persistent}");
            if let Some(m) = b.get("pmask").filter(|m| *m != "255.255.255.255") {
                let _ = write!(flags, " mask {m}");
            }
        }
        let mut dests = BTreeSet::new();
        for s in b
            .children
            .iter()
            .filter(|s| s.kind == "server" && s.active())
        {
            let a = s.addr();
            let own_port = s.get("port").map(port_of);
            // IPVS forwards DR and TUN packets unchanged: only NAT maps to another port.
            let port = match (fwmark != 0, network) {
                (true, _) => 0,
                (false, "nat") => own_port.unwrap_or(vport),
                (false, _) => vport,
            };
            let fwd = match network {
                "direct" => "Route",
                "tunnel" => "Tunnel",
                _ => "Masq",
            };
            dests.insert(format!("{a}:{port} {fwd} {}", s.int("weight", 1)));
            e.real_servers.insert(a, side(a));
            let kind = if udp {
                "udp"
            } else if vport == 25 {
                "smtp"
            } else {
                "http"
            };
            // The port nanny checked (the server's own) and the one IPVS sends to.
            for p in [own_port.unwrap_or(vport), vport] {
                e.listeners.insert(format!("{kind}@{a}:{p}"));
            }
        }
        if !dests.is_empty() {
            e.services.insert(key, (flags, dests));
        }
    }
    if network == "nat"
        && !fos
        && let Some(v) = global("nat_router")
    {
        let a = v.split_whitespace().next().expect("nat_router address");
        e.vips
            .insert(format!("{a}/{}", prefix_of(global("nat_nmask"))));
    }
    e
}

// ===== reading the guest's listings =====

/// The sections of a dump: `-Ln` first, then each `== NAME` part.
fn parts(dump: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur = "-Ln".to_string();
    for l in dump.lines() {
        if let Some(h) = l.strip_prefix("== ") {
            cur = h.trim().to_string();
            continue;
        }
        m.entry(cur.clone()).or_default().push(l.to_string());
    }
    m
}

fn is_service_line(l: &str) -> bool {
    ["TCP ", "UDP ", "SCTP ", "FWM "]
        .iter()
        .any(|p| l.starts_with(p))
}

/// An ipvsadm listing as services → (scheduler and flags, each destination's first `fields`
/// columns: `ADDR:PORT FORWARD WEIGHT` with 3 for `-Ln`, `ADDR:PORT WEIGHT` with 2 for
/// `--persistent-conn`): counters dropped, order ignored.
fn table(lines: &[String], fields: usize) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut t: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for l in lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        if is_service_line(l) && w.len() >= 3 {
            let key = format!("{} {}", w[0], w[1]);
            t.insert(key.clone(), (w[2..].join(" "), BTreeSet::new()));
            cur = Some(key);
        } else if w.first() == Some(&"->")
            && w.get(1) != Some(&"RemoteAddress:Port")
            && let Some(svc) = cur.as_ref().and_then(|k| t.get_mut(k))
        {
            svc.1.insert(w[1..w.len().min(1 + fields)].join(" "));
        }
    }
    t
}

/// A dump with everything that may legitimately differ between two runs removed: the
/// destinations' counters, and the order of services and destinations.
fn canonical(dump: &str) -> String {
    let mut s = String::new();
    for (name, lines) in parts(dump) {
        let _ = writeln!(s, "== {name}");
        if name == "addresses" {
            let mut l = lines.clone();
            l.sort();
            for x in l {
                let _ = writeln!(s, "{x}");
            }
        } else if name == "-Ln" || name == "--persistent-conn" {
            let fields = if name == "-Ln" { 3 } else { 2 };
            for (k, (flags, dests)) in table(&lines, fields) {
                let _ = writeln!(s, "{k} {flags}");
                for d in dests {
                    let _ = writeln!(s, "  -> {d}");
                }
            }
        } else {
            for x in lines {
                let _ = writeln!(s, "{x}");
            }
        }
    }
    s
}

// ===== the test =====

/// Shell helpers (busybox sh).
const PRELUDE: &str = r#"
set -u
# busybox runs its own applets before PATH: use iproute2's ip.
ip() { /usr/sbin/ip "$@"; }
t() { echo "@@T $1 $(cut -d' ' -f1 /proc/uptime)@@"; }
# Script security: the stubs and their directories belong to root.
chown -R 0:0 /usr/local /etc/init.d
# dests NS: the destinations as "ADDR:PORT FORWARD WEIGHT", sorted, on one line.
dests() {
    ip netns exec "$1" ipvsadm -Ln | awk '$1 == "->" && $2 != "RemoteAddress:Port" {print $2, $3, $4}' \
        | sort | tr '\n' ';'
}
# vips NS A/P...: NS holds every A/P.
vips() {
    local ns=$1 a have
    shift
    have=$(ip -n "$ns" -o -4 addr show) || return 1
    for a in "$@"; do echo "$have" | grep -q " $a " || return 1; done
}
# dump LABEL NS
dump() {
    echo "@@BEGIN $1@@"
    ip netns exec "$2" ipvsadm -Ln
    echo "== --persistent-conn"; ip netns exec "$2" ipvsadm -Ln --persistent-conn
    echo "== --timeout"; ip netns exec "$2" ipvsadm -Ln --timeout
    echo "== --daemon"; ip netns exec "$2" ipvsadm -Ln --daemon
    echo "== addresses"; ip -n "$2" -o -4 addr show | awk '$2 != "lo" {print $2, $4}'
    echo "@@END $1@@"
}
gone() { ! [ -e "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status"; }
# stop PID: SIGTERM, then wait at most 20 s (SIGKILL after that).
stop() {
    local n=0
    kill -TERM "$1" 2>/dev/null
    while [ $n -lt 40 ] && ! gone "$1"; do sleep 0.5; n=$((n+1)); done
    if gone "$1"; then wait "$1"; echo "@@STOPPED $2 rc=$?@@"; else kill -KILL "$1"; echo "@@STOPPED $2 killed@@"; fi
}
# clean NS: an empty IPVS table with the kernel's timeouts and no sync daemon.
clean() {
    ip netns exec "$1" ipvsadm -C
    ip netns exec "$1" ipvsadm --set 900 120 300
    ip netns exec "$1" ipvsadm --stop-daemon master 2>/dev/null
    ip netns exec "$1" ipvsadm --stop-daemon backup 2>/dev/null
    true
}
"#;

/// How long each phase may wait for the VIPs and the real servers (guest seconds).
const WAIT_SECS: u32 = 60;

/// A program the lvs.cf names (notify commands, send_program): records its call, succeeds.
const STUB: &str = "#!/bin/sh\necho \"$0 $*\" >> /tmp/calls.log\nexit 0\n";

struct Sample {
    name: String,
    expect: Expect,
}

/// The guest script: set up every router, then one phase per daemon.
fn script(samples: &[Sample]) -> String {
    let mut s = String::from(PRELUDE);
    s.push_str("t setup\n");
    for (i, smp) in samples.iter().enumerate() {
        let e = &smp.expect;
        let (r, x) = (format!("r{i}"), format!("s{i}"));
        let _ = writeln!(
            s,
            r#"# {name}
ip netns add {r}; ip netns add {x}
ip -n {r} link set lo up; ip -n {x} link set lo up
ip -n {r} link add eth0 type veth peer name eth0 netns {x}
ip -n {r} link add eth1 type veth peer name eth1 netns {x}
for d in eth0 eth1; do ip -n {r} link set $d up; ip -n {x} link set $d up; done
ip -n {r} addr add {p}/24 dev eth0
ip -n {r} addr add {q}/24 dev eth1
ip -n {x} route add 203.0.113.0/24 dev eth0
ip -n {x} route add 198.51.100.0/24 dev eth1"#,
            name = smp.name,
            p = e.primary,
            q = e.private,
        );
        for (a, dev) in &e.real_servers {
            let _ = writeln!(s, "ip -n {x} addr add {a}/32 dev {dev}");
        }
        if !e.listeners.is_empty() {
            let specs: Vec<&str> = e.listeners.iter().map(String::as_str).collect();
            let _ = writeln!(
                s,
                "LVSCF_GUEST=\"serve 600 {}\" /usr/sbin/ip netns exec {x} /bin/ipvs-guest guest_tool \
                 --exact --nocapture --quiet --test-threads=1 >/tmp/{x}.log 2>&1 &",
                specs.join(" ")
            );
        }
    }
    // Let the listeners bind before the checkers start.
    s.push_str("sleep 1\ncat /tmp/s*.log | grep '@@LISTEN'\n");
    for (phase, run) in [
        (
            "ours",
            "/bin/keepalived-rs -n -l -D -f /cfg/{name}.cf -p /run/{r}-ours.pid -r /run/{r}-ours-vrrp.pid -c /run/{r}-ours-check.pid",
        ),
        (
            "keepalived",
            "keepalived -n -l -G -D -i primary -f /cfg/{name}.conf -p /run/{r}-ka.pid -r /run/{r}-ka-vrrp.pid -c /run/{r}-ka-check.pid",
        ),
    ] {
        let _ = writeln!(s, "t start-{phase}\n: > /tmp/calls.log");
        for (i, smp) in samples.iter().enumerate() {
            let r = format!("r{i}");
            let cmd = run.replace("{name}", &smp.name).replace("{r}", &r);
            let _ = writeln!(
                s,
                "/usr/sbin/ip netns exec {r} {cmd} >/tmp/{phase}-{r}.log 2>&1 &\npid_{r}=$!"
            );
        }
        // Wait (at most WAIT_SECS by the guest's clock) until every router holds its VIPs and
        // its destinations; a router found ready is not polled again.
        let _ = writeln!(
            s,
            "end=$(( $(cut -d. -f1 /proc/uptime) + {WAIT_SECS} ))\nfor i in {}; do eval ready_$i=0; done\n\
             while :; do\n    ok=1",
            (0..samples.len())
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        for (i, smp) in samples.iter().enumerate() {
            let e = &smp.expect;
            // Sorted as `sort` sorts (bytes: busybox has no locales), duplicates kept.
            let mut all: Vec<&String> = e.services.values().flat_map(|(_, d)| d).collect();
            all.sort();
            let want: String = all.iter().map(|d| format!("{d};")).collect();
            let vips: Vec<&str> = e.vips.iter().map(String::as_str).collect();
            let _ = writeln!(
                s,
                "    if [ $ready_{i} = 0 ]; then\n\
                 \x20       if [ \"$(dests r{i})\" = \"{want}\" ] && vips r{i} {v}; then\n\
                 \x20           ready_{i}=1; t 'ready {phase} {name}'\n\
                 \x20       else ok=0; fi\n\
                 \x20   fi",
                v = vips.join(" "),
                name = smp.name
            );
        }
        let _ = writeln!(
            s,
            "    [ $ok = 1 ] && break\n\
             \x20   if [ $(cut -d. -f1 /proc/uptime) -ge $end ]; then\n\
             \x20       for i in {all}; do eval r=\\$ready_$i; [ $r = 1 ] || echo \"@@NOT-READY {phase} r$i $(dests r$i)@@\"; done\n\
             \x20       break\n\
             \x20   fi\n\
             \x20   sleep 0.5\n\
             done\n\
             echo \"@@WAIT {phase} ok=$ok@@\"",
            all = (0..samples.len())
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        // The listings are taken a second later: a late change would show in them.
        s.push_str("sleep 1\n");
        for (i, smp) in samples.iter().enumerate() {
            let _ = writeln!(s, "dump '{phase} {}' r{i}", smp.name);
        }
        for (i, smp) in samples.iter().enumerate() {
            let _ = writeln!(s, "stop $pid_r{i} '{phase} {}'", smp.name);
        }
        let _ = writeln!(s, "t stopped-{phase}");
        for (i, smp) in samples.iter().enumerate() {
            let _ = writeln!(s, "dump '{phase}-after {}' r{i}\nclean r{i}", smp.name);
        }
        let _ = writeln!(
            s,
            "echo '@@BEGIN calls {phase}@@'; sort /tmp/calls.log; echo '@@END calls {phase}@@'"
        );
        for i in 0..samples.len() {
            let _ = writeln!(
                s,
                "echo '@@BEGIN log {phase} r{i}@@'; tail -n 60 /tmp/{phase}-r{i}.log; echo '@@END log {phase} r{i}@@'"
            );
        }
    }
    s.push_str("t done\n");
    s
}

#[test]
fn vm_lvs_cf_tables_match_keepalived() {
    let Some(base) = vm::base() else { return };
    let dir = vm::manifest().join("samples/lvs.cf");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("samples/lvs.cf")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no samples in {}", dir.display());

    let g = Guest::new("");
    g.with_test_binary();
    g.copy_binary(
        "bin/keepalived-rs",
        Path::new(env!("CARGO_BIN_EXE_keepalived")),
    );
    let mut samples = Vec::new();
    let mut stubs = BTreeSet::new();
    for f in &files {
        let name = f
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("file name")
            .to_string();
        let text = std::fs::read_to_string(f).expect("read sample");
        let cf = read_lvs_cf(&text);
        // Every program the file names becomes a stub.
        let mut progs: Vec<&str> = Vec::new();
        for k in ["active_cmd", "inactive_cmd"] {
            progs.extend(cf.get(k));
        }
        for b in &cf.children {
            for k in ["start_cmd", "stop_cmd", "send_program"] {
                progs.extend(b.get(k));
            }
        }
        for p in progs {
            if let Some(prog) = p.split_whitespace().next() {
                stubs.insert(prog.trim_start_matches('/').to_string());
            }
        }
        // The conversion, by our binary, as an operator would run it.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keepalived"))
            .arg(format!("--convert-lvs-cf={}", f.display()))
            .output()
            .expect("run --convert-lvs-cf");
        assert!(
            out.status.success(),
            "{name}: --convert-lvs-cf failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        g.file(&format!("cfg/{name}.cf"), text.as_bytes(), 0o644);
        g.file(&format!("cfg/{name}.conf"), &out.stdout, 0o644);
        let expect = expect(&cf);
        samples.push(Sample { name, expect });
    }
    for s in &stubs {
        g.file(s, STUB.as_bytes(), 0o755);
    }
    let script = script(&samples);
    g.file("guest/run.sh", script.as_bytes(), 0o755);
    if let Ok(p) = std::env::var("IPVS_VM_CONSOLE") {
        let _ = std::fs::write(format!("{p}.script"), &script);
    }

    let t0 = Instant::now();
    let run = g.run(&base, Duration::from_secs(240));
    println!("VM run: {:.1} s wall", t0.elapsed().as_secs_f64());
    for t in run.values("T") {
        println!("  phase {t}");
    }
    if let Ok(p) = std::env::var("IPVS_VM_CONSOLE") {
        let _ = std::fs::write(p, &run.console);
    }
    run.assert_ok();
    check(&run, &samples);
}

fn check(run: &GuestRun, samples: &[Sample]) {
    let mut failures: Vec<String> = Vec::new();
    let mut fail = |f: String| failures.push(f);
    for w in run.values("WAIT") {
        if !w.contains("ok=1") {
            fail(format!("wait for VIPs and real servers timed out: {w}"));
        }
    }
    let stopped = run.values("STOPPED");
    for (i, smp) in samples.iter().enumerate() {
        let name = &smp.name;
        let e = &smp.expect;
        let log = |phase: &str| {
            run.section(&format!("log {phase} r{i}"))
                .unwrap_or_default()
        };
        let (Some(ours), Some(theirs)) = (
            run.section(&format!("ours {name}")),
            run.section(&format!("keepalived {name}")),
        ) else {
            fail(format!("{name}: missing listing"));
            continue;
        };
        // 1. The same table from the lvs.cf as from its conversion.
        if canonical(&ours) != canonical(&theirs) {
            fail(format!(
                "{name}: tables differ\n--- ours (lvs.cf)\n{ours}--- keepalived 2.2.7 (conversion)\n{theirs}\
                 --- our log\n{}--- keepalived log\n{}",
                log("ours"),
                log("keepalived")
            ));
        }
        // 2. The table the lvs.cf describes, in both.
        for (who, dump) in [("ours", &ours), ("keepalived", &theirs)] {
            let p = parts(dump);
            let got = table(p.get("-Ln").map_or(&[][..], Vec::as_slice), 3);
            if got != e.services {
                fail(format!(
                    "{name} ({who}): table is not the lvs.cf's\n--- expected\n{:#?}\n--- got\n{dump}",
                    e.services
                ));
            }
            let timeouts = format!(
                "Timeout (tcp tcpfin udp): {} {} {}",
                e.timeouts.0, e.timeouts.1, e.timeouts.2
            );
            if !p
                .get("--timeout")
                .is_some_and(|l| l.iter().any(|x| x.trim() == timeouts))
            {
                fail(format!("{name} ({who}): expected {timeouts}\n{dump}"));
            }
            let daemons: Vec<&String> = p
                .get("--daemon")
                .map(|l| l.iter().collect())
                .unwrap_or_default();
            match &e.sync {
                Some(want)
                    if !daemons.iter().any(|l| {
                        let rest = l.trim().strip_prefix(want.as_str());
                        rest.is_some_and(|r| r.starts_with(',') || r.starts_with(')'))
                    }) =>
                {
                    fail(format!("{name} ({who}): expected {want}\n{dump}"))
                }
                None if daemons.iter().any(|l| !l.trim().is_empty()) => {
                    fail(format!("{name} ({who}): unexpected sync daemon\n{dump}"))
                }
                _ => {}
            }
            let addrs = p.get("addresses").cloned().unwrap_or_default();
            for v in &e.vips {
                if !addrs.iter().any(|l| l.split_whitespace().nth(1) == Some(v)) {
                    fail(format!("{name} ({who}): VIP {v} missing\n{dump}"));
                }
            }
        }
        // 3. Our daemon took the primary role from the namespace's addresses.
        if log("ours").contains("running as backup") {
            fail(format!(
                "{name}: our daemon did not see the primary address\n{}",
                log("ours")
            ));
        }
        // 4. Both stop cleanly on SIGTERM and leave the same state behind.
        for who in ["ours", "keepalived"] {
            let label = format!("{who} {name} rc=0");
            if !stopped.contains(&label) {
                fail(format!(
                    "{name}: {who} did not exit 0 on SIGTERM ({:?})\n{}",
                    stopped
                        .iter()
                        .find(|s| s.starts_with(&format!("{who} {name} "))),
                    log(who)
                ));
            }
        }
        let after = |who: &str| {
            run.section(&format!("{who}-after {name}"))
                .unwrap_or_default()
        };
        if canonical(&after("ours")) != canonical(&after("keepalived")) {
            fail(format!(
                "{name}: state after SIGTERM differs\n--- ours\n{}--- keepalived\n{}",
                after("ours"),
                after("keepalived")
            ));
        }
    }
    // 5. The same programs ran (notify and MISC_CHECK stubs), as a set.
    let calls = |phase: &str| -> BTreeSet<String> {
        run.section(&format!("calls {phase}"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    if calls("ours") != calls("keepalived") {
        fail(format!(
            "programs run differ\n--- ours\n{:#?}\n--- keepalived\n{:#?}",
            calls("ours"),
            calls("keepalived")
        ));
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The expectations of the samples, checked on the host (no VM): the reader above sees what
/// the test relies on.
#[test]
fn expectations_read_the_samples() {
    let text = std::fs::read_to_string(vm::manifest().join("samples/lvs.cf/nat-with-backup.cf"))
        .expect("sample");
    let e = expect(&read_lvs_cf(&text));
    assert_eq!(e.primary, Ipv4Addr::new(203, 0, 113, 2));
    assert_eq!(e.private, Ipv4Addr::new(198, 51, 100, 2));
    assert_eq!(e.timeouts, (900, 120, 300));
    let http = &e.services["TCP 203.0.113.20:80"];
    assert_eq!(http.0, "wlc");
    assert_eq!(
        http.1.iter().map(String::as_str).collect::<Vec<_>>(),
        ["198.51.100.21:80 Masq 100", "198.51.100.22:80 Masq 100"]
    );
    assert_eq!(e.services["TCP 203.0.113.20:21"].0, "rr persistent 3600");
    assert_eq!(
        e.services.len(),
        2,
        "the inactive 'legacy' block is no service"
    );
    assert_eq!(
        e.vips.iter().map(String::as_str).collect::<Vec<_>>(),
        ["198.51.100.254/24", "203.0.113.20/24"]
    );
}
