//! The probes' I/O: one async function per checker kind, each bounded in time and memory.
//! Protocol decisions are made by the cores in `check::proto`; this module only moves bytes
//! and maps I/O outcomes to them.
//!
//! Time bounds: the connection (and the TLS handshake) must complete within
//! `connect_timeout`, and the whole exchange that follows within another `connect_timeout`
//! (keepalived applies the timeout to each read, so a server trickling bytes can hold its
//! check forever; here it cannot).

pub mod http;
pub mod misc;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::timeout;

use super::plan::{ProbeKind, ProbeSpec};
use super::proto::checker::Outcome;
use super::proto::dns::{self, ReplyVerdict};
use super::proto::file::{self, FileVerdict};
use super::proto::misc::{self as misc_proto};
use super::proto::pool::WeightChange;
use super::proto::smtp::{Dialogue, Step};
use crate::config::model::{CheckerBind, Micros};

pub use http::TlsCache;

/// Why a probe failed, for the logs.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("connection timed out")]
    ConnectTimeout,
    #[error("connection failed: {0}")]
    Connect(io::Error),
    #[error("timed out")]
    Timeout,
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Http(#[from] super::proto::http::HttpFailure),
    #[error("{0}")]
    Smtp(#[from] super::proto::smtp::SmtpFailure),
    #[error("UDP reply does not match")]
    UdpReply,
    #[error("no UDP reply")]
    NoReply,
    #[error("DNS rcode {0}")]
    DnsRcode(u8),
    #[error("DNS query: {0}")]
    DnsQuery(#[from] super::proto::dns::QueryError),
    #[error("bad ICMP reply")]
    BadIcmp,
    #[error("script {0}")]
    Script(String),
    #[error("script timed out")]
    ScriptTimeout,
    #[error("tracked file says down")]
    FileDown,
}

/// What one probe found.
#[derive(Debug)]
pub struct ProbeResult {
    pub outcome: Outcome,
    /// A weight the check asks for (MISC_CHECK `misc_dynamic`, FILE_CHECK).
    pub weight: Option<WeightChange>,
    pub error: Option<ProbeError>,
}

impl ProbeResult {
    fn from(r: Result<Option<WeightChange>, ProbeError>) -> ProbeResult {
        match r {
            Ok(weight) => ProbeResult {
                outcome: Outcome::Success,
                weight,
                error: None,
            },
            Err(e) => ProbeResult {
                outcome: Outcome::Failure,
                weight: None,
                error: Some(e),
            },
        }
    }
}

pub(crate) fn dur(m: Micros) -> Duration {
    Duration::from_micros(m.0)
}

/// Run one probe of `spec` (url number `url` for HTTP).
pub async fn probe(spec: &ProbeSpec, url: usize, tls: &TlsCache) -> ProbeResult {
    let ct = dur(spec.connect_timeout);
    let r = match &spec.kind {
        ProbeKind::Tcp => connect_tcp(spec.target, spec.bind.as_ref(), ct)
            .await
            .map(|_| None),
        ProbeKind::Http { .. } => http::probe(spec, url, tls).await.map(|_| None),
        ProbeKind::Udp { payload, reply } => {
            udp(spec, payload, reply.as_ref(), ct).await.map(|_| None)
        }
        ProbeKind::Dns { name, qtype } => dns_probe(spec, name, *qtype, ct).await.map(|_| None),
        ProbeKind::Smtp { helo } => smtp(spec, helo, ct).await.map(|_| None),
        ProbeKind::Ping => ping(spec, ct).await.map(|_| None),
        ProbeKind::Misc {
            timeout,
            dynamic,
            prepared,
            ..
        } => {
            let end = match prepared {
                Some(p) => misc::run(p, dur(*timeout)).await,
                None => Err(misc::ScriptError::Disabled),
            };
            match end {
                Ok(end) => {
                    let v = misc_proto::evaluate(end, *dynamic);
                    if v.up {
                        Ok(v.weight)
                    } else if let misc_proto::ScriptEnd::Signaled {
                        timed_out: true, ..
                    } = end
                    {
                        Err(ProbeError::ScriptTimeout)
                    } else {
                        Err(ProbeError::Script(format!("{end:?}")))
                    }
                }
                Err(e) => Err(ProbeError::Script(e.to_string())),
            }
        }
        ProbeKind::File {
            path,
            weight,
            reverse,
        } => {
            let value = read_small(path)
                .await
                .map(|s| file::parse_value(&s))
                .unwrap_or(0);
            match file::evaluate(value, *weight, *reverse) {
                FileVerdict::Up(w) => Ok(Some(WeightChange::Relative(w))),
                FileVerdict::Down => Err(ProbeError::FileDown),
            }
        }
    };
    ProbeResult::from(r)
}

async fn read_small(path: &str) -> io::Result<String> {
    let f = tokio::fs::File::open(path).await?;
    let mut buf = Vec::with_capacity(64);
    f.take(4096).read_to_end(&mut buf).await?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn unspecified(target: SocketAddr) -> IpAddr {
    if target.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    }
}

/// A socket with the checker's source binding applied (`bindto`, `bind_port`, `bind_if`,
/// `fwmark`).
fn bound_socket(
    target: SocketAddr,
    ty: Type,
    proto: Protocol,
    bind: Option<&CheckerBind>,
) -> io::Result<Socket> {
    // socket2 opens with SOCK_CLOEXEC; SOCK_NONBLOCK saves the fcntl calls.
    let sock = Socket::new(Domain::for_address(target), ty.nonblocking(), Some(proto))?;
    if let Some(b) = bind {
        if let Some(mark) = b.fwmark {
            sock.set_mark(mark)?;
        }
        if let Some(ifname) = &b.bind_if {
            sock.bind_device(Some(ifname.as_bytes()))?;
        }
        if b.bindto.is_some() || b.bind_port.is_some() {
            let ip = b.bindto.unwrap_or_else(|| unspecified(target));
            sock.bind(&SocketAddr::new(ip, b.bind_port.unwrap_or(0)).into())?;
        }
    }
    Ok(sock)
}

/// TCP connect within `ct`, honouring the source binding.
pub async fn connect_tcp(
    target: SocketAddr,
    bind: Option<&CheckerBind>,
    ct: Duration,
) -> Result<TcpStream, ProbeError> {
    let sock =
        bound_socket(target, Type::STREAM, Protocol::TCP, bind).map_err(ProbeError::Connect)?;
    let sock = TcpSocket::from_std_stream(sock.into());
    match timeout(ct, sock.connect(target)).await {
        Err(_) => Err(ProbeError::ConnectTimeout),
        Ok(Err(e)) => Err(ProbeError::Connect(e)),
        Ok(Ok(s)) => Ok(s),
    }
}

fn udp_socket(
    target: SocketAddr,
    proto: Protocol,
    bind: Option<&CheckerBind>,
) -> io::Result<UdpSocket> {
    let ty = Type::DGRAM;
    let sock = bound_socket(target, ty, proto, bind)?;
    UdpSocket::from_std(sock.into())
}

/// UDP_CHECK (check_udp.c): send the payload; an ICMP error fails; silence passes unless a
/// reply is required; a reply must match `require_reply`.
async fn udp(
    spec: &ProbeSpec,
    payload: &[u8],
    reply: Option<&super::proto::udp::ReplyCheck>,
    ct: Duration,
) -> Result<(), ProbeError> {
    let sock =
        udp_socket(spec.target, Protocol::UDP, spec.bind.as_ref()).map_err(ProbeError::Connect)?;
    sock.connect(spec.target)
        .await
        .map_err(ProbeError::Connect)?;
    sock.send(payload).await?;
    let cap = reply.map_or(1, |r| r.max_len.saturating_add(1).min(65536));
    let mut buf = vec![0u8; cap];
    match timeout(ct, sock.recv(&mut buf)).await {
        Err(_) if reply.is_some() => Err(ProbeError::NoReply),
        Err(_) => Ok(()),
        Ok(Err(e)) => Err(ProbeError::Io(e)),
        Ok(Ok(n)) => match reply {
            Some(r) if r.pattern.is_some() && !r.matches(&buf[..n]) => Err(ProbeError::UdpReply),
            _ => Ok(()),
        },
    }
}

/// A random 64-bit number from the standard library's hash keys (no RNG crate needed for
/// DNS IDs and warmup jitter).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish()
}

/// DNS_CHECK (check_dns.c): a good reply has our ID, QR set and RCODE 0.
async fn dns_probe(
    spec: &ProbeSpec,
    name: &str,
    qtype: dns::QType,
    ct: Duration,
) -> Result<(), ProbeError> {
    let id = random_u64() as u16;
    let query = dns::build_query(id, name, qtype)?;
    let sock =
        udp_socket(spec.target, Protocol::UDP, spec.bind.as_ref()).map_err(ProbeError::Connect)?;
    sock.connect(spec.target)
        .await
        .map_err(ProbeError::Connect)?;
    let work = async {
        sock.send(&query).await?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = sock.recv(&mut buf).await?;
            match dns::evaluate_reply(id, &buf[..n]) {
                ReplyVerdict::Ignore => continue,
                ReplyVerdict::Ok => return Ok(()),
                ReplyVerdict::Rcode(rc) => return Err(ProbeError::DnsRcode(rc)),
            }
        }
    };
    timeout(ct, work).await.map_err(|_| ProbeError::Timeout)?
}

/// SMTP_CHECK: the dialogue of `proto::smtp` over TCP.
async fn smtp(spec: &ProbeSpec, helo: &str, ct: Duration) -> Result<(), ProbeError> {
    let mut s = connect_tcp(spec.target, spec.bind.as_ref(), ct).await?;
    let work = async {
        let mut d = Dialogue::new(helo);
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).await?;
            let step = if n == 0 { d.eof() } else { d.feed(&buf[..n]) };
            match step {
                Step::NeedMore => {}
                Step::Send(b) => s.write_all(&b).await?,
                Step::Success => return Ok(()),
                Step::Fail(f) => return Err(ProbeError::Smtp(f)),
            }
        }
    };
    timeout(ct, work).await.map_err(|_| ProbeError::Timeout)?
}

/// PING_CHECK (check_ping.c): one ICMP echo over an unprivileged ICMP datagram socket
/// (needs `net.ipv4.ping_group_range` to cover our group).
async fn ping(spec: &ProbeSpec, ct: Duration) -> Result<(), ProbeError> {
    let v6 = spec.target.is_ipv6();
    let target = SocketAddr::new(spec.target.ip(), 0);
    let proto = if v6 {
        Protocol::ICMPV6
    } else {
        Protocol::ICMPV4
    };
    let sock = udp_socket(target, proto, spec.bind.as_ref()).map_err(ProbeError::Connect)?;
    sock.connect(target).await.map_err(ProbeError::Connect)?;
    let seq = (random_u64() as u16).max(1);
    let mut pkt = vec![0u8; 8 + 128];
    pkt[0] = if v6 { 128 } else { 8 };
    pkt[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in pkt[8..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let work = async {
        sock.send(&pkt).await?;
        let mut buf = [0u8; 8 + 128 + 64];
        loop {
            let n = sock.recv(&mut buf).await?;
            if n < 8 {
                return Err(ProbeError::BadIcmp);
            }
            let reply_type = if v6 { 129 } else { 0 };
            if buf[0] == reply_type && buf[6..8] == seq.to_be_bytes() {
                return Ok(());
            }
        }
    };
    timeout(ct, work).await.map_err(|_| ProbeError::Timeout)?
}
