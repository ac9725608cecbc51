//! `keepalived -d`: the effective configuration as deterministic, keepalived.conf-like text.
//!
//! What is printed is the [`Config`] after the reader (includes, `@ID` lines, `$NAME`
//! definitions, `~SEQ`/`~LST`), lowering (defaults, checker timer inheritance) and validation.
//! The format ("dump format 1", documented in keepalived.conf(5) under DUMP FORMAT):
//!
//! - the first line is [`HEADER`];
//! - objects come in the order of the model's lists, which is the order of the configuration;
//! - one `keyword value...` per line, two spaces of indentation per block level, blocks open
//!   with `name {` and close with `}` on a line of its own, an empty list is `name { }`, a
//!   blank line separates top-level items;
//! - every field is printed, defaults included; a field the configuration left unset (keepalived
//!   decides at run time) is a comment `# keyword unset` with what applies then in parentheses;
//! - booleans are `true`/`false`, durations carry a unit (`60s`, `1.5s`, `1.00s` for VRRP
//!   advertisement intervals in centiseconds, `10ms` for BFD), addresses are canonical;
//! - commands are one double-quoted word per argument, then `user NAME` and `group NAME`;
//! - other words are printed as they are, or double-quoted when they contain blanks, quotes,
//!   comment or brace characters (with `\"`, `\\` and `\xNN` escapes);
//! - checkers print their effective timing (checker ← real_server ← virtual_server ← default);
//!   virtual and real servers print the values their level passes on;
//! - no source locations; the last lines list the accepted but ignored keywords as
//!   `# ignored: BLOCK KEYWORD ARGS...` (or `# ignored: none`).

use std::fmt::{self, Write};

use super::model::*;

/// The first line of every dump.
pub const HEADER: &str = "# keepalived-rs effective configuration (dump format 1)";

/// The effective configuration `c` as text (see the module documentation for the format).
pub fn dump(c: &Config) -> String {
    let mut o = Out {
        s: String::new(),
        depth: 0,
    };
    o.raw(HEADER);
    global_defs(&mut o, &c.global);
    for s in &c.vrrp_scripts {
        vrrp_script(&mut o, s);
    }
    for t in &c.track_files {
        track_file(&mut o, t);
    }
    for t in &c.track_processes {
        track_process(&mut o, t);
    }
    for g in &c.sync_groups {
        sync_group(&mut o, g);
    }
    for v in &c.instances {
        instance(&mut o, v);
    }
    for g in &c.garp_groups {
        garp_group(&mut o, g);
    }
    address_block(&mut o, "static_ipaddress", &c.static_addresses);
    route_block(&mut o, "static_routes", &c.static_routes);
    rule_block(&mut o, "static_rules", &c.static_rules);
    for b in &c.bfd_instances {
        bfd_instance(&mut o, b);
    }
    match &c.ssl {
        Some(s) => ssl(&mut o, s),
        None => o.unset("SSL", ""),
    }
    for g in &c.vs_groups {
        vs_group(&mut o, g);
    }
    for vs in &c.virtual_servers {
        virtual_server(&mut o, vs);
    }
    o.gap();
    if c.ignored.is_empty() {
        o.raw("# ignored: none");
    } else {
        for i in &c.ignored {
            let mut l = format!("# ignored: {} {}", word(i.block), word(&i.keyword));
            for a in &i.args {
                l.push(' ');
                l.push_str(&word(a));
            }
            o.raw(&l);
        }
    }
    o.s
}

/// The output with its current block depth.
struct Out {
    s: String,
    depth: usize,
}

impl Out {
    /// One line at the current indentation.
    fn line(&mut self, args: fmt::Arguments<'_>) {
        for _ in 0..self.depth {
            self.s.push_str("  ");
        }
        // Writing to a String cannot fail.
        let _ = self.s.write_fmt(args);
        self.s.push('\n');
    }

    fn raw(&mut self, text: &str) {
        self.line(format_args!("{text}"));
    }

    /// A blank line before each top-level item.
    fn gap(&mut self) {
        if self.depth == 0 {
            self.s.push('\n');
        }
    }

    fn open(&mut self, head: &str) {
        self.gap();
        self.line(format_args!("{head} {{"));
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.raw("}");
    }

    /// `key value` with a Display value.
    fn kv(&mut self, key: &str, value: impl fmt::Display) {
        self.line(format_args!("{key} {value}"));
    }

    /// `# key unset (what applies)`.
    fn unset(&mut self, key: &str, hint: &str) {
        self.gap();
        if hint.is_empty() {
            self.line(format_args!("# {key} unset"));
        } else {
            self.line(format_args!("# {key} unset ({hint})"));
        }
    }

    fn opt<T: fmt::Display>(&mut self, key: &str, v: Option<T>, hint: &str) {
        match v {
            Some(v) => self.kv(key, v),
            None => self.unset(key, hint),
        }
    }

    fn opt_str(&mut self, key: &str, v: &Option<String>, hint: &str) {
        self.opt(key, v.as_deref().map(word), hint);
    }

    fn opt_cmd<C: AsRef<Command>>(&mut self, key: &str, v: &Option<C>, hint: &str) {
        self.opt(key, v.as_ref().map(|c| command(c.as_ref())), hint);
    }

    /// A value block: `key {`, one line per value, `}`; `key { }` when empty.
    fn values<I: IntoIterator<Item = String>>(&mut self, key: &str, items: I) {
        self.gap();
        let mut items = items.into_iter().peekable();
        if items.peek().is_none() {
            self.line(format_args!("{key} {{ }}"));
            return;
        }
        self.open(key);
        for i in items {
            self.raw(&i);
        }
        self.close();
    }
}

// ===== value formatting =====

/// A word as written: bare when it reads back as one word, double-quoted otherwise.
fn word(s: &str) -> String {
    let bare = !s.is_empty()
        && s.chars().all(|c| {
            !c.is_whitespace()
                && !c.is_control()
                && !matches!(c, '"' | '\'' | '\\' | '#' | '!' | '{' | '}')
        });
    if bare { s.to_string() } else { quoted(s) }
}

/// Always double-quoted, with `\"`, `\\`, `\n`, `\t`, `\r` and `\xNN` for other control bytes.
fn quoted(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(q, "\\x{b:02x}");
                }
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Bytes (a password) as a quoted string; bytes that are not printable ASCII as `\xNN`.
fn quoted_bytes(b: &[u8]) -> String {
    let mut q = String::from("\"");
    for &c in b {
        match c {
            b'"' => q.push_str("\\\""),
            b'\\' => q.push_str("\\\\"),
            0x20..=0x7e => q.push(char::from(c)),
            _ => {
                let _ = write!(q, "\\x{c:02x}");
            }
        }
    }
    q.push('"');
    q
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn words(w: &[String]) -> String {
    w.iter().map(|x| word(x)).collect::<Vec<_>>().join(" ")
}

/// A command: every argument quoted, then `user U`, `group G`.
fn command(c: &Command) -> String {
    let mut s = c
        .args
        .iter()
        .map(|a| quoted(a))
        .collect::<Vec<_>>()
        .join(" ");
    if s.is_empty() {
        s.push_str("\"\"");
    }
    if let Some(u) = &c.user {
        let _ = write!(s, " user {}", word(u));
    }
    if let Some(g) = &c.group {
        let _ = write!(s, " group {}", word(g));
    }
    s
}

fn user_group((u, g): &(String, Option<String>)) -> String {
    match g {
        Some(g) => format!("{} {}", word(u), word(g)),
        None => word(u),
    }
}

fn family(f: Family) -> &'static str {
    match f {
        Family::Unspecified => "unspecified",
        Family::Inet => "inet",
        Family::Inet6 => "inet6",
    }
}

fn weight(w: i32, reverse: bool) -> String {
    if reverse {
        format!("{w} reverse")
    } else {
        w.to_string()
    }
}

fn forwarding(f: &Forwarding) -> String {
    match f {
        Forwarding::Nat => "NAT".into(),
        Forwarding::Dr => "DR".into(),
        Forwarding::Tun { kind, port, csum } => {
            let mut s = String::from("TUN");
            if let Some(k) = kind {
                let _ = write!(s, " type {k}");
            }
            if let Some(p) = port {
                let _ = write!(s, " port {p}");
            }
            if let Some(c) = csum {
                let _ = write!(s, " {c}");
            }
            s
        }
    }
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

fn ip_address(a: &IpAddress) -> String {
    let mut s = format!("{}/{}", a.addr, a.prefix);
    if let Some(b) = &a.broadcast {
        let _ = write!(s, " brd {}", word(b));
    }
    if let Some(d) = &a.dev {
        let _ = write!(s, " dev {}", word(d));
    }
    if let Some(x) = &a.scope {
        let _ = write!(s, " scope {}", word(x));
    }
    if let Some(l) = &a.label {
        let _ = write!(s, " label {}", word(l));
    }
    if let Some(p) = &a.peer {
        let _ = write!(s, " peer {p}");
        if let Some(n) = a.peer_prefix {
            let _ = write!(s, "/{n}");
        }
    }
    for f in &a.flags {
        let _ = write!(s, " {}", word(f));
    }
    if let Some(p) = &a.preferred_lft {
        let _ = write!(s, " preferred_lft {}", word(p));
    }
    s
}

fn address_block(o: &mut Out, key: &str, v: &[IpAddress]) {
    o.values(key, v.iter().map(ip_address));
}

fn route_block(o: &mut Out, key: &str, v: &[Route]) {
    o.values(key, v.iter().map(|r| words(&r.words)));
}

fn rule_block(o: &mut Out, key: &str, v: &[Rule]) {
    o.values(key, v.iter().map(|r| words(&r.words)));
}

fn tracked(t: &Tracked) -> String {
    let mut s = word(&t.name);
    if let Some(w) = t.weight {
        let _ = write!(s, " weight {w}");
    }
    if t.reverse {
        s.push_str(" reverse");
    }
    s
}

fn tracking(o: &mut Out, t: &Tracking) {
    o.values("track_interface", t.interfaces.iter().map(tracked));
    o.values("track_script", t.scripts.iter().map(tracked));
    o.values("track_file", t.files.iter().map(tracked));
    o.values("track_process", t.processes.iter().map(tracked));
    o.values("track_bfd", t.bfds.iter().map(tracked));
}

fn notify(o: &mut Out, n: &Notify) {
    o.opt_cmd("notify_master", &n.master, "");
    o.opt_cmd("notify_backup", &n.backup, "");
    o.opt_cmd("notify_fault", &n.fault, "");
    o.opt_cmd("notify_stop", &n.stop, "");
    o.opt_cmd("notify_deleted", &n.deleted, "");
    o.opt_cmd("notify", &n.generic, "");
    o.opt_cmd("notify_master_rx_lower_pri", &n.master_rx_lower_pri, "");
}

// ===== blocks =====

fn fifo(o: &mut Out, key: &str, f: &Option<(String, Option<Command>)>) {
    let script_key = format!("{key}_script");
    match f {
        Some((path, script)) => {
            o.kv(key, word(path));
            o.opt_cmd(&script_key, script, "");
        }
        None => {
            o.unset(key, "");
            o.unset(&script_key, "");
        }
    }
}

fn global_defs(o: &mut Out, g: &GlobalDefs) {
    o.open("global_defs");
    o.opt_str("router_id", &g.router_id, "host name");
    o.values(
        "notification_email",
        g.notification_email.iter().map(|e| word(e)),
    );
    o.opt_str(
        "notification_email_from",
        &g.notification_email_from,
        "keepalived@HOSTNAME",
    );
    o.opt(
        "smtp_server",
        g.smtp_server.map(|(a, p)| format!("{a} {p}")),
        "",
    );
    o.opt_str("smtp_helo_name", &g.smtp_helo_name, "host name");
    o.kv("smtp_connect_timeout", g.smtp_connect_timeout);
    o.opt("smtp_alert", g.smtp_alert, "off");
    o.kv("enable_script_security", g.enable_script_security);
    o.opt(
        "script_user",
        g.script_user.as_ref().map(user_group),
        "keepalived_script, else root",
    );
    o.kv("vrrp_version", g.vrrp_version);
    o.kv("vrrp_strict", g.vrrp_strict);
    o.kv("vrrp_skip_check_adv_addr", g.vrrp_skip_check_adv_addr);
    o.kv("vrrp_check_unicast_src", g.vrrp_check_unicast_src);
    o.kv("vrrp_mcast_group4", g.vrrp_mcast_group4);
    o.kv("vrrp_mcast_group6", g.vrrp_mcast_group6);
    garp(
        o,
        "vrrp_garp_",
        &g.garp,
        "vrrp_garp_master_delay",
        "vrrp_garp_master_repeat",
    );
    o.kv("vrrp_garp_interval", g.vrrp_garp_interval);
    o.kv("vrrp_gna_interval", g.vrrp_gna_interval);
    o.kv("vrrp_min_garp", g.vrrp_min_garp);
    o.kv("vrrp_down_timer_adverts", g.vrrp_down_timer_adverts);
    o.kv("vrrp_lower_prio_no_advert", g.vrrp_lower_prio_no_advert);
    o.kv(
        "vrrp_higher_prio_send_advert",
        g.vrrp_higher_prio_send_advert,
    );
    o.kv("vrrp_startup_delay", g.vrrp_startup_delay);
    o.kv("v3_checksum_as_v2", g.v3_checksum_as_v2);
    o.opt_str("default_interface", &g.default_interface, "");
    o.kv("dynamic_interfaces", g.dynamic_interfaces);
    let t = &g.lvs_timeouts;
    if t.tcp.is_none() && t.tcpfin.is_none() && t.udp.is_none() {
        o.unset("lvs_timeouts", "kernel values");
    } else {
        let mut s = String::new();
        for (k, v) in [("tcp", t.tcp), ("tcpfin", t.tcpfin), ("udp", t.udp)] {
            if let Some(v) = v {
                let _ = write!(s, " {k} {v}s");
            }
        }
        o.line(format_args!("lvs_timeouts{s}"));
    }
    match &g.lvs_sync_daemon {
        Some(l) => {
            let mut s = word(&l.interface);
            for a in &l.args {
                s.push(' ');
                s.push_str(&word(a));
            }
            o.kv("lvs_sync_daemon", s);
        }
        None => o.unset("lvs_sync_daemon", ""),
    }
    o.kv("lvs_flush", g.lvs_flush);
    o.opt_str("lvs_flush_on_stop", &g.lvs_flush_on_stop, "");
    fifo(o, "notify_fifo", &g.notify_fifo);
    fifo(o, "vrrp_notify_fifo", &g.vrrp_notify_fifo);
    fifo(o, "lvs_notify_fifo", &g.lvs_notify_fifo);
    o.opt_cmd("startup_script", &g.startup_script, "");
    o.opt_cmd("shutdown_script", &g.shutdown_script, "");
    // Shown only when changed, so that dumps of configurations without them stay as they were.
    for (key, v) in [
        ("startup_script_timeout", g.startup_script_timeout),
        ("shutdown_script_timeout", g.shutdown_script_timeout),
    ] {
        if v != 10 {
            o.kv(key, v);
        }
    }
    for (key, default) in [
        ("state_dump_file", "/tmp/keepalived.data"),
        ("stats_dump_file", "/tmp/keepalived.stats"),
        ("json_dump_file", "/tmp/keepalived.json"),
    ] {
        o.opt_str(key, &g.dump_files.get(key).cloned(), default);
    }
    for (key, v) in &g.dump_files {
        if !matches!(
            *key,
            "state_dump_file" | "stats_dump_file" | "json_dump_file"
        ) {
            o.kv(key, word(v));
        }
    }
    o.opt_str("instance", &g.instance, "");
    o.opt_str("net_namespace", &g.net_namespace, "");
    o.kv("use_pid_dir", g.use_pid_dir);
    o.close();
}

/// The GARP settings with keyword prefix `p` (`vrrp_garp_` in global_defs, `garp_` in an
/// instance); the lower-priority values fall back to the named master ones.
fn garp(o: &mut Out, p: &str, g: &GarpSettings, delay_from: &str, repeat_from: &str) {
    o.kv(&format!("{p}master_delay"), g.master_delay);
    o.kv(&format!("{p}master_repeat"), g.master_repeat);
    o.kv(&format!("{p}master_refresh"), g.master_refresh);
    o.kv(
        &format!("{p}master_refresh_repeat"),
        g.master_refresh_repeat,
    );
    o.opt(
        &format!("{p}lower_prio_delay"),
        g.lower_prio_delay,
        delay_from,
    );
    o.opt(
        &format!("{p}lower_prio_repeat"),
        g.lower_prio_repeat,
        repeat_from,
    );
}

fn vrrp_script(o: &mut Out, s: &VrrpScript) {
    o.open(&format!("vrrp_script {}", word(&s.name)));
    o.opt_cmd("script", &s.script, "");
    o.kv("interval", s.interval);
    o.opt("timeout", s.timeout, "interval");
    o.kv("weight", weight(s.weight, s.weight_reverse));
    o.kv("rise", s.rise);
    o.kv("fall", s.fall);
    o.opt("user", s.user.as_ref().map(user_group), "script_user");
    o.kv("init_fail", s.init_fail);
    o.close();
}

fn track_file(o: &mut Out, t: &TrackFile) {
    o.open(&format!("track_file {}", word(&t.name)));
    o.opt_str("file", &t.file, "");
    o.kv("weight", weight(t.weight, t.weight_reverse));
    match t.init_file {
        Some((v, overwrite)) => {
            let mut s = String::from("init_file");
            if let Some(v) = v {
                let _ = write!(s, " {v}");
            }
            if overwrite {
                s.push_str(" overwrite");
            }
            o.raw(&s);
        }
        None => o.unset("init_file", ""),
    }
    o.close();
}

fn track_process(o: &mut Out, t: &TrackProcess) {
    o.open(&format!("vrrp_track_process {}", word(&t.name)));
    o.opt("process", t.process.as_deref().map(words), "");
    o.opt_str("param_match", &t.param_match, "");
    o.kv("weight", weight(t.weight, t.weight_reverse));
    o.kv("quorum", t.quorum);
    o.opt("quorum_max", t.quorum_max, "");
    o.opt("delay", t.delay, "");
    o.opt("terminate_delay", t.terminate_delay, "");
    o.opt("fork_delay", t.fork_delay, "");
    o.kv("full_command", t.full_command);
    o.close();
}

fn sync_group(o: &mut Out, g: &SyncGroup) {
    o.open(&format!("vrrp_sync_group {}", word(&g.name)));
    o.values("group", g.members.iter().map(|(m, _)| word(m)));
    tracking(o, &g.tracking);
    notify(o, &g.notify);
    o.opt("smtp_alert", g.smtp_alert, "global smtp_alert");
    o.kv("global_tracking", g.global_tracking);
    o.kv("sync_group_tracking_weight", g.sync_group_tracking_weight);
    o.opt("notify_priority_changes", g.notify_priority_changes, "");
    o.close();
}

fn instance(o: &mut Out, v: &VrrpInstance) {
    o.open(&format!("vrrp_instance {}", word(&v.name)));
    o.kv(
        "state",
        match v.state {
            InitialState::Backup => "BACKUP",
            InitialState::Master => "MASTER",
        },
    );
    o.opt("interface", v.interface.as_ref().map(|(i, _)| word(i)), "");
    o.opt("virtual_router_id", v.vrid.map(|x| x.0), "");
    o.kv("priority", v.priority.0);
    o.kv("advert_int", v.advert_int);
    o.opt("version", v.version, "vrrp_version");
    o.kv("family", family(v.family));
    address_block(o, "virtual_ipaddress", &v.vips);
    address_block(o, "virtual_ipaddress_excluded", &v.evips);
    o.kv("no_virtual_ipaddress", v.no_virtual_ipaddress);
    route_block(o, "virtual_routes", &v.virtual_routes);
    rule_block(o, "virtual_rules", &v.virtual_rules);
    o.opt("unicast_src_ip", v.unicast_src_ip, "");
    o.values(
        "unicast_peer",
        v.unicast_peers.iter().map(|p| {
            let mut s = p.addr.to_string();
            if let Some(t) = p.min_ttl {
                let _ = write!(s, " min_ttl {t}");
            }
            if let Some(t) = p.max_ttl {
                let _ = write!(s, " max_ttl {t}");
            }
            s
        }),
    );
    o.opt("unicast_ttl", v.unicast_ttl, "255");
    o.kv("unicast_fault_no_peer", v.unicast_fault_no_peer);
    o.kv("check_unicast_src", v.check_unicast_src);
    o.kv("old_unicast_checksum", v.old_unicast_checksum);
    o.opt("mcast_src_ip", v.mcast_src_ip, "");
    o.opt("mcast_dst_ip", v.mcast_dst_ip, "");
    o.kv("track_src_ip", v.track_src_ip);
    match &v.authentication {
        Some(a) => {
            o.open("authentication");
            o.opt(
                "auth_type",
                a.auth_type.map(|t| match t {
                    AuthType::Pass => "PASS",
                    AuthType::Ah => "AH",
                }),
                "",
            );
            o.opt("auth_pass", a.auth_pass.as_deref().map(quoted_bytes), "");
            o.close();
        }
        None => o.unset("authentication", ""),
    }
    tracking(o, &v.tracking);
    o.kv("dont_track_primary", v.dont_track_primary);
    notify(o, &v.notify);
    o.opt("notify_priority_changes", v.notify_priority_changes, "");
    o.opt("smtp_alert", v.smtp_alert, "global smtp_alert");
    o.kv("nopreempt", v.nopreempt);
    o.kv("preempt_delay", v.preempt_delay);
    o.opt(
        "accept",
        v.accept,
        "on unless strict mode, or the address owner",
    );
    o.opt("strict_mode", v.strict_mode, "vrrp_strict");
    o.kv("skip_check_adv_addr", v.skip_check_adv_addr);
    o.kv("native_ipv6", v.native_ipv6);
    o.kv("promote_secondaries", v.promote_secondaries);
    garp(
        o,
        "garp_",
        &v.garp,
        "vrrp_garp_lower_prio_delay",
        "vrrp_garp_lower_prio_repeat",
    );
    o.opt("garp_extra_if", v.garp_extra_if.as_deref().map(words), "");
    o.opt(
        "down_timer_adverts",
        v.down_timer_adverts,
        "vrrp_down_timer_adverts",
    );
    o.opt(
        "lower_prio_no_advert",
        v.lower_prio_no_advert,
        "vrrp_lower_prio_no_advert",
    );
    o.opt(
        "higher_prio_send_advert",
        v.higher_prio_send_advert,
        "vrrp_higher_prio_send_advert",
    );
    o.kv("owner_ignore_adverts", v.owner_ignore_adverts);
    o.opt(
        "v3_checksum_as_v2",
        v.v3_checksum_as_v2,
        "global v3_checksum_as_v2",
    );
    o.opt("use_vmac", v.use_vmac.as_deref().map(words), "");
    o.opt("use_ipvlan", v.use_ipvlan.as_deref().map(words), "");
    o.kv("vmac_xmit_base", v.vmac_xmit_base);
    o.opt_str(
        "lvs_sync_daemon_interface",
        &v.lvs_sync_daemon_interface,
        "",
    );
    o.opt("timer_expired_backup", v.timer_expired_backup, "");
    o.opt("debug", v.debug, "");
    o.close();
}

fn garp_group(o: &mut Out, g: &GarpGroup) {
    o.open("garp_group");
    o.opt("garp_interval", g.garp_interval, "vrrp_garp_interval");
    o.opt("gna_interval", g.gna_interval, "vrrp_gna_interval");
    o.values("interfaces", g.interfaces.iter().map(|i| word(i)));
    o.close();
}

fn bfd_instance(o: &mut Out, b: &BfdInstance) {
    o.open(&format!("bfd_instance {}", word(&b.name)));
    o.opt("neighbor_ip", b.neighbor, "");
    o.opt("source_ip", b.source, "");
    o.line(format_args!("min_rx {}", b.min_rx));
    o.line(format_args!("min_tx {}", b.min_tx));
    o.line(format_args!("idle_tx {}", b.idle_tx));
    o.kv("multiplier", b.multiplier);
    o.kv("passive", b.passive);
    o.opt("ttl", b.ttl, "255, hoplimit 64 for IPv6");
    o.opt("max_hops", b.max_hops, "");
    o.kv("weight", b.weight);
    o.close();
}

fn ssl(o: &mut Out, s: &SslConfig) {
    o.open("SSL");
    o.opt_str("password", &s.password, "");
    o.opt_str("ca", &s.ca, "");
    o.opt_str("certificate", &s.certificate, "");
    o.opt_str("key", &s.key, "");
    o.close();
}

fn vs_group(o: &mut Out, g: &VsGroup) {
    o.open(&format!("virtual_server_group {}", word(&g.name)));
    for (e, _) in &g.entries {
        match e {
            VsGroupEntry::Range { first, last, port } if first == last => {
                o.line(format_args!("{first} {port}"))
            }
            VsGroupEntry::Range { first, last, port } => {
                o.line(format_args!("{first}-{last} {port}"))
            }
            VsGroupEntry::Fwmark {
                mark,
                family: Family::Unspecified,
            } => o.kv("fwmark", mark),
            VsGroupEntry::Fwmark { mark, family: f } => {
                o.line(format_args!("fwmark {mark} {}", family(*f)))
            }
        }
    }
    if g.entries.is_empty() {
        o.raw("# no entries");
    }
    o.close();
}

/// The timing a virtual or real server passes on to its checkers: `t` over `inherited`.
fn server_timing(o: &mut Out, t: &TimingOverrides, inherited: &TimingOverrides) {
    let pick = |a: Option<Micros>, b: Option<Micros>| a.or(b);
    o.opt("delay_loop", pick(t.delay_loop, inherited.delay_loop), "");
    o.opt(
        "connect_timeout",
        pick(t.connect_timeout, inherited.connect_timeout),
        "",
    );
    o.opt("retry", t.retry.or(inherited.retry), "checker default");
    o.opt(
        "delay_before_retry",
        pick(t.delay_before_retry, inherited.delay_before_retry),
        "checker default",
    );
    o.opt("warmup", pick(t.warmup, inherited.warmup), "delay_loop");
}

fn virtual_server(o: &mut Out, vs: &VirtualServer) {
    let head = match &vs.address {
        VsAddress::Ip { addr, port } => format!("virtual_server {addr} {port}"),
        VsAddress::Fwmark {
            mark,
            family: Family::Unspecified,
        } => format!("virtual_server fwmark {mark}"),
        VsAddress::Fwmark { mark, family: f } => {
            format!("virtual_server fwmark {mark} {}", family(*f))
        }
        VsAddress::Group(g) => format!("virtual_server group {}", word(g)),
    };
    o.open(&head);
    match vs.ip_family {
        Family::Unspecified => o.unset("ip_family", "from the addresses"),
        f => o.kv("ip_family", family(f)),
    }
    o.kv("protocol", protocol(vs.protocol));
    o.kv("lvs_sched", word(&vs.scheduler));
    if vs.sched_flags.is_empty() {
        o.raw("# scheduler flags none");
    }
    for f in &vs.sched_flags {
        o.raw(&word(f));
    }
    o.kv("lvs_method", forwarding(&vs.forwarding));
    o.opt(
        "persistence_timeout",
        vs.persistence_timeout.map(|t| format!("{t}s")),
        "no persistence",
    );
    o.opt_str("persistence_granularity", &vs.persistence_granularity, "");
    o.opt_str("persistence_engine", &vs.persistence_engine, "");
    o.kv("quorum", vs.quorum);
    o.kv("hysteresis", vs.hysteresis);
    o.opt_cmd("quorum_up", &vs.quorum_up, "");
    o.opt_cmd("quorum_down", &vs.quorum_down, "");
    o.kv("alpha", vs.alpha);
    o.kv("omega", vs.omega);
    o.kv("inhibit_on_failure", vs.inhibit_on_failure);
    o.kv("ha_suspend", vs.ha_suspend);
    o.opt_str("virtualhost", &vs.virtualhost, "");
    o.opt(
        "sorry_server",
        vs.sorry_server.map(|(a, p)| format!("{a} {p}")),
        "",
    );
    o.kv("sorry_server_inhibit", vs.sorry_server_inhibit);
    o.opt(
        "sorry_server_lvs_method",
        vs.sorry_server_forwarding.as_ref().map(forwarding),
        "lvs_method",
    );
    o.kv("weight", vs.default_weight);
    o.opt("smtp_alert", vs.smtp_alert, "global smtp_alert");
    // keepalived's alloc_vs defaults: delay_loop 60s, connect_timeout 5s.
    let defaults = TimingOverrides {
        delay_loop: Some(Micros::secs(60)),
        connect_timeout: Some(Micros::secs(5)),
        ..TimingOverrides::default()
    };
    let vs_timing = TimingOverrides {
        delay_loop: vs.timing.delay_loop.or(defaults.delay_loop),
        connect_timeout: vs.timing.connect_timeout.or(defaults.connect_timeout),
        ..vs.timing
    };
    server_timing(o, &vs.timing, &defaults);
    for rs in &vs.real_servers {
        real_server(o, rs, &vs_timing);
    }
    if vs.real_servers.is_empty() {
        o.raw("# no real_server");
    }
    o.close();
}

fn real_server(o: &mut Out, rs: &RealServer, vs_timing: &TimingOverrides) {
    o.open(&format!("real_server {} {}", rs.addr, rs.port));
    o.kv("weight", rs.weight);
    o.opt(
        "lvs_method",
        rs.forwarding.as_ref().map(forwarding),
        "virtual_server lvs_method",
    );
    o.opt("uthreshold", rs.uthreshold, "");
    o.opt("lthreshold", rs.lthreshold, "");
    o.opt(
        "inhibit_on_failure",
        rs.inhibit_on_failure,
        "virtual_server inhibit_on_failure",
    );
    o.opt_cmd("notify_up", &rs.notify_up, "");
    o.opt_cmd("notify_down", &rs.notify_down, "");
    o.opt("alpha", rs.alpha, "virtual_server alpha");
    o.opt_str("virtualhost", &rs.virtualhost, "virtual_server virtualhost");
    o.opt("smtp_alert", rs.smtp_alert, "global smtp_alert");
    server_timing(
        o,
        &rs.timing.as_deref().copied().unwrap_or_default(),
        vs_timing,
    );
    for ck in &rs.checkers {
        checker(o, ck);
    }
    if rs.checkers.is_empty() {
        o.raw("# no checker");
    }
    o.close();
}

fn checker(o: &mut Out, ck: &Checker) {
    o.open(ck.kind.keyword());
    o.opt("connect_ip", ck.connect_ip, "real server address");
    o.opt("connect_port", ck.connect_port, "real server port");
    let bind = ck.bind.as_deref().cloned().unwrap_or_default();
    o.opt("bindto", bind.bindto, "");
    o.opt("bind_port", bind.bind_port, "");
    o.opt_str("bind_if", &bind.bind_if, "");
    o.opt("fwmark", bind.fwmark, "");
    o.opt("alpha", ck.alpha, "real_server alpha");
    o.opt("log_all_failures", ck.log_all_failures, "");
    let t = &ck.timing;
    o.kv("delay_loop", t.delay_loop);
    o.kv("connect_timeout", t.connect_timeout);
    o.kv("retry", t.retry);
    o.kv("delay_before_retry", t.delay_before_retry);
    o.opt("warmup", t.warmup, "random start within delay_loop");
    match &ck.kind {
        CheckerKind::Http(h) | CheckerKind::Ssl(h) => http(o, h),
        CheckerKind::Tcp | CheckerKind::Ping => {}
        CheckerKind::Misc(m) => {
            o.opt_cmd("misc_path", &m.path, "");
            o.opt("misc_timeout", m.timeout, "delay_loop");
            o.kv("misc_dynamic", m.dynamic);
            o.opt("user", m.user.as_ref().map(user_group), "script_user");
        }
        CheckerKind::Smtp(s) => {
            o.opt_str("helo_name", &s.helo_name, "smtpchecker.keepalived.org");
            for h in &s.hosts {
                o.open("host");
                o.opt("connect_ip", h.connect_ip, "real server address");
                o.opt("connect_port", h.connect_port, "real server port");
                o.opt("bindto", h.bindto, "");
                o.opt("bind_port", h.bind_port, "");
                o.opt_str("bind_if", &h.bind_if, "");
                o.opt("fwmark", h.fwmark, "");
                o.opt(
                    "connect_timeout",
                    h.connect_timeout,
                    "checker connect_timeout",
                );
                o.close();
            }
        }
        CheckerKind::Dns(d) => {
            o.opt_str("type", &d.qtype, "SOA");
            o.opt_str("name", &d.name, ".");
        }
        CheckerKind::Udp(u) => {
            o.opt("payload", u.payload.as_deref().map(hex), "");
            o.opt_str("require_reply", &u.require_reply, "");
            o.opt("min_reply_length", u.min_reply_length, "");
            o.opt("max_reply_length", u.max_reply_length, "");
        }
        CheckerKind::File(f) => {
            o.opt_str("track_file", &f.track_file, "");
            o.opt(
                "weight",
                f.weight.map(|w| weight(w, f.reverse)),
                "track_file weight",
            );
        }
        CheckerKind::Bfd(b) => o.opt_str("name", &b.name, ""),
    }
    o.close();
}

fn http(o: &mut Out, h: &HttpCheck) {
    o.opt_str("http_protocol", &h.http_protocol, "1.0");
    o.opt_str("virtualhost", &h.virtualhost, "real_server virtualhost");
    o.kv("fast_recovery", h.fast_recovery);
    o.kv("enable_sni", h.enable_sni);
    o.opt_str("sni_name", &h.sni_name, "virtualhost");
    o.kv("tls_compliant", h.tls_compliant);
    for u in &h.urls {
        o.open("url");
        o.opt_str("path", &u.path, "");
        o.opt_str("digest", &u.digest, "");
        let codes = if u.status_codes.is_empty() {
            &[(200, 299)][..]
        } else {
            &u.status_codes[..]
        };
        let codes: Vec<String> = codes
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        o.kv("status_code", codes.join(" "));
        o.opt_str("virtualhost", &u.virtualhost, "checker virtualhost");
        o.opt_str("regex", &u.regex, "");
        o.kv("regex_no_match", u.regex_no_match);
        o.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(word("eth0"), "eth0");
        assert_eq!(word(""), "\"\"");
        assert_eq!(word("a b"), "\"a b\"");
        assert_eq!(word("x#y"), "\"x#y\"");
        assert_eq!(word("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        assert_eq!(quoted("\u{1}"), "\"\\x01\"");
        assert_eq!(quoted_bytes(b"ab\xff"), "\"ab\\xff\"");
    }

    #[test]
    fn empty_config_has_header_and_defaults() {
        let s = dump(&Config::default());
        assert!(s.starts_with(HEADER));
        assert!(s.contains("\n  vrrp_version 2\n"));
        assert!(s.contains("\n  vrrp_mcast_group6 ff02::12\n"));
        assert!(s.ends_with("# ignored: none\n"));
    }

    #[test]
    fn commands_quote_each_argument() {
        let c = Command {
            args: vec!["/bin/sh".into(), "-c".into(), "echo \"x\"".into()],
            user: Some("nobody".into()),
            group: None,
            loc: Default::default(),
        };
        assert_eq!(command(&c), r#""/bin/sh" "-c" "echo \"x\"" user nobody"#);
    }
}
