//! keepalived-rs and Debian's keepalived 2.2.7 as the two routers of one LAN (network
//! namespaces, see `support::vrrp_lab`): election, failover on SIGKILL and SIGTERM, preemption,
//! nopreempt, VRRPv2 PASS/AH, VRRPv3 over IPv4 and IPv6, unicast peers, sync groups, track
//! scripts, and malformed adverts from a raw-socket sender.
//!
//! Privileged: needs root, `ip`, network namespaces and /usr/sbin/keepalived. Skipped when
//! those are missing, unless `KEEPALIVED_RS_PRIVILEGED=1`, which turns a missing prerequisite
//! into a failure. The tests run one at a time (they measure time).

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use keepalived_rs::config::model::{Centis, Priority, Vrid};
use keepalived_rs::vrrp::packet::{self, Advert, Auth, Ipv4Tx, V3Checksum, Version};
use nix::sys::signal::Signal;
use support::netns::{self, Need};
use support::vrrp_lab::{Daemon, Kind, Lab, holds_for, send_raw_v4, wait_until};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn gate(test: &str) -> bool {
    netns::gate(
        test,
        &[Need::Root, Need::Ip, Need::Keepalived, Need::NetnsWorks],
    )
}

const VIP4: &str = "198.51.100.250";
const VIP4B: &str = "203.0.113.250";
const VIP6: &str = "2001:db8::250";

/// A VRRP instance block.
#[derive(Clone)]
struct Vi {
    name: &'static str,
    iface: &'static str,
    vrid: u8,
    prio: u8,
    version: u8,
    advert: &'static str,
    vips: Vec<String>,
    extra: String,
}

impl Vi {
    fn v2(prio: u8) -> Vi {
        Vi {
            name: "VI_1",
            iface: "eth0",
            vrid: 51,
            prio,
            version: 2,
            advert: "1",
            vips: vec![format!("{VIP4}/24")],
            extra: String::new(),
        }
    }

    fn text(&self) -> String {
        format!(
            "vrrp_instance {} {{\n    state BACKUP\n    interface {}\n    virtual_router_id {}\n    \
             priority {}\n    version {}\n    advert_int {}\n{}\n    virtual_ipaddress {{\n{}\n    }}\n}}\n",
            self.name,
            self.iface,
            self.vrid,
            self.prio,
            self.version,
            self.advert,
            self.extra,
            self.vips
                .iter()
                .map(|v| format!("        {v}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
}

fn conf(global: &str, body: &str) -> String {
    format!("global_defs {{\n    router_id lab\n{global}\n}}\n{body}")
}

fn vip_ip(v: &str) -> IpAddr {
    v.parse().expect("VIP address")
}

/// Exactly `who` (among `live`) holds `vip`.
fn only(lab: &Lab, vip: &str, who: usize, live: &[usize]) -> Result<(), String> {
    let holders: Vec<usize> = lab
        .holders(vip)
        .into_iter()
        .filter(|r| live.contains(r))
        .collect();
    if holders == [who] {
        Ok(())
    } else {
        Err(format!(
            "{vip} held by routers {holders:?}, expected [{who}]"
        ))
    }
}

fn logs(ds: &[&Daemon]) -> String {
    ds.iter()
        .map(|d| {
            format!(
                "----- {} ({})\n{}",
                d.name,
                d.kind.label(),
                tail(&d.log_text(), 60)
            )
        })
        .collect()
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Waits until exactly `who` holds `vip` among `live`; returns the time it took.
fn await_only(
    lab: &Lab,
    vip: &str,
    who: usize,
    live: &[usize],
    limit: Duration,
    ds: &[&Daemon],
) -> Duration {
    let start = Instant::now();
    assert!(
        wait_until(limit, || only(lab, vip, who, live).is_ok()),
        "router {who} did not become the only holder of {vip} within {limit:?}: {}\n{}",
        only(lab, vip, who, live).err().unwrap_or_default(),
        logs(ds)
    );
    start.elapsed()
}

fn assert_ping(lab: &Lab, vip: &str, ds: &[&Daemon]) {
    let ok = wait_until(Duration::from_secs(5), || {
        lab.ping(vip_ip(vip), Duration::from_millis(300))
    });
    assert!(ok, "client cannot ping {vip}\n{}", logs(ds));
}

fn start(lab: &Lab, kind: Kind, r: usize, text: &str) -> Daemon {
    lab.start(kind, r, text)
}

/// The election and handover checks for one configuration:
/// 1. `hi` (priority 200) is master and `lo` (100) backup; exactly one holds the VIP at each
///    sample for a while; the client reaches the VIP;
/// 2. SIGTERM of the master: the backup takes over within Skew_Time (+ margin);
/// 3. the master comes back and preempts.
fn election_and_handover(
    tag: &str,
    hi: Kind,
    lo: Kind,
    mk: impl Fn(usize, u8) -> String,
    vip: &str,
    adver: Duration,
) {
    let lab = Lab::new(tag, 2, 1).expect("lab");
    let mdi = adver * 3 + Duration::from_secs(1);
    let mut d_lo = start(&lab, lo, 1, &mk(1, 100));
    let mut d_hi = start(&lab, hi, 0, &mk(0, 200));
    await_only(&lab, vip, 0, &[0, 1], mdi * 3, &[&d_hi, &d_lo]);
    holds_for(mdi + adver, || only(&lab, vip, 0, &[0, 1]))
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&d_hi, &d_lo])));
    assert_ping(&lab, vip, &[&d_hi, &d_lo]);

    // Graceful stop: priority 0, takeover after Skew_Time.
    assert!(d_hi.sigterm(), "master did not stop on SIGTERM");
    let took = await_only(&lab, vip, 1, &[0, 1], mdi, &[&d_hi, &d_lo]);
    assert!(
        took < adver + Duration::from_millis(900),
        "takeover after SIGTERM took {took:?} (Master_Down_Interval would be {mdi:?})\n{}",
        logs(&[&d_hi, &d_lo])
    );
    assert_ping(&lab, vip, &[&d_hi, &d_lo]);

    // The higher priority returns and preempts.
    d_hi = start(&lab, hi, 0, &mk(0, 200));
    await_only(&lab, vip, 0, &[0, 1], mdi * 3, &[&d_hi, &d_lo]);
    assert_ping(&lab, vip, &[&d_hi, &d_lo]);
    assert!(d_hi.sigterm() && d_lo.sigterm(), "daemons did not stop");
    assert!(
        lab.holders(vip).is_empty(),
        "VIP left behind after SIGTERM: {:?}",
        lab.holders(vip)
    );
}

fn both_directions(tag: &str, mk: impl Fn(usize, u8) -> String + Copy, vip: &str, adver: Duration) {
    election_and_handover(
        &format!("{tag}o"),
        Kind::Ours,
        Kind::Keepalived,
        mk,
        vip,
        adver,
    );
    election_and_handover(
        &format!("{tag}k"),
        Kind::Keepalived,
        Kind::Ours,
        mk,
        vip,
        adver,
    );
}

// ===== 1 + 2: election, SIGKILL, SIGTERM, preemption, nopreempt =====

fn sigkill_failover(tag: &str, master: Kind, backup: Kind) {
    let lab = Lab::new(tag, 2, 1).expect("lab");
    let mk = |prio| conf("", &Vi::v2(prio).text());
    let d_b = start(&lab, backup, 1, &mk(100));
    let mut d_m = start(&lab, master, 0, &mk(150));
    await_only(
        &lab,
        VIP4,
        0,
        &[0, 1],
        Duration::from_secs(12),
        &[&d_m, &d_b],
    );
    holds_for(Duration::from_secs(4), || only(&lab, VIP4, 0, &[0, 1]))
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&d_m, &d_b])));
    assert_ping(&lab, VIP4, &[&d_m, &d_b]);

    // SIGKILL: no priority-0 advert; the backup waits Master_Down_Interval
    // (3 × 1 s + (256 - 100)/256 s = 3.61 s). The killed router keeps its VIP configured (no
    // daemon is left to remove it), so only the live router is sampled.
    let t = Instant::now();
    d_m.sigkill();
    // The dead router's kernel would still answer for the VIP it keeps: take its link down so
    // that the client's pings below can only be answered by the new master.
    lab.router(0)
        .ip(&["link", "set", "eth0", "down"])
        .expect("link down");
    await_only(&lab, VIP4, 1, &[1], Duration::from_secs(8), &[&d_m, &d_b]);
    let took = t.elapsed();
    assert!(
        took > Duration::from_millis(2500) && took < Duration::from_millis(5000),
        "takeover after SIGKILL took {took:?}, expected about 3.61 s\n{}",
        logs(&[&d_m, &d_b])
    );
    assert_ping(&lab, VIP4, &[&d_m, &d_b]);

    // Restart the master (stale VIP removed first, as an operator would): it preempts.
    lab.router(0)
        .ip(&["addr", "del", &format!("{VIP4}/24"), "dev", "eth0"])
        .expect("remove stale VIP");
    lab.router(0)
        .ip(&["link", "set", "eth0", "up"])
        .expect("link up");
    let mut d_m = start(&lab, master, 0, &mk(150));
    await_only(
        &lab,
        VIP4,
        0,
        &[0, 1],
        Duration::from_secs(12),
        &[&d_m, &d_b],
    );
    assert_ping(&lab, VIP4, &[&d_m, &d_b]);
    assert!(d_m.sigterm(), "master did not stop");
}

#[test]
fn ours_master_keepalived_backup_sigkill_failover_and_preemption() {
    let _s = serial();
    if !gate("ours_master_keepalived_backup_sigkill_failover_and_preemption") {
        return;
    }
    sigkill_failover("kom", Kind::Ours, Kind::Keepalived);
}

#[test]
fn keepalived_master_ours_backup_sigkill_failover_and_preemption() {
    let _s = serial();
    if !gate("keepalived_master_ours_backup_sigkill_failover_and_preemption") {
        return;
    }
    sigkill_failover("kkm", Kind::Keepalived, Kind::Ours);
}

#[test]
fn v2_election_and_sigterm_handover_both_directions() {
    let _s = serial();
    if !gate("v2_election_and_sigterm_handover_both_directions") {
        return;
    }
    let mk = |_r: usize, prio: u8| conf("", &Vi::v2(prio).text());
    both_directions("v2", mk, VIP4, Duration::from_secs(1));
}

#[test]
fn nopreempt_higher_priority_does_not_take_over() {
    let _s = serial();
    if !gate("nopreempt_higher_priority_does_not_take_over") {
        return;
    }
    for (tag, master, late) in [
        ("npo", Kind::Keepalived, Kind::Ours),
        ("npk", Kind::Ours, Kind::Keepalived),
    ] {
        let lab = Lab::new(tag, 2, 1).expect("lab");
        let d_m = start(&lab, master, 0, &conf("", &Vi::v2(100).text()));
        await_only(&lab, VIP4, 0, &[0, 1], Duration::from_secs(8), &[&d_m]);
        let mut vi = Vi::v2(150);
        vi.extra = "    nopreempt".into();
        let d_late = start(&lab, late, 1, &conf("", &vi.text()));
        // The higher priority with nopreempt stays backup.
        holds_for(Duration::from_secs(6), || only(&lab, VIP4, 0, &[0, 1]))
            .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&d_m, &d_late])));
        drop(d_m); // SIGKILL
        await_only(&lab, VIP4, 1, &[1], Duration::from_secs(8), &[&d_late]);
    }
}

// ===== 3: authentication, versions, families, unicast =====

#[test]
fn v2_pass_auth_both_directions() {
    let _s = serial();
    if !gate("v2_pass_auth_both_directions") {
        return;
    }
    let mk = |_r: usize, prio: u8| {
        let mut vi = Vi::v2(prio);
        vi.extra =
            "    authentication {\n        auth_type PASS\n        auth_pass s3cr3t\n    }".into();
        conf("", &vi.text())
    };
    both_directions("pass", mk, VIP4, Duration::from_secs(1));
}

#[test]
fn v2_ah_auth_both_directions() {
    let _s = serial();
    if !gate("v2_ah_auth_both_directions") {
        return;
    }
    let mk = |_r: usize, prio: u8| {
        let mut vi = Vi::v2(prio);
        vi.extra =
            "    authentication {\n        auth_type AH\n        auth_pass k3y\n    }".into();
        conf("", &vi.text())
    };
    both_directions("ah", mk, VIP4, Duration::from_secs(1));
}

#[test]
fn v3_ipv4_both_directions() {
    let _s = serial();
    if !gate("v3_ipv4_both_directions") {
        return;
    }
    let mk = |_r: usize, prio: u8| {
        let mut vi = Vi::v2(prio);
        vi.version = 3;
        vi.advert = "0.2";
        conf("", &vi.text())
    };
    both_directions("v3", mk, VIP4, Duration::from_millis(200));
}

#[test]
fn v3_ipv6_both_directions() {
    let _s = serial();
    if !gate("v3_ipv6_both_directions") {
        return;
    }
    let mk = |_r: usize, prio: u8| {
        let mut vi = Vi::v2(prio);
        vi.version = 3;
        vi.advert = "0.2";
        vi.vips = vec![format!("{VIP6}/64")];
        conf("", &vi.text())
    };
    both_directions("v6", mk, VIP6, Duration::from_millis(200));
}

#[test]
fn v2_unicast_peers_both_directions() {
    let _s = serial();
    if !gate("v2_unicast_peers_both_directions") {
        return;
    }
    let mk = |r: usize, prio: u8| {
        let (me, peer) = if r == 0 { (1, 2) } else { (2, 1) };
        let mut vi = Vi::v2(prio);
        vi.extra = format!(
            "    unicast_src_ip 198.51.100.{me}\n    unicast_peer {{\n        198.51.100.{peer}\n    }}"
        );
        conf("", &vi.text())
    };
    both_directions("uc", mk, VIP4, Duration::from_secs(1));
}

// ===== 4: sync groups and tracking =====

#[test]
fn sync_group_on_two_interfaces_fails_over_as_one() {
    let _s = serial();
    if !gate("sync_group_on_two_interfaces_fails_over_as_one") {
        return;
    }
    let lab = Lab::new("sg", 2, 2).expect("lab");
    let mk = |prio: u8| {
        let mut a = Vi::v2(prio);
        a.version = 3;
        a.advert = "0.5";
        let mut b = a.clone();
        b.name = "VI_2";
        b.iface = "eth1";
        b.vrid = 52;
        b.vips = vec![format!("{VIP4B}/24")];
        conf(
            "",
            &format!(
                "vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n{}{}",
                a.text(),
                b.text()
            ),
        )
    };
    let d_k = start(&lab, Kind::Keepalived, 1, &mk(100));
    let d_o = start(&lab, Kind::Ours, 0, &mk(150));
    let ds = [&d_o, &d_k];
    await_only(&lab, VIP4, 0, &[0, 1], Duration::from_secs(10), &ds);
    await_only(&lab, VIP4B, 0, &[0, 1], Duration::from_secs(5), &ds);

    // eth1 of ours goes down: VI_2 faults, the group follows, keepalived takes both.
    lab.router(0)
        .ip(&["link", "set", "eth1", "down"])
        .expect("link down");
    await_only(&lab, VIP4, 1, &[0, 1], Duration::from_secs(6), &ds);
    await_only(&lab, VIP4B, 1, &[0, 1], Duration::from_secs(2), &ds);
    assert!(
        d_o.log_text().contains("(VI_2) Entering FAULT STATE"),
        "{}",
        logs(&ds)
    );

    // Back up: ours (higher priority) preempts both.
    lab.router(0)
        .ip(&["link", "set", "eth1", "up"])
        .expect("link up");
    await_only(&lab, VIP4, 0, &[0, 1], Duration::from_secs(8), &ds);
    await_only(&lab, VIP4B, 0, &[0, 1], Duration::from_secs(2), &ds);

    // SIGKILL of ours: keepalived takes both.
    let mut d_o = d_o;
    d_o.sigkill();
    await_only(&lab, VIP4, 1, &[1], Duration::from_secs(5), &[&d_k]);
    await_only(&lab, VIP4B, 1, &[1], Duration::from_secs(2), &[&d_k]);
}

#[test]
fn failing_track_script_moves_mastership() {
    let _s = serial();
    if !gate("failing_track_script_moves_mastership") {
        return;
    }
    let lab = Lab::new("ts", 2, 1).expect("lab");
    let flag = lab.dir.path().join("healthy");
    std::fs::write(&flag, "").expect("flag file");
    let mut vi = Vi::v2(150);
    vi.extra = "    track_script {\n        chk\n    }".into();
    let ours = conf(
        "    enable_script_security\n    script_user root",
        &format!(
            "vrrp_script chk {{\n    script \"/usr/bin/test -e {}\"\n    interval 1\n    weight -60\n}}\n{}",
            flag.display(),
            vi.text()
        ),
    );
    let d_k = start(&lab, Kind::Keepalived, 1, &conf("", &Vi::v2(100).text()));
    let d_o = start(&lab, Kind::Ours, 0, &ours);
    let ds = [&d_o, &d_k];
    await_only(&lab, VIP4, 0, &[0, 1], Duration::from_secs(10), &ds);
    // The script fails: 150 - 60 = 90 < 100, keepalived preempts.
    std::fs::remove_file(&flag).expect("remove flag");
    await_only(&lab, VIP4, 1, &[0, 1], Duration::from_secs(10), &ds);
    assert!(
        d_o.log_text().contains("VRRP_Script(chk) failed"),
        "{}",
        logs(&ds)
    );
    // It recovers: 150 again, ours preempts back.
    std::fs::write(&flag, "").expect("flag file");
    await_only(&lab, VIP4, 0, &[0, 1], Duration::from_secs(10), &ds);
}

// ===== 5: malformed adverts =====

fn advert(vrid: u8, prio: u8, pass: &[u8; 8]) -> Advert {
    Advert {
        version: Version::V2,
        vrid: Vrid(vrid),
        priority: Priority(prio),
        adver_int: Centis(100),
        addrs: vec![IpAddr::V4(VIP4.parse().expect("VIP"))],
        auth: Auth::Pass(*pass),
    }
}

fn datagram(a: &Advert, ttl: u8) -> Vec<u8> {
    let tx = Ipv4Tx {
        src: Ipv4Addr::new(198, 51, 100, 100),
        dst: packet::MCAST_V4,
        id: 7,
        ttl,
    };
    packet::encode_ipv4(a, &tx, V3Checksum::Standard, None).expect("encode")
}

#[test]
fn malformed_adverts_are_dropped_counted_and_change_nothing() {
    let _s = serial();
    if !gate("malformed_adverts_are_dropped_counted_and_change_nothing") {
        return;
    }
    let lab = Lab::new("bad", 1, 1).expect("lab");
    let mut vi = Vi::v2(100);
    vi.extra =
        "    authentication {\n        auth_type PASS\n        auth_pass secret\n    }".into();
    let d = start(&lab, Kind::Ours, 0, &conf("", &vi.text()));
    await_only(&lab, VIP4, 0, &[0], Duration::from_secs(8), &[&d]);

    let good = *b"secret\0\0";
    let wrong_pass = datagram(&advert(51, 254, b"wrong\0\0\0"), 255);
    let wrong_vrid = datagram(&advert(52, 254, &good), 255);
    let ttl_254 = datagram(&advert(51, 254, &good), 254);
    let mut bad_sum = datagram(&advert(51, 254, &good), 255);
    bad_sum[20 + 6] ^= 0x5a; // VRRP checksum (after the 20-byte IP header)
    for _ in 0..3 {
        send_raw_v4(
            lab.client.name(),
            "eth0",
            packet::MCAST_V4,
            vec![
                wrong_pass.clone(),
                wrong_vrid.clone(),
                ttl_254.clone(),
                bad_sum.clone(),
            ],
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // Priority 254 adverts would have made us BACKUP had any been accepted.
    holds_for(Duration::from_secs(2), || only(&lab, VIP4, 0, &[0]))
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&d])));
    let log = d.log_text();
    assert!(
        !log.lines()
            .any(|l| l.ends_with("(VI_1) Entering BACKUP STATE")),
        "state changed:\n{log}"
    );
    assert!(log.contains("(VI_1) received an invalid passwd!"), "{log}");
    assert!(
        log.contains("(VI_1) invalid TTL/HL. Received 254 and expect 255"),
        "{log}"
    );
    assert!(log.contains("(VI_1) Invalid VRRPv2 checksum"), "{log}");

    // The counters, from the USR1 dump.
    let data = std::path::Path::new("/tmp/keepalived.data");
    let _ = std::fs::remove_file(data);
    d.signal_vrrp(Signal::SIGUSR1);
    assert!(
        wait_until(Duration::from_secs(3), || data.exists()),
        "no USR1 dump"
    );
    std::thread::sleep(Duration::from_millis(100));
    let dump = std::fs::read_to_string(data).expect("dump");
    let _ = std::fs::remove_file(data);
    for line in [
        "Discarded bad_password = 3",
        "Discarded bad_ttl = 3",
        "Discarded bad_checksum = 3",
        "Discarded vrid_mismatch = 3",
        "State = MASTER",
    ] {
        assert!(dump.contains(line), "dump lacks {line:?}:\n{dump}");
    }

    // Control: the same sender with a valid advert does move us to BACKUP.
    send_raw_v4(
        lab.client.name(),
        "eth0",
        packet::MCAST_V4,
        vec![datagram(&advert(51, 254, &good), 255)],
    );
    assert!(
        wait_until(Duration::from_secs(2), || lab.holders(VIP4).is_empty()),
        "a valid higher-priority advert was not accepted\n{}",
        logs(&[&d])
    );
}

// ===== reload and notifications =====

#[test]
fn sighup_reload_keeps_state_and_vips_of_unchanged_instances() {
    let _s = serial();
    if !gate("sighup_reload_keeps_state_and_vips_of_unchanged_instances") {
        return;
    }
    let lab = Lab::new("hup", 2, 1).expect("lab");
    let vi = |name: &'static str, vrid: u8, prio: u8, vips: &[&str]| {
        let mut v = Vi::v2(prio);
        v.name = name;
        v.vrid = vrid;
        v.vips = vips.iter().map(|s| s.to_string()).collect();
        v.text()
    };
    let k = conf(
        "",
        &(vi("VI_1", 51, 100, &["198.51.100.250/24"])
            + &vi("VI_2", 52, 100, &["198.51.100.251/24"])),
    );
    let first = conf(
        "",
        &(vi("VI_1", 51, 150, &["198.51.100.250/24"])
            + &vi("VI_2", 52, 150, &["198.51.100.251/24"])),
    );
    let d_k = start(&lab, Kind::Keepalived, 1, &k);
    let d_o = start(&lab, Kind::Ours, 0, &first);
    let ds = [&d_o, &d_k];
    await_only(
        &lab,
        "198.51.100.250",
        0,
        &[0, 1],
        Duration::from_secs(10),
        &ds,
    );
    await_only(
        &lab,
        "198.51.100.251",
        0,
        &[0, 1],
        Duration::from_secs(3),
        &ds,
    );
    let before = d_o.log_text().matches("Entering").count();

    // Reload 1: VI_1 unchanged, VI_2 gets a higher priority and one more VIP.
    // `Lab::start` wrote the config to a file named after the daemon; rewrite that file.
    let conf_file = lab.dir.path().join(format!("{}.conf", d_o.name));
    std::fs::write(
        &conf_file,
        conf(
            "",
            &(vi("VI_1", 51, 150, &["198.51.100.250/24"])
                + &vi("VI_2", 52, 160, &["198.51.100.251/24", "198.51.100.252/24"])),
        ),
    )
    .expect("rewrite config");
    d_o.signal_vrrp(Signal::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(5), || lab.holds(0, "198.51.100.252")),
        "new VIP not added on reload\n{}",
        logs(&ds)
    );
    holds_for(Duration::from_secs(3), || {
        only(&lab, "198.51.100.250", 0, &[0, 1])?;
        only(&lab, "198.51.100.251", 0, &[0, 1])
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&ds)));
    let log = d_o.log_text();
    assert_eq!(
        log.matches("Entering").count(),
        before,
        "a state changed on reload:\n{}",
        logs(&ds)
    );
    assert!(!log.contains("sent 0 priority"), "{}", logs(&ds));
    assert!(
        !d_k.log_text().contains("Entering MASTER STATE"),
        "{}",
        logs(&ds)
    );

    // Reload 2: VI_2 removed: its VIPs go, keepalived's VI_2 takes over; VI_1 stays.
    std::fs::write(
        &conf_file,
        conf("", &vi("VI_1", 51, 150, &["198.51.100.250/24"])),
    )
    .expect("rewrite config");
    d_o.signal_vrrp(Signal::SIGHUP);
    await_only(
        &lab,
        "198.51.100.251",
        1,
        &[0, 1],
        Duration::from_secs(5),
        &ds,
    );
    assert!(
        !lab.holds(0, "198.51.100.252"),
        "removed instance's VIP left behind"
    );
    holds_for(Duration::from_secs(2), || {
        only(&lab, "198.51.100.250", 0, &[0, 1])
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&ds)));
}

/// A second instance held in FAULT by a failing track script (for the reload FIFO test).
fn faulty_instance() -> String {
    let mut v = Vi::v2(110);
    v.name = "VI_2";
    v.vrid = 52;
    v.vips = vec!["198.51.100.252/24".to_string()];
    v.extra = "    track_script {\n        chk_false\n    }".to_string();
    format!(
        "vrrp_script chk_false {{\n    script /bin/false\n    interval 1\n}}\n{}",
        v.text()
    )
}

/// Runs one router alone with notify scripts and a FIFO; returns (script lines, FIFO lines).
/// With `reload`, `fifo_write_vrrp_states_on_reload` is set and the router is sent SIGHUP
/// once it is master.
fn notify_run(kind: Kind, tag: &str, reload: bool) -> (Vec<String>, Vec<String>) {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let lab = Lab::new(tag, 1, 1).expect("lab");
    let dir = lab.dir.path();
    let out = dir.join("notify.out");
    let script = dir.join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let fifo = dir.join("vrrp.fifo");
    let mut vi = Vi::v2(120);
    vi.extra = format!(
        "    notify {}\n    notify_master \"{} MASTER-ONLY\"",
        script.display(),
        script.display()
    );
    let text = conf(
        &format!(
            "    enable_script_security\n    script_user root\n    vrrp_notify_fifo {}{}",
            fifo.display(),
            if reload {
                "\n    fifo_write_vrrp_states_on_reload"
            } else {
                ""
            }
        ),
        &(vi.text()
            + &if reload {
                faulty_instance()
            } else {
                String::new()
            }),
    );
    // With a reload, read through one descriptor opened before the daemon starts: a daemon
    // that reopens its FIFO on reload would otherwise drop what was buffered.
    let early_reader = reload.then(|| {
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644))
            .expect("mkfifo");
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .expect("open fifo")
    });
    let mut d = start(&lab, kind, 0, &text);
    await_only(&lab, VIP4, 0, &[0], Duration::from_secs(8), &[&d]);
    std::thread::sleep(Duration::from_millis(500));
    if reload {
        // keepalived's parent passes HUP on to its VRRP child.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.main_pid()), Signal::SIGHUP);
        std::thread::sleep(Duration::from_millis(1500));
    }
    let mut fifo_text = String::new();
    if let Some(mut f) = early_reader.or_else(|| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .ok()
    }) {
        let mut buf = [0u8; 4096];
        if let Ok(n) = f.read(&mut buf) {
            fifo_text = String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    }
    assert!(d.sigterm(), "daemon did not stop");
    std::thread::sleep(Duration::from_millis(500));
    let lines = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    (lines, fifo_text.lines().map(str::to_string).collect())
}

#[test]
fn notify_scripts_and_fifo_match_keepalived() {
    let _s = serial();
    if !gate("notify_scripts_and_fifo_match_keepalived") {
        return;
    }
    let (ours_lines, ours_fifo) = notify_run(Kind::Ours, "nto", false);
    let (ka_lines, ka_fifo) = notify_run(Kind::Keepalived, "ntk", false);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(ours_lines.clone()),
        sorted(ka_lines.clone()),
        "notify script calls differ: ours {ours_lines:?}, keepalived {ka_lines:?}"
    );
    assert_eq!(ours_fifo, ka_fifo, "FIFO lines differ");
    for want in [
        "INSTANCE VI_1 BACKUP 120",
        "INSTANCE VI_1 MASTER 120",
        "INSTANCE VI_1 STOP 120",
        "MASTER-ONLY",
    ] {
        assert!(
            ours_lines.iter().any(|l| l == want),
            "{want:?} not in {ours_lines:?}"
        );
    }
    assert_eq!(
        ours_fifo,
        [
            "INSTANCE \"VI_1\" BACKUP 120",
            "INSTANCE \"VI_1\" MASTER 120"
        ],
        "FIFO lines"
    );
}

/// `fifo_write_vrrp_states_on_reload`: after SIGHUP an instance whose state the reload did
/// not change writes it to the FIFO again - except a master, which keepalived 2.2.7
/// (`vrrp_init_state`) takes straight back to MASTER without a FIFO line.
#[test]
fn fifo_states_on_reload_match_keepalived() {
    let _s = serial();
    if !gate("fifo_states_on_reload_match_keepalived") {
        return;
    }
    let (_, ours_fifo) = notify_run(Kind::Ours, "nro", true);
    let (_, ka_fifo) = notify_run(Kind::Keepalived, "nrk", true);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(ours_fifo.clone()),
        sorted(ka_fifo.clone()),
        "FIFO lines differ: ours {ours_fifo:?}, keepalived {ka_fifo:?}"
    );
    let count = |line: &str| ours_fifo.iter().filter(|l| *l == line).count();
    assert_eq!(count("INSTANCE \"VI_2\" FAULT 110"), 2, "{ours_fifo:?}");
    assert_eq!(count("INSTANCE \"VI_1\" MASTER 120"), 1, "{ours_fifo:?}");
}
