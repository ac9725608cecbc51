//! VRRP advertisement codec: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 §5, RFC 9568 §5) for IPv4
//! and IPv6, with keepalived's receive checks.
//!
//! Sans-IO: this module never opens a socket, reads a clock or draws a random number. The socket
//! layer hands in what the kernel delivered (IPv4: the datagram including its IP header, since
//! raw IPv4 sockets deliver the header; IPv6: the payload plus source, destination and hop limit
//! from `IPV6_PKTINFO`/`IPV6_HOPLIMIT`) and sends what [`encode_ipv4`] (IPv4, for `IP_HDRINCL`)
//! or [`Advert::encode`] (IPv6, the kernel adds the header) produced. The per-instance state that
//! crosses packets (AH sequence counter, IP identification, the detected checksum form) lives in
//! [`WireState`], owned by the caller.
//!
//! Nothing here panics on any input: every read is bounds-checked, and the fuzz test at the end
//! feeds 100k random and mutated buffers through the decoder.
//!
//! ```text
//!  VRRPv2 (RFC 3768 §5.1)                     VRRPv3 (RFC 5798 §5.1)
//!   0               1               2               3
//!  +-------+-------+---------------+---------------+---------------+
//!  |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//!  +-------+-------+---------------+---------------+---------------+
//!  v2: |   Auth Type   |   Adver Int   |          Checksum             |
//!  v3: |(rsvd)|     Max Adver Int      |          Checksum             |
//!  +---------------------------------------------------------------+
//!  |                 IPvX Address(es) (4 or 16 bytes each)         |
//!  +---------------------------------------------------------------+
//!  v2 over IPv4 only: Authentication Data (8 bytes)
//! ```
//!
//! Checksums (RFC 3768 §5.3.8, RFC 5798 §5.2.8, see [`ChecksumForm`]): VRRPv2 over IPv4 sums the
//! message alone; over IPv6 the kernel's `IPV6_CHECKSUM` always adds the RFC 8200 §8.1
//! pseudo-header (for VRRPv2 too, which keepalived allows over IPv6 outside strict mode);
//! VRRPv3 over IPv4 adds a pseudo-header by default, with keepalived's two variants selected by
//! [`V3Checksum`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use super::auth::{
    self, AH_LEN, AUTH_DATA_LEN, AhCounter, AhHeader, AhKey, AuthConfig, compute_icv, verify_icv,
};
use crate::config::model::{Centis, Priority, Vrid};

/// IP protocol number of VRRP (RFC 5798 §5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// IP protocol number of IPsec AH (RFC 2402 §2).
pub const IPPROTO_AH: u8 = 51;
/// TTL / hop limit of every multicast advert (RFC 5798 §5.1.1.3, §5.1.2.3).
pub const VRRP_TTL: u8 = 255;
/// IPv4 TOS / IPv6 traffic class keepalived sends: 0xc0, precedence "internetwork control".
pub const VRRP_TOS: u8 = 0xc0;
/// The VRRP IPv4 multicast group (RFC 5798 §5.1.1.2).
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The VRRP IPv6 multicast group (RFC 5798 §5.1.2.2).
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Fixed part of the VRRP header.
pub const VRRP_HDR_LEN: usize = 8;
/// The IPv4 header keepalived builds (no options).
pub const IPV4_HDR_LEN: usize = 20;
/// The only VRRP packet type (RFC 5798 §5.2.2).
const TYPE_ADVERT: u8 = 1;
/// Largest VRRPv3 Max Adver Int: 12 bits of centiseconds (RFC 5798 §5.2.7).
const V3_MAX_ADVER_INT: u32 = 0x0fff;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768.
    V2,
    /// RFC 5798 / RFC 9568.
    V3,
}

impl Version {
    /// The 4-bit Version field value.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Address family of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Af {
    Ipv4,
    Ipv6,
}

impl Af {
    /// The family of `addr`.
    pub const fn of(addr: IpAddr) -> Af {
        match addr {
            IpAddr::V4(_) => Af::Ipv4,
            IpAddr::V6(_) => Af::Ipv6,
        }
    }

    /// Bytes per address in the advert's address list.
    pub const fn addr_len(self) -> usize {
        match self {
            Af::Ipv4 => 4,
            Af::Ipv6 => 16,
        }
    }

    /// The VRRP multicast group of this family.
    pub const fn group(self) -> IpAddr {
        match self {
            Af::Ipv4 => IpAddr::V4(MCAST_V4),
            Af::Ipv6 => IpAddr::V6(MCAST_V6),
        }
    }
}

impl std::fmt::Display for Af {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Af::Ipv4 => "IPv4",
            Af::Ipv6 => "IPv6",
        })
    }
}

/// The VRRPv2 Auth Type field and, for PASS, its data (RFC 2338 §5.3.6; RFC 3768 §5.3.6 keeps
/// only type 0). The AH key is not part of the advert: see [`AuthConfig`] and [`AhSeal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    /// Type 0; the Authentication Data is zero.
    #[default]
    None,
    /// Type 1; the 8-byte password travels in the Authentication Data.
    Pass([u8; AUTH_DATA_LEN]),
    /// Type 2; the advert travels behind an AH header, Authentication Data zero.
    Ah,
}

impl Auth {
    /// The Auth Type code.
    pub const fn type_code(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Pass(_) => 1,
            Auth::Ah => 2,
        }
    }
}

impl From<&AuthConfig> for Auth {
    fn from(cfg: &AuthConfig) -> Self {
        match cfg {
            AuthConfig::None => Auth::None,
            AuthConfig::Pass(p) => Auth::Pass(*p),
            AuthConfig::Ah(_) => Auth::Ah,
        }
    }
}

/// One VRRP advertisement, independent of its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub version: Version,
    pub vrid: Vrid,
    pub priority: Priority,
    /// Advertisement interval. VRRPv2 carries whole seconds (RFC 3768 §5.3.7), so only
    /// multiples of 100 encode; VRRPv3 carries 12 bits of centiseconds (RFC 5798 §5.2.7).
    pub adver_int: Centis,
    /// The virtual addresses, all of the packet's family, in wire order.
    pub addrs: Vec<IpAddr>,
    /// VRRPv2 authentication; always [`Auth::None`] for VRRPv3.
    pub auth: Auth,
}

/// What a VRRP checksum sums before the message (RFC 5798 §5.2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumForm {
    /// The message alone: VRRPv2 over IPv4 (RFC 3768 §5.3.8), VRRPv3 over IPv4 with
    /// `v3_checksum_as_v2` (the Cisco/Juniper and RFC 9568 reading).
    NoPseudoHeader,
    /// A pseudo-header with the packet's real source and destination: IPv4 `src, dst, 0, 112,
    /// 16-bit length`; IPv6 RFC 8200 §8.1 `src, dst, 32-bit length, 0, 0, 0, 112`.
    PseudoHeader,
    /// The pseudo-header with the multicast group as destination whatever the real one:
    /// keepalived before 1.3.6 for unicast VRRPv3 (`old_unicast_checksum`).
    PseudoHeaderGroupDst,
}

/// An instance's VRRPv3-over-IPv4 checksum policy (keepalived `unicast_chksum_compat` and
/// `v3_checksum_as_v2`). IPv6 always uses [`ChecksumForm::PseudoHeader`] (the kernel computes it)
/// and VRRPv2 over IPv4 always [`ChecksumForm::NoPseudoHeader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum V3Checksum {
    /// Pseudo-header with the real destination. A unicast advert that verifies only with the
    /// group as destination is accepted and switches the policy to [`Self::OldUnicastDetected`]
    /// (keepalived's default, `CHKSUM_COMPATIBILITY_NONE`).
    #[default]
    Standard,
    /// Pseudo-header with the real destination, no detection (`old_unicast_checksum never`).
    StandardNoDetect,
    /// Pseudo-header with 224.0.0.18 as destination (`old_unicast_checksum`).
    OldUnicast,
    /// [`Self::OldUnicast`], switched to after receiving such an advert.
    OldUnicastDetected,
    /// No pseudo-header (`v3_checksum_as_v2`, keepalived ≥ 2.2.8). On receive keepalived then
    /// does not enforce the checksum at all; see [`Packet::validate`].
    AsV2,
}

impl V3Checksum {
    /// The form this policy sends with, for VRRPv3 over IPv4.
    pub const fn tx_form(self) -> ChecksumForm {
        match self {
            V3Checksum::Standard | V3Checksum::StandardNoDetect => ChecksumForm::PseudoHeader,
            V3Checksum::OldUnicast | V3Checksum::OldUnicastDetected => {
                ChecksumForm::PseudoHeaderGroupDst
            }
            V3Checksum::AsV2 => ChecksumForm::NoPseudoHeader,
        }
    }
}

/// The form a message of `version` over `af` uses under `policy`.
const fn form_for(version: Version, af: Af, policy: V3Checksum) -> ChecksumForm {
    match (af, version) {
        (Af::Ipv6, _) => ChecksumForm::PseudoHeader,
        (Af::Ipv4, Version::V2) => ChecksumForm::NoPseudoHeader,
        (Af::Ipv4, Version::V3) => policy.tx_form(),
    }
}

/// RFC 1071 one's complement sum, fed in pieces of any length.
#[derive(Default)]
struct Csum {
    sum: u64,
    odd: Option<u8>,
}

impl Csum {
    fn add(&mut self, mut data: &[u8]) {
        if let Some(hi) = self.odd.take() {
            match data.split_first() {
                Some((&lo, rest)) => {
                    self.sum += u64::from(u16::from_be_bytes([hi, lo]));
                    data = rest;
                }
                None => {
                    self.odd = Some(hi);
                    return;
                }
            }
        }
        let mut words = data.chunks_exact(2);
        for w in &mut words {
            self.sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        self.odd = words.remainder().first().copied();
    }

    fn finish(mut self) -> u16 {
        if let Some(hi) = self.odd {
            self.sum += u64::from(u16::from_be_bytes([hi, 0]));
        }
        while self.sum >> 16 != 0 {
            self.sum = (self.sum & 0xffff) + (self.sum >> 16);
        }
        !(self.sum as u16)
    }
}

/// The Internet checksum of a VRRP message under `form`. With the Checksum field zeroed this is
/// the value to send; over a received message it is 0 exactly when the checksum is right.
/// `src` and `dst` must be of one family (otherwise the pseudo-header is left out).
pub fn checksum(msg: &[u8], form: ChecksumForm, src: IpAddr, dst: IpAddr) -> u16 {
    let mut c = Csum::default();
    let dst = match form {
        ChecksumForm::NoPseudoHeader => None,
        ChecksumForm::PseudoHeader => Some(dst),
        ChecksumForm::PseudoHeaderGroupDst => Some(Af::of(src).group()),
    };
    match (src, dst) {
        // RFC 5798 §5.2.8 with the IPv4 pseudo-header of RFC 768.
        (IpAddr::V4(s), Some(IpAddr::V4(d))) => {
            c.add(&s.octets());
            c.add(&d.octets());
            c.add(&[0, IPPROTO_VRRP]);
            c.add(&(msg.len() as u16).to_be_bytes());
        }
        // RFC 8200 §8.1.
        (IpAddr::V6(s), Some(IpAddr::V6(d))) => {
            c.add(&s.octets());
            c.add(&d.octets());
            c.add(&(msg.len() as u32).to_be_bytes());
            c.add(&[0, 0, 0, IPPROTO_VRRP]);
        }
        _ => {}
    }
    c.add(msg);
    c.finish()
}

/// Why an advert could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("VRRPv2 advertisement interval {0} is not a whole number of seconds in 1-255")]
    V2Interval(Centis),
    #[error("VRRPv3 advertisement interval {0} is outside 0.01s-40.95s")]
    V3Interval(Centis),
    #[error("{0} virtual addresses do not fit the 8-bit address count")]
    TooManyAddrs(usize),
    #[error("virtual address {addr} is not {af}")]
    AddrFamily { addr: IpAddr, af: Af },
    #[error("source {src} and destination {dst} are of different families")]
    EndpointFamily { src: IpAddr, dst: IpAddr },
    #[error("VRRPv3 has no authentication")]
    V3Auth,
    #[error("VRRP authentication is IPv4 only")]
    AuthOnIpv6,
    #[error("an AH advert needs the AH key and sequence number")]
    AhSealMissing,
    #[error("an AH seal was given for an advert whose auth type is not AH")]
    AhSealUnexpected,
}

impl Advert {
    /// Length of the encoded VRRP message over `af`.
    pub fn wire_len(&self, af: Af) -> usize {
        let auth = if self.version == Version::V2 && af == Af::Ipv4 {
            AUTH_DATA_LEN
        } else {
            0
        };
        VRRP_HDR_LEN + self.addrs.len() * af.addr_len() + auth
    }

    /// Encodes the VRRP message (no IP header) with its checksum for a packet from `src` to
    /// `dst`. For IPv6 this is what goes to the raw socket (the kernel would compute the same
    /// checksum with `IPV6_CHECKSUM`); for IPv4 see [`encode_ipv4`]. `policy` only matters for
    /// VRRPv3 over IPv4.
    pub fn encode(
        &self,
        src: IpAddr,
        dst: IpAddr,
        policy: V3Checksum,
    ) -> Result<Vec<u8>, EncodeError> {
        let af = Af::of(src);
        if Af::of(dst) != af {
            return Err(EncodeError::EndpointFamily { src, dst });
        }
        let count = u8::try_from(self.addrs.len())
            .map_err(|_| EncodeError::TooManyAddrs(self.addrs.len()))?;
        if let Some(&addr) = self.addrs.iter().find(|a| Af::of(**a) != af) {
            return Err(EncodeError::AddrFamily { addr, af });
        }

        let mut out = Vec::with_capacity(self.wire_len(af));
        out.push((self.version.number() << 4) | TYPE_ADVERT);
        out.push(self.vrid.0);
        out.push(self.priority.0);
        out.push(count);
        match self.version {
            Version::V2 => {
                // RFC 3768 §5.3.7: whole seconds in 8 bits; keepalived clamps to 255 s.
                let secs = self.adver_int.0 / 100;
                if !self.adver_int.0.is_multiple_of(100) || !(1..=255).contains(&secs) {
                    return Err(EncodeError::V2Interval(self.adver_int));
                }
                if af == Af::Ipv6 && self.auth != Auth::None {
                    return Err(EncodeError::AuthOnIpv6);
                }
                out.push(self.auth.type_code());
                out.push(secs as u8);
            }
            Version::V3 => {
                if self.auth != Auth::None {
                    return Err(EncodeError::V3Auth);
                }
                // RFC 5798 §5.2.7: 4 reserved bits (zero) and 12 bits of centiseconds.
                if !(1..=V3_MAX_ADVER_INT).contains(&self.adver_int.0) {
                    return Err(EncodeError::V3Interval(self.adver_int));
                }
                out.extend_from_slice(&(self.adver_int.0 as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&[0, 0]);
        for addr in &self.addrs {
            match addr {
                IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
            }
        }
        if self.version == Version::V2 && af == Af::Ipv4 {
            // RFC 3768 §5.3.10: zero unless PASS (RFC 2338 §5.3.6.1).
            match self.auth {
                Auth::Pass(p) => out.extend_from_slice(&p),
                Auth::None | Auth::Ah => out.extend_from_slice(&[0; AUTH_DATA_LEN]),
            }
        }
        let sum = checksum(&out, form_for(self.version, af, policy), src, dst);
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }
}

/// The IPv4 header fields a sender chooses; keepalived fixes the rest (version 4, IHL 5,
/// TOS 0xc0, no fragmentation flags, protocol 112 or 51).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Tx {
    pub src: Ipv4Addr,
    /// 224.0.0.18, or the unicast peer.
    pub dst: Ipv4Addr,
    /// Identification: must be nonzero, or the kernel fills in its own (which breaks AH).
    pub id: u16,
    /// 255 for multicast (RFC 5798 §5.1.1.3); `unicast_ttl` (default 255) for unicast.
    pub ttl: u8,
}

impl Ipv4Tx {
    /// A multicast advert from `src`.
    pub const fn multicast(src: Ipv4Addr, id: u16) -> Self {
        Ipv4Tx {
            src,
            dst: MCAST_V4,
            id,
            ttl: VRRP_TTL,
        }
    }
}

/// The key and sequence number to seal an AH advert with.
#[derive(Debug, Clone, Copy)]
pub struct AhSeal<'a> {
    pub key: &'a AhKey,
    /// From [`AhCounter::next_tx`].
    pub seq: u32,
    /// The instance uses unicast peers: the TTL is then left out of the ICV.
    pub unicast: bool,
}

/// Builds the whole IPv4 datagram keepalived sends with `IP_HDRINCL`: header (with its
/// checksum, which the kernel would also fill), optional AH header, VRRP message.
pub fn encode_ipv4(
    advert: &Advert,
    tx: &Ipv4Tx,
    policy: V3Checksum,
    ah: Option<AhSeal<'_>>,
) -> Result<Vec<u8>, EncodeError> {
    match (advert.auth, ah.is_some()) {
        (Auth::Ah, false) => return Err(EncodeError::AhSealMissing),
        (Auth::None | Auth::Pass(_), true) => return Err(EncodeError::AhSealUnexpected),
        _ => {}
    }
    let msg = advert.encode(IpAddr::V4(tx.src), IpAddr::V4(tx.dst), policy)?;
    let ah_len = if ah.is_some() { AH_LEN } else { 0 };
    // At most 20 + 24 + 8 + 255 * 4 + 8 bytes: always fits.
    let total = (IPV4_HDR_LEN + ah_len + msg.len()) as u16;

    let mut out = Vec::with_capacity(usize::from(total));
    out.push(0x45);
    out.push(VRRP_TOS);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&tx.id.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.push(tx.ttl);
    // RFC 2402 §2: the IP protocol becomes AH, whose Next Header is VRRP.
    out.push(if ah.is_some() {
        IPPROTO_AH
    } else {
        IPPROTO_VRRP
    });
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&tx.src.octets());
    out.extend_from_slice(&tx.dst.octets());
    if let Some(seal) = ah {
        let mut hdr = AhHeader::new(u32::from(tx.src), seal.seq);
        hdr.icv = compute_icv(seal.key, &out, &hdr, &msg, seal.unicast);
        out.extend_from_slice(&hdr.to_bytes());
    }
    let mut c = Csum::default();
    c.add(&out[..IPV4_HDR_LEN]);
    let sum = c.finish();
    out[10..12].copy_from_slice(&sum.to_be_bytes());
    out.extend_from_slice(&msg);
    Ok(out)
}

/// An IPv4 header as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Header length in bytes (IHL × 4).
    pub header_len: u8,
    pub tos: u8,
    pub total_len: u16,
    pub id: u16,
    /// Flags and fragment offset.
    pub frag: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub checksum: u16,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// What the socket layer knows about a received IPv6 packet (from `IPV6_PKTINFO` and
/// `IPV6_HOPLIMIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Meta {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// `None` when the control message was missing: the TTL check is then skipped, as in
    /// keepalived.
    pub hop_limit: Option<u8>,
}

/// A received datagram whose headers are in bounds, not yet checked against an instance.
/// [`Packet::vrid`] tells the caller which instance to check it against.
#[derive(Debug, Clone)]
pub struct Packet<'a> {
    af: Af,
    src: IpAddr,
    dst: IpAddr,
    ttl: Option<u8>,
    ipv4: Option<Ipv4Header>,
    /// The IPv4 header including options (empty for IPv6).
    ip_header: &'a [u8],
    ah: Option<AhHeader>,
    /// From the VRRP header to the end of the datagram; at least [`VRRP_HDR_LEN`] bytes.
    vrrp: &'a [u8],
    /// Length of everything received (IPv4: including the IP header).
    len: usize,
}

/// Reads a datagram from a raw IPv4 socket (IP header included). Checks only that the headers
/// are there (keepalived `vrrp_get_header`); everything else is [`Packet::validate`]'s job.
pub fn parse_ipv4(buf: &[u8]) -> Result<Packet<'_>, Discard> {
    let too_short = |ah| Discard::TooShort {
        af: Af::Ipv4,
        ah,
        len: buf.len(),
    };
    let Some(fixed) = buf.get(..IPV4_HDR_LEN) else {
        return Err(too_short(false));
    };
    let version = fixed[0] >> 4;
    let header_len = (fixed[0] & 0x0f) * 4;
    let hl = usize::from(header_len);
    // The kernel never delivers these; checked so that no input can misplace the VRRP header.
    if version != 4 || hl < IPV4_HDR_LEN {
        return Err(Discard::BadIpHeader {
            version,
            header_len,
        });
    }
    if buf.len() < hl + VRRP_HDR_LEN {
        return Err(too_short(false));
    }
    let be16 = |i: usize| u16::from_be_bytes([fixed[i], fixed[i + 1]]);
    let v4 = |i: usize| Ipv4Addr::new(fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]);
    let hdr = Ipv4Header {
        header_len,
        tos: fixed[1],
        total_len: be16(2),
        id: be16(4),
        frag: be16(6),
        ttl: fixed[8],
        protocol: fixed[9],
        checksum: be16(10),
        src: v4(12),
        dst: v4(16),
    };
    // keepalived's raw sockets are opened for 112 or 51; anything not AH is taken as VRRP.
    let (ah, vrrp_at) = if hdr.protocol == IPPROTO_AH {
        let ah = buf.get(hl..).and_then(AhHeader::parse);
        match ah {
            Some(ah) if buf.len() >= hl + AH_LEN + VRRP_HDR_LEN => (Some(ah), hl + AH_LEN),
            _ => return Err(too_short(true)),
        }
    } else {
        (None, hl)
    };
    Ok(Packet {
        af: Af::Ipv4,
        src: IpAddr::V4(hdr.src),
        dst: IpAddr::V4(hdr.dst),
        ttl: Some(hdr.ttl),
        ipv4: Some(hdr),
        ip_header: &buf[..hl],
        ah,
        vrrp: &buf[vrrp_at..],
        len: buf.len(),
    })
}

/// Reads the payload of a raw IPv6 socket. Verifies the checksum here, because keepalived sets
/// `IPV6_CHECKSUM` on its receive socket and the kernel drops bad packets before any check of
/// keepalived's (RFC 5798 §7.1: "MUST verify the VRRP checksum").
pub fn parse_ipv6(payload: &[u8], meta: Ipv6Meta) -> Result<Packet<'_>, Discard> {
    if payload.len() < VRRP_HDR_LEN {
        return Err(Discard::TooShort {
            af: Af::Ipv6,
            ah: false,
            len: payload.len(),
        });
    }
    let (src, dst) = (IpAddr::V6(meta.src), IpAddr::V6(meta.dst));
    if checksum(payload, ChecksumForm::PseudoHeader, src, dst) != 0 {
        return Err(Discard::BadChecksum {
            version: payload[0] >> 4,
        });
    }
    Ok(Packet {
        af: Af::Ipv6,
        src,
        dst,
        ttl: meta.hop_limit,
        ipv4: None,
        ip_header: &[],
        ah: None,
        vrrp: payload,
        len: payload.len(),
    })
}

/// A unicast peer as the receive checks see it (`unicast_peer { ADDR min_ttl N max_ttl M }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub addr: IpAddr,
    pub min_ttl: u8,
    pub max_ttl: u8,
}

impl Peer {
    /// A peer with keepalived's default TTL range 0-255.
    pub const fn new(addr: IpAddr) -> Self {
        Peer {
            addr,
            min_ttl: 0,
            max_ttl: 255,
        }
    }
}

/// Receive settings of a unicast instance.
#[derive(Debug, Clone, Copy)]
pub struct UnicastRx<'a> {
    /// `check_unicast_src` (instance or global): the source must be a peer, with its TTL range.
    pub check_src: bool,
    pub peers: &'a [Peer],
}

/// What an instance expects of a received advert (its configuration, read-only).
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub version: Version,
    pub vrid: Vrid,
    /// Checked for VRRPv2 only (RFC 3768 §7.1; a VRRPv3 Backup learns the Master's interval).
    pub adver_int: Centis,
    pub auth: AuthConfig,
    /// The configured virtual addresses (`vip_cnt` and the `vip` list).
    pub addrs: &'a [IpAddr],
    /// Check the address count and list (RFC 5798 §7.1 "MAY verify"). keepalived always checks
    /// in MASTER state; in BACKUP it skips the check under `skip_check_adv_addr` when the advert
    /// comes from the address the last one came from. That decision is the caller's.
    pub check_addrs: bool,
    /// `None` for multicast instances.
    pub unicast: Option<UnicastRx<'a>>,
}

/// Per-instance wire state that outlives a packet (keepalived keeps it in `vrrp_t`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireState {
    /// The VRRPv3/IPv4 checksum policy; receiving may switch `Standard` to `OldUnicastDetected`.
    pub checksum: V3Checksum,
    /// AH sequence number, shared by send and receive as in keepalived.
    pub ah: AhCounter,
    /// Last IPv4 identification sent.
    pub ip_id: u16,
}

impl WireState {
    /// A fresh state with the given checksum policy.
    pub fn new(checksum: V3Checksum) -> Self {
        WireState {
            checksum,
            ..WireState::default()
        }
    }

    /// The identification for the next IPv4 advert: 1, 2, ..., skipping 0 on wrap. (keepalived
    /// keeps an `int` and only skips 0 when the int wraps, so every 65536th advert it sends has
    /// id 0, which the kernel replaces, invalidating that advert's AH ICV.)
    pub fn next_ip_id(&mut self) -> u16 {
        self.ip_id = self.ip_id.wrapping_add(1);
        if self.ip_id == 0 {
            self.ip_id = 1;
        }
        self.ip_id
    }
}

/// A valid advert and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub advert: Advert,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit, when known.
    pub ttl: Option<u8>,
    /// The IPv4 header as received.
    pub ipv4: Option<Ipv4Header>,
    /// The AH header of an AH advert.
    pub ah: Option<AhHeader>,
    /// The checksum form that verified; `None` when `v3_checksum_as_v2` accepted an advert
    /// whose checksum matches no form (as keepalived does).
    pub checksum: Option<ChecksumForm>,
}

impl Packet<'_> {
    /// The packet's address family.
    pub fn af(&self) -> Af {
        self.af
    }

    /// The Virtual Rtr ID, for finding the instance (RFC 5798 §7.1).
    pub fn vrid(&self) -> Vrid {
        Vrid(self.vrrp[1])
    }

    /// The Version field as received.
    pub fn version_field(&self) -> u8 {
        self.vrrp[0] >> 4
    }

    /// The Priority field as received.
    pub fn priority(&self) -> Priority {
        Priority(self.vrrp[2])
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        self.src
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        self.dst
    }

    /// TTL / hop limit, when known.
    pub fn ttl(&self) -> Option<u8> {
        self.ttl
    }

    /// The IPv4 header, for IPv4 packets.
    pub fn ipv4(&self) -> Option<&Ipv4Header> {
        self.ipv4.as_ref()
    }

    /// Checks the packet against an instance in keepalived's order (`vrrp_check_packet`,
    /// preceded by the VRID lookup), which covers every check of RFC 3768 §7.1 and
    /// RFC 5798 §7.1 but runs authentication before the checksum. Updates `state.ah` once the
    /// ICV and SPI of an AH advert are valid (even if a later check fails, as keepalived does)
    /// and `state.checksum` when old-style unicast checksums are detected.
    ///
    /// Not checked here: that the local router is not the address owner (RFC 5798 §7.1, a state
    /// machine matter), and the VRRPv3 interval mismatch keepalived only logs.
    pub fn validate(&self, e: &Expect<'_>, state: &mut WireState) -> Result<Received, Discard> {
        let vrrp = self.vrrp;
        let alen = self.af.addr_len();
        let version = vrrp[0] >> 4;
        let naddr = usize::from(vrrp[3]);

        // RFC 3768 §7.1 / RFC 5798 §7.1: "MUST verify that the VRID is configured on the
        // receiving interface". keepalived finds the instance by VRID before any other check.
        if vrrp[1] != e.vrid.0 {
            return Err(Discard::VridMismatch {
                got: Vrid(vrrp[1]),
                expected: e.vrid,
            });
        }

        // keepalived: an AH instance only accepts AH datagrams and vice versa.
        let want_ah = matches!(e.auth, AuthConfig::Ah(_));
        if self.af == Af::Ipv4 && self.ah.is_some() != want_ah {
            return Err(Discard::AhPresence {
                received_ah: self.ah.is_some(),
            });
        }

        // RFC 3768 §7.1 / RFC 5798 §7.1: "MUST verify that the received packet contains the
        // complete VRRP packet (including fixed fields, IP Address(es), and Authentication
        // Data)". keepalived requires the exact length implied by the count.
        let auth_len = if version == 2 && self.af == Af::Ipv4 {
            AUTH_DATA_LEN
        } else {
            0
        };
        let msg_len = VRRP_HDR_LEN + naddr * alen + auth_len;
        let expected = (self.len - vrrp.len()) + msg_len;
        if self.len != expected {
            return Err(Discard::LengthMismatch {
                len: self.len,
                expected,
            });
        }
        // From here on `vrrp.len() == msg_len`.

        // RFC 3768 §7.1 / RFC 5798 §7.1: "MUST verify that the IP TTL is 255" (IPv6: Hop
        // Limit). keepalived skips it for unicast instances (peers may be routed).
        if e.unicast.is_none()
            && let Some(ttl) = self.ttl
            && ttl != VRRP_TTL
        {
            return Err(Discard::BadTtl { ttl });
        }

        // RFC 3768 §7.1 / RFC 5798 §7.1: "MUST verify the VRRP version".
        if version != e.version.number() {
            return Err(Discard::BadVersion {
                got: version,
                expected: e.version.number(),
            });
        }

        if e.version == Version::V2 {
            // RFC 3768 §7.1: "MUST perform authentication specified by Auth Type".
            let auth_type = vrrp[4];
            if auth_type > 2 {
                return Err(Discard::InvalidAuthType(auth_type));
            }
            if auth_type != e.auth.type_code() {
                return Err(Discard::AuthTypeMismatch {
                    got: auth_type,
                    expected: e.auth.type_code(),
                });
            }
            match &e.auth {
                AuthConfig::None => {}
                AuthConfig::Pass(pw) => {
                    // RFC 2338 §5.3.6.1. keepalived locates the field from the IP total
                    // length, which equals this position once the lengths are consistent.
                    let field = vrrp.get(VRRP_HDR_LEN + naddr * alen..).unwrap_or(&[]);
                    if !auth::pass_matches(pw, field) {
                        return Err(Discard::BadPassword);
                    }
                }
                AuthConfig::Ah(key) => self.check_ah(key, e.unicast.is_some(), state)?,
            }

            // RFC 3768 §7.1: "MUST verify that the Adver Interval in the packet is the same as
            // the locally configured for this virtual router".
            let got = Centis(u32::from(vrrp[5]) * 100);
            if got != e.adver_int {
                return Err(Discard::AdverIntMismatch {
                    got,
                    expected: e.adver_int,
                });
            }
        }

        // RFC 5798 §5.2.2: only ADVERTISEMENT (1) exists.
        let ptype = vrrp[0] & 0x0f;
        if ptype != TYPE_ADVERT {
            return Err(Discard::BadType(ptype));
        }

        // RFC 3768 §7.1 / RFC 5798 §7.1: "MAY verify that the Count IP Addrs ... matches".
        if e.check_addrs && naddr != e.addrs.len() {
            return Err(Discard::AddrCountMismatch {
                got: naddr,
                expected: e.addrs.len(),
            });
        }

        if let Some(ip) = &self.ipv4
            && usize::from(ip.total_len) != self.len
        {
            return Err(Discard::IpLengthMismatch {
                total_len: ip.total_len,
                len: self.len,
            });
        }

        let checksum_form = self.check_checksum(version, e.unicast.is_some(), state)?;

        // keepalived: a multicast instance takes only multicast adverts, a unicast one only
        // unicast adverts.
        let unicast = e.unicast.is_some();
        if self.dst.is_multicast() == unicast {
            return Err(Discard::CastMismatch {
                expected_unicast: unicast,
            });
        }

        let addrs: Vec<IpAddr> = vrrp[VRRP_HDR_LEN..VRRP_HDR_LEN + naddr * alen]
            .chunks_exact(alen)
            .filter_map(|c| match self.af {
                Af::Ipv4 => <[u8; 4]>::try_from(c).ok().map(IpAddr::from),
                Af::Ipv6 => <[u8; 16]>::try_from(c).ok().map(IpAddr::from),
            })
            .collect();

        if e.check_addrs {
            // RFC 5798 §7.1: "MAY verify that the IPvX Address(es) associated with the VRID are
            // valid". keepalived: every configured address must be in the advert.
            if let Some(&missing) = e.addrs.iter().find(|a| !addrs.contains(a)) {
                return Err(Discard::AddrMissing {
                    vrid: e.vrid,
                    addr: missing,
                });
            }
            if let Some(u) = e.unicast
                && u.check_src
            {
                let Some(peer) = u.peers.iter().find(|p| p.addr == self.src) else {
                    return Err(Discard::NotUnicastPeer(self.src));
                };
                if let Some(ttl) = self.ttl
                    && !(peer.min_ttl..=peer.max_ttl).contains(&ttl)
                {
                    return Err(Discard::TtlOutOfRange {
                        ttl,
                        min: peer.min_ttl,
                        max: peer.max_ttl,
                    });
                }
            }
        }

        let auth = match (e.version, vrrp[4]) {
            (Version::V2, 1) => vrrp
                .get(VRRP_HDR_LEN + naddr * alen..)
                .and_then(|f| <[u8; AUTH_DATA_LEN]>::try_from(f).ok())
                .map_or(Auth::None, Auth::Pass),
            (Version::V2, 2) => Auth::Ah,
            _ => Auth::None,
        };
        let adver_int = match e.version {
            Version::V2 => Centis(u32::from(vrrp[5]) * 100),
            Version::V3 => {
                Centis(u32::from(u16::from_be_bytes([vrrp[4], vrrp[5]])) & V3_MAX_ADVER_INT)
            }
        };
        Ok(Received {
            advert: Advert {
                version: e.version,
                vrid: Vrid(vrrp[1]),
                priority: Priority(vrrp[2]),
                adver_int,
                addrs,
                auth,
            },
            src: self.src,
            dst: self.dst,
            ttl: self.ttl,
            ipv4: self.ipv4,
            ah: self.ah,
            checksum: checksum_form,
        })
    }

    /// keepalived `vrrp_in_chk_ipsecah`: next header, ICV, SPI, then anti-replay.
    fn check_ah(&self, key: &AhKey, unicast: bool, state: &mut WireState) -> Result<(), Discard> {
        let Some(ah) = self.ah else {
            return Err(Discard::AhPresence { received_ah: false });
        };
        // An AH header for another protocol is not ours.
        if ah.next_header != IPPROTO_VRRP {
            return Err(Discard::AhNotVrrp {
                next_header: ah.next_header,
            });
        }
        // RFC 2402 §3.4.4: the ICV first; nothing else in the packet is trusted before it.
        if !verify_icv(key, self.ip_header, &ah, self.vrrp, unicast) {
            return Err(Discard::AhIcvMismatch);
        }
        let src = match self.src {
            IpAddr::V4(a) => u32::from(a),
            IpAddr::V6(_) => 0,
        };
        if ah.spi != src {
            return Err(Discard::AhSpiMismatch {
                spi: Ipv4Addr::from(ah.spi),
                src: self.src,
            });
        }
        // RFC 2402 §3.4.3 (without a window).
        state.ah.accept_rx(ah.seq).map_err(|r| Discard::AhReplay {
            seq: r.seq,
            last: r.last,
        })
    }

    /// RFC 3768 §7.1 / RFC 5798 §7.1: "MUST verify the VRRP checksum". IPv6 was verified by
    /// [`parse_ipv6`] (the kernel's job in keepalived).
    fn check_checksum(
        &self,
        version: u8,
        unicast: bool,
        state: &mut WireState,
    ) -> Result<Option<ChecksumForm>, Discard> {
        let ok = |form| checksum(self.vrrp, form, self.src, self.dst) == 0;
        let bad = Err(Discard::BadChecksum { version });
        if self.af == Af::Ipv6 {
            return Ok(Some(ChecksumForm::PseudoHeader));
        }
        if version == 2 {
            return if ok(ChecksumForm::NoPseudoHeader) {
                Ok(Some(ChecksumForm::NoPseudoHeader))
            } else {
                bad
            };
        }
        match state.checksum {
            V3Checksum::Standard | V3Checksum::StandardNoDetect => {
                if ok(ChecksumForm::PseudoHeader) {
                    Ok(Some(ChecksumForm::PseudoHeader))
                } else if state.checksum == V3Checksum::Standard
                    && unicast
                    && self.dst != IpAddr::V4(MCAST_V4)
                    && ok(ChecksumForm::PseudoHeaderGroupDst)
                {
                    // keepalived: "Setting unicast VRRPv3 checksum to old version".
                    state.checksum = V3Checksum::OldUnicastDetected;
                    Ok(Some(ChecksumForm::PseudoHeaderGroupDst))
                } else {
                    bad
                }
            }
            V3Checksum::OldUnicast | V3Checksum::OldUnicastDetected => {
                if ok(ChecksumForm::PseudoHeaderGroupDst) {
                    Ok(Some(ChecksumForm::PseudoHeaderGroupDst))
                } else {
                    bad
                }
            }
            // keepalived ≥ 2.2.8 computes the sum without pseudo-header but does not reject a
            // mismatch (its own unicast adverts to a second peer carry a checksum adjusted as if
            // the pseudo-header were included). Report which form matched, if any.
            V3Checksum::AsV2 => Ok([
                ChecksumForm::NoPseudoHeader,
                ChecksumForm::PseudoHeader,
                ChecksumForm::PseudoHeaderGroupDst,
            ]
            .into_iter()
            .find(|&f| ok(f))),
        }
    }
}

/// Parses and validates an IPv4 datagram in one go (see [`parse_ipv4`], [`Packet::validate`]).
pub fn decode_ipv4(
    buf: &[u8],
    expect: &Expect<'_>,
    state: &mut WireState,
) -> Result<Received, Discard> {
    parse_ipv4(buf)?.validate(expect, state)
}

/// Parses and validates an IPv6 payload in one go (see [`parse_ipv6`], [`Packet::validate`]).
pub fn decode_ipv6(
    payload: &[u8],
    meta: Ipv6Meta,
    expect: &Expect<'_>,
    state: &mut WireState,
) -> Result<Received, Discard> {
    parse_ipv6(payload, meta)?.validate(expect, state)
}

/// Why a received advert was discarded. The messages follow keepalived's log lines (without the
/// `(instance)` prefix the caller adds); [`Discard::as_str`] gives a stable counter label.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Discard {
    #[error("{af} VRRP packet{} too short - {len} bytes", if *ah { " with AH" } else { "" })]
    TooShort { af: Af, ah: bool, len: usize },
    #[error("malformed IPv4 header: version {version}, header length {header_len}")]
    BadIpHeader { version: u8, header_len: u8 },
    #[error("Unknown VRID({}) received, expected VRID {}. ignoring...", got.0, expected.0)]
    VridMismatch { got: Vrid, expected: Vrid },
    #[error("{}", if *received_ah { "Received AH header but auth type not AH" } else { "No AH header but auth type is AH" })]
    AhPresence { received_ah: bool },
    #[error("vrrp packet too {}, length {len} and expect {expected}", if len > expected { "long" } else { "short" })]
    LengthMismatch { len: usize, expected: usize },
    #[error("invalid TTL/HL. Received {ttl} and expect 255")]
    BadTtl { ttl: u8 },
    #[error("wrong version. Received {got} and expect {expected}")]
    BadVersion { got: u8, expected: u8 },
    #[error("Invalid auth type: {0}")]
    InvalidAuthType(u8),
    #[error("received a {got} auth, expecting {expected}!")]
    AuthTypeMismatch { got: u8, expected: u8 },
    #[error("received an invalid passwd!")]
    BadPassword,
    #[error("IPSEC-AH : next header {next_header} is not VRRP")]
    AhNotVrrp { next_header: u8 },
    #[error("IPSEC-AH : invalid IPSEC HMAC-MD5 value. Due to fields mutation or bad password !")]
    AhIcvMismatch,
    #[error("IPSEC AH : invalid IPSEC SPI value. {src} and expect {spi}")]
    AhSpiMismatch { spi: Ipv4Addr, src: IpAddr },
    #[error("IPSEC-AH : sequence number {seq} already processed. Packet dropped. Local({last})")]
    AhReplay { seq: u32, last: u32 },
    #[error("advertisement interval mismatch mine={} sec rcv'd={} sec", expected.0 / 100, got.0 / 100)]
    AdverIntMismatch { got: Centis, expected: Centis },
    #[error("Invalid packet type. {0} and expect 1")]
    BadType(u8),
    #[error("received an unexpected ip number count {got}, expected {expected}!")]
    AddrCountMismatch { got: usize, expected: usize },
    #[error("ip_tot_len mismatch against received length. {total_len} and received {len}")]
    IpLengthMismatch { total_len: u16, len: usize },
    #[error("Invalid VRRPv{version} checksum")]
    BadChecksum { version: u8 },
    #[error("Expected {} packet but received {} packet", if *expected_unicast { "unicast" } else { "multicast" }, if *expected_unicast { "multicast" } else { "unicast" })]
    CastMismatch { expected_unicast: bool },
    #[error("ip address associated with VRID {} not present in MASTER advert: {addr}", vrid.0)]
    AddrMissing { vrid: Vrid, addr: IpAddr },
    #[error("unicast source address {0} not a unicast peer")]
    NotUnicastPeer(IpAddr),
    #[error("TTL/HL {ttl} not in range {min} - {max}")]
    TtlOutOfRange { ttl: u8, min: u8, max: u8 },
}

impl Discard {
    /// A stable snake_case label for counters and structured logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Discard::TooShort { .. } => "too_short",
            Discard::BadIpHeader { .. } => "bad_ip_header",
            Discard::VridMismatch { .. } => "vrid_mismatch",
            Discard::AhPresence { .. } => "ah_presence_mismatch",
            Discard::LengthMismatch { .. } => "length_mismatch",
            Discard::BadTtl { .. } => "bad_ttl",
            Discard::BadVersion { .. } => "bad_version",
            Discard::InvalidAuthType(_) => "invalid_auth_type",
            Discard::AuthTypeMismatch { .. } => "auth_type_mismatch",
            Discard::BadPassword => "bad_password",
            Discard::AhNotVrrp { .. } => "ah_not_vrrp",
            Discard::AhIcvMismatch => "ah_icv_mismatch",
            Discard::AhSpiMismatch { .. } => "ah_spi_mismatch",
            Discard::AhReplay { .. } => "ah_replay",
            Discard::AdverIntMismatch { .. } => "adver_int_mismatch",
            Discard::BadType(_) => "bad_type",
            Discard::AddrCountMismatch { .. } => "addr_count_mismatch",
            Discard::IpLengthMismatch { .. } => "ip_length_mismatch",
            Discard::BadChecksum { .. } => "bad_checksum",
            Discard::CastMismatch { .. } => "cast_mismatch",
            Discard::AddrMissing { .. } => "addr_missing",
            Discard::NotUnicastPeer(_) => "not_unicast_peer",
            Discard::TtlOutOfRange { .. } => "ttl_out_of_range",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
    const SRC6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xa);
    const VIPS: [IpAddr; 2] = [
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 51)),
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 52)),
    ];
    const VIPS6: [IpAddr; 2] = [
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x59)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x59)),
    ];

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn advert(version: Version, auth: Auth, addrs: &[IpAddr]) -> Advert {
        Advert {
            version,
            vrid: Vrid(51),
            priority: Priority(150),
            adver_int: Centis(100),
            addrs: addrs.to_vec(),
            auth,
        }
    }

    fn expect<'a>(version: Version, auth: AuthConfig, addrs: &'a [IpAddr]) -> Expect<'a> {
        Expect {
            version,
            vrid: Vrid(51),
            adver_int: Centis(100),
            auth,
            addrs,
            check_addrs: true,
            unicast: None,
        }
    }

    fn v6meta(hop_limit: Option<u8>) -> Ipv6Meta {
        Ipv6Meta {
            src: SRC6,
            dst: MCAST_V6,
            hop_limit,
        }
    }

    /// Encodes an IPv4 multicast advert with id 1, AH sequence 1 when AH.
    fn wire4(a: &Advert, key: Option<&AhKey>) -> Vec<u8> {
        let seal = key.map(|key| AhSeal {
            key,
            seq: 1,
            unicast: false,
        });
        encode_ipv4(a, &Ipv4Tx::multicast(SRC, 1), V3Checksum::Standard, seal).unwrap()
    }

    fn decode4(buf: &[u8], e: &Expect<'_>) -> Result<Received, Discard> {
        decode_ipv4(buf, e, &mut WireState::default())
    }

    /// Recomputes the IPv4 header checksum (and, for VRRPv2, the VRRP checksum) after a test
    /// edited the bytes, so that only the intended check fails.
    fn fix_sums(buf: &mut [u8], vrrp_at: usize, v3: bool) {
        let msg_len = buf.len() - vrrp_at;
        buf[vrrp_at + 6..vrrp_at + 8].fill(0);
        let form = if v3 {
            ChecksumForm::PseudoHeader
        } else {
            ChecksumForm::NoPseudoHeader
        };
        let s = checksum(
            &buf[vrrp_at..vrrp_at + msg_len],
            form,
            IpAddr::V4(SRC),
            IpAddr::V4(Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19])),
        );
        buf[vrrp_at + 6..vrrp_at + 8].copy_from_slice(&s.to_be_bytes());
    }

    // ===== vectors captured from keepalived 2.2.7 (see tests/vectors/) =====

    #[test]
    fn rfc3768_5_encodes_keepalived_v2_advert() {
        let a = advert(Version::V2, Auth::None, &VIPS);
        assert_eq!(
            wire4(&a, None),
            hex("45c0002c00010000ff70b059c6336401e0000012213396020001d05f\
                 cb007133cb0071340000000000000000")
        );
    }

    #[test]
    fn rfc5798_5_2_8_encodes_keepalived_v3_ipv4_advert() {
        let a = Advert {
            vrid: Vrid(56),
            priority: Priority(200),
            adver_int: Centis(50),
            addrs: vec![
                IpAddr::V4(Ipv4Addr::new(203, 0, 113, 56)),
                IpAddr::V4(Ipv4Addr::new(203, 0, 113, 57)),
            ],
            ..advert(Version::V3, Auth::None, &[])
        };
        assert_eq!(
            wire4(&a, None),
            hex("45c0002400010000ff70b061c6336401e00000123138c80200328357cb007138cb007139")
        );
    }

    #[test]
    fn rfc5798_5_2_8_encodes_keepalived_v3_ipv6_advert() {
        let a = Advert {
            vrid: Vrid(59),
            addrs: VIPS6.to_vec(),
            ..advert(Version::V3, Auth::None, &[])
        };
        let msg = a
            .encode(IpAddr::V6(SRC6), IpAddr::V6(MCAST_V6), V3Checksum::Standard)
            .unwrap();
        assert_eq!(
            msg,
            hex("313b960200640d3afe800000000000000000000000000059\
                 20010db8000000000000000000000059")
        );
    }

    // ===== round trips =====

    fn round_trip4(a: &Advert, e: &Expect<'_>, key: Option<&AhKey>) {
        let buf = wire4(a, key);
        let r = decode4(&buf, e).unwrap();
        assert_eq!(&r.advert, a);
        assert_eq!(r.src, IpAddr::V4(SRC));
        assert_eq!(r.ttl, Some(255));
        assert_eq!(wire4(&r.advert, key), buf);
    }

    #[test]
    fn round_trip_v2_no_auth() {
        let a = advert(Version::V2, Auth::None, &VIPS);
        round_trip4(&a, &expect(Version::V2, AuthConfig::None, &VIPS), None);
    }

    #[test]
    fn round_trip_v2_pass() {
        let pw = auth::pad8(b"s3cr3t");
        let a = advert(Version::V2, Auth::Pass(pw), &VIPS);
        round_trip4(&a, &expect(Version::V2, AuthConfig::Pass(pw), &VIPS), None);
        let buf = wire4(&a, None);
        assert_eq!(&buf[buf.len() - 8..], b"s3cr3t\0\0");
    }

    #[test]
    fn round_trip_v2_ah() {
        let key = AhKey::new(b"ahsecret");
        let a = advert(Version::V2, Auth::Ah, &VIPS);
        round_trip4(
            &a,
            &expect(Version::V2, AuthConfig::Ah(key), &VIPS),
            Some(&key),
        );
        let buf = wire4(&a, Some(&key));
        assert_eq!(buf[9], IPPROTO_AH);
        assert_eq!(usize::from(u16::from_be_bytes([buf[2], buf[3]])), buf.len());
        let ah = AhHeader::parse(&buf[20..]).unwrap();
        assert_eq!((ah.next_header, ah.payload_len, ah.seq), (112, 4, 1));
        assert_eq!(ah.spi, u32::from(SRC));
    }

    #[test]
    fn round_trip_v2_ah_unicast() {
        let key = AhKey::new(b"k3y");
        let a = advert(Version::V2, Auth::Ah, &VIPS);
        let peers = [Peer::new(IpAddr::V4(SRC))];
        let e = Expect {
            unicast: Some(UnicastRx {
                check_src: true,
                peers: &peers,
            }),
            ..expect(Version::V2, AuthConfig::Ah(key), &VIPS)
        };
        let tx = Ipv4Tx {
            src: SRC,
            dst: PEER,
            id: 9,
            ttl: 64,
        };
        let seal = AhSeal {
            key: &key,
            seq: 7,
            unicast: true,
        };
        let mut buf = encode_ipv4(&a, &tx, V3Checksum::Standard, Some(seal)).unwrap();
        let mut st = WireState::default();
        let r = decode_ipv4(&buf, &e, &mut st).unwrap();
        assert_eq!(r.advert, a);
        assert_eq!(st.ah.last(), 7);
        // The TTL is outside a unicast ICV: a router hop changes nothing.
        buf[8] = 63;
        let mut c = Csum::default();
        buf[10..12].fill(0);
        c.add(&buf[..20]);
        let s = c.finish();
        buf[10..12].copy_from_slice(&s.to_be_bytes());
        let mut st = WireState::default();
        assert!(decode_ipv4(&buf, &e, &mut st).is_ok());
    }

    #[test]
    fn round_trip_v3_ipv4_every_checksum_policy() {
        let a = advert(Version::V3, Auth::None, &VIPS);
        for policy in [
            V3Checksum::Standard,
            V3Checksum::StandardNoDetect,
            V3Checksum::OldUnicast,
            V3Checksum::OldUnicastDetected,
            V3Checksum::AsV2,
        ] {
            let tx = Ipv4Tx {
                dst: PEER,
                ..Ipv4Tx::multicast(SRC, 3)
            };
            let buf = encode_ipv4(&a, &tx, policy, None).unwrap();
            let e = Expect {
                unicast: Some(UnicastRx {
                    check_src: false,
                    peers: &[],
                }),
                ..expect(Version::V3, AuthConfig::None, &VIPS)
            };
            let mut st = WireState::new(policy);
            let r = decode_ipv4(&buf, &e, &mut st).unwrap();
            assert_eq!(r.advert, a);
            assert_eq!(r.checksum, Some(policy.tx_form()), "{policy:?}");
            assert_eq!(st.checksum, policy);
        }
    }

    #[test]
    fn round_trip_v3_ipv6() {
        let a = Advert {
            adver_int: Centis(4095),
            ..advert(Version::V3, Auth::None, &VIPS6)
        };
        let msg = a
            .encode(IpAddr::V6(SRC6), IpAddr::V6(MCAST_V6), V3Checksum::AsV2)
            .unwrap();
        assert_eq!(msg.len(), a.wire_len(Af::Ipv6));
        let e = Expect {
            adver_int: Centis(100),
            ..expect(Version::V3, AuthConfig::None, &VIPS6)
        };
        let r = decode_ipv6(&msg, v6meta(Some(255)), &e, &mut WireState::default()).unwrap();
        assert_eq!(r.advert, a);
        assert_eq!(r.checksum, Some(ChecksumForm::PseudoHeader));
        assert_eq!(r.src, IpAddr::V6(SRC6));
    }

    #[test]
    fn round_trip_v2_ipv6_has_no_auth_data() {
        let a = advert(Version::V2, Auth::None, &VIPS6[1..]);
        let msg = a
            .encode(IpAddr::V6(SRC6), IpAddr::V6(MCAST_V6), V3Checksum::Standard)
            .unwrap();
        assert_eq!(msg.len(), 8 + 16);
        let e = expect(Version::V2, AuthConfig::None, &VIPS6[1..]);
        let r = decode_ipv6(&msg, v6meta(None), &e, &mut WireState::default()).unwrap();
        assert_eq!(r.advert, a);
    }

    #[test]
    fn round_trip_without_addresses() {
        let a = advert(Version::V3, Auth::None, &[]);
        round_trip4(&a, &expect(Version::V3, AuthConfig::None, &[]), None);
    }

    // ===== encode errors =====

    #[test]
    fn encode_rejects_what_the_wire_cannot_carry() {
        let src = IpAddr::V4(SRC);
        let dst = IpAddr::V4(MCAST_V4);
        let enc = |a: &Advert| a.encode(src, dst, V3Checksum::Standard);
        let mut a = advert(Version::V2, Auth::None, &VIPS);
        a.adver_int = Centis(150);
        assert_eq!(enc(&a), Err(EncodeError::V2Interval(Centis(150))));
        a.adver_int = Centis(25600);
        assert_eq!(enc(&a), Err(EncodeError::V2Interval(Centis(25600))));
        a.adver_int = Centis(25500);
        assert!(enc(&a).is_ok());

        let mut a = advert(Version::V3, Auth::None, &VIPS);
        a.adver_int = Centis(4096);
        assert_eq!(enc(&a), Err(EncodeError::V3Interval(Centis(4096))));
        a.adver_int = Centis(0);
        assert_eq!(enc(&a), Err(EncodeError::V3Interval(Centis(0))));

        let a = advert(Version::V3, Auth::Pass([1; 8]), &VIPS);
        assert_eq!(enc(&a), Err(EncodeError::V3Auth));
        let a = advert(Version::V2, Auth::Pass([1; 8]), &VIPS6);
        assert_eq!(
            a.encode(IpAddr::V6(SRC6), IpAddr::V6(MCAST_V6), V3Checksum::Standard),
            Err(EncodeError::AuthOnIpv6)
        );
        let a = advert(Version::V2, Auth::None, &VIPS6);
        assert_eq!(
            enc(&a),
            Err(EncodeError::AddrFamily {
                addr: VIPS6[0],
                af: Af::Ipv4
            })
        );
        assert!(matches!(
            a.encode(src, IpAddr::V6(MCAST_V6), V3Checksum::Standard),
            Err(EncodeError::EndpointFamily { .. })
        ));
        let many = vec![VIPS[0]; 256];
        assert_eq!(
            enc(&advert(Version::V2, Auth::None, &many)),
            Err(EncodeError::TooManyAddrs(256))
        );
        let tx = Ipv4Tx::multicast(SRC, 1);
        let ah = advert(Version::V2, Auth::Ah, &VIPS);
        assert_eq!(
            encode_ipv4(&ah, &tx, V3Checksum::Standard, None),
            Err(EncodeError::AhSealMissing)
        );
        let key = AhKey::new(b"x");
        let seal = AhSeal {
            key: &key,
            seq: 1,
            unicast: false,
        };
        assert_eq!(
            encode_ipv4(
                &advert(Version::V2, Auth::None, &VIPS),
                &tx,
                V3Checksum::Standard,
                Some(seal)
            ),
            Err(EncodeError::AhSealUnexpected)
        );
    }

    // ===== one test per discard reason, in keepalived's check order =====

    #[test]
    fn too_short_ipv4_ah_and_ipv6() {
        let a = advert(Version::V2, Auth::None, &VIPS);
        let buf = wire4(&a, None);
        let e = expect(Version::V2, AuthConfig::None, &VIPS);
        for n in [0, 19, 27] {
            assert_eq!(
                decode4(&buf[..n], &e),
                Err(Discard::TooShort {
                    af: Af::Ipv4,
                    ah: false,
                    len: n
                })
            );
        }
        let key = AhKey::new(b"k");
        let buf = wire4(&advert(Version::V2, Auth::Ah, &VIPS), Some(&key));
        assert_eq!(
            parse_ipv4(&buf[..51]).map(|_| ()),
            Err(Discard::TooShort {
                af: Af::Ipv4,
                ah: true,
                len: 51
            })
        );
        assert!(parse_ipv4(&buf[..52]).is_ok());
        assert_eq!(
            parse_ipv6(&[0x31; 7], v6meta(None)).map(|_| ()),
            Err(Discard::TooShort {
                af: Af::Ipv6,
                ah: false,
                len: 7
            })
        );
    }

    #[test]
    fn bad_ip_header() {
        let mut buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        buf[0] = 0x44;
        assert_eq!(
            parse_ipv4(&buf).map(|_| ()),
            Err(Discard::BadIpHeader {
                version: 4,
                header_len: 16
            })
        );
        buf[0] = 0x65;
        assert!(matches!(
            parse_ipv4(&buf),
            Err(Discard::BadIpHeader { version: 6, .. })
        ));
    }

    #[test]
    fn ipv4_options_are_skipped() {
        let a = advert(Version::V2, Auth::None, &VIPS);
        let plain = wire4(&a, None);
        let mut buf = plain[..20].to_vec();
        buf[0] = 0x46;
        buf.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        buf.extend_from_slice(&plain[20..]);
        let len = buf.len() as u16;
        buf[2..4].copy_from_slice(&len.to_be_bytes());
        let r = decode4(&buf, &expect(Version::V2, AuthConfig::None, &VIPS)).unwrap();
        assert_eq!(r.advert, a);
        assert_eq!(r.ipv4.unwrap().header_len, 24);
    }

    #[test]
    fn rfc5798_7_1_unknown_vrid_reported() {
        let buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        assert_eq!(parse_ipv4(&buf).unwrap().vrid(), Vrid(51));
        let e = Expect {
            vrid: Vrid(52),
            ..expect(Version::V2, AuthConfig::None, &VIPS)
        };
        assert_eq!(
            decode4(&buf, &e),
            Err(Discard::VridMismatch {
                got: Vrid(51),
                expected: Vrid(52)
            })
        );
    }

    #[test]
    fn ah_presence_must_match_auth_type() {
        let key = AhKey::new(b"k");
        let plain = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        let sealed = wire4(&advert(Version::V2, Auth::Ah, &VIPS), Some(&key));
        assert_eq!(
            decode4(&plain, &expect(Version::V2, AuthConfig::Ah(key), &VIPS)),
            Err(Discard::AhPresence { received_ah: false })
        );
        assert_eq!(
            decode4(&sealed, &expect(Version::V2, AuthConfig::None, &VIPS)),
            Err(Discard::AhPresence { received_ah: true })
        );
    }

    #[test]
    fn rfc3768_7_1_incomplete_packet() {
        let buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        let e = expect(Version::V2, AuthConfig::None, &VIPS);
        assert_eq!(
            decode4(&buf[..buf.len() - 1], &e),
            Err(Discard::LengthMismatch {
                len: 43,
                expected: 44
            })
        );
        let mut long = buf.clone();
        long.push(0);
        assert_eq!(
            decode4(&long, &e),
            Err(Discard::LengthMismatch {
                len: 45,
                expected: 44
            })
        );
        // The count decides the expected length.
        let mut more = buf;
        more[20 + 3] = 3;
        assert_eq!(
            decode4(&more, &e),
            Err(Discard::LengthMismatch {
                len: 44,
                expected: 48
            })
        );
    }

    #[test]
    fn rfc3768_7_1_ttl_must_be_255_for_multicast_only() {
        let mut buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        buf[8] = 254;
        let e = expect(Version::V2, AuthConfig::None, &VIPS);
        assert_eq!(decode4(&buf, &e), Err(Discard::BadTtl { ttl: 254 }));
        let msg = advert(Version::V3, Auth::None, &VIPS6)
            .encode(IpAddr::V6(SRC6), IpAddr::V6(MCAST_V6), V3Checksum::Standard)
            .unwrap();
        let e6 = expect(Version::V3, AuthConfig::None, &VIPS6);
        assert_eq!(
            decode_ipv6(&msg, v6meta(Some(1)), &e6, &mut WireState::default()),
            Err(Discard::BadTtl { ttl: 1 })
        );
        // Unknown hop limit: not checked.
        assert!(decode_ipv6(&msg, v6meta(None), &e6, &mut WireState::default()).is_ok());
    }

    #[test]
    fn rfc5798_7_1_version_must_match() {
        let buf = wire4(&advert(Version::V3, Auth::None, &VIPS), None);
        // A VRRPv3 packet is 8 bytes shorter than a VRRPv2 one, so the length check (which
        // follows the received version) passes and the version check fires.
        assert_eq!(
            decode4(&buf, &expect(Version::V2, AuthConfig::None, &VIPS)),
            Err(Discard::BadVersion {
                got: 3,
                expected: 2
            })
        );
    }

    #[test]
    fn rfc3768_7_1_auth_type_checks() {
        let e = expect(Version::V2, AuthConfig::None, &VIPS);
        let mut buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        buf[20 + 4] = 3;
        assert_eq!(decode4(&buf, &e), Err(Discard::InvalidAuthType(3)));
        let pw = auth::pad8(b"pw");
        let buf = wire4(&advert(Version::V2, Auth::Pass(pw), &VIPS), None);
        assert_eq!(
            decode4(&buf, &e),
            Err(Discard::AuthTypeMismatch {
                got: 1,
                expected: 0
            })
        );
        let e = expect(Version::V2, AuthConfig::Pass(auth::pad8(b"pW")), &VIPS);
        assert_eq!(decode4(&buf, &e), Err(Discard::BadPassword));
    }

    #[test]
    fn ah_checks_next_header_icv_spi_and_replay() {
        let key = AhKey::new(b"ahsecret");
        let a = advert(Version::V2, Auth::Ah, &VIPS);
        let e = expect(Version::V2, AuthConfig::Ah(key), &VIPS);
        let buf = wire4(&a, Some(&key));

        let mut nh = buf.clone();
        nh[20] = 6;
        assert_eq!(decode4(&nh, &e), Err(Discard::AhNotVrrp { next_header: 6 }));

        let wrong = expect(Version::V2, AuthConfig::Ah(AhKey::new(b"other")), &VIPS);
        assert_eq!(decode4(&buf, &wrong), Err(Discard::AhIcvMismatch));
        let mut tampered = buf.clone();
        tampered[20 + 24 + 2] = 254; // priority
        assert_eq!(decode4(&tampered, &e), Err(Discard::AhIcvMismatch));

        // A sender whose SPI is not its address (ICV recomputed so only the SPI is wrong).
        let mut spi = buf.clone();
        let mut hdr = AhHeader::parse(&spi[20..]).unwrap();
        hdr.spi = u32::from(PEER);
        hdr.icv = compute_icv(&key, &spi[..20], &hdr, &spi[44..], false);
        spi[20..44].copy_from_slice(&hdr.to_bytes());
        assert_eq!(
            decode4(&spi, &e),
            Err(Discard::AhSpiMismatch {
                spi: PEER,
                src: IpAddr::V4(SRC)
            })
        );

        let mut st = WireState::default();
        assert!(decode_ipv4(&buf, &e, &mut st).is_ok());
        assert_eq!(
            decode_ipv4(&buf, &e, &mut st),
            Err(Discard::AhReplay { seq: 1, last: 1 })
        );
        // The counter is shared with sending: our next advert continues after the peer's.
        assert_eq!(st.ah.next_tx(), 2);
    }

    #[test]
    fn ah_counter_advances_even_if_a_later_check_fails() {
        let key = AhKey::new(b"k");
        let buf = wire4(&advert(Version::V2, Auth::Ah, &VIPS), Some(&key));
        let e = Expect {
            adver_int: Centis(200),
            ..expect(Version::V2, AuthConfig::Ah(key), &VIPS)
        };
        let mut st = WireState::default();
        assert!(matches!(
            decode_ipv4(&buf, &e, &mut st),
            Err(Discard::AdverIntMismatch { .. })
        ));
        assert_eq!(st.ah.last(), 1);
    }

    #[test]
    fn rfc3768_7_1_adver_int_must_match() {
        let buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        let e = Expect {
            adver_int: Centis(300),
            ..expect(Version::V2, AuthConfig::None, &VIPS)
        };
        let d = decode4(&buf, &e).unwrap_err();
        assert_eq!(
            d,
            Discard::AdverIntMismatch {
                got: Centis(100),
                expected: Centis(300)
            }
        );
        assert_eq!(
            d.to_string(),
            "advertisement interval mismatch mine=3 sec rcv'd=1 sec"
        );
        // VRRPv3 does not check it (RFC 5798 §6.4.2: the Backup learns it).
        let buf = wire4(&advert(Version::V3, Auth::None, &VIPS), None);
        let e = Expect {
            adver_int: Centis(300),
            ..expect(Version::V3, AuthConfig::None, &VIPS)
        };
        assert_eq!(decode4(&buf, &e).unwrap().advert.adver_int, Centis(100));
    }

    #[test]
    fn rfc5798_5_2_2_type_must_be_advertisement() {
        let mut buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        buf[20] = 0x22;
        fix_sums(&mut buf, 20, false);
        assert_eq!(
            decode4(&buf, &expect(Version::V2, AuthConfig::None, &VIPS)),
            Err(Discard::BadType(2))
        );
    }

    #[test]
    fn rfc5798_7_1_address_count() {
        let buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        let e = expect(Version::V2, AuthConfig::None, &VIPS[..1]);
        assert_eq!(
            decode4(&buf, &e),
            Err(Discard::AddrCountMismatch {
                got: 2,
                expected: 1
            })
        );
        let e = Expect {
            check_addrs: false,
            ..e
        };
        assert!(decode4(&buf, &e).is_ok());
    }

    #[test]
    fn ip_total_length_must_match() {
        let mut buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        buf[3] = 0x2d;
        assert_eq!(
            decode4(&buf, &expect(Version::V2, AuthConfig::None, &VIPS)),
            Err(Discard::IpLengthMismatch {
                total_len: 45,
                len: 44
            })
        );
    }

    #[test]
    fn rfc3768_7_1_checksum() {
        let mut buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        buf[20 + 7] ^= 1;
        assert_eq!(
            decode4(&buf, &expect(Version::V2, AuthConfig::None, &VIPS)),
            Err(Discard::BadChecksum { version: 2 })
        );
        let mut buf = wire4(&advert(Version::V3, Auth::None, &VIPS), None);
        buf[20 + 7] ^= 1;
        assert_eq!(
            decode4(&buf, &expect(Version::V3, AuthConfig::None, &VIPS)),
            Err(Discard::BadChecksum { version: 3 })
        );
        let mut msg = advert(Version::V3, Auth::None, &VIPS6)
            .encode(IpAddr::V6(SRC6), IpAddr::V6(MCAST_V6), V3Checksum::Standard)
            .unwrap();
        msg[7] ^= 1;
        assert_eq!(
            parse_ipv6(&msg, v6meta(Some(255))).map(|_| ()),
            Err(Discard::BadChecksum { version: 3 })
        );
    }

    #[test]
    fn rfc5798_5_2_8_v3_ipv4_uses_the_pseudo_header() {
        // The same message with a v2-style checksum fails a standard receiver...
        let a = advert(Version::V3, Auth::None, &VIPS);
        let tx = Ipv4Tx::multicast(SRC, 1);
        let as_v2 = encode_ipv4(&a, &tx, V3Checksum::AsV2, None).unwrap();
        let std = encode_ipv4(&a, &tx, V3Checksum::Standard, None).unwrap();
        assert_ne!(as_v2, std);
        let e = expect(Version::V3, AuthConfig::None, &VIPS);
        assert_eq!(
            decode4(&as_v2, &e),
            Err(Discard::BadChecksum { version: 3 })
        );
        // ...while an `AsV2` receiver accepts both, and (like keepalived) even a bad one.
        let mut st = WireState::new(V3Checksum::AsV2);
        let r = decode_ipv4(&std, &e, &mut st).unwrap();
        assert_eq!(r.checksum, Some(ChecksumForm::PseudoHeader));
        let r = decode_ipv4(&as_v2, &e, &mut st).unwrap();
        assert_eq!(r.checksum, Some(ChecksumForm::NoPseudoHeader));
        let mut bad = std;
        bad[27] ^= 0x10;
        let r = decode_ipv4(&bad, &e, &mut st).unwrap();
        assert_eq!(r.checksum, None);
    }

    #[test]
    fn old_unicast_checksum_is_detected_unless_never() {
        let a = advert(Version::V3, Auth::None, &VIPS);
        let tx = Ipv4Tx {
            dst: PEER,
            ..Ipv4Tx::multicast(SRC, 1)
        };
        let old = encode_ipv4(&a, &tx, V3Checksum::OldUnicast, None).unwrap();
        let e = Expect {
            unicast: Some(UnicastRx {
                check_src: false,
                peers: &[],
            }),
            ..expect(Version::V3, AuthConfig::None, &VIPS)
        };
        let mut st = WireState::default();
        let r = decode_ipv4(&old, &e, &mut st).unwrap();
        assert_eq!(r.checksum, Some(ChecksumForm::PseudoHeaderGroupDst));
        assert_eq!(st.checksum, V3Checksum::OldUnicastDetected);
        // Our replies now use the old form too.
        assert_eq!(
            encode_ipv4(&a, &tx, st.checksum, None).unwrap(),
            old,
            "same sender parameters, same bytes"
        );

        let mut st = WireState::new(V3Checksum::StandardNoDetect);
        assert_eq!(
            decode_ipv4(&old, &e, &mut st),
            Err(Discard::BadChecksum { version: 3 })
        );
        // Multicast instances never detect it (the forms coincide for 224.0.0.18 anyway).
        let mut st = WireState::default();
        let e = expect(Version::V3, AuthConfig::None, &VIPS);
        assert!(decode_ipv4(&old, &e, &mut st).is_err());
        assert_eq!(st.checksum, V3Checksum::Standard);
    }

    #[test]
    fn multicast_and_unicast_instances_do_not_mix() {
        let e = expect(Version::V2, AuthConfig::None, &VIPS);
        let a = advert(Version::V2, Auth::None, &VIPS);
        let tx = Ipv4Tx {
            dst: PEER,
            ..Ipv4Tx::multicast(SRC, 1)
        };
        let uni = encode_ipv4(&a, &tx, V3Checksum::Standard, None).unwrap();
        assert_eq!(
            decode4(&uni, &e),
            Err(Discard::CastMismatch {
                expected_unicast: false
            })
        );
        let e = Expect {
            unicast: Some(UnicastRx {
                check_src: false,
                peers: &[],
            }),
            ..e
        };
        let d = decode4(&wire4(&a, None), &e).unwrap_err();
        assert_eq!(
            d,
            Discard::CastMismatch {
                expected_unicast: true
            }
        );
        assert_eq!(
            d.to_string(),
            "Expected unicast packet but received multicast packet"
        );
    }

    #[test]
    fn rfc5798_7_1_addresses_must_be_present() {
        let other = [VIPS[0], IpAddr::V4(Ipv4Addr::new(203, 0, 113, 99))];
        let buf = wire4(&advert(Version::V2, Auth::None, &VIPS), None);
        let e = expect(Version::V2, AuthConfig::None, &other);
        assert_eq!(
            decode4(&buf, &e),
            Err(Discard::AddrMissing {
                vrid: Vrid(51),
                addr: other[1]
            })
        );
        // Order does not matter.
        let swapped = [VIPS[1], VIPS[0]];
        assert!(decode4(&buf, &expect(Version::V2, AuthConfig::None, &swapped)).is_ok());
        // skip_check_adv_addr (decided by the caller).
        let e = Expect {
            check_addrs: false,
            ..e
        };
        assert!(decode4(&buf, &e).is_ok());
    }

    #[test]
    fn check_unicast_src_and_ttl_range() {
        let a = advert(Version::V2, Auth::None, &VIPS);
        let tx = Ipv4Tx {
            src: SRC,
            dst: PEER,
            id: 1,
            ttl: 200,
        };
        let buf = encode_ipv4(&a, &tx, V3Checksum::Standard, None).unwrap();
        let others = [Peer::new(IpAddr::V4(PEER))];
        let mut e = Expect {
            unicast: Some(UnicastRx {
                check_src: true,
                peers: &others,
            }),
            ..expect(Version::V2, AuthConfig::None, &VIPS)
        };
        assert_eq!(
            decode4(&buf, &e),
            Err(Discard::NotUnicastPeer(IpAddr::V4(SRC)))
        );
        let narrow = [Peer {
            addr: IpAddr::V4(SRC),
            min_ttl: 250,
            max_ttl: 255,
        }];
        e.unicast = Some(UnicastRx {
            check_src: true,
            peers: &narrow,
        });
        assert_eq!(
            decode4(&buf, &e),
            Err(Discard::TtlOutOfRange {
                ttl: 200,
                min: 250,
                max: 255
            })
        );
        e.unicast = Some(UnicastRx {
            check_src: false,
            peers: &narrow,
        });
        assert!(decode4(&buf, &e).is_ok());
    }

    #[test]
    fn discard_labels_are_unique_and_messages_keepalived_like() {
        let all = [
            Discard::TooShort {
                af: Af::Ipv4,
                ah: true,
                len: 30,
            },
            Discard::BadIpHeader {
                version: 4,
                header_len: 4,
            },
            Discard::VridMismatch {
                got: Vrid(1),
                expected: Vrid(2),
            },
            Discard::AhPresence { received_ah: true },
            Discard::LengthMismatch {
                len: 1,
                expected: 2,
            },
            Discard::BadTtl { ttl: 1 },
            Discard::BadVersion {
                got: 3,
                expected: 2,
            },
            Discard::InvalidAuthType(9),
            Discard::AuthTypeMismatch {
                got: 1,
                expected: 2,
            },
            Discard::BadPassword,
            Discard::AhNotVrrp { next_header: 6 },
            Discard::AhIcvMismatch,
            Discard::AhSpiMismatch {
                spi: PEER,
                src: IpAddr::V4(SRC),
            },
            Discard::AhReplay { seq: 1, last: 2 },
            Discard::AdverIntMismatch {
                got: Centis(100),
                expected: Centis(200),
            },
            Discard::BadType(2),
            Discard::AddrCountMismatch {
                got: 1,
                expected: 2,
            },
            Discard::IpLengthMismatch {
                total_len: 1,
                len: 2,
            },
            Discard::BadChecksum { version: 3 },
            Discard::CastMismatch {
                expected_unicast: false,
            },
            Discard::AddrMissing {
                vrid: Vrid(51),
                addr: VIPS[0],
            },
            Discard::NotUnicastPeer(IpAddr::V4(SRC)),
            Discard::TtlOutOfRange {
                ttl: 1,
                min: 2,
                max: 3,
            },
        ];
        let mut labels: Vec<_> = all.iter().map(Discard::as_str).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), all.len());
        let msgs: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(msgs[0], "IPv4 VRRP packet with AH too short - 30 bytes");
        assert_eq!(msgs[4], "vrrp packet too short, length 1 and expect 2");
        assert_eq!(msgs[5], "invalid TTL/HL. Received 1 and expect 255");
        assert_eq!(msgs[18], "Invalid VRRPv3 checksum");
        assert_eq!(
            msgs[20],
            "ip address associated with VRID 51 not present in MASTER advert: 203.0.113.51"
        );
        assert_eq!(
            msgs[12],
            "IPSEC AH : invalid IPSEC SPI value. 198.51.100.1 and expect 198.51.100.2"
        );
    }

    // ===== helpers =====

    #[test]
    fn checksum_pieces_of_odd_length() {
        let data: Vec<u8> = (0u8..=200).collect();
        let mut whole = Csum::default();
        whole.add(&data);
        let mut parts = Csum::default();
        parts.add(&data[..3]);
        parts.add(&[]);
        parts.add(&data[3..4]);
        parts.add(&data[4..101]);
        parts.add(&data[101..]);
        assert_eq!(whole.finish(), parts.finish());
        // RFC 1071 §3 example: 0001 f203 f4f5 f6f7 sums to ddf2, checksum 220d.
        let mut c = Csum::default();
        c.add(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(c.finish(), !0xddf2);
    }

    #[test]
    fn ip_id_skips_zero() {
        let mut st = WireState::default();
        assert_eq!(st.next_ip_id(), 1);
        st.ip_id = u16::MAX;
        assert_eq!(st.next_ip_id(), 1);
    }

    #[test]
    fn auth_from_config() {
        assert_eq!(Auth::from(&AuthConfig::None), Auth::None);
        assert_eq!(Auth::from(&AuthConfig::Pass([7; 8])), Auth::Pass([7; 8]));
        assert_eq!(Auth::from(&AuthConfig::Ah(AhKey::new(b"x"))), Auth::Ah);
    }

    // ===== robustness =====

    /// Fixed-seed 64-bit LCG (Knuth MMIX constants): reproducible without a rand dependency.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn byte(&mut self) -> u8 {
            self.next() as u8
        }
    }

    /// 100k random and mutated buffers through every decoder entry point and expectation:
    /// nothing may panic, and whatever validates must re-encode and validate again.
    #[test]
    fn fuzz_decoder_never_panics() {
        let key = AhKey::new(b"fuzzkey");
        let pw = auth::pad8(b"pw");
        let seeds4: Vec<Vec<u8>> = vec![
            wire4(&advert(Version::V2, Auth::None, &VIPS), None),
            wire4(&advert(Version::V2, Auth::Pass(pw), &VIPS), None),
            wire4(&advert(Version::V2, Auth::Ah, &VIPS), Some(&key)),
            wire4(&advert(Version::V3, Auth::None, &VIPS), None),
            wire4(&advert(Version::V3, Auth::None, &[]), None),
        ];
        let seeds6: Vec<Vec<u8>> = [Version::V2, Version::V3]
            .into_iter()
            .map(|v| {
                advert(v, Auth::None, &VIPS6)
                    .encode(IpAddr::V6(SRC6), IpAddr::V6(MCAST_V6), V3Checksum::Standard)
                    .unwrap()
            })
            .collect();
        let peers = [Peer::new(IpAddr::V4(SRC))];
        let uni = Some(UnicastRx {
            check_src: true,
            peers: &peers,
        });
        let expects4 = [
            expect(Version::V2, AuthConfig::None, &VIPS),
            expect(Version::V2, AuthConfig::Pass(pw), &VIPS),
            expect(Version::V2, AuthConfig::Ah(key), &VIPS),
            expect(Version::V3, AuthConfig::None, &VIPS),
            Expect {
                unicast: uni,
                ..expect(Version::V3, AuthConfig::None, &[])
            },
        ];
        let expects6 = [
            expect(Version::V2, AuthConfig::None, &VIPS6),
            expect(Version::V3, AuthConfig::None, &VIPS6),
        ];
        let policies = [
            V3Checksum::Standard,
            V3Checksum::OldUnicast,
            V3Checksum::AsV2,
        ];

        let mut rng = Lcg(0x5eed_1234_abcd_0001);
        let mut accepted = 0usize;
        for i in 0..100_000 {
            let v6 = i % 4 == 3;
            let seeds = if v6 { &seeds6 } else { &seeds4 };
            let mut buf = match i % 3 {
                // Pure noise, any length up to 300.
                0 => (0..rng.below(300)).map(|_| rng.byte()).collect(),
                // A valid packet with a few bytes changed, sometimes cut or extended.
                _ => {
                    let mut b = seeds[rng.below(seeds.len())].clone();
                    for _ in 0..=rng.below(4) {
                        if !b.is_empty() {
                            let at = rng.below(b.len());
                            b[at] = rng.byte();
                        }
                    }
                    match rng.below(4) {
                        0 => b.truncate(rng.below(b.len() + 1)),
                        1 => b.extend((0..rng.below(20)).map(|_| rng.byte())),
                        _ => {}
                    }
                    b
                }
            };
            if !v6 && buf.len() >= 20 && rng.below(2) == 0 {
                // Keep the header plausible often enough to reach the deeper checks.
                buf[0] = 0x45;
            }
            let mut st = WireState::new(policies[rng.below(policies.len())]);
            if v6 {
                let meta = Ipv6Meta {
                    src: SRC6,
                    dst: if rng.below(2) == 0 {
                        MCAST_V6
                    } else {
                        Ipv6Addr::LOCALHOST
                    },
                    hop_limit: [None, Some(255), Some(rng.byte())][rng.below(3)],
                };
                let Ok(p) = parse_ipv6(&buf, meta) else {
                    continue;
                };
                let _ = (p.vrid(), p.version_field(), p.priority(), p.ttl(), p.af());
                for e in &expects6 {
                    if let Ok(r) = p.validate(e, &mut st) {
                        accepted += 1;
                        let again = r
                            .advert
                            .encode(r.src, r.dst, st.checksum)
                            .expect("valid adverts re-encode");
                        let r2 = decode_ipv6(&again, meta, e, &mut st).unwrap();
                        assert_eq!(r2.advert, r.advert);
                    }
                }
            } else {
                let Ok(p) = parse_ipv4(&buf) else {
                    continue;
                };
                let _ = (p.vrid(), p.src(), p.dst(), p.ipv4(), p.priority());
                for e in &expects4 {
                    if let Ok(r) = p.validate(e, &mut st) {
                        accepted += 1;
                        let _ = r.advert.encode(r.src, r.dst, st.checksum);
                    }
                }
            }
        }
        // The mutations must leave enough packets intact to exercise the accepting path.
        assert!(accepted > 1_000, "only {accepted} accepted");
    }
}
