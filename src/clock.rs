//! Wall-clock times as keepalived prints them, in local time: `ctime`-style stamps on console
//! log lines and in the data dump, RFC 5322 dates in alert mail. The zone is `TZ`, else
//! /etc/localtime, looked up on every call (a DST change or a new /etc/localtime is seen
//! without a restart). The `*_in` forms take the zone, for tests.

use std::fmt::Display;
use std::time::SystemTime;

use chrono::{DateTime, Local, TimeZone, Utc};

fn at<Tz: TimeZone>(tz: &Tz, t: SystemTime) -> DateTime<Tz> {
    DateTime::<Utc>::from(t).with_timezone(tz)
}

/// `Fri Nov 27 14:25:22 2026` (`ctime` without the newline).
pub fn ctime(t: SystemTime) -> String {
    ctime_in(&Local, t)
}

pub fn ctime_in<Tz: TimeZone>(tz: &Tz, t: SystemTime) -> String
where
    Tz::Offset: Display,
{
    at(tz, t).format("%a %b %e %H:%M:%S %Y").to_string()
}

/// `Fri Nov 27 14:25:22.829506 2026`: `ctime` with microseconds (keepalived's dumps).
pub fn ctime_us(t: SystemTime) -> String {
    ctime_us_in(&Local, t)
}

pub fn ctime_us_in<Tz: TimeZone>(tz: &Tz, t: SystemTime) -> String
where
    Tz::Offset: Display,
{
    at(tz, t).format("%a %b %e %H:%M:%S%.6f %Y").to_string()
}

/// `Mon, 01 Mar 2021 09:44:08 +0100` (RFC 5322 §3.3, the `Date:` of alert mail).
pub fn rfc5322(t: SystemTime) -> String {
    rfc5322_in(&Local, t)
}

pub fn rfc5322_in<Tz: TimeZone>(tz: &Tz, t: SystemTime) -> String
where
    Tz::Offset: Display,
{
    at(tz, t).format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn shapes_in_utc_and_in_a_fixed_zone() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_789_522_829_506);
        assert_eq!(ctime_in(&Utc, t), "Fri Nov 27 14:25:22 2026");
        assert_eq!(ctime_us_in(&Utc, t), "Fri Nov 27 14:25:22.829506 2026");
        assert_eq!(ctime_in(&Utc, UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
        let cet = FixedOffset::east_opt(3600).expect("offset");
        assert_eq!(ctime_in(&cet, t), "Fri Nov 27 15:25:22 2026");
        let m = UNIX_EPOCH + Duration::from_secs(1_614_591_848);
        assert_eq!(rfc5322_in(&Utc, m), "Mon, 01 Mar 2021 09:44:08 +0000");
        assert_eq!(rfc5322_in(&cet, m), "Mon, 01 Mar 2021 10:44:08 +0100");
    }
}
