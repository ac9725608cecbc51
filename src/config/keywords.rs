//! The keyword table: for every keepalived.conf keyword, the block it lives in, its argument
//! type, default, range, aliases and status. The block walk in [`super::lower`] and the man-page
//! test read this table; the lowering of each keyword into the model is in `lower.rs`.
//!
//! Status:
//! - [`Status::Supported`]: lowered into the typed model and acted upon.
//! - [`Status::Ignored`]: accepted and range-checked as keepalived does, then ignored with a
//!   warning naming the keyword (the daemon does not implement it yet).
//! - [`Status::Unsupported`]: accepted by keepalived but rejected here with a clear error.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// FNV-1a: keyword lookups hash short trusted strings once per config line, where SipHash's
/// flood resistance buys nothing and costs a few percent of `keepalived -t`.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Where a keyword may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Block {
    Root,
    GlobalDefs,
    VrrpScript,
    TrackFile,
    TrackProcess,
    SyncGroup,
    Instance,
    Authentication,
    AuthHmac,
    GarpGroup,
    TrackGroup,
    BfdInstance,
    Ssl,
    VirtualServer,
    RealServer,
    /// Timing keywords valid in every checker block but FILE_CHECK and BFD_CHECK
    /// (keepalived's `install_checker_common_keywords`).
    CheckerCommon,
    /// Connection keywords of the checkers that connect somewhere (not MISC, FILE, BFD).
    CheckerConnect,
    HttpCheck,
    Url,
    TcpCheck,
    MiscCheck,
    SmtpCheck,
    SmtpHost,
    DnsCheck,
    UdpCheck,
    PingCheck,
    FileCheck,
    BfdCheck,
}

impl Block {
    /// The name keepalived.conf uses for the block.
    pub fn name(self) -> &'static str {
        match self {
            Block::Root => "top level",
            Block::GlobalDefs => "global_defs",
            Block::VrrpScript => "vrrp_script",
            Block::TrackFile => "track_file",
            Block::TrackProcess => "vrrp_track_process",
            Block::SyncGroup => "vrrp_sync_group",
            Block::Instance => "vrrp_instance",
            Block::Authentication => "authentication",
            Block::AuthHmac => "auth_hmac",
            Block::GarpGroup => "garp_group",
            Block::TrackGroup => "track_group",
            Block::BfdInstance => "bfd_instance",
            Block::Ssl => "SSL",
            Block::VirtualServer => "virtual_server",
            Block::RealServer => "real_server",
            Block::CheckerCommon => "(every checker but FILE_CHECK and BFD_CHECK)",
            Block::CheckerConnect => "(connecting checkers and SMTP host)",
            Block::HttpCheck => "HTTP_GET/SSL_GET",
            Block::Url => "url",
            Block::TcpCheck => "TCP_CHECK",
            Block::MiscCheck => "MISC_CHECK",
            Block::SmtpCheck => "SMTP_CHECK",
            Block::SmtpHost => "host",
            Block::DnsCheck => "DNS_CHECK",
            Block::UdpCheck => "UDP_CHECK",
            Block::PingCheck => "PING_CHECK",
            Block::FileCheck => "FILE_CHECK",
            Block::BfdCheck => "BFD_CHECK",
        }
    }

    /// The shared keyword sets a checker block also accepts, as keepalived installs them.
    pub fn common_blocks(self) -> &'static [Block] {
        match self {
            Block::HttpCheck
            | Block::TcpCheck
            | Block::SmtpCheck
            | Block::SmtpHost
            | Block::DnsCheck
            | Block::UdpCheck
            | Block::PingCheck => &[Block::CheckerConnect, Block::CheckerCommon],
            Block::MiscCheck => &[Block::CheckerCommon],
            _ => &[],
        }
    }
}

/// Argument shape of a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No argument; keepalived accepts an optional `<BOOL>` on most of them.
    Flag,
    /// One word.
    Str,
    /// Unsigned integer in a range.
    Uint(u64, u64),
    /// Signed integer in a range.
    Int(i64, i64),
    /// Decimal seconds with microsecond resolution, range in microseconds.
    Timer(u64, u64),
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// An IPv4 or IPv6 address.
    Addr,
    /// Free-form words, checked by the keyword's lowering.
    Args,
    /// A command line (notify scripts, `script`, `misc_path`), split with shell-like quoting.
    Script,
    /// A `{ }` block of keywords.
    Block(Block),
    /// A `{ }` block of value lines (addresses, names...).
    Values,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Supported,
    Ignored,
    Unsupported,
}

#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    pub block: Block,
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    /// Default as keepalived documents it ("" when there is none or it is computed).
    pub default: &'static str,
    pub status: Status,
    /// First keepalived version that has it (2.2 for everything 2.2.7 knows).
    pub since: &'static str,
    /// Deprecated spelling: keepalived accepts it and says so.
    pub deprecated: bool,
}

use Block as B;
use Kind as K;
use Status::{Ignored as I, Supported as S};

const US: u64 = 1_000_000;
const TMAX: u64 = 4_294_967_295;

macro_rules! kw {
    ($b:ident, $n:literal, $k:expr, $d:literal, $s:expr) => {
        Keyword {
            block: B::$b,
            name: $n,
            aliases: &[],
            kind: $k,
            default: $d,
            status: $s,
            since: "2.2",
            deprecated: false,
        }
    };
    ($b:ident, $n:literal, $k:expr, $d:literal, $s:expr, aliases = $a:expr) => {
        Keyword {
            block: B::$b,
            name: $n,
            aliases: &$a,
            kind: $k,
            default: $d,
            status: $s,
            since: "2.2",
            deprecated: false,
        }
    };
    ($b:ident, $n:literal, $k:expr, $d:literal, $s:expr, since = $v:literal) => {
        Keyword {
            block: B::$b,
            name: $n,
            aliases: &[],
            kind: $k,
            default: $d,
            status: $s,
            since: $v,
            deprecated: false,
        }
    };
    ($b:ident, $n:literal, $k:expr, $d:literal, $s:expr, deprecated) => {
        Keyword {
            block: B::$b,
            name: $n,
            aliases: &[],
            kind: $k,
            default: $d,
            status: $s,
            since: "2.2",
            deprecated: true,
        }
    };
}

const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
];
const BOOLS: &[&str] = &["on", "off", "true", "false", "yes", "no"];

/// Every keyword keepalived 2.2.7 installs, plus the 2.4 additions. One row per keyword.
#[rustfmt::skip]
pub static KEYWORDS: &[Keyword] = &[
    // ----- top level -----
    kw!(Root, "global_defs", K::Block(B::GlobalDefs), "", S),
    kw!(Root, "vrrp_script", K::Block(B::VrrpScript), "", S),
    kw!(Root, "track_file", K::Block(B::TrackFile), "", S, aliases = ["vrrp_track_file"]),
    kw!(Root, "vrrp_track_process", K::Block(B::TrackProcess), "", S),
    kw!(Root, "vrrp_sync_group", K::Block(B::SyncGroup), "", S),
    kw!(Root, "vrrp_instance", K::Block(B::Instance), "", S),
    kw!(Root, "garp_group", K::Block(B::GarpGroup), "", S),
    kw!(Root, "track_group", K::Block(B::TrackGroup), "", I),
    kw!(Root, "static_ipaddress", K::Values, "", S),
    kw!(Root, "static_routes", K::Values, "", S),
    kw!(Root, "static_rules", K::Values, "", S),
    kw!(Root, "linkbeat_interfaces", K::Values, "", I),
    kw!(Root, "interface_up_down_delays", K::Values, "", I),
    kw!(Root, "bfd_instance", K::Block(B::BfdInstance), "", S),
    kw!(Root, "SSL", K::Block(B::Ssl), "", S),
    kw!(Root, "virtual_server_group", K::Values, "", S),
    kw!(Root, "virtual_server", K::Block(B::VirtualServer), "", S),
    kw!(Root, "net_namespace", K::Str, "", S),
    kw!(Root, "net_namespace_ipvs", K::Str, "", I),
    kw!(Root, "namespace_with_ipsets", K::Flag, "", I),
    kw!(Root, "use_pid_dir", K::Flag, "", S),
    kw!(Root, "instance", K::Str, "", S),
    kw!(Root, "child_wait_time", K::Uint(0, 4294967295), "", I),
    kw!(Root, "linkbeat_use_polling", K::Flag, "", I),
    // ----- global_defs -----
    kw!(GlobalDefs, "router_id", K::Str, "host name", S),
    kw!(GlobalDefs, "notification_email", K::Values, "", S),
    kw!(GlobalDefs, "notification_email_from", K::Str, "keepalived@HOSTNAME", S),
    kw!(GlobalDefs, "smtp_server", K::Args, "", S),
    kw!(GlobalDefs, "smtp_helo_name", K::Str, "HOSTNAME", S),
    kw!(GlobalDefs, "smtp_connect_timeout", K::Uint(1, 4294967295), "30", S),
    kw!(GlobalDefs, "smtp_alert", K::Flag, "", S),
    kw!(GlobalDefs, "smtp_alert_vrrp", K::Flag, "", S),
    kw!(GlobalDefs, "smtp_alert_checker", K::Flag, "", S),
    kw!(GlobalDefs, "no_email_faults", K::Flag, "", S),
    kw!(GlobalDefs, "no_checker_emails", K::Flag, "", S),
    kw!(GlobalDefs, "checker_log_all_failures", K::Flag, "", I),
    kw!(GlobalDefs, "startup_script", K::Script, "", S),
    kw!(GlobalDefs, "startup_script_timeout", K::Uint(1, 1000), "10", S),
    kw!(GlobalDefs, "shutdown_script", K::Script, "", S),
    kw!(GlobalDefs, "shutdown_script_timeout", K::Uint(1, 1000), "10", S),
    kw!(GlobalDefs, "script_user", K::Args, "keepalived_script or root", S),
    kw!(GlobalDefs, "enable_script_security", K::Flag, "", S),
    kw!(GlobalDefs, "use_symlink_paths", K::Flag, "", I, since = "2.2"),
    kw!(GlobalDefs, "set_supplementary_groups", K::Flag, "", I, since = "2.2"),
    kw!(GlobalDefs, "process_names", K::Flag, "", I),
    kw!(GlobalDefs, "process_name", K::Str, "", I),
    kw!(GlobalDefs, "vrrp_process_name", K::Str, "", I),
    kw!(GlobalDefs, "checker_process_name", K::Str, "", I),
    kw!(GlobalDefs, "lvs_process_name", K::Str, "", I, deprecated),
    kw!(GlobalDefs, "bfd_process_name", K::Str, "", I),
    kw!(GlobalDefs, "max_auto_priority", K::Args, "", I),
    kw!(GlobalDefs, "min_auto_priority_delay", K::Uint(0, 4294967295), "", I),
    kw!(GlobalDefs, "dynamic_interfaces", K::Args, "", S),
    kw!(GlobalDefs, "default_interface", K::Str, "eth0", S),
    kw!(GlobalDefs, "disable_local_igmp", K::Flag, "", I),
    kw!(GlobalDefs, "lvs_timeouts", K::Args, "", S),
    kw!(GlobalDefs, "lvs_flush", K::Flag, "", S),
    kw!(GlobalDefs, "lvs_flush_on_stop", K::Args, "", S),
    kw!(GlobalDefs, "lvs_flush_onstop", K::Args, "", S, deprecated),
    kw!(GlobalDefs, "lvs_sync_daemon", K::Args, "", S),
    kw!(GlobalDefs, "vrrp_mcast_group4", K::Addr, "224.0.0.18", S),
    kw!(GlobalDefs, "vrrp_mcast_group6", K::Addr, "ff02::12", S),
    kw!(GlobalDefs, "vrrp_garp_master_delay", K::Uint(0, 86400), "5", S),
    kw!(GlobalDefs, "vrrp_garp_master_repeat", K::Uint(1, 4294967295), "5", S),
    kw!(GlobalDefs, "vrrp_garp_master_refresh", K::Uint(0, 4294967295), "0", S),
    kw!(GlobalDefs, "vrrp_garp_master_refresh_repeat", K::Uint(1, 4294967295), "1", S),
    kw!(GlobalDefs, "vrrp_garp_lower_prio_delay", K::Uint(0, 86400), "garp_master_delay", S),
    kw!(GlobalDefs, "vrrp_garp_lower_prio_repeat", K::Uint(0, 4294967295), "garp_master_repeat", S),
    kw!(GlobalDefs, "vrrp_garp_interval", K::Timer(1, TMAX), "0", S),
    kw!(GlobalDefs, "vrrp_gna_interval", K::Timer(1, TMAX), "0", S),
    kw!(GlobalDefs, "vrrp_min_garp", K::Flag, "", S),
    kw!(GlobalDefs, "vrrp_garp_extra_if", K::Args, "", I),
    kw!(GlobalDefs, "vrrp_vmac_garp_intvl", K::Args, "", I),
    kw!(GlobalDefs, "vrrp_down_timer_adverts", K::Uint(1, 100), "3", S),
    kw!(GlobalDefs, "vrrp_lower_prio_no_advert", K::Flag, "", S),
    kw!(GlobalDefs, "vrrp_higher_prio_send_advert", K::Flag, "", S),
    kw!(GlobalDefs, "vrrp_version", K::Uint(2, 3), "2", S),
    kw!(GlobalDefs, "vrrp_iptables", K::Args, "", I),
    kw!(GlobalDefs, "vrrp_ipsets", K::Args, "", I),
    kw!(GlobalDefs, "nftables", K::Args, "", I),
    kw!(GlobalDefs, "nftables_priority", K::Int(-2147483648, 2147483647), "-1", I),
    kw!(GlobalDefs, "nftables_ifindex", K::Flag, "", I),
    kw!(GlobalDefs, "nftables_ipvs", K::Flag, "", I),
    kw!(GlobalDefs, "nftables_ipvs_priority", K::Int(-2147483648, 2147483647), "", I),
    kw!(GlobalDefs, "nftables_ipvs_start_fwmark", K::Uint(1, 4294967295), "1000", I),
    kw!(GlobalDefs, "nftables_counters", K::Flag, "", I),
    kw!(GlobalDefs, "vrrp_check_unicast_src", K::Flag, "", S),
    kw!(GlobalDefs, "vrrp_skip_check_adv_addr", K::Flag, "", S),
    kw!(GlobalDefs, "vrrp_strict", K::Flag, "", S),
    kw!(GlobalDefs, "vrrp_priority", K::Int(-20, 19), "", I),
    kw!(GlobalDefs, "vrrp_no_swap", K::Flag, "", I),
    kw!(GlobalDefs, "vrrp_rt_priority", K::Uint(1, 99), "", I),
    kw!(GlobalDefs, "vrrp_cpu_affinity", K::Args, "", I),
    kw!(GlobalDefs, "vrrp_rlimit_rttime", K::Uint(1, 4294967295), "", I),
    kw!(GlobalDefs, "vrrp_rlimit_rtime", K::Uint(1, 4294967295), "", I, deprecated),
    kw!(GlobalDefs, "checker_priority", K::Int(-20, 19), "", I),
    kw!(GlobalDefs, "checker_no_swap", K::Flag, "", I),
    kw!(GlobalDefs, "checker_rt_priority", K::Uint(1, 99), "", I),
    kw!(GlobalDefs, "checker_cpu_affinity", K::Args, "", I),
    kw!(GlobalDefs, "checker_rlimit_rttime", K::Uint(1, 4294967295), "", I),
    kw!(GlobalDefs, "checker_rlimit_rtime", K::Uint(1, 4294967295), "", I, deprecated),
    kw!(GlobalDefs, "bfd_priority", K::Int(-20, 19), "", I),
    kw!(GlobalDefs, "bfd_no_swap", K::Flag, "", I),
    kw!(GlobalDefs, "bfd_rt_priority", K::Uint(1, 99), "", I),
    kw!(GlobalDefs, "bfd_cpu_affinity", K::Args, "", I),
    kw!(GlobalDefs, "bfd_rlimit_rttime", K::Uint(1, 4294967295), "", I),
    kw!(GlobalDefs, "bfd_rlimit_rtime", K::Uint(1, 4294967295), "", I, deprecated),
    kw!(GlobalDefs, "notify_fifo", K::Args, "", S),
    kw!(GlobalDefs, "notify_fifo_script", K::Script, "", S),
    kw!(GlobalDefs, "vrrp_notify_fifo", K::Args, "", S),
    kw!(GlobalDefs, "vrrp_notify_fifo_script", K::Script, "", S),
    kw!(GlobalDefs, "lvs_notify_fifo", K::Args, "", S),
    kw!(GlobalDefs, "lvs_notify_fifo_script", K::Script, "", S),
    kw!(GlobalDefs, "vrrp_notify_priority_changes", K::Flag, "", I),
    kw!(GlobalDefs, "fifo_write_vrrp_states_on_reload", K::Flag, "", S),
    kw!(GlobalDefs, "snmp_socket", K::Str, "", I),
    kw!(GlobalDefs, "enable_traps", K::Flag, "", I),
    kw!(GlobalDefs, "enable_snmp_vrrp", K::Flag, "", I),
    kw!(GlobalDefs, "enable_snmp_keepalived", K::Flag, "", I, deprecated),
    kw!(GlobalDefs, "enable_snmp_rfc", K::Flag, "", I),
    kw!(GlobalDefs, "enable_snmp_rfcv2", K::Flag, "", I),
    kw!(GlobalDefs, "enable_snmp_rfcv3", K::Flag, "", I),
    kw!(GlobalDefs, "enable_snmp_checker", K::Flag, "", I),
    kw!(GlobalDefs, "snmp_vs_stats_update_interval", K::Args, "", I, since = "2.2"),
    kw!(GlobalDefs, "snmp_rs_stats_update_interval", K::Args, "", I, since = "2.2"),
    kw!(GlobalDefs, "enable_dbus", K::Flag, "", I),
    kw!(GlobalDefs, "dbus_service_name", K::Str, "", I),
    kw!(GlobalDefs, "dbus_no_interface_name", K::Flag, "", I, since = "2.2"),
    kw!(GlobalDefs, "vrrp_netlink_cmd_rcv_bufs", K::Uint(0, 4294967295), "", I),
    kw!(GlobalDefs, "vrrp_netlink_cmd_rcv_bufs_force", K::Flag, "", I),
    kw!(GlobalDefs, "vrrp_netlink_monitor_rcv_bufs", K::Uint(0, 4294967295), "", I),
    kw!(GlobalDefs, "vrrp_netlink_monitor_rcv_bufs_force", K::Flag, "", I),
    kw!(GlobalDefs, "process_monitor_rcv_bufs", K::Uint(0, 4294967295), "", I),
    kw!(GlobalDefs, "process_monitor_rcv_bufs_force", K::Flag, "", I),
    kw!(GlobalDefs, "lvs_netlink_cmd_rcv_bufs", K::Uint(0, 4294967295), "", I),
    kw!(GlobalDefs, "lvs_netlink_cmd_rcv_bufs_force", K::Flag, "", I),
    kw!(GlobalDefs, "lvs_netlink_monitor_rcv_bufs", K::Uint(0, 4294967295), "", I),
    kw!(GlobalDefs, "lvs_netlink_monitor_rcv_bufs_force", K::Flag, "", I),
    kw!(GlobalDefs, "rs_init_notifies", K::Flag, "", I),
    kw!(GlobalDefs, "vrrp_rx_bufs_policy", K::Args, "", I),
    kw!(GlobalDefs, "vrrp_rx_bufs_multiplier", K::Uint(1, 4294967295), "", I),
    kw!(GlobalDefs, "vrrp_startup_delay", K::Timer(0, 3600 * US), "0", S),
    kw!(GlobalDefs, "vrrp_delay_after_boot", K::Args, "", I, since = "2.3"),
    kw!(GlobalDefs, "vrrp_owner_ignore_adverts", K::Flag, "", I, since = "2.3"),
    kw!(GlobalDefs, "log_unknown_vrids", K::Flag, "", I),
    kw!(GlobalDefs, "vmac_prefix", K::Str, "vrrp", I),
    kw!(GlobalDefs, "vmac_addr_prefix", K::Str, "vrrp", I),
    kw!(GlobalDefs, "umask", K::Args, "", I),
    kw!(GlobalDefs, "random_seed", K::Uint(0, 4294967295), "", I),
    kw!(GlobalDefs, "reload_check_config", K::Args, "", I),
    kw!(GlobalDefs, "reload_time_file", K::Str, "", I),
    kw!(GlobalDefs, "reload_repeat", K::Flag, "", I),
    kw!(GlobalDefs, "reload_file", K::Str, "", I),
    kw!(GlobalDefs, "include_check", K::Args, "", I),
    kw!(GlobalDefs, "config_save_dir", K::Str, "", I),
    kw!(GlobalDefs, "tmp_config_directory", K::Str, "", I),
    kw!(GlobalDefs, "data_use_instance", K::Flag, "", I),
    kw!(GlobalDefs, "v3_checksum_as_v2", K::Flag, "", S, since = "2.3"),
    kw!(GlobalDefs, "json_version", K::Uint(1, 2), "1", I, since = "2.2"),
    kw!(GlobalDefs, "iproute_usr_dir", K::Str, "", I, since = "2.2"),
    kw!(GlobalDefs, "iproute_etc_dir", K::Str, "", I, since = "2.2"),
    kw!(GlobalDefs, "state_dump_file", K::Str, "/tmp/keepalived.data", S, since = "2.3"),
    kw!(GlobalDefs, "stats_dump_file", K::Str, "/tmp/keepalived.stats", S, since = "2.3"),
    kw!(GlobalDefs, "json_dump_file", K::Str, "/tmp/keepalived.json", S, since = "2.3"),
    kw!(GlobalDefs, "net_namespace", K::Str, "", S),
    kw!(GlobalDefs, "net_namespace_ipvs", K::Str, "", I),
    kw!(GlobalDefs, "namespace_with_ipsets", K::Flag, "", I),
    kw!(GlobalDefs, "use_pid_dir", K::Flag, "", S, since = "2.3"),
    kw!(GlobalDefs, "instance", K::Str, "", S, since = "2.3"),
    kw!(GlobalDefs, "child_wait_time", K::Uint(0, 4294967295), "", I),
    kw!(GlobalDefs, "linkbeat_use_polling", K::Flag, "", I),
    // ----- vrrp_script -----
    kw!(VrrpScript, "script", K::Script, "", S),
    kw!(VrrpScript, "interval", K::Uint(1, 4294), "1", S),
    kw!(VrrpScript, "timeout", K::Uint(1, 4294), "interval", S),
    kw!(VrrpScript, "weight", K::Args, "0", S),
    kw!(VrrpScript, "rise", K::Uint(1, 4294967295), "1", S),
    kw!(VrrpScript, "fall", K::Uint(1, 4294967295), "1", S),
    kw!(VrrpScript, "user", K::Args, "", S),
    kw!(VrrpScript, "init_fail", K::Flag, "", S),
    // ----- track_file -----
    kw!(TrackFile, "file", K::Str, "", S),
    kw!(TrackFile, "weight", K::Args, "1", S),
    kw!(TrackFile, "init_file", K::Args, "", S),
    // ----- vrrp_track_process -----
    kw!(TrackProcess, "process", K::Args, "", S),
    kw!(TrackProcess, "param_match", K::Enum(&["initial", "partial"]), "", S),
    kw!(TrackProcess, "weight", K::Args, "0", S),
    kw!(TrackProcess, "quorum", K::Uint(1, 65535), "1", S),
    kw!(TrackProcess, "quorum_max", K::Uint(0, 65535), "", S),
    kw!(TrackProcess, "delay", K::Timer(0, TMAX), "", S),
    kw!(TrackProcess, "terminate_delay", K::Timer(0, TMAX), "", S),
    kw!(TrackProcess, "fork_delay", K::Timer(0, TMAX), "", S),
    kw!(TrackProcess, "full_command", K::Flag, "", S),
    // ----- vrrp_sync_group -----
    kw!(SyncGroup, "group", K::Values, "", S),
    kw!(SyncGroup, "track_interface", K::Values, "", S),
    kw!(SyncGroup, "track_script", K::Values, "", S),
    kw!(SyncGroup, "track_file", K::Values, "", S),
    kw!(SyncGroup, "track_process", K::Values, "", S),
    kw!(SyncGroup, "track_bfd", K::Values, "", S),
    kw!(SyncGroup, "notify_backup", K::Script, "", S),
    kw!(SyncGroup, "notify_master", K::Script, "", S),
    kw!(SyncGroup, "notify_fault", K::Script, "", S),
    kw!(SyncGroup, "notify_stop", K::Script, "", S),
    kw!(SyncGroup, "notify", K::Script, "", S),
    kw!(SyncGroup, "smtp_alert", K::Flag, "", S),
    kw!(SyncGroup, "global_tracking", K::Flag, "", S, deprecated),
    kw!(SyncGroup, "sync_group_tracking_weight", K::Flag, "", S),
    kw!(SyncGroup, "notify_priority_changes", K::Flag, "", S),
    // ----- garp_group -----
    kw!(GarpGroup, "garp_interval", K::Timer(0, TMAX), "", S),
    kw!(GarpGroup, "gna_interval", K::Timer(0, TMAX), "", S),
    kw!(GarpGroup, "interface", K::Str, "", S),
    kw!(GarpGroup, "interfaces", K::Values, "", S),
    // ----- track_group -----
    kw!(TrackGroup, "group", K::Values, "", I),
    // ----- vrrp_instance -----
    kw!(Instance, "state", K::Enum(&["MASTER", "BACKUP"]), "BACKUP", S),
    kw!(Instance, "interface", K::Str, "default_interface", S),
    kw!(Instance, "virtual_router_id", K::Uint(1, 255), "", S),
    kw!(Instance, "priority", K::Uint(1, 255), "100", S),
    kw!(Instance, "advert_int", K::Timer(10_000, 255 * US), "1", S),
    kw!(Instance, "version", K::Uint(2, 3), "vrrp_version", S),
    kw!(Instance, "virtual_ipaddress", K::Values, "", S),
    kw!(Instance, "virtual_ipaddress_excluded", K::Values, "", S),
    kw!(Instance, "no_virtual_ipaddress", K::Flag, "", S, since = "2.3"),
    kw!(Instance, "virtual_routes", K::Values, "", S),
    kw!(Instance, "virtual_rules", K::Values, "", S),
    kw!(Instance, "unicast_src_ip", K::Addr, "", S),
    kw!(Instance, "unicast_peer", K::Values, "", S),
    kw!(Instance, "unicast_ttl", K::Uint(1, 255), "255", S),
    kw!(Instance, "unicast_fault_no_peer", K::Flag, "", S),
    kw!(Instance, "check_unicast_src", K::Flag, "", S),
    kw!(Instance, "old_unicast_checksum", K::Args, "", S),
    kw!(Instance, "mcast_src_ip", K::Addr, "", S),
    kw!(Instance, "mcast_dst_ip", K::Addr, "", S),
    kw!(Instance, "track_src_ip", K::Flag, "", S),
    kw!(Instance, "native_ipv6", K::Flag, "", S),
    kw!(Instance, "authentication", K::Block(B::Authentication), "", S),
    kw!(Instance, "auth_hmac", K::Block(B::AuthHmac), "", Status::Unsupported, since = "2.4"),
    kw!(Instance, "dont_track_primary", K::Flag, "", S),
    kw!(Instance, "track_interface", K::Values, "", S),
    kw!(Instance, "track_script", K::Values, "", S),
    kw!(Instance, "track_file", K::Values, "", S),
    kw!(Instance, "track_process", K::Values, "", S),
    kw!(Instance, "track_bfd", K::Values, "", S),
    kw!(Instance, "notify_backup", K::Script, "", S),
    kw!(Instance, "notify_master", K::Script, "", S),
    kw!(Instance, "notify_fault", K::Script, "", S),
    kw!(Instance, "notify_stop", K::Script, "", S),
    kw!(Instance, "notify_deleted", K::Script, "", S),
    kw!(Instance, "notify", K::Script, "", S),
    kw!(Instance, "notify_master_rx_lower_pri", K::Script, "", S),
    kw!(Instance, "notify_priority_changes", K::Flag, "", S),
    kw!(Instance, "smtp_alert", K::Flag, "", S),
    kw!(Instance, "preempt", K::Flag, "", S),
    kw!(Instance, "nopreempt", K::Flag, "", S),
    kw!(Instance, "preempt_delay", K::Timer(0, 1000 * US), "0", S),
    kw!(Instance, "accept", K::Flag, "", S),
    kw!(Instance, "no_accept", K::Flag, "", S),
    kw!(Instance, "strict_mode", K::Flag, "", S),
    kw!(Instance, "skip_check_adv_addr", K::Flag, "", S),
    kw!(Instance, "promote_secondaries", K::Flag, "", S),
    kw!(Instance, "garp_master_delay", K::Uint(0, 86400), "vrrp_garp_master_delay", S),
    kw!(Instance, "garp_master_repeat", K::Uint(1, 4294967295), "vrrp_garp_master_repeat", S),
    kw!(Instance, "garp_master_refresh", K::Uint(0, 4294967295), "vrrp_garp_master_refresh", S),
    kw!(Instance, "garp_master_refresh_repeat", K::Uint(1, 4294967295), "vrrp_garp_master_refresh_repeat", S),
    kw!(Instance, "garp_lower_prio_delay", K::Uint(0, 86400), "vrrp_garp_lower_prio_delay", S),
    kw!(Instance, "garp_lower_prio_repeat", K::Uint(0, 4294967295), "vrrp_garp_lower_prio_repeat", S),
    kw!(Instance, "garp_extra_if", K::Args, "", S),
    kw!(Instance, "down_timer_adverts", K::Uint(1, 100), "vrrp_down_timer_adverts", S),
    kw!(Instance, "lower_prio_no_advert", K::Flag, "", S),
    kw!(Instance, "higher_prio_send_advert", K::Flag, "", S),
    kw!(Instance, "owner_ignore_adverts", K::Flag, "", S, since = "2.3"),
    kw!(Instance, "v3_checksum_as_v2", K::Flag, "", S, since = "2.3"),
    kw!(Instance, "timer_expired_backup", K::Args, "", S, since = "2.3"),
    kw!(Instance, "thread_timer_expired", K::Args, "", S, since = "2.3"),
    kw!(Instance, "use_vmac", K::Args, "", I),
    kw!(Instance, "use_vmac_addr", K::Flag, "", I),
    kw!(Instance, "vmac_xmit_base", K::Flag, "", I),
    kw!(Instance, "vmac_garp_intvl", K::Args, "", I),
    kw!(Instance, "use_ipvlan", K::Args, "", I),
    kw!(Instance, "vrf", K::Str, "", I),
    kw!(Instance, "linkbeat_use_polling", K::Flag, "", I),
    kw!(Instance, "kernel_rx_buf_size", K::Uint(0, 4294967295), "", I),
    kw!(Instance, "debug", K::Args, "", I),
    kw!(Instance, "lvs_sync_daemon_interface", K::Str, "", S, deprecated),
    // ----- authentication -----
    kw!(Authentication, "auth_type", K::Enum(&["PASS", "AH"]), "", S),
    kw!(Authentication, "auth_pass", K::Str, "", S),
    // ----- auth_hmac (2.4) -----
    kw!(AuthHmac, "key", K::Args, "", Status::Unsupported, since = "2.4"),
    kw!(AuthHmac, "active_key", K::Str, "", Status::Unsupported, since = "2.4"),
    kw!(AuthHmac, "anti_replay", K::Args, "", Status::Unsupported, since = "2.4"),
    kw!(AuthHmac, "time_window", K::Args, "", Status::Unsupported, since = "2.4"),
    kw!(AuthHmac, "mode", K::Enum(&["enforce", "permissive", "receive-only"]), "", Status::Unsupported, since = "2.4"),
    // ----- bfd_instance -----
    kw!(BfdInstance, "neighbor_ip", K::Addr, "", S, aliases = ["neighbour_ip"]),
    kw!(BfdInstance, "source_ip", K::Addr, "", S),
    // Milliseconds with up to 3 decimals: read as a timer whose unit is ms (range in µs of ms).
    kw!(BfdInstance, "min_rx", K::Timer(US, 4_294_967 * US), "10", S),
    kw!(BfdInstance, "min_tx", K::Timer(US, 4_294_967 * US), "10", S),
    kw!(BfdInstance, "idle_tx", K::Timer(1000 * US, 4_294_967 * US), "1000", S),
    kw!(BfdInstance, "multiplier", K::Uint(1, 255), "5", S),
    kw!(BfdInstance, "passive", K::Flag, "", S),
    kw!(BfdInstance, "ttl", K::Uint(1, 255), "255", S),
    kw!(BfdInstance, "hoplimit", K::Uint(1, 255), "64", S),
    kw!(BfdInstance, "max_hops", K::Uint(0, 255), "", S),
    kw!(BfdInstance, "weight", K::Int(-253, 253), "0", S),
    kw!(BfdInstance, "vrrp", K::Flag, "", I),
    kw!(BfdInstance, "checker", K::Flag, "", I),
    kw!(BfdInstance, "multihop", K::Flag, "", I, since = "2.3"),
    // ----- SSL -----
    kw!(Ssl, "password", K::Str, "", S),
    kw!(Ssl, "ca", K::Str, "", S),
    kw!(Ssl, "certificate", K::Str, "", S),
    kw!(Ssl, "key", K::Str, "", S),
    // ----- virtual_server -----
    kw!(VirtualServer, "ip_family", K::Enum(&["inet", "inet6"]), "", S),
    kw!(VirtualServer, "lvs_sched", K::Enum(SCHEDULERS), "wlc", S, aliases = ["lb_algo"]),
    kw!(VirtualServer, "lvs_method", K::Args, "NAT", S, aliases = ["lb_kind"]),
    kw!(VirtualServer, "protocol", K::Enum(&["TCP", "UDP", "SCTP"]), "TCP", S),
    kw!(VirtualServer, "persistence_timeout", K::Args, "360", S),
    kw!(VirtualServer, "persistence_granularity", K::Str, "", S),
    kw!(VirtualServer, "persistence_engine", K::Str, "", S),
    kw!(VirtualServer, "hashed", K::Flag, "", S),
    kw!(VirtualServer, "ops", K::Flag, "", S),
    kw!(VirtualServer, "flag-1", K::Flag, "", S),
    kw!(VirtualServer, "flag-2", K::Flag, "", S),
    kw!(VirtualServer, "flag-3", K::Flag, "", S),
    kw!(VirtualServer, "sh-port", K::Flag, "", S),
    kw!(VirtualServer, "sh-fallback", K::Flag, "", S),
    kw!(VirtualServer, "mh-port", K::Flag, "", S),
    kw!(VirtualServer, "mh-fallback", K::Flag, "", S),
    kw!(VirtualServer, "delay_loop", K::Timer(1, TMAX * US / 1000), "60", S),
    kw!(VirtualServer, "connect_timeout", K::Timer(1, TMAX * US / 1000), "5", S),
    kw!(VirtualServer, "retry", K::Uint(0, 4294967295), "1", S),
    kw!(VirtualServer, "delay_before_retry", K::Timer(0, TMAX * US / 1000), "1", S),
    kw!(VirtualServer, "warmup", K::Timer(0, TMAX * US / 1000), "random up to delay_loop", S),
    kw!(VirtualServer, "inhibit_on_failure", K::Flag, "", S),
    kw!(VirtualServer, "ha_suspend", K::Flag, "", S),
    kw!(VirtualServer, "alpha", K::Flag, "", S),
    kw!(VirtualServer, "omega", K::Flag, "", S),
    kw!(VirtualServer, "quorum", K::Uint(1, 4294967295), "1", S),
    kw!(VirtualServer, "hysteresis", K::Uint(0, 4294967295), "0", S),
    kw!(VirtualServer, "quorum_up", K::Script, "", S),
    kw!(VirtualServer, "quorum_down", K::Script, "", S),
    kw!(VirtualServer, "virtualhost", K::Str, "", S),
    kw!(VirtualServer, "sorry_server", K::Args, "", S),
    kw!(VirtualServer, "sorry_server_inhibit", K::Flag, "", S),
    kw!(VirtualServer, "sorry_server_lvs_method", K::Args, "", S),
    kw!(VirtualServer, "weight", K::Int(-2147483648, 2147483647), "1", S),
    kw!(VirtualServer, "smtp_alert", K::Flag, "", S),
    kw!(VirtualServer, "snmp_name", K::Str, "", I),
    kw!(VirtualServer, "uthreshold", K::Uint(0, 4294967295), "", I, since = "2.3"),
    kw!(VirtualServer, "lthreshold", K::Uint(0, 4294967295), "", I, since = "2.3"),
    kw!(VirtualServer, "real_server", K::Block(B::RealServer), "", S),
    // ----- real_server -----
    kw!(RealServer, "weight", K::Int(-2147483648, 2147483647), "1", S),
    kw!(RealServer, "lvs_method", K::Args, "virtual_server's", S),
    kw!(RealServer, "uthreshold", K::Uint(0, 4294967295), "", S),
    kw!(RealServer, "lthreshold", K::Uint(0, 4294967295), "", S),
    kw!(RealServer, "inhibit_on_failure", K::Flag, "", S),
    kw!(RealServer, "notify_up", K::Script, "", S),
    kw!(RealServer, "notify_down", K::Script, "", S),
    kw!(RealServer, "alpha", K::Flag, "", S),
    kw!(RealServer, "retry", K::Uint(0, 4294967295), "", S),
    kw!(RealServer, "delay_before_retry", K::Timer(0, TMAX * US / 1000), "", S),
    kw!(RealServer, "warmup", K::Timer(0, TMAX * US / 1000), "", S),
    kw!(RealServer, "connect_timeout", K::Timer(1, TMAX * US / 1000), "", S),
    kw!(RealServer, "delay_loop", K::Timer(1, TMAX * US / 1000), "", S),
    kw!(RealServer, "smtp_alert", K::Flag, "", S),
    kw!(RealServer, "virtualhost", K::Str, "", S),
    kw!(RealServer, "snmp_name", K::Str, "", I),
    kw!(RealServer, "HTTP_GET", K::Block(B::HttpCheck), "", S),
    kw!(RealServer, "SSL_GET", K::Block(B::HttpCheck), "", S),
    kw!(RealServer, "TCP_CHECK", K::Block(B::TcpCheck), "", S),
    kw!(RealServer, "MISC_CHECK", K::Block(B::MiscCheck), "", S),
    kw!(RealServer, "SMTP_CHECK", K::Block(B::SmtpCheck), "", S),
    kw!(RealServer, "DNS_CHECK", K::Block(B::DnsCheck), "", S),
    kw!(RealServer, "UDP_CHECK", K::Block(B::UdpCheck), "", S),
    kw!(RealServer, "PING_CHECK", K::Block(B::PingCheck), "", S),
    kw!(RealServer, "FILE_CHECK", K::Block(B::FileCheck), "", S),
    kw!(RealServer, "BFD_CHECK", K::Block(B::BfdCheck), "", S),
    // ----- every checker -----
    kw!(CheckerConnect, "connect_ip", K::Addr, "real server address", S),
    kw!(CheckerConnect, "connect_port", K::Uint(0, 65535), "real server port", S),
    kw!(CheckerConnect, "bindto", K::Addr, "", S),
    kw!(CheckerConnect, "bind_port", K::Uint(0, 65535), "", S),
    kw!(CheckerConnect, "bind_if", K::Str, "", S),
    kw!(CheckerConnect, "fwmark", K::Uint(0, 4294967295), "", S),
    kw!(CheckerConnect, "connect_timeout", K::Timer(1, TMAX * US / 1000), "", S),
    kw!(CheckerCommon, "retry", K::Uint(0, 4294967295), "", S),
    kw!(CheckerCommon, "delay_before_retry", K::Timer(0, TMAX * US / 1000), "", S),
    kw!(CheckerCommon, "warmup", K::Timer(0, TMAX * US / 1000), "", S),
    kw!(CheckerCommon, "delay_loop", K::Timer(1, TMAX * US / 1000), "", S),
    kw!(CheckerCommon, "alpha", K::Flag, "", S),
    kw!(CheckerCommon, "log_all_failures", K::Flag, "", S),
    // ----- HTTP_GET / SSL_GET -----
    kw!(HttpCheck, "url", K::Block(B::Url), "", S),
    kw!(HttpCheck, "virtualhost", K::Str, "", S),
    kw!(HttpCheck, "http_protocol", K::Enum(&["1.0", "1.0C", "1.0c", "1.1"]), "1.0", S),
    kw!(HttpCheck, "fast_recovery", K::Flag, "", S),
    kw!(HttpCheck, "enable_sni", K::Flag, "", S),
    kw!(HttpCheck, "sni_name", K::Str, "", S, since = "2.3"),
    kw!(HttpCheck, "tls_compliant", K::Flag, "", S, since = "2.3"),
    kw!(HttpCheck, "nb_get_retry", K::Uint(0, 4294967295), "", S, deprecated),
    // ----- url -----
    kw!(Url, "path", K::Str, "", S),
    kw!(Url, "digest", K::Str, "", S),
    kw!(Url, "status_code", K::Args, "200-299", S),
    kw!(Url, "virtualhost", K::Str, "", S),
    kw!(Url, "regex", K::Str, "", S),
    kw!(Url, "regex_no_match", K::Flag, "", S),
    kw!(Url, "regex_options", K::Args, "", I),
    kw!(Url, "regex_min_offset", K::Uint(0, 4294967295), "", I),
    kw!(Url, "regex_max_offset", K::Uint(0, 4294967295), "", I),
    kw!(Url, "regex_stack", K::Args, "", I),
    // ----- MISC_CHECK -----
    kw!(MiscCheck, "misc_path", K::Script, "", S),
    kw!(MiscCheck, "misc_timeout", K::Timer(1, TMAX * US / 1000), "delay_loop", S),
    kw!(MiscCheck, "misc_dynamic", K::Flag, "", S),
    kw!(MiscCheck, "user", K::Args, "", S),
    // ----- SMTP_CHECK -----
    kw!(SmtpCheck, "helo_name", K::Str, "smtpchecker.keepalived.org", S),
    kw!(SmtpCheck, "host", K::Block(B::SmtpHost), "", S, deprecated),
    // ----- DNS_CHECK -----
    kw!(DnsCheck, "type", K::Enum(&["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"]), "SOA", S),
    kw!(DnsCheck, "name", K::Str, ".", S),
    // ----- UDP_CHECK -----
    kw!(UdpCheck, "payload", K::Str, "", S),
    kw!(UdpCheck, "require_reply", K::Args, "", S),
    kw!(UdpCheck, "min_reply_length", K::Uint(0, 65535), "", S),
    kw!(UdpCheck, "max_reply_length", K::Uint(0, 65535), "", S),
    // ----- FILE_CHECK -----
    kw!(FileCheck, "track_file", K::Str, "", S),
    kw!(FileCheck, "weight", K::Args, "", S),
    // ----- BFD_CHECK -----
    kw!(BfdCheck, "name", K::Str, "", S),
    kw!(BfdCheck, "alpha", K::Flag, "", S),
];

/// The `<BOOL>` words keepalived accepts.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

pub const BOOL_WORDS: &[&str] = BOOLS;

/// The keyword named `name` (or an alias) in `block`; checker blocks fall back to the common
/// checker keywords.
pub fn lookup(block: Block, name: &str) -> Option<&'static Keyword> {
    type Index = HashMap<(Block, &'static str), &'static Keyword, BuildHasherDefault<Fnv>>;
    static INDEX: OnceLock<Index> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut m = Index::default();
        for k in KEYWORDS {
            m.insert((k.block, k.name), k);
            for a in k.aliases {
                m.insert((k.block, *a), k);
            }
        }
        m
    });
    index
        .get(&(block, name))
        .or_else(|| {
            block
                .common_blocks()
                .iter()
                .find_map(|b| index.get(&(*b, name)))
        })
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_duplicate_keywords_in_a_block() {
        let mut seen = std::collections::HashSet::new();
        for k in KEYWORDS {
            for n in std::iter::once(&k.name).chain(k.aliases) {
                assert!(seen.insert((k.block, *n)), "duplicate {:?} {}", k.block, n);
            }
        }
    }

    #[test]
    fn lookup_finds_aliases_and_common_checker_keywords() {
        assert_eq!(
            lookup(Block::VirtualServer, "lb_algo").map(|k| k.name),
            Some("lvs_sched")
        );
        assert_eq!(
            lookup(Block::Root, "vrrp_track_file").map(|k| k.name),
            Some("track_file")
        );
        assert_eq!(
            lookup(Block::TcpCheck, "connect_timeout").map(|k| k.block),
            Some(Block::CheckerConnect)
        );
        assert_eq!(
            lookup(Block::MiscCheck, "retry").map(|k| k.block),
            Some(Block::CheckerCommon)
        );
        assert!(lookup(Block::MiscCheck, "connect_port").is_none());
        assert!(lookup(Block::FileCheck, "retry").is_none());
        assert!(lookup(Block::Instance, "lb_algo").is_none());
    }
}
