//! piranha's `lvs.cf` front end: run an lvs.cf directly, or convert it once to keepalived.conf.
//!
//! Pipeline: [`parse`] (the pest lexer of `grammar/lvs_cf.pest`, then sections and settings
//! checked against [`KEYS`], as piranha 0.8's `lvsconfig.c` checks them) → [`plan`] (every
//! mapping decision: which keepalived object each lvs.cf setting becomes, or why none) → either
//! [`lower`] (the plan for this host's role → [`crate::config::model::Config`], then the same
//! validation as keepalived.conf) or [`convert`] (the plan → commented keepalived.conf text that
//! serves both routers through `@primary`/`@backup` lines).
//!
//! Because [`lower`] and [`convert`] render the same plan, running an lvs.cf and running its
//! conversion with `-i primary|backup` give the same effective configuration (tests/lvs_cf_*.rs
//! check this through `-d`). This module never touches the network: role detection only reads
//! the host's addresses.
//!
//! The mapping is documented in man/lvs.cf.5 (MAPPING TO KEEPALIVED).

pub mod convert;
pub mod lower;
pub mod parse;
pub mod plan;

use std::net::Ipv4Addr;
use std::path::Path;

use crate::config::{Diagnostics, LoadOptions, Loaded, diag::ErrorClass};

/// Where a key may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    /// Inside `virtual NAME { }` or `failover NAME { }` (piranha reads both with one parser).
    Service,
    /// Inside `server NAME { }`.
    Server,
}

impl Scope {
    pub fn describe(self) -> &'static str {
        match self {
            Scope::Global => "the global section",
            Scope::Service => "a virtual or failover block",
            Scope::Server => "a server block",
        }
    }
}

/// A key's value, as lvsconfig.c reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// `strtol(.., 0)` of the whole token.
    Int,
    /// 0 or 1.
    Bool,
    /// The token as written (quotes removed).
    Str,
    /// A number or an /etc/services tcp name.
    Port,
    /// inet_aton, else a host name lookup.
    Host,
    /// `HOST DEVICE`.
    HostDev,
    /// inet_aton only.
    Addr,
    Enum(&'static [&'static str]),
    /// `[ word ... ]`.
    List,
}

impl Arg {
    /// How many value tokens the key takes (`None`: a list).
    pub fn arity(self) -> Option<usize> {
        match self {
            Arg::HostDev => Some(2),
            Arg::List => None,
            _ => Some(1),
        }
    }
}

/// One lvs.cf key: its piranha default and where it goes in keepalived.conf.
#[derive(Debug)]
pub struct KeySpec {
    pub scope: Scope,
    pub name: &'static str,
    pub arg: Arg,
    /// piranha's default (lvsconfig.c), "" if none.
    pub default: &'static str,
    /// The keepalived.conf keyword(s) it maps to; "" = no equivalent (kept as a comment).
    pub keepalived: &'static str,
}

macro_rules! key {
    ($scope:ident, $name:literal, $arg:expr, $default:literal, $ka:literal) => {
        KeySpec {
            scope: Scope::$scope,
            name: $name,
            arg: $arg,
            default: $default,
            keepalived: $ka,
        }
    };
}

const SCHEDULERS: &[&str] = &["rr", "lc", "wlc", "wrr", "lblc", "lblcr", "dh", "sh"];

/// Every key piranha 0.8 accepts, in lvsconfig.c's order. man/lvs.cf.5 documents each one
/// (a test checks that).
pub static KEYS: &[KeySpec] = &[
    key!(
        Global,
        "primary",
        Arg::Host,
        "",
        "@primary lines (the node owning this address)"
    ),
    key!(Global, "serial_no", Arg::Int, "", ""),
    key!(Global, "primary_private", Arg::Host, "primary", ""),
    key!(Global, "primary_shared", Arg::Str, "", ""),
    key!(
        Global,
        "backup",
        Arg::Host,
        "",
        "@backup lines (the node owning this address)"
    ),
    key!(
        Global,
        "backup_active",
        Arg::Bool,
        "0",
        "the @backup lines (0: single router)"
    ),
    key!(Global, "backup_private", Arg::Host, "backup", ""),
    key!(Global, "backup_shared", Arg::Str, "", ""),
    key!(
        Global,
        "reservation_conflict_action",
        Arg::Enum(&["nothing", "preempt"]),
        "",
        ""
    ),
    key!(
        Global,
        "nat_nmask",
        Arg::Addr,
        "",
        "prefix of the nat_router address"
    ),
    key!(
        Global,
        "nat_router",
        Arg::HostDev,
        "",
        "virtual_ipaddress (in the sync group)"
    ),
    key!(Global, "active_cmd", Arg::Str, "", "notify_master"),
    key!(
        Global,
        "inactive_cmd",
        Arg::Str,
        "",
        "notify_backup, notify_fault, notify_stop"
    ),
    key!(
        Global,
        "monitor_links",
        Arg::Int,
        "0",
        "interface tracking (0: dont_track_primary)"
    ),
    key!(Global, "debug_level", Arg::Str, "NONE", ""),
    key!(Global, "hard_shutdown", Arg::Bool, "1", ""),
    key!(Global, "ipvsadm", Arg::Str, "/sbin/ipvsadm", ""),
    key!(Global, "keepalive", Arg::Int, "2", "advert_int"),
    key!(Global, "deadtime", Arg::Int, "5", "down_timer_adverts"),
    key!(Global, "rsh_command", Arg::Str, "rsh", ""),
    key!(Global, "syncdaemon", Arg::Bool, "0", "lvs_sync_daemon"),
    key!(
        Global,
        "syncd_iface",
        Arg::Str,
        "eth0",
        "lvs_sync_daemon INTERFACE"
    ),
    key!(Global, "syncd_id", Arg::Int, "0", "lvs_sync_daemon ... id"),
    key!(Global, "tcp_timeout", Arg::Int, "0", "lvs_timeouts tcp"),
    key!(
        Global,
        "tcpfin_timeout",
        Arg::Int,
        "0",
        "lvs_timeouts tcpfin"
    ),
    key!(Global, "udp_timeout", Arg::Int, "0", "lvs_timeouts udp"),
    key!(Global, "heartbeat", Arg::Bool, "0", ""),
    key!(Global, "heartbeat_port", Arg::Port, "539", ""),
    key!(Global, "sync", Arg::Bool, "0", ""),
    key!(
        Global,
        "network",
        Arg::Enum(&["direct", "nat", "tunnel"]),
        "nat",
        "lvs_method"
    ),
    key!(
        Global,
        "service",
        Arg::Enum(&["lvs", "fos"]),
        "lvs",
        "which blocks are used"
    ),
    key!(
        Service,
        "active",
        Arg::Bool,
        "0",
        "the block is used (0: kept as a comment)"
    ),
    key!(
        Service,
        "address",
        Arg::HostDev,
        "",
        "virtual_server address, virtual_ipaddress"
    ),
    key!(Service, "sorry_server", Arg::Addr, "", "sorry_server"),
    key!(
        Service,
        "vip_nmask",
        Arg::Addr,
        "",
        "prefix of the virtual address"
    ),
    key!(Service, "fwmark", Arg::Int, "", "virtual_server fwmark"),
    key!(
        Service,
        "protocol",
        Arg::Enum(&["tcp", "udp"]),
        "tcp",
        "protocol"
    ),
    key!(
        Service,
        "port",
        Arg::Port,
        "80",
        "virtual_server port, real_server port"
    ),
    key!(
        Service,
        "scheduler",
        Arg::Enum(SCHEDULERS),
        "wlc",
        "lvs_sched"
    ),
    key!(Service, "persistent", Arg::Int, "0", "persistence_timeout"),
    key!(Service, "pmask", Arg::Addr, "", "persistence_granularity"),
    key!(Service, "client_monitor", Arg::Str, "/usr/sbin/nanny", ""),
    key!(
        Service,
        "send_program",
        Arg::Str,
        "",
        "MISC_CHECK misc_path"
    ),
    key!(
        Service,
        "send",
        Arg::Str,
        "",
        "HTTP_GET url, SMTP_CHECK, UDP_CHECK payload"
    ),
    key!(
        Service,
        "expect",
        Arg::Str,
        "",
        "HTTP_GET status_code, UDP_CHECK require_reply"
    ),
    key!(Service, "use_regex", Arg::Bool, "0", ""),
    key!(
        Service,
        "timeout",
        Arg::Int,
        "10",
        "delay_loop, connect_timeout, misc_timeout"
    ),
    key!(Service, "reentry", Arg::Int, "180", ""),
    key!(Service, "load_monitor", Arg::Str, "", ""),
    key!(
        Service,
        "quiesce_server",
        Arg::Bool,
        "0",
        "inhibit_on_failure"
    ),
    key!(
        Service,
        "start_cmd",
        Arg::Str,
        "",
        "notify_master (failover)"
    ),
    key!(
        Service,
        "stop_cmd",
        Arg::Str,
        "",
        "notify_backup, notify_fault, notify_stop (failover)"
    ),
    key!(Service, "master", Arg::Host, "", ""),
    key!(Service, "dirs", Arg::List, "", ""),
    key!(Server, "address", Arg::Host, "", "real_server address"),
    key!(
        Server,
        "active",
        Arg::Bool,
        "0",
        "the real_server is used (0: kept as a comment)"
    ),
    key!(Server, "weight", Arg::Int, "1", "weight"),
    key!(
        Server,
        "port",
        Arg::Int,
        "the virtual's port",
        "real_server port"
    ),
];

/// Which of the two routers this node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Backup,
}

impl Role {
    /// The `-i` config id that selects this role's lines in a converted file.
    pub fn config_id(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
        }
    }
}

/// Whether the file at `path` is an lvs.cf rather than a keepalived.conf: its first significant
/// line is `KEY = ...` with a global lvs.cf key, or `virtual|failover NAME {`. keepalived.conf
/// has neither form (its keywords take no `=`, and its blocks are `virtual_server`...).
pub fn looks_like(path: &Path) -> bool {
    use std::io::Read as _;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = Vec::new();
    if f.take(64 << 10).read_to_end(&mut buf).is_err() {
        return false;
    }
    looks_like_text(&String::from_utf8_lossy(&buf))
}

/// [`looks_like`] on text.
pub fn looks_like_text(text: &str) -> bool {
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with('!') {
            continue;
        }
        let w: Vec<&str> = t.split_whitespace().collect();
        return match w.as_slice() {
            [k, "=", ..] => KEYS
                .iter()
                .any(|s| s.scope == Scope::Global && s.name == *k),
            ["virtual" | "failover", _, "{"] => true,
            _ => false,
        };
    }
    false
}

/// The role of this host: `-i primary|backup` if given, else the host's addresses against
/// `primary` and `backup` (pulse's `amMaster()`: any other host is a backup).
fn host_role(
    cf: &parse::LvsCf,
    plan: &plan::Plan,
    opts: &LoadOptions,
    diags: &mut Diagnostics,
) -> Role {
    match opts.config_id.as_deref() {
        Some("primary") => return Role::Primary,
        Some("backup") => return Role::Backup,
        _ => {}
    }
    let own = host_addresses();
    let loc = cf.global("primary").map(|s| s.loc);
    if plan.primary.is_some_and(|p| own.contains(&p)) {
        return Role::Primary;
    }
    if plan.backup.is_some_and(|b| own.contains(&b)) {
        return Role::Backup;
    }
    let msg = format!(
        "this host has neither the primary ({}) nor the backup ({}) address: running as \
         backup, as pulse does (use -i primary or -i backup to choose)",
        plan.primary.map_or("unset".to_string(), |a| a.to_string()),
        plan.backup.map_or("unset".to_string(), |a| a.to_string()),
    );
    match loc {
        Some(loc) => diags.warn(ErrorClass::Logged, loc, msg),
        None => diags.report(ErrorClass::Logged, None, msg),
    }
    Role::Backup
}

/// Every IPv4 address configured on this host (nix getifaddrs; empty if that fails).
pub fn host_addresses() -> Vec<Ipv4Addr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|ifa| {
            let sin = ifa.address?;
            let v4 = sin.as_sockaddr_in()?;
            Some(v4.ip())
        })
        .collect()
}

/// Read an lvs.cf and build the configuration this node runs (`keepalived -f lvs.cf`).
pub fn load(opts: &LoadOptions) -> Loaded {
    let mut diags = Diagnostics::default();
    let path = opts.path.to_string_lossy().into_owned();
    let cf = match parse::read_file(&path, &mut diags) {
        Ok(cf) => cf,
        Err(e) => {
            diags.report(
                ErrorClass::FileNotFound,
                None,
                format!("Configuration file '{path}' cannot be read: {e}"),
            );
            diags.config_file_error = true;
            return Loaded {
                config: Default::default(),
                diagnostics: diags,
            };
        }
    };
    let plan = plan::plan(&cf, &mut diags);
    let role = host_role(&cf, &plan, opts, &mut diags);
    let mut config = lower::lower(&plan, role, &mut diags);
    crate::config::validate::validate(&mut config, opts, &mut diags);
    Loaded {
        config,
        diagnostics: diags,
    }
}

/// `--convert-lvs-cf=FILE`: the keepalived.conf text and the diagnostics (warnings for every
/// setting kept only as a comment, errors for lines piranha would refuse). `Err` only when the
/// file cannot be read.
pub fn convert_file(path: &Path) -> Result<(String, Diagnostics), std::io::Error> {
    let mut diags = Diagnostics::default();
    let p = path.to_string_lossy().into_owned();
    let cf = parse::read_file(&p, &mut diags)?;
    let plan = plan::plan(&cf, &mut diags);
    Ok((convert::convert(&cf, &plan), diags))
}
