//! Adverts captured from the real keepalived 2.2.7 (tests/vectors/*.hex, made by
//! tests/vectors/capture.sh): each must validate against the configuration it was sent with and
//! re-encode to the same bytes. Needs no privileges: it only reads the files.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use keepalived_rs::config::model::{Centis, Priority, Vrid};
use keepalived_rs::vrrp::auth::{self, AhKey, AuthConfig};
use keepalived_rs::vrrp::packet::{
    AhSeal, Auth, ChecksumForm, Discard, Expect, IPPROTO_AH, IPPROTO_VRRP, Ipv4Tx, Ipv6Meta, Peer,
    Received, UnicastRx, V3Checksum, VRRP_TOS, VRRP_TTL, Version, WireState, encode_ipv4,
    parse_ipv4, parse_ipv6,
};

/// One vector file: the `# expect:` settings and the packets.
struct Vector {
    name: String,
    expect: HashMap<String, String>,
    packets: Vec<Vec<u8>>,
}

fn load(name: &str) -> Vector {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(format!("{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut expect = HashMap::new();
    let mut packets = Vec::new();
    for line in text.lines() {
        if let Some(kv) = line.strip_prefix("# expect:") {
            for pair in kv.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("key=value");
                expect.insert(k.to_owned(), v.to_owned());
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let line = line.trim();
            let bytes = (0..line.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&line[i..i + 2], 16).expect("hex"))
                .collect();
            packets.push(bytes);
        }
    }
    assert!(!expect.is_empty(), "{name}: no `# expect:` line");
    assert!(packets.len() >= 2, "{name}: too few packets captured");
    Vector {
        name: name.to_owned(),
        expect,
        packets,
    }
}

/// The instance configuration a vector was captured with.
struct Config {
    family: u8,
    version: Version,
    vrid: Vrid,
    priority: Priority,
    adver_int: Centis,
    auth: AuthConfig,
    addrs: Vec<IpAddr>,
    unicast: bool,
    checksum: V3Checksum,
}

impl Vector {
    fn get(&self, k: &str) -> &str {
        self.expect
            .get(k)
            .unwrap_or_else(|| panic!("{}: no {k}=", self.name))
    }

    fn config(&self) -> Config {
        let auth = match self.get("auth").split_once(':') {
            None => AuthConfig::None,
            Some(("pass", pw)) => AuthConfig::Pass(auth::pad8(pw.as_bytes())),
            Some(("ah", key)) => AuthConfig::Ah(AhKey::new(key.as_bytes())),
            Some(other) => panic!("auth {other:?}"),
        };
        Config {
            family: self.get("family").parse().unwrap(),
            version: match self.get("version") {
                "2" => Version::V2,
                "3" => Version::V3,
                v => panic!("version {v}"),
            },
            vrid: Vrid(self.get("vrid").parse().unwrap()),
            priority: Priority(self.get("priority").parse().unwrap()),
            adver_int: Centis(self.get("advert_int").parse().unwrap()),
            auth,
            addrs: self
                .get("addrs")
                .split(',')
                .map(|a| a.parse().unwrap())
                .collect(),
            unicast: self.get("unicast") == "yes",
            checksum: match self.expect.get("checksum").map(String::as_str) {
                None | Some("standard") => V3Checksum::Standard,
                Some("old_unicast") => V3Checksum::OldUnicast,
                Some(c) => panic!("checksum {c}"),
            },
        }
    }
}

/// Source address of the capturing peer and of keepalived (see capture.sh).
const KA_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PEER_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// Validates every packet of a vector in order with one instance state (so the AH
/// anti-replay counter follows the stream), checks what keepalived put in the IP header, and
/// re-encodes each advert to the captured bytes.
fn check(name: &str) -> Vec<Received> {
    let v = load(name);
    let cfg = v.config();
    let peers = [Peer::new(match cfg.family {
        4 => IpAddr::V4(KA_V4),
        _ => IpAddr::V6("2001:db8::1".parse().unwrap()),
    })];
    let expect = Expect {
        version: cfg.version,
        vrid: cfg.vrid,
        adver_int: cfg.adver_int,
        auth: cfg.auth,
        addrs: &cfg.addrs,
        check_addrs: true,
        unicast: cfg.unicast.then_some(UnicastRx {
            check_src: true,
            peers: &peers,
        }),
    };
    let mut state = WireState::new(cfg.checksum);
    let mut out = Vec::new();
    for (i, pkt) in v.packets.iter().enumerate() {
        let ctx = format!("{name} packet {i}");
        let r = match cfg.family {
            4 => {
                let p = parse_ipv4(pkt).unwrap_or_else(|d| panic!("{ctx}: {d}"));
                assert_eq!(p.vrid(), cfg.vrid, "{ctx}");
                p.validate(&expect, &mut state)
                    .unwrap_or_else(|d| panic!("{ctx}: {d}"))
            }
            _ => {
                let (hdr, payload) = pkt.split_at(40);
                assert_eq!(hdr[6], IPPROTO_VRRP, "{ctx}: next header");
                let meta = Ipv6Meta {
                    src: Ipv6Addr::from(<[u8; 16]>::try_from(&hdr[8..24]).unwrap()),
                    dst: Ipv6Addr::from(<[u8; 16]>::try_from(&hdr[24..40]).unwrap()),
                    hop_limit: Some(hdr[7]),
                };
                parse_ipv6(payload, meta)
                    .and_then(|p| p.validate(&expect, &mut state))
                    .unwrap_or_else(|d| panic!("{ctx}: {d}"))
            }
        };

        let a = &r.advert;
        assert_eq!(a.version, cfg.version, "{ctx}");
        assert_eq!(a.vrid, cfg.vrid, "{ctx}");
        assert_eq!(a.adver_int, cfg.adver_int, "{ctx}");
        assert_eq!(
            a.addrs, cfg.addrs,
            "{ctx}: addresses in configuration order"
        );
        assert_eq!(a.auth, Auth::from(&cfg.auth), "{ctx}");
        // Every advert carries the configured priority, except the one sent on SIGTERM.
        let last = i == v.packets.len() - 1;
        let want = if last { Priority(0) } else { cfg.priority };
        assert_eq!(a.priority, want, "{ctx}: priority");

        // Re-encode with what keepalived chose for the headers.
        let again = match (r.src, r.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let ip = r.ipv4.unwrap();
                let tx = Ipv4Tx {
                    src,
                    dst,
                    id: ip.id,
                    ttl: ip.ttl,
                };
                let key = match &cfg.auth {
                    AuthConfig::Ah(k) => Some(*k),
                    _ => None,
                };
                let seal = key.as_ref().map(|key| AhSeal {
                    key,
                    seq: r.ah.unwrap().seq,
                    unicast: cfg.unicast,
                });
                encode_ipv4(a, &tx, state.checksum, seal).unwrap()
            }
            (src, dst) => {
                let mut whole = pkt[..40].to_vec();
                whole.extend(a.encode(src, dst, state.checksum).unwrap());
                whole
            }
        };
        assert_eq!(hex(&again), hex(pkt), "{ctx}: re-encoded bytes");
        out.push(r);
    }

    // What keepalived puts around the advert.
    for (i, (pkt, r)) in v.packets.iter().zip(&out).enumerate() {
        let ctx = format!("{name} packet {i}");
        match r.ipv4 {
            Some(ip) => {
                assert_eq!(ip.tos, VRRP_TOS, "{ctx}: TOS");
                assert_eq!(ip.ttl, VRRP_TTL, "{ctx}: TTL (multicast and unicast)");
                assert_eq!(ip.frag, 0, "{ctx}: no DF");
                assert_eq!(ip.id, i as u16 + 1, "{ctx}: id counts from 1");
                let ah = matches!(cfg.auth, AuthConfig::Ah(_));
                assert_eq!(ip.protocol, if ah { IPPROTO_AH } else { IPPROTO_VRRP });
                assert_eq!(ip.src, KA_V4);
                let dst = if cfg.unicast {
                    PEER_V4
                } else {
                    Ipv4Addr::new(224, 0, 0, 18)
                };
                assert_eq!(ip.dst, dst, "{ctx}");
            }
            None => {
                let tclass = ((pkt[0] & 0x0f) << 4) | (pkt[1] >> 4);
                assert_eq!(tclass, VRRP_TOS, "{ctx}: traffic class");
                // keepalived only sets the unicast hop limit when `unicast_ttl` is configured.
                let hops = if cfg.unicast { 64 } else { VRRP_TTL };
                assert_eq!(r.ttl, Some(hops), "{ctx}: hop limit");
            }
        }
        if let Some(ah) = r.ah {
            assert_eq!(ah.seq, i as u32 + 1, "{ctx}: AH sequence counts from 1");
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn keepalived_v2_no_auth() {
    let r = check("v2_none");
    assert!(
        r.iter()
            .all(|r| r.checksum == Some(ChecksumForm::NoPseudoHeader))
    );
}

#[test]
fn keepalived_v2_pass() {
    check("v2_pass");
}

#[test]
fn keepalived_v2_ah() {
    check("v2_ah");
    // Replaying the stream into an instance that has already seen it: every packet is old.
    let v = load("v2_ah");
    let cfg = v.config();
    let e = Expect {
        version: Version::V2,
        vrid: cfg.vrid,
        adver_int: cfg.adver_int,
        auth: cfg.auth,
        addrs: &cfg.addrs,
        check_addrs: true,
        unicast: None,
    };
    let mut st = WireState::default();
    let last = v.packets.last().unwrap();
    parse_ipv4(last).unwrap().validate(&e, &mut st).unwrap();
    let first = parse_ipv4(&v.packets[0]).unwrap().validate(&e, &mut st);
    assert!(matches!(first, Err(Discard::AhReplay { seq: 1, .. })));
    // The wrong key.
    let e = Expect {
        auth: AuthConfig::Ah(AhKey::new(b"ahsecreT")),
        ..e
    };
    let r = parse_ipv4(&v.packets[0])
        .unwrap()
        .validate(&e, &mut WireState::default());
    assert_eq!(r, Err(Discard::AhIcvMismatch));
}

#[test]
fn keepalived_v2_ah_unicast_leaves_ttl_out_of_the_icv() {
    check("v2_ah_unicast");
    // Validated as a multicast instance (TTL in the ICV), the same packets fail.
    let v = load("v2_ah_unicast");
    let cfg = v.config();
    let e = Expect {
        version: Version::V2,
        vrid: cfg.vrid,
        adver_int: cfg.adver_int,
        auth: cfg.auth,
        addrs: &cfg.addrs,
        check_addrs: true,
        unicast: None,
    };
    let r = parse_ipv4(&v.packets[0])
        .unwrap()
        .validate(&e, &mut WireState::default());
    assert_eq!(r, Err(Discard::AhIcvMismatch));
}

#[test]
fn keepalived_v2_unicast() {
    check("v2_unicast");
}

#[test]
fn keepalived_v3_ipv4() {
    let r = check("v3_ipv4");
    assert_eq!(r[0].advert.adver_int, Centis(50));
    assert!(
        r.iter()
            .all(|r| r.checksum == Some(ChecksumForm::PseudoHeader))
    );
}

#[test]
fn keepalived_v3_ipv4_unicast_uses_real_destination() {
    let r = check("v3_ipv4_unicast");
    assert!(
        r.iter()
            .all(|r| r.checksum == Some(ChecksumForm::PseudoHeader))
    );
}

#[test]
fn keepalived_v3_ipv4_old_unicast_checksum() {
    let r = check("v3_ipv4_unicast_old");
    assert!(
        r.iter()
            .all(|r| r.checksum == Some(ChecksumForm::PseudoHeaderGroupDst))
    );

    // A default receiver detects the old form and switches; `never` refuses it.
    let v = load("v3_ipv4_unicast_old");
    let cfg = v.config();
    let e = Expect {
        version: Version::V3,
        vrid: cfg.vrid,
        adver_int: cfg.adver_int,
        auth: AuthConfig::None,
        addrs: &cfg.addrs,
        check_addrs: true,
        unicast: Some(UnicastRx {
            check_src: false,
            peers: &[],
        }),
    };
    let mut st = WireState::new(V3Checksum::Standard);
    let r = parse_ipv4(&v.packets[0])
        .unwrap()
        .validate(&e, &mut st)
        .unwrap();
    assert_eq!(r.checksum, Some(ChecksumForm::PseudoHeaderGroupDst));
    assert_eq!(st.checksum, V3Checksum::OldUnicastDetected);
    let mut st = WireState::new(V3Checksum::StandardNoDetect);
    let r = parse_ipv4(&v.packets[0]).unwrap().validate(&e, &mut st);
    assert_eq!(r, Err(Discard::BadChecksum { version: 3 }));
}

#[test]
fn keepalived_v3_ipv6() {
    let r = check("v3_ipv6");
    assert_eq!(r[0].src, "fe80::a".parse::<IpAddr>().unwrap());
}

#[test]
fn keepalived_v3_ipv6_unicast() {
    check("v3_ipv6_unicast");
}

#[test]
fn keepalived_v2_over_ipv6() {
    check("v2_ipv6");
}
