//! The desired IPVS table built from configurations (no kernel needed; the VM tests in
//! `ipvs_vm.rs` check the same tables against keepalived in a real kernel).

use std::net::IpAddr;

use keepalived_rs::config::{self, LoadOptions};
use keepalived_rs::ipvs::desired::{
    self, DestKey, Family, Flags, Fwd, Protocol, ServiceKey, TunCsum, TunType,
};

fn table_of(text: &str) -> desired::DesiredTable {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("k.conf");
    std::fs::write(&p, text).expect("write");
    let mut o = LoadOptions::new(&p);
    o.check_interfaces = false;
    desired::from_config(&config::load(&o).config)
}

fn addr(protocol: Protocol, a: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol,
        addr: a.parse().expect("addr"),
        port,
    }
}

fn dk(a: &str, port: u16) -> DestKey {
    DestKey {
        addr: a.parse::<IpAddr>().expect("addr"),
        port,
    }
}

#[test]
fn group_ranges_and_fwmarks_expand_and_drop_granularity() {
    let t = table_of(
        "virtual_server_group G {\n 10.0.0.1-3 80\n fwmark 5\n}\n\
         virtual_server group G {\n protocol TCP\n lvs_sched rr\n lvs_method DR\n persistence_timeout 60\n persistence_granularity 255.255.255.0\n\
         real_server 192.168.0.1 80 {\n weight 2\n }\n}\n",
    );
    let keys: Vec<String> = t.services.keys().map(ToString::to_string).collect();
    assert_eq!(
        keys,
        [
            "TCP 10.0.0.1:80",
            "TCP 10.0.0.2:80",
            "TCP 10.0.0.3:80",
            "FWM 5"
        ]
    );
    for s in t.services.values() {
        assert_eq!(
            s.netmask,
            u32::MAX,
            "keepalived resets the granularity of group services"
        );
        assert_eq!(s.flags, Flags(Flags::PERSISTENT));
        assert_eq!(s.timeout, 60);
    }
    // DR destinations take the service's port, 0 behind a fwmark.
    let fwm = &t.services[&ServiceKey::Fwmark {
        family: Family::Inet,
        mark: 5,
    }];
    assert!(fwm.destinations.contains_key(&dk("192.168.0.1", 0)));
}

#[test]
fn flags_granularity_engine_and_ports() {
    let t = table_of(
        "virtual_server 10.0.0.1 5060 {\n protocol UDP\n lvs_sched mh\n mh-port\n sh-port\n ops\n lvs_method NAT\n\
         persistence_granularity 255.255.0.0\n persistence_engine sip\n\
         real_server 192.168.0.1 {\n weight 1\n uthreshold 9\n lthreshold 3\n }\n\
         real_server 192.168.0.2 5070 {\n lvs_method TUN type gue port 6080 csum\n }\n\
         sorry_server 192.168.0.9 5060\n}\n",
    );
    let s = &t.services[&addr(Protocol::Udp, "10.0.0.1", 5060)];
    // sh-port is ignored under mh; persistence defaults to 360 s with a granularity.
    assert_eq!(
        s.flags,
        Flags(Flags::PERSISTENT | Flags::MH_PORT | Flags::ONEPACKET)
    );
    assert_eq!(
        (s.timeout, s.netmask, s.pe_name.as_deref()),
        (360, 0xffff_0000, Some("sip"))
    );
    // NAT with no port takes the service's; non-NAT takes the service's port.
    let d1 = s.destinations[&dk("192.168.0.1", 5060)];
    assert_eq!((d1.fwd, d1.u_threshold, d1.l_threshold), (Fwd::Masq, 9, 3));
    let d2 = s.destinations[&dk("192.168.0.2", 5060)];
    assert_eq!(
        d2.fwd,
        Fwd::Tunnel {
            tun_type: TunType::Gue,
            port: 6080,
            csum: TunCsum::Csum
        }
    );
    // The sorry server only enters when quorum is lost.
    assert_eq!(s.destinations.len(), 2);
}

/// keepalived's `lvs_method` and scheduler-flag quirks (check_parser.c
/// `svr_forwarding_handler`, `lbflags_handler`; seen in the VM with keepalived 2.2.7,
/// `tests/vm/configs/ipvs-features-3.conf`):
/// - an invalid tunnel option still switches the server to TUN, with the tunnel type, port
///   and checksum it had before the line (a real server starts with its virtual server's);
/// - `sh-port` is refused when read before `lvs_sched sh`, and `mh-*` under `sh` is dropped.
#[test]
fn invalid_tunnel_options_and_flag_order_follow_keepalived() {
    let t = table_of(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n sh-port\n lvs_sched sh\n sh-fallback\n mh-port\n\
         lvs_method TUN type gue port 6080 csum\n\
         real_server 192.168.0.1 80 {\n lvs_method TUN type gre remcsum\n }\n\
         real_server 192.168.0.2 80 {\n lvs_method TUN type gue\n }\n\
         real_server 192.168.0.3 80 {\n lvs_method TUN type ipip csum\n }\n\
         real_server 192.168.0.4 80 {\n lvs_method TUN type gre csum\n }\n}\n\
         virtual_server 10.0.0.2 80 {\n protocol TCP\n lvs_method NAT\n\
         real_server 192.168.0.5 80 {\n lvs_method TUN port 6080\n }\n\
         real_server 192.168.0.6 80 {\n lvs_method TUN type bogus\n }\n\
         real_server 192.168.0.7 80 {\n lvs_method BOGUS\n }\n}\n",
    );
    let s = &t.services[&addr(Protocol::Tcp, "10.0.0.1", 80)];
    assert_eq!(s.flags, Flags(Flags::SH_FALLBACK), "sh-port came too early");
    let gue = Fwd::Tunnel {
        tun_type: TunType::Gue,
        port: 6080,
        csum: TunCsum::Csum,
    };
    for rs in ["192.168.0.1", "192.168.0.2", "192.168.0.3"] {
        assert_eq!(
            s.destinations[&dk(rs, 80)].fwd,
            gue,
            "{rs} keeps the VS's tunnel"
        );
    }
    assert_eq!(
        s.destinations[&dk("192.168.0.4", 80)].fwd,
        Fwd::Tunnel {
            tun_type: TunType::Gre,
            port: 0,
            csum: TunCsum::Csum
        }
    );
    let s = &t.services[&addr(Protocol::Tcp, "10.0.0.2", 80)];
    let ipip = Fwd::Tunnel {
        tun_type: TunType::Ipip,
        port: 0,
        csum: TunCsum::NoCsum,
    };
    for rs in ["192.168.0.5", "192.168.0.6"] {
        assert_eq!(
            s.destinations[&dk(rs, 80)].fwd,
            ipip,
            "{rs}: TUN, default tunnel"
        );
    }
    assert_eq!(s.destinations[&dk("192.168.0.7", 80)].fwd, Fwd::Masq);
}

#[test]
fn every_sample_with_virtual_servers_builds_a_table() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("samples") {
        let p = e.expect("entry").path();
        if p.extension().and_then(|x| x.to_str()) != Some("conf") {
            continue;
        }
        let mut o = LoadOptions::new(&p);
        o.check_interfaces = false;
        let cfg = config::load(&o).config;
        let t = desired::from_config(&cfg);
        assert_eq!(
            t.services.is_empty(),
            cfg.virtual_servers.is_empty(),
            "{}",
            p.display()
        );
        n += usize::from(!t.services.is_empty());
    }
    assert!(n >= 5);
}
