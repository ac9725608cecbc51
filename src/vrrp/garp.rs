//! Gratuitous ARP (IPv4) and unsolicited Neighbour Advertisements (IPv6): the frames a new
//! master sends so that neighbours re-point the VIPs at its MAC address.
//!
//! The frames are keepalived 2.2.7's (vrrp_arp.c `send_gratuitous_arp_immediate()`,
//! vrrp_ndisc.c `ndisc_send_unsolicited_na_immediate()`), built whole, Ethernet header
//! included, and sent on an `AF_PACKET`/`SOCK_RAW` socket to the interface's index:
//!
//! ```text
//! Gratuitous ARP, 42 bytes (the NIC pads to 60)
//!   Ethernet  dst ff:ff:ff:ff:ff:ff  src MAC  type 0x0806
//!   ARP       htype 1  ptype 0x0800  hlen 6  plen 4  op 1 (REQUEST)
//!             sha MAC  spa VIP  tha ff:ff:ff:ff:ff:ff  tpa VIP
//!
//! Unsolicited NA, 86 bytes
//!   Ethernet  dst 33:33:00:00:00:01  src MAC  type 0x86dd
//!   IPv6      version 6, class 0, flow 0, payload 32, next header 58, hop limit 255
//!             src VIP  dst ff02::1
//!   ICMPv6    type 136 code 0 checksum  flags R (if forwarding) | O, reserved 0
//!             target VIP
//!   option    type 2 (target link-layer address), length 1 (8 bytes), MAC
//! ```
//!
//! The ARP form is a request, not a reply, and its target hardware address is the broadcast
//! address rather than zero. The NA checksum is computed here over the RFC 8200 §8.1
//! pseudo-header, because no IPv6 stack is involved. MAC means the MAC address of the interface
//! the VIP lives on, which is the VMAC when one is used.
//!
//! The frame builders are pure functions. [`GarpSender`] does the I/O. Its socket has
//! protocol 0, so it never receives anything, which is what keepalived's drop-all filter
//! achieves.
//!
//! Must not: decide when or how often to send (`garp_master_delay`, `garp_master_repeat`,
//! `garp_interval` belong to the engine), or handle link types other than Ethernet
//! (keepalived's InfiniBand form is not implemented).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::{AddressFamily, LinkAddr, MsgFlags, SockFlag, SockType, sendto, socket};
use thiserror::Error;

/// Length of a gratuitous ARP frame (Ethernet header + ARP for IPv4 over Ethernet).
pub const ARP_FRAME_LEN: usize = 42;
/// Length of an unsolicited NA frame (Ethernet + IPv6 + NA + one 8-byte option).
pub const NA_FRAME_LEN: usize = 86;

const ETH_HDR_LEN: usize = 14;
const IPV6_HDR_LEN: usize = 40;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ARPHRD_ETHER: u16 = 1;
const ARPOP_REQUEST: u16 = 1;
const IPPROTO_ICMPV6: u8 = 58;
const ND_NEIGHBOR_ADVERT: u8 = 136;
const ND_OPT_TARGET_LINKADDR: u8 = 2;
/// RFC 4861 §7.1.2: a receiver drops NAs with any other hop limit.
const NDISC_HOPLIMIT: u8 = 255;
/// RFC 4861 §4.4 flag bits, in the first byte of the flags word.
const NA_FLAG_ROUTER: u8 = 0x80;
const NA_FLAG_OVERRIDE: u8 = 0x20;

/// The all-nodes group, destination of unsolicited NAs (RFC 4861 §7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// `ff02::1` mapped to Ethernet (RFC 2464 §7).
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The gratuitous ARP keepalived sends for `ip` from `mac`.
pub fn gratuitous_arp(mac: MacAddr, ip: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    let mut f = [0u8; ARP_FRAME_LEN];
    ethernet_header(&mut f, BROADCAST_MAC, mac, ETHERTYPE_ARP);
    let arp = &mut f[ETH_HDR_LEN..];
    arp[0..2].copy_from_slice(&ARPHRD_ETHER.to_be_bytes());
    arp[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    arp[4] = 6;
    arp[5] = 4;
    arp[6..8].copy_from_slice(&ARPOP_REQUEST.to_be_bytes());
    arp[8..14].copy_from_slice(&mac.0);
    arp[14..18].copy_from_slice(&ip.octets());
    arp[18..24].copy_from_slice(&BROADCAST_MAC);
    arp[24..28].copy_from_slice(&ip.octets());
    f
}

/// The unsolicited NA keepalived sends for `ip` from `mac`. `router` sets the R flag, as
/// keepalived does when IPv6 forwarding is enabled on the interface.
pub fn unsolicited_na(mac: MacAddr, ip: Ipv6Addr, router: bool) -> [u8; NA_FRAME_LEN] {
    const ICMP_LEN: usize = NA_FRAME_LEN - ETH_HDR_LEN - IPV6_HDR_LEN;
    let mut f = [0u8; NA_FRAME_LEN];
    ethernet_header(&mut f, ALL_NODES_MAC, mac, ETHERTYPE_IPV6);

    let ip6 = &mut f[ETH_HDR_LEN..ETH_HDR_LEN + IPV6_HDR_LEN];
    ip6[0] = 0x60; // version 6; traffic class and flow label 0
    ip6[4..6].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
    ip6[6] = IPPROTO_ICMPV6;
    ip6[7] = NDISC_HOPLIMIT;
    ip6[8..24].copy_from_slice(&ip.octets());
    ip6[24..40].copy_from_slice(&ALL_NODES.octets());

    let icmp = &mut f[ETH_HDR_LEN + IPV6_HDR_LEN..];
    icmp[0] = ND_NEIGHBOR_ADVERT;
    // Override: replace whatever link-layer address a neighbour has cached for the VIP.
    icmp[4] = NA_FLAG_OVERRIDE | if router { NA_FLAG_ROUTER } else { 0 };
    icmp[8..24].copy_from_slice(&ip.octets());
    icmp[24] = ND_OPT_TARGET_LINKADDR;
    icmp[25] = 1; // in units of 8 bytes
    icmp[26..32].copy_from_slice(&mac.0);
    let sum = icmpv6_checksum(ip, ALL_NODES, icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    f
}

/// RFC 4443 §2.3 checksum of an ICMPv6 message (its checksum field zero) from `src` to `dst`,
/// over the RFC 8200 §8.1 pseudo-header.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            sum += hi | pair.get(1).copied().map_or(0, u32::from);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, IPPROTO_ICMPV6]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ethernet_header(f: &mut [u8], dst: [u8; 6], src: MacAddr, ethertype: u16) {
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src.0);
    f[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

/// Errors from looking up an interface or sending a frame, with the interface and address.
#[derive(Debug, Error)]
pub enum GarpError {
    #[error("cannot open a packet socket: {0}")]
    Socket(Errno),
    #[error("cannot list interfaces: {0}")]
    Interfaces(Errno),
    #[error("interface {ifname:?} does not exist")]
    NoSuchInterface { ifname: String },
    #[error("interface {ifname}: link type {hatype} with {halen}-byte addresses is not Ethernet")]
    NotEthernet {
        ifname: String,
        hatype: u16,
        halen: usize,
    },
    #[error("cannot send {kind} for {ip} on {ifname}: {errno}")]
    Send {
        kind: &'static str,
        ip: IpAddr,
        ifname: String,
        errno: Errno,
    },
}

/// An Ethernet interface as the sender needs it: index (inside `addr`), MAC and NOARP.
#[derive(Debug, Clone)]
pub struct Link {
    pub ifname: String,
    pub ifindex: usize,
    pub mac: MacAddr,
    /// `IFF_NOARP`: keepalived sends neither ARP nor NA on such an interface.
    pub noarp: bool,
    // The interface's own `sockaddr_ll` from getifaddrs: the destination for sendto.
    addr: LinkAddr,
}

impl Link {
    /// Look `ifname` up in the current network namespace (getifaddrs).
    pub fn lookup(ifname: &str) -> Result<Link, GarpError> {
        let entries = getifaddrs().map_err(GarpError::Interfaces)?;
        for entry in entries.filter(|e| e.interface_name == ifname) {
            let Some(addr) = entry.address.as_ref().and_then(|a| a.as_link_addr()) else {
                continue;
            };
            let (hatype, halen) = (addr.hatype(), addr.halen());
            let mac = match addr.addr() {
                Some(mac) if hatype == ARPHRD_ETHER && halen == 6 => MacAddr(mac),
                _ => {
                    return Err(GarpError::NotEthernet {
                        ifname: ifname.to_string(),
                        hatype,
                        halen,
                    });
                }
            };
            return Ok(Link {
                ifname: ifname.to_string(),
                ifindex: addr.ifindex(),
                mac,
                noarp: entry.flags.contains(InterfaceFlags::IFF_NOARP),
                addr: *addr,
            });
        }
        Err(GarpError::NoSuchInterface {
            ifname: ifname.to_string(),
        })
    }
}

/// Whether a frame went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Sent,
    /// The interface has `IFF_NOARP`; nothing was sent (as keepalived).
    SkippedNoArp,
}

/// Sends gratuitous ARPs and unsolicited NAs on a shared `AF_PACKET` socket.
#[derive(Debug)]
pub struct GarpSender {
    fd: OwnedFd,
}

impl GarpSender {
    /// Needs `CAP_NET_RAW`.
    pub fn new() -> Result<GarpSender, GarpError> {
        // Protocol 0: the socket is never hooked into the receive path.
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(GarpError::Socket)?;
        Ok(GarpSender { fd })
    }

    /// One gratuitous ARP for `ip` on `ifname`, from `ifname`'s MAC.
    pub fn send_arp(&self, ifname: &str, ip: Ipv4Addr) -> Result<Sent, GarpError> {
        self.send_arp_on(&Link::lookup(ifname)?, ip)
    }

    /// One unsolicited NA for `ip` on `ifname`, from `ifname`'s MAC. The R flag follows
    /// `net.ipv6.conf.<ifname>.forwarding`, as in keepalived (which re-reads it at most
    /// every 5 seconds; this reads it on every call).
    pub fn send_na(&self, ifname: &str, ip: Ipv6Addr) -> Result<Sent, GarpError> {
        self.send_na_on(&Link::lookup(ifname)?, ip, ipv6_forwarding(ifname))
    }

    /// [`GarpSender::send_arp`] with a looked-up [`Link`]. On a VMAC, keepalived checks
    /// `IFF_NOARP` on the base interface: pass a `Link` whose `noarp` says so.
    pub fn send_arp_on(&self, link: &Link, ip: Ipv4Addr) -> Result<Sent, GarpError> {
        if link.noarp {
            return Ok(Sent::SkippedNoArp);
        }
        self.send(
            link,
            "gratuitous ARP",
            ip.into(),
            &gratuitous_arp(link.mac, ip),
        )
    }

    /// [`GarpSender::send_na`] with a looked-up [`Link`] and the R flag given.
    pub fn send_na_on(&self, link: &Link, ip: Ipv6Addr, router: bool) -> Result<Sent, GarpError> {
        if link.noarp {
            return Ok(Sent::SkippedNoArp);
        }
        let frame = unsolicited_na(link.mac, ip, router);
        self.send(link, "unsolicited NA", ip.into(), &frame)
    }

    fn send(
        &self,
        link: &Link,
        kind: &'static str,
        ip: IpAddr,
        frame: &[u8],
    ) -> Result<Sent, GarpError> {
        let error = |errno| GarpError::Send {
            kind,
            ip,
            ifname: link.ifname.clone(),
            errno,
        };
        // The link address from getifaddrs has protocol 0; the kernel takes the protocol of
        // a SOCK_RAW frame from its Ethernet header.
        let n = sendto(self.fd.as_raw_fd(), frame, &link.addr, MsgFlags::empty()).map_err(error)?;
        if n != frame.len() {
            return Err(error(Errno::EMSGSIZE));
        }
        Ok(Sent::Sent)
    }
}

/// `net.ipv6.conf.<ifname>.forwarding` of the current network namespace (false if unreadable).
fn ipv6_forwarding(ifname: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .is_ok_and(|v| v.trim() != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// A byte vector written as hex, whitespace and `#` comments ignored.
    fn vector(text: &str) -> String {
        text.lines()
            .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
            .collect()
    }

    #[test]
    fn gratuitous_arp_is_a_broadcast_request_with_sender_and_target_the_vip() {
        let f = gratuitous_arp(MAC, Ipv4Addr::new(198, 51, 100, 10));
        let expected = vector(
            "ffffffffffff 021122334455 0806   # Ethernet: broadcast, MAC, ARP
             0001 0800 06 04 0001             # Ethernet, IPv4, lengths, REQUEST
             021122334455 c633640a            # sender MAC, sender IP = VIP
             ffffffffffff c633640a            # target MAC broadcast, target IP = VIP",
        );
        assert_eq!(hex(&f), expected);
    }

    /// Checksums computed independently (Python, RFC 8200 §8.1 pseudo-header).
    #[test]
    fn unsolicited_na_bytes() {
        let f = unsolicited_na(MAC, "2001:db8::10".parse().unwrap(), false);
        let expected = vector(
            "333300000001 021122334455 86dd               # Ethernet: all-nodes, MAC, IPv6
             60000000 0020 3a ff                          # IPv6: payload 32, ICMPv6, hop 255
             20010db8000000000000000000000010             # source = VIP
             ff020000000000000000000000000001             # destination ff02::1
             88 00 9274 20000000                          # NA, code, checksum, flags O
             20010db8000000000000000000000010             # target = VIP
             02 01 021122334455                           # target link-layer address",
        );
        assert_eq!(hex(&f), expected);
        let r = unsolicited_na(MAC, "2001:db8:1::abcd".parse().unwrap(), true);
        assert_eq!(hex(&r[54..62]), "8800baf6a0000000", "R|O flags, checksum");
    }

    #[test]
    fn checksum_verifies_to_zero_and_handles_odd_lengths() {
        let ip: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let f = unsolicited_na(MAC, ip, false);
        assert_eq!(icmpv6_checksum(ip, ALL_NODES, &f[54..]), 0);
        // An odd length is padded with a zero byte (the length word differs by one).
        let odd = icmpv6_checksum(ip, ALL_NODES, &[1, 2, 3]);
        assert_eq!(
            odd,
            icmpv6_checksum(ip, ALL_NODES, &[1, 2, 3, 0]).wrapping_add(1)
        );
    }

    #[test]
    fn mac_display() {
        assert_eq!(MAC.to_string(), "02:11:22:33:44:55");
    }
}
