//! VRRPv2 authentication: simple text password (RFC 2338 §5.3.6.1) and keepalived's IPsec AH
//! with HMAC-MD5-96 (RFC 2402, RFC 2403), as keepalived implements them.
//!
//! Sans-IO: no sockets, no clocks, no randomness. Only the AH sequence counter is state, and it is
//! owned by the caller (one per VRRP instance, see [`AhCounter`]).
//!
//! Both schemes were removed from the protocol by RFC 3768 §5.3.6 and do not exist in VRRPv3;
//! keepalived keeps them for VRRPv2 over IPv4 only.
//!
//! AH as keepalived builds it (keepalived/vrrp/vrrp.c `vrrp_build_ipsecah`, `vrrp_update_pkt`,
//! `vrrp_in_chk_ipsecah`):
//!
//! ```text
//!  IPv4 header (protocol 51) | AH (24 bytes) | VRRPv2 message (auth type 2, auth data zero)
//!
//!   0                   1                   2                   3
//!   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  | Next Hdr (112)| Payload Len(4)|          Reserved (0)         |
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  |             SPI = IPv4 source address of the sender           |
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  |                    Sequence Number (1, 2, ...)                |
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!  |        ICV: HMAC-MD5 truncated to 96 bits (RFC 2403 §2)       |
//!  |                                                               |
//!  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The ICV key is the 8-byte zero-padded `auth_pass`. It covers the IPv4 header with the mutable
//! fields TOS, flags/fragment offset and header checksum zeroed (RFC 2402 §3.3.3.1.1.1), the TTL
//! zeroed **only for unicast instances** (multicast adverts must arrive with TTL 255 anyway), and the
//! identification field kept; then the AH header with the ICV zeroed; then the VRRP message.

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;

use crate::config::model::{AuthType, Authentication};

/// Length of the VRRPv2 Authentication Data field (RFC 3768 §5.3.10).
pub const AUTH_DATA_LEN: usize = 8;
/// Length of keepalived's AH header: 12 fixed bytes plus the 96-bit ICV.
pub const AH_LEN: usize = 24;
/// HMAC-MD5-96 ICV length (RFC 2403 §2).
pub const ICV_LEN: usize = 12;
/// AH Payload Len: AH length in 32-bit words minus 2 (RFC 2402 §2.2).
pub const AH_PAYLOAD_LEN: u8 = 4;

type HmacMd5 = Hmac<Md5>;

/// Pads or truncates a configured `auth_pass` to the 8 bytes keepalived uses (`auth_data[8]`).
pub fn pad8(pass: &[u8]) -> [u8; AUTH_DATA_LEN] {
    let mut out = [0u8; AUTH_DATA_LEN];
    let n = pass.len().min(AUTH_DATA_LEN);
    out[..n].copy_from_slice(&pass[..n]);
    out
}

/// Compares a received PASS field with ours in constant time (keepalived's
/// `memcmp_constant_time`). A field of the wrong length never matches.
pub fn pass_matches(ours: &[u8; AUTH_DATA_LEN], received: &[u8]) -> bool {
    if received.len() != AUTH_DATA_LEN {
        return false;
    }
    let diff = ours
        .iter()
        .zip(received)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(diff) == 0
}

/// The AH secret: `auth_pass` zero-padded or truncated to 8 bytes (HMAC key).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AhKey([u8; AUTH_DATA_LEN]);

impl AhKey {
    /// Builds the key from a configured `auth_pass`.
    pub fn new(pass: &[u8]) -> Self {
        AhKey(pad8(pass))
    }

    /// The 8 key bytes.
    pub fn as_bytes(&self) -> &[u8; AUTH_DATA_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for AhKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AhKey(..)")
    }
}

/// A VRRP instance's configured authentication, as used on both send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthConfig {
    /// Auth Type 0.
    #[default]
    None,
    /// Auth Type 1: the 8-byte password carried in clear (RFC 2338 §5.3.6.1).
    Pass([u8; AUTH_DATA_LEN]),
    /// Auth Type 2: IPsec AH with this key.
    Ah(AhKey),
}

impl AuthConfig {
    /// Lowers the configuration block the way keepalived's `vrrp_complete_instance` does: an
    /// `authentication` block without a password (or without a type) means no authentication.
    /// (Dropping authentication for VRRPv3, IPv6 AH and strict mode is left to the caller, which
    /// knows the instance's version and family.)
    pub fn from_model(auth: Option<&Authentication>) -> Self {
        let Some(auth) = auth else {
            return AuthConfig::None;
        };
        // keepalived tests `auth_data[0]`: an empty password (or one starting with NUL) is none.
        let pass = match auth.auth_pass.as_deref() {
            Some(p) if p.first().is_some_and(|&b| b != 0) => p,
            _ => return AuthConfig::None,
        };
        match auth.auth_type {
            Some(AuthType::Pass) => AuthConfig::Pass(pad8(pass)),
            Some(AuthType::Ah) => AuthConfig::Ah(AhKey::new(pass)),
            None => AuthConfig::None,
        }
    }

    /// The VRRPv2 Auth Type code (RFC 3768 §5.3.6; 1 and 2 from RFC 2338).
    pub const fn type_code(&self) -> u8 {
        match self {
            AuthConfig::None => 0,
            AuthConfig::Pass(_) => 1,
            AuthConfig::Ah(_) => 2,
        }
    }
}

/// The AH header (RFC 2402 §2) as keepalived fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AhHeader {
    /// Next Header: 112 (VRRP).
    pub next_header: u8,
    /// Payload Len: 4 for a 96-bit ICV.
    pub payload_len: u8,
    /// Reserved, zero.
    pub reserved: u16,
    /// Security Parameters Index: keepalived puts the sender's IPv4 source address here
    /// (draft-paridaens-xcast-sec-framework), in network order.
    pub spi: u32,
    /// Sequence Number (RFC 2402 §2.5), starting at 1.
    pub seq: u32,
    /// Integrity Check Value: the first 12 bytes of HMAC-MD5.
    pub icv: [u8; ICV_LEN],
}

impl AhHeader {
    /// keepalived's header for `spi` (the IPv4 source) and `seq`, ICV not yet computed.
    pub fn new(spi: u32, seq: u32) -> Self {
        AhHeader {
            next_header: super::packet::IPPROTO_VRRP,
            payload_len: AH_PAYLOAD_LEN,
            reserved: 0,
            spi,
            seq,
            icv: [0; ICV_LEN],
        }
    }

    /// Reads an AH header from the start of `buf`; `None` if `buf` is shorter than [`AH_LEN`].
    pub fn parse(buf: &[u8]) -> Option<Self> {
        let b: &[u8; AH_LEN] = buf.get(..AH_LEN)?.try_into().ok()?;
        let mut icv = [0u8; ICV_LEN];
        icv.copy_from_slice(&b[12..24]);
        Some(AhHeader {
            next_header: b[0],
            payload_len: b[1],
            reserved: u16::from_be_bytes([b[2], b[3]]),
            spi: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            seq: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            icv,
        })
    }

    /// The 24 wire bytes.
    pub fn to_bytes(&self) -> [u8; AH_LEN] {
        let mut b = [0u8; AH_LEN];
        b[0] = self.next_header;
        b[1] = self.payload_len;
        b[2..4].copy_from_slice(&self.reserved.to_be_bytes());
        b[4..8].copy_from_slice(&self.spi.to_be_bytes());
        b[8..12].copy_from_slice(&self.seq.to_be_bytes());
        b[12..24].copy_from_slice(&self.icv);
        b
    }
}

/// Feeds the AH-covered bytes into the MAC: the IPv4 header with mutable fields zeroed, the AH
/// header with its ICV zeroed, then the VRRP message (RFC 2402 §3.3.3.1).
fn icv_mac(key: &AhKey, ip_header: &[u8], ah: &AhHeader, vrrp: &[u8], unicast: bool) -> HmacMd5 {
    // An IPv4 header is at most 60 bytes (IHL 15); longer input is cut, which only happens for
    // callers passing garbage and then simply fails verification.
    let mut ip = [0u8; 60];
    let n = ip_header.len().min(ip.len());
    ip[..n].copy_from_slice(&ip_header[..n]);
    if n >= 20 {
        ip[1] = 0; // TOS
        ip[6] = 0; // flags + fragment offset
        ip[7] = 0;
        ip[10] = 0; // header checksum
        ip[11] = 0;
        if unicast {
            // keepalived zeroes the TTL only for unicast instances.
            ip[8] = 0;
        }
    }
    let mut zeroed = *ah;
    zeroed.icv = [0; ICV_LEN];

    let mut mac = <HmacMd5 as KeyInit>::new_from_slice(key.as_bytes())
        .expect("invariant: HMAC takes any key length");
    mac.update(&ip[..n]);
    mac.update(&zeroed.to_bytes());
    mac.update(vrrp);
    mac
}

/// Computes the 96-bit ICV for an advert about to be sent (keepalived `vrrp_update_pkt`).
/// `ip_header` is the IPv4 header as it will be sent (its checksum is ignored).
pub fn compute_icv(
    key: &AhKey,
    ip_header: &[u8],
    ah: &AhHeader,
    vrrp: &[u8],
    unicast: bool,
) -> [u8; ICV_LEN] {
    let tag = icv_mac(key, ip_header, ah, vrrp, unicast)
        .finalize()
        .into_bytes();
    let mut icv = [0u8; ICV_LEN];
    icv.copy_from_slice(&tag[..ICV_LEN]);
    icv
}

/// Checks a received ICV in constant time (keepalived `vrrp_in_chk_ipsecah`, first step).
/// `vrrp` is everything after the AH header up to the end of the received datagram.
pub fn verify_icv(
    key: &AhKey,
    ip_header: &[u8],
    ah: &AhHeader,
    vrrp: &[u8],
    unicast: bool,
) -> bool {
    icv_mac(key, ip_header, ah, vrrp, unicast)
        .verify_truncated_left(&ah.icv)
        .is_ok()
}

/// A received AH sequence number that was not newer than the last one accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    /// The received sequence number.
    pub seq: u32,
    /// The instance's counter when it arrived.
    pub last: u32,
}

/// keepalived's per-instance AH sequence counter (`ipsecah_counter`).
///
/// keepalived keeps **one** counter per instance for both directions: sending increments it and
/// uses the new value; receiving a valid advert raises it to the received value (anti-replay:
/// RFC 2402 §3.4.3, without a window: the number must be strictly greater). So a router that takes
/// over continues from the last number it saw from the old master, and the old master's late
/// adverts are rejected as replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AhCounter {
    seq: u32,
    cycled: bool,
}

impl AhCounter {
    /// A counter starting at 0 (the first advert sent carries 1).
    pub const fn new() -> Self {
        AhCounter {
            seq: 0,
            cycled: false,
        }
    }

    /// The last sequence number sent or accepted.
    pub const fn last(&self) -> u32 {
        self.seq
    }

    /// The sequence number for the next advert. keepalived stops incrementing past 0xFFFFFFFD
    /// and marks the counter cycled (it then leaves MASTER; RFC 2402 §3.3.2 forbids cycling).
    pub fn next_tx(&mut self) -> u32 {
        if self.seq > 0xFFFF_FFFD {
            self.cycled = true;
        } else {
            self.seq += 1;
        }
        self.seq
    }

    /// Anti-replay check for a received advert whose ICV and SPI were valid; on success the
    /// counter takes the received value.
    pub fn accept_rx(&mut self, seq: u32) -> Result<(), Replay> {
        if seq > self.seq {
            self.seq = seq;
            Ok(())
        } else {
            Err(Replay {
                seq,
                last: self.seq,
            })
        }
    }

    /// Whether the counter reached 0xFFFFFFFE (keepalived's `cycle`).
    pub const fn cycled(&self) -> bool {
        self.cycled
    }

    /// keepalived clears `cycle` when a BACKUP accepts an AH advert (which always carries a number
    /// ≥ the counter once accepted), and when a MASTER syncs to a lower-priority advert.
    pub fn clear_cycled(&mut self) {
        self.cycled = false;
    }

    /// A MASTER receiving a lower-priority AH advert continues from the sender's number plus one
    /// (keepalived `vrrp_state_master_rx`, "Syncing seq_num").
    pub fn sync_to(&mut self, received_seq: u32) {
        self.seq = received_seq.wrapping_add(1);
        self.cycled = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad8_pads_and_truncates() {
        assert_eq!(pad8(b"abc"), *b"abc\0\0\0\0\0");
        assert_eq!(pad8(b"0123456789"), *b"01234567");
        assert_eq!(pad8(b""), [0; 8]);
    }

    #[test]
    fn pass_compare_is_exact() {
        let ours = pad8(b"secret");
        assert!(pass_matches(&ours, b"secret\0\0"));
        assert!(!pass_matches(&ours, b"secret\0\x01"));
        assert!(!pass_matches(&ours, b"secret\0"));
        assert!(!pass_matches(&ours, b"secret\0\0\0"));
    }

    #[test]
    fn ah_header_round_trip() {
        let mut h = AhHeader::new(0xc633_6401, 7);
        h.icv = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let b = h.to_bytes();
        assert_eq!(&b[..4], &[112, 4, 0, 0]);
        assert_eq!(AhHeader::parse(&b), Some(h));
        assert_eq!(AhHeader::parse(&b[..23]), None);
    }

    /// RFC 2202 §2 test case 2 (HMAC-MD5, key "Jefe"): checks the MAC wiring, since keepalived's
    /// `hmac_md5` is plain RFC 2104 HMAC.
    #[test]
    fn hmac_md5_matches_rfc2202() {
        let mut mac = <HmacMd5 as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let tag = mac.finalize().into_bytes();
        assert_eq!(
            tag.as_slice(),
            &[
                0x75, 0x0c, 0x78, 0x3e, 0x6a, 0xb0, 0xb5, 0x03, 0xea, 0xa8, 0x6e, 0x31, 0x0a, 0x5d,
                0xb7, 0x38
            ]
        );
    }

    fn sample() -> ([u8; 20], AhHeader, [u8; 16]) {
        let ip = [
            0x45, 0xc0, 0x00, 0x40, 0x00, 0x01, 0x00, 0x00, 0xff, 0x33, 0x12, 0x34, 198, 51, 100,
            1, 224, 0, 0, 18,
        ];
        let ah = AhHeader::new(u32::from_be_bytes([198, 51, 100, 1]), 1);
        let vrrp = [0x21, 53, 100, 1, 2, 1, 0, 0, 203, 0, 113, 53, 0, 0, 0, 0];
        (ip, ah, vrrp)
    }

    #[test]
    fn icv_ignores_mutable_fields_only() {
        let key = AhKey::new(b"k");
        let (ip, mut ah, vrrp) = sample();
        ah.icv = compute_icv(&key, &ip, &ah, &vrrp, false);
        assert!(verify_icv(&key, &ip, &ah, &vrrp, false));

        // TOS, fragment field and checksum are mutable: changing them keeps the ICV valid.
        let mut m = ip;
        m[1] = 0;
        m[6] = 0x40;
        m[10] = 0xab;
        assert!(verify_icv(&key, &m, &ah, &vrrp, false));

        // The identification field and (for multicast) the TTL are covered.
        let mut m = ip;
        m[5] = 2;
        assert!(!verify_icv(&key, &m, &ah, &vrrp, false));
        let mut m = ip;
        m[8] = 254;
        assert!(!verify_icv(&key, &m, &ah, &vrrp, false));

        // Wrong key, changed payload, changed sequence number.
        assert!(!verify_icv(&AhKey::new(b"j"), &ip, &ah, &vrrp, false));
        let mut v = vrrp;
        v[2] = 101;
        assert!(!verify_icv(&key, &ip, &ah, &v, false));
        let mut a = ah;
        a.seq = 2;
        assert!(!verify_icv(&key, &ip, &a, &vrrp, false));
    }

    #[test]
    fn unicast_icv_ignores_ttl() {
        let key = AhKey::new(b"k");
        let (ip, mut ah, vrrp) = sample();
        ah.icv = compute_icv(&key, &ip, &ah, &vrrp, true);
        let mut m = ip;
        m[8] = 3;
        assert!(verify_icv(&key, &m, &ah, &vrrp, true));
        // ...and the unicast and multicast ICVs differ.
        assert!(!verify_icv(&key, &ip, &ah, &vrrp, false));
    }

    #[test]
    fn counter_tx_starts_at_one_and_stops_before_wrapping() {
        let mut c = AhCounter::new();
        assert_eq!(c.next_tx(), 1);
        assert_eq!(c.next_tx(), 2);
        let mut c = AhCounter {
            seq: 0xFFFF_FFFD,
            cycled: false,
        };
        assert_eq!(c.next_tx(), 0xFFFF_FFFE);
        assert!(!c.cycled());
        assert_eq!(c.next_tx(), 0xFFFF_FFFE);
        assert!(c.cycled());
        c.clear_cycled();
        assert!(!c.cycled());
    }

    #[test]
    fn counter_rejects_replays_and_is_shared_with_tx() {
        let mut c = AhCounter::new();
        assert_eq!(c.accept_rx(5), Ok(()));
        assert_eq!(c.accept_rx(5), Err(Replay { seq: 5, last: 5 }));
        assert_eq!(c.accept_rx(4), Err(Replay { seq: 4, last: 5 }));
        assert_eq!(c.next_tx(), 6);
        c.sync_to(u32::MAX);
        assert_eq!(c.last(), 0);
    }

    #[test]
    fn auth_config_from_model() {
        use crate::config::diag::Loc;
        let loc = Loc::default();
        let mk = |t, p: Option<&[u8]>| Authentication {
            auth_type: t,
            auth_pass: p.map(<[u8]>::to_vec),
            loc,
        };
        assert_eq!(AuthConfig::from_model(None), AuthConfig::None);
        assert_eq!(
            AuthConfig::from_model(Some(&mk(Some(AuthType::Pass), Some(b"pw")))),
            AuthConfig::Pass(pad8(b"pw"))
        );
        assert_eq!(
            AuthConfig::from_model(Some(&mk(Some(AuthType::Ah), Some(b"123456789")))),
            AuthConfig::Ah(AhKey::new(b"12345678"))
        );
        assert_eq!(
            AuthConfig::from_model(Some(&mk(Some(AuthType::Pass), None))),
            AuthConfig::None
        );
        assert_eq!(
            AuthConfig::from_model(Some(&mk(None, Some(b"pw")))),
            AuthConfig::None
        );
    }
}
