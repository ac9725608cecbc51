//! A point-in-time copy of the engine's instances, for the signal-driven dumps
//! (`keepalived.data`, `keepalived.stats`, `keepalived.json`; see `crate::daemon::dump`).
//!
//! The engine fills these on request ([`super::engine::Control::Snapshot`]); everything here
//! is plain data. This module must not format files or touch the host.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use super::fsm::{Params, State};
use crate::config::model::{Centis, IpAddress, Micros, Priority};

/// One `vrrp_instance` as the engine sees it now.
#[derive(Debug, Clone)]
pub struct InstanceSnapshot {
    /// The resolved settings (VRID, version, priority, timers, GARP schedule).
    pub params: Params,
    pub state: State,
    pub want: State,
    /// The master heard last, and its priority (backups).
    pub master: Option<(IpAddr, Priority)>,
    /// The master's advert interval as learnt from its adverts (VRRPv3).
    pub master_adver_int: Centis,
    pub master_down_interval: Micros,
    pub effective_priority: Priority,
    pub vips_set: bool,
    pub ifname: String,
    pub ipv6: bool,
    /// The advert source address in use, and whether it was configured.
    pub src: Option<IpAddr>,
    pub src_from_config: bool,
    pub unicast: bool,
    /// VIPs then eVIPs, each with the interface it goes on.
    pub vips: Vec<(String, IpAddress)>,
    pub last_transition: Option<SystemTime>,
    pub counters: Counters,
    /// Adverts discarded on this instance's interface before any instance was found (unknown
    /// VRID...), shared by every instance on the interface.
    pub if_discards: BTreeMap<&'static str, u64>,
}

/// The counters of one instance since start (or the last STATS_CLEAR).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub adverts_rx: u64,
    pub adverts_tx: u64,
    pub pri_zero_rx: u64,
    pub pri_zero_tx: u64,
    pub became_master: u64,
    pub released_master: u64,
    /// Discarded adverts by reason (`packet::Discard::as_str`).
    pub discards: BTreeMap<&'static str, u64>,
}

/// keepalived's `vrrp_stats` error counters, from our discard reasons.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounters {
    pub packet_len_err: u64,
    pub ip_ttl_err: u64,
    pub invalid_type_rcvd: u64,
    pub advert_interval_err: u64,
    pub addr_list_err: u64,
    pub invalid_authtype: u64,
    pub authtype_mismatch: u64,
    pub auth_failure: u64,
}

impl Counters {
    /// Folds the discard reasons into keepalived's counters (vrrp.c `vrrp_check_packet`
    /// increments one counter per rejected advert; reasons it does not count are left out).
    pub fn errors(&self) -> ErrorCounters {
        let mut e = ErrorCounters::default();
        for (&reason, &n) in &self.discards {
            let slot = match reason {
                "too_short" | "length_mismatch" | "ip_length_mismatch" => &mut e.packet_len_err,
                "bad_ttl" | "ttl_out_of_range" => &mut e.ip_ttl_err,
                "bad_type" => &mut e.invalid_type_rcvd,
                "adver_int_mismatch" => &mut e.advert_interval_err,
                "addr_count_mismatch" | "addr_missing" => &mut e.addr_list_err,
                "invalid_auth_type" => &mut e.invalid_authtype,
                "auth_type_mismatch" | "ah_presence_mismatch" => &mut e.authtype_mismatch,
                "bad_password" | "ah_icv_mismatch" | "ah_spi_mismatch" | "ah_replay" => {
                    &mut e.auth_failure
                }
                _ => continue,
            };
            *slot += n;
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_reasons_fold_into_keepalived_counters() {
        let mut c = Counters::default();
        c.discards.insert("bad_ttl", 2);
        c.discards.insert("too_short", 1);
        c.discards.insert("length_mismatch", 1);
        c.discards.insert("bad_password", 3);
        c.discards.insert("vrid_mismatch", 9);
        let e = c.errors();
        assert_eq!(e.ip_ttl_err, 2);
        assert_eq!(e.packet_len_err, 2);
        assert_eq!(e.auth_failure, 3);
        assert_eq!(e.addr_list_err, 0);
    }
}
