//! The typed configuration model that every subsystem (VRRP, checkers, IPVS) reads.
//!
//! Units are types: [`Micros`] for keepalived's timers (decimal seconds, µs resolution),
//! [`Centis`] for VRRP advertisement intervals, [`Vrid`] and [`Priority`] for VRRP numbers.
//! Every object keeps the [`Loc`] of the line that declared it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::diag::Loc;

/// A duration in microseconds (keepalived's `TIMER_HZ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Micros(pub u64);

impl Micros {
    pub const fn secs(s: u64) -> Self {
        Micros(s * 1_000_000)
    }
}

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, us) = (self.0 / 1_000_000, self.0 % 1_000_000);
        if us == 0 {
            write!(f, "{s}s")
        } else {
            write!(f, "{}s", format!("{s}.{us:06}").trim_end_matches('0'))
        }
    }
}

/// A VRRP advertisement interval in centiseconds (RFC 5798 §5.2.7 units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Centis(pub u32);

impl std::fmt::Display for Centis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}s", self.0 / 100, self.0 % 100)
    }
}

/// Virtual Router IDentifier, 1-255 (RFC 5798 §5.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vrid(pub u8);

/// VRRP priority (RFC 5798 §5.2.4): 255 = address owner, 0 = leaving master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub u8);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    Unspecified,
    Inet,
    Inet6,
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub global: GlobalDefs,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub track_files: Vec<TrackFile>,
    pub track_processes: Vec<TrackProcess>,
    pub sync_groups: Vec<SyncGroup>,
    pub instances: Vec<VrrpInstance>,
    pub garp_groups: Vec<GarpGroup>,
    pub static_addresses: Vec<IpAddress>,
    pub static_routes: Vec<Route>,
    pub static_rules: Vec<Rule>,
    pub bfd_instances: Vec<BfdInstance>,
    pub ssl: Option<SslConfig>,
    pub vs_groups: Vec<VsGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// Accepted keywords this implementation does not act on (warned once each).
    pub ignored: Vec<IgnoredKeyword>,
}

#[derive(Debug, Clone)]
pub struct IgnoredKeyword {
    pub block: &'static str,
    pub keyword: String,
    pub args: Vec<String>,
    pub loc: Loc,
}

impl AsRef<Command> for Command {
    fn as_ref(&self) -> &Command {
        self
    }
}

/// A script or notify command: keepalived splits it with shell-like quoting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub args: Vec<String>,
    /// `user [group]` to run it as, if given.
    pub user: Option<String>,
    pub group: Option<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<(IpAddr, u16)>,
    pub smtp_helo_name: Option<String>,
    pub smtp_connect_timeout: Micros,
    pub smtp_alert: Option<bool>,
    /// Defaults for VRRP and checker mail (`smtp_alert_vrrp`, `smtp_alert_checker`).
    pub smtp_alert_vrrp: Option<bool>,
    pub smtp_alert_checker: Option<bool>,
    pub no_email_faults: bool,
    pub no_checker_emails: bool,
    pub enable_script_security: bool,
    /// `fifo_write_vrrp_states_on_reload`: every instance and group writes its state to the
    /// notify FIFOs after a reload, changed or not.
    pub fifo_write_vrrp_states_on_reload: bool,
    pub script_user: Option<(String, Option<String>)>,
    pub vrrp_version: u8,
    pub vrrp_strict: bool,
    pub vrrp_skip_check_adv_addr: bool,
    pub vrrp_check_unicast_src: bool,
    pub vrrp_mcast_group4: IpAddr,
    pub vrrp_mcast_group6: IpAddr,
    pub garp: GarpSettings,
    pub vrrp_garp_interval: Micros,
    pub vrrp_gna_interval: Micros,
    pub vrrp_min_garp: bool,
    pub vrrp_down_timer_adverts: u32,
    pub vrrp_lower_prio_no_advert: bool,
    pub vrrp_higher_prio_send_advert: bool,
    pub vrrp_startup_delay: Micros,
    pub v3_checksum_as_v2: bool,
    pub default_interface: Option<String>,
    pub dynamic_interfaces: bool,
    pub lvs_timeouts: LvsTimeouts,
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    pub lvs_flush: bool,
    pub lvs_flush_on_stop: Option<String>,
    pub notify_fifo: Option<(String, Option<Command>)>,
    pub vrrp_notify_fifo: Option<(String, Option<Command>)>,
    pub lvs_notify_fifo: Option<(String, Option<Command>)>,
    pub startup_script: Option<Command>,
    pub shutdown_script: Option<Command>,
    /// Seconds a startup/shutdown script may run before it is killed (keepalived: 10).
    pub startup_script_timeout: u32,
    pub shutdown_script_timeout: u32,
    pub dump_files: BTreeMap<&'static str, String>,
    pub instance: Option<String>,
    pub net_namespace: Option<String>,
    pub use_pid_dir: bool,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: Micros::secs(30),
            smtp_alert: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            no_email_faults: false,
            no_checker_emails: false,
            enable_script_security: false,
            fifo_write_vrrp_states_on_reload: false,
            script_user: None,
            vrrp_version: 2,
            vrrp_strict: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_check_unicast_src: false,
            vrrp_mcast_group4: IpAddr::from([224, 0, 0, 18]),
            vrrp_mcast_group6: IpAddr::from([0xff02, 0, 0, 0, 0, 0, 0, 0x12]),
            garp: GarpSettings::default(),
            vrrp_garp_interval: Micros(0),
            vrrp_gna_interval: Micros(0),
            vrrp_min_garp: false,
            vrrp_down_timer_adverts: 3,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_startup_delay: Micros(0),
            v3_checksum_as_v2: false,
            default_interface: None,
            dynamic_interfaces: false,
            lvs_timeouts: LvsTimeouts::default(),
            lvs_sync_daemon: None,
            lvs_flush: false,
            lvs_flush_on_stop: None,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            lvs_notify_fifo: None,
            startup_script: None,
            shutdown_script: None,
            startup_script_timeout: 10,
            shutdown_script_timeout: 10,
            dump_files: BTreeMap::new(),
            instance: None,
            net_namespace: None,
            use_pid_dir: false,
        }
    }
}

/// Gratuitous ARP / unsolicited NA timing (global defaults, per-instance overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpSettings {
    pub master_delay: Micros,
    pub master_repeat: u32,
    pub master_refresh: Micros,
    pub master_refresh_repeat: u32,
    pub lower_prio_delay: Option<Micros>,
    pub lower_prio_repeat: Option<u32>,
}

impl Default for GarpSettings {
    fn default() -> Self {
        GarpSettings {
            master_delay: Micros::secs(5),
            master_repeat: 5,
            master_refresh: Micros(0),
            master_refresh_repeat: 1,
            lower_prio_delay: None,
            lower_prio_repeat: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LvsTimeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvsSyncDaemon {
    pub interface: String,
    pub instance: Option<String>,
    pub id: Option<u32>,
    pub args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct VrrpScript {
    pub name: String,
    pub script: Option<Command>,
    pub interval: Micros,
    pub timeout: Option<Micros>,
    pub weight: i32,
    pub weight_reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub user: Option<(String, Option<String>)>,
    pub init_fail: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct TrackFile {
    pub name: String,
    pub file: Option<String>,
    pub weight: i32,
    pub weight_reverse: bool,
    pub init_file: Option<(Option<i64>, bool)>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct TrackProcess {
    pub name: String,
    pub process: Option<Vec<String>>,
    pub param_match: Option<String>,
    pub weight: i32,
    pub weight_reverse: bool,
    pub quorum: u32,
    pub quorum_max: Option<u32>,
    pub delay: Option<Micros>,
    pub terminate_delay: Option<Micros>,
    pub fork_delay: Option<Micros>,
    pub full_command: bool,
    pub loc: Loc,
}

/// A `track_*` reference with its optional weight override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub name: String,
    pub weight: Option<i32>,
    pub reverse: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, Default)]
pub struct Notify {
    pub master: Option<Command>,
    pub backup: Option<Command>,
    pub fault: Option<Command>,
    pub stop: Option<Command>,
    pub deleted: Option<Command>,
    pub generic: Option<Command>,
    pub master_rx_lower_pri: Option<Command>,
}

impl Notify {
    pub fn all(&self) -> impl Iterator<Item = &Command> {
        [
            &self.master,
            &self.backup,
            &self.fault,
            &self.stop,
            &self.deleted,
            &self.generic,
            &self.master_rx_lower_pri,
        ]
        .into_iter()
        .flatten()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tracking {
    pub interfaces: Vec<Tracked>,
    pub scripts: Vec<Tracked>,
    pub files: Vec<Tracked>,
    pub processes: Vec<Tracked>,
    pub bfds: Vec<Tracked>,
}

#[derive(Debug, Clone)]
pub struct SyncGroup {
    pub name: String,
    pub members: Vec<(String, Loc)>,
    pub tracking: Tracking,
    pub notify: Notify,
    pub smtp_alert: Option<bool>,
    pub global_tracking: bool,
    pub sync_group_tracking_weight: bool,
    pub notify_priority_changes: Option<bool>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitialState {
    #[default]
    Backup,
    Master,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    Pass,
    Ah,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub auth_type: Option<AuthType>,
    /// Up to 8 bytes, as sent on the wire (RFC 2338 §5.3.10).
    pub auth_pass: Option<Vec<u8>>,
    pub loc: Loc,
}

/// A virtual (or static) IP address: `ADDR[/M] [brd X] [dev IF] [scope S] [label L] ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAddress {
    pub addr: IpAddr,
    pub prefix: u8,
    pub broadcast: Option<String>,
    pub dev: Option<String>,
    pub scope: Option<String>,
    pub label: Option<String>,
    pub peer: Option<IpAddr>,
    /// `peer P/N`: the prefix length that applies with a peer (keepalived uses it for the address).
    pub peer_prefix: Option<u8>,
    pub flags: Vec<String>,
    pub preferred_lft: Option<String>,
    pub loc: Loc,
}

/// `virtual_routes` / `static_routes` entry, kept in `ip route` words plus what the core needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub words: Vec<String>,
    pub dest: Option<String>,
    pub dev: Option<String>,
    pub loc: Loc,
}

/// `virtual_rules` / `static_rules` entry in `ip rule` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub words: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct VrrpInstance {
    pub name: String,
    /// Initial state and priority, completed by validation as keepalived does: a missing
    /// priority is 255 for `state MASTER` and 100 otherwise; a missing state is MASTER for the
    /// address owner (priority 255) and BACKUP otherwise. `*_given` say what was written.
    pub state: InitialState,
    pub state_given: bool,
    pub priority_given: bool,
    pub interface: Option<(String, Loc)>,
    pub vrid: Option<Vrid>,
    pub priority: Priority,
    /// As written; completed against the version by [`super::validate`].
    pub advert_int: Centis,
    pub version: Option<u8>,
    pub family: Family,
    pub vips: Vec<IpAddress>,
    pub evips: Vec<IpAddress>,
    pub no_virtual_ipaddress: bool,
    pub virtual_routes: Vec<Route>,
    pub virtual_rules: Vec<Rule>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<UnicastPeer>,
    pub unicast_ttl: Option<u8>,
    pub unicast_fault_no_peer: bool,
    pub check_unicast_src: bool,
    /// `old_unicast_checksum [never]`: which VRRPv3 unicast checksum form to send and accept.
    pub old_unicast_checksum: UnicastChecksum,
    pub mcast_src_ip: Option<IpAddr>,
    pub mcast_dst_ip: Option<IpAddr>,
    pub track_src_ip: bool,
    pub authentication: Option<Authentication>,
    pub tracking: Tracking,
    pub dont_track_primary: bool,
    pub notify: Notify,
    pub notify_priority_changes: Option<bool>,
    pub smtp_alert: Option<bool>,
    pub nopreempt: bool,
    pub preempt_delay: Micros,
    pub accept: Option<bool>,
    pub strict_mode: Option<bool>,
    pub skip_check_adv_addr: bool,
    pub native_ipv6: bool,
    pub promote_secondaries: bool,
    pub garp: GarpSettings,
    pub garp_extra_if: Option<Vec<String>>,
    pub down_timer_adverts: Option<u32>,
    pub lower_prio_no_advert: Option<bool>,
    pub higher_prio_send_advert: Option<bool>,
    pub owner_ignore_adverts: bool,
    pub v3_checksum_as_v2: Option<bool>,
    pub use_vmac: Option<Vec<String>>,
    pub use_ipvlan: Option<Vec<String>>,
    pub vmac_xmit_base: bool,
    pub lvs_sync_daemon_interface: Option<String>,
    pub timer_expired_backup: Option<u8>,
    pub debug: Option<u32>,
    pub loc: Loc,
}

impl VrrpInstance {
    pub fn new(name: String, loc: Loc) -> Self {
        VrrpInstance {
            name,
            state: InitialState::Backup,
            state_given: false,
            priority_given: false,
            interface: None,
            vrid: None,
            priority: Priority(100),
            advert_int: Centis(100),
            version: None,
            family: Family::Unspecified,
            vips: Vec::new(),
            evips: Vec::new(),
            no_virtual_ipaddress: false,
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            unicast_ttl: None,
            unicast_fault_no_peer: false,
            check_unicast_src: false,
            old_unicast_checksum: UnicastChecksum::Detect,
            mcast_src_ip: None,
            mcast_dst_ip: None,
            track_src_ip: false,
            authentication: None,
            tracking: Tracking::default(),
            dont_track_primary: false,
            notify: Notify::default(),
            notify_priority_changes: None,
            smtp_alert: None,
            nopreempt: false,
            preempt_delay: Micros(0),
            accept: None,
            strict_mode: None,
            skip_check_adv_addr: false,
            native_ipv6: false,
            promote_secondaries: false,
            garp: GarpSettings::default(),
            garp_extra_if: None,
            down_timer_adverts: None,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            owner_ignore_adverts: false,
            v3_checksum_as_v2: None,
            use_vmac: None,
            use_ipvlan: None,
            vmac_xmit_base: false,
            lvs_sync_daemon_interface: None,
            timer_expired_backup: None,
            debug: None,
            loc,
        }
    }
}

/// keepalived's `unicast_chksum_compat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnicastChecksum {
    /// Not configured: send the RFC form, accept and switch to the pre-1.3.6 form if a peer uses it.
    #[default]
    Detect,
    /// `old_unicast_checksum`: the pseudo-header destination is 224.0.0.18 even for unicast.
    Old,
    /// `old_unicast_checksum never`: RFC form only.
    Never,
}

impl std::fmt::Display for UnicastChecksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnicastChecksum::Detect => "detect",
            UnicastChecksum::Old => "old",
            UnicastChecksum::Never => "never",
        })
    }
}

#[derive(Debug, Clone)]
pub struct GarpGroup {
    pub garp_interval: Option<Micros>,
    pub gna_interval: Option<Micros>,
    pub interfaces: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct BfdInstance {
    pub name: String,
    pub neighbor: Option<IpAddr>,
    pub source: Option<IpAddr>,
    pub min_rx: Micros,
    pub min_tx: Micros,
    pub idle_tx: Micros,
    pub multiplier: u32,
    pub passive: bool,
    pub ttl: Option<u8>,
    pub max_hops: Option<u8>,
    pub weight: i32,
    pub loc: Loc,
}

#[derive(Debug, Clone, Default)]
pub struct SslConfig {
    pub password: Option<String>,
    pub ca: Option<String>,
    pub certificate: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

/// IPVS forwarding method (`lvs_method` / `lb_kind`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Forwarding {
    #[default]
    Nat,
    Dr,
    Tun {
        kind: Option<TunType>,
        port: Option<u16>,
        csum: Option<TunCsum>,
    },
}

/// `lvs_method TUN type ...`: the tunnel encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunType {
    Ipip,
    Gue,
    Gre,
}

/// `lvs_method TUN ... nocsum|csum|remcsum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunCsum {
    NoCsum,
    Csum,
    RemCsum,
}

impl std::fmt::Display for TunType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TunType::Ipip => "ipip",
            TunType::Gue => "gue",
            TunType::Gre => "gre",
        })
    }
}

impl std::fmt::Display for TunCsum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TunCsum::NoCsum => "nocsum",
            TunCsum::Csum => "csum",
            TunCsum::RemCsum => "remcsum",
        })
    }
}

/// How a virtual server is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsAddress {
    Ip { addr: IpAddr, port: u16 },
    Fwmark { mark: u32, family: Family },
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsGroupEntry {
    /// `IP [PORT]` or a range `a.b.c.d-e` (last octet / hextet range) or `/nn`.
    Range {
        first: IpAddr,
        last: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
        family: Family,
    },
}

#[derive(Debug, Clone)]
pub struct VsGroup {
    pub name: String,
    pub entries: Vec<(VsGroupEntry, Loc)>,
    pub loc: Loc,
}

/// Checker timing, resolved VS → RS → checker at lowering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckTiming {
    pub delay_loop: Micros,
    pub connect_timeout: Micros,
    pub retry: u32,
    pub delay_before_retry: Micros,
    pub warmup: Option<Micros>,
}

/// Values written at one level (VS, RS or checker) before inheritance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimingOverrides {
    pub delay_loop: Option<Micros>,
    pub connect_timeout: Option<Micros>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Micros>,
    pub warmup: Option<Micros>,
}

#[derive(Debug, Clone)]
pub struct VirtualServer {
    pub address: VsAddress,
    pub ip_family: Family,
    pub protocol: Protocol,
    /// Whether `protocol`, `lvs_sched`, `lvs_method` were written (keepalived 2.2.7 reports an
    /// error for each one left out and then applies the default).
    pub protocol_given: bool,
    pub scheduler_given: bool,
    pub forwarding_given: bool,
    pub scheduler: String,
    pub sched_flags: Vec<String>,
    pub forwarding: Forwarding,
    pub persistence_timeout: Option<u32>,
    pub persistence_granularity: Option<String>,
    pub persistence_engine: Option<String>,
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<Box<Command>>,
    pub quorum_down: Option<Box<Command>>,
    pub alpha: bool,
    pub omega: bool,
    pub inhibit_on_failure: bool,
    pub ha_suspend: bool,
    pub virtualhost: Option<String>,
    pub sorry_server: Option<(IpAddr, u16)>,
    pub sorry_server_inhibit: bool,
    pub sorry_server_forwarding: Option<Forwarding>,
    pub default_weight: i32,
    pub smtp_alert: Option<bool>,
    pub timing: TimingOverrides,
    pub real_servers: Vec<RealServer>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct RealServer {
    pub addr: IpAddr,
    pub port: u16,
    pub weight: i32,
    pub forwarding: Option<Forwarding>,
    pub uthreshold: Option<u32>,
    pub lthreshold: Option<u32>,
    pub inhibit_on_failure: Option<bool>,
    pub notify_up: Option<Box<Command>>,
    pub notify_down: Option<Box<Command>>,
    pub alpha: Option<bool>,
    pub virtualhost: Option<String>,
    pub smtp_alert: Option<bool>,
    /// Timers written at this real server (`None`: none written).
    pub timing: Option<Box<TimingOverrides>>,
    /// Exactly sized: a large configuration holds 100k real servers.
    pub checkers: Box<[Checker]>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct Checker {
    pub kind: CheckerKind,
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    /// Source binding (`bindto`, `bind_port`, `bind_if`, `fwmark`), rarely set.
    pub bind: Option<Box<CheckerBind>>,
    pub alpha: Option<bool>,
    pub log_all_failures: Option<bool>,
    /// Effective timing after inheritance (checker ← real_server ← virtual_server ← default).
    pub timing: CheckTiming,
    pub loc: Loc,
}

/// Where a checker's connection comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckerBind {
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
}

#[derive(Debug, Clone)]
/// The checker and its own settings (boxed: most real servers carry a plain TCP_CHECK).
pub enum CheckerKind {
    Http(Box<HttpCheck>),
    Ssl(Box<HttpCheck>),
    Tcp,
    Misc(Box<MiscCheck>),
    Smtp(Box<SmtpCheck>),
    Dns(Box<DnsCheck>),
    Udp(Box<UdpCheck>),
    Ping,
    File(Box<FileCheck>),
    Bfd(Box<BfdCheck>),
}

impl CheckerKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckerKind::Http(_) => "HTTP_GET",
            CheckerKind::Ssl(_) => "SSL_GET",
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Misc(_) => "MISC_CHECK",
            CheckerKind::Smtp(_) => "SMTP_CHECK",
            CheckerKind::Dns(_) => "DNS_CHECK",
            CheckerKind::Udp(_) => "UDP_CHECK",
            CheckerKind::Ping => "PING_CHECK",
            CheckerKind::File(_) => "FILE_CHECK",
            CheckerKind::Bfd(_) => "BFD_CHECK",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct HttpCheck {
    pub http_protocol: Option<String>,
    pub virtualhost: Option<String>,
    pub fast_recovery: bool,
    pub enable_sni: bool,
    pub sni_name: Option<String>,
    pub tls_compliant: bool,
    pub urls: Vec<Url>,
}

#[derive(Debug, Clone, Default)]
pub struct Url {
    pub path: Option<String>,
    pub digest: Option<String>,
    /// Accepted status codes as inclusive ranges; empty = 200-299.
    pub status_codes: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
    pub regex: Option<String>,
    pub regex_no_match: bool,
    pub loc: Loc,
}

#[derive(Debug, Clone, Default)]
pub struct MiscCheck {
    pub path: Option<Command>,
    pub timeout: Option<Micros>,
    pub dynamic: bool,
    pub user: Option<(String, Option<String>)>,
}

#[derive(Debug, Clone, Default)]
pub struct SmtpCheck {
    pub helo_name: Option<String>,
    /// Legacy `host {}` sub-blocks: each is its own connect target.
    pub hosts: Vec<SmtpHost>,
}

#[derive(Debug, Clone, Default)]
pub struct SmtpHost {
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
    pub connect_timeout: Option<Micros>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Default)]
pub struct DnsCheck {
    pub qtype: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UdpCheck {
    pub payload: Option<Vec<u8>>,
    pub require_reply: Option<String>,
    pub min_reply_length: Option<u32>,
    pub max_reply_length: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct FileCheck {
    pub track_file: Option<String>,
    pub weight: Option<i32>,
    pub reverse: bool,
}

#[derive(Debug, Clone, Default)]
pub struct BfdCheck {
    pub name: Option<String>,
}
