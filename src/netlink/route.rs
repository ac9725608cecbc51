//! Routes over rtnetlink: `virtual_routes` and `static_routes` entries made real.
//!
//! The configuration keeps each entry as its `ip route` words; [`RouteSpec::parse`] turns them
//! into a typed route the way keepalived 2.2.7's `alloc_route()` (vrrp_iproute.c) reads them,
//! and [`RouteSpec::new_route_msg`] / [`RouteSpec::del_route_msg`] build the requests of its
//! `netlink_route()`:
//! - Defaults: table `main`, type `unicast`, scope `global` (keepalived does not guess `link`
//!   as `ip route` does), protocol `keepalived` (18) unless `protocol` is given.
//! - Add is `RTM_NEWROUTE` with `NLM_F_CREATE` (keepalived's "prepend"; `add` asks for
//!   `NLM_F_EXCL`, `append` for `NLM_F_APPEND`). Delete is `RTM_DELROUTE` with scope
//!   `nowhere` (any scope), the protocol and every selector of the add, so the kernel removes
//!   our route and not a look-alike of another owner.
//! - `gw` is `via`; `X or Y` (deprecated) is two nexthops. `nexthop` runs to the end of the
//!   line, each with `via`, `dev`, `weight` (1-256) and `onlink`.
//!
//! [`RouteManager`] records what the kernel accepted, so that only those are removed. An
//! `EEXIST` (an identical route was there already) is not recorded as ours.
//!
//! Must not: remove a route that is not recorded as ours, or report configuration errors
//! (`config::validate` did that; here a bad entry is an [`RouteError`] for the caller to log).

use std::fmt;
use std::net::IpAddr;

use neli::consts::nl::NlmF;
use neli::consts::rtnl::Rtm;
use neli::types::Buffer;
use nix::errno::Errno;

use super::address::{ifindex, parse_scope};
use super::{NetlinkError, Rtnl};

/// `RTPROT_KEEPALIVED`: the protocol keepalived marks its routes and rules with.
pub const RTPROT_KEEPALIVED: u8 = 18;

/// `RT_TABLE_*` of linux/rtnetlink.h.
pub mod table {
    pub const UNSPEC: u32 = 0;
    pub const DEFAULT: u32 = 253;
    pub const MAIN: u32 = 254;
    pub const LOCAL: u32 = 255;
}

/// `RTN_*` route types.
pub mod kind {
    pub const UNICAST: u8 = 1;
    pub const LOCAL: u8 = 2;
    pub const BROADCAST: u8 = 3;
    pub const ANYCAST: u8 = 4;
    pub const MULTICAST: u8 = 5;
    pub const BLACKHOLE: u8 = 6;
    pub const UNREACHABLE: u8 = 7;
    pub const PROHIBIT: u8 = 8;
    pub const THROW: u8 = 9;
    pub const NAT: u8 = 10;
}

/// `RTNH_F_ONLINK`.
const ONLINK: u32 = 4;
const RT_SCOPE_NOWHERE: u8 = 255;

// rtattr types (linux/rtnetlink.h).
const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_METRICS: u16 = 8;
const RTA_MULTIPATH: u16 = 9;
const RTA_FLOW: u16 = 11;
const RTA_TABLE: u16 = 15;
const RTAX_LOCK: u16 = 1;
const RTAX_MTU: u16 = 2;
const RTAX_ADVMSS: u16 = 8;

/// Why an entry's words are not a route (or a rule, see [`super::rule`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("{keyword} needs a value")]
    MissingValue { keyword: &'static str },
    #[error("invalid {keyword} {value:?}")]
    InvalidValue {
        keyword: &'static str,
        value: String,
    },
    #[error("unknown keyword {0:?}")]
    UnknownKeyword(String),
    #[error("route must have a destination")]
    NoDestination,
    #[error("cannot mix IPv4 and IPv6 addresses ({0})")]
    FamilyMismatch(String),
    #[error("{0}")]
    Unsupported(String),
}

/// One nexthop of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nexthop {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    /// 1-256 as written (the kernel stores weight - 1).
    pub weight: u16,
    pub onlink: bool,
}

/// A route, typed from its `ip route` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub v6: bool,
    pub dst: IpAddr,
    pub dst_len: u8,
    /// `from` (IPv6 source routing).
    pub src: Option<(IpAddr, u8)>,
    /// `src`: the preferred source address.
    pub pref_src: Option<IpAddr>,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub table: u32,
    pub metric: Option<u32>,
    pub scope: Option<u8>,
    pub protocol: u8,
    /// `RTN_*`, see [`kind`]; `kind_given` says whether the words named one.
    pub kind: u8,
    pub kind_given: bool,
    pub tos: u8,
    pub onlink: bool,
    pub realms: Option<u32>,
    pub mtu: Option<(u32, bool)>,
    pub advmss: Option<(u32, bool)>,
    pub nexthops: Vec<Nexthop>,
    /// `add` (`NLM_F_EXCL`) / `append` (`NLM_F_APPEND`); neither is keepalived's prepend.
    pub mode: AddMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddMode {
    Prepend,
    Add,
    Append,
}

/// Word cursor shared by the route and rule parsers.
pub(crate) struct Words<'a> {
    words: &'a [String],
    pub(crate) i: usize,
}

impl<'a> Words<'a> {
    pub(crate) fn new(words: &'a [String]) -> Words<'a> {
        Words { words, i: 0 }
    }

    pub(crate) fn next(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.i).map(String::as_str);
        self.i += 1;
        w
    }

    pub(crate) fn peek(&self) -> Option<&'a str> {
        self.words.get(self.i).map(String::as_str)
    }

    pub(crate) fn value(&mut self, keyword: &'static str) -> Result<&'a str, RouteError> {
        self.next().ok_or(RouteError::MissingValue { keyword })
    }

    pub(crate) fn parsed<T: std::str::FromStr>(
        &mut self,
        keyword: &'static str,
    ) -> Result<T, RouteError> {
        let v = self.value(keyword)?;
        parse_num(v).ok_or_else(|| invalid(keyword, v))
    }
}

pub(crate) fn invalid(keyword: &'static str, value: &str) -> RouteError {
    RouteError::InvalidValue {
        keyword,
        value: value.to_string(),
    }
}

/// Decimal or `0x` hexadecimal, as iproute2's `get_u32`.
pub(crate) fn parse_num<T: std::str::FromStr>(v: &str) -> Option<T> {
    if let Some(hex) = v.strip_prefix("0x") {
        let n = u64::from_str_radix(hex, 16).ok()?;
        return n.to_string().parse().ok();
    }
    v.parse().ok()
}

/// `ADDR[/LEN]`, `default`/`any`/`all` (a zero-length prefix, family unknown: `None`).
pub(crate) fn parse_prefix(
    keyword: &'static str,
    v: &str,
) -> Result<Option<(IpAddr, u8)>, RouteError> {
    if matches!(v, "default" | "any" | "all") {
        return Ok(None);
    }
    let (a, len) = v.split_once('/').map_or((v, None), |(a, l)| (a, Some(l)));
    let addr: IpAddr = a.parse().map_err(|_| invalid(keyword, v))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| invalid(keyword, v))?,
    };
    Ok(Some((addr, len)))
}

/// A table: `main`, `local`, `default`, `unspec` or a number (1-2^32-1).
pub fn parse_table(v: &str) -> Option<u32> {
    match v {
        "main" => Some(table::MAIN),
        "local" => Some(table::LOCAL),
        "default" => Some(table::DEFAULT),
        "unspec" => Some(table::UNSPEC),
        n => parse_num(n),
    }
}

/// A protocol: iproute2's rt_protos names or a number.
pub fn parse_protocol(v: &str) -> Option<u8> {
    match v {
        "unspec" => Some(0),
        "redirect" => Some(1),
        "kernel" => Some(2),
        "boot" => Some(3),
        "static" => Some(4),
        "keepalived" => Some(RTPROT_KEEPALIVED),
        "dhcp" => Some(16),
        n => parse_num(n),
    }
}

fn parse_kind(v: &str) -> Option<u8> {
    Some(match v {
        "unicast" => kind::UNICAST,
        "local" => kind::LOCAL,
        "broadcast" => kind::BROADCAST,
        "anycast" => kind::ANYCAST,
        "multicast" => kind::MULTICAST,
        "blackhole" => kind::BLACKHOLE,
        "unreachable" => kind::UNREACHABLE,
        "prohibit" => kind::PROHIBIT,
        "throw" => kind::THROW,
        "nat" => kind::NAT,
        _ => return None,
    })
}

/// `realms [FROM/]TO`: 16 bits each, source realm in the high half.
pub(crate) fn parse_realms(v: &str) -> Option<u32> {
    match v.split_once('/') {
        Some((from, to)) => {
            let f: u16 = parse_num(from)?;
            let t: u16 = parse_num(to)?;
            Some(u32::from(f) << 16 | u32::from(t))
        }
        None => parse_num::<u16>(v).map(u32::from),
    }
}

/// Tracks the family as addresses are seen.
pub(crate) struct FamilyCheck(pub(crate) Option<bool>);

impl FamilyCheck {
    pub(crate) fn see(&mut self, addr: IpAddr, what: &str) -> Result<(), RouteError> {
        let v6 = addr.is_ipv6();
        match self.0 {
            Some(f) if f != v6 => Err(RouteError::FamilyMismatch(format!("{what} {addr}"))),
            _ => {
                self.0 = Some(v6);
                Ok(())
            }
        }
    }
}

impl RouteSpec {
    /// Read `ip route` words (keepalived's `alloc_route()` grammar, the parts the kernel
    /// request carries). Tracking words (`no_track`, `track_group G`) are accepted and
    /// ignored here.
    pub fn parse(words: &[String]) -> Result<RouteSpec, RouteError> {
        let mut w = Words::new(words);
        let mut fam = FamilyCheck(None);
        let mut dst: Option<Option<(IpAddr, u8)>> = None;
        let mut r = RouteSpec {
            v6: false,
            dst: IpAddr::from([0, 0, 0, 0]),
            dst_len: 0,
            src: None,
            pref_src: None,
            via: None,
            dev: None,
            table: table::MAIN,
            metric: None,
            scope: None,
            protocol: RTPROT_KEEPALIVED,
            kind: kind::UNICAST,
            kind_given: false,
            tos: 0,
            onlink: false,
            realms: None,
            mtu: None,
            advmss: None,
            nexthops: Vec::new(),
            mode: AddMode::Prepend,
        };
        while let Some(word) = w.next() {
            match word {
                "inet" => fam.see(IpAddr::from([0, 0, 0, 0]), "inet")?,
                "inet6" => fam.see(IpAddr::from([0u16; 8]), "inet6")?,
                "src" => {
                    let v = w.value("src")?;
                    let a: IpAddr = v.parse().map_err(|_| invalid("src", v))?;
                    fam.see(a, "src")?;
                    r.pref_src = Some(a);
                }
                "via" | "gw" => {
                    let mut v = w.value("via")?;
                    if matches!(v, "inet" | "inet6") {
                        v = w.value("via")?;
                    }
                    let a: IpAddr = v.parse().map_err(|_| invalid("via", v))?;
                    fam.see(a, "via")?;
                    r.via = Some(a);
                }
                "or" => {
                    let v = w.value("or")?;
                    let a: IpAddr = v.parse().map_err(|_| invalid("or", v))?;
                    fam.see(a, "or")?;
                    if r.nexthops.is_empty() {
                        let first = r.via.take();
                        for via in [first, Some(a)] {
                            r.nexthops.push(Nexthop {
                                via,
                                dev: None,
                                weight: 1,
                                onlink: false,
                            });
                        }
                    }
                }
                "from" => {
                    let v = w.value("from")?;
                    if let Some((a, l)) = parse_prefix("from", v)? {
                        fam.see(a, "from")?;
                        r.src = Some((a, l));
                    }
                }
                "tos" | "dsfield" => r.tos = w.parsed("tos")?,
                "table" => {
                    let v = w.value("table")?;
                    r.table = parse_table(v).ok_or_else(|| invalid("table", v))?;
                }
                "protocol" | "proto" => {
                    let v = w.value("protocol")?;
                    r.protocol = parse_protocol(v).ok_or_else(|| invalid("protocol", v))?;
                }
                "scope" => {
                    let v = w.value("scope")?;
                    r.scope = Some(parse_scope(v).ok_or_else(|| invalid("scope", v))?);
                }
                "metric" | "priority" | "preference" => r.metric = Some(w.parsed("metric")?),
                "dev" | "oif" => r.dev = Some(w.value("dev")?.to_string()),
                "onlink" => r.onlink = true,
                "realms" => {
                    let v = w.value("realms")?;
                    r.realms = Some(parse_realms(v).ok_or_else(|| invalid("realms", v))?);
                    fam.see(IpAddr::from([0, 0, 0, 0]), "realms")?;
                }
                "mtu" | "advmss" => {
                    let keyword = if word == "mtu" { "mtu" } else { "advmss" };
                    let lock = w.peek() == Some("lock");
                    if lock {
                        w.next();
                    }
                    let v = w.parsed(keyword)?;
                    if keyword == "mtu" {
                        r.mtu = Some((v, lock));
                    } else {
                        r.advmss = Some((v, lock));
                    }
                }
                "add" => r.mode = AddMode::Add,
                "prepend" => r.mode = AddMode::Prepend,
                "append" => r.mode = AddMode::Append,
                "no_track" | "track" => {}
                "track_group" => {
                    w.value("track_group")?;
                }
                "nexthop" => {
                    w.i -= 1;
                    r.nexthops = parse_nexthops(&mut w, &mut fam)?;
                }
                "encap" | "expires" | "hoplimit" | "rtt" | "rttvar" | "reordering" | "window"
                | "cwnd" | "ssthresh" | "rto_min" | "initcwnd" | "initrwnd" | "features"
                | "quickack" | "congctl" | "pref" | "ttl-propagate" | "fastopen_no_cookie"
                | "as" | "vrf" => {
                    return Err(RouteError::Unsupported(format!(
                        "route option {word:?} is not supported by keepalived-rs"
                    )));
                }
                _ => {
                    // keepalived: an optional `to`, an optional type, then the destination.
                    let mut d = word;
                    if d == "to" {
                        d = w.value("to")?;
                    }
                    if let Some(k) = parse_kind(d) {
                        r.kind = k;
                        r.kind_given = true;
                        d = w.value("destination")?;
                    }
                    let p = parse_prefix("destination", d)
                        .map_err(|_| RouteError::UnknownKeyword(d.to_string()))?;
                    if let Some((a, _)) = p {
                        fam.see(a, "destination")?;
                    }
                    dst = Some(p);
                }
            }
        }
        let Some(dst) = dst else {
            return Err(RouteError::NoDestination);
        };
        r.v6 = fam.0.unwrap_or(false);
        let (addr, len) = dst.unwrap_or((
            if r.v6 {
                IpAddr::from([0u16; 8])
            } else {
                IpAddr::from([0, 0, 0, 0])
            },
            0,
        ));
        r.dst = addr;
        r.dst_len = len;
        Ok(r)
    }

    fn family(&self) -> u8 {
        if self.v6 {
            libc::AF_INET6 as u8
        } else {
            libc::AF_INET as u8
        }
    }

    /// The `RTM_NEWROUTE` payload (`struct rtmsg` and attributes), interfaces resolved by
    /// `index`.
    pub fn new_route_msg(
        &self,
        index: &dyn Fn(&str) -> Result<u32, NetlinkError>,
    ) -> Result<Vec<u8>, NetlinkError> {
        let scope = self.scope.unwrap_or(0);
        self.msg(scope, self.kind, index)
    }

    /// The `RTM_DELROUTE` payload: scope `nowhere` (any), the type only when one was given.
    pub fn del_route_msg(
        &self,
        index: &dyn Fn(&str) -> Result<u32, NetlinkError>,
    ) -> Result<Vec<u8>, NetlinkError> {
        let scope = self.scope.unwrap_or(RT_SCOPE_NOWHERE);
        self.msg(scope, if self.kind_given { self.kind } else { 0 }, index)
    }

    fn msg(
        &self,
        scope: u8,
        kind: u8,
        index: &dyn Fn(&str) -> Result<u32, NetlinkError>,
    ) -> Result<Vec<u8>, NetlinkError> {
        let mut b = Vec::with_capacity(128);
        b.push(self.family());
        b.push(self.dst_len);
        b.push(self.src.map_or(0, |s| s.1));
        b.push(self.tos);
        b.push(u8::try_from(self.table).unwrap_or(0));
        b.push(self.protocol);
        b.push(scope);
        b.push(kind);
        let flags = if self.onlink { ONLINK } else { 0 };
        b.extend_from_slice(&flags.to_ne_bytes());
        if self.table > 255 {
            put_attr(&mut b, RTA_TABLE, &self.table.to_ne_bytes());
        }
        if self.dst_len > 0 {
            put_attr(&mut b, RTA_DST, &ip_octets(self.dst));
        }
        if let Some((a, _)) = self.src {
            put_attr(&mut b, RTA_SRC, &ip_octets(a));
        }
        if let Some(a) = self.pref_src {
            put_attr(&mut b, RTA_PREFSRC, &ip_octets(a));
        }
        if let Some(a) = self.via {
            put_attr(&mut b, RTA_GATEWAY, &ip_octets(a));
        }
        if let Some(dev) = &self.dev {
            put_attr(&mut b, RTA_OIF, &index(dev)?.to_ne_bytes());
        }
        if let Some(m) = self.metric {
            put_attr(&mut b, RTA_PRIORITY, &m.to_ne_bytes());
        }
        if let Some(r) = self.realms {
            put_attr(&mut b, RTA_FLOW, &r.to_ne_bytes());
        }
        let mut metrics = Vec::new();
        let mut lock = 0u32;
        for (ty, m) in [(RTAX_MTU, self.mtu), (RTAX_ADVMSS, self.advmss)] {
            if let Some((v, locked)) = m {
                put_attr(&mut metrics, ty, &v.to_ne_bytes());
                if locked {
                    lock |= 1 << ty;
                }
            }
        }
        if !metrics.is_empty() {
            if lock != 0 {
                put_attr(&mut metrics, RTAX_LOCK, &lock.to_ne_bytes());
            }
            put_attr(&mut b, RTA_METRICS, &metrics);
        }
        if !self.nexthops.is_empty() {
            let mut mp = Vec::new();
            for nh in &self.nexthops {
                let mut attrs = Vec::new();
                if let Some(a) = nh.via {
                    put_attr(&mut attrs, RTA_GATEWAY, &ip_octets(a));
                }
                let ifindex = match &nh.dev {
                    Some(d) => index(d)?,
                    None => 0,
                };
                // struct rtnexthop { len u16, flags u8, hops u8, ifindex i32 }
                let len = u16::try_from(8 + attrs.len()).unwrap_or(u16::MAX);
                mp.extend_from_slice(&len.to_ne_bytes());
                mp.push(if nh.onlink { ONLINK as u8 } else { 0 });
                mp.push(u8::try_from(nh.weight.saturating_sub(1)).unwrap_or(255));
                mp.extend_from_slice(&ifindex.to_ne_bytes());
                mp.extend_from_slice(&attrs);
            }
            put_attr(&mut b, RTA_MULTIPATH, &mp);
        }
        Ok(b)
    }
}

/// `nexthop [via A] [dev D] [weight W] [onlink] nexthop ...` to the end of the words.
fn parse_nexthops(w: &mut Words, fam: &mut FamilyCheck) -> Result<Vec<Nexthop>, RouteError> {
    let mut out: Vec<Nexthop> = Vec::new();
    while let Some(word) = w.next() {
        match word {
            "nexthop" => out.push(Nexthop {
                via: None,
                dev: None,
                weight: 1,
                onlink: false,
            }),
            _ if out.is_empty() => return Err(RouteError::UnknownKeyword(word.to_string())),
            "via" => {
                let mut v = w.value("via")?;
                if matches!(v, "inet" | "inet6") {
                    v = w.value("via")?;
                }
                let a: IpAddr = v.parse().map_err(|_| invalid("via", v))?;
                fam.see(a, "via")?;
                out.last_mut().expect("invariant: a nexthop was pushed").via = Some(a);
            }
            "dev" => {
                out.last_mut().expect("invariant: a nexthop was pushed").dev =
                    Some(w.value("dev")?.to_string());
            }
            "weight" => {
                let v = w.value("weight")?;
                let n: u16 = parse_num(v)
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| invalid("weight", v))?;
                out.last_mut()
                    .expect("invariant: a nexthop was pushed")
                    .weight = n;
            }
            "onlink" => {
                out.last_mut()
                    .expect("invariant: a nexthop was pushed")
                    .onlink = true
            }
            other => {
                return Err(RouteError::Unsupported(format!(
                    "nexthop option {other:?} is not supported"
                )));
            }
        }
    }
    Ok(out)
}

/// Appends one rtattr (header, payload, padding to 4 bytes).
pub(crate) fn put_attr(b: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = u16::try_from(4 + payload.len()).unwrap_or(u16::MAX);
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(payload);
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
}

pub(crate) fn ip_octets(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// `ip route` style, for logs: `198.51.100.0/24 via 203.0.113.1 table 100`.
impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dst_len == 0 {
            f.write_str("default")?;
        } else {
            write!(f, "{}/{}", self.dst, self.dst_len)?;
        }
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        if self.table != table::MAIN {
            write!(f, " table {}", self.table)?;
        }
        Ok(())
    }
}

/// What an add found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The kernel created it; it is recorded as ours.
    Added,
    /// An identical one was there (`EEXIST`); not ours, and never removed by us.
    Existed,
}

/// Sends one route or rule request; `EEXIST` on add is [`Added::Existed`]; on delete
/// `ESRCH`/`ENOENT`/`ENODEV` (gone already) is success.
pub(crate) fn talk(
    rtnl: &mut Rtnl,
    request: &'static str,
    ty: Rtm,
    flags: NlmF,
    payload: Vec<u8>,
    what: &dyn Fn(Errno) -> NetlinkError,
) -> Result<Added, NetlinkError> {
    let add = matches!(ty, Rtm::Newroute | Rtm::Newrule);
    match rtnl.request(request, ty, flags, Buffer::from(payload))? {
        Ok(()) => Ok(Added::Added),
        Err(Errno::EEXIST) if add => Ok(Added::Existed),
        Err(Errno::ESRCH | Errno::ENOENT | Errno::ENODEV) if !add => Ok(Added::Added),
        Err(errno) => Err(what(errno)),
    }
}

/// Adds `spec`.
pub fn add_route(rtnl: &mut Rtnl, spec: &RouteSpec) -> Result<Added, NetlinkError> {
    let msg = spec.new_route_msg(&ifindex)?;
    let flags = NlmF::CREATE
        | match spec.mode {
            AddMode::Prepend => NlmF::empty(),
            AddMode::Add => NlmF::EXCL,
            AddMode::Append => NlmF::APPEND,
        };
    talk(rtnl, "RTM_NEWROUTE", Rtm::Newroute, flags, msg, &|errno| {
        NetlinkError::Route {
            op: "add",
            route: spec.to_string(),
            errno,
        }
    })
}

/// Removes `spec` (whoever added it).
pub fn delete_route(rtnl: &mut Rtnl, spec: &RouteSpec) -> Result<(), NetlinkError> {
    let msg = match spec.del_route_msg(&ifindex) {
        Ok(m) => m,
        // The interface went away, and the route with it.
        Err(NetlinkError::NoSuchInterface { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    talk(
        rtnl,
        "RTM_DELROUTE",
        Rtm::Delroute,
        NlmF::empty(),
        msg,
        &|errno| NetlinkError::Route {
            op: "remove",
            route: spec.to_string(),
            errno,
        },
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RouteSpec, RouteError> {
        let words: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        RouteSpec::parse(&words)
    }

    fn idx(name: &str) -> Result<u32, NetlinkError> {
        match name {
            "eth0" => Ok(2),
            "eth1" => Ok(3),
            _ => Err(NetlinkError::NoSuchInterface {
                ifname: name.into(),
            }),
        }
    }

    /// (type, payload) pairs after the 12-byte rtmsg.
    fn attrs(b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = &b[12..];
        while rest.len() >= 4 {
            let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
            out.push((
                u16::from_ne_bytes([rest[2], rest[3]]),
                rest[4..len].to_vec(),
            ));
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
        }
        out
    }

    #[test]
    fn plain_route_gets_keepalived_defaults() {
        let r = parse("198.51.100.0/24 via 203.0.113.1 dev eth0").unwrap();
        assert_eq!(r.dst, "198.51.100.0".parse::<IpAddr>().unwrap());
        assert_eq!(r.dst_len, 24);
        assert_eq!(r.via, Some("203.0.113.1".parse().unwrap()));
        assert_eq!(r.dev.as_deref(), Some("eth0"));
        assert_eq!(
            (r.table, r.protocol, r.kind, r.scope, r.v6),
            (table::MAIN, RTPROT_KEEPALIVED, kind::UNICAST, None, false)
        );
    }

    #[test]
    fn host_route_and_gw_and_to() {
        let r = parse("to 203.0.113.7 gw 198.51.100.1").unwrap();
        assert_eq!(r.dst_len, 32);
        assert_eq!(r.via, Some("198.51.100.1".parse().unwrap()));
        let r = parse("2001:db8:1::/48 via 2001:db8::1 dev eth0 metric 10").unwrap();
        assert!(r.v6);
        assert_eq!((r.dst_len, r.metric), (48, Some(10)));
    }

    #[test]
    fn tables_by_name_and_number() {
        for (w, t) in [
            ("main", 254),
            ("local", 255),
            ("default", 253),
            ("100", 100),
            ("1000", 1000),
        ] {
            let r = parse(&format!("198.51.100.0/24 dev eth0 table {w}")).unwrap();
            assert_eq!(r.table, t, "{w}");
        }
        assert_eq!(
            parse("198.51.100.0/24 table bogus"),
            Err(RouteError::InvalidValue {
                keyword: "table",
                value: "bogus".into()
            })
        );
    }

    #[test]
    fn route_types() {
        for (w, k) in [
            ("blackhole", kind::BLACKHOLE),
            ("unreachable", kind::UNREACHABLE),
            ("prohibit", kind::PROHIBIT),
            ("throw", kind::THROW),
        ] {
            let r = parse(&format!("{w} 203.0.113.0/24 table 50")).unwrap();
            assert_eq!((r.kind, r.kind_given, r.dst_len), (k, true, 24), "{w}");
        }
        let r = parse("default via 198.51.100.1").unwrap();
        assert_eq!(r.dst_len, 0);
    }

    #[test]
    fn options_scope_proto_src_onlink_realms_mtu() {
        let r = parse(
            "198.51.100.0/24 dev eth0 src 198.51.100.2 scope link proto static onlink \
             realms 2/3 mtu lock 1400 advmss 1360 preference 7",
        )
        .unwrap();
        assert_eq!(r.scope, Some(253));
        assert_eq!(r.protocol, 4);
        assert_eq!(r.pref_src, Some("198.51.100.2".parse().unwrap()));
        assert!(r.onlink);
        assert_eq!(r.realms, Some(2 << 16 | 3));
        assert_eq!(r.mtu, Some((1400, true)));
        assert_eq!(r.advmss, Some((1360, false)));
        assert_eq!(r.metric, Some(7));
    }

    #[test]
    fn nexthops_with_weights_and_deprecated_or() {
        let r = parse(
            "203.0.113.0/24 nexthop via 198.51.100.1 dev eth0 weight 2 \
             nexthop via 198.51.100.3 weight 256 onlink",
        )
        .unwrap();
        assert_eq!(r.nexthops.len(), 2);
        assert_eq!(r.nexthops[0].weight, 2);
        assert_eq!(r.nexthops[1].weight, 256);
        assert!(r.nexthops[1].onlink);
        let r = parse("203.0.113.0/24 via 198.51.100.1 or 198.51.100.3").unwrap();
        assert_eq!(r.via, None);
        let vias: Vec<_> = r
            .nexthops
            .iter()
            .map(|n| n.via.unwrap().to_string())
            .collect();
        assert_eq!(vias, ["198.51.100.1", "198.51.100.3"]);
        assert!(matches!(
            parse("203.0.113.0/24 nexthop via 198.51.100.1 weight 0"),
            Err(RouteError::InvalidValue {
                keyword: "weight",
                ..
            })
        ));
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(parse("dev eth0"), Err(RouteError::NoDestination));
        assert_eq!(
            parse("198.51.100.0/24 via"),
            Err(RouteError::MissingValue { keyword: "via" })
        );
        assert!(matches!(
            parse("198.51.100.0/24 via 2001:db8::1"),
            Err(RouteError::FamilyMismatch(_))
        ));
        assert_eq!(
            parse("bogus"),
            Err(RouteError::UnknownKeyword("bogus".into()))
        );
        assert!(matches!(
            parse("198.51.100.0/24 metric x"),
            Err(RouteError::InvalidValue {
                keyword: "metric",
                ..
            })
        ));
        assert!(matches!(
            parse("198.51.100.0/33"),
            Err(RouteError::UnknownKeyword(_))
        ));
    }

    #[test]
    fn newroute_bytes() {
        let r = parse("198.51.100.0/24 via 203.0.113.1 dev eth0 table 1000 metric 5").unwrap();
        let b = r.new_route_msg(&idx).unwrap();
        // family, dst_len, src_len, tos, table (UNSPEC: > 255), protocol, scope, type
        assert_eq!(&b[..8], &[libc::AF_INET as u8, 24, 0, 0, 0, 18, 0, 1]);
        assert_eq!(
            attrs(&b),
            vec![
                (RTA_TABLE, 1000u32.to_ne_bytes().to_vec()),
                (RTA_DST, vec![198, 51, 100, 0]),
                (RTA_GATEWAY, vec![203, 0, 113, 1]),
                (RTA_OIF, 2u32.to_ne_bytes().to_vec()),
                (RTA_PRIORITY, 5u32.to_ne_bytes().to_vec()),
            ]
        );
        // Delete: any scope, no type unless given.
        let d = r.del_route_msg(&idx).unwrap();
        assert_eq!(&d[..8], &[libc::AF_INET as u8, 24, 0, 0, 0, 18, 255, 0]);
    }

    #[test]
    fn multipath_bytes() {
        let r = parse("203.0.113.0/24 nexthop via 198.51.100.1 dev eth1 weight 3").unwrap();
        let b = r.new_route_msg(&idx).unwrap();
        let a = attrs(&b);
        let (ty, mp) = &a[1];
        assert_eq!(*ty, RTA_MULTIPATH);
        assert_eq!(&mp[..4], &[16, 0, 0, 2][..]); // len 16 (ne, little endian host), flags, hops
        assert_eq!(&mp[4..8], &3u32.to_ne_bytes());
        assert_eq!(&mp[12..16], &[198, 51, 100, 1]);
        assert!(matches!(
            parse("203.0.113.0/24 dev nosuch")
                .unwrap()
                .new_route_msg(&idx),
            Err(NetlinkError::NoSuchInterface { .. })
        ));
    }
}
