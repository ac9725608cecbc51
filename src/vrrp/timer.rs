//! Time for the VRRP core: a caller-supplied monotonic clock in microseconds, and the RFC 5798
//! timer arithmetic (Skew_Time, Master_Down_Interval) done in integers exactly as keepalived
//! does it.
//!
//! This module must not read a clock or use floating point: every instant comes from the
//! caller, and every duration is a [`Micros`] (keepalived's `TIMER_HZ` unit).

use std::fmt;

use crate::config::model::{Centis, Micros, Priority};

/// Microseconds per second (keepalived `TIMER_HZ`).
pub const TIMER_HZ: u64 = 1_000_000;
/// Microseconds per centisecond (keepalived `TIMER_CENTI_HZ`).
pub const TIMER_CENTI_HZ: u64 = 10_000;

/// A point on the caller's monotonic clock, in microseconds from an arbitrary origin.
///
/// Deadlines handed out by the state machine are absolute `Now`s, so the driver never does
/// time arithmetic of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Now(pub u64);

impl Now {
    /// `self + d`, saturating at the end of time.
    pub const fn add(self, d: Micros) -> Now {
        Now(self.0.saturating_add(d.0))
    }

    /// `self - d`, saturating at the origin.
    pub const fn sub(self, d: Micros) -> Now {
        Now(self.0.saturating_sub(d.0))
    }

    /// How long after `earlier` this instant is (zero if it is not later).
    pub const fn since(self, earlier: Now) -> Micros {
        Micros(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Now {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", Micros(self.0))
    }
}

/// The VRRP protocol version an instance speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: whole-second advertisement intervals.
    V2,
    /// RFC 5798: centisecond advertisement intervals, learnt from the master.
    V3,
}

impl Version {
    /// The version for a configured `version` number (anything but 3 is VRRPv2).
    pub const fn from_number(n: u8) -> Version {
        if n == 3 { Version::V3 } else { Version::V2 }
    }

    /// The number that goes into the packet header.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// An advertisement interval as a duration.
pub const fn centis(c: Centis) -> Micros {
    Micros(c.0 as u64 * TIMER_CENTI_HZ)
}

/// keepalived's `VRRP_TIMER_SKEW_CALC(vrrp, pri_val)`: VRRPv2 ignores the advertisement
/// interval (RFC 3768 §6.1: `(256 - Priority) / 256` seconds); VRRPv3 scales by
/// Master_Adver_Interval (RFC 5798 §6.1: `((256 - priority) * Master_Adver_Interval) / 256`).
/// keepalived evaluates the v3 form as `pri_val * centis * 625 / 16` µs (625/16 = 10000/256),
/// truncating, and so do we.
const fn skew_calc(version: Version, pri_val: u64, master_adver_int: Centis) -> Micros {
    match version {
        Version::V2 => Micros(pri_val * TIMER_HZ / 256),
        Version::V3 => Micros(pri_val * master_adver_int.0 as u64 * 625 / 16),
    }
}

/// Skew_Time for `priority` (RFC 5798 §6.1, keepalived `VRRP_TIMER_SKEW`).
///
/// ```
/// use keepalived_rs::config::model::{Centis, Priority};
/// use keepalived_rs::vrrp::timer::{skew_time, Version};
/// // v2, priority 100: 156/256 s = 609375 µs whatever the interval.
/// assert_eq!(skew_time(Version::V2, Priority(100), Centis(300)).0, 609_375);
/// // v3, priority 254, 1 s: 2 * 100 * 625 / 16 = 7812.5, truncated.
/// assert_eq!(skew_time(Version::V3, Priority(254), Centis(100)).0, 7_812);
/// ```
pub const fn skew_time(version: Version, priority: Priority, master_adver_int: Centis) -> Micros {
    skew_calc(version, 256 - priority.0 as u64, master_adver_int)
}

/// The smallest skew keepalived uses (`VRRP_TIMER_SKEW_MIN`, i.e. priority 255): added to one
/// advertisement interval for a sync-group member that wants MASTER at startup.
pub const fn skew_time_min(version: Version, master_adver_int: Centis) -> Micros {
    skew_calc(version, 1, master_adver_int)
}

/// Master_Down_Interval = `down_timer_adverts` × Master_Adver_Interval + Skew_Time
/// (RFC 5798 §6.1 with the RFC's fixed 3 made configurable, keepalived `VRRP_MS_DOWN_TIMER`).
pub const fn master_down_interval(
    version: Version,
    down_timer_adverts: u32,
    master_adver_int: Centis,
    priority: Priority,
) -> Micros {
    let adverts = down_timer_adverts as u64 * centis(master_adver_int).0;
    Micros(adverts + skew_time(version, priority, master_adver_int).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3768_6_1_skew_is_independent_of_interval() {
        for adv in [100, 200, 500] {
            assert_eq!(
                skew_time(Version::V2, Priority(100), Centis(adv)),
                Micros(609_375)
            );
        }
        assert_eq!(
            skew_time(Version::V2, Priority(254), Centis(100)),
            Micros(7_812)
        );
        assert_eq!(
            skew_time(Version::V2, Priority(1), Centis(100)),
            Micros(996_093)
        );
    }

    #[test]
    fn rfc5798_6_1_skew_scales_with_master_adver_interval() {
        assert_eq!(
            skew_time(Version::V3, Priority(100), Centis(100)),
            Micros(609_375)
        );
        assert_eq!(
            skew_time(Version::V3, Priority(100), Centis(50)),
            Micros(304_687)
        );
        assert_eq!(
            skew_time(Version::V3, Priority(100), Centis(200)),
            Micros(1_218_750)
        );
        // The 12-bit maximum does not overflow keepalived's 32-bit arithmetic, nor ours.
        assert_eq!(
            skew_time(Version::V3, Priority(1), Centis(4095)),
            Micros(40_790_039)
        );
        assert_eq!(skew_time_min(Version::V3, Centis(100)), Micros(3_906));
        assert_eq!(skew_time_min(Version::V2, Centis(300)), Micros(3_906));
    }

    #[test]
    fn rfc5798_6_1_master_down_interval() {
        let mdi = |v, n, adv, p| master_down_interval(v, n, Centis(adv), Priority(p)).0;
        assert_eq!(mdi(Version::V2, 3, 100, 100), 3_609_375);
        assert_eq!(mdi(Version::V2, 3, 100, 254), 3_007_812);
        assert_eq!(mdi(Version::V3, 3, 100, 100), 3_609_375);
        assert_eq!(mdi(Version::V3, 3, 100, 254), 3_007_812);
        assert_eq!(mdi(Version::V3, 3, 50, 100), 1_804_687);
        assert_eq!(mdi(Version::V3, 1, 100, 100), 1_609_375);
        assert_eq!(mdi(Version::V2, 5, 200, 200), 10_218_750);
    }

    #[test]
    fn now_arithmetic_saturates() {
        assert_eq!(Now(5).add(Micros(3)), Now(8));
        assert_eq!(Now(u64::MAX).add(Micros(3)), Now(u64::MAX));
        assert_eq!(Now(5).sub(Micros(9)), Now(0));
        assert_eq!(Now(5).since(Now(9)), Micros(0));
        assert_eq!(Now(9).since(Now(5)), Micros(4));
    }
}
