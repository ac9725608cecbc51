//! FILE_CHECK: a tracked file's number as a real server's state and weight
//! (trackers/track_file.c `update_track_file_status`,
//! `process_update_checker_track_file_status`).

/// keepalived's IPVS_WEIGHT_FAULT: a status at or below it means down.
pub const WEIGHT_FAULT: i64 = i32::MIN as i64;

/// What the file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileVerdict {
    Down,
    /// Up, contributing this much to the real server's weight.
    Up(i64),
}

/// Parse the file's content as keepalived does (`strtol(buf, NULL, 0)`: decimal, `0x` hex
/// or leading-`0` octal, leading blanks, trailing garbage ignored, nothing parsable = 0).
pub fn parse_value(content: &str) -> i64 {
    let s = content.trim_start();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    let v = i64::from_str_radix(&digits[..end], radix).unwrap_or(0);
    if neg { -v } else { v }
}

/// Evaluate a value: with weight 0, non-zero is down (or up, `reverse`); otherwise the value
/// times the weight (negated with `reverse`) is the contribution, and down at or below
/// [`WEIGHT_FAULT`].
pub fn evaluate(value: i64, weight: i32, reverse: bool) -> FileVerdict {
    if weight == 0 {
        return if (value != 0) != reverse {
            FileVerdict::Down
        } else {
            FileVerdict::Up(0)
        };
    }
    let status = value
        .saturating_mul(weight as i64)
        .saturating_mul(if reverse { -1 } else { 1 })
        .clamp(WEIGHT_FAULT, i32::MAX as i64);
    if status <= WEIGHT_FAULT {
        FileVerdict::Down
    } else {
        FileVerdict::Up(status)
    }
}
