//! Policy routing rules over rtnetlink: `virtual_rules` and `static_rules` entries.
//!
//! [`RuleSpec::parse`] reads `ip rule` words as keepalived 2.2.7's `alloc_rule()`
//! (vrrp_iprule.c) does; [`RuleSpec::msg`] builds the `struct fib_rule_hdr` request of its
//! `netlink_rule()`: add is `RTM_NEWRULE` with `NLM_F_CREATE | NLM_F_EXCL`, delete is
//! `RTM_DELRULE` with the same selectors. A rule needs an action (`table`/`lookup`, `goto`,
//! `l3mdev`, `blackhole`, `unreachable`, `prohibit`, `nop`); a `goto` needs a preference below
//! its target. Tracked rules (no `no_track`) carry protocol `keepalived` (18), as keepalived
//! sets it, which also makes the delete match only our rule.
//!
//! Must not: remove a rule that is not recorded as ours (the caller's bookkeeping, see
//! [`super::route::Added`]).

use std::fmt;
use std::net::IpAddr;

use neli::consts::nl::NlmF;
use neli::consts::rtnl::Rtm;

use super::route::{
    Added, FamilyCheck, RTPROT_KEEPALIVED, RouteError, Words, invalid, ip_octets, parse_num,
    parse_prefix, parse_protocol, parse_realms, parse_table, put_attr, table, talk,
};
use super::{NetlinkError, Rtnl};

/// `FR_ACT_*`.
pub mod action {
    pub const TO_TBL: u8 = 1;
    pub const GOTO: u8 = 2;
    pub const NOP: u8 = 3;
    pub const BLACKHOLE: u8 = 6;
    pub const UNREACHABLE: u8 = 7;
    pub const PROHIBIT: u8 = 8;
}

const FIB_RULE_INVERT: u32 = 2;

// FRA_* attribute types (linux/fib_rules.h).
const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_GOTO: u16 = 4;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_FLOW: u16 = 11;
const FRA_SUPPRESS_IFGROUP: u16 = 13;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_OIFNAME: u16 = 17;
const FRA_L3MDEV: u16 = 19;
const FRA_UID_RANGE: u16 = 20;
const FRA_PROTOCOL: u16 = 21;

/// A rule, typed from its `ip rule` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub v6: bool,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub invert: bool,
    pub priority: Option<u32>,
    pub tos: u8,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub realms: Option<u32>,
    pub suppress_prefixlength: Option<u32>,
    pub suppress_ifgroup: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub uidrange: Option<(u32, u32)>,
    pub l3mdev: bool,
    /// `FR_ACT_*`, see [`action`].
    pub action: u8,
    pub table: u32,
    pub goto: Option<u32>,
    /// `None` for `no_track` rules without an explicit `protocol`.
    pub protocol: Option<u8>,
}

impl RuleSpec {
    /// Read `ip rule` words (keepalived's `alloc_rule()` grammar).
    pub fn parse(words: &[String]) -> Result<RuleSpec, RouteError> {
        let mut w = Words::new(words);
        let mut fam = FamilyCheck(None);
        let mut r = RuleSpec {
            v6: false,
            from: None,
            to: None,
            invert: false,
            priority: None,
            tos: 0,
            fwmark: None,
            fwmask: None,
            realms: None,
            suppress_prefixlength: None,
            suppress_ifgroup: None,
            iif: None,
            oif: None,
            uidrange: None,
            l3mdev: false,
            action: 0,
            table: 0,
            goto: None,
            protocol: None,
        };
        let mut track = true;
        let mut protocol = None;
        let mut table_option = false;
        let set_action = |r: &mut RuleSpec, a: u8| {
            if r.action != 0 {
                return Err(RouteError::Unsupported(
                    "rule has more than one action".into(),
                ));
            }
            r.action = a;
            Ok(())
        };
        while let Some(word) = w.next() {
            match word {
                "inet" => fam.see(IpAddr::from([0, 0, 0, 0]), "inet")?,
                "inet6" => fam.see(IpAddr::from([0u16; 8]), "inet6")?,
                "from" | "to" => {
                    let keyword = if word == "from" { "from" } else { "to" };
                    let v = w.value(keyword)?;
                    let p = parse_prefix(keyword, v)?;
                    if let Some((a, _)) = p {
                        fam.see(a, keyword)?;
                    }
                    if keyword == "from" {
                        r.from = p;
                    } else {
                        r.to = p;
                    }
                }
                "not" => r.invert = true,
                "table" | "lookup" => {
                    let v = w.value("table")?;
                    r.table = parse_table(v).ok_or_else(|| invalid("table", v))?;
                    set_action(&mut r, action::TO_TBL)?;
                }
                "preference" | "priority" | "pref" | "order" => {
                    r.priority = Some(w.parsed("preference")?);
                }
                "tos" | "dsfield" => r.tos = w.parsed("tos")?,
                "fwmark" => {
                    let v = w.value("fwmark")?;
                    let (mark, mask) = v.split_once('/').map_or((v, None), |(a, b)| (a, Some(b)));
                    r.fwmark = Some(parse_num(mark).ok_or_else(|| invalid("fwmark", v))?);
                    if let Some(m) = mask {
                        r.fwmask = Some(parse_num(m).ok_or_else(|| invalid("fwmark", v))?);
                    }
                }
                "realms" => {
                    let v = w.value("realms")?;
                    r.realms = Some(parse_realms(v).ok_or_else(|| invalid("realms", v))?);
                    table_option = true;
                }
                "suppress_prefixlength" | "sup_pl" => {
                    r.suppress_prefixlength = Some(w.parsed("suppress_prefixlength")?);
                    table_option = true;
                }
                "suppress_ifgroup" | "sup_group" => {
                    r.suppress_ifgroup = Some(w.parsed("suppress_ifgroup")?);
                    table_option = true;
                }
                "dev" | "iif" => r.iif = Some(w.value("iif")?.to_string()),
                "oif" => r.oif = Some(w.value("oif")?.to_string()),
                "uidrange" => {
                    let v = w.value("uidrange")?;
                    let range = v
                        .split_once('-')
                        .and_then(|(a, b)| Some((parse_num(a)?, parse_num(b)?)))
                        .ok_or_else(|| invalid("uidrange", v))?;
                    r.uidrange = Some(range);
                }
                "l3mdev" => {
                    r.l3mdev = true;
                    set_action(&mut r, action::TO_TBL)?;
                }
                "protocol" => {
                    let v = w.value("protocol")?;
                    protocol = Some(parse_protocol(v).ok_or_else(|| invalid("protocol", v))?);
                }
                "no_track" => track = false,
                "track_group" => {
                    w.value("track_group")?;
                }
                "type" | "goto" | "nop" | "blackhole" | "unreachable" | "prohibit" => {
                    let mut a = word;
                    if a == "type" {
                        a = w.value("type")?;
                    }
                    let act = match a {
                        "goto" => {
                            r.goto = Some(w.parsed("goto")?);
                            action::GOTO
                        }
                        "nop" => action::NOP,
                        "blackhole" => action::BLACKHOLE,
                        "unreachable" => action::UNREACHABLE,
                        "prohibit" => action::PROHIBIT,
                        other => return Err(invalid("type", other)),
                    };
                    set_action(&mut r, act)?;
                }
                "ipproto" | "sport" | "dport" | "tun_id" | "nat" | "map-to" => {
                    return Err(RouteError::Unsupported(format!(
                        "rule option {word:?} is not supported by keepalived-rs"
                    )));
                }
                other => return Err(RouteError::UnknownKeyword(other.to_string())),
            }
        }
        if r.action == action::GOTO {
            match (r.priority, r.goto) {
                (Some(p), Some(g)) if p < g => {}
                (Some(p), Some(g)) => {
                    return Err(RouteError::Unsupported(format!(
                        "preference {p} >= goto target {g}"
                    )));
                }
                _ => {
                    return Err(RouteError::Unsupported(
                        "goto target specified without preference".into(),
                    ));
                }
            }
        }
        if r.action == 0 {
            return Err(RouteError::Unsupported(
                "no action specified for rule".into(),
            ));
        }
        if r.action != action::TO_TBL && table_option {
            return Err(RouteError::Unsupported(
                "suppressor/realm specified for non table action".into(),
            ));
        }
        if r.l3mdev && r.table != 0 {
            return Err(RouteError::Unsupported(
                "table cannot be specified for l3mdev rules".into(),
            ));
        }
        r.protocol = if track {
            Some(RTPROT_KEEPALIVED)
        } else {
            protocol
        };
        r.v6 = fam.0.unwrap_or(false);
        Ok(r)
    }

    /// The `RTM_NEWRULE` / `RTM_DELRULE` payload (`struct fib_rule_hdr` and attributes).
    pub fn msg(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(96);
        b.push(if self.v6 {
            libc::AF_INET6 as u8
        } else {
            libc::AF_INET as u8
        });
        b.push(self.to.map_or(0, |t| t.1));
        b.push(self.from.map_or(0, |f| f.1));
        b.push(self.tos);
        let to_table = self.action == action::TO_TBL && !self.l3mdev;
        let small_table = match self.table {
            0 => table::MAIN,
            t => t,
        };
        b.push(if to_table && small_table < 256 {
            small_table as u8
        } else {
            0
        });
        b.extend_from_slice(&[0, 0]);
        b.push(self.action);
        let flags = if self.invert { FIB_RULE_INVERT } else { 0 };
        b.extend_from_slice(&flags.to_ne_bytes());
        if to_table && self.table > 255 {
            put_attr(&mut b, FRA_TABLE, &self.table.to_ne_bytes());
        }
        if let Some((a, _)) = self.from {
            put_attr(&mut b, FRA_SRC, &ip_octets(a));
        }
        if let Some((a, _)) = self.to {
            put_attr(&mut b, FRA_DST, &ip_octets(a));
        }
        if let Some(p) = self.priority {
            put_attr(&mut b, FRA_PRIORITY, &p.to_ne_bytes());
        }
        if let Some(m) = self.fwmark {
            put_attr(&mut b, FRA_FWMARK, &m.to_ne_bytes());
        }
        if let Some(m) = self.fwmask {
            put_attr(&mut b, FRA_FWMASK, &m.to_ne_bytes());
        }
        if let Some(r) = self.realms {
            put_attr(&mut b, FRA_FLOW, &r.to_ne_bytes());
        }
        if let Some(s) = self.suppress_prefixlength {
            put_attr(&mut b, FRA_SUPPRESS_PREFIXLEN, &s.to_ne_bytes());
        }
        if let Some(g) = self.suppress_ifgroup {
            put_attr(&mut b, FRA_SUPPRESS_IFGROUP, &g.to_ne_bytes());
        }
        for (ty, name) in [(FRA_IIFNAME, &self.iif), (FRA_OIFNAME, &self.oif)] {
            if let Some(n) = name {
                let mut s = n.as_bytes().to_vec();
                s.push(0);
                put_attr(&mut b, ty, &s);
            }
        }
        if let Some((lo, hi)) = self.uidrange {
            let mut v = lo.to_ne_bytes().to_vec();
            v.extend_from_slice(&hi.to_ne_bytes());
            put_attr(&mut b, FRA_UID_RANGE, &v);
        }
        if self.l3mdev {
            put_attr(&mut b, FRA_L3MDEV, &[1]);
        }
        if let Some(p) = self.protocol {
            put_attr(&mut b, FRA_PROTOCOL, &[p]);
        }
        if let Some(g) = self.goto {
            put_attr(&mut b, FRA_GOTO, &g.to_ne_bytes());
        }
        b
    }
}

/// `ip rule` style, for logs.
impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.priority {
            write!(f, "pref {p} ")?;
        }
        match self.from {
            Some((a, l)) => write!(f, "from {a}/{l}")?,
            None => f.write_str("from all")?,
        }
        if let Some((a, l)) = self.to {
            write!(f, " to {a}/{l}")?;
        }
        if self.action == action::TO_TBL && !self.l3mdev {
            write!(
                f,
                " lookup {}",
                if self.table == 0 {
                    table::MAIN
                } else {
                    self.table
                }
            )?;
        }
        Ok(())
    }
}

/// Adds `spec`; `EEXIST` is [`Added::Existed`].
pub fn add_rule(rtnl: &mut Rtnl, spec: &RuleSpec) -> Result<Added, NetlinkError> {
    talk(
        rtnl,
        "RTM_NEWRULE",
        Rtm::Newrule,
        NlmF::CREATE | NlmF::EXCL,
        spec.msg(),
        &|errno| NetlinkError::Rule {
            op: "add",
            rule: spec.to_string(),
            errno,
        },
    )
}

/// Removes `spec` (whoever added it); "no such rule" is success.
pub fn delete_rule(rtnl: &mut Rtnl, spec: &RuleSpec) -> Result<(), NetlinkError> {
    talk(
        rtnl,
        "RTM_DELRULE",
        Rtm::Delrule,
        NlmF::empty(),
        spec.msg(),
        &|errno| NetlinkError::Rule {
            op: "remove",
            rule: spec.to_string(),
            errno,
        },
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RuleSpec, RouteError> {
        let words: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        RuleSpec::parse(&words)
    }

    #[test]
    fn from_table_preference() {
        let r = parse("from 198.51.100.0/24 table 100 preference 200").unwrap();
        assert_eq!(r.from, Some(("198.51.100.0".parse().unwrap(), 24)));
        assert_eq!(
            (r.table, r.priority, r.action),
            (100, Some(200), action::TO_TBL)
        );
        assert_eq!(r.protocol, Some(RTPROT_KEEPALIVED));
        for w in ["priority", "pref", "order"] {
            assert_eq!(
                parse(&format!("to 203.0.113.1 lookup main {w} 5"))
                    .unwrap()
                    .priority,
                Some(5)
            );
        }
        let r = parse("from all table local pref 1 no_track").unwrap();
        assert_eq!((r.from, r.table, r.protocol), (None, 255, None));
    }

    #[test]
    fn selectors() {
        let r = parse(
            "from 2001:db8::/32 iif eth0 oif eth1 fwmark 0x10/0xff tos 0x10 uidrange 1000-2000 \
             suppress_prefixlength 0 table 7 pref 9",
        )
        .unwrap();
        assert!(r.v6);
        assert_eq!((r.fwmark, r.fwmask, r.tos), (Some(16), Some(255), 16));
        assert_eq!(r.uidrange, Some((1000, 2000)));
        assert_eq!(r.suppress_prefixlength, Some(0));
        assert_eq!(
            (r.iif.as_deref(), r.oif.as_deref()),
            (Some("eth0"), Some("eth1"))
        );
    }

    #[test]
    fn goto_l3mdev_and_actions() {
        let r = parse("from 198.51.100.1 pref 10 goto 20").unwrap();
        assert_eq!((r.action, r.goto), (action::GOTO, Some(20)));
        assert!(matches!(
            parse("pref 30 goto 20"),
            Err(RouteError::Unsupported(_))
        ));
        assert!(matches!(parse("goto 20"), Err(RouteError::Unsupported(_))));
        let r = parse("l3mdev pref 1000").unwrap();
        assert!(r.l3mdev);
        assert_eq!(
            parse("to 203.0.113.0/24 prohibit pref 4").unwrap().action,
            action::PROHIBIT
        );
        assert_eq!(
            parse("to 203.0.113.0/24 type blackhole").unwrap().action,
            action::BLACKHOLE
        );
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            parse("from 198.51.100.0/24 pref 1"),
            Err(RouteError::Unsupported(_))
        ));
        assert_eq!(
            parse("bogus table 1"),
            Err(RouteError::UnknownKeyword("bogus".into()))
        );
        assert_eq!(
            parse("from"),
            Err(RouteError::MissingValue { keyword: "from" })
        );
        assert!(matches!(
            parse("from 198.51.100.1 to 2001:db8::1 table 1"),
            Err(RouteError::FamilyMismatch(_))
        ));
        assert!(matches!(
            parse("fwmark x table 1"),
            Err(RouteError::InvalidValue {
                keyword: "fwmark",
                ..
            })
        ));
        assert!(matches!(
            parse("realms 1 goto 5 pref 1"),
            Err(RouteError::Unsupported(_))
        ));
    }

    #[test]
    fn fib_rule_hdr_bytes() {
        let r = parse("from 198.51.100.0/24 table 1000 pref 200").unwrap();
        let b = r.msg();
        // family, dst_len, src_len, tos, table (> 255: attribute), res1, res2, action
        assert_eq!(
            &b[..8],
            &[libc::AF_INET as u8, 0, 24, 0, 0, 0, 0, action::TO_TBL]
        );
        let r = parse("to 203.0.113.0/24 table 100 pref 5").unwrap();
        assert_eq!(r.msg()[1], 24);
        assert_eq!(r.msg()[4], 100);
    }
}
