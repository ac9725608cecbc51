//! IPVS on a real IPVS kernel: Debian's kernel booted under qemu (see `tests/vm/`).
//!
//! The build kernel has no IPVS, so every test here boots a VM. This test binary is copied
//! into the VM and run there through [`guest_tool`], a small step interpreter over the
//! library's public API (`IPVS_GUEST="start CFG; apply CFG full; run CMD; shutdown"`); the
//! product CLI has no test hooks.
//!
//! 1. [`vm_sample_tables_match_keepalived`]: for every sample and corpus configuration with
//!    virtual servers, the table we program equals the one Debian's keepalived 2.2.7 programs
//!    for the same (checker-free) configuration in the same VM, in `ipvsadm -Ln`,
//!    `--persistent-conn`, `--timeout` and `--daemon`; both leave the same table behind on
//!    exit (for `ipvs-foreign-*` with a service added by hand beforehand: kept, or flushed
//!    by `lvs_flush_on_stop`); and our table equals the hand-checked expectation in
//!    `tests/vm/expected/`.
//! 2. [`vm_reload_changes_only_what_changed`]: 1,000 services; one weight changed and one
//!    service added → exactly 4 netlink commands, and the result equals a cold apply.
//! 3. [`vm_nat_data_path`]: two busybox httpd real servers in namespaces behind our NAT
//!    service; a client in a third namespace reaches both through the VIP; removing one (as
//!    the health layer does when it fails) moves all traffic to the other.
//!
//! Without qemu or the kernel the tests skip (fail with `KEEPALIVED_RS_PRIVILEGED=1`).

#[path = "vm/mod.rs"]
mod vm;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use keepalived_rs::config::{self, LoadOptions};
use keepalived_rs::ipvs::{Ipvs, Settings, Verify, desired};
use vm::Guest;

// ===== the guest side =====

fn load(path: &str) -> config::model::Config {
    let mut o = LoadOptions::new(path);
    o.check_interfaces = false;
    o.config_id = Some("guest".into());
    config::load(&o).config
}

/// The entry point run inside the VM (a no-op on the host): `IPVS_GUEST` holds steps
/// separated by `;`:
/// - `probe` — open IPVS (loading ip_vs if needed) and print its version;
/// - `start CFG` — start the manager with CFG's global settings;
/// - `apply CFG [full|changed]` — apply CFG's table ("every real server up");
/// - `run CMD…` — run a shell command while we hold the table;
/// - `counters` — print the wire counters;
/// - `shutdown` — remove what we manage, restore timeouts (as on exit).
#[test]
fn guest_tool() {
    let Ok(script) = std::env::var("IPVS_GUEST") else {
        return;
    };
    let mut mgr: Option<Ipvs> = None;
    for step in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let words: Vec<&str> = step.split_whitespace().collect();
        match words[0] {
            "probe" => {
                let mut m = Ipvs::start(Settings::default()).expect("open IPVS");
                let (v, size) = m.info().expect("GET_INFO");
                println!("@@PROBE version={v:#08x} size={size}@@");
            }
            "start" => {
                let cfg = load(words[1]);
                mgr = Some(Ipvs::start(Settings::from_config(&cfg, false)).expect("start IPVS"));
            }
            "apply" => {
                let tp = Instant::now();
                let cfg = load(words[1]);
                let parsed = tp.elapsed();
                let t0 = Instant::now();
                let table = desired::from_config(&cfg);
                let built = t0.elapsed();
                let verify = if words.get(2) == Some(&"changed") {
                    Verify::Changed
                } else {
                    Verify::Full
                };
                let m = mgr.as_mut().expect("apply needs start");
                let before = m.counters();
                let r = m.apply(&table, verify).expect("apply");
                let after = m.counters();
                println!(
                    "@@APPLY {} commands={} wire={} gets={} unchanged={} failed={} parse_us={} build_us={} apply_us={}@@",
                    words[1],
                    r.commands,
                    after.commands - before.commands,
                    after.gets - before.gets,
                    r.unchanged,
                    r.failed.len(),
                    parsed.as_micros(),
                    built.as_micros(),
                    r.elapsed.as_micros()
                );
                for e in &r.failed {
                    println!("@@FAILED {e}@@");
                }
            }
            "run" => {
                let cmd = step.strip_prefix("run").unwrap_or("").trim();
                let st = std::process::Command::new("sh").arg("-c").arg(cmd).status();
                println!("@@RUN rc={:?}@@", st.ok().and_then(|s| s.code()));
            }
            "http" => {
                // `http ADDR:PORT N`: N requests, one connection each; print each body.
                let n: usize = words.get(2).and_then(|n| n.parse().ok()).unwrap_or(1);
                for _ in 0..n {
                    println!("{}", http_get(words[1]));
                }
            }
            "dump" => {
                // `dump LABEL…`: the whole table as our decoder reads it (every attribute,
                // including what ipvsadm does not show: tunnel type/port/flags, thresholds).
                let mut m = Ipvs::start(Settings::default()).expect("open IPVS");
                let t = m.read().expect("read the table");
                println!("@@BEGIN {}@@", words[1..].join(" "));
                for (k, s) in &t.table.services {
                    println!(
                        "{k} sched={} flags={:#x} timeout={} netmask={:#x} pe={:?}",
                        s.scheduler, s.flags.0, s.timeout, s.netmask, s.pe_name
                    );
                    for (dk, d) in &s.destinations {
                        println!(
                            "  -> {dk} {:?} weight={} u={} l={}",
                            d.fwd, d.weight, d.u_threshold, d.l_threshold
                        );
                    }
                }
                println!("@@END {}@@", words[1..].join(" "));
            }
            "batch" => {
                let n = words[1].parse().expect("batch N");
                mgr.as_mut().expect("batch needs start").set_batch(n);
            }
            "counters" => {
                let c = mgr.as_ref().expect("counters needs start").counters();
                println!(
                    "@@COUNTERS commands={} gets={} sends={}@@",
                    c.commands, c.gets, c.sends
                );
            }
            "shutdown" => {
                if let Some(m) = mgr.take()
                    && let Err(e) = m.shutdown()
                {
                    println!("@@SHUTDOWN-ERROR {e}@@");
                }
            }
            other => panic!("unknown guest step {other}"),
        }
    }
}

/// One HTTP/1.0 GET of `/` (busybox wget crashes in this initramfs: static NSS).
fn http_get(addr: &str) -> String {
    use std::io::{Read, Write};
    let sa: std::net::SocketAddr = addr.parse().expect("ADDR:PORT");
    let mut s = match std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(3)) {
        Ok(s) => s,
        Err(e) => return format!("connect error: {e}"),
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n");
    let mut resp = String::new();
    if let Err(e) = s.read_to_string(&mut resp) {
        return format!("read error: {e}");
    }
    resp.split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Shell helpers for guest scripts.
const PRELUDE: &str = r#"
set -u
# busybox sh runs its own applets before PATH: use iproute2's ip.
ip() { /usr/sbin/ip "$@"; }
for i in 0 1 2 3; do ip link add eth$i type veth peer name peer$i; ip link set eth$i up; ip link set peer$i up; done
ip addr add 203.0.113.254/24 dev eth0
reset() {
    ipvsadm -C; ipvsadm --set 900 120 300
    ipvsadm --stop-daemon master 2>/dev/null; ipvsadm --stop-daemon backup 2>/dev/null
}
settle() {
    prev=; n=0
    while [ $n -lt 40 ]; do
        sleep 0.5; cur=$(ipvsadm -Ln | md5sum)
        if [ "$cur" = "$prev" ] && [ $n -ge 3 ]; then return; fi
        prev=$cur; n=$((n+1))
    done
}
tool() { IPVS_GUEST="$1" /bin/ipvs-guest guest_tool --exact --nocapture --quiet --test-threads=1 2>&1; }
"#;

const DUMP_SH: &str = r#"#!/bin/sh
echo "@@BEGIN $*@@"
ipvsadm -Ln
echo "== --persistent-conn"
ipvsadm -Ln --persistent-conn
echo "== --timeout"
ipvsadm -Ln --timeout
echo "== --daemon"
ipvsadm -Ln --daemon
echo "@@END $*@@"
"#;

// ===== comparing tables =====

/// An `ipvsadm -Ln` listing in a canonical order: services sorted, destinations sorted within
/// their service (the kernel lists in hash and insertion order).
fn canonical(listing: &str) -> String {
    let mut head = Vec::new();
    let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
    let mut tail = Vec::new();
    let mut section = 0;
    for l in listing.lines() {
        if l.starts_with("== ") {
            section += 1;
        }
        if section > 0 && !l.starts_with("== ") && !l.starts_with("  ->") && !is_service_line(l) {
            tail.push(format!("{section}:{l}"));
            continue;
        }
        if l.starts_with("== ") {
            tail.push(format!("{section}:{l}"));
            continue;
        }
        if l.starts_with("  -> RemoteAddress")
            || l.starts_with("Prot ")
            || l.starts_with("IP Virtual")
        {
            head.push(format!("{section}:{l}"));
        } else if is_service_line(l) {
            blocks.push((format!("{section}:{l}"), Vec::new()));
        } else if let Some(b) = blocks.last_mut() {
            b.1.push(l.to_string());
        } else {
            head.push(l.to_string());
        }
    }
    for b in &mut blocks {
        b.1.sort();
    }
    blocks.sort();
    let mut s = head.join("\n");
    for (svc, dests) in blocks {
        let _ = write!(s, "\n{svc}");
        for d in dests {
            let _ = write!(s, "\n{d}");
        }
    }
    for t in tail {
        let _ = write!(s, "\n{t}");
    }
    s
}

fn is_service_line(l: &str) -> bool {
    ["TCP  ", "UDP  ", "SCTP ", "FWM  "]
        .iter()
        .any(|p| l.starts_with(p))
}

/// Known, accepted differences between keepalived 2.2.7 and us, by configuration.
fn known_difference(name: &str) -> Option<&'static str> {
    let _ = name;
    None
}

#[test]
fn vm_sample_tables_match_keepalived() {
    let Some(base) = vm::base() else { return };
    let mut cfgs = vm::configs_with_virtual_servers();
    if let Ok(only) = std::env::var("IPVS_VM_ONLY") {
        cfgs.retain(|(n, _)| n.contains(&only));
    }
    assert!(!cfgs.is_empty(), "no sample configurations found");
    let mut script = String::from(PRELUDE);
    script.push_str("tool probe\n");
    let g = Guest::new("");
    g.with_test_binary();
    g.file("guest/dump.sh", DUMP_SH.as_bytes(), 0o755);
    for (name, path) in &cfgs {
        // A service that is not ours, for the lvs_flush_on_stop configurations: both daemons
        // must leave it alone while running and treat it alike at exit.
        let seed = if name.starts_with("ipvs-foreign-") {
            "ipvsadm -A -t 198.51.100.250:9 -s rr; ipvsadm -a -t 198.51.100.250:9 -r 203.0.113.250:9 -m -w 7"
        } else {
            ""
        };
        g.file(
            &format!("cfg/{name}"),
            vm::flatten_config(path, "lb1").as_bytes(),
            0o644,
        );
        let _ = write!(
            script,
            r#"
reset
{seed}
keepalived -C -n -l -f /cfg/{name} -p /run/ka.pid -c /run/ka-c.pid >/tmp/ka.log 2>&1 &
k=$!
settle
sh /guest/dump.sh keepalived {name}
tool "dump keepalived-raw {name}"
kill -TERM $k; wait $k
sh /guest/dump.sh keepalived-after {name}
echo "@@BEGIN kalog {name}@@"; grep -iv 'info\|^$' /tmp/ka.log | head -20; echo "@@END kalog {name}@@"
reset
{seed}
tool "start /cfg/{name}; apply /cfg/{name} full; run sh /guest/dump.sh ours {name}; dump ours-raw {name}; apply /cfg/{name} full; shutdown"
sh /guest/dump.sh ours-after {name}
"#
        );
    }
    g.file("guest/run.sh", script.as_bytes(), 0o755);
    let run = g.run(&base, Duration::from_secs(900));
    if let Ok(p) = std::env::var("IPVS_VM_CONSOLE") {
        let _ = std::fs::write(p, &run.console);
    }
    run.assert_ok();
    assert!(
        !run.values("PROBE").is_empty(),
        "probe failed:\n{}",
        run.console
    );

    let mut failures = Vec::new();
    let bless = std::env::var("IPVS_VM_BLESS").is_ok();
    let expected_dir = vm::manifest().join("tests/vm/expected");
    let applies = run.values("APPLY");
    for (name, _) in &cfgs {
        let ka = run.section(&format!("keepalived {name}"));
        let ours = run.section(&format!("ours {name}"));
        let (Some(ka), Some(ours)) = (ka, ours) else {
            failures.push(format!("{name}: missing output"));
            continue;
        };
        let (ka_c, ours_c) = (canonical(&ka), canonical(&ours));
        if ka_c != ours_c && known_difference(name).is_none() {
            failures.push(format!(
                "{name}: tables differ\n--- keepalived\n{ka}--- ours\n{ours}--- keepalived log\n{}",
                run.section(&format!("kalog {name}")).unwrap_or_default()
            ));
        }
        let ka_raw = run
            .section(&format!("keepalived-raw {name}"))
            .unwrap_or_default();
        let ours_raw = run.section(&format!("ours-raw {name}")).unwrap_or_default();
        if ka_raw != ours_raw && known_difference(name).is_none() {
            failures.push(format!(
                "{name}: netlink attributes differ\n--- keepalived\n{ka_raw}--- ours\n{ours_raw}"
            ));
        }
        let ka_after = run
            .section(&format!("keepalived-after {name}"))
            .unwrap_or_default();
        let ours_after = run
            .section(&format!("ours-after {name}"))
            .unwrap_or_default();
        if canonical(&ka_after) != canonical(&ours_after) {
            failures.push(format!(
                "{name}: tables after exit differ\n--- keepalived\n{ka_after}--- ours\n{ours_after}"
            ));
        }
        // lvs_flush_on_stop: a full flush takes the foreign service too; `VS` and the
        // default remove only ours.
        if name.starts_with("ipvs-foreign-") {
            // The `ipvsadm -Ln` part (before `== --persistent-conn`).
            let services: Vec<&str> = ours_after
                .lines()
                .take_while(|l| !l.starts_with("== "))
                .filter(|l| is_service_line(l))
                .collect();
            let want: &[&str] = if name.contains("-full") {
                &[]
            } else {
                &["TCP  198.51.100.250:9 rr"]
            };
            if services.iter().map(|l| l.trim_end()).collect::<Vec<_>>() != want {
                failures.push(format!(
                    "{name}: after exit expected services {want:?}, found {services:?}"
                ));
            }
        }
        // The second apply of the same table must find nothing to do.
        let second = applies
            .iter()
            .filter(|a| a.starts_with(&format!("/cfg/{name} ")))
            .nth(1)
            .cloned()
            .unwrap_or_default();
        if !second.contains(" commands=0 ") {
            failures.push(format!(
                "{name}: re-applying the same table was not a no-op: {second}"
            ));
        }
        let exp = expected_dir.join(format!("{name}.txt"));
        if bless {
            std::fs::create_dir_all(&expected_dir).expect("mkdir expected");
            std::fs::write(&exp, &ours).expect("write expectation");
        } else if let Ok(want) = std::fs::read_to_string(&exp)
            && canonical(&want) != ours_c
        {
            failures.push(format!(
                "{name}: differs from {}\n--- expected\n{want}--- ours\n{ours}",
                exp.display()
            ));
        }
    }
    for f in run.values("FAILED") {
        failures.push(format!("kernel refused: {f}"));
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A configuration of `n` NAT services with two real servers each; `weight_of_first` is the
/// weight of the first real server of the first service.
fn big_config(n: usize, weight_of_first: u32, extra: bool) -> String {
    let mut s = String::from("global_defs {\n    router_id BIG\n}\n");
    let total = n + usize::from(extra);
    for i in 0..total {
        let (a, b) = (i / 250, i % 250 + 1);
        let _ = write!(
            s,
            "virtual_server 10.{a}.{b}.1 80 {{\n    lvs_sched wlc\n    lvs_method NAT\n    protocol TCP\n"
        );
        for r in 1..=2 {
            let w = if i == 0 && r == 1 { weight_of_first } else { 1 };
            let _ = write!(
                s,
                "    real_server 172.{}.{b}.{r} 8080 {{\n        weight {w}\n    }}\n",
                16 + a
            );
        }
        s.push_str("}\n");
    }
    s
}

#[test]
fn vm_reload_changes_only_what_changed() {
    let Some(base) = vm::base() else { return };
    let g = Guest::new("");
    g.with_test_binary();
    g.file("guest/dump.sh", DUMP_SH.as_bytes(), 0o755);
    g.file("cfg/a.conf", big_config(1000, 1, false).as_bytes(), 0o644);
    g.file("cfg/b.conf", big_config(1000, 7, true).as_bytes(), 0o644);
    let script = format!(
        r#"{PRELUDE}
reset
tool "start /cfg/a.conf; apply /cfg/a.conf full; apply /cfg/b.conf changed; run sh /guest/dump.sh reloaded; apply /cfg/b.conf full"
reset
tool "start /cfg/b.conf; apply /cfg/b.conf full; run sh /guest/dump.sh cold"
reset
tool "start /cfg/a.conf; apply /cfg/a.conf full; apply /cfg/b.conf full"
"#
    );
    g.file("guest/run.sh", script.as_bytes(), 0o755);
    let run = g.run(&base, Duration::from_secs(600));
    run.assert_ok();
    let applies = run.values("APPLY");
    let field = |a: &str, f: &str| -> u64 {
        a.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{f}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    assert_eq!(applies.len(), 6, "{}", run.console);
    // Cold start: 1,000 services + 2,000 destinations.
    assert_eq!(field(&applies[0], "commands"), 3000, "{}", applies[0]);
    // Reload (changed services only): SET_DEST, NEW_SERVICE, 2 × NEW_DEST.
    assert_eq!(field(&applies[1], "commands"), 4, "{}", applies[1]);
    assert_eq!(field(&applies[1], "wire"), 4, "{}", applies[1]);
    // The kernel then holds exactly b.conf: a full verification finds nothing to do.
    assert_eq!(field(&applies[2], "commands"), 0, "{}", applies[2]);
    // The same reload, verified in full, plans the same 4 commands.
    assert_eq!(field(&applies[5], "commands"), 4, "{}", applies[5]);
    let reloaded = run.section("reloaded").expect("reloaded dump");
    let cold = run.section("cold").expect("cold dump");
    assert_eq!(
        canonical(&reloaded),
        canonical(&cold),
        "reloaded table differs from a cold start"
    );
    assert!(
        reloaded.lines().any(
            |l| l.split_whitespace().collect::<Vec<_>>()[..].starts_with(&[
                "->",
                "172.16.1.1:8080",
                "Masq",
                "7"
            ])
        ),
        "{reloaded}"
    );
    let refused = run.values("FAILED");
    assert!(refused.is_empty(), "kernel refused: {refused:?}");
}

const NAT_CONF: &str = r#"
global_defs {
    router_id NAT_TEST
}
virtual_server 10.0.0.100 80 {
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    real_server 192.168.1.1 80 {
        weight 1
    }
    real_server 192.168.1.2 80 {
        weight 1
    }
}
"#;

#[test]
fn vm_nat_data_path() {
    let Some(base) = vm::base() else { return };
    let g = Guest::new("");
    g.with_test_binary();
    g.file("cfg/nat.conf", NAT_CONF.as_bytes(), 0o644);
    // The health layer's view after rs1 fails: rs1 removed.
    g.file(
        "cfg/nat-rs1-down.conf",
        NAT_CONF
            .replacen(
                "    real_server 192.168.1.1 80 {\n        weight 1\n    }\n",
                "",
                1,
            )
            .as_bytes(),
        0o644,
    );
    let script = format!(
        r#"{PRELUDE}
echo 1 > /proc/sys/net/ipv4/ip_forward
# client -- (10.0.0.0/24) -- director (root namespace) -- (192.168.1.0/24 bridge) -- rs1, rs2
ip netns add client
ip link add c0 type veth peer name c1
ip link set c1 netns client
ip addr add 10.0.0.1/24 dev c0; ip link set c0 up
# The VIP (VRRP would add it).
ip addr add 10.0.0.100/32 dev c0
ip -n client addr add 10.0.0.2/24 dev c1; ip -n client link set c1 up; ip -n client link set lo up
ip link add br0 type bridge; ip addr add 192.168.1.254/24 dev br0; ip link set br0 up
for i in 1 2; do
    ip netns add rs$i
    ip link add r${{i}}a type veth peer name r${{i}}b
    ip link set r${{i}}a master br0; ip link set r${{i}}a up
    ip link set r${{i}}b netns rs$i
    ip -n rs$i addr add 192.168.1.$i/24 dev r${{i}}b; ip -n rs$i link set r${{i}}b up; ip -n rs$i link set lo up
    ip -n rs$i route add default via 192.168.1.254
    mkdir -p /www$i; echo "hello from rs$i" > /www$i/index.html
    ip netns exec rs$i httpd -p 80 -h /www$i
done
cat > /tmp/client.sh <<'EOF'
IPVS_GUEST="http 10.0.0.100:80 6" /usr/sbin/ip netns exec client /bin/ipvs-guest guest_tool --exact --nocapture --quiet --test-threads=1 2>&1
EOF
tool "start /cfg/nat.conf; apply /cfg/nat.conf full; run echo @@BEGIN both@@; run sh /tmp/client.sh; run echo @@END both@@; run ipvsadm -Ln; apply /cfg/nat-rs1-down.conf changed; run echo @@BEGIN one@@; run sh /tmp/client.sh; run echo @@END one@@; shutdown"
"#
    );
    g.file("guest/run.sh", script.as_bytes(), 0o755);
    let run = g.run(&base, Duration::from_secs(300));
    run.assert_ok();
    let both = run.section("both").unwrap_or_default();
    let one = run.section("one").unwrap_or_default();
    let count = |s: &str, rs: &str| {
        s.lines()
            .filter(|l| l.trim() == format!("hello from {rs}"))
            .count()
    };
    assert_eq!(
        (count(&both, "rs1"), count(&both, "rs2")),
        (3, 3),
        "round robin through the VIP:\n{}",
        run.console
    );
    assert_eq!(
        (count(&one, "rs1"), count(&one, "rs2")),
        (0, 6),
        "after rs1 left:\n{}",
        run.console
    );
}
