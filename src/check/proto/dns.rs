//! DNS_CHECK: the query keepalived sends and the test of the reply (check_dns.c): a reply is
//! good when its ID matches, it is a response (QR) and its RCODE is 0. Other datagrams are
//! ignored while waiting.

/// A query type DNS_CHECK accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QType {
    A,
    Ns,
    Cname,
    #[default]
    Soa,
    Mx,
    Txt,
    Aaaa,
}

impl QType {
    /// Parse keepalived's `type` keyword (case-insensitive).
    pub fn parse(s: &str) -> Option<QType> {
        Some(match s.to_ascii_uppercase().as_str() {
            "A" => QType::A,
            "NS" => QType::Ns,
            "CNAME" => QType::Cname,
            "SOA" => QType::Soa,
            "MX" => QType::Mx,
            "TXT" => QType::Txt,
            "AAAA" => QType::Aaaa,
            _ => return None,
        })
    }

    pub fn code(self) -> u16 {
        match self {
            QType::A => 1,
            QType::Ns => 2,
            QType::Cname => 5,
            QType::Soa => 6,
            QType::Mx => 15,
            QType::Txt => 16,
            QType::Aaaa => 28,
        }
    }
}

/// Why a query cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("DNS label longer than 63 bytes")]
    LabelTooLong,
    #[error("DNS name longer than 255 bytes")]
    NameTooLong,
}

/// Encode a recursive query for `name` (`.` is the root) of type `qtype`, class IN.
pub fn build_query(id: u16, name: &str, qtype: QType) -> Result<Vec<u8>, QueryError> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1
    let mut name_len = 1;
    for label in name.split('.').filter(|l| !l.is_empty()) {
        if label.len() > 63 {
            return Err(QueryError::LabelTooLong);
        }
        name_len += label.len() + 1;
        if name_len > 255 {
            return Err(QueryError::NameTooLong);
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.code().to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    Ok(q)
}

/// What a received datagram means for the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyVerdict {
    /// Not our answer (too short, other ID, not a response): keep waiting.
    Ignore,
    Ok,
    /// A response with this non-zero RCODE.
    Rcode(u8),
}

/// Judge a datagram received for the query with ID `id`.
pub fn evaluate_reply(id: u16, reply: &[u8]) -> ReplyVerdict {
    if reply.len() < 12 || u16::from_be_bytes([reply[0], reply[1]]) != id {
        return ReplyVerdict::Ignore;
    }
    let flags = u16::from_be_bytes([reply[2], reply[3]]);
    if flags & 0x8000 == 0 {
        return ReplyVerdict::Ignore;
    }
    match (flags & 0x000f) as u8 {
        0 => ReplyVerdict::Ok,
        rc => ReplyVerdict::Rcode(rc),
    }
}
