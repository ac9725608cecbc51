//! Raw VRRP sockets (IP protocol 112, and 51 for IPv4 AH), as keepalived opens them
//! (vrrp.c `open_vrrp_send_socket`, `open_vrrp_read_socket`).
//!
//! - IPv4 receive: one raw socket per interface and protocol (112, plus 51 when an instance
//!   uses AH), bound to the device with `SO_BINDTODEVICE`, joined to 224.0.0.18 on that
//!   interface's index with `IP_MULTICAST_ALL` off. The kernel hands over the datagram with
//!   its IP header, which [`super::packet::parse_ipv4`] reads (TTL included).
//! - IPv4 send: one `IPPROTO_RAW` socket per interface (`IP_HDRINCL` implied, so it never
//!   receives anything); the header — TTL 255, TOS 0xc0, a nonzero identification — comes from
//!   [`super::packet::encode_ipv4`]. Multicast loopback is off.
//! - IPv6: one raw socket per interface for both directions, joined to ff02::12, with
//!   `IPV6_RECVPKTINFO`/`IPV6_RECVHOPLIMIT` so that the destination and hop limit reach the
//!   validation, and hop limits 255 / traffic class 0xc0 on send. The source address travels in
//!   an `IPV6_PKTINFO` control message.
//!
//! The checksum of IPv6 adverts is computed and verified in user space
//! ([`super::packet::Advert::encode`], [`super::packet::parse_ipv6`]) instead of with
//! `IPV6_CHECKSUM`, which neither socket2 nor nix expose safely: the bytes on the wire are the
//! same, and a packet with a bad sum is dropped (and counted) by the validation instead of by
//! the kernel.
//!
//! This module must not interpret packets: it moves bytes and the metadata the validation
//! needs. Everything here is non-blocking and driven by tokio's [`AsyncFd`].

use std::io::{self, IoSlice, IoSliceMut, Read};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    self as nixsock, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn6, sockopt,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::packet::{IPPROTO_AH, IPPROTO_VRRP, Ipv6Meta, MCAST_V6, VRRP_TOS, VRRP_TTL};

/// `IPPROTO_RAW`: a send-only raw socket whose datagrams carry their own IPv4 header.
const IPPROTO_RAW: i32 = 255;
/// Large enough for any advert (20 + 24 + 8 + 255 × 16 + 8).
pub const RX_BUFFER: usize = 4200;

/// A datagram as it came off a receive socket.
#[derive(Debug, Clone)]
pub struct RxDatagram {
    /// The interface the socket is bound to.
    pub ifname: String,
    /// IPv4: the whole datagram, header included. IPv6: the VRRP message.
    pub bytes: Vec<u8>,
    /// IPv6 only: source, destination and hop limit.
    pub v6: Option<Ipv6Meta>,
}

fn bind_device(sock: &Socket, ifname: &str) -> io::Result<()> {
    sock.bind_device(Some(ifname.as_bytes()))
}

/// Registers `sock` with tokio. `AsyncFd::new` is deprecated in favour of the `unsafe`
/// `AsyncFd::register` because a caller could close the descriptor behind tokio's back; here
/// the socket is moved into the `AsyncFd` and only closed when it is dropped, so the
/// descriptor outlives its registration.
#[allow(deprecated)]
fn register(sock: Socket) -> io::Result<AsyncFd<Socket>> {
    AsyncFd::new(sock)
}

/// An IPv4 receive socket for one interface and one protocol (112 or 51).
#[derive(Debug)]
pub struct RxV4 {
    fd: AsyncFd<Socket>,
    ifname: String,
}

impl RxV4 {
    /// Opens the socket and joins `group` (normally 224.0.0.18) on `ifindex` when given.
    /// Unicast adverts addressed to one of the interface's addresses arrive as well.
    pub fn open(
        ifname: &str,
        ifindex: u32,
        protocol: u8,
        group: Option<Ipv4Addr>,
    ) -> io::Result<Self> {
        let sock = Socket::new(
            Domain::IPV4,
            Type::RAW.cloexec(),
            Some(Protocol::from(i32::from(protocol))),
        )?;
        sock.set_nonblocking(true)?;
        // Only the groups joined on this socket, not every group of the host.
        sock.set_multicast_all_v4(false)?;
        bind_device(&sock, ifname)?;
        if let Some(group) = group {
            sock.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(ifindex))?;
        }
        Ok(RxV4 {
            fd: register(sock)?,
            ifname: ifname.to_string(),
        })
    }

    /// Waits for the next datagram.
    pub async fn recv(&self) -> io::Result<RxDatagram> {
        let mut buf = vec![0u8; RX_BUFFER];
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| fd.get_ref().read(&mut buf)) {
                Ok(Ok(n)) => {
                    buf.truncate(n);
                    return Ok(RxDatagram {
                        ifname: self.ifname.clone(),
                        bytes: buf,
                        v6: None,
                    });
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// The IPv4 send socket of one interface.
#[derive(Debug)]
pub struct TxV4 {
    sock: Socket,
}

impl TxV4 {
    pub fn open(ifname: &str) -> io::Result<Self> {
        let sock = Socket::new(
            Domain::IPV4,
            Type::RAW.cloexec(),
            Some(Protocol::from(IPPROTO_RAW)),
        )?;
        sock.set_nonblocking(true)?;
        sock.set_header_included_v4(true)?;
        sock.set_multicast_loop_v4(false)?;
        sock.set_multicast_ttl_v4(u32::from(VRRP_TTL))?;
        sock.set_tos_v4(u32::from(VRRP_TOS))?;
        bind_device(&sock, ifname)?;
        Ok(TxV4 { sock })
    }

    /// Sends a datagram built by [`super::packet::encode_ipv4`] to `dst` (the group or a
    /// unicast peer; the header carries the same destination).
    pub fn send(&self, datagram: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        let addr = SockAddr::from(SocketAddrV4::new(dst, 0));
        self.sock.send_to(datagram, &addr).map(|_| ())
    }
}

/// The IPv6 socket of one interface (receive and send).
#[derive(Debug)]
pub struct V6 {
    fd: AsyncFd<Socket>,
    ifname: String,
    ifindex: u32,
}

impl V6 {
    /// Opens the socket and joins `group` (normally ff02::12) on `ifindex` when given.
    pub fn open(ifname: &str, ifindex: u32, group: Option<Ipv6Addr>) -> io::Result<Self> {
        let sock = Socket::new(
            Domain::IPV6,
            Type::RAW.cloexec(),
            Some(Protocol::from(i32::from(IPPROTO_VRRP))),
        )?;
        sock.set_nonblocking(true)?;
        sock.set_multicast_all_v6(false)?;
        bind_device(&sock, ifname)?;
        sock.set_multicast_if_v6(ifindex)?;
        sock.set_multicast_hops_v6(u32::from(VRRP_TTL))?;
        sock.set_unicast_hops_v6(u32::from(VRRP_TTL))?;
        sock.set_multicast_loop_v6(false)?;
        sock.set_tclass_v6(u32::from(VRRP_TOS))?;
        nixsock::setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true).map_err(io::Error::from)?;
        nixsock::setsockopt(&sock, sockopt::Ipv6RecvHopLimit, &true).map_err(io::Error::from)?;
        if let Some(group) = group {
            sock.join_multicast_v6(&group, ifindex)?;
        }
        Ok(V6 {
            fd: register(sock)?,
            ifname: ifname.to_string(),
            ifindex,
        })
    }

    /// Waits for the next datagram; the destination and hop limit come from the control
    /// messages (`None` hop limit when the kernel sent none).
    pub async fn recv(&self) -> io::Result<RxDatagram> {
        let mut buf = vec![0u8; RX_BUFFER];
        loop {
            let mut guard = self.fd.readable().await?;
            let res = guard.try_io(|fd| {
                let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
                let mut iov = [IoSliceMut::new(&mut buf)];
                let msg = nixsock::recvmsg::<SockaddrIn6>(
                    fd.get_ref().as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg),
                    MsgFlags::empty(),
                )
                .map_err(io::Error::from)?;
                let mut dst = None;
                let mut hop_limit = None;
                for c in msg.cmsgs().map_err(io::Error::from)? {
                    match c {
                        ControlMessageOwned::Ipv6PacketInfo(info) => {
                            dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                        }
                        ControlMessageOwned::Ipv6HopLimit(h) => {
                            hop_limit = u8::try_from(h).ok();
                        }
                        _ => {}
                    }
                }
                let src = msg.address.map(|a| a.ip());
                Ok((msg.bytes, src, dst, hop_limit))
            });
            match res {
                Ok(Ok((n, Some(src), dst, hop_limit))) => {
                    buf.truncate(n);
                    return Ok(RxDatagram {
                        ifname: self.ifname.clone(),
                        bytes: buf,
                        v6: Some(Ipv6Meta {
                            src,
                            // Without PKTINFO, assume the group (the socket is bound to the
                            // device and joined to it).
                            dst: dst.unwrap_or(MCAST_V6),
                            hop_limit,
                        }),
                    });
                }
                Ok(Ok((_, None, _, _))) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends a VRRP message (checksum already in place) from `src` to `dst`.
    pub fn send(&self, msg: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> io::Result<()> {
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.octets(),
            },
            ipi6_ifindex: self.ifindex,
        };
        let scope = if dst.is_multicast() || is_link_local(dst) {
            self.ifindex
        } else {
            0
        };
        let to = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, scope));
        let iov = [IoSlice::new(msg)];
        let cmsgs = [ControlMessage::Ipv6PacketInfo(&info)];
        nixsock::sendmsg(
            self.fd.get_ref().as_raw_fd(),
            &iov,
            &cmsgs,
            MsgFlags::empty(),
            Some(&to),
        )
        .map(|_| ())
        .map_err(io::Error::from)
    }
}

/// fe80::/10.
pub fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The IPv4 receive protocols an interface needs.
pub fn v4_protocols(ah: bool) -> &'static [u8] {
    if ah {
        &[IPPROTO_VRRP, IPPROTO_AH]
    } else {
        &[IPPROTO_VRRP]
    }
}
