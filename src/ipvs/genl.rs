//! The IPVS generic-netlink wire layer (family `"IPVS"`, version 1; `include/uapi/linux/ip_vs.h`).
//!
//! Messages are built and parsed with neli's types (`Nlmsghdr`, `Genlmsghdr`, `Nlattr`). The
//! socket is a plain `socket2` netlink socket so that every receive has a timeout
//! (`SO_RCVTIMEO`) and so that commands can be **pipelined**: up to [`BATCH`] requests go out in
//! one `send`, the kernel runs them in order and acknowledges each one; an error names the
//! command whose sequence number it carries. IPVS has no multicast groups: the kernel's state is
//! read back with GET_* dumps only.
//!
//! Encoding follows keepalived's `libipvs.c`: a SERVICE nest holds AF, then FWMARK or
//! PROTOCOL + ADDR (16 bytes) + PORT (big-endian), then SCHED_NAME, PE_NAME (if any), FLAGS
//! (`{flags, mask = !0}`), TIMEOUT and NETMASK (inet: the mask in network order; inet6: a
//! prefix length). A DEST nest holds ADDR_FAMILY, ADDR, PORT, FWD_METHOD, WEIGHT, the tunnel
//! attributes when tunnelling, U_THRESH and L_THRESH. Commands that only name a service or a
//! destination (DEL_*, and the service of *_DEST) carry its identity only, which is all the
//! kernel reads from them.

use std::io::{self, Cursor, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use neli::consts::genl::{CtrlAttr, CtrlCmd};
use neli::consts::nl::NlmF;
use neli::genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder};
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::types::{Buffer, GenlBuffer};
use neli::{FromBytesWithInput, Size, ToBytes};
use socket2::{Domain, Socket, Type};

use super::IpvsError;
use super::desired::{
    Dest, DestKey, Family, Flags, Fwd, Protocol, Service, ServiceKey, TunCsum, TunType,
};
use super::plan::{Command, ServiceParams};

pub const FAMILY_NAME: &str = "IPVS";
pub const VERSION: u8 = 1;

/// How many commands go out in one `send` (their acknowledgements must fit the receive buffer).
pub const BATCH: usize = 128;

/// `IPVS_CMD_*`.
pub mod cmd {
    pub const NEW_SERVICE: u8 = 1;
    pub const SET_SERVICE: u8 = 2;
    pub const DEL_SERVICE: u8 = 3;
    pub const GET_SERVICE: u8 = 4;
    pub const NEW_DEST: u8 = 5;
    pub const SET_DEST: u8 = 6;
    pub const DEL_DEST: u8 = 7;
    pub const GET_DEST: u8 = 8;
    pub const NEW_DAEMON: u8 = 9;
    pub const DEL_DAEMON: u8 = 10;
    pub const GET_DAEMON: u8 = 11;
    pub const SET_CONFIG: u8 = 12;
    pub const GET_CONFIG: u8 = 13;
    pub const GET_INFO: u8 = 15;
    pub const ZERO: u8 = 16;
    pub const FLUSH: u8 = 17;
}

/// `IPVS_CMD_ATTR_*`.
mod cattr {
    pub const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
    pub const DAEMON: u16 = 3;
    pub const TIMEOUT_TCP: u16 = 4;
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    pub const TIMEOUT_UDP: u16 = 6;
}

/// `IPVS_SVC_ATTR_*`.
mod sattr {
    pub const AF: u16 = 1;
    pub const PROTOCOL: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const PORT: u16 = 4;
    pub const FWMARK: u16 = 5;
    pub const SCHED_NAME: u16 = 6;
    pub const FLAGS: u16 = 7;
    pub const TIMEOUT: u16 = 8;
    pub const NETMASK: u16 = 9;
    pub const STATS: u16 = 10;
    pub const PE_NAME: u16 = 11;
    pub const STATS64: u16 = 12;
}

/// `IPVS_DEST_ATTR_*`.
mod dattr {
    pub const ADDR: u16 = 1;
    pub const PORT: u16 = 2;
    pub const FWD_METHOD: u16 = 3;
    pub const WEIGHT: u16 = 4;
    pub const U_THRESH: u16 = 5;
    pub const L_THRESH: u16 = 6;
    pub const ACTIVE_CONNS: u16 = 7;
    pub const INACT_CONNS: u16 = 8;
    pub const PERSIST_CONNS: u16 = 9;
    pub const STATS: u16 = 10;
    pub const ADDR_FAMILY: u16 = 11;
    pub const STATS64: u16 = 12;
    pub const TUN_TYPE: u16 = 13;
    pub const TUN_PORT: u16 = 14;
    pub const TUN_FLAGS: u16 = 15;
}

/// `IPVS_DAEMON_ATTR_*`.
mod daemon_attr {
    pub const STATE: u16 = 1;
    pub const MCAST_IFN: u16 = 2;
    pub const SYNC_ID: u16 = 3;
    pub const SYNC_MAXLEN: u16 = 4;
    pub const MCAST_GROUP: u16 = 5;
    pub const MCAST_GROUP6: u16 = 6;
    pub const MCAST_PORT: u16 = 7;
    pub const MCAST_TTL: u16 = 8;
}

/// `IPVS_INFO_ATTR_*`.
mod info_attr {
    pub const VERSION: u16 = 1;
    pub const CONN_TAB_SIZE: u16 = 2;
}

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const GENL_ID_CTRL: u16 = 0x10;
const NLMSG_HDRLEN: usize = 16;
const ENOENT: i32 = 2;

type Attr = Nlattr<u16, Buffer>;
type Genl = Genlmsghdr<u8, u16>;

// ===== attribute building =====

fn attr<P: Size + ToBytes>(t: u16, payload: P) -> Attr {
    NlattrBuilder::default()
        .nla_type(
            AttrTypeBuilder::default()
                .nla_type(t)
                .build()
                .expect("invariant: attribute type set"),
        )
        .nla_payload(payload)
        .build()
        .expect("invariant: attribute fields set")
}

fn nest(t: u16, children: &[Attr]) -> Attr {
    let mut a = attr(t, Buffer::from(Vec::new()));
    for c in children {
        a = a.nest(c).expect("invariant: nested attribute serializes");
    }
    a
}

fn addr16(a: &IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(v) => b[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => b = v.octets(),
    }
    b
}

/// The SERVICE nest: identity only (`params: None`) or a full entry.
pub fn service_attr(key: &ServiceKey, params: Option<&ServiceParams>) -> Attr {
    let fam = key.family();
    let mut v = vec![attr(sattr::AF, fam.af())];
    match key {
        ServiceKey::Fwmark { mark, .. } => v.push(attr(sattr::FWMARK, *mark)),
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            v.push(attr(sattr::PROTOCOL, protocol.number()));
            v.push(attr(sattr::ADDR, addr16(addr)));
            v.push(attr(sattr::PORT, port.to_be()));
        }
    }
    if let Some(p) = params {
        v.push(attr(sattr::SCHED_NAME, p.scheduler.as_str()));
        if let Some(pe) = &p.pe_name {
            v.push(attr(sattr::PE_NAME, pe.as_str()));
        }
        let mut flags = [0u8; 8];
        flags[..4].copy_from_slice(&p.flags.0.to_ne_bytes());
        flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
        v.push(attr(sattr::FLAGS, flags));
        v.push(attr(sattr::TIMEOUT, p.timeout));
        v.push(attr(sattr::NETMASK, netmask_wire(fam, p.netmask)));
    }
    nest(cattr::SERVICE, &v)
}

/// inet masks travel in network byte order, inet6 prefix lengths in host order.
fn netmask_wire(fam: Family, m: u32) -> u32 {
    match fam {
        Family::Inet => m.to_be(),
        Family::Inet6 => m,
    }
}

/// The DEST nest: identity only (`params: None`) or a full entry.
pub fn dest_attr(dest: &DestKey, params: Option<&Dest>) -> Attr {
    let mut v = vec![
        attr(dattr::ADDR_FAMILY, Family::of(&dest.addr).af()),
        attr(dattr::ADDR, addr16(&dest.addr)),
        attr(dattr::PORT, dest.port.to_be()),
    ];
    if let Some(d) = params {
        v.push(attr(dattr::FWD_METHOD, d.fwd.method()));
        v.push(attr(dattr::WEIGHT, d.weight as u32));
        if let Fwd::Tunnel {
            tun_type,
            port,
            csum,
        } = d.fwd
        {
            v.push(attr(dattr::TUN_TYPE, tun_type.number()));
            if tun_type == TunType::Gue {
                v.push(attr(dattr::TUN_PORT, port.to_be()));
            }
            if tun_type != TunType::Ipip {
                v.push(attr(dattr::TUN_FLAGS, csum.bits()));
            }
        }
        v.push(attr(dattr::U_THRESH, d.u_threshold));
        v.push(attr(dattr::L_THRESH, d.l_threshold));
    }
    nest(cattr::DEST, &v)
}

/// The generic-netlink command and attributes of a planned command.
pub fn command_attrs(c: &Command) -> (u8, Vec<Attr>) {
    match c {
        Command::NewService { key, params } => {
            (cmd::NEW_SERVICE, vec![service_attr(key, Some(params))])
        }
        Command::SetService { key, params } => {
            (cmd::SET_SERVICE, vec![service_attr(key, Some(params))])
        }
        Command::DelService { key } => (cmd::DEL_SERVICE, vec![service_attr(key, None)]),
        Command::NewDest {
            service,
            dest,
            params,
        } => (
            cmd::NEW_DEST,
            vec![service_attr(service, None), dest_attr(dest, Some(params))],
        ),
        Command::SetDest {
            service,
            dest,
            params,
        } => (
            cmd::SET_DEST,
            vec![service_attr(service, None), dest_attr(dest, Some(params))],
        ),
        Command::DelDest { service, dest } => (
            cmd::DEL_DEST,
            vec![service_attr(service, None), dest_attr(dest, None)],
        ),
    }
}

/// Serialize one request.
pub fn frame(family: u16, command: u8, flags: NlmF, seq: u32, attrs: Vec<Attr>) -> Vec<u8> {
    let genl = GenlmsghdrBuilder::<u8, u16>::default()
        .cmd(command)
        .version(VERSION)
        .attrs(attrs.into_iter().collect::<GenlBuffer<u16, Buffer>>())
        .build()
        .expect("invariant: genl header fields set");
    let msg = NlmsghdrBuilder::default()
        .nl_type(family)
        .nl_flags(NlmF::REQUEST | flags)
        .nl_seq(seq)
        .nl_payload(NlPayload::Payload(genl))
        .build()
        .expect("invariant: netlink header fields set");
    let mut c = Cursor::new(Vec::with_capacity(msg.padded_size()));
    msg.to_bytes(&mut c)
        .expect("invariant: netlink message serializes into a Vec");
    c.into_inner()
}

// ===== parsing =====

/// One message received: the netlink header fields that matter and its content.
#[derive(Debug)]
pub enum Reply {
    /// NLMSG_ERROR: 0 is an acknowledgement, otherwise a negative errno.
    Ack {
        seq: u32,
        error: i32,
    },
    Done {
        seq: u32,
    },
    Msg {
        seq: u32,
        msg: Genl,
    },
}

/// Split a datagram into messages (the netlink headers are walked by hand so that an odd
/// message never hides the acknowledgements around it).
pub fn parse_datagram(buf: &[u8]) -> Result<Vec<Reply>, String> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let h = &buf[off..];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let ty = u16::from_ne_bytes([h[4], h[5]]);
        let seq = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            return Err(format!("truncated netlink message ({len} bytes at {off})"));
        }
        let body = &buf[off + NLMSG_HDRLEN..off + len];
        match ty {
            NLMSG_ERROR => {
                if body.len() < 4 {
                    return Err("short NLMSG_ERROR".into());
                }
                let error = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                out.push(Reply::Ack { seq, error });
            }
            NLMSG_DONE => out.push(Reply::Done { seq }),
            NLMSG_OVERRUN => return Err("netlink overrun".into()),
            _ => {
                let msg = Genl::from_bytes_with_input(&mut Cursor::new(body), body.len())
                    .map_err(|e| format!("bad generic netlink message: {e}"))?;
                out.push(Reply::Msg { seq, msg });
            }
        }
        off += (len + 3) & !3;
    }
    Ok(out)
}

fn attrs_of(a: &Attr) -> Vec<(u16, &[u8])> {
    // A nest is a sequence of attributes: walk it by hand (as the netlink headers above).
    walk(a.nla_payload().as_ref())
}

fn walk(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut v = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        v.push((ty, &b[4..len]));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    v
}

fn top(msg: &Genl) -> impl Iterator<Item = &Attr> {
    msg.attrs().iter()
}

fn find<'a>(v: &[(u16, &'a [u8])], t: u16) -> Option<&'a [u8]> {
    v.iter().find(|(ty, _)| *ty == t).map(|(_, p)| *p)
}

fn u8_of(b: Option<&[u8]>) -> Option<u8> {
    b.and_then(|b| b.first().copied())
}
fn u16_of(b: Option<&[u8]>) -> Option<u16> {
    b.and_then(|b| Some(u16::from_ne_bytes(b.get(..2)?.try_into().ok()?)))
}
fn u32_of(b: Option<&[u8]>) -> Option<u32> {
    b.and_then(|b| Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?)))
}
fn u64_of(b: Option<&[u8]>) -> Option<u64> {
    b.and_then(|b| Some(u64::from_ne_bytes(b.get(..8)?.try_into().ok()?)))
}
fn str_of(b: Option<&[u8]>) -> Option<String> {
    b.map(|b| {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    })
}
fn addr_of(b: Option<&[u8]>, fam: Family) -> Option<IpAddr> {
    let b = b?;
    Some(match fam {
        Family::Inet => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b.get(..4)?).ok()?)),
        Family::Inet6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b.get(..16)?).ok()?)),
    })
}

/// Traffic counters (`IPVS_STATS_ATTR_*`, from STATS64 when the kernel has it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

fn stats_of(v: &[(u16, &[u8])], a64: u16, a32: u16) -> Stats {
    let (nested, wide) = match find(v, a64) {
        Some(b) => (walk(b), true),
        None => (find(v, a32).map(walk).unwrap_or_default(), false),
    };
    // The kernel's `ip_vs_genl_fill_stats` puts the two byte counters (INBYTES, OUTBYTES) as
    // u64 even in the 32-bit STATS nest; the others are u32 there.
    let g = |t: u16| {
        let b = find(&nested, t);
        if wide || t == 4 || t == 5 {
            u64_of(b).unwrap_or(0)
        } else {
            u64::from(u32_of(b).unwrap_or(0))
        }
    };
    Stats {
        conns: g(1),
        inpkts: g(2),
        outpkts: g(3),
        inbytes: g(4),
        outbytes: g(5),
        cps: g(6),
        inpps: g(7),
        outpps: g(8),
        inbps: g(9),
        outbps: g(10),
    }
}

/// A service as a GET_SERVICE dump reports it (destinations empty).
pub fn decode_service(msg: &Genl) -> Result<(ServiceKey, Service, Stats), String> {
    let nest = top(msg)
        .find(|a| *a.nla_type().nla_type() == cattr::SERVICE)
        .ok_or("service message without a SERVICE attribute")?;
    let v = attrs_of(nest);
    let af = u16_of(find(&v, sattr::AF)).ok_or("service without AF")?;
    let fam = Family::from_af(af).ok_or_else(|| format!("service of unknown family {af}"))?;
    let mark = u32_of(find(&v, sattr::FWMARK)).unwrap_or(0);
    let key = if mark != 0 {
        ServiceKey::Fwmark { family: fam, mark }
    } else {
        let proto = u16_of(find(&v, sattr::PROTOCOL)).ok_or("service without PROTOCOL")?;
        ServiceKey::Addr {
            protocol: Protocol::from_number(proto)
                .ok_or_else(|| format!("service of unknown protocol {proto}"))?,
            addr: addr_of(find(&v, sattr::ADDR), fam).ok_or("service without ADDR")?,
            port: u16::from_be(u16_of(find(&v, sattr::PORT)).ok_or("service without PORT")?),
        }
    };
    let raw_mask = u32_of(find(&v, sattr::NETMASK)).unwrap_or(0);
    let svc = Service {
        scheduler: str_of(find(&v, sattr::SCHED_NAME)).unwrap_or_default(),
        flags: Flags(u32_of(find(&v, sattr::FLAGS)).unwrap_or(0)),
        timeout: u32_of(find(&v, sattr::TIMEOUT)).unwrap_or(0),
        netmask: match fam {
            Family::Inet => u32::from_be(raw_mask),
            Family::Inet6 => raw_mask,
        },
        pe_name: str_of(find(&v, sattr::PE_NAME)).filter(|s| !s.is_empty()),
        destinations: Default::default(),
    };
    Ok((key, svc, stats_of(&v, sattr::STATS64, sattr::STATS)))
}

/// Connection counts of a destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestConns {
    pub active: u32,
    pub inactive: u32,
    pub persistent: u32,
}

/// A destination as a GET_DEST dump reports it.
pub fn decode_dest(
    msg: &Genl,
    svc_family: Family,
) -> Result<(DestKey, Dest, DestConns, Stats), String> {
    let nest = top(msg)
        .find(|a| *a.nla_type().nla_type() == cattr::DEST)
        .ok_or("destination message without a DEST attribute")?;
    let v = attrs_of(nest);
    let fam = u16_of(find(&v, dattr::ADDR_FAMILY))
        .and_then(Family::from_af)
        .unwrap_or(svc_family);
    let key = DestKey {
        addr: addr_of(find(&v, dattr::ADDR), fam).ok_or("destination without ADDR")?,
        port: u16::from_be(u16_of(find(&v, dattr::PORT)).unwrap_or(0)),
    };
    let method = u32_of(find(&v, dattr::FWD_METHOD)).unwrap_or(0) & 7;
    let fwd = match method {
        0 => Fwd::Masq,
        3 => Fwd::DirectRoute,
        2 => {
            let tun_type = u8_of(find(&v, dattr::TUN_TYPE))
                .and_then(TunType::from_number)
                .unwrap_or_default();
            Fwd::Tunnel {
                tun_type,
                port: match tun_type {
                    TunType::Gue => u16::from_be(u16_of(find(&v, dattr::TUN_PORT)).unwrap_or(0)),
                    _ => 0,
                },
                csum: match tun_type {
                    TunType::Ipip => TunCsum::NoCsum,
                    _ => TunCsum::from_bits(u16_of(find(&v, dattr::TUN_FLAGS)).unwrap_or(0)),
                },
            }
        }
        m => Fwd::Other(m),
    };
    let d = Dest {
        fwd,
        weight: u32_of(find(&v, dattr::WEIGHT)).unwrap_or(0) as i32,
        u_threshold: u32_of(find(&v, dattr::U_THRESH)).unwrap_or(0),
        l_threshold: u32_of(find(&v, dattr::L_THRESH)).unwrap_or(0),
    };
    let conns = DestConns {
        active: u32_of(find(&v, dattr::ACTIVE_CONNS)).unwrap_or(0),
        inactive: u32_of(find(&v, dattr::INACT_CONNS)).unwrap_or(0),
        persistent: u32_of(find(&v, dattr::PERSIST_CONNS)).unwrap_or(0),
    };
    Ok((key, d, conns, stats_of(&v, dattr::STATS64, dattr::STATS)))
}

/// Connection timeouts in seconds (`ipvsadm --set tcp tcpfin udp`; 0 keeps the current value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

/// Sync daemon role (`IP_VS_STATE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRole {
    Master,
    Backup,
}

impl SyncRole {
    fn state(self) -> u32 {
        match self {
            SyncRole::Master => 1,
            SyncRole::Backup => 2,
        }
    }
}

/// A sync daemon's parameters (`lvs_sync_daemon IF VI [id N] [maxlen L] [port P] [ttl T]
/// [group IP]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    pub interface: String,
    pub sync_id: u32,
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

/// A running sync daemon as GET_DAEMON reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonState {
    pub role: SyncRole,
    pub interface: String,
    pub sync_id: u32,
}

// ===== the socket =====

/// Counters of what went over the wire (tests count commands with them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireCounters {
    /// Requests that change state (NEW/SET/DEL_*, SET_CONFIG, FLUSH, *_DAEMON).
    pub commands: u64,
    /// GET requests (dumps and single gets).
    pub gets: u64,
    /// `send` calls.
    pub sends: u64,
}

/// A generic-netlink socket bound to the IPVS family.
pub struct GenlSocket {
    sock: Socket,
    family: u16,
    seq: u32,
    timeout: Duration,
    buf: Vec<u8>,
    /// Commands per `send` in [`GenlSocket::execute`].
    pub batch: usize,
    pub counters: WireCounters,
}

impl GenlSocket {
    /// Open a socket and resolve the "IPVS" family. `Err(IpvsError::NoFamily)` means the
    /// kernel knows no such family (ip_vs not loaded, or not built).
    pub fn open(timeout: Duration) -> Result<Self, IpvsError> {
        let io = |e| IpvsError::Io {
            what: "open a generic netlink socket".into(),
            source: e,
        };
        let sock = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::RAW,
            Some(socket2::Protocol::from(libc::NETLINK_GENERIC)),
        )
        .map_err(io)?;
        sock.set_read_timeout(Some(timeout)).map_err(io)?;
        // Best effort: a larger queue for acknowledgements of pipelined commands.
        let _ = sock.set_recv_buffer_size(1 << 20);
        let mut s = GenlSocket {
            sock,
            family: 0,
            seq: 1,
            timeout,
            buf: vec![0; 64 * 1024],
            batch: BATCH,
            counters: WireCounters::default(),
        };
        s.family = s.resolve_family()?;
        Ok(s)
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn resolve_family(&mut self) -> Result<u16, IpvsError> {
        let what = "resolve generic netlink family IPVS";
        let seq = self.next_seq();
        let genl = GenlmsghdrBuilder::<CtrlCmd, CtrlAttr>::default()
            .cmd(CtrlCmd::Getfamily)
            .version(2)
            .attrs(
                std::iter::once(
                    NlattrBuilder::default()
                        .nla_type(
                            AttrTypeBuilder::default()
                                .nla_type(CtrlAttr::FamilyName)
                                .build()
                                .expect("invariant: attribute type set"),
                        )
                        .nla_payload(FAMILY_NAME)
                        .build()
                        .expect("invariant: attribute fields set"),
                )
                .collect::<GenlBuffer<CtrlAttr, Buffer>>(),
            )
            .build()
            .expect("invariant: genl header fields set");
        let msg = NlmsghdrBuilder::default()
            .nl_type(GENL_ID_CTRL)
            .nl_flags(NlmF::REQUEST | NlmF::ACK)
            .nl_seq(seq)
            .nl_payload(NlPayload::Payload(genl))
            .build()
            .expect("invariant: netlink header fields set");
        let mut c = Cursor::new(Vec::new());
        msg.to_bytes(&mut c)
            .expect("invariant: netlink message serializes into a Vec");
        self.send(&c.into_inner(), what)?;
        let mut id = None;
        loop {
            for r in self.recv(what)? {
                match r {
                    Reply::Msg { seq: s, msg } if s == seq => {
                        for a in top(&msg) {
                            if *a.nla_type().nla_type() == 1 {
                                id = u16_of(Some(a.nla_payload().as_ref()));
                            }
                        }
                    }
                    Reply::Ack { seq: s, error } if s == seq => {
                        return match (error, id) {
                            (0, Some(id)) => Ok(id),
                            (0, None) => Err(IpvsError::Decode {
                                what: what.into(),
                                detail: "no family id in the reply".into(),
                            }),
                            (e, _) if -e == ENOENT => Err(IpvsError::NoFamily),
                            (e, _) => Err(IpvsError::Kernel {
                                what: what.into(),
                                errno: -e,
                            }),
                        };
                    }
                    _ => {}
                }
            }
        }
    }

    fn send(&mut self, bytes: &[u8], what: &str) -> Result<(), IpvsError> {
        self.counters.sends += 1;
        self.sock.send(bytes).map_err(|e| IpvsError::Io {
            what: what.into(),
            source: e,
        })?;
        Ok(())
    }

    fn recv(&mut self, what: &str) -> Result<Vec<Reply>, IpvsError> {
        let n = loop {
            match (&self.sock).read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(IpvsError::Timeout {
                        what: what.into(),
                        after: self.timeout,
                    });
                }
                Err(e) => {
                    return Err(IpvsError::Io {
                        what: what.into(),
                        source: e,
                    });
                }
            }
        };
        parse_datagram(&self.buf[..n]).map_err(|detail| IpvsError::Decode {
            what: what.into(),
            detail,
        })
    }

    /// One request acknowledged by the kernel.
    pub fn transact(&mut self, command: u8, attrs: Vec<Attr>, what: &str) -> Result<(), IpvsError> {
        let seq = self.next_seq();
        let bytes = frame(self.family, command, NlmF::ACK, seq, attrs);
        self.counters.commands += 1;
        self.send(&bytes, what)?;
        loop {
            for r in self.recv(what)? {
                if let Reply::Ack { seq: s, error } = r
                    && s == seq
                {
                    return match error {
                        0 => Ok(()),
                        e => Err(IpvsError::Kernel {
                            what: what.into(),
                            errno: -e,
                        }),
                    };
                }
            }
        }
    }

    /// A GET request: with `dump`, every message until NLMSG_DONE; otherwise the one reply.
    pub fn get(
        &mut self,
        command: u8,
        attrs: Vec<Attr>,
        dump: bool,
        what: &str,
    ) -> Result<Vec<Genl>, IpvsError> {
        let seq = self.next_seq();
        let flags = if dump {
            NlmF::DUMP | NlmF::ACK
        } else {
            NlmF::ACK
        };
        let bytes = frame(self.family, command, flags, seq, attrs);
        self.counters.gets += 1;
        self.send(&bytes, what)?;
        let mut out = Vec::new();
        loop {
            for r in self.recv(what)? {
                match r {
                    Reply::Msg { seq: s, msg } if s == seq => out.push(msg),
                    Reply::Done { seq: s } if s == seq => return Ok(out),
                    Reply::Ack { seq: s, error } if s == seq => {
                        if error != 0 {
                            return Err(IpvsError::Kernel {
                                what: what.into(),
                                errno: -error,
                            });
                        }
                        if !dump {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Run planned commands, [`BATCH`] per `send`. Every command runs (the kernel goes on after
    /// a failure); the failures come back with the index of their command.
    pub fn execute(&mut self, cmds: &[Command]) -> Result<Vec<(usize, IpvsError)>, IpvsError> {
        let mut failures = Vec::new();
        let batch = self.batch.max(1);
        for (chunk_no, chunk) in cmds.chunks(batch).enumerate() {
            let base = chunk_no * batch;
            let first_seq = self.seq.wrapping_add(1);
            let mut bytes = Vec::with_capacity(chunk.len() * 128);
            let mut seqs = Vec::with_capacity(chunk.len());
            for c in chunk {
                let seq = self.next_seq();
                let (command, attrs) = command_attrs(c);
                bytes.extend_from_slice(&frame(self.family, command, NlmF::ACK, seq, attrs));
                seqs.push(seq);
            }
            self.counters.commands += chunk.len() as u64;
            let what = format!("{} (and {} more commands)", chunk[0], chunk.len() - 1);
            self.send(&bytes, &what)?;
            let mut pending = chunk.len();
            while pending > 0 {
                for r in self.recv(&what)? {
                    if let Reply::Ack { seq, error } = r {
                        let i = seq.wrapping_sub(first_seq) as usize;
                        if i < chunk.len() && seqs[i] == seq {
                            pending -= 1;
                            if error != 0 {
                                failures.push((
                                    base + i,
                                    IpvsError::Kernel {
                                        what: chunk[i].to_string(),
                                        errno: -error,
                                    },
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(failures)
    }

    /// The whole table: every service (GET_SERVICE dump) and its destinations (one GET_DEST
    /// dump per service), with counters.
    pub fn read_table(&mut self, with_dests: bool) -> Result<KernelTable, IpvsError> {
        let mut t = KernelTable::default();
        for m in self.get(cmd::GET_SERVICE, vec![], true, "list services")? {
            let (key, svc, stats) = decode_service(&m).map_err(|detail| IpvsError::Decode {
                what: "list services".into(),
                detail,
            })?;
            t.table.services.insert(key, svc);
            t.service_stats.insert(key, stats);
        }
        if with_dests {
            let keys: Vec<ServiceKey> = t.table.services.keys().copied().collect();
            for key in keys {
                self.read_dests(&key, &mut t)?;
            }
        }
        Ok(t)
    }

    /// Read one service's destinations into `t`.
    pub fn read_dests(&mut self, key: &ServiceKey, t: &mut KernelTable) -> Result<(), IpvsError> {
        let what = format!("list destinations of service {key}");
        let msgs = self.get(cmd::GET_DEST, vec![service_attr(key, None)], true, &what)?;
        let Some(svc) = t.table.services.get_mut(key) else {
            return Ok(());
        };
        svc.destinations.clear();
        for m in msgs {
            let (dk, d, conns, stats) =
                decode_dest(&m, key.family()).map_err(|detail| IpvsError::Decode {
                    what: what.clone(),
                    detail,
                })?;
            svc.destinations.insert(dk, d);
            t.dest_stats.insert((*key, dk), (conns, stats));
        }
        Ok(())
    }

    /// GET_INFO: (version code, connection table size).
    pub fn info(&mut self) -> Result<(u32, u32), IpvsError> {
        let what = "get IPVS info";
        let msgs = self.get(cmd::GET_INFO, vec![], false, what)?;
        let m = msgs.first().ok_or_else(|| IpvsError::Decode {
            what: what.into(),
            detail: "no reply".into(),
        })?;
        let v: Vec<(u16, &[u8])> = top(m)
            .map(|a| (*a.nla_type().nla_type(), a.nla_payload().as_ref()))
            .collect();
        Ok((
            u32_of(find(&v, info_attr::VERSION)).unwrap_or(0),
            u32_of(find(&v, info_attr::CONN_TAB_SIZE)).unwrap_or(0),
        ))
    }

    pub fn get_timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        let what = "get IPVS timeouts";
        let msgs = self.get(cmd::GET_CONFIG, vec![], false, what)?;
        let m = msgs.first().ok_or_else(|| IpvsError::Decode {
            what: what.into(),
            detail: "no reply".into(),
        })?;
        let v: Vec<(u16, &[u8])> = top(m)
            .map(|a| (*a.nla_type().nla_type(), a.nla_payload().as_ref()))
            .collect();
        Ok(Timeouts {
            tcp: u32_of(find(&v, cattr::TIMEOUT_TCP)).unwrap_or(0),
            tcp_fin: u32_of(find(&v, cattr::TIMEOUT_TCP_FIN)).unwrap_or(0),
            udp: u32_of(find(&v, cattr::TIMEOUT_UDP)).unwrap_or(0),
        })
    }

    pub fn set_timeouts(&mut self, t: Timeouts) -> Result<(), IpvsError> {
        let attrs = vec![
            attr(cattr::TIMEOUT_TCP, t.tcp),
            attr(cattr::TIMEOUT_TCP_FIN, t.tcp_fin),
            attr(cattr::TIMEOUT_UDP, t.udp),
        ];
        let what = format!(
            "set IPVS timeouts tcp {} tcpfin {} udp {}",
            t.tcp, t.tcp_fin, t.udp
        );
        self.transact(cmd::SET_CONFIG, attrs, &what)
    }

    pub fn flush(&mut self) -> Result<(), IpvsError> {
        self.transact(cmd::FLUSH, vec![], "flush the IPVS table")
    }

    pub fn new_daemon(&mut self, role: SyncRole, d: &SyncDaemon) -> Result<(), IpvsError> {
        let mut v = vec![
            attr(daemon_attr::STATE, role.state()),
            attr(daemon_attr::MCAST_IFN, d.interface.as_str()),
            attr(daemon_attr::SYNC_ID, d.sync_id),
        ];
        if let Some(l) = d.maxlen {
            v.push(attr(daemon_attr::SYNC_MAXLEN, l));
        }
        match d.group {
            Some(IpAddr::V4(g)) => v.push(attr(daemon_attr::MCAST_GROUP, u32::from(g).to_be())),
            Some(IpAddr::V6(g)) => v.push(attr(daemon_attr::MCAST_GROUP6, g.octets())),
            None => {}
        }
        if let Some(p) = d.port {
            v.push(attr(daemon_attr::MCAST_PORT, p));
        }
        if let Some(t) = d.ttl {
            v.push(attr(daemon_attr::MCAST_TTL, t));
        }
        let what = format!(
            "start the IPVS sync daemon ({role:?} on {}, id {})",
            d.interface, d.sync_id
        );
        self.transact(cmd::NEW_DAEMON, vec![nest(cattr::DAEMON, &v)], &what)
    }

    pub fn del_daemon(&mut self, role: SyncRole) -> Result<(), IpvsError> {
        let v = [attr(daemon_attr::STATE, role.state())];
        let what = format!("stop the IPVS sync daemon ({role:?})");
        self.transact(cmd::DEL_DAEMON, vec![nest(cattr::DAEMON, &v)], &what)
    }

    pub fn daemons(&mut self) -> Result<Vec<DaemonState>, IpvsError> {
        let msgs = self.get(cmd::GET_DAEMON, vec![], true, "list IPVS sync daemons")?;
        let mut out = Vec::new();
        for m in &msgs {
            for a in top(m).filter(|a| *a.nla_type().nla_type() == cattr::DAEMON) {
                let v = attrs_of(a);
                let role = match u32_of(find(&v, daemon_attr::STATE)) {
                    Some(1) => SyncRole::Master,
                    Some(2) => SyncRole::Backup,
                    _ => continue,
                };
                out.push(DaemonState {
                    role,
                    interface: str_of(find(&v, daemon_attr::MCAST_IFN)).unwrap_or_default(),
                    sync_id: u32_of(find(&v, daemon_attr::SYNC_ID)).unwrap_or(0),
                });
            }
        }
        Ok(out)
    }
}

/// The kernel's table with its counters.
#[derive(Debug, Clone, Default)]
pub struct KernelTable {
    pub table: super::desired::DesiredTable,
    pub service_stats: std::collections::BTreeMap<ServiceKey, Stats>,
    pub dest_stats: std::collections::BTreeMap<(ServiceKey, DestKey), (DestConns, Stats)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn key() -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: IpAddr::from([10, 0, 0, 1]),
            port: 80,
        }
    }

    /// NEW_SERVICE for `TCP 10.0.0.1:80 wlc`, as keepalived's libipvs lays it out
    /// (little-endian host; ports and inet masks big-endian).
    #[test]
    fn new_service_frame_matches_the_uapi_layout() {
        let params = ServiceParams {
            scheduler: "wlc".into(),
            flags: Flags(Flags::PERSISTENT),
            timeout: 300,
            netmask: 0xffff_ff00,
            pe_name: None,
        };
        let (c, attrs) = command_attrs(&Command::NewService { key: key(), params });
        let b = frame(0x1c, c, NlmF::ACK, 7, attrs);
        let want = concat!(
            "68000000",
            "1c00",
            "0500",
            "07000000",
            "00000000",         // nlmsghdr: 104 bytes, family, REQUEST|ACK, seq 7, pid 0
            "01010000",         // genlmsghdr: NEW_SERVICE, version 1
            "54000180",         // SERVICE, NLA_F_NESTED, 84 bytes
            "0600010002000000", // AF = AF_INET (u16 + padding)
            "0600020006000000", // PROTOCOL = IPPROTO_TCP
            "140003000a000001000000000000000000000000", // ADDR: 16-byte nf_inet_addr
            "0600040000500000", // PORT = htons(80)
            "08000600776c6300", // SCHED_NAME = "wlc\0"
            "0c00070001000000ffffffff", // FLAGS = {PERSISTENT, mask ~0}
            "080008002c010000", // TIMEOUT = 300
            "08000900ffffff00", // NETMASK = 255.255.255.0, network order
        );
        assert_eq!(hex(&b), want);
    }

    #[test]
    fn dest_attribute_carries_tunnel_fields_only_when_tunnelling() {
        let dk = DestKey {
            addr: IpAddr::from([192, 168, 0, 2]),
            port: 8080,
        };
        let nat = Dest {
            fwd: Fwd::Masq,
            weight: 3,
            u_threshold: 0,
            l_threshold: 0,
        };
        let a = dest_attr(&dk, Some(&nat));
        let types: Vec<u16> = walk(a.nla_payload().as_ref())
            .iter()
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(types, [11, 1, 2, 3, 4, 5, 6]);
        let gue = Dest {
            fwd: Fwd::Tunnel {
                tun_type: TunType::Gue,
                port: 6080,
                csum: TunCsum::RemCsum,
            },
            ..nat
        };
        let a = dest_attr(&dk, Some(&gue));
        let v = walk(a.nla_payload().as_ref());
        let types: Vec<u16> = v.iter().map(|(t, _)| *t).collect();
        assert_eq!(types, [11, 1, 2, 3, 4, 13, 14, 15, 5, 6]);
        assert_eq!(find(&v, dattr::TUN_PORT), Some(&6080u16.to_be_bytes()[..]));
        assert_eq!(find(&v, dattr::TUN_FLAGS), Some(&2u16.to_ne_bytes()[..]));
        assert_eq!(find(&v, dattr::FWD_METHOD), Some(&2u32.to_ne_bytes()[..]));
    }

    /// Kernels before 4.1 have no STATS64: the STATS nest (`ip_vs_genl_fill_stats`) carries
    /// the byte counters as u64 and the others as u32.
    #[test]
    fn stats_nest_of_old_kernels_has_64_bit_byte_counters() {
        let mut nest = Vec::new();
        let mut put = |t: u16, v: &[u8]| {
            nest.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            nest.extend_from_slice(&t.to_ne_bytes());
            nest.extend_from_slice(v);
        };
        put(1, &9u32.to_ne_bytes());
        put(2, &54u32.to_ne_bytes());
        put(3, &36u32.to_ne_bytes());
        put(4, &(5u64 << 32 | 3601).to_ne_bytes());
        put(5, &4318u64.to_ne_bytes());
        for t in 6..=10 {
            put(t, &u32::from(t).to_ne_bytes());
        }
        let s = stats_of(&[(sattr::STATS, &nest)], sattr::STATS64, sattr::STATS);
        assert_eq!(
            s,
            Stats {
                conns: 9,
                inpkts: 54,
                outpkts: 36,
                inbytes: 5 << 32 | 3601,
                outbytes: 4318,
                cps: 6,
                inpps: 7,
                outpps: 8,
                inbps: 9,
                outbps: 10,
            }
        );
    }

    /// A GET_SERVICE reply and a GET_DEST reply, built as the kernel builds them, decode back
    /// into what was encoded.
    #[test]
    fn service_and_dest_replies_round_trip() {
        for key in [
            key(),
            ServiceKey::Addr {
                protocol: Protocol::Sctp,
                addr: "2001:db8::1".parse().expect("addr"),
                port: 443,
            },
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 42,
            },
        ] {
            let params = ServiceParams {
                scheduler: "mh".into(),
                flags: Flags(Flags::PERSISTENT | Flags::MH_PORT),
                timeout: 60,
                netmask: if key.family() == Family::Inet {
                    0xffff_0000
                } else {
                    64
                },
                pe_name: Some("sip".into()),
            };
            let bytes = frame(
                0x1c,
                cmd::NEW_SERVICE,
                NlmF::empty(),
                1,
                vec![service_attr(&key, Some(&params))],
            );
            let replies = parse_datagram(&bytes).expect("parse");
            let Reply::Msg { msg, .. } = &replies[0] else {
                panic!("{replies:?}")
            };
            let (k, s, _) = decode_service(msg).expect("decode");
            assert_eq!(k, key);
            assert_eq!(ServiceParams::of(&s), params);

            let dk = DestKey {
                addr: "2001:db8::9".parse().expect("addr"),
                port: 80,
            };
            let d = Dest {
                fwd: Fwd::Tunnel {
                    tun_type: TunType::Gre,
                    port: 0,
                    csum: TunCsum::Csum,
                },
                weight: 7,
                u_threshold: 100,
                l_threshold: 5,
            };
            let bytes = frame(
                0x1c,
                cmd::NEW_DEST,
                NlmF::empty(),
                2,
                vec![dest_attr(&dk, Some(&d))],
            );
            let replies = parse_datagram(&bytes).expect("parse");
            let Reply::Msg { msg, .. } = &replies[0] else {
                panic!("{replies:?}")
            };
            let (k2, d2, _, _) = decode_dest(msg, key.family()).expect("decode dest");
            assert_eq!((k2, d2), (dk, d));
        }
    }

    #[test]
    fn acks_and_errors_are_matched_by_sequence_number() {
        // Two NLMSG_ERROR messages in one datagram: seq 5 ok, seq 6 EEXIST; then NLMSG_DONE.
        let mut b = Vec::new();
        for (seq, err) in [(5u32, 0i32), (6, -17)] {
            b.extend_from_slice(&36u32.to_ne_bytes());
            b.extend_from_slice(&2u16.to_ne_bytes());
            b.extend_from_slice(&0u16.to_ne_bytes());
            b.extend_from_slice(&seq.to_ne_bytes());
            b.extend_from_slice(&0u32.to_ne_bytes());
            b.extend_from_slice(&err.to_ne_bytes());
            b.extend_from_slice(&[0u8; 16]);
        }
        b.extend_from_slice(&20u32.to_ne_bytes());
        b.extend_from_slice(&3u16.to_ne_bytes());
        b.extend_from_slice(&2u16.to_ne_bytes());
        b.extend_from_slice(&9u32.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&0i32.to_ne_bytes());
        let r = parse_datagram(&b).expect("parse");
        assert!(matches!(r[0], Reply::Ack { seq: 5, error: 0 }));
        assert!(matches!(r[1], Reply::Ack { seq: 6, error: -17 }));
        assert!(matches!(r[2], Reply::Done { seq: 9 }));
        assert!(parse_datagram(&b[..30]).is_err());
    }
}
