//! The signal-driven dumps, in keepalived 2.2.7's layout so that existing parsers and
//! exporters keep working:
//!
//! | signal | file | keepalived source |
//! |---|---|---|
//! | USR1 (DATA) | `keepalived.data` | vrrp_data.c `dump_data_vrrp` |
//! | USR2 (STATS) | `keepalived.stats` | vrrp_print.c `vrrp_print_stats` |
//! | SIGRTMAX-1 (STATS_CLEAR) | `keepalived.stats`, then counters zeroed | same |
//! | SIGRTMIN+2 (JSON) | `keepalived.json` | vrrp_json.c `vrrp_json_dump` |
//!
//! Files go to `$TMPDIR` when it is absolute, else `/tmp` (keepalived `set_tmp_dir`), unless
//! `state_dump_file` / `stats_dump_file` / `json_dump_file` say otherwise (keepalived 2.3+
//! rules: an absolute name is used as it is, a name ending in `/` is a directory, a bare name
//! goes to the temporary directory).
//!
//! Files are written as keepalived's `fopen_safe` writes them (the CVE-2018-19044/19045
//! class): into a new file created with `O_CREAT|O_EXCL|O_NOFOLLOW` next to the target,
//! then renamed over it. Nothing at the target path is ever opened, so a planted symlink is
//! replaced, never followed, and a planted file is never truncated or written through a
//! descriptor someone else holds. The mode is 0666 less the umask (0644 by default, as keepalived; `-u` changes it).
//!
//! The VRRP sections are faithful line by line for what keepalived-rs implements (VMAC,
//! ipvlan, firewall, track_process, BFD lines are left out because those features are);
//! `Global definitions` lists the settings keepalived-rs has, under keepalived's names.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::model::{AuthType, Config, IpAddress, VrrpInstance};
use crate::vrrp::fsm::State;
use crate::vrrp::snapshot::InstanceSnapshot;
use crate::vrrp::timer::Version;

/// Which dump a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// USR1: `keepalived.data`.
    Data,
    /// USR2: `keepalived.stats`.
    Stats,
    /// STATS_CLEAR: `keepalived.stats`, then the counters are zeroed.
    StatsClear,
    /// JSON: `keepalived.json`.
    Json,
    /// USR1 with the checkers running: `keepalived_check.data`.
    CheckData,
}

impl Kind {
    /// The `global_defs` keyword that moves this file, and keepalived's file name.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Data => ("state_dump_file", "keepalived.data"),
            Kind::Stats | Kind::StatsClear => ("stats_dump_file", "keepalived.stats"),
            Kind::Json => ("json_dump_file", "keepalived.json"),
            Kind::CheckData => ("state_dump_file", "keepalived_check.data"),
        }
    }
}

/// keepalived's temporary directory: `$TMPDIR` if absolute, else `/tmp`.
pub fn tmp_dir() -> PathBuf {
    match std::env::var_os("TMPDIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        _ => PathBuf::from("/tmp"),
    }
}

/// Where `kind` is written for `cfg`.
pub fn path_for(cfg: &Config, kind: Kind) -> PathBuf {
    let (key, default) = kind.names();
    let tmp = tmp_dir();
    let path = match cfg.global.dump_files.get(key).map(String::as_str) {
        None | Some("") => return tmp.join(default),
        Some(s) if s.ends_with('/') => return Path::new(s).join(default),
        Some(s) if s.starts_with('/') => PathBuf::from(s),
        Some(s) => tmp.join(s.rsplit('/').next().unwrap_or(default)),
    };
    if kind != Kind::CheckData {
        return path;
    }
    // keepalived `open_dump_file("_check")`: the suffix goes before the extension.
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let (stem, ext) = name
        .rsplit_once('.')
        .map_or((name.as_str(), ""), |(s, e)| (s, e));
    let dotted = if ext.is_empty() {
        String::new()
    } else {
        format!(".{ext}")
    };
    path.with_file_name(format!("{stem}_check{dotted}"))
}

/// Writes `contents` to `path` without following or reusing anything already at `path`.
pub fn write_safely(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        tracing::warn!(
            "{} is a symbolic link: replacing it, not following it",
            path.display()
        );
    }
    let (tmp, mut file) = create_exclusive(path)?;
    let written = file
        .write_all(contents)
        .and_then(|()| file.set_permissions(std::fs::Permissions::from_mode(super::file_mode())))
        .and_then(|()| file.sync_data())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A new file `PATH.XXXXXX` (random suffix) created with O_EXCL|O_NOFOLLOW, mode 0600.
fn create_exclusive(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut last = std::io::Error::other("no temporary name");
    for _ in 0..8 {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{}", random_suffix()));
        let tmp = PathBuf::from(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn random_suffix() -> String {
    use std::io::Read as _;
    let mut b = [0u8; 6];
    let got = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if got.is_err() {
        // Still unique enough with O_EXCL behind it: a clash is retried.
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        b[..4].copy_from_slice(&n.to_le_bytes());
    }
    const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    b.iter()
        .map(|&x| SET[usize::from(x) % SET.len()] as char)
        .collect()
}

// ===== keepalived.stats =====

/// `keepalived.stats` (vrrp_print.c `vrrp_print_stats`, `_WITH_VRRP_AUTH_` build).
pub fn stats(insts: &[InstanceSnapshot]) -> String {
    let mut o = String::new();
    for i in insts {
        let c = &i.counters;
        let e = c.errors();
        let _ = writeln!(o, "VRRP Instance: {}", i.params.name);
        let _ = writeln!(o, "  Advertisements:");
        let _ = writeln!(o, "    Received: {}", c.adverts_rx);
        let _ = writeln!(o, "    Sent: {}", c.adverts_tx);
        let _ = writeln!(o, "  Became master: {}", c.became_master);
        let _ = writeln!(o, "  Released master: {}", c.released_master);
        let _ = writeln!(o, "  Packet Errors:");
        let _ = writeln!(o, "    Length: {}", e.packet_len_err);
        let _ = writeln!(o, "    TTL: {}", e.ip_ttl_err);
        let _ = writeln!(o, "    Invalid Type: {}", e.invalid_type_rcvd);
        let _ = writeln!(o, "    Advertisement Interval: {}", e.advert_interval_err);
        let _ = writeln!(o, "    Address List: {}", e.addr_list_err);
        let _ = writeln!(o, "  Authentication Errors:");
        let _ = writeln!(o, "    Invalid Type: {}", e.invalid_authtype);
        let _ = writeln!(o, "    Type Mismatch: {}", e.authtype_mismatch);
        let _ = writeln!(o, "    Failure: {}", e.auth_failure);
        let _ = writeln!(o, "  Priority Zero:");
        let _ = writeln!(o, "    Received: {}", c.pri_zero_rx);
        let _ = writeln!(o, "    Sent: {}", c.pri_zero_tx);
    }
    o
}

// ===== keepalived.json =====

/// keepalived's `VRRP_STATE_*` numbers.
fn state_code(s: State) -> u32 {
    match s {
        State::Init => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
        State::Stop => 98,
    }
}

/// A JSON string as keepalived's json_writer escapes it (`/` included).
fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '/' => o.push_str("\\/"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\u{8}' => o.push_str("\\b"),
            '\u{c}' => o.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", u32::from(c));
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// C's `%g` for the small non-negative values keepalived prints with it (whole numbers
/// print without a point; others with up to 6 significant digits).
fn g(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn secs_f64(t: Option<SystemTime>) -> f64 {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

fn vip_words(dev: &str, a: &IpAddress, set: bool) -> String {
    let mut s = format!("{}/{}", a.addr, a.prefix);
    if let Some(b) = &a.broadcast {
        let _ = write!(s, " brd {b}");
    }
    let _ = write!(s, " dev {dev}");
    let _ = write!(s, " scope {}", a.scope.as_deref().unwrap_or("global"));
    if let Some(l) = &a.label {
        let _ = write!(s, " label {l}");
    }
    if set {
        s.push_str(" set");
    }
    s
}

/// `keepalived.json` (vrrp_json.c, `json_version 1`): one object per instance.
pub fn json(cfg: &Config, insts: &[InstanceSnapshot]) -> String {
    let mut o = String::from("[");
    for (n, i) in insts.iter().enumerate() {
        let p = &i.params;
        let v = find(cfg, &p.name);
        if n > 0 {
            o.push(',');
        }
        let mut f: Vec<(&str, String)> = Vec::new();
        f.push(("iname", json_str(&p.name)));
        f.push((
            "dont_track_primary",
            u8::from(v.is_some_and(|v| v.dont_track_primary)).to_string(),
        ));
        f.push((
            "skip_check_adv_addr",
            u8::from(v.is_some_and(|v| v.skip_check_adv_addr)).to_string(),
        ));
        let strict = v
            .and_then(|v| v.strict_mode)
            .unwrap_or(cfg.global.vrrp_strict);
        f.push(("strict_mode", u8::from(strict).to_string()));
        f.push(("vmac_ifname", json_str("")));
        f.push(("ifp_ifname", json_str(&i.ifname)));
        f.push((
            "master_priority",
            i.master.map_or(0, |(_, pr)| pr.0).to_string(),
        ));
        f.push((
            "last_transition",
            format!("{:.6}", secs_f64(i.last_transition)),
        ));
        f.push(("garp_delay", g(p.garp.master_delay.0 as f64 / 1e6)));
        f.push((
            "garp_refresh",
            (p.garp.master_refresh.0 / 1_000_000).to_string(),
        ));
        f.push(("garp_rep", p.garp.master_repeat.to_string()));
        f.push(("garp_refresh_rep", p.garp.master_refresh_repeat.to_string()));
        f.push((
            "garp_lower_prio_delay",
            (p.garp.lower_prio_delay.0 / 1_000_000).to_string(),
        ));
        f.push(("garp_lower_prio_rep", p.garp.lower_prio_repeat.to_string()));
        f.push((
            "lower_prio_no_advert",
            u8::from(p.lower_prio_no_advert).to_string(),
        ));
        f.push((
            "higher_prio_send_advert",
            u8::from(p.higher_prio_send_advert).to_string(),
        ));
        f.push(("vrid", p.vrid.0.to_string()));
        f.push(("base_priority", p.base_priority.0.to_string()));
        f.push(("effective_priority", i.effective_priority.0.to_string()));
        f.push(("vipset", i.vips_set.to_string()));
        f.push((
            "promote_secondaries",
            v.is_some_and(|v| v.promote_secondaries).to_string(),
        ));
        f.push(("adver_int", g(f64::from(p.advert_int.0) / 100.0)));
        let madv = if i.master_adver_int.0 == 0 {
            p.advert_int
        } else {
            i.master_adver_int
        };
        f.push(("master_adver_int", g(f64::from(madv.0) / 100.0)));
        f.push(("accept", u8::from(p.accept).to_string()));
        f.push(("nopreempt", p.nopreempt.to_string()));
        f.push(("preempt_delay", (p.preempt_delay.0 / 1_000_000).to_string()));
        f.push(("state", state_code(i.state).to_string()));
        f.push(("wantstate", state_code(i.want).to_string()));
        f.push(("version", p.version.number().to_string()));
        let smtp = v
            .and_then(|v| v.smtp_alert)
            .or(cfg.global.smtp_alert)
            .unwrap_or(false);
        f.push(("smtp_alert", smtp.to_string()));
        f.push(("notify_deleted", "false".into()));
        let (vips, evips) = split_vips(v, &i.vips);
        if !vips.is_empty() {
            f.push(("vips", json_array(&vips, i.vips_set)));
        }
        if !evips.is_empty() {
            f.push(("evips", json_array(&evips, i.vips_set)));
        }
        let auth = v.and_then(|v| v.authentication.as_ref());
        let auth_type = match auth.and_then(|a| a.auth_type) {
            None => 0,
            Some(AuthType::Pass) => 1,
            Some(AuthType::Ah) => 2,
        };
        f.push(("auth_type", auth_type.to_string()));
        if auth_type != 0
            && let Some(pass) = auth.and_then(|a| a.auth_pass.as_ref())
        {
            f.push(("auth_data", json_str(&String::from_utf8_lossy(pass))));
        }
        let c = &i.counters;
        let e = c.errors();
        let stats: [(&str, u64); 14] = [
            ("advert_rcvd", c.adverts_rx),
            ("advert_sent", c.adverts_tx),
            ("become_master", c.became_master),
            ("release_master", c.released_master),
            ("packet_len_err", e.packet_len_err),
            ("advert_interval_err", e.advert_interval_err),
            ("ip_ttl_err", e.ip_ttl_err),
            ("invalid_type_rcvd", e.invalid_type_rcvd),
            ("addr_list_err", e.addr_list_err),
            ("invalid_authtype", e.invalid_authtype),
            ("authtype_mismatch", e.authtype_mismatch),
            ("auth_failure", e.auth_failure),
            ("pri_zero_rcvd", c.pri_zero_rx),
            ("pri_zero_sent", c.pri_zero_tx),
        ];
        o.push_str("{\"data\":{");
        let data: Vec<String> = f.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        o.push_str(&data.join(","));
        o.push_str("},\"stats\":{");
        let st: Vec<String> = stats.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        o.push_str(&st.join(","));
        o.push_str("}}");
    }
    o.push_str("]\n");
    o
}

fn json_array(items: &[&(String, IpAddress)], set: bool) -> String {
    let words: Vec<String> = items
        .iter()
        .map(|(dev, a)| json_str(&vip_words(dev, a, set)))
        .collect();
    format!("[{}]", words.join(","))
}

fn find<'a>(cfg: &'a Config, name: &str) -> Option<&'a VrrpInstance> {
    cfg.instances.iter().find(|v| v.name == name)
}

/// An address with the interface it goes on.
type Placed<'a> = &'a (String, IpAddress);

/// The snapshot's address list split back into VIPs and eVIPs (the engine keeps VIPs first).
fn split_vips<'a>(
    v: Option<&VrrpInstance>,
    all: &'a [(String, IpAddress)],
) -> (Vec<Placed<'a>>, Vec<Placed<'a>>) {
    let n = v.map_or(all.len(), |v| v.vips.len().min(all.len()));
    (all[..n].iter().collect(), all[n..].iter().collect())
}

// ===== keepalived.data =====

fn on_off(b: bool, on: &'static str, off: &'static str) -> &'static str {
    if b { on } else { off }
}

/// `ctime_r` without the newline, with microseconds after the seconds
/// (`Fri Nov 27 14:25:22.829506 2026`), in local time as keepalived prints it.
fn ctime_us(t: SystemTime) -> String {
    crate::clock::ctime_us(t)
}

fn global_section(o: &mut String, cfg: &Config) {
    let g = &cfg.global;
    let _ = writeln!(o, "------< Global definitions >------");
    let _ = writeln!(
        o,
        " Network namespace = {}",
        g.net_namespace.as_deref().unwrap_or("(default)")
    );
    if let Some(id) = &g.router_id {
        let _ = writeln!(o, " Router ID = {id}");
    }
    let alert = |b: Option<bool>| match b {
        None => "unset",
        Some(true) => "on",
        Some(false) => "off",
    };
    let _ = writeln!(o, " Default smtp_alert = {}", alert(g.smtp_alert));
    let _ = writeln!(o, " No test config before reload");
    let _ = writeln!(o, " Dynamic interfaces = {}", g.dynamic_interfaces);
    if let Some(i) = &g.default_interface {
        let _ = writeln!(o, " Default interface = {i}");
    }
    let _ = writeln!(o, " LVS flush = {}", g.lvs_flush);
    let _ = writeln!(o, " VRRP IPv4 mcast group = {}", g.vrrp_mcast_group4);
    let _ = writeln!(o, " VRRP IPv6 mcast group = {}", g.vrrp_mcast_group6);
    let gp = &g.garp;
    let _ = writeln!(
        o,
        " Gratuitous ARP delay = {}",
        gp.master_delay.0 / 1_000_000
    );
    let _ = writeln!(o, " Gratuitous ARP repeat = {}", gp.master_repeat);
    let _ = writeln!(
        o,
        " Gratuitous ARP refresh timer = {}",
        gp.master_refresh.0 / 1_000_000
    );
    let _ = writeln!(
        o,
        " Gratuitous ARP refresh repeat = {}",
        gp.master_refresh_repeat
    );
    let _ = writeln!(
        o,
        " Gratuitous ARP lower priority delay = {}",
        gp.lower_prio_delay.unwrap_or(gp.master_delay).0 / 1_000_000
    );
    let _ = writeln!(
        o,
        " Gratuitous ARP lower priority repeat = {}",
        gp.lower_prio_repeat.unwrap_or(gp.master_repeat)
    );
    let _ = writeln!(
        o,
        " Num adverts before down = {}",
        g.vrrp_down_timer_adverts
    );
    let _ = writeln!(
        o,
        " Send advert after receive lower priority advert = {}",
        !g.vrrp_lower_prio_no_advert
    );
    let _ = writeln!(
        o,
        " Send advert after receive higher priority advert = {}",
        g.vrrp_higher_prio_send_advert
    );
    let _ = writeln!(
        o,
        " Gratuitous ARP interval = {:.6}",
        g.vrrp_garp_interval.0 as f64 / 1e6
    );
    let _ = writeln!(
        o,
        " Gratuitous NA interval = {:.6}",
        g.vrrp_gna_interval.0 as f64 / 1e6
    );
    let _ = writeln!(o, " VRRP default protocol version = {}", g.vrrp_version);
    let _ = writeln!(o, " VRRP check unicast_src = {}", g.vrrp_check_unicast_src);
    let _ = writeln!(
        o,
        " VRRP skip check advert addresses = {}",
        g.vrrp_skip_check_adv_addr
    );
    let _ = writeln!(o, " VRRP strict mode = {}", g.vrrp_strict);
    let _ = writeln!(
        o,
        " Script security {}",
        on_off(g.enable_script_security, "enabled", "disabled")
    );
}

fn instance_section(o: &mut String, cfg: &Config, i: &InstanceSnapshot) {
    let p = &i.params;
    let v = find(cfg, &p.name);
    let v3 = p.version == Version::V3;
    let _ = writeln!(o, " VRRP Instance = {}", p.name);
    let _ = writeln!(o, "   VRRP Version = {}", p.version.number());
    if let Some(sg) = cfg
        .sync_groups
        .iter()
        .find(|g| g.members.iter().any(|(m, _)| *m == p.name))
    {
        let _ = writeln!(o, "   Sync group = {}", sg.name);
    }
    if i.ipv6 {
        let _ = writeln!(o, "   Using Native IPv6");
    }
    let _ = writeln!(o, "   State = {}", i.state);
    if i.state == State::Backup {
        if let Some((addr, prio)) = i.master {
            let _ = writeln!(o, "   Master router = {addr}");
            let _ = writeln!(o, "   Master priority = {}", prio.0);
        }
        if v3 {
            let _ = writeln!(
                o,
                "   Master advert int = {:.2} sec",
                f64::from(i.master_adver_int.0) / 100.0
            );
        }
    }
    let fault_no_peer = v.is_some_and(|v| v.unicast_fault_no_peer);
    if i.unicast || fault_no_peer {
        let _ = writeln!(o, "   Flags:");
        if i.unicast {
            let _ = writeln!(o, "     Using unicast");
        }
        if fault_no_peer {
            let _ = writeln!(o, "     If unicast go to fault state if no peers");
        }
    } else {
        let _ = writeln!(o, "   Flags: none");
    }
    let _ = writeln!(o, "   Wantstate = {}", i.want);
    if let Some(t) = i.last_transition
        && let Ok(d) = t.duration_since(UNIX_EPOCH)
    {
        let _ = writeln!(
            o,
            "   Last transition = {}.{:06} ({})",
            d.as_secs(),
            d.subsec_micros(),
            ctime_us(t)
        );
    }
    let _ = writeln!(
        o,
        "   Master down timer = {} usecs",
        i.master_down_interval.0
    );
    let _ = writeln!(o, "   Interface = {}", i.ifname);
    if v.is_some_and(|v| v.dont_track_primary) {
        let _ = writeln!(o, "   VRRP interface tracking disabled");
    }
    if v.is_some_and(|v| v.skip_check_adv_addr) {
        let _ = writeln!(o, "   Skip checking advert IP addresses");
    }
    if v.and_then(|v| v.strict_mode)
        .unwrap_or(cfg.global.vrrp_strict)
    {
        let _ = writeln!(o, "   Enforcing strict VRRP compliance");
    }
    let _ = writeln!(
        o,
        "   Using src_ip = {}{}",
        i.src
            .map_or_else(|| "(none)".to_string(), |a| a.to_string()),
        on_off(i.src_from_config, " (from configuration)", "")
    );
    if !i.unicast {
        let group: IpAddr = v.and_then(|v| v.mcast_dst_ip).unwrap_or(if i.ipv6 {
            cfg.global.vrrp_mcast_group6
        } else {
            cfg.global.vrrp_mcast_group4
        });
        let _ = writeln!(o, "   Multicast address {group}");
    }
    let gp = &p.garp;
    let _ = writeln!(
        o,
        "   Gratuitous ARP delay = {}",
        gp.master_delay.0 / 1_000_000
    );
    let _ = writeln!(o, "   Gratuitous ARP repeat = {}", gp.master_repeat);
    let _ = writeln!(
        o,
        "   Gratuitous ARP refresh = {}",
        gp.master_refresh.0 / 1_000_000
    );
    let _ = writeln!(
        o,
        "   Gratuitous ARP refresh repeat = {}",
        gp.master_refresh_repeat
    );
    let _ = writeln!(
        o,
        "   Gratuitous ARP lower priority delay = {}",
        gp.lower_prio_delay.0 / 1_000_000
    );
    let _ = writeln!(
        o,
        "   Gratuitous ARP lower priority repeat = {}",
        gp.lower_prio_repeat
    );
    let _ = writeln!(o, "   Down timer adverts = {}", p.down_timer_adverts);
    let _ = writeln!(
        o,
        "   Send advert after receive lower priority advert = {}",
        !p.lower_prio_no_advert
    );
    let _ = writeln!(
        o,
        "   Send advert after receive higher priority advert = {}",
        p.higher_prio_send_advert
    );
    let _ = writeln!(o, "   Virtual Router ID = {}", p.vrid.0);
    let _ = writeln!(o, "   Priority = {}", p.base_priority.0);
    let _ = writeln!(o, "   Effective priority = {}", i.effective_priority.0);
    let _ = writeln!(o, "   Total priority = {}", i.effective_priority.0);
    if v3 {
        let _ = writeln!(o, "   Advert interval = {} milli-sec", p.advert_int.0 * 10);
    } else {
        let _ = writeln!(o, "   Advert interval = {} sec", p.advert_int.0 / 100);
    }
    if i.state == State::Backup && v3 {
        let _ = writeln!(
            o,
            "   Master advert interval = {} milli-sec",
            i.master_adver_int.0 * 10
        );
    }
    let _ = writeln!(o, "   Accept = {}", on_off(p.accept, "enabled", "disabled"));
    let _ = writeln!(
        o,
        "   Preempt = {}",
        on_off(p.nopreempt, "disabled", "enabled")
    );
    if p.preempt_delay.0 != 0 {
        let _ = writeln!(
            o,
            "   Preempt delay = {} secs",
            g(p.preempt_delay.0 as f64 / 1e6)
        );
    }
    let _ = writeln!(
        o,
        "   Promote_secondaries = {}",
        on_off(
            v.is_some_and(|v| v.promote_secondaries),
            "enabled",
            "disabled"
        )
    );
    match v.and_then(|v| v.authentication.as_ref()) {
        Some(a) if a.auth_type.is_some() => {
            let ah = a.auth_type == Some(AuthType::Ah);
            let _ = writeln!(
                o,
                "   Authentication type = {}",
                on_off(ah, "IPSEC_AH", "SIMPLE_PASSWORD")
            );
            if !ah && let Some(pass) = &a.auth_pass {
                let _ = writeln!(o, "   Password = {}", String::from_utf8_lossy(pass));
            }
        }
        _ if !v3 => {
            let _ = writeln!(o, "   Authentication type = none");
        }
        _ => {}
    }
    let (vips, evips) = split_vips(v, &i.vips);
    if !vips.is_empty() {
        let _ = writeln!(o, "   Virtual IP ({}):", vips.len());
        for (dev, a) in &vips {
            let _ = writeln!(o, "     {}", vip_words(dev, a, i.vips_set));
        }
    }
    if !evips.is_empty() {
        let _ = writeln!(o, "   Virtual IP Excluded :");
        for (dev, a) in &evips {
            let _ = writeln!(o, "     {}", vip_words(dev, a, i.vips_set));
        }
    }
    if i.unicast
        && let Some(v) = v
    {
        if let Some(ttl) = v.unicast_ttl {
            let _ = writeln!(o, "   Unicast TTL = {ttl}");
        }
        let _ = writeln!(
            o,
            "   Check unicast src : {}",
            on_off(
                v.check_unicast_src || cfg.global.vrrp_check_unicast_src,
                "yes",
                "no"
            )
        );
        let _ = writeln!(o, "   Unicast Peer :");
        for peer in &v.unicast_peers {
            let _ = writeln!(o, "     {}", peer.addr);
        }
    }
    let smtp = v
        .and_then(|v| v.smtp_alert)
        .or(cfg.global.smtp_alert)
        .unwrap_or(false);
    let _ = writeln!(
        o,
        "   Using smtp notification = {}",
        on_off(smtp, "yes", "no")
    );
    let _ = writeln!(o, "   Notify deleted = Fault");
    let npc = v.and_then(|v| v.notify_priority_changes).unwrap_or(false);
    let _ = writeln!(o, "   Notify priority changes = {npc}");
    // keepalived-rs: each discarded advert counted by its reason (packet::Discard), after
    // keepalived's fields so that parsers of keepalived's layout are not disturbed.
    for (reason, n) in &i.counters.discards {
        let _ = writeln!(o, "   Discarded {reason} = {n}");
    }
}

fn sync_groups_section(o: &mut String, cfg: &Config, insts: &[InstanceSnapshot]) {
    if cfg.sync_groups.is_empty() {
        return;
    }
    let _ = writeln!(o, "------< VRRP Sync groups >------");
    for sg in &cfg.sync_groups {
        let states: Vec<State> = sg
            .members
            .iter()
            .filter_map(|(m, _)| insts.iter().find(|i| i.params.name == *m))
            .map(|i| i.state)
            .collect();
        let state = states.first().copied().unwrap_or(State::Init);
        let faults = states.iter().filter(|s| **s == State::Fault).count();
        let inits = states.iter().filter(|s| **s == State::Init).count();
        let _ = writeln!(o, " VRRP Sync Group = {}, {state}", sg.name);
        let _ = writeln!(o, "   Num member fault {faults}, num member init {inits}");
        let _ = writeln!(o, "   VRRP member instances :");
        for (m, _) in &sg.members {
            let _ = writeln!(o, "     {m}");
        }
        let smtp = sg.smtp_alert.or(cfg.global.smtp_alert).unwrap_or(false);
        let _ = writeln!(
            o,
            "   Using smtp notification = {}",
            on_off(smtp, "yes", "no")
        );
    }
}

fn interfaces_section(o: &mut String, insts: &[InstanceSnapshot]) {
    let links = crate::vrrp::engine::read_links();
    if links.is_empty() {
        return;
    }
    let _ = writeln!(o, "------< Interfaces >------");
    let mut links: Vec<_> = links.into_iter().collect();
    links.sort_by_key(|(_, l)| l.index);
    for (name, l) in links {
        let _ = writeln!(o, " Name = {name}");
        let _ = writeln!(o, "   index = {}", l.index);
        let v4 = l.v4.first().map_or("(none)".into(), |a| a.to_string());
        let _ = writeln!(o, "   IPv4 address = {v4}");
        let v6 =
            l.v6.iter()
                .find(|a| (a.segments()[0] & 0xffc0) == 0xfe80)
                .or(l.v6.first())
                .map_or("(none)".into(), |a| a.to_string());
        let _ = writeln!(o, "   IPv6 address = {v6}");
        let _ = writeln!(o, "   State = {}", on_off(l.up, "UP, RUNNING", "DOWN"));
        let tracking: Vec<&InstanceSnapshot> = insts.iter().filter(|i| i.ifname == name).collect();
        // keepalived-rs: adverts discarded on this interface before an instance was found.
        if let Some(i) = tracking.first() {
            for (reason, n) in &i.if_discards {
                let _ = writeln!(o, "   Discarded {reason} = {n}");
            }
        }
        if !tracking.is_empty() {
            let _ = writeln!(o, "   Tracking VRRP instances :");
            for i in tracking {
                let _ = writeln!(o, "     {}, weight 0", i.params.name);
            }
        }
    }
}

/// `keepalived.data` (vrrp_data.c `dump_data_vrrp`).
pub fn data(cfg: &Config, insts: &[InstanceSnapshot]) -> String {
    let mut o = String::new();
    global_section(&mut o, cfg);
    if !cfg.static_addresses.is_empty() {
        let _ = writeln!(o, "------< Static Addresses >------");
        for a in &cfg.static_addresses {
            let dev = a.dev.as_deref().unwrap_or("(none)");
            let _ = writeln!(o, " {}", vip_words(dev, a, false));
        }
    }
    if !insts.is_empty() {
        let _ = writeln!(o, "------< VRRP Topology >------");
        for i in insts {
            instance_section(&mut o, cfg, i);
        }
    }
    sync_groups_section(&mut o, cfg, insts);
    if !cfg.vrrp_scripts.is_empty() {
        let _ = writeln!(o, "------< VRRP Scripts >------");
        for s in &cfg.vrrp_scripts {
            let _ = writeln!(o, " VRRP Script = {}", s.name);
        }
    }
    interfaces_section(&mut o, insts);
    o
}

// ===== keepalived_check.data =====

/// The kernel's IPVS counters for the check dump, or why there are none.
pub type Counters<'a> = Result<&'a crate::ipvs::KernelTable, &'a str>;

/// keepalived's `format_decimal(val, TIMER_HZ_DIGITS)`: microseconds as seconds with six
/// decimals.
fn secs6(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn proto_name(p: crate::config::model::Protocol) -> &'static str {
    use crate::config::model::Protocol;
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// check_data.c `dump_forwarding_method` (built with tunnel types and checksum flags, as
/// Debian's 2.2.7 is). keepalived leaves `prefix` out of the GUE and GRE lines; so do we.
fn forwarding_line(o: &mut String, prefix: &str, f: &crate::config::model::Forwarding) {
    use crate::config::model::{Forwarding, TunCsum, TunType};
    let m = "forwarding method = ";
    match f {
        Forwarding::Nat => {
            let _ = writeln!(o, "   {prefix}{m}NAT");
        }
        Forwarding::Dr => {
            let _ = writeln!(o, "   {prefix}{m}DR");
        }
        Forwarding::Tun { kind, port, csum } => {
            let csum = match csum {
                None | Some(TunCsum::NoCsum) => ", no checksum",
                Some(TunCsum::Csum) => ", checksum",
                Some(TunCsum::RemCsum) => ", remote checksum",
            };
            match kind {
                None | Some(TunType::Ipip) => {
                    let _ = writeln!(o, "   {prefix}{m}TUN, type = IPIP");
                }
                Some(TunType::Gue) => {
                    let _ = writeln!(
                        o,
                        "   {m}TUN, type = GUE, port = {}{csum}",
                        port.unwrap_or(0)
                    );
                }
                Some(TunType::Gre) => {
                    let _ = writeln!(o, "   {m}TUN, type = GRE{csum}");
                }
            }
        }
    }
}

/// keepalived `cmd_str` and the uid:gid the script runs as (its own `user`, else
/// `script_user`, else `keepalived_script` if it exists, else ours).
fn script_words(cfg: &Config, c: &crate::config::model::Command) -> String {
    let lookup = crate::vrrp::notify::lookup_user;
    let ids = match (&c.user, &cfg.global.script_user) {
        (Some(u), _) => lookup(u, c.group.as_deref()),
        (None, Some((u, g))) => lookup(u, g.as_deref()),
        (None, None) => lookup("keepalived_script", None),
    }
    .unwrap_or((
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    ));
    format!("{}, uid:gid {}:{}", c.args.join(" "), ids.0, ids.1)
}

fn vs_family_line(cfg: &Config, vs: &crate::config::model::VirtualServer) -> &'static str {
    use crate::config::model::{Family, VsAddress, VsGroupEntry};
    let of = |a: IpAddr| {
        if a.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    };
    let fam = match &vs.address {
        VsAddress::Ip { addr, .. } => of(*addr),
        _ if vs.ip_family != Family::Unspecified => vs.ip_family,
        _ => vs
            .sorry_server
            .map(|(a, _)| of(a))
            .or_else(|| vs.real_servers.first().map(|r| of(r.addr)))
            .unwrap_or(Family::Unspecified),
    };
    match fam {
        Family::Inet => "inet",
        Family::Inet6 => "inet6",
        Family::Unspecified => {
            let group = match &vs.address {
                VsAddress::Group(g) => cfg.vs_groups.iter().find(|x| x.name == *g),
                _ => None,
            };
            let fams: Vec<bool> = group
                .into_iter()
                .flat_map(|g| &g.entries)
                .map(|(e, _)| match e {
                    VsGroupEntry::Range { first, .. } => first.is_ipv4(),
                    VsGroupEntry::Fwmark { family, .. } => *family != Family::Inet6,
                })
                .collect();
            if fams.contains(&true) && fams.contains(&false) {
                "IPv4 & IPv6"
            } else {
                "unknown"
            }
        }
    }
}

/// check_data.c `dump_vsg`, without the per-entry `Alive:` and `reloaded` lines
/// (keepalived-rs keeps no per-entry state).
fn vs_group_section(o: &mut String, g: &crate::config::model::VsGroup) {
    use crate::config::model::{Family, VsGroupEntry};
    let v4 = g.entries.iter().any(|(e, _)| match e {
        VsGroupEntry::Range { first, .. } => first.is_ipv4(),
        VsGroupEntry::Fwmark { family, .. } => *family != Family::Inet6,
    });
    let v6 = g.entries.iter().any(|(e, _)| match e {
        VsGroupEntry::Range { first, .. } => first.is_ipv6(),
        VsGroupEntry::Fwmark { family, .. } => *family == Family::Inet6,
    });
    let _ = writeln!(o, " ------< Virtual server group >------");
    let _ = writeln!(
        o,
        " Virtual Server Group = {}, IPv4 = {}, IPv6 = {}",
        g.name,
        on_off(v4, "yes", "no"),
        on_off(v6, "yes", "no")
    );
    for (e, _) in &g.entries {
        match e {
            VsGroupEntry::Range { first, last, port } if first != last => {
                let _ = writeln!(o, "   VIP Range = {first}-{last}, VPORT = {port}");
            }
            VsGroupEntry::Range { first, port, .. } => {
                let _ = writeln!(o, "   VIP = {first}, VPORT = {port}");
            }
            VsGroupEntry::Fwmark { mark, family } => {
                let f = match family {
                    Family::Inet => " IPv4",
                    Family::Inet6 => " IPv6",
                    Family::Unspecified => "",
                };
                let _ = writeln!(o, "   FWMARK = {mark}{f}");
            }
        }
    }
}

/// check_data.c `dump_vs` (and `dump_rs` for each real server).
fn vs_section(
    o: &mut String,
    cfg: &Config,
    vs: &crate::config::model::VirtualServer,
    live: Option<&crate::check::snapshot::VsHealth>,
) {
    use crate::config::model::VsAddress;
    let _ = writeln!(o, " ------< Virtual server >------");
    match &vs.address {
        VsAddress::Group(_) => {
            let _ = writeln!(o, " VS GROUP = {}", crate::check::plan::vs_name(vs));
        }
        VsAddress::Fwmark { mark, .. } => {
            let _ = writeln!(o, " VS FWMARK = {mark}");
        }
        VsAddress::Ip { addr, port } => {
            let _ = writeln!(o, " VS VIP = {addr}, VPORT = {port}");
        }
    }
    if let Some(h) = &vs.virtualhost {
        let _ = writeln!(o, "   VirtualHost = {h}");
    }
    let _ = writeln!(o, "   Address family = {}", vs_family_line(cfg, vs));
    let t = &vs.timing;
    let _ = writeln!(
        o,
        "   connection timeout = {}",
        secs6(t.connect_timeout.map_or(5_000_000, |m| m.0))
    );
    let _ = writeln!(
        o,
        "   delay_loop = {}",
        secs6(t.delay_loop.map_or(60_000_000, |m| m.0))
    );
    let _ = writeln!(o, "   lvs_sched = {}", vs.scheduler);
    let flag = |names: &[&str]| {
        on_off(
            vs.sched_flags.iter().any(|f| names.contains(&f.as_str())),
            "enabled",
            "disabled",
        )
    };
    let _ = writeln!(o, "   Hashed = {}", flag(&["hashed"]));
    match vs.scheduler.as_str() {
        "sh" => {
            let _ = writeln!(o, "   sh-port = {}", flag(&["sh-port", "flag-1"]));
            let _ = writeln!(o, "   sh-fallback = {}", flag(&["sh-fallback", "flag-2"]));
        }
        "mh" => {
            let _ = writeln!(o, "   mh-port = {}", flag(&["mh-port", "flag-2"]));
            let _ = writeln!(o, "   mh-fallback = {}", flag(&["mh-fallback", "flag-1"]));
        }
        _ => {
            let _ = writeln!(
                o,
                "   flag-1 = {}",
                flag(&["flag-1", "sh-port", "mh-fallback"])
            );
            let _ = writeln!(
                o,
                "   flag-2 = {}",
                flag(&["flag-2", "sh-fallback", "mh-port"])
            );
            let _ = writeln!(o, "   flag-3 = {}", flag(&["flag-3"]));
        }
    }
    let ops = vs.sched_flags.iter().any(|f| f == "ops");
    let _ = writeln!(
        o,
        "   One packet scheduling = {}{}",
        on_off(ops, "enabled", "disabled"),
        on_off(
            ops && vs.protocol != crate::config::model::Protocol::Udp,
            " (inactive due to not UDP)",
            ""
        )
    );
    // keepalived: a granularity without a timeout gets the default timeout (360 s).
    let timeout = vs
        .persistence_timeout
        .or(vs.persistence_granularity.as_ref().map(|_| 360));
    if let Some(t) = timeout.filter(|t| *t != 0) {
        let _ = writeln!(o, "   persistence timeout = {t}");
    }
    if let Some(g) = &vs.persistence_granularity {
        let _ = writeln!(o, "   persistence granularity = {g}");
    }
    let _ = writeln!(
        o,
        "   protocol = {}",
        proto_name(vs.protocol).to_uppercase()
    );
    let _ = writeln!(o, "   alpha is {}", on_off(vs.alpha, "ON", "OFF"));
    let _ = writeln!(o, "   omega is {}", on_off(vs.omega, "ON", "OFF"));
    if let Some(r) = t.retry {
        let _ = writeln!(o, "   Retry count = {r}");
    }
    if let Some(d) = t.delay_before_retry {
        let _ = writeln!(o, "   Retry delay = {}", secs6(d.0));
    }
    if let Some(w) = t.warmup {
        let _ = writeln!(o, "   Warmup = {}", secs6(w.0));
    }
    let _ = writeln!(
        o,
        "   Inhibit on failure is {}",
        on_off(vs.inhibit_on_failure, "ON", "OFF")
    );
    let (quorum, hysteresis) =
        live.map_or((vs.quorum, vs.hysteresis), |l| (l.quorum, l.hysteresis));
    let _ = writeln!(o, "   quorum = {quorum}, hysteresis = {hysteresis}");
    if let Some(c) = &vs.quorum_up {
        let _ = writeln!(o, "   Quorum up notify script = {}", script_words(cfg, c));
    }
    if let Some(c) = &vs.quorum_down {
        let _ = writeln!(o, "   Quorum down notify script = {}", script_words(cfg, c));
    }
    if vs.ha_suspend {
        let _ = writeln!(o, "   Using HA suspend");
    }
    let _ = writeln!(
        o,
        "   Using smtp notification = {}",
        on_off(crate::alert::Alerter::vs_wants(cfg, vs), "yes", "no")
    );
    forwarding_line(o, "default ", &vs.forwarding);
    if let Some((addr, port)) = vs.sorry_server {
        let dup = vs
            .real_servers
            .iter()
            .any(|r| r.addr == addr && r.port == port);
        let _ = writeln!(
            o,
            "   sorry server {}= [{addr}]:{}:{port}",
            on_off(dup, "(duplicates rs) ", ""),
            proto_name(vs.protocol)
        );
        let fwd = vs
            .sorry_server_forwarding
            .as_ref()
            .unwrap_or(&vs.forwarding);
        forwarding_line(o, "  ", fwd);
        let _ = writeln!(
            o,
            "     Inhibit on failure is {}",
            on_off(vs.sorry_server_inhibit, "ON", "OFF")
        );
    }
    if let Some(l) = live {
        // keepalived 2.2.7 never sets a virtual server's `alive` (only a reload copies it),
        // so its dump always shows 0 here; we show the same.
        let _ = writeln!(o, "   alive = 0");
        let _ = writeln!(o, "   quorum_state_up = {}", u8::from(l.quorum_up));
        let _ = writeln!(o, "   reloaded = {}", u8::from(l.reloaded));
    }
    for (r, rs) in vs.real_servers.iter().enumerate() {
        rs_section(o, cfg, vs, rs, live.and_then(|l| l.real_servers.get(r)));
    }
}

/// check_data.c `dump_rs`.
fn rs_section(
    o: &mut String,
    cfg: &Config,
    vs: &crate::config::model::VirtualServer,
    rs: &crate::config::model::RealServer,
    live: Option<&crate::check::snapshot::RsHealth>,
) {
    use crate::check::proto::pool::real_weight;
    let eff = live.map_or(i64::from(rs.weight), |l| l.effective_weight);
    let _ = writeln!(o, "   ------< Real server >------");
    let _ = writeln!(
        o,
        "   RIP = {}, RPORT = {}, WEIGHT = {} EFF WEIGHT = {eff}",
        rs.addr,
        rs.port,
        real_weight(eff)
    );
    forwarding_line(o, "", rs.forwarding.as_ref().unwrap_or(&vs.forwarding));
    let _ = writeln!(
        o,
        "   Alpha is {}",
        on_off(rs.alpha.unwrap_or(vs.alpha), "ON", "OFF")
    );
    let rt = rs.timing.as_deref().copied().unwrap_or_default();
    let vt = &vs.timing;
    let _ = writeln!(
        o,
        "   connection timeout = {}",
        secs6(
            rt.connect_timeout
                .or(vt.connect_timeout)
                .map_or(5_000_000, |m| m.0)
        )
    );
    let _ = writeln!(
        o,
        "   connection limit range = {} -> {}",
        rs.lthreshold.unwrap_or(0),
        rs.uthreshold.unwrap_or(0)
    );
    let _ = writeln!(
        o,
        "   Delay loop = {}",
        secs6(rt.delay_loop.or(vt.delay_loop).map_or(60_000_000, |m| m.0))
    );
    if let Some(r) = rt.retry.or(vt.retry) {
        let _ = writeln!(o, "   Retry count = {r}");
    }
    if let Some(d) = rt.delay_before_retry.or(vt.delay_before_retry) {
        let _ = writeln!(o, "   Retry delay = {}", secs6(d.0));
    }
    if let Some(w) = rt.warmup.or(vt.warmup) {
        let _ = writeln!(o, "   Warmup = {}", secs6(w.0));
    }
    let inhibit = rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure);
    let _ = writeln!(
        o,
        "   Inhibit on failure is {}",
        on_off(inhibit, "ON", "OFF")
    );
    if let Some(c) = &rs.notify_up {
        let _ = writeln!(o, "     RS up notify script = {}", script_words(cfg, c));
    }
    if let Some(c) = &rs.notify_down {
        let _ = writeln!(o, "     RS down notify script = {}", script_words(cfg, c));
    }
    if let Some(h) = &rs.virtualhost {
        let _ = writeln!(o, "    VirtualHost = '{h}'");
    }
    let _ = writeln!(
        o,
        "   Using smtp notification = {}",
        on_off(crate::alert::Alerter::rs_wants(cfg, rs), "yes", "no")
    );
    let _ = writeln!(o, "   initial weight = {}", rs.weight);
    if let Some(l) = live {
        let _ = writeln!(o, "   effective weight = {}", l.effective_weight);
        let _ = writeln!(
            o,
            "   previous effective_weight = {}",
            l.previous_effective_weight
        );
        let _ = writeln!(o, "   alive = {}", u8::from(l.alive));
        let _ = writeln!(o, "   num failed checkers = {}", l.failed_checkers);
        let _ = writeln!(o, "   RS set = {}", u8::from(l.set));
        let _ = writeln!(o, "   reloaded = {}", u8::from(l.reloaded));
    }
}

/// check_api.c `dump_checker` and each checker's own dump function.
fn checker_section(
    o: &mut String,
    vs_name: &str,
    rs_name: &str,
    c: &crate::check::snapshot::CheckerHealth,
) {
    use crate::check::plan::ProbeKind;
    use crate::check::proto::checker::Flavor;
    let spec = &c.spec;
    let yes = |b: bool| on_off(b, "yes", "no");
    let _ = writeln!(o, " {vs_name} -> {rs_name}");
    let _ = writeln!(o, "   Enabled = {}", yes(c.enabled));
    let _ = writeln!(o, "   Up = {}", yes(c.up));
    let _ = writeln!(o, "   Has run = {}", yes(c.has_run));
    let _ = writeln!(o, "   Current weight = {}", c.cur_weight);
    let file = matches!(spec.kind, ProbeKind::File { .. });
    if !file {
        let t = &spec.timing;
        let _ = writeln!(o, "   Alpha = {}", yes(spec.alpha));
        let _ = writeln!(o, "   Delay loop = {} us", t.delay_loop.0);
        let _ = writeln!(o, "   Warmup = {} us", t.warmup.0);
        let _ = writeln!(o, "   Retries = {}", t.retry);
        if t.retry != 0 {
            let _ = writeln!(o, "   Delay before retry = {} us", t.delay_before_retry.0);
        }
        // The checker defaults keepalived-rs's configuration applies (config lowering).
        let default_dbr: u64 = match spec.kind {
            ProbeKind::Http { .. } => 3_000_000,
            ProbeKind::Dns { .. } => 0,
            _ => 1_000_000,
        };
        let _ = writeln!(o, "   Default delay before retry = {default_dbr} us");
    }
    let _ = writeln!(o, "   Log all failures = {}", yes(spec.log_all_failures));
    if !matches!(spec.kind, ProbeKind::Misc { .. } | ProbeKind::File { .. }) {
        let _ = writeln!(o, "   Connection");
        let _ = writeln!(
            o,
            "     Dest = {}",
            crate::check::proto::pool::fmt_addr(spec.target.ip(), spec.target.port())
        );
        if let Some(b) = &spec.bind {
            if let Some(a) = b.bindto {
                let _ = writeln!(
                    o,
                    "     Bind to = {}",
                    crate::check::proto::pool::fmt_addr(a, b.bind_port.unwrap_or(0))
                );
            }
            if let Some(i) = &b.bind_if {
                let _ = writeln!(o, "     Bind i/f = {i}");
            }
            if let Some(m) = b.fwmark.filter(|m| *m != 0) {
                let _ = writeln!(o, "     Mark = {m}");
            }
        }
        let _ = writeln!(
            o,
            "     Timeout = {:.6}",
            spec.connect_timeout.0 as f64 / 1e6
        );
    }
    match &spec.kind {
        ProbeKind::Tcp => {
            let _ = writeln!(o, "   Keepalive method = TCP_CHECK");
        }
        ProbeKind::Ping => {
            let _ = writeln!(o, "   Keepalive method = PING_CHECK");
        }
        ProbeKind::Http {
            tls,
            protocol,
            urls,
        } => {
            use crate::check::proto::http::{HttpProtocol, hex};
            let _ = writeln!(
                o,
                "   Keepalive method = {}_GET, http protocol {}",
                on_off(tls.is_some(), "SSL", "HTTP"),
                match protocol {
                    HttpProtocol::V1_0 => "1.0",
                    HttpProtocol::V1_0C => "1.0C",
                    HttpProtocol::V1_1 => "1.1",
                }
            );
            let sni = tls.as_ref().is_some_and(|t| t.sni.is_some());
            let _ = writeln!(o, "   Enable SNI {}", on_off(sni, "set", "unset"));
            let fast = matches!(
                spec.flavor,
                Flavor::Http {
                    fast_recovery: true,
                    ..
                }
            );
            let _ = writeln!(o, "   Fast recovery {}", on_off(fast, "set", "unset"));
            for u in urls.iter() {
                let _ = writeln!(o, "   Checked url = {}", u.path);
                if let Some(d) = &u.digest {
                    let _ = writeln!(o, "     digest = {}", hex(d));
                }
                let _ = writeln!(o, "     HTTP Status Code(s)");
                for (a, b) in status_ranges(&u.status_codes) {
                    if a == b {
                        let _ = writeln!(o, "       {a}");
                    } else {
                        let _ = writeln!(o, "       {a}-{b}");
                    }
                }
                if let Some(h) = &u.virtualhost {
                    let _ = writeln!(o, "     Virtual host = {h}");
                }
                if let Some(r) = &u.regex {
                    let _ = writeln!(o, "     Regex = \"{}\"", r.as_str());
                    if u.regex_no_match {
                        let _ = writeln!(o, "     Regex no match");
                    }
                }
            }
        }
        ProbeKind::Udp { payload, reply } => {
            let _ = writeln!(o, "   Keepalive method = UDP_CHECK");
            if payload.is_empty() {
                let _ = writeln!(o, "   Payload specified = no");
            } else {
                let _ = writeln!(o, "   Payload len = {}", payload.len());
            }
            let _ = writeln!(o, "   Require reply = {}", yes(reply.is_some()));
            if let Some(r) = reply {
                let _ = writeln!(o, "     Min reply length = {}", r.min_len);
                let _ = writeln!(o, "     Max reply length = {}", r.max_len);
                let len = r.pattern.as_ref().map_or(0, |p| p.data.len());
                let _ = writeln!(o, "     Reply data len = {len}");
                if let Some(p) = &r.pattern {
                    let mask = p.care.iter().any(|c| *c != 0xff);
                    let _ = writeln!(o, "     Reply data mask = {}", yes(mask));
                }
            }
        }
        ProbeKind::Dns { name, qtype } => {
            let _ = writeln!(o, "   Keepalive method = DNS_CHECK");
            let _ = writeln!(o, "   Type = {}", format!("{qtype:?}").to_uppercase());
            let _ = writeln!(o, "   Name = {name}");
        }
        ProbeKind::Smtp { helo } => {
            let _ = writeln!(o, "   Keepalive method = SMTP_CHECK");
            let _ = writeln!(o, "   helo = {helo}");
        }
        ProbeKind::Misc {
            command,
            timeout,
            dynamic,
            prepared,
            ..
        } => {
            let _ = writeln!(o, "   Keepalive method = MISC_CHECK");
            let _ = writeln!(o, "   script = {}", command.args.join(" "));
            let _ = writeln!(o, "   timeout = {}", timeout.0 / 1_000_000);
            let _ = writeln!(o, "   dynamic = {}", on_off(*dynamic, "YES", "NO"));
            if let Some(p) = prepared {
                let _ = writeln!(o, "   uid:gid = {}:{}", p.script.uid, p.script.gid);
            }
        }
        ProbeKind::File { path, .. } => {
            let _ = writeln!(o, "   Keepalive method = FILE_CHECK");
            let _ = writeln!(o, "     Tracked file = {path}");
            let _ = writeln!(o, "     Reloaded = No");
        }
    }
}

/// Accepted status codes as keepalived prints its bitmap: sorted, merged ranges (none
/// configured: 200-299).
fn status_ranges(codes: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut v: Vec<(u16, u16)> = if codes.is_empty() {
        vec![(200, 299)]
    } else {
        codes.to_vec()
    };
    v.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn stats_lines(o: &mut String, indent: &str, s: &crate::ipvs::Stats) {
    let _ = writeln!(
        o,
        "{indent}Conns = {}, InPkts = {}, OutPkts = {}, InBytes = {}, OutBytes = {}",
        s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes
    );
    let _ = writeln!(
        o,
        "{indent}CPS = {}, InPPS = {}, OutPPS = {}, InBPS = {}, OutBPS = {}",
        s.cps, s.inpps, s.outpps, s.inbps, s.outbps
    );
}

/// keepalived-rs's own section: the kernel's counters for each service of each configured
/// virtual server and for each of its destinations (keepalived serves these over SNMP only,
/// KEEPALIVED-MIB `virtualServerStats*` / `realServerStats*`). Names follow `ipvsadm --stats
/// --rate` and `ipvsadm -Ln --persistent-conn`.
fn counters_section(o: &mut String, cfg: &Config, counters: Counters<'_>) {
    let _ = writeln!(o, "------< IPVS counters >------");
    let kt = match counters {
        Ok(kt) => kt,
        Err(why) => {
            let _ = writeln!(o, " Not available: {why}");
            return;
        }
    };
    for vs in &cfg.virtual_servers {
        let name = crate::check::plan::vs_name(vs);
        for (key, _) in crate::ipvs::desired::vs_services(cfg, vs) {
            let _ = writeln!(o, " VS = {name}, service {key}");
            let Some(s) = kt.service_stats.get(&key) else {
                let _ = writeln!(o, "   Not in the kernel's table");
                continue;
            };
            stats_lines(o, "   ", s);
            for ((_, dk), (conns, st)) in kt
                .dest_stats
                .range((key, DEST_MIN)..)
                .take_while(|((k, _), _)| *k == key)
            {
                let _ = writeln!(o, "   RS = {dk}");
                let _ = writeln!(
                    o,
                    "     ActiveConn = {}, InActConn = {}, PersistConn = {}",
                    conns.active, conns.inactive, conns.persistent
                );
                stats_lines(o, "     ", st);
            }
        }
    }
}

/// The smallest destination key, to range over one service's destinations.
const DEST_MIN: crate::ipvs::desired::DestKey = crate::ipvs::desired::DestKey {
    addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    port: 0,
};

/// `keepalived_check.data` (check_data.c `dump_data_check`), line for line as far as
/// keepalived-rs has the data, with the checkers' live state from `health` (when the
/// checkers answered; without it the live lines are left out) and, after keepalived's
/// sections, keepalived-rs's `IPVS counters` section. The virtual servers are those of
/// `health`'s configuration when there is one (its indices follow it), else `cfg`'s.
///
/// Left out for want of the data: the virtual server group entries' `Alive:` and
/// `reloaded` lines, the checkers' `Retries iterations`, `Last errno`, HTTP's checker-level
/// `Virtualhost` and `Failed URL`, the regex options lines, MISC_CHECK's `Last ran` and
/// `Last status`, and the track file / BFD sections.
pub fn check_data(
    cfg: &Config,
    health: Option<&crate::check::snapshot::HealthSnapshot>,
    counters: Counters<'_>,
) -> String {
    let mut o = String::new();
    global_section(&mut o, cfg);
    let topo: &Config = health.map_or(cfg, |h| &h.config);
    if let Some(ssl) = &topo.ssl {
        let _ = writeln!(o, "------< SSL definitions >------");
        let fields = [
            (" Password : ", &ssl.password),
            (" CA-file : ", &ssl.ca),
            (" Certificate file : ", &ssl.certificate),
            (" Key file : ", &ssl.key),
        ];
        if fields.iter().all(|(_, v)| v.is_none()) {
            let _ = writeln!(o, " Using autogen SSL context");
        }
        for (label, v) in fields {
            if let Some(v) = v {
                let _ = writeln!(o, "{label}{v}");
            }
        }
    }
    if !topo.virtual_servers.is_empty() {
        let _ = writeln!(o, "------< LVS Topology >------");
        // keepalived prints the IPVS version it was built against (IP_VS_VERSION_CODE).
        let _ = writeln!(o, " System is compiled with LVS v1.2.1");
        for g in &topo.vs_groups {
            vs_group_section(&mut o, g);
        }
        for (v, vs) in topo.virtual_servers.iter().enumerate() {
            vs_section(&mut o, topo, vs, health.and_then(|h| h.services.get(v)));
        }
    }
    if let Some(h) = health {
        let any = h
            .services
            .iter()
            .flat_map(|s| &s.real_servers)
            .any(|r| !r.checkers.is_empty());
        if any {
            let _ = writeln!(o, "------< Health checkers >------");
            for (vs, sh) in topo.virtual_servers.iter().zip(&h.services) {
                let vs_name = crate::check::plan::vs_name(vs);
                for (rs, rh) in vs.real_servers.iter().zip(&sh.real_servers) {
                    let rs_name = format!("[{}]:{}:{}", rs.addr, proto_name(vs.protocol), rs.port);
                    for c in &rh.checkers {
                        checker_section(&mut o, &vs_name, &rs_name, c);
                    }
                }
            }
        }
    }
    if !topo.virtual_servers.is_empty() {
        counters_section(&mut o, topo, counters);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").expect("victim");
        let path = dir.path().join("keepalived.data");
        std::os::unix::fs::symlink(&victim, &path).expect("symlink");
        write_safely(&path, b"dump\n").expect("write");
        assert_eq!(
            std::fs::read_to_string(&victim).expect("read"),
            "precious\n"
        );
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "dump\n");
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 2);
    }

    #[test]
    fn dump_file_locations_follow_keepalived() {
        let mut cfg = Config::default();
        let tmp = tmp_dir();
        assert_eq!(path_for(&cfg, Kind::Data), tmp.join("keepalived.data"));
        cfg.global
            .dump_files
            .insert("stats_dump_file", "/var/run/ka/".into());
        cfg.global
            .dump_files
            .insert("json_dump_file", "/var/run/ka/state.json".into());
        cfg.global
            .dump_files
            .insert("state_dump_file", "mine.data".into());
        assert_eq!(
            path_for(&cfg, Kind::Stats),
            PathBuf::from("/var/run/ka/keepalived.stats")
        );
        assert_eq!(
            path_for(&cfg, Kind::Json),
            PathBuf::from("/var/run/ka/state.json")
        );
        assert_eq!(path_for(&cfg, Kind::Data), tmp.join("mine.data"));
        assert_eq!(path_for(&cfg, Kind::CheckData), tmp.join("mine_check.data"));
    }

    #[test]
    fn json_strings_and_numbers_are_written_as_keepalived_does() {
        assert_eq!(
            json_str("203.0.113.10/24 dev eth0"),
            "\"203.0.113.10\\/24 dev eth0\""
        );
        assert_eq!(g(1.0), "1");
        assert_eq!(g(0.5), "0.5");
    }
}
