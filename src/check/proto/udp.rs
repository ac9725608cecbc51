//! UDP_CHECK: the `require_reply` pattern with wildcard nibbles and the reply test
//! (check_udp.c `check_udp_reply`, lib/parser.c `read_hex_str`).

/// A `require_reply` pattern: bytes, and for each byte the bits that must match.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ReplyPattern {
    pub data: Vec<u8>,
    /// `0xff` where the byte must match, `0xf0`/`0x0f` for one wildcard nibble.
    pub care: Vec<u8>,
}

/// Why a hex string is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("invalid hex character '{0}'")]
    BadChar(char),
    #[error("empty hex string")]
    Empty,
}

/// Parse keepalived's hex strings: pairs of hex digits, blanks allowed between octets, a
/// lone digit before a blank is one octet, `x`/`X` is a wildcard nibble when
/// `allow_wildcard`.
pub fn parse_hex(s: &str, allow_wildcard: bool) -> Result<ReplyPattern, HexError> {
    fn nibble(c: char, wild: bool) -> Result<Option<u8>, HexError> {
        match c {
            'x' | 'X' if wild => Ok(None),
            _ => c
                .to_digit(16)
                .map(|d| Some(d as u8))
                .ok_or(HexError::BadChar(c)),
        }
    }
    let mut out = ReplyPattern::default();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let Some(c) = chars.next() else { break };
        let first = nibble(c, allow_wildcard)?;
        let (mut val, mut care) = (first.unwrap_or(0), if first.is_some() { 0x0f } else { 0 });
        if let Some(&c2) = chars.peek()
            && c2 != ' '
            && c2 != '\t'
        {
            chars.next();
            let second = nibble(c2, allow_wildcard)?;
            val = (val << 4) | second.unwrap_or(0);
            care = (care << 4) | if second.is_some() { 0x0f } else { 0 };
        }
        out.data.push(val);
        out.care.push(care);
    }
    if out.data.is_empty() {
        return Err(HexError::Empty);
    }
    Ok(out)
}

/// The reply requirements of one UDP_CHECK.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplyCheck {
    pub pattern: Option<ReplyPattern>,
    pub min_len: usize,
    /// keepalived default 255.
    pub max_len: usize,
}

impl ReplyCheck {
    /// Whether `reply` passes: its length within bounds and its first bytes (as many as
    /// both have) equal to the pattern outside wildcard nibbles.
    pub fn matches(&self, reply: &[u8]) -> bool {
        if reply.len() < self.min_len || reply.len() > self.max_len {
            return false;
        }
        match &self.pattern {
            None => true,
            Some(p) => reply
                .iter()
                .zip(p.data.iter().zip(&p.care))
                .all(|(r, (d, c))| (r ^ d) & c == 0),
        }
    }
}
