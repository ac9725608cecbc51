//! rtnetlink: the kernel side of virtual addresses (and, later, routes and rules).
//!
//! - [`Rtnl`]: one `NETLINK_ROUTE` socket with two operations, an acknowledged request and
//!   a dump. neli encodes and decodes the messages; the socket itself is a nix `OwnedFd`, so
//!   every receive is bounded by a deadline (neli's router has no timeout) and no thread is
//!   spawned.
//! - [`address`]: add, remove and list interface addresses; [`AddressManager`] remembers what
//!   it added, so that releasing the VIPs removes exactly those.
//! - [`route`] and [`rule`]: `ip route` / `ip rule` words to typed specs and requests;
//!   [`RouteManager`] remembers the routes and rules it added, so exactly those are removed.
//!
//! Must not: keep state about what is configured on the host (that is the caller's, through
//! [`AddressManager`]), join multicast groups (event listeners need their own socket), or
//! block without a bound.

pub mod address;
pub mod route;
pub mod rule;

use std::fmt::Debug;
use std::io::Cursor;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use neli::consts::nl::{NlType, NlmF, Nlmsg};
use neli::consts::rtnl::Rtm;
use neli::nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder};
use neli::types::{Buffer, NlBuffer};
use neli::{FromBytesWithInput, Size, ToBytes};
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use thiserror::Error;

pub use address::{
    AddOutcome, AddressManager, AddressSpec, InterfaceAddress, RemoveOutcome, list_addresses,
};

/// How long one request may wait for the kernel's answer, unless [`Rtnl::set_timeout`] says
/// otherwise. rtnetlink answers in microseconds; this only bounds a wedged kernel or a bug.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Large enough for any netlink datagram: the kernel caps dump chunks at 32 KiB.
const RECV_BUF_LEN: usize = 64 * 1024;

/// A dump is restarted this many times at most when the kernel flags it as interrupted
/// (`NLM_F_DUMP_INTR`: the table changed while it was being read).
const DUMP_RETRIES: usize = 5;

/// Whether an address request adds or removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrOp {
    Add,
    Remove,
}

impl std::fmt::Display for AddrOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddrOp::Add => "add",
            AddrOp::Remove => "remove",
        })
    }
}

/// Everything that can go wrong talking to rtnetlink, with the object it was about.
#[derive(Debug, Error)]
pub enum NetlinkError {
    /// `if_nametoindex` found no such interface (in this network namespace).
    #[error("interface {ifname:?} does not exist")]
    NoSuchInterface { ifname: String },
    /// The kernel refused to add or remove an address.
    #[error("cannot {op} address {addr} on {ifname}: {errno}")]
    Address {
        op: AddrOp,
        addr: String,
        ifname: String,
        errno: Errno,
    },
    /// A configured address cannot be expressed as a request (keepalived would have skipped
    /// it at configuration time).
    #[error("invalid address {addr}: {reason}")]
    InvalidAddress { addr: String, reason: String },
    /// The kernel refused to add or remove a route.
    #[error("cannot {op} route {route}: {errno}")]
    Route {
        op: &'static str,
        route: String,
        errno: Errno,
    },
    /// The kernel refused to add or remove a rule.
    #[error("cannot {op} rule {rule}: {errno}")]
    Rule {
        op: &'static str,
        rule: String,
        errno: Errno,
    },
    /// A dump or another request was refused.
    #[error("netlink {request}: {errno}")]
    Kernel { request: &'static str, errno: Errno },
    /// The socket itself failed (open, bind, send, receive).
    #[error("netlink socket ({request}): {errno}")]
    Socket { request: &'static str, errno: Errno },
    /// No answer before the deadline.
    #[error("netlink {request}: no answer within {timeout:?}")]
    Timeout {
        request: &'static str,
        timeout: Duration,
    },
    /// A message could not be encoded, or the kernel's answer could not be decoded.
    #[error("netlink {request}: {detail}")]
    Codec {
        request: &'static str,
        detail: String,
    },
}

/// A `NETLINK_ROUTE` socket for requests (not for notifications).
///
/// Sync and blocking, each call bounded by the timeout: run it on a blocking thread from async
/// code. Replies are matched by sequence number, so a late answer to a request that timed out
/// is skipped rather than mistaken for the next one's.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
    timeout: Duration,
    buf: Vec<u8>,
}

impl Debug for Rtnl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rtnl")
            .field("fd", &self.fd)
            .field("seq", &self.seq)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Rtnl {
    /// Open and bind a socket (the kernel picks the port id).
    pub fn open() -> Result<Rtnl, NetlinkError> {
        let sock_err = |errno| NetlinkError::Socket {
            request: "open",
            errno,
        };
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(sock_err)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(sock_err)?;
        Ok(Rtnl {
            fd,
            seq: 0,
            timeout: DEFAULT_TIMEOUT,
            buf: vec![0; RECV_BUF_LEN],
        })
    }

    /// Bound on each request (at least 1 ms).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout.max(Duration::from_millis(1));
    }

    /// Send one request with `NLM_F_ACK` and wait for the kernel's acknowledgement.
    /// `Ok(Err(errno))` is the kernel saying no (e.g. `EEXIST`), for the caller to judge.
    pub fn request<P>(
        &mut self,
        request: &'static str,
        ty: Rtm,
        flags: NlmF,
        payload: P,
    ) -> Result<Result<(), Errno>, NetlinkError>
    where
        P: Size + ToBytes + Debug,
    {
        let seq = self.send(request, ty, flags | NlmF::ACK, payload)?;
        let deadline = Instant::now() + self.timeout;
        loop {
            for msg in self.recv_batch(request, deadline)? {
                if *msg.nl_seq() != seq {
                    continue;
                }
                if let NlPayload::Ack(_) = msg.nl_payload() {
                    return Ok(Ok(()));
                }
                if let NlPayload::Err(e) = msg.nl_payload() {
                    return Ok(Err(Errno::from_raw(-*e.error())));
                }
            }
        }
    }

    /// Send a `NLM_F_DUMP` request and collect every data message of the answer (the
    /// payloads still encoded; see [`address`] for the decoding). An interrupted dump is
    /// restarted.
    pub fn dump<P>(
        &mut self,
        request: &'static str,
        ty: Rtm,
        payload: P,
    ) -> Result<Vec<Nlmsghdr<u16, Buffer>>, NetlinkError>
    where
        P: Size + ToBytes + Debug + Clone,
    {
        for _ in 0..DUMP_RETRIES {
            if let Some(msgs) = self.dump_once(request, ty, payload.clone())? {
                return Ok(msgs);
            }
        }
        Err(NetlinkError::Kernel {
            request,
            errno: Errno::EINTR,
        })
    }

    /// One dump; `None` if the kernel flagged it as inconsistent.
    fn dump_once<P>(
        &mut self,
        request: &'static str,
        ty: Rtm,
        payload: P,
    ) -> Result<Option<Vec<Nlmsghdr<u16, Buffer>>>, NetlinkError>
    where
        P: Size + ToBytes + Debug,
    {
        let seq = self.send(request, ty, NlmF::DUMP, payload)?;
        let deadline = Instant::now() + self.timeout;
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            for msg in self.recv_batch(request, deadline)? {
                if *msg.nl_seq() != seq {
                    continue;
                }
                interrupted |= msg.nl_flags().contains(NlmF::DUMP_INTR);
                match msg.nl_payload() {
                    NlPayload::Err(e) => {
                        return Err(NetlinkError::Kernel {
                            request,
                            errno: Errno::from_raw(-*e.error()),
                        });
                    }
                    NlPayload::DumpExtAck(e) if *e.error() != 0 => {
                        return Err(NetlinkError::Kernel {
                            request,
                            errno: Errno::from_raw(-*e.error()),
                        });
                    }
                    _ if is_done(&msg) => return Ok((!interrupted).then_some(out)),
                    NlPayload::Payload(_) => out.push(msg),
                    _ => {}
                }
            }
        }
    }

    fn send<P>(
        &mut self,
        request: &'static str,
        ty: Rtm,
        flags: NlmF,
        payload: P,
    ) -> Result<u32, NetlinkError>
    where
        P: Size + ToBytes + Debug,
    {
        self.seq = self.seq.wrapping_add(1);
        let bytes = encode(request, self.seq, ty, flags, payload)?;
        let sent = send(self.fd.as_raw_fd(), &bytes, MsgFlags::empty())
            .map_err(|errno| NetlinkError::Socket { request, errno })?;
        if sent != bytes.len() {
            return Err(NetlinkError::Codec {
                request,
                detail: format!("short send: {sent} of {} bytes", bytes.len()),
            });
        }
        Ok(self.seq)
    }

    /// Receive one datagram (waiting at most until `deadline`) and split it into messages.
    fn recv_batch(
        &mut self,
        request: &'static str,
        deadline: Instant,
    ) -> Result<Vec<Nlmsghdr<u16, Buffer>>, NetlinkError> {
        let timed_out = || NetlinkError::Timeout {
            request,
            timeout: self.timeout,
        };
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(timed_out)?;
            // SO_RCVTIMEO of zero means "forever": never pass less than a millisecond.
            let micros = i64::try_from(left.as_micros()).unwrap_or(i64::MAX);
            let slice = TimeVal::microseconds(micros.max(1000));
            setsockopt(&self.fd, sockopt::ReceiveTimeout, &slice)
                .map_err(|errno| NetlinkError::Socket { request, errno })?;
            // MSG_TRUNC makes recv return the datagram's real length, so truncation shows.
            match recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::MSG_TRUNC) {
                Ok(n) if n > self.buf.len() => {
                    return Err(NetlinkError::Codec {
                        request,
                        detail: format!("datagram of {n} bytes truncated"),
                    });
                }
                Ok(n) => return decode(request, &self.buf[..n]),
                // Timed out or interrupted: the deadline check above decides.
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(errno) => return Err(NetlinkError::Socket { request, errno }),
            }
        }
    }
}

/// Adds routes and rules and remembers which ones the kernel created for us (an `EEXIST`
/// is someone else's), so that [`RouteManager::remove_route`] / [`RouteManager::remove_rule`]
/// send a delete only for those.
#[derive(Debug)]
pub struct RouteManager {
    rtnl: Rtnl,
    routes: Vec<route::RouteSpec>,
    rules: Vec<rule::RuleSpec>,
}

impl RouteManager {
    /// With its own rtnetlink socket.
    pub fn new() -> Result<RouteManager, NetlinkError> {
        Ok(RouteManager::with_rtnl(Rtnl::open()?))
    }

    pub fn with_rtnl(rtnl: Rtnl) -> RouteManager {
        RouteManager {
            rtnl,
            routes: Vec::new(),
            rules: Vec::new(),
        }
    }

    pub fn add_route(&mut self, spec: &route::RouteSpec) -> Result<route::Added, NetlinkError> {
        let added = route::add_route(&mut self.rtnl, spec)?;
        if added == route::Added::Added && !self.routes.contains(spec) {
            self.routes.push(spec.clone());
        }
        Ok(added)
    }

    /// Removes `spec` if we added it; `Ok(false)` (and nothing sent) otherwise.
    pub fn remove_route(&mut self, spec: &route::RouteSpec) -> Result<bool, NetlinkError> {
        let Some(i) = self.routes.iter().position(|r| r == spec) else {
            return Ok(false);
        };
        route::delete_route(&mut self.rtnl, spec)?;
        self.routes.remove(i);
        Ok(true)
    }

    pub fn add_rule(&mut self, spec: &rule::RuleSpec) -> Result<route::Added, NetlinkError> {
        let added = rule::add_rule(&mut self.rtnl, spec)?;
        if added == route::Added::Added && !self.rules.contains(spec) {
            self.rules.push(spec.clone());
        }
        Ok(added)
    }

    /// Removes `spec` if we added it; `Ok(false)` (and nothing sent) otherwise.
    pub fn remove_rule(&mut self, spec: &rule::RuleSpec) -> Result<bool, NetlinkError> {
        let Some(i) = self.rules.iter().position(|r| r == spec) else {
            return Ok(false);
        };
        rule::delete_rule(&mut self.rtnl, spec)?;
        self.rules.remove(i);
        Ok(true)
    }

    /// The routes and rules recorded as ours, oldest first.
    pub fn added(&self) -> (&[route::RouteSpec], &[rule::RuleSpec]) {
        (&self.routes, &self.rules)
    }

    /// The socket, e.g. to change its timeout.
    pub fn rtnl(&mut self) -> &mut Rtnl {
        &mut self.rtnl
    }
}

fn is_done(msg: &Nlmsghdr<u16, Buffer>) -> bool {
    Nlmsg::from(*msg.nl_type()) == Nlmsg::Done
}

/// One request as bytes (header with `NLM_F_REQUEST`, payload, padding).
fn encode<T, P>(
    request: &'static str,
    seq: u32,
    ty: T,
    flags: NlmF,
    payload: P,
) -> Result<Vec<u8>, NetlinkError>
where
    T: NlType + Debug,
    P: Size + ToBytes + Debug,
{
    let codec = |detail: String| NetlinkError::Codec { request, detail };
    let msg = NlmsghdrBuilder::default()
        .nl_type(ty)
        .nl_flags(flags | NlmF::REQUEST)
        .nl_seq(seq)
        .nl_pid(0)
        .nl_payload(NlPayload::Payload(payload))
        .build()
        .map_err(|e| codec(e.to_string()))?;
    let mut cursor = Cursor::new(vec![0; msg.padded_size()]);
    msg.to_bytes(&mut cursor)
        .map_err(|e| codec(e.to_string()))?;
    Ok(cursor.into_inner())
}

fn decode(request: &'static str, bytes: &[u8]) -> Result<Vec<Nlmsghdr<u16, Buffer>>, NetlinkError> {
    NlBuffer::<u16, Buffer>::from_bytes_with_input(&mut Cursor::new(bytes), bytes.len())
        .map(|b| b.into_iter().collect())
        .map_err(|e| NetlinkError::Codec {
            request,
            detail: format!("malformed answer: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 16-byte header neli writes is the kernel's `struct nlmsghdr`, host byte order.
    #[test]
    fn request_header_layout() {
        let bytes = encode(
            "test",
            7,
            Rtm::Getaddr,
            NlmF::DUMP,
            neli::rtnl::IfaddrmsgBuilder::default()
                .ifa_family(neli::consts::rtnl::RtAddrFamily::Unspecified)
                .ifa_prefixlen(0)
                .ifa_scope(neli::consts::rtnl::RtScope::Universe)
                .ifa_index(0)
                .build()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(bytes.len(), 16 + 8);
        assert_eq!(&bytes[0..4], &24u32.to_ne_bytes());
        assert_eq!(&bytes[4..6], &(libc::RTM_GETADDR).to_ne_bytes());
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        assert_eq!(&bytes[6..8], &flags.to_ne_bytes());
        assert_eq!(&bytes[8..12], &7u32.to_ne_bytes());
        assert_eq!(&bytes[12..16], &0u32.to_ne_bytes());
    }

    /// An NLMSG_ERROR answer (here: EEXIST for a request of type RTM_NEWADDR) decodes into
    /// an error payload carrying the negative errno.
    #[test]
    fn decodes_error_answer() {
        let mut b = Vec::new();
        // outer header: len 36, NLMSG_ERROR, no flags, seq 3, pid 99
        b.extend_from_slice(&36u32.to_ne_bytes());
        b.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&3u32.to_ne_bytes());
        b.extend_from_slice(&99u32.to_ne_bytes());
        b.extend_from_slice(&(-libc::EEXIST).to_ne_bytes());
        // the request's header, echoed (NETLINK_CAP_ACK style: no payload)
        b.extend_from_slice(&16u32.to_ne_bytes());
        b.extend_from_slice(&libc::RTM_NEWADDR.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&3u32.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        let msgs = decode("test", &b).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(*msgs[0].nl_seq(), 3);
        match msgs[0].nl_payload() {
            NlPayload::Err(e) => assert_eq!(*e.error(), -libc::EEXIST),
            other => panic!("expected an error payload, got {other:?}"),
        }
    }
}
