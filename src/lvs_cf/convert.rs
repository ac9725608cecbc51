//! A [`Plan`] → keepalived.conf text for both routers (`keepalived --convert-lvs-cf`).
//!
//! The output is what [`super::lower`] builds, written as keepalived.conf: role-dependent lines
//! carry `@primary` / `@backup` (keepalived's `-i` conditionals), and every lvs.cf line appears
//! as a comment saying where it went (or why nowhere). Nothing here decides a mapping.

use std::fmt::Write as _;

use super::lower::{hex, substitute};
use super::parse::{LvsCf, SectionKind};
use super::plan::{self, Block, Check, Echo, Plan, VsAddr};
use crate::config::model::{Forwarding, Protocol};

/// The converted configuration.
pub fn convert(cf: &LvsCf, plan: &Plan) -> String {
    let mut o = Out::default();
    header(&mut o, cf, plan);
    o.gap();
    o.line("# lvs.cf global settings:");
    echoes(&mut o, &plan.global_echo);
    o.gap();
    global_defs(&mut o, plan);
    sync_group(&mut o, plan);
    instances(&mut o, plan);
    for b in &plan.blocks {
        o.gap();
        block(&mut o, b);
    }
    o.s
}

#[derive(Default)]
struct Out {
    s: String,
    depth: usize,
}

impl Out {
    fn line(&mut self, text: &str) {
        for _ in 0..self.depth {
            self.s.push_str("  ");
        }
        self.s.push_str(text);
        self.s.push('\n');
    }

    /// A line for one router only: the `@id` prefix at the start of the line.
    fn cond(&mut self, id: &str, text: &str) {
        let _ = write!(self.s, "@{id:<8}");
        for _ in 1..self.depth {
            self.s.push_str("  ");
        }
        self.s.push_str(text);
        self.s.push('\n');
    }

    fn open(&mut self, head: &str) {
        self.line(&format!("{head} {{"));
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        self.line("}");
    }

    fn gap(&mut self) {
        if !self.s.is_empty() && !self.s.ends_with("\n\n") {
            self.s.push('\n');
        }
    }
}

/// A word keepalived reads back as one word: bare, or in double quotes.
fn word(s: &str) -> String {
    let bare = !s.is_empty()
        && !s.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '#' | '!' | '{' | '}')
        });
    if bare {
        s.to_string()
    } else {
        format!("\"{s}\"")
    }
}

/// A command for keepalived's script keywords: one double-quoted string that keepalived splits
/// back into `argv` (arguments with blanks or quotes are single-quoted or escaped inside).
fn script(argv: &[String]) -> String {
    let parts: Vec<String> = argv
        .iter()
        .map(|a| {
            let plain = !a.is_empty()
                && !a
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\'));
            if plain {
                a.clone()
            } else if !a.contains(['\'', '\\']) && !a.contains('"') {
                format!("'{a}'")
            } else {
                a.chars()
                    .flat_map(|c| {
                        let esc = c.is_whitespace() || matches!(c, '"' | '\'' | '\\');
                        esc.then_some('\\').into_iter().chain(std::iter::once(c))
                    })
                    .collect()
            }
        })
        .collect();
    format!("\"{}\"", parts.join(" "))
}

fn echoes(o: &mut Out, list: &[Echo]) {
    for e in list {
        let to = if e.to.is_empty() {
            String::new()
        } else if e.mapped {
            format!("  =>  {}", e.to)
        } else {
            format!(
                "  =>  NOT MAPPED: {}",
                e.to.trim_start_matches("not mapped: ")
            )
        };
        o.line(&format!("#   [line {}] {}{to}", e.line, e.text));
    }
}

fn header(o: &mut Out, cf: &LvsCf, plan: &Plan) {
    o.line("# keepalived.conf converted from a piranha lvs.cf by keepalived-rs --convert-lvs-cf");
    o.line(&format!("# source: {}", cf.path));
    o.line("#");
    match (plan.primary, plan.backup) {
        (Some(p), Some(b)) => {
            o.line("# One file serves both routers, as lvs.cf did. Start keepalived with");
            o.line(&format!("#   -i primary  on the primary router ({p})"));
            o.line(&format!("#   -i backup   on the backup router ({b})"));
            o.line("# Lines that start with @primary or @backup apply to that router only.");
        }
        (p, _) => {
            o.line(&format!(
                "# A single router ({}): there is no active backup in the lvs.cf.",
                p.map_or("primary unset".to_string(), |p| p.to_string())
            ));
        }
    }
    o.line("#");
    o.line("# pulse's heartbeat is replaced by VRRPv2 between the routers (see lvs.cf(5)):");
    o.line(&format!(
        "#   advert_int = keepalive ({} s); down_timer_adverts = ceil(deadtime / keepalive) ({})",
        plan.advert_int, plan.down_timer_adverts
    ));
    o.line(&format!(
        "#   priorities: primary {}, backup {}; VRID = last byte of primary, +1 per instance",
        plan::PRIORITY_PRIMARY,
        plan::PRIORITY_BACKUP
    ));
    o.line("# nanny is replaced by one keepalived checker per real server: checks run every");
    o.line("# 'timeout' seconds, a server is removed on its first failure (retry 0) and");
    o.line("# added after its first good check (alpha).");
}

fn global_defs(o: &mut Out, plan: &Plan) {
    o.open("global_defs");
    o.line("# pulse ran its commands as root; keepalived runs scripts as root only with these");
    o.line("enable_script_security");
    o.line("script_user root");
    let t = &plan.lvs_timeouts;
    let mut lt = String::new();
    for (k, v) in [("tcp", t.tcp), ("tcpfin", t.tcpfin), ("udp", t.udp)] {
        if let Some(v) = v {
            let _ = write!(lt, " {k} {v}");
        }
    }
    if !lt.is_empty() {
        o.line(&format!("lvs_timeouts{lt}"));
    }
    if let Some(sd) = &plan.sync_daemon {
        let id = sd.id.map(|i| format!(" id {i}")).unwrap_or_default();
        o.line(&format!(
            "lvs_sync_daemon {} {}{id}",
            word(&sd.interface),
            word(&sd.instance)
        ));
    }
    o.close();
}

fn notify(o: &mut Out, plan: &Plan) {
    if let Some(m) = &plan.notify_master {
        o.line(&format!("notify_master {}", script(m)));
    }
    if let Some(b) = &plan.notify_backup {
        let s = script(b);
        o.line(&format!("notify_backup {s}"));
        o.line(&format!("notify_fault {s}"));
        o.line(&format!("notify_stop {s}"));
    }
}

fn sync_group(o: &mut Out, plan: &Plan) {
    let Some(name) = plan.sync_group() else {
        return;
    };
    o.gap();
    o.line("# Every instance moves together, as pulse moved every address together.");
    o.open(&format!("vrrp_sync_group {name}"));
    o.open("group");
    for i in &plan.instances {
        o.line(&word(&i.name));
    }
    o.close();
    notify(o, plan);
    o.close();
}

fn instances(o: &mut Out, plan: &Plan) {
    let two = plan.backup.is_some();
    for i in &plan.instances {
        o.gap();
        o.open(&format!("vrrp_instance {}", word(&i.name)));
        if two {
            o.cond("primary", "state MASTER");
            o.cond("backup", "state BACKUP");
        } else {
            o.line("state MASTER");
        }
        o.line(&format!("interface {}", word(&i.interface)));
        if plan.dont_track_primary {
            o.line("# monitor_links = 0: pulse ignored link state");
            o.line("dont_track_primary");
        }
        o.line(&format!("virtual_router_id {}", i.vrid));
        if two {
            o.cond("primary", &format!("priority {}", plan::PRIORITY_PRIMARY));
            o.cond("backup", &format!("priority {}", plan::PRIORITY_BACKUP));
        } else {
            o.line(&format!("priority {}", plan::PRIORITY_PRIMARY));
        }
        o.line(&format!("advert_int {}", plan.advert_int));
        o.line(&format!("down_timer_adverts {}", plan.down_timer_adverts));
        o.open("virtual_ipaddress");
        for v in &i.vips {
            let label = v
                .label
                .as_ref()
                .map(|l| format!(" label {}", word(l)))
                .unwrap_or_default();
            o.line(&format!(
                "{}/{} dev {}{label}",
                v.addr,
                v.prefix,
                word(&v.dev)
            ));
        }
        o.close();
        if plan.sync_group().is_none() {
            notify(o, plan);
        }
        o.close();
    }
}

fn block(o: &mut Out, b: &Block) {
    let kind = match b.kind {
        SectionKind::Virtual => "virtual",
        SectionKind::Failover => "failover",
    };
    let used = if b.note.is_empty() {
        String::new()
    } else {
        format!(": {}", b.note)
    };
    o.line(&format!(
        "# lvs.cf {kind} {} (line {}){used}",
        b.name, b.line
    ));
    echoes(o, &b.echo);
    for (name, line, e) in &b.server_echo {
        o.line(&format!("#   server {name} (line {line})"));
        echoes(o, e);
    }
    let Some(vs) = &b.vs else {
        return;
    };
    let head = match vs.address {
        VsAddr::Ip(a, p) => format!("virtual_server {a} {p}"),
        VsAddr::Fwmark(m) => format!("virtual_server fwmark {m}"),
    };
    o.open(&head);
    o.line(&format!("delay_loop {}", vs.interval));
    o.line(&format!("lvs_sched {}", vs.scheduler));
    o.line(&format!(
        "lvs_method {}",
        match vs.forwarding {
            Forwarding::Nat => "NAT",
            Forwarding::Dr => "DR",
            Forwarding::Tun { .. } => "TUN",
        }
    ));
    if let Some(p) = vs.protocol {
        o.line(match p {
            Protocol::Udp => "protocol UDP",
            Protocol::Sctp => "protocol SCTP",
            Protocol::Tcp => "protocol TCP",
        });
    }
    if let Some(t) = vs.persistence_timeout {
        o.line(&format!("persistence_timeout {t}"));
    }
    if let Some(g) = &vs.persistence_granularity {
        o.line(&format!("persistence_granularity {g}"));
    }
    o.line("alpha");
    if let Some((a, port)) = vs.sorry_server {
        match port {
            Some(p) => o.line(&format!("sorry_server {a} {p}")),
            None => o.line(&format!("sorry_server {a}")),
        }
    }
    for r in &vs.real_servers {
        o.line(&format!("# server {} (line {})", r.name, r.line()));
        echoes(o, &r.echo);
        if !r.active {
            o.line("# (not active: no real_server)");
            continue;
        }
        // fwmark: the real server has no port; the checker connects to nanny's port.
        let connect_port = r.port.is_none().then_some(r.check_port);
        match r.port {
            Some(p) => o.open(&format!("real_server {} {p}", r.addr)),
            None => o.open(&format!("real_server {}", r.addr)),
        }
        o.line(&format!("weight {}", r.weight));
        if vs.inhibit_on_failure {
            o.line("inhibit_on_failure");
        }
        checker(
            o,
            &vs.check,
            r.addr,
            r.check_port,
            connect_port,
            vs.interval,
        );
        o.close();
    }
    o.close();
}

fn checker(
    o: &mut Out,
    check: &Check,
    addr: std::net::Ipv4Addr,
    port: u16,
    connect_port: Option<u16>,
    interval: u32,
) {
    match check {
        Check::Tcp => {
            o.open("TCP_CHECK");
            o.line(&format!("connect_timeout {interval}"));
        }
        Check::Http {
            path,
            virtualhost,
            status,
        } => {
            o.open("HTTP_GET");
            o.open("url");
            o.line(&format!("path {}", word(path)));
            o.line(&format!("status_code {}-{}", status.0, status.1));
            o.close();
            if let Some(h) = virtualhost {
                o.line(&format!("virtualhost {}", word(h)));
            }
            o.line(&format!("connect_timeout {interval}"));
        }
        Check::Smtp { helo } => {
            o.open("SMTP_CHECK");
            if let Some(h) = helo {
                o.line(&format!("helo_name {}", word(h)));
            }
            o.line(&format!("connect_timeout {interval}"));
        }
        Check::Udp {
            payload,
            require_reply,
        } => {
            o.open("UDP_CHECK");
            if let Some(p) = payload {
                o.line(&format!("payload {}", hex(p)));
            }
            if let Some(r) = require_reply {
                o.line(&format!("require_reply {}", hex(r)));
            }
            o.line(&format!("connect_timeout {interval}"));
        }
        Check::Misc { argv } => {
            o.open("MISC_CHECK");
            o.line(&format!(
                "misc_path {}",
                script(&substitute(argv, addr, port))
            ));
            o.line(&format!("misc_timeout {interval}"));
        }
    }
    if let Some(p) = connect_port.filter(|_| !matches!(check, Check::Misc { .. })) {
        o.line(&format!("connect_port {p}"));
    }
    o.line("retry 0");
    o.close();
}

impl plan::RealServer {
    fn line(&self) -> u32 {
        self.loc.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_quote_for_keepalived() {
        let a = |v: &[&str]| script(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(a(&["/bin/x", "start"]), "\"/bin/x start\"");
        assert_eq!(a(&["/bin/sh", "-c", "a b; c"]), "\"/bin/sh -c 'a b; c'\"");
        assert_eq!(a(&["it's"]), "\"it\\'s\"");
    }

    #[test]
    fn words() {
        assert_eq!(word("/index.html"), "/index.html");
        assert_eq!(word("/a b"), "\"/a b\"");
    }
}
