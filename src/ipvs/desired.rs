//! The desired IPVS table: what keepalived-rs wants the kernel to hold.
//!
//! [`from_config`] builds the table keepalived 2.2 programs when **every real server is up**
//! (keepalived's `ipvswrapper.c` `ipvs_set_srule`/`ipvs_set_drule` and `ipvs_group_cmd`, with the
//! real-server port fix-ups of `check_data.c` `validate_check_config`):
//!
//! - `virtual_server IP PORT` gives one service; `virtual_server fwmark N` one fwmark service;
//!   `virtual_server group NAME` one service per address of every range (`10.0.0.1-4 80` is four
//!   services) and one fwmark service per `fwmark N [inet|inet6]` entry.
//! - The service family is `ip_family`, else the address's, else that of the first real server
//!   not forwarded by TUN, else (fwmark) that of the tunnelled real servers, else inet.
//! - `persistence_timeout` sets the PERSISTENT flag and timeout; `persistence_granularity` the
//!   netmask (and persistence 360 s if no timeout is written); `persistence_engine` is only sent
//!   with persistence. The services of a `virtual_server_group` always get the full netmask
//!   (keepalived's `ipvs_group_range_cmd` and `ipvs_group_cmd` reset it: a quirk kept so the
//!   tables are identical).
//! - `ops`, `flag-1..3` set ONEPACKET and SCHED1..3; `sh-port`/`sh-fallback` only with the `sh`
//!   scheduler, `mh-port`/`mh-fallback` only with `mh`; `hashed` sets nothing (the kernel sets
//!   HASHED on every service it holds).
//! - Real-server ports: a non-NAT real server of an address service uses the service's port; of a
//!   fwmark service, port 0; a NAT real server with port 0 uses the service's port (address
//!   services only).
//!
//! # Deriving the live table (for the health-check layer)
//!
//! The live table starts from [`from_config`] with the health of each real server applied, per
//! service key of its virtual server (see [`vs_services`], [`real_server_dest`] and
//! [`sorry_server_dest`] to build one virtual server's share):
//!
//! - a real server that is **down** is removed from every service of its virtual server, or,
//!   with `inhibit_on_failure`, kept with **weight 0**; `alpha` means real servers start down;
//! - a real server's **weight** follows its checkers (MISC_CHECK dynamic weights, FILE_CHECK):
//!   change [`Dest::weight`];
//! - when the sum of the weights of live real servers drops below `quorum - hysteresis`, and a
//!   `sorry_server` is configured, the sorry server is **inserted** (and, unless `omega`, it
//!   replaces nothing: the remaining real servers stay); with `sorry_server_inhibit` it is
//!   inserted at weight 0 while quorum holds and raised to weight 1 when quorum is lost; when the
//!   weight sum rises to `quorum + hysteresis` it is removed again;
//! - a virtual server whose services would be left empty keeps its services (keepalived removes
//!   a service only when the virtual server leaves the configuration).
//!
//! Then hand the table to [`super::Ipvs::apply`]; the planner changes only the difference.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::model::{self, Config, Forwarding, VirtualServer, VsAddress, VsGroupEntry};

/// Address family of a service or destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Inet,
    Inet6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }

    /// `AF_INET` / `AF_INET6`.
    pub fn af(self) -> u16 {
        match self {
            Family::Inet => 2,
            Family::Inet6 => 10,
        }
    }

    pub fn from_af(af: u16) -> Option<Self> {
        match af {
            2 => Some(Family::Inet),
            10 => Some(Family::Inet6),
            _ => None,
        }
    }

    /// The netmask the kernel stores when no granularity is given (`0xffffffff` or `/128`).
    pub fn full_netmask(self) -> u32 {
        match self {
            Family::Inet => u32::MAX,
            Family::Inet6 => 128,
        }
    }
}

/// The transport protocol of an address service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The IP protocol number (`IPPROTO_*`).
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    pub fn from_number(n: u16) -> Option<Self> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

impl From<model::Protocol> for Protocol {
    fn from(p: model::Protocol) -> Self {
        match p {
            model::Protocol::Tcp => Protocol::Tcp,
            model::Protocol::Udp => Protocol::Udp,
            model::Protocol::Sctp => Protocol::Sctp,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// What identifies a service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKey {
    Addr {
        protocol: Protocol,
        addr: IpAddr,
        port: u16,
    },
    Fwmark {
        family: Family,
        mark: u32,
    },
}

impl ServiceKey {
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

/// ipvsadm's way of naming a service: `TCP 10.0.0.1:80`, `FWM 1 IPv6`.
impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                protocol,
                addr: IpAddr::V4(a),
                port,
            } => write!(f, "{protocol} {a}:{port}"),
            ServiceKey::Addr {
                protocol,
                addr: IpAddr::V6(a),
                port,
            } => write!(f, "{protocol} [{a}]:{port}"),
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark,
            } => write!(f, "FWM {mark}"),
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark,
            } => write!(f, "FWM {mark} IPv6"),
        }
    }
}

/// Service flags (`IP_VS_SVC_F_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Flags(pub u32);

impl Flags {
    pub const PERSISTENT: u32 = 0x0001;
    /// Set by the kernel on every service it holds; never compared.
    pub const HASHED: u32 = 0x0002;
    pub const ONEPACKET: u32 = 0x0004;
    pub const SCHED1: u32 = 0x0008;
    pub const SCHED2: u32 = 0x0010;
    pub const SCHED3: u32 = 0x0020;
    pub const SH_FALLBACK: u32 = Self::SCHED1;
    pub const SH_PORT: u32 = Self::SCHED2;
    pub const MH_FALLBACK: u32 = Self::SCHED1;
    pub const MH_PORT: u32 = Self::SCHED2;

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// The flags that describe configuration (everything but HASHED).
    pub fn configured(self) -> Flags {
        Flags(self.0 & !Self::HASHED)
    }
}

/// One virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Scheduler name (`rr`, `wlc`, `mh`, ...), at most 15 bytes.
    pub scheduler: String,
    pub flags: Flags,
    /// Persistence timeout in seconds (0 unless PERSISTENT).
    pub timeout: u32,
    /// Persistence granularity: for inet the mask as a host-order number (`0xffffff00` is
    /// 255.255.255.0), for inet6 a prefix length. [`Family::full_netmask`] when not given.
    pub netmask: u32,
    /// Persistence engine (`sip`), only with persistence.
    pub pe_name: Option<String>,
    pub destinations: BTreeMap<DestKey, Dest>,
}

/// What identifies a destination within its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// Tunnel encapsulation (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunType {
    #[default]
    Ipip,
    Gue,
    Gre,
}

impl TunType {
    pub fn number(self) -> u8 {
        match self {
            TunType::Ipip => 0,
            TunType::Gue => 1,
            TunType::Gre => 2,
        }
    }

    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(TunType::Ipip),
            1 => Some(TunType::Gue),
            2 => Some(TunType::Gre),
            _ => None,
        }
    }
}

/// Tunnel checksum flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunCsum {
    #[default]
    NoCsum,
    Csum,
    RemCsum,
}

impl TunCsum {
    pub fn bits(self) -> u16 {
        match self {
            TunCsum::NoCsum => 0,
            TunCsum::Csum => 1,
            TunCsum::RemCsum => 2,
        }
    }

    pub fn from_bits(b: u16) -> Self {
        if b & 2 != 0 {
            TunCsum::RemCsum
        } else if b & 1 != 0 {
            TunCsum::Csum
        } else {
            TunCsum::NoCsum
        }
    }
}

/// Forwarding method (`IP_VS_CONN_F_FWD_MASK` part of the connection flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fwd {
    /// NAT (`-m`).
    Masq,
    /// Direct routing (`-g`).
    DirectRoute,
    /// Tunnelling (`-i`); `port` is the GUE port (0 otherwise).
    Tunnel {
        tun_type: TunType,
        port: u16,
        csum: TunCsum,
    },
    /// The kernel's LOCALNODE / BYPASS methods: never configured, only seen in dumps.
    Other(u32),
}

impl Fwd {
    /// The `IPVS_DEST_ATTR_FWD_METHOD` value.
    pub fn method(self) -> u32 {
        match self {
            Fwd::Masq => 0,
            Fwd::Tunnel { .. } => 2,
            Fwd::DirectRoute => 3,
            Fwd::Other(m) => m,
        }
    }

    pub fn from_config(f: &Forwarding) -> Self {
        match f {
            Forwarding::Nat => Fwd::Masq,
            Forwarding::Dr => Fwd::DirectRoute,
            Forwarding::Tun { kind, port, csum } => Fwd::Tunnel {
                tun_type: match kind {
                    None | Some(model::TunType::Ipip) => TunType::Ipip,
                    Some(model::TunType::Gue) => TunType::Gue,
                    Some(model::TunType::Gre) => TunType::Gre,
                },
                port: port.unwrap_or(0),
                csum: match csum {
                    None | Some(model::TunCsum::NoCsum) => TunCsum::NoCsum,
                    Some(model::TunCsum::Csum) => TunCsum::Csum,
                    Some(model::TunCsum::RemCsum) => TunCsum::RemCsum,
                },
            },
        }
    }
}

/// One real server in one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    pub fwd: Fwd,
    /// 0 quiesces the destination (no new connections).
    pub weight: i32,
    pub u_threshold: u32,
    pub l_threshold: u32,
}

/// The whole desired table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredTable {
    pub services: BTreeMap<ServiceKey, Service>,
}

impl DesiredTable {
    /// Number of destinations over all services.
    pub fn dest_count(&self) -> usize {
        self.services.values().map(|s| s.destinations.len()).sum()
    }
}

/// The table keepalived programs for `cfg` when every real server is up (sorry servers are not
/// in it; see the module documentation for how health changes it).
pub fn from_config(cfg: &Config) -> DesiredTable {
    let mut t = DesiredTable::default();
    for vs in &cfg.virtual_servers {
        for (key, mut svc) in vs_services(cfg, vs) {
            for rs in &vs.real_servers {
                let (dk, d) = real_server_dest(vs, &key, rs, rs.weight);
                svc.destinations.insert(dk, d);
            }
            // Two virtual servers naming the same service: keepalived would fail the second
            // NEW_SERVICE and add its real servers to the first; merge likewise.
            match t.services.entry(key) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(svc);
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    for (dk, d) in svc.destinations {
                        e.get_mut().destinations.entry(dk).or_insert(d);
                    }
                }
            }
        }
    }
    t
}

/// The family keepalived gives a virtual server (`vs->af` after `vs_end_handler`).
pub fn vs_family(cfg: &Config, vs: &VirtualServer) -> Option<Family> {
    match vs.ip_family {
        model::Family::Inet => return Some(Family::Inet),
        model::Family::Inet6 => return Some(Family::Inet6),
        model::Family::Unspecified => {}
    }
    if let VsAddress::Ip { addr, .. } = &vs.address {
        return Some(Family::of(addr));
    }
    let is_tun = |f: Option<&Forwarding>| matches!(f, Some(Forwarding::Tun { .. }));
    let non_tun = vs
        .real_servers
        .iter()
        .find(|rs| !is_tun(rs.forwarding.as_ref().or(Some(&vs.forwarding))))
        .map(|rs| Family::of(&rs.addr));
    let sorry = vs
        .sorry_server
        .filter(|_| !is_tun(vs.sorry_server_forwarding.as_ref().or(Some(&vs.forwarding))))
        .map(|(a, _)| Family::of(&a));
    if let Some(f) = sorry.or(non_tun) {
        return Some(f);
    }
    if let VsAddress::Group(g) = &vs.address {
        // ipvs_set_srule: a group with no family takes inet if it has any IPv4 range.
        let g = cfg.vs_groups.iter().find(|x| &x.name == g)?;
        let mut ranges = g.entries.iter().filter_map(|(e, _)| match e {
            VsGroupEntry::Range { first, .. } => Some(Family::of(first)),
            VsGroupEntry::Fwmark { .. } => None,
        });
        let first = ranges.next()?;
        return Some(
            if first == Family::Inet || ranges.any(|f| f == Family::Inet) {
                Family::Inet
            } else {
                Family::Inet6
            },
        );
    }
    // A fwmark service whose real servers are all tunnelled: their common family, else inet.
    let mut fams = vs.real_servers.iter().map(|rs| Family::of(&rs.addr));
    let first = fams.next().unwrap_or(Family::Inet);
    Some(if fams.all(|f| f == first) {
        first
    } else {
        Family::Inet
    })
}

/// The services one virtual server expands to, with no destinations yet.
pub fn vs_services(cfg: &Config, vs: &VirtualServer) -> Vec<(ServiceKey, Service)> {
    let family = vs_family(cfg, vs);
    let protocol = Protocol::from(vs.protocol);
    let template = |fam: Family, in_group: bool| -> Service {
        let mut flags = sched_flags(vs);
        let mut timeout = 0;
        let mut netmask = fam.full_netmask();
        let mut pe_name = None;
        let persistence = vs
            .persistence_timeout
            .or(vs.persistence_granularity.as_ref().map(|_| 360));
        if let Some(t) = persistence {
            flags.0 |= Flags::PERSISTENT;
            timeout = t;
            if let Some(g) = &vs.persistence_granularity {
                netmask = granularity(g, fam).unwrap_or(netmask);
            }
            pe_name = vs.persistence_engine.clone();
        }
        if in_group {
            netmask = fam.full_netmask();
        }
        Service {
            scheduler: vs.scheduler.clone(),
            flags,
            timeout,
            netmask,
            pe_name,
            destinations: BTreeMap::new(),
        }
    };
    let mut out = Vec::new();
    match &vs.address {
        VsAddress::Ip { addr, port } => {
            let key = ServiceKey::Addr {
                protocol,
                addr: *addr,
                port: *port,
            };
            out.push((key, template(Family::of(addr), false)));
        }
        VsAddress::Fwmark { mark, family: f } => {
            let fam = match f {
                model::Family::Inet => Family::Inet,
                model::Family::Inet6 => Family::Inet6,
                model::Family::Unspecified => family.unwrap_or(Family::Inet),
            };
            let key = ServiceKey::Fwmark {
                family: fam,
                mark: *mark,
            };
            out.push((key, template(fam, false)));
        }
        VsAddress::Group(name) => {
            let Some(g) = cfg.vs_groups.iter().find(|x| &x.name == name) else {
                return out;
            };
            for (e, _) in &g.entries {
                if let VsGroupEntry::Range { first, last, port } = e {
                    for addr in range(*first, *last) {
                        let key = ServiceKey::Addr {
                            protocol,
                            addr,
                            port: *port,
                        };
                        out.push((key, template(Family::of(&addr), true)));
                    }
                }
            }
            for (e, _) in &g.entries {
                if let VsGroupEntry::Fwmark { mark, family: f } = e {
                    let fam = match f {
                        model::Family::Inet => Family::Inet,
                        model::Family::Inet6 => Family::Inet6,
                        model::Family::Unspecified => family.unwrap_or(Family::Inet),
                    };
                    let key = ServiceKey::Fwmark {
                        family: fam,
                        mark: *mark,
                    };
                    out.push((key, template(fam, true)));
                }
            }
        }
    }
    out
}

/// The destination a real server becomes in the service `key` of its virtual server, at
/// `weight` (the configured `rs.weight` when healthy; 0 when inhibited).
pub fn real_server_dest(
    vs: &VirtualServer,
    key: &ServiceKey,
    rs: &model::RealServer,
    weight: i32,
) -> (DestKey, Dest) {
    let fwd = Fwd::from_config(rs.forwarding.as_ref().unwrap_or(&vs.forwarding));
    let dk = DestKey {
        addr: rs.addr,
        port: dest_port(vs, key, fwd, rs.port),
    };
    let d = Dest {
        fwd,
        weight,
        u_threshold: rs.uthreshold.unwrap_or(0),
        l_threshold: rs.lthreshold.unwrap_or(0),
    };
    (dk, d)
}

/// The sorry server's destination in the service `key`, at weight 1 (keepalived's weight for
/// a sorry server; 0 while `sorry_server_inhibit` holds it quiesced).
pub fn sorry_server_dest(vs: &VirtualServer, key: &ServiceKey) -> Option<(DestKey, Dest)> {
    let (addr, port) = vs.sorry_server?;
    let fwd = Fwd::from_config(
        vs.sorry_server_forwarding
            .as_ref()
            .unwrap_or(&vs.forwarding),
    );
    let dk = DestKey {
        addr,
        port: dest_port(vs, key, fwd, port),
    };
    Some((
        dk,
        Dest {
            fwd,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        },
    ))
}

/// keepalived's port rules: non-NAT destinations take the service's port (0 for fwmark); NAT
/// ones keep theirs, except that a port 0 behind a lone address service takes the service's.
fn dest_port(vs: &VirtualServer, key: &ServiceKey, fwd: Fwd, rs_port: u16) -> u16 {
    let svc_port = match key {
        ServiceKey::Addr { port, .. } => *port,
        ServiceKey::Fwmark { .. } => 0,
    };
    let in_group = matches!(vs.address, VsAddress::Group(_));
    if fwd != Fwd::Masq || (rs_port == 0 && !in_group) {
        svc_port
    } else {
        rs_port
    }
}

fn sched_flags(vs: &VirtualServer) -> Flags {
    let mut f = 0;
    for name in &vs.sched_flags {
        // The front end kept only the sh/mh flags keepalived accepts (it checks the
        // scheduler when it reads the flag, not at the end).
        f |= match name.as_str() {
            "ops" => Flags::ONEPACKET,
            "flag-1" => Flags::SCHED1,
            "flag-2" => Flags::SCHED2,
            "flag-3" => Flags::SCHED3,
            "sh-port" => Flags::SH_PORT,
            "sh-fallback" => Flags::SH_FALLBACK,
            "mh-port" => Flags::MH_PORT,
            "mh-fallback" => Flags::MH_FALLBACK,
            _ => 0,
        };
    }
    Flags(f)
}

/// `persistence_granularity`: a dotted mask for inet, a prefix length for inet6.
fn granularity(s: &str, fam: Family) -> Option<u32> {
    match fam {
        Family::Inet => s.parse::<Ipv4Addr>().ok().map(u32::from),
        Family::Inet6 => s
            .parse::<u8>()
            .ok()
            .filter(|p| (1..=128).contains(p))
            .map(u32::from),
    }
}

/// The addresses of a group range, `first..=last` (the range varies one octet or hextet, so it
/// holds at most 65,536 addresses).
fn range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a)..=u32::from(b).max(u32::from(a)))
            .take(1 << 16)
            .map(|n| IpAddr::V4(Ipv4Addr::from(n)))
            .collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b).max(u128::from(a)));
            (0..=(b - a).min(u128::from(u16::MAX)))
                .map(|i| IpAddr::V6(Ipv6Addr::from(a + i)))
                .collect()
        }
        _ => vec![first],
    }
}
