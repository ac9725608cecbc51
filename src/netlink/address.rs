//! Interface addresses over rtnetlink: `virtual_ipaddress`, `virtual_ipaddress_excluded` and
//! `static_ipaddress` entries made real, and the dump the VRRP engine uses to ask "is this
//! address configured here?".
//!
//! What the requests carry, following keepalived 2.2.7 (`netlink_ipaddress()` and
//! `alloc_ipaddress()` in vrrp_ipaddress.c; `netlink_parse_info()` in keepalived_netlink.c):
//! - Add: `RTM_NEWADDR` with `IFA_LOCAL` (and `IFA_ADDRESS` = the peer, or the address itself
//!   as `ip addr add` sends it), `IFA_BROADCAST` (IPv4 `brd`), `IFA_LABEL`, `IFA_FLAGS`
//!   (`home`, `mngtmpaddr`, `noprefixroute`, `autojoin`; IPv6 also `nodad`) and, for IPv6 with
//!   a finite `preferred_lft`, `IFA_CACHEINFO {preferred, valid = forever}`. The request is
//!   sent with `NLM_F_CREATE | NLM_F_EXCL`.
//! - IPv6 defaults: `IFA_F_NODAD` unless `-nodad` (a VIP must not go `dadfailed` during a
//!   split brain), and `preferred_lft 0` (deprecated, so it is not picked as a source address)
//!   for a /128, forever otherwise. `scope` and `label` are ignored for IPv6, as keepalived
//!   does after logging a configuration error.
//! - Remove: `RTM_DELADDR` with the prefix length, `IFA_LOCAL` and `IFA_ADDRESS`. "No such
//!   address" (`EADDRNOTAVAIL`: e.g. a secondary that went with its primary) and "no such
//!   device" (`ENODEV`) mean the address is gone, which is what was asked.
//!
//! Ownership differs from keepalived on purpose. keepalived treats `EEXIST` on add as success,
//! marks the address as set and later deletes it, even if it was there before keepalived
//! started. [`AddressManager`] also accepts `EEXIST` ([`AddOutcome::Existed`]) but does not
//! record the address as its own. [`AddressManager::remove_all_added`] therefore never removes
//! an address it did not create. The price: a VIP that was already configured by hand stays
//! configured when this node goes back to BACKUP. Callers that want keepalived's behaviour (for
//! example, to clean up after a crashed previous run) can call [`delete_address`] explicitly.
//!
//! Must not: remove anything that is not recorded as ours (except through the explicit
//! [`delete_address`]), or parse keepalived.conf (the lowering in `config` did that; this
//! module only interprets the words it kept).

use std::fmt;
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use neli::consts::nl::NlmF;
use neli::consts::rtnl::{Ifa, IfaF, RtAddrFamily, RtScope, Rtm};
use neli::rtnl::{Ifaddrmsg, IfaddrmsgBuilder, Rtattr, RtattrBuilder};
use neli::types::{Buffer, RtBuffer};
use neli::{FromBytesWithInput, Size, ToBytes};
use nix::errno::Errno;

use super::{AddrOp, NetlinkError, Rtnl};
use crate::config::model::IpAddress;

/// `IFA_F_*` address flags (linux/if_addr.h), as carried in `IFA_FLAGS`.
pub mod flags {
    pub const SECONDARY: u32 = 0x01;
    pub const NODAD: u32 = 0x02;
    pub const OPTIMISTIC: u32 = 0x04;
    pub const DADFAILED: u32 = 0x08;
    pub const HOMEADDRESS: u32 = 0x10;
    pub const DEPRECATED: u32 = 0x20;
    pub const TENTATIVE: u32 = 0x40;
    pub const PERMANENT: u32 = 0x80;
    pub const MANAGETEMPADDR: u32 = 0x100;
    pub const NOPREFIXROUTE: u32 = 0x200;
    pub const MCAUTOJOIN: u32 = 0x400;
}

/// `INFINITY_LIFE_TIME`: a lifetime of "forever" in `struct ifa_cacheinfo`.
const FOREVER: u32 = u32::MAX;

/// Longest label the kernel stores (`IFNAMSIZ - 1`).
const MAX_LABEL_LEN: usize = 15;

/// One address to configure, resolved and typed from a configuration entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec {
    /// Interface to configure it on.
    pub ifname: String,
    pub addr: IpAddr,
    pub prefix: u8,
    /// Point-to-point peer (`peer`): sent as `IFA_ADDRESS`.
    pub peer: Option<IpAddr>,
    /// IPv4 broadcast (`brd`), already computed for `+`/`-`.
    pub broadcast: Option<Ipv4Addr>,
    /// `RT_SCOPE_*`: 0 global, 200 site, 253 link, 254 host, 255 nowhere.
    pub scope: u8,
    /// IPv4 label (`label`), at most 15 bytes.
    pub label: Option<String>,
    /// `IFA_F_*` bits, see [`flags`].
    pub flags: u32,
    /// IPv6 preferred lifetime in seconds; `None` is forever. Ignored for IPv4.
    pub preferred_lft: Option<u32>,
}

impl AddressSpec {
    /// `addr/prefix` on `ifname` with keepalived's defaults for an entry without options:
    /// global scope; IPv6 gets `nodad` and, for a /128, `preferred_lft 0`.
    pub fn new(ifname: impl Into<String>, addr: IpAddr, prefix: u8) -> AddressSpec {
        let v6 = addr.is_ipv6();
        AddressSpec {
            ifname: ifname.into(),
            addr,
            prefix,
            peer: None,
            broadcast: None,
            scope: 0,
            label: None,
            flags: if v6 { flags::NODAD } else { 0 },
            preferred_lft: (v6 && prefix == 128).then_some(0),
        }
    }

    /// Interpret a lowered configuration entry. `default_ifname` is used when the entry has
    /// no `dev` (keepalived: the instance's interface, or its VMAC).
    ///
    /// Follows `alloc_ipaddress()`. Values keepalived reports and then ignores (an unknown
    /// scope, an unparsable `preferred_lft`, `brd +` on a prefix longer than /30, `scope` or
    /// `label` on IPv6, `brd` together with `peer`) are ignored here too, since the
    /// configuration layer has already reported them. Values that make keepalived skip the
    /// address (`brd` on IPv6, an invalid `brd`, a label of 16 bytes or more, a peer of the
    /// other family) are errors.
    ///
    /// With `peer`, keepalived takes the prefix length from the peer (`peer P/N`, default /32
    /// or /128). The lowered entry keeps only the peer address, so `ip.prefix` is used.
    pub fn from_config(ip: &IpAddress, default_ifname: &str) -> Result<AddressSpec, NetlinkError> {
        let ifname = ip.dev.as_deref().unwrap_or(default_ifname);
        let mut spec = AddressSpec::new(ifname, ip.addr, ip.prefix);
        let invalid = |reason: String| NetlinkError::InvalidAddress {
            addr: format!("{}/{}", ip.addr, ip.prefix),
            reason,
        };
        let max_prefix = if ip.addr.is_ipv4() { 32 } else { 128 };
        if ip.prefix > max_prefix {
            return Err(invalid(format!("prefix length {} is too long", ip.prefix)));
        }
        if let Some(peer) = ip.peer {
            if peer.is_ipv4() != ip.addr.is_ipv4() {
                return Err(invalid(format!(
                    "peer {peer} is of the other address family"
                )));
            }
            spec.peer = Some(peer);
            // `peer P/N`: the prefix given with the peer is the address's prefix (as keepalived).
            if let Some(n) = ip.peer_prefix {
                spec.prefix = n;
            }
        }
        match ip.addr {
            IpAddr::V4(v4) => {
                if let (Some(brd), None) = (&ip.broadcast, spec.peer) {
                    spec.broadcast = broadcast(brd, v4, ip.prefix).map_err(invalid)?;
                }
                if let Some(scope) = ip.scope.as_deref().and_then(parse_scope) {
                    spec.scope = scope;
                }
                if let Some(label) = &ip.label {
                    if label.len() > MAX_LABEL_LEN {
                        return Err(invalid(format!(
                            "label {label:?} is longer than {MAX_LABEL_LEN} bytes"
                        )));
                    }
                    spec.label = Some(label.clone());
                }
            }
            IpAddr::V6(_) => {
                if let Some(brd) = &ip.broadcast {
                    return Err(invalid(format!("broadcast {brd} on an IPv6 address")));
                }
                if let Some(lft) = ip.preferred_lft.as_deref().and_then(parse_lifetime) {
                    spec.preferred_lft = lft;
                }
            }
        }
        for word in &ip.flags {
            spec.flags |= match word.as_str() {
                "home" => flags::HOMEADDRESS,
                "mngtmpaddr" => flags::MANAGETEMPADDR,
                "noprefixroute" => flags::NOPREFIXROUTE,
                "autojoin" => flags::MCAUTOJOIN,
                // `nodad` is not a keepalived keyword; it restates the IPv6 default.
                _ => 0,
            };
        }
        // `-nodad` means "do not set nodad": duplicate address detection stays on.
        if ip.flags.iter().any(|f| f == "-nodad") {
            spec.flags &= !flags::NODAD;
        }
        Ok(spec)
    }

    fn family(&self) -> RtAddrFamily {
        match self.addr {
            IpAddr::V4(_) => RtAddrFamily::Inet,
            IpAddr::V6(_) => RtAddrFamily::Inet6,
        }
    }

    /// The identity the kernel matches addresses by (on one interface).
    fn same_address(&self, other: &AddressSpec) -> bool {
        self.addr == other.addr && self.prefix == other.prefix && self.peer == other.peer
    }

    fn error(&self, op: AddrOp, errno: Errno) -> NetlinkError {
        NetlinkError::Address {
            op,
            addr: self.to_string(),
            ifname: self.ifname.clone(),
            errno,
        }
    }
}

/// `ip addr` style: `198.51.100.10/24`, `203.0.113.5 peer 203.0.113.6/32`.
impl fmt::Display for AddressSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.peer {
            Some(peer) => write!(f, "{} peer {peer}/{}", self.addr, self.prefix),
            None => write!(f, "{}/{}", self.addr, self.prefix),
        }
    }
}

/// `global`, `site`, `link`, `host`, `nowhere` (keepalived's rt_scopes defaults) or a number.
pub fn parse_scope(word: &str) -> Option<u8> {
    match word {
        "global" | "universe" => Some(0),
        "site" => Some(200),
        "link" => Some(253),
        "host" => Some(254),
        "nowhere" => Some(255),
        n => n.parse().ok(),
    }
}

/// `forever` (`Some(None)`) or seconds.
fn parse_lifetime(word: &str) -> Option<Option<u32>> {
    match word {
        "forever" => Some(None),
        n => n.parse().ok().map(Some),
    }
}

/// `brd ADDR`, or `+`/`-` (host bits set/cleared; keepalived ignores those beyond /30).
fn broadcast(word: &str, addr: Ipv4Addr, prefix: u8) -> Result<Option<Ipv4Addr>, String> {
    let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    let base = u32::from(addr);
    match word {
        "+" | "-" if prefix > 30 => Ok(None),
        "+" => Ok(Some(Ipv4Addr::from(base | host_bits))),
        "-" => Ok(Some(Ipv4Addr::from(base & !host_bits))),
        other => other
            .parse()
            .map(Some)
            .map_err(|_| format!("invalid broadcast address {other:?}")),
    }
}

/// What [`AddressManager::add`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The kernel accepted the address; it is recorded as ours.
    Added,
    /// The address was already configured (`EEXIST`). Ownership is unchanged: if someone else
    /// configured it, it is not ours and will not be removed; if we did, it still is.
    Existed,
}

/// What a removal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// The kernel removed it.
    Removed,
    /// It was not there any more (`EADDRNOTAVAIL`/`ENODEV`).
    AlreadyGone,
    /// Not recorded as ours: nothing was sent ([`AddressManager::remove`] only).
    NotOurs,
}

/// Adds addresses and remembers which ones it created, so that they (and only they) can be
/// removed again. Dropping the manager removes nothing (keepalived's `--dont-release-vrrp`
/// is the caller's decision); call [`AddressManager::remove_all_added`].
#[derive(Debug)]
pub struct AddressManager {
    rtnl: Rtnl,
    added: Vec<Owned>,
}

#[derive(Debug)]
struct Owned {
    spec: AddressSpec,
    // The interface as it was when we added the address: removal must not follow a name that
    // now belongs to another interface.
    ifindex: u32,
}

impl AddressManager {
    /// With its own rtnetlink socket.
    pub fn new() -> Result<AddressManager, NetlinkError> {
        Ok(AddressManager::with_rtnl(Rtnl::open()?))
    }

    pub fn with_rtnl(rtnl: Rtnl) -> AddressManager {
        AddressManager {
            rtnl,
            added: Vec::new(),
        }
    }

    /// Configure `spec`. Success records it as ours; `EEXIST` is [`AddOutcome::Existed`].
    pub fn add(&mut self, spec: &AddressSpec) -> Result<AddOutcome, NetlinkError> {
        let ifindex = ifindex(&spec.ifname)?;
        let outcome = add_address_at(&mut self.rtnl, spec, ifindex)?;
        if outcome == AddOutcome::Added && self.position(spec, ifindex).is_none() {
            self.added.push(Owned {
                spec: spec.clone(),
                ifindex,
            });
        }
        Ok(outcome)
    }

    /// Remove `spec` if it is recorded as ours (then it is forgotten, unless the kernel
    /// refused); otherwise send nothing and return [`RemoveOutcome::NotOurs`].
    pub fn remove(&mut self, spec: &AddressSpec) -> Result<RemoveOutcome, NetlinkError> {
        let found = self
            .added
            .iter()
            .position(|o| o.spec.ifname == spec.ifname && o.spec.same_address(spec));
        let Some(i) = found else {
            return Ok(RemoveOutcome::NotOurs);
        };
        let outcome =
            delete_address_at(&mut self.rtnl, &self.added[i].spec, self.added[i].ifindex)?;
        self.added.remove(i);
        Ok(outcome)
    }

    /// Remove every address recorded as ours, newest first (so a secondary goes before the
    /// primary it depends on). Every removal is attempted; those the kernel refused stay
    /// recorded, and the first refusal is returned. `Ok(n)`: `n` addresses were released
    /// (including ones that had already disappeared).
    ///
    /// Kernel semantics to be aware of: removing an IPv4 primary address also removes the
    /// secondaries of its subnet, ours or not, unless `promote_secondaries` is set on the
    /// interface. keepalived has the same exposure.
    pub fn remove_all_added(&mut self) -> Result<usize, NetlinkError> {
        let mut first_error = None;
        let mut released = 0;
        let mut kept = Vec::new();
        while let Some(owned) = self.added.pop() {
            match delete_address_at(&mut self.rtnl, &owned.spec, owned.ifindex) {
                Ok(_) => released += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                    kept.push(owned);
                }
            }
        }
        kept.reverse();
        self.added = kept;
        match first_error {
            Some(e) => Err(e),
            None => Ok(released),
        }
    }

    /// The addresses recorded as ours, oldest first.
    pub fn added(&self) -> impl Iterator<Item = &AddressSpec> {
        self.added.iter().map(|o| &o.spec)
    }

    /// Is `spec` (same interface, address, prefix and peer) recorded as ours?
    pub fn is_added(&self, spec: &AddressSpec) -> bool {
        self.added
            .iter()
            .any(|o| o.spec.ifname == spec.ifname && o.spec.same_address(spec))
    }

    /// [`list_addresses`] over this manager's socket.
    pub fn list(&mut self, ifname: &str) -> Result<Vec<InterfaceAddress>, NetlinkError> {
        list_addresses_with(&mut self.rtnl, ifname)
    }

    /// The socket, e.g. to change its timeout.
    pub fn rtnl(&mut self) -> &mut Rtnl {
        &mut self.rtnl
    }

    fn position(&self, spec: &AddressSpec, ifindex: u32) -> Option<usize> {
        self.added
            .iter()
            .position(|o| o.ifindex == ifindex && o.spec.same_address(spec))
    }
}

/// Remove `spec` whether or not anyone recorded it: keepalived's behaviour for addresses it
/// finds configured (leftovers of an earlier run). Not used by [`AddressManager`]'s release.
pub fn delete_address(rtnl: &mut Rtnl, spec: &AddressSpec) -> Result<RemoveOutcome, NetlinkError> {
    let ifindex = match ifindex(&spec.ifname) {
        Ok(i) => i,
        Err(NetlinkError::NoSuchInterface { .. }) => return Ok(RemoveOutcome::AlreadyGone),
        Err(e) => return Err(e),
    };
    delete_address_at(rtnl, spec, ifindex)
}

fn add_address_at(
    rtnl: &mut Rtnl,
    spec: &AddressSpec,
    ifindex: u32,
) -> Result<AddOutcome, NetlinkError> {
    let msg = new_addr_msg(spec, ifindex)?;
    match rtnl.request("RTM_NEWADDR", Rtm::Newaddr, NlmF::CREATE | NlmF::EXCL, msg)? {
        Ok(()) => Ok(AddOutcome::Added),
        Err(Errno::EEXIST) => Ok(AddOutcome::Existed),
        Err(errno) => Err(spec.error(AddrOp::Add, errno)),
    }
}

fn delete_address_at(
    rtnl: &mut Rtnl,
    spec: &AddressSpec,
    ifindex: u32,
) -> Result<RemoveOutcome, NetlinkError> {
    let msg = del_addr_msg(spec, ifindex)?;
    match rtnl.request("RTM_DELADDR", Rtm::Deladdr, NlmF::empty(), msg)? {
        Ok(()) => Ok(RemoveOutcome::Removed),
        Err(Errno::EADDRNOTAVAIL | Errno::ENODEV) => Ok(RemoveOutcome::AlreadyGone),
        Err(errno) => Err(spec.error(AddrOp::Remove, errno)),
    }
}

/// The interface's index in the current network namespace.
pub fn ifindex(ifname: &str) -> Result<u32, NetlinkError> {
    nix::net::if_::if_nametoindex(ifname).map_err(|_| NetlinkError::NoSuchInterface {
        ifname: ifname.to_string(),
    })
}

/// The `RTM_NEWADDR` payload for `spec` on interface `ifindex`.
fn new_addr_msg(spec: &AddressSpec, ifindex: u32) -> Result<Ifaddrmsg, NetlinkError> {
    let mut attrs = RtBuffer::new();
    if let (IpAddr::V6(_), Some(preferred)) = (spec.addr, spec.preferred_lft) {
        attrs.push(attr(Ifa::Cacheinfo, cacheinfo(preferred, FOREVER))?);
    }
    attrs.push(attr(Ifa::Local, ip_octets(spec.addr))?);
    attrs.push(attr(
        Ifa::Address,
        ip_octets(spec.peer.unwrap_or(spec.addr)),
    )?);
    if let (IpAddr::V4(_), Some(brd)) = (spec.addr, spec.broadcast) {
        attrs.push(attr(Ifa::Broadcast, brd.octets())?);
    }
    if spec.flags != 0 {
        attrs.push(attr(Ifa::Flags, spec.flags)?);
    }
    if let (IpAddr::V4(_), Some(label)) = (spec.addr, &spec.label) {
        // neli appends the NUL that the kernel expects (NLA_STRING of at most IFNAMSIZ).
        attrs.push(attr(Ifa::Label, label.as_str())?);
    }
    ifaddrmsg(spec, ifindex, spec.flags, attrs)
}

/// The `RTM_DELADDR` payload: prefix length, local address and peer identify it.
fn del_addr_msg(spec: &AddressSpec, ifindex: u32) -> Result<Ifaddrmsg, NetlinkError> {
    let mut attrs = RtBuffer::new();
    attrs.push(attr(Ifa::Local, ip_octets(spec.addr))?);
    attrs.push(attr(
        Ifa::Address,
        ip_octets(spec.peer.unwrap_or(spec.addr)),
    )?);
    ifaddrmsg(spec, ifindex, 0, attrs)
}

fn ifaddrmsg(
    spec: &AddressSpec,
    ifindex: u32,
    flags: u32,
    attrs: RtBuffer<Ifa, Buffer>,
) -> Result<Ifaddrmsg, NetlinkError> {
    IfaddrmsgBuilder::default()
        .ifa_family(spec.family())
        .ifa_prefixlen(spec.prefix)
        // The low byte for kernels before IFA_FLAGS (3.14); newer ones read the attribute.
        .ifa_flags(IfaF::from((flags & 0xff) as u8))
        .ifa_scope(RtScope::from(if spec.addr.is_ipv6() {
            0
        } else {
            spec.scope
        }))
        .ifa_index(ifindex)
        .rtattrs(attrs)
        .build()
        .map_err(|e| NetlinkError::Codec {
            request: "ifaddrmsg",
            detail: e.to_string(),
        })
}

fn attr<P: Size + ToBytes>(ty: Ifa, payload: P) -> Result<Rtattr<Ifa, Buffer>, NetlinkError> {
    RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(payload)
        .build()
        .map_err(|e| NetlinkError::Codec {
            request: "rtattr",
            detail: e.to_string(),
        })
}

fn ip_octets(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// `struct ifa_cacheinfo { prefered, valid, cstamp, tstamp }`, host byte order.
fn cacheinfo(preferred: u32, valid: u32) -> [u8; 16] {
    let mut b = [0; 16];
    b[0..4].copy_from_slice(&preferred.to_ne_bytes());
    b[4..8].copy_from_slice(&valid.to_ne_bytes());
    b
}

/// One address as the kernel reports it (`RTM_NEWADDR` in a dump).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub ifindex: u32,
    /// The local address (`IFA_LOCAL`, or `IFA_ADDRESS` for IPv6 without a peer).
    pub addr: IpAddr,
    pub prefix: u8,
    /// `IFA_ADDRESS` when it differs from the local address.
    pub peer: Option<IpAddr>,
    pub broadcast: Option<Ipv4Addr>,
    pub scope: u8,
    pub label: Option<String>,
    /// `IFA_F_*` (the `IFA_FLAGS` attribute when present), see [`flags`].
    pub flags: u32,
    /// Seconds; `None` is forever.
    pub preferred_lft: Option<u32>,
    /// Seconds; `None` is forever.
    pub valid_lft: Option<u32>,
}

impl InterfaceAddress {
    pub fn has_flag(&self, flag: u32) -> bool {
        self.flags & flag == flag
    }
}

/// Every IPv4 and IPv6 address configured on `ifname` (opens a socket for the occasion).
pub fn list_addresses(ifname: &str) -> Result<Vec<InterfaceAddress>, NetlinkError> {
    list_addresses_with(&mut Rtnl::open()?, ifname)
}

/// [`list_addresses`] over an existing socket.
pub fn list_addresses_with(
    rtnl: &mut Rtnl,
    ifname: &str,
) -> Result<Vec<InterfaceAddress>, NetlinkError> {
    let index = ifindex(ifname)?;
    let request = IfaddrmsgBuilder::default()
        .ifa_family(RtAddrFamily::Unspecified)
        .ifa_prefixlen(0)
        .ifa_scope(RtScope::Universe)
        .ifa_index(index)
        .build()
        .map_err(|e| NetlinkError::Codec {
            request: "RTM_GETADDR",
            detail: e.to_string(),
        })?;
    let mut out = Vec::new();
    for msg in rtnl.dump("RTM_GETADDR", Rtm::Getaddr, request)? {
        if *msg.nl_type() != u16::from(Rtm::Newaddr) {
            continue;
        }
        let Some(payload) = msg.get_payload() else {
            continue;
        };
        // Without strict checking the kernel ignores the index filter: filter here.
        if let Some(a) = parse_newaddr(payload.as_ref())?
            && a.ifindex == index
        {
            out.push(a);
        }
    }
    Ok(out)
}

/// Decode one `RTM_NEWADDR` payload; `None` for families other than IPv4/IPv6.
fn parse_newaddr(bytes: &[u8]) -> Result<Option<InterfaceAddress>, NetlinkError> {
    let malformed = |detail: String| NetlinkError::Codec {
        request: "RTM_GETADDR",
        detail,
    };
    let msg = Ifaddrmsg::from_bytes_with_input(&mut Cursor::new(bytes), bytes.len())
        .map_err(|e| malformed(format!("ifaddrmsg: {e}")))?;
    let v6 = match msg.ifa_family() {
        RtAddrFamily::Inet => false,
        RtAddrFamily::Inet6 => true,
        _ => return Ok(None),
    };
    let attrs = msg.rtattrs().get_attr_handle();
    let bytes_of = |ty: Ifa| attrs.get_attribute(ty).map(|a| a.rta_payload().as_ref());
    let ip_of = |ty: Ifa| -> Result<Option<IpAddr>, NetlinkError> {
        bytes_of(ty)
            .map(|b| {
                parse_ip(b, v6).ok_or_else(|| malformed(format!("{ty:?} of {} bytes", b.len())))
            })
            .transpose()
    };
    let local = ip_of(Ifa::Local)?;
    let address = ip_of(Ifa::Address)?;
    let Some(addr) = local.or(address) else {
        return Err(malformed("address without IFA_LOCAL or IFA_ADDRESS".into()));
    };
    let peer = address.filter(|a| local.is_some() && *a != addr);
    let broadcast = match ip_of(Ifa::Broadcast)? {
        Some(IpAddr::V4(b)) => Some(b),
        _ => None,
    };
    let label = bytes_of(Ifa::Label).map(|b| {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    });
    let flags = match bytes_of(Ifa::Flags) {
        Some(b) if b.len() >= 4 => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        _ => u32::from(u8::from(*msg.ifa_flags())),
    };
    let lifetime = |off: usize| {
        bytes_of(Ifa::Cacheinfo)
            .filter(|b| b.len() >= 8)
            .map(|b| u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]))
            .filter(|&s| s != FOREVER)
    };
    Ok(Some(InterfaceAddress {
        ifindex: *msg.ifa_index(),
        addr,
        prefix: *msg.ifa_prefixlen(),
        peer,
        broadcast,
        scope: u8::from(*msg.ifa_scope()),
        label,
        flags,
        preferred_lft: lifetime(0),
        valid_lft: lifetime(4),
    }))
}

fn parse_ip(b: &[u8], v6: bool) -> Option<IpAddr> {
    if v6 {
        <[u8; 16]>::try_from(b)
            .ok()
            .map(|o| IpAddr::V6(Ipv6Addr::from(o)))
    } else {
        <[u8; 4]>::try_from(b)
            .ok()
            .map(|o| IpAddr::V4(Ipv4Addr::from(o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::Loc;

    fn entry(addr: &str, prefix: u8) -> IpAddress {
        IpAddress {
            addr: addr.parse().unwrap(),
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

    fn encoded(msg: Ifaddrmsg) -> Vec<u8> {
        let mut c = Cursor::new(vec![0; msg.padded_size()]);
        msg.to_bytes(&mut c).unwrap();
        c.into_inner()
    }

    /// Walk the rtattrs after the 8-byte ifaddrmsg: (type, payload) pairs.
    fn attrs_of(bytes: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = &bytes[8..];
        while rest.len() >= 4 {
            let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
            let ty = u16::from_ne_bytes([rest[2], rest[3]]);
            out.push((ty, rest[4..len].to_vec()));
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
        }
        out
    }

    #[test]
    fn ipv4_defaults_global_scope_no_flags() {
        let s = AddressSpec::from_config(&entry("198.51.100.10", 24), "eth0").unwrap();
        assert_eq!(
            s,
            AddressSpec::new("eth0", "198.51.100.10".parse().unwrap(), 24)
        );
        assert_eq!(
            (s.scope, s.flags, s.broadcast, s.preferred_lft),
            (0, 0, None, None)
        );
    }

    #[test]
    fn ipv6_defaults_nodad_and_deprecated_host_address() {
        let host = AddressSpec::from_config(&entry("2001:db8::1", 128), "eth0").unwrap();
        assert_eq!(host.flags, flags::NODAD);
        assert_eq!(host.preferred_lft, Some(0));
        let net = AddressSpec::from_config(&entry("2001:db8::1", 64), "eth0").unwrap();
        assert_eq!(net.preferred_lft, None);
    }

    #[test]
    fn options_map_to_kernel_values() {
        let mut e = entry("198.51.100.10", 24);
        e.dev = Some("eth1".into());
        e.broadcast = Some("+".into());
        e.scope = Some("link".into());
        e.label = Some("eth1:vip".into());
        e.flags = vec!["home".into(), "noprefixroute".into(), "autojoin".into()];
        let s = AddressSpec::from_config(&e, "eth0").unwrap();
        assert_eq!(s.ifname, "eth1");
        assert_eq!(s.broadcast, Some(Ipv4Addr::new(198, 51, 100, 255)));
        assert_eq!(s.scope, 253);
        assert_eq!(s.label.as_deref(), Some("eth1:vip"));
        assert_eq!(
            s.flags,
            flags::HOMEADDRESS | flags::NOPREFIXROUTE | flags::MCAUTOJOIN
        );

        e.broadcast = Some("-".into());
        let s = AddressSpec::from_config(&e, "eth0").unwrap();
        assert_eq!(s.broadcast, Some(Ipv4Addr::new(198, 51, 100, 0)));
        e.broadcast = Some("198.51.100.127".into());
        let s = AddressSpec::from_config(&e, "eth0").unwrap();
        assert_eq!(s.broadcast, Some(Ipv4Addr::new(198, 51, 100, 127)));
    }

    #[test]
    fn keepalived_ignores_what_it_reports() {
        // brd +/- beyond /30, brd with peer, scope/label on IPv6, an unknown scope.
        let mut e = entry("198.51.100.10", 31);
        e.broadcast = Some("+".into());
        e.scope = Some("bogus".into());
        let s = AddressSpec::from_config(&e, "eth0").unwrap();
        assert_eq!((s.broadcast, s.scope), (None, 0));

        let mut e = entry("203.0.113.5", 32);
        e.peer = Some("203.0.113.6".parse().unwrap());
        e.broadcast = Some("203.0.113.255".into());
        let s = AddressSpec::from_config(&e, "eth0").unwrap();
        assert_eq!(s.broadcast, None);
        assert_eq!(s.to_string(), "203.0.113.5 peer 203.0.113.6/32");

        let mut e = entry("2001:db8::5", 64);
        e.scope = Some("link".into());
        e.label = Some("eth0:x".into());
        let s = AddressSpec::from_config(&e, "eth0").unwrap();
        assert_eq!((s.scope, s.label), (0, None));
    }

    #[test]
    fn keepalived_skips_what_it_rejects() {
        let mut e = entry("2001:db8::5", 64);
        e.broadcast = Some("+".into());
        assert!(matches!(
            AddressSpec::from_config(&e, "eth0"),
            Err(NetlinkError::InvalidAddress { .. })
        ));
        let mut e = entry("198.51.100.10", 24);
        e.broadcast = Some("198.51.100".into());
        assert!(AddressSpec::from_config(&e, "eth0").is_err());
        let mut e = entry("198.51.100.10", 24);
        e.label = Some("a-label-of-16-ch".into());
        assert!(AddressSpec::from_config(&e, "eth0").is_err());
        let mut e = entry("198.51.100.10", 24);
        e.peer = Some("2001:db8::1".parse().unwrap());
        assert!(AddressSpec::from_config(&e, "eth0").is_err());
    }

    #[test]
    fn minus_nodad_keeps_dad_and_lifetimes_parse() {
        let mut e = entry("2001:db8::1", 128);
        e.flags = vec!["-nodad".into(), "mngtmpaddr".into()];
        e.preferred_lft = Some("forever".into());
        let s = AddressSpec::from_config(&e, "eth0").unwrap();
        assert_eq!(s.flags, flags::MANAGETEMPADDR);
        assert_eq!(s.preferred_lft, None);
        e.preferred_lft = Some("30".into());
        assert_eq!(
            AddressSpec::from_config(&e, "eth0").unwrap().preferred_lft,
            Some(30)
        );
    }

    #[test]
    fn scope_words() {
        let words = ["global", "site", "link", "host", "nowhere", "17", "x"];
        let got: Vec<_> = words.iter().map(|w| parse_scope(w)).collect();
        assert_eq!(
            got,
            [
                Some(0),
                Some(200),
                Some(253),
                Some(254),
                Some(255),
                Some(17),
                None
            ]
        );
    }

    #[test]
    fn newaddr_ipv4_bytes() {
        let mut s = AddressSpec::new("eth0", "198.51.100.10".parse().unwrap(), 24);
        s.broadcast = Some(Ipv4Addr::new(198, 51, 100, 255));
        s.scope = 253;
        s.label = Some("eth0:v".into());
        s.flags = flags::NOPREFIXROUTE;
        let b = encoded(new_addr_msg(&s, 7).unwrap());
        // ifaddrmsg: family, prefixlen, flags (low byte), scope, index
        assert_eq!(&b[..4], &[libc::AF_INET as u8, 24, 0, 253]);
        assert_eq!(&b[4..8], &7u32.to_ne_bytes());
        let a = attrs_of(&b);
        let expect: Vec<(u16, Vec<u8>)> = vec![
            (2, vec![198, 51, 100, 10]),          // IFA_LOCAL
            (1, vec![198, 51, 100, 10]),          // IFA_ADDRESS
            (4, vec![198, 51, 100, 255]),         // IFA_BROADCAST
            (8, 0x200u32.to_ne_bytes().to_vec()), // IFA_FLAGS
            (3, b"eth0:v\0".to_vec()),            // IFA_LABEL
        ];
        assert_eq!(a, expect);
    }

    #[test]
    fn newaddr_ipv6_bytes() {
        let s = AddressSpec::new("eth0", "2001:db8::1".parse().unwrap(), 128);
        let b = encoded(new_addr_msg(&s, 3).unwrap());
        assert_eq!(&b[..4], &[libc::AF_INET6 as u8, 128, flags::NODAD as u8, 0]);
        let a = attrs_of(&b);
        let v6 = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets().to_vec();
        let mut ci = 0u32.to_ne_bytes().to_vec();
        ci.extend_from_slice(&u32::MAX.to_ne_bytes());
        ci.extend_from_slice(&[0; 8]);
        let expect: Vec<(u16, Vec<u8>)> = vec![
            (6, ci),                                  // IFA_CACHEINFO
            (2, v6.clone()),                          // IFA_LOCAL
            (1, v6),                                  // IFA_ADDRESS
            (8, flags::NODAD.to_ne_bytes().to_vec()), // IFA_FLAGS
        ];
        assert_eq!(a, expect);
    }

    #[test]
    fn deladdr_carries_identity_only() {
        let mut s = AddressSpec::new("eth0", "203.0.113.5".parse().unwrap(), 32);
        s.peer = Some("203.0.113.6".parse().unwrap());
        s.label = Some("eth0:p".into());
        s.flags = flags::HOMEADDRESS;
        let b = encoded(del_addr_msg(&s, 9).unwrap());
        assert_eq!(&b[..4], &[libc::AF_INET as u8, 32, 0, 0]);
        assert_eq!(
            attrs_of(&b),
            vec![(2, vec![203, 0, 113, 5]), (1, vec![203, 0, 113, 6])]
        );
    }

    #[test]
    fn parses_dumped_address() {
        // An IPv4 address with peer, label, flags and cache info, as the kernel sends it.
        let mut s = AddressSpec::new("eth0", "203.0.113.5".parse().unwrap(), 32);
        s.peer = Some("203.0.113.6".parse().unwrap());
        s.label = Some("eth0:p".into());
        s.flags = flags::PERMANENT | flags::NOPREFIXROUTE;
        let mut msg = new_addr_msg(&s, 4).unwrap();
        let mut attrs: RtBuffer<Ifa, Buffer> = msg.rtattrs().clone();
        attrs.push(attr(Ifa::Cacheinfo, cacheinfo(FOREVER, 100)).unwrap());
        msg = ifaddrmsg(&s, 4, s.flags, attrs).unwrap();
        let a = parse_newaddr(&encoded(msg)).unwrap().unwrap();
        assert_eq!(a.ifindex, 4);
        assert_eq!(a.addr, "203.0.113.5".parse::<IpAddr>().unwrap());
        assert_eq!(a.peer, Some("203.0.113.6".parse().unwrap()));
        assert_eq!(a.label.as_deref(), Some("eth0:p"));
        assert!(a.has_flag(flags::NOPREFIXROUTE) && a.has_flag(flags::PERMANENT));
        assert_eq!((a.preferred_lft, a.valid_lft), (None, Some(100)));
    }
}
