//! Lowering: keepalived's line-oriented block walk (lib/parser.c `process_stream`), driven by the
//! keyword table, then each block into the typed model.
//!
//! The walk reproduces keepalived's reading, quirks included, and says more clearly what happened:
//! - a keyword line never carries its `{` (the reader split it off); a block keyword expects `{`
//!   as the next line ("Missing '{' at beginning of configuration block" otherwise);
//! - a `{` that follows a keyword without a block is "Unexpected '{' - ignoring", and the lines
//!   inside are then read at the *current* level, so the next `}` closes the current block;
//! - an unknown keyword is a warning and reading goes on;
//! - a value block (`virtual_ipaddress { ... }`) takes each line as a value.
//!
//! So `authentication { auth_type PASS auth_pass x }` on one line reaches `auth_type` with the
//! words `PASS auth_pass x`: the password is never set, as in keepalived 2.2.7.

use std::net::IpAddr;

use super::diag::{Diagnostics, ErrorClass as E, Loc};
use super::keywords::{self, Block, Keyword, Kind, Status};
use super::model::*;
use super::reader::{Line, Reader};
use std::collections::VecDeque;
use std::sync::mpsc::Receiver;

/// A keyword occurrence with its block's content.
#[derive(Debug)]
pub struct Node {
    pub kw: &'static Keyword,
    pub line: Line,
    pub children: Vec<Node>,
    pub values: Vec<Line>,
}

impl Node {
    fn arg(&self, i: usize) -> Option<&str> {
        self.line.word(i)
    }
    fn loc(&self) -> Loc {
        self.line.loc
    }
    fn argc(&self) -> usize {
        self.line.words().len().saturating_sub(1)
    }
    fn args(&self) -> Vec<String> {
        self.line.texts().skip(1).map(str::to_string).collect()
    }
}

/// Where the block walk gets its logical lines from.
pub trait LineSource {
    fn next_line(&mut self) -> Option<Line>;
    /// Give a line back: it is the next one returned.
    fn push_back(&mut self, line: Line);
}

impl LineSource for Reader<'_> {
    fn next_line(&mut self) -> Option<Line> {
        Reader::next_line(self)
    }
    fn push_back(&mut self, line: Line) {
        Reader::push_back(self, line)
    }
}

/// Lines arriving in chunks from a reader running on another thread.
pub struct ChannelSource {
    rx: Receiver<Vec<Line>>,
    buf: VecDeque<Line>,
}

impl ChannelSource {
    pub fn new(rx: Receiver<Vec<Line>>) -> Self {
        ChannelSource {
            rx,
            buf: VecDeque::new(),
        }
    }
}

impl LineSource for ChannelSource {
    fn next_line(&mut self) -> Option<Line> {
        if self.buf.is_empty() {
            self.buf.extend(self.rx.recv().ok()?);
        }
        self.buf.pop_front()
    }
    fn push_back(&mut self, line: Line) {
        self.buf.push_front(line);
    }
}

/// Read every top-level block from `src` and lower it into a [`Config`].
pub fn lower(src: &mut dyn LineSource, diags: &mut Diagnostics) -> Config {
    let mut walker = Walker {
        src,
        diags,
        depth: 0,
    };
    let mut lw = Lowerer {
        config: Config::default(),
    };
    while let Some(node) = walker.next_node(Block::Root, 0) {
        match node {
            Step::Node(n) => lw.top(n, walker.diags),
            Step::End => {}
        }
    }
    if walker.depth > 0 {
        let d = walker.depth;
        walker.diags.report(
            E::MissingBlockEnd,
            None,
            format!("There are {d} missing '}}'s or extra '{{'s"),
        );
    }
    lw.config
}

enum Step {
    Node(Node),
    /// The block ended (a `}` at this level).
    End,
}

struct Walker<'a> {
    src: &'a mut dyn LineSource,
    diags: &'a mut Diagnostics,
    /// Open braces minus closed braces, counted over all lines (keepalived's `block_depth`).
    depth: i64,
}

impl Walker<'_> {
    fn diags(&mut self) -> &mut Diagnostics {
        self.diags
    }

    /// Next line, counting braces as keepalived's `read_line()` does.
    fn line(&mut self) -> Option<Line> {
        let l = self.src.next_line()?;
        if l.is_open() {
            self.depth += 1;
        } else if l.is_close() {
            self.depth -= 1;
            if self.depth < 0 {
                self.depth = 0;
                self.diags()
                    .error(E::UnexpectedBlockEnd, l.loc, "Extra '}' found");
            }
        }
        Some(l)
    }

    /// The next keyword of `block`, or `End` at its `}`; `None` at end of input.
    fn next_node(&mut self, block: Block, level: usize) -> Option<Step> {
        loop {
            let line = self.line()?;
            let Some(first) = line.word(0) else { continue };
            if line.is_open() {
                self.diags().error(
                    E::UnexpectedBlockStart,
                    line.loc,
                    "Unexpected '{' - ignoring",
                );
                continue;
            }
            if line.is_close() && level > 0 {
                return Some(Step::End);
            }
            let Some(kw) = keywords::lookup(block, first) else {
                let msg = if line.is_close() {
                    "Unknown keyword '}' (a '}' with no block open)".to_string()
                } else {
                    format!("Unknown keyword '{first}' in {}", block.name())
                };
                self.diags().warn(E::UnknownKeyword, line.loc, msg);
                continue;
            };
            let mut node = Node {
                kw,
                line,
                children: Vec::new(),
                values: Vec::new(),
            };
            match kw.kind {
                Kind::Block(child) => {
                    if !self.open_block(&node.line) {
                        return Some(Step::Node(node));
                    }
                    node.children = self.block(child, level + 1);
                }
                Kind::Values => {
                    node.values = self.values(&node.line);
                }
                _ => {}
            }
            return Some(Step::Node(node));
        }
    }

    /// After a block keyword: expect `{` as the next line. Returns false if the block is absent.
    fn open_block(&mut self, kw_line: &Line) -> bool {
        let Some(next) = self.line() else {
            return false;
        };
        if next.is_open() {
            return true;
        }
        self.diags().error(
            E::MissingBlockStart,
            next.loc,
            format!(
                "Missing '{{' at beginning of configuration block (after '{}')",
                kw_line.word(0).unwrap_or("")
            ),
        );
        // keepalived reads this line as the first line of the block.
        self.src.push_back(next);
        true
    }

    fn block(&mut self, block: Block, level: usize) -> Vec<Node> {
        let mut v = Vec::new();
        while let Some(step) = self.next_node(block, level) {
            match step {
                Step::Node(n) => v.push(n),
                Step::End => break,
            }
        }
        v
    }

    /// keepalived's `alloc_value_block()`: lines up to the matching `}` are values.
    fn values(&mut self, kw_line: &Line) -> Vec<Line> {
        let mut v = Vec::new();
        let mut first = true;
        while let Some(l) = self.line() {
            if first {
                first = false;
                if l.is_open() {
                    continue;
                }
                self.diags().warn(
                    E::Logged,
                    l.loc,
                    format!(
                        "'{{' missing from beginning of block {}",
                        kw_line.word(0).unwrap_or("")
                    ),
                );
            }
            if l.is_close() {
                break;
            }
            if l.is_open() {
                // A nested '{' inside a value block is read as a value by keepalived.
                v.push(l);
                continue;
            }
            v.push(l);
        }
        v
    }
}

struct Lowerer {
    config: Config,
}

// ===== argument helpers =====

/// keepalived's `read_unsigned`: decimal (or 0x hex), range-checked, "number 'x' outside range".
fn parse_uint(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok();
    }
    if s.starts_with('-') || s.starts_with('+') {
        return None;
    }
    s.parse().ok()
}

/// Decimal seconds with up to 6 decimals → microseconds.
pub fn parse_timer(s: &str) -> Option<u64> {
    if s.starts_with('-') {
        return None;
    }
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if (int.is_empty() && frac.is_empty()) || frac.len() > 6 {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..6 {
        f *= 10;
    }
    i.checked_mul(1_000_000)?.checked_add(f)
}

fn fmt_us(us: u64) -> String {
    Micros(us).to_string().trim_end_matches('s').to_string()
}

/// Parse `a.b.c.d`, `a.b.c.d/nn`, IPv6 and IPv6/nn.
fn parse_ip_prefix(s: &str) -> Option<(IpAddr, Option<u8>)> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        Some(p) => {
            let n: u8 = p.parse().ok()?;
            if n > max {
                return None;
            }
            Some(n)
        }
        None => None,
    };
    Some((addr, prefix))
}

/// Split a command line as keepalived does for scripts (shell-like quotes and escapes).
fn split_command(raw: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut quote: Option<char> = None;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                let Some(n) = chars.next() else {
                    return Err("missing escape character at end".into());
                };
                cur.push(match n {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'v' => '\x0b',
                    'E' => '\x1b',
                    other => other,
                });
                have = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                have = true;
            }
            (None, ' ' | '\t') => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            (None, c) => {
                cur.push(c);
                have = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("missing terminating {q}"));
    }
    if have {
        out.push(cur);
    }
    Ok(out)
}

impl Lowerer {
    // ----- generic checks from the keyword table -----

    /// Warn once for a keyword we accept but do not act on.
    fn ignored(&mut self, n: &Node, d: &mut Diagnostics) {
        d.warn(
            E::Logged,
            n.loc(),
            format!(
                "'{}' in {} is accepted but not implemented by keepalived-rs yet - ignored",
                n.kw.name,
                n.kw.block.name()
            ),
        );
        self.config.ignored.push(IgnoredKeyword {
            block: n.kw.block.name(),
            keyword: n.kw.name.to_string(),
            args: n.args(),
            loc: n.loc(),
        });
    }

    /// The first argument, or a keepalived "missing a parameter" error (keepalived exits there).
    fn arg1<'n>(&self, n: &'n Node, d: &mut Diagnostics) -> Option<&'n str> {
        let a = n.arg(1);
        if a.is_none()
            && n.kw.block == Block::GlobalDefs
            && matches!(n.kw.kind, Kind::Str | Kind::Args)
        {
            // keepalived's global string keywords check for their value themselves.
            d.error(
                E::General,
                n.loc(),
                format!("{} name missing - ignoring", n.kw.name),
            );
            return None;
        }
        if a.is_none() {
            d.error(
                E::MissingParameter,
                n.loc(),
                format!(
                    "*** Configuration line starting `{0}` is missing a parameter after keyword `{0}` at word position 2",
                    n.line.word(0).unwrap_or("")
                ),
            );
        }
        a
    }

    fn uint(&self, n: &Node, d: &mut Diagnostics) -> Option<u64> {
        let s = self.arg1(n, d)?;
        let (min, max) = match n.kw.kind {
            Kind::Uint(a, b) => (a, b),
            _ => (0, u64::from(u32::MAX)),
        };
        let what = if s.starts_with('-') {
            "negative number"
        } else {
            "invalid number"
        };
        self.ranged(n, d, s, what, parse_uint(s), min, max, u64::to_string)
    }

    fn int(&self, n: &Node, d: &mut Diagnostics) -> Option<i64> {
        let s = self.arg1(n, d)?;
        let (min, max) = match n.kw.kind {
            Kind::Int(a, b) => (a, b),
            _ => (i64::from(i32::MIN), i64::from(i32::MAX)),
        };
        self.ranged(
            n,
            d,
            s,
            "invalid number",
            s.parse().ok(),
            min,
            max,
            i64::to_string,
        )
    }

    fn timer(&self, n: &Node, d: &mut Diagnostics) -> Option<Micros> {
        let s = self.arg1(n, d)?;
        let (min, max) = match n.kw.kind {
            Kind::Timer(a, b) => (a, b),
            _ => (0, u64::MAX),
        };
        let show = |v: &u64| fmt_us(*v);
        self.ranged(n, d, s, "invalid number", parse_timer(s), min, max, show)
            .map(Micros)
    }

    /// The number `parsed` from the argument `s`, reported as keepalived does when it did not
    /// parse (`what 's'`) or lies outside `[min, max]` (shown with `show`).
    #[allow(clippy::too_many_arguments)]
    fn ranged<T: PartialOrd + Copy>(
        &self,
        n: &Node,
        d: &mut Diagnostics,
        s: &str,
        what: &str,
        parsed: Option<T>,
        min: T,
        max: T,
        show: impl Fn(&T) -> String,
    ) -> Option<T> {
        let name = n.kw.name;
        match parsed {
            None => {
                d.error(
                    E::InvalidNumber,
                    n.line.loc_of(1),
                    format!("{what} '{s}' for {name}"),
                );
                None
            }
            Some(v) if v < min || v > max => {
                let range = format!("[{}, {}]", show(&min), show(&max));
                d.error(
                    E::InvalidNumber,
                    n.line.loc_of(1),
                    format!("number '{s}' outside range {range} for {name}"),
                );
                None
            }
            Some(v) => Some(v),
        }
    }

    fn addr(&self, n: &Node, d: &mut Diagnostics) -> Option<IpAddr> {
        let s = self.arg1(n, d)?;
        match s.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                d.error(
                    E::General,
                    n.line.loc_of(1),
                    format!("invalid IP address '{s}' for {}", n.kw.name),
                );
                None
            }
        }
    }

    /// A flag with keepalived's optional `<BOOL>` argument.
    fn flag(&self, n: &Node, d: &mut Diagnostics) -> bool {
        match n.arg(1) {
            None => true,
            Some(s) => match keywords::parse_bool(s) {
                Some(b) => b,
                None => {
                    d.error(
                        E::General,
                        n.line.loc_of(1),
                        format!(
                            "{} '{s}' is not a valid boolean (on/off/true/false/yes/no)",
                            n.kw.name
                        ),
                    );
                    true
                }
            },
        }
    }

    fn string(&self, n: &Node, d: &mut Diagnostics) -> Option<String> {
        self.arg1(n, d).map(str::to_string)
    }

    /// A command line: the rest of the keyword line, split with shell-like quoting, then an
    /// optional `user [group]` is not part of it (keepalived's notify scripts take
    /// `"script args" [user [group]]`).
    fn command(&self, n: &Node, d: &mut Diagnostics) -> Option<Command> {
        let raw = n.line.raw().trim_start();
        let rest = raw.strip_prefix(n.line.word(0).unwrap_or("")).unwrap_or("");
        if rest.trim().is_empty() {
            self.arg1(n, d);
            return None;
        }
        // The first word (quoted as a whole) is the command; further words are user/group.
        let words = match split_command(rest) {
            Ok(w) => w,
            Err(e) => {
                d.error(E::UnmatchedQuote, n.loc(), format!("{}: {e}", n.kw.name));
                return None;
            }
        };
        let first_is_quoted = n.line.words().get(1).is_some_and(|w| w.quoted);
        let (args, user, group) = if first_is_quoted {
            let args =
                split_command(words.first().map(String::as_str).unwrap_or("")).unwrap_or_default();
            (args, words.get(1).cloned(), words.get(2).cloned())
        } else {
            (words, None, None)
        };
        Some(Command {
            args,
            user,
            group,
            loc: n.loc(),
        })
    }

    fn check_enum<'n>(&self, n: &'n Node, d: &mut Diagnostics) -> Option<&'n str> {
        let s = self.arg1(n, d)?;
        if let Kind::Enum(allowed) = n.kw.kind
            && !allowed.contains(&s)
        {
            d.error(
                E::General,
                n.line.loc_of(1),
                format!(
                    "unknown {} '{s}' (expected one of: {})",
                    n.kw.name,
                    allowed.join(", ")
                ),
            );
            return None;
        }
        Some(s)
    }

    /// Generic handling for keywords whose status is not Supported: type-check as keepalived
    /// would, then warn.
    fn generic(&mut self, n: &Node, d: &mut Diagnostics) {
        match n.kw.status {
            Status::Unsupported => {
                d.error(
                    E::General,
                    n.loc(),
                    format!(
                        "'{}' (keepalived {}) is not supported by keepalived-rs yet",
                        n.kw.name, n.kw.since
                    ),
                );
                return;
            }
            Status::Ignored | Status::Supported => {}
        }
        match n.kw.kind {
            Kind::Uint(..) => {
                self.uint(n, d);
            }
            Kind::Int(..) => {
                self.int(n, d);
            }
            Kind::Timer(..) => {
                self.timer(n, d);
            }
            Kind::Str => {
                self.arg1(n, d);
            }
            Kind::Enum(_) => {
                self.check_enum(n, d);
            }
            Kind::Addr => {
                self.addr(n, d);
            }
            Kind::Flag => {
                self.flag(n, d);
            }
            _ => {}
        }
        self.ignored(n, d);
    }

    fn deprecated(&self, n: &Node, d: &mut Diagnostics, instead: &str) {
        d.warn(
            E::Logged,
            n.loc(),
            format!(
                "'{}' is deprecated; use '{instead}'",
                n.line.word(0).unwrap_or("")
            ),
        );
    }

    // ===== top level =====

    fn top(&mut self, n: Node, d: &mut Diagnostics) {
        match n.kw.name {
            "global_defs" => {
                for c in &n.children {
                    self.global(c, d);
                }
                // vrrp_min_garp: one gratuitous ARP, no second burst, no refresh (the values
                // still at their defaults are changed, as keepalived does).
                let g = &mut self.config.global;
                if g.vrrp_min_garp {
                    let def = GarpSettings::default();
                    if g.garp.master_repeat == def.master_repeat {
                        g.garp.master_repeat = 1;
                    }
                    if g.garp.master_delay == def.master_delay {
                        g.garp.master_delay = Micros(0);
                    }
                    if g.garp.master_refresh_repeat == def.master_refresh_repeat {
                        g.garp.master_refresh_repeat = 0;
                    }
                }
            }
            "vrrp_script" => self.vrrp_script(n, d),
            "track_file" => self.track_file(n, d),
            "vrrp_track_process" => self.track_process(n, d),
            "vrrp_sync_group" => self.sync_group(n, d),
            "vrrp_instance" => self.instance(n, d),
            "garp_group" => self.garp_group(n, d),
            "static_ipaddress" => {
                for l in &n.values {
                    if let Some(a) = self.ip_address(l, d, "static_ipaddress") {
                        self.config.static_addresses.push(a);
                    }
                }
            }
            "static_routes" => {
                for l in &n.values {
                    self.config.static_routes.push(route(l));
                }
            }
            "linkbeat_interfaces" | "interface_up_down_delays" => {
                for l in &n.values {
                    if let Some(i) = l.word(0)
                        && !super::validate::interface_exists(i)
                    {
                        let what = if n.kw.name == "linkbeat_interfaces" {
                            "linkbeat interface"
                        } else {
                            "up/down delay"
                        };
                        d.error(
                            E::Fatal,
                            l.loc,
                            format!("unknown interface {i} specified for {what}"),
                        );
                    }
                }
                self.ignored(&n, d);
            }
            "static_rules" => {
                for l in &n.values {
                    self.config.static_rules.push(Rule {
                        words: words(l),
                        loc: l.loc,
                    });
                }
            }
            "bfd_instance" => self.bfd_instance(n, d),
            "SSL" => {
                let mut ssl = SslConfig::default();
                for c in &n.children {
                    let v = self.string(c, d);
                    match c.kw.name {
                        "password" => ssl.password = v,
                        "ca" => ssl.ca = v,
                        "certificate" => ssl.certificate = v,
                        "key" => ssl.key = v,
                        _ => {}
                    }
                }
                self.config.ssl = Some(ssl);
            }
            "virtual_server_group" => self.vs_group(n, d),
            "virtual_server" => self.virtual_server(n, d),
            "instance" => self.config.global.instance = self.string(&n, d),
            "use_pid_dir" => self.config.global.use_pid_dir = self.flag(&n, d),
            "net_namespace" => self.net_namespace(&n, d),
            _ => self.generic(&n, d),
        }
    }

    /// `net_namespace NAME` (global_parser.c `net_namespace_handler`): the first one wins.
    /// The daemon enters the namespace and reads the configuration again there
    /// (`daemon::namespace`); pid files then go under /run/keepalived/NAME.
    fn net_namespace(&mut self, n: &Node, d: &mut Diagnostics) {
        let Some(name) = n.arg(1) else {
            d.error(E::General, n.loc(), "net_namespace name missing - ignoring");
            return;
        };
        if self.config.global.net_namespace.is_none() {
            self.config.global.net_namespace = Some(name.to_string());
        } else {
            d.error(
                E::General,
                n.line.loc_of(1),
                format!("Duplicate net_namespace definition {name} - ignoring"),
            );
        }
    }

    fn global(&mut self, n: &Node, d: &mut Diagnostics) {
        let g = &mut self.config.global;
        match n.kw.name {
            "router_id" => {
                let v = self.string(n, d);
                self.config.global.router_id = v;
            }
            "notification_email" => {
                g.notification_email = n.values.iter().flat_map(words).collect()
            }
            "notification_email_from" => {
                let v = self.string(n, d);
                self.config.global.notification_email_from = v;
            }
            "smtp_server" => {
                let Some(a) = self.arg1(n, d) else { return };
                let port = match n.arg(2) {
                    Some(p) => match p.parse::<u16>() {
                        Ok(p) if p > 0 => p,
                        _ => {
                            d.error(
                                E::General,
                                n.line.loc_of(2),
                                format!("Invalid smtp_server port '{p}'"),
                            );
                            return;
                        }
                    },
                    None => 25,
                };
                match a.parse::<IpAddr>() {
                    Ok(ip) => self.config.global.smtp_server = Some((ip, port)),
                    Err(_) => d.warn(
                        E::Logged,
                        n.line.loc_of(1),
                        format!("smtp_server '{a}' is not an IP address; host names are not resolved by keepalived-rs - ignored"),
                    ),
                }
            }
            "smtp_helo_name" => {
                let v = self.string(n, d);
                self.config.global.smtp_helo_name = v;
            }
            "smtp_connect_timeout" => {
                if let Some(v) = self.uint(n, d) {
                    self.config.global.smtp_connect_timeout = Micros::secs(v);
                }
            }
            "smtp_alert" => {
                let v = self.flag(n, d);
                self.config.global.smtp_alert = Some(v);
            }
            "smtp_alert_vrrp" => {
                let v = self.flag(n, d);
                self.config.global.smtp_alert_vrrp = Some(v);
            }
            "smtp_alert_checker" => {
                let v = self.flag(n, d);
                self.config.global.smtp_alert_checker = Some(v);
            }
            "no_email_faults" => self.config.global.no_email_faults = true,
            "no_checker_emails" => self.config.global.no_checker_emails = true,
            "startup_script" => self.config.global.startup_script = self.command(n, d),
            "shutdown_script" => self.config.global.shutdown_script = self.command(n, d),
            "startup_script_timeout" | "shutdown_script_timeout" => {
                if let Some(v) = self.uint(n, d).and_then(|v| u32::try_from(v).ok()) {
                    if n.kw.name == "startup_script_timeout" {
                        self.config.global.startup_script_timeout = v;
                    } else {
                        self.config.global.shutdown_script_timeout = v;
                    }
                }
            }
            "script_user" => {
                if let Some(u) = self.arg1(n, d) {
                    self.config.global.script_user =
                        Some((u.to_string(), n.arg(2).map(str::to_string)));
                }
            }
            "enable_script_security" => g.enable_script_security = true,
            "fifo_write_vrrp_states_on_reload" => g.fifo_write_vrrp_states_on_reload = true,
            "dynamic_interfaces" => g.dynamic_interfaces = true,
            "default_interface" => {
                let v = self.string(n, d);
                self.config.global.default_interface = v;
            }
            "lvs_timeouts" => self.lvs_timeouts(n, d),
            "lvs_flush" => g.lvs_flush = true,
            "lvs_flush_on_stop" | "lvs_flush_onstop" => {
                if n.kw.deprecated || n.line.word(0) == Some("lvs_flush_onstop") {
                    self.deprecated(n, d, "lvs_flush_on_stop");
                }
                self.config.global.lvs_flush_on_stop = Some(n.arg(1).unwrap_or("all").to_string());
            }
            "lvs_sync_daemon" => {
                let Some(ifname) = self.arg1(n, d) else {
                    return;
                };
                let args = n.args();
                let instance = args
                    .get(1)
                    .filter(|a| !["id", "maxlen", "port", "ttl", "group"].contains(&a.as_str()))
                    .cloned();
                let id = args
                    .iter()
                    .position(|a| a == "id")
                    .and_then(|i| args.get(i + 1))
                    .and_then(|v| v.parse().ok());
                self.config.global.lvs_sync_daemon = Some(LvsSyncDaemon {
                    interface: ifname.to_string(),
                    instance,
                    id,
                    args: args[1..].to_vec(),
                });
            }
            "vrrp_mcast_group4" | "vrrp_mcast_group6" => {
                let v4 = n.kw.name.ends_with('4');
                if let Some(a) = self.addr(n, d) {
                    if a.is_ipv4() != v4 || !a.is_multicast() {
                        d.error(
                            E::General,
                            n.line.loc_of(1),
                            format!(
                                "{} '{a}' is not a valid IPv{} multicast address",
                                n.kw.name,
                                if v4 { 4 } else { 6 }
                            ),
                        );
                    } else if v4 {
                        self.config.global.vrrp_mcast_group4 = a;
                    } else {
                        self.config.global.vrrp_mcast_group6 = a;
                    }
                }
            }
            "vrrp_garp_master_delay" => {
                if let Some(v) = self.uint(n, d) {
                    self.config.global.garp.master_delay = Micros::secs(v);
                }
            }
            "vrrp_garp_master_repeat" => {
                if let Some(v) = self.uint(n, d) {
                    self.config.global.garp.master_repeat = v as u32;
                }
            }
            "vrrp_garp_master_refresh" => {
                if let Some(v) = self.uint(n, d) {
                    self.config.global.garp.master_refresh = Micros::secs(v);
                }
            }
            "vrrp_garp_master_refresh_repeat" => {
                if let Some(v) = self.uint(n, d) {
                    self.config.global.garp.master_refresh_repeat = v as u32;
                }
            }
            "vrrp_garp_lower_prio_delay" => {
                if let Some(v) = self.uint(n, d) {
                    self.config.global.garp.lower_prio_delay = Some(Micros::secs(v));
                }
            }
            "vrrp_garp_lower_prio_repeat" => {
                if let Some(v) = self.uint(n, d) {
                    self.config.global.garp.lower_prio_repeat = Some(v as u32);
                }
            }
            "vrrp_garp_interval" | "vrrp_gna_interval" => {
                let Some(v) = self.timer(n, d) else {
                    d.error(
                        E::General,
                        n.loc(),
                        format!("{} '{}' is invalid", n.kw.name, n.arg(1).unwrap_or("")),
                    );
                    return;
                };
                if n.kw.name == "vrrp_garp_interval" {
                    self.config.global.vrrp_garp_interval = v;
                } else {
                    self.config.global.vrrp_gna_interval = v;
                }
            }
            "vrrp_min_garp" => g.vrrp_min_garp = true,
            "vrrp_down_timer_adverts" => {
                if let Some(v) = self.uint(n, d) {
                    self.config.global.vrrp_down_timer_adverts = v as u32;
                }
            }
            "vrrp_lower_prio_no_advert" => {
                let v = self.flag(n, d);
                self.config.global.vrrp_lower_prio_no_advert = v;
            }
            "vrrp_higher_prio_send_advert" => {
                let v = self.flag(n, d);
                self.config.global.vrrp_higher_prio_send_advert = v;
            }
            "vrrp_version" => {
                if let Some(v) = self.uint(n, d) {
                    self.config.global.vrrp_version = v as u8;
                }
            }
            "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = true,
            "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = true,
            "vrrp_strict" => g.vrrp_strict = true,
            "v3_checksum_as_v2" => g.v3_checksum_as_v2 = true,
            "vrrp_startup_delay" => {
                if let Some(v) = self.timer(n, d) {
                    self.config.global.vrrp_startup_delay = v;
                }
            }
            "notify_fifo" | "vrrp_notify_fifo" | "lvs_notify_fifo" => {
                let Some(path) = self.string(n, d) else {
                    return;
                };
                let slot = match n.kw.name {
                    "notify_fifo" => &mut self.config.global.notify_fifo,
                    "vrrp_notify_fifo" => &mut self.config.global.vrrp_notify_fifo,
                    _ => &mut self.config.global.lvs_notify_fifo,
                };
                let script = slot.take().and_then(|s| s.1);
                *slot = Some((path, script));
            }
            "notify_fifo_script" | "vrrp_notify_fifo_script" | "lvs_notify_fifo_script" => {
                let cmd = self.command(n, d);
                let slot = match n.kw.name {
                    "notify_fifo_script" => &mut self.config.global.notify_fifo,
                    "vrrp_notify_fifo_script" => &mut self.config.global.vrrp_notify_fifo,
                    _ => &mut self.config.global.lvs_notify_fifo,
                };
                match slot {
                    Some(s) => s.1 = cmd,
                    None => *slot = Some((String::new(), cmd)),
                }
            }
            "state_dump_file" | "stats_dump_file" | "json_dump_file" => {
                if let Some(v) = self.string(n, d) {
                    self.config.global.dump_files.insert(n.kw.name, v);
                }
            }
            "instance" => self.config.global.instance = self.string(n, d),
            "use_pid_dir" => self.config.global.use_pid_dir = true,
            "net_namespace" => self.net_namespace(n, d),
            _ => self.generic(n, d),
        }
    }

    fn lvs_timeouts(&mut self, n: &Node, d: &mut Diagnostics) {
        let args = n.args();
        let mut i = 0;
        while i < args.len() {
            let key = args[i].as_str();
            let Some(val) = args.get(i + 1) else {
                d.error(
                    E::General,
                    n.line.loc_of(i + 1),
                    format!("No value specified for lvs_timeout {key} - ignoring"),
                );
                break;
            };
            let v = match val.parse::<u32>() {
                Ok(v) if v <= 86400 * 31 => v,
                _ => {
                    d.error(
                        E::General,
                        n.line.loc_of(i + 2),
                        format!("Invalid lvs_timeout {key} ({val}) - ignoring"),
                    );
                    i += 2;
                    continue;
                }
            };
            match key {
                "tcp" => self.config.global.lvs_timeouts.tcp = Some(v),
                "tcpfin" => self.config.global.lvs_timeouts.tcpfin = Some(v),
                "udp" => self.config.global.lvs_timeouts.udp = Some(v),
                _ => {
                    d.error(
                        E::General,
                        n.line.loc_of(i + 1),
                        format!("Unknown option {key} specified for lvs_timeouts"),
                    );
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
    }

    // ===== trackers =====

    /// `weight N [reverse]` on the keyword line.
    fn weight_args(
        &self,
        n: &Node,
        d: &mut Diagnostics,
        min: i64,
        max: i64,
    ) -> Option<(i32, bool)> {
        let s = self.arg1(n, d)?;
        let w = match s.parse::<i64>() {
            Ok(w) if (min..=max).contains(&w) => w as i32,
            _ => {
                d.error(
                    E::General,
                    n.line.loc_of(1),
                    format!(
                        "{} weight '{s}' must be in [{min}, {max}]",
                        n.kw.block.name()
                    ),
                );
                return None;
            }
        };
        let reverse = match n.arg(2) {
            None => false,
            Some("reverse") => true,
            Some(o) => {
                d.error(
                    E::General,
                    n.line.loc_of(2),
                    format!("unknown {} weight option '{o}'", n.kw.block.name()),
                );
                false
            }
        };
        Some((w, reverse))
    }

    fn name_of(&self, n: &Node, d: &mut Diagnostics) -> Option<String> {
        match n.arg(1) {
            Some(name) if n.argc() == 1 => Some(name.to_string()),
            _ => {
                d.error(
                    E::General,
                    n.loc(),
                    format!("{} must have a name", n.kw.name),
                );
                None
            }
        }
    }

    fn vrrp_script(&mut self, n: Node, d: &mut Diagnostics) {
        let Some(name) = self.name_of(&n, d) else {
            return;
        };
        let mut s = VrrpScript {
            name,
            script: None,
            interval: Micros::secs(1),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
            loc: n.loc(),
        };
        for c in &n.children {
            match c.kw.name {
                "script" => s.script = self.command(c, d),
                // Whole seconds in keepalived 2.2.7.
                "interval" => {
                    if let Some(v) = self.uint(c, d) {
                        s.interval = Micros::secs(v);
                    }
                }
                "timeout" => s.timeout = self.uint(c, d).map(Micros::secs),
                "weight" => {
                    if let Some((w, r)) = self.weight_args(c, d, -253, 253) {
                        s.weight = w;
                        s.weight_reverse = r;
                    }
                }
                "rise" => {
                    if let Some(v) = self.uint(c, d) {
                        s.rise = v as u32;
                    }
                }
                "fall" => {
                    if let Some(v) = self.uint(c, d) {
                        s.fall = v as u32;
                    }
                }
                "user" => {
                    s.user = self
                        .arg1(c, d)
                        .map(|u| (u.to_string(), c.arg(2).map(str::to_string)))
                }
                "init_fail" => s.init_fail = true,
                _ => self.generic(c, d),
            }
        }
        if s.script.is_none() {
            d.error(
                E::General,
                s.loc,
                format!("No script set for vrrp_script {} - removing", s.name),
            );
            return;
        }
        if self.config.vrrp_scripts.iter().any(|x| x.name == s.name) {
            d.error(
                E::General,
                s.loc,
                format!("vrrp_script {} already defined", s.name),
            );
            return;
        }
        self.config.vrrp_scripts.push(s);
    }

    fn track_file(&mut self, n: Node, d: &mut Diagnostics) {
        let Some(name) = self.name_of(&n, d) else {
            return;
        };
        if n.line.word(0) == Some("vrrp_track_file") {
            self.deprecated(&n, d, "track_file");
        }
        let mut t = TrackFile {
            name,
            file: None,
            weight: 1,
            weight_reverse: false,
            init_file: None,
            loc: n.loc(),
        };
        for c in &n.children {
            match c.kw.name {
                "file" => t.file = self.string(c, d),
                "weight" => {
                    if let Some((w, r)) = self.weight_args(c, d, -254, 254) {
                        t.weight = w;
                        t.weight_reverse = r;
                    }
                }
                "init_file" => {
                    let val = c.arg(1).and_then(|v| v.parse::<i64>().ok());
                    t.init_file = Some((val, c.args().iter().any(|a| a == "overwrite")));
                }
                _ => self.generic(c, d),
            }
        }
        if t.file.is_none() {
            d.error(
                E::General,
                t.loc,
                format!("No file set for track_file {} - removing", t.name),
            );
            return;
        }
        self.config.track_files.push(t);
    }

    fn track_process(&mut self, n: Node, d: &mut Diagnostics) {
        let Some(name) = self.name_of(&n, d) else {
            return;
        };
        let mut t = TrackProcess {
            name,
            process: None,
            param_match: None,
            weight: 0,
            weight_reverse: false,
            quorum: 1,
            quorum_max: None,
            delay: None,
            terminate_delay: None,
            fork_delay: None,
            full_command: false,
            loc: n.loc(),
        };
        for c in &n.children {
            match c.kw.name {
                "process" => {
                    if self.arg1(c, d).is_some() {
                        t.process = Some(c.args());
                    }
                }
                "param_match" => t.param_match = self.check_enum(c, d).map(str::to_string),
                "weight" => {
                    if let Some((w, r)) = self.weight_args(c, d, -254, 254) {
                        t.weight = w;
                        t.weight_reverse = r;
                    }
                }
                "quorum" => {
                    if let Some(v) = self.uint(c, d) {
                        t.quorum = v as u32;
                    }
                }
                "quorum_max" => t.quorum_max = self.uint(c, d).map(|v| v as u32),
                "delay" => t.delay = self.timer(c, d),
                "terminate_delay" => t.terminate_delay = self.timer(c, d),
                "fork_delay" => t.fork_delay = self.timer(c, d),
                "full_command" => t.full_command = true,
                _ => self.generic(c, d),
            }
        }
        if t.process.is_none() {
            d.error(
                E::General,
                t.loc,
                format!(
                    "Process not specified for track process {} - removing",
                    t.name
                ),
            );
            return;
        }
        self.config.track_processes.push(t);
    }

    /// Lines of a `track_*` block: `NAME [weight N [reverse|noreverse]]`.
    fn tracked(&self, n: &Node, d: &mut Diagnostics) -> Vec<Tracked> {
        let mut v = Vec::new();
        for l in &n.values {
            let Some(name) = l.word(0) else { continue };
            let mut t = Tracked {
                name: name.to_string(),
                weight: None,
                reverse: false,
                loc: l.loc,
            };
            let mut i = 1;
            while let Some(w) = l.word(i) {
                match w {
                    "weight" => {
                        let range = -254..=254;
                        match l.word(i + 1).and_then(|x| x.parse::<i64>().ok()) {
                            Some(x) if range.contains(&x) => t.weight = Some(x as i32),
                            _ => d.error(
                                E::General,
                                l.loc_of(i + 1),
                                format!(
                                    "{} {name}: weight must be an integer in [-254, 254]",
                                    n.kw.name
                                ),
                            ),
                        }
                        i += 2;
                    }
                    "reverse" => {
                        t.reverse = true;
                        i += 1;
                    }
                    "noreverse" => {
                        i += 1;
                    }
                    other => {
                        d.error(
                            E::General,
                            l.loc_of(i),
                            format!("{} {name}: unknown option '{other}'", n.kw.name),
                        );
                        i += 1;
                    }
                }
            }
            v.push(t);
        }
        v
    }

    fn notify_slot<'a>(notify: &'a mut Notify, name: &str) -> Option<&'a mut Option<Command>> {
        Some(match name {
            "notify_master" => &mut notify.master,
            "notify_backup" => &mut notify.backup,
            "notify_fault" => &mut notify.fault,
            "notify_stop" => &mut notify.stop,
            "notify_deleted" => &mut notify.deleted,
            "notify" => &mut notify.generic,
            "notify_master_rx_lower_pri" => &mut notify.master_rx_lower_pri,
            _ => return None,
        })
    }

    fn tracking(&self, c: &Node, d: &mut Diagnostics, t: &mut Tracking) -> bool {
        match c.kw.name {
            "track_interface" => t.interfaces.extend(self.tracked(c, d)),
            "track_script" => t.scripts.extend(self.tracked(c, d)),
            "track_file" => t.files.extend(self.tracked(c, d)),
            "track_process" => t.processes.extend(self.tracked(c, d)),
            "track_bfd" => t.bfds.extend(self.tracked(c, d)),
            _ => return false,
        }
        true
    }

    fn sync_group(&mut self, n: Node, d: &mut Diagnostics) {
        let Some(name) = self.name_of(&n, d) else {
            return;
        };
        let mut g = SyncGroup {
            name,
            members: Vec::new(),
            tracking: Tracking::default(),
            notify: Notify::default(),
            smtp_alert: None,
            global_tracking: false,
            sync_group_tracking_weight: false,
            notify_priority_changes: None,
            loc: n.loc(),
        };
        for c in &n.children {
            if self.tracking(c, d, &mut g.tracking) {
                continue;
            }
            if let Some(slot) = Self::notify_slot(&mut g.notify, c.kw.name) {
                *slot = self.command(c, d);
                continue;
            }
            match c.kw.name {
                "group" => {
                    for l in &c.values {
                        for (i, w) in l.texts().enumerate() {
                            g.members.push((w.to_string(), l.loc_of(i)));
                        }
                    }
                }
                "smtp_alert" => g.smtp_alert = Some(self.flag(c, d)),
                "global_tracking" => {
                    d.warn(E::Logged, c.loc(), "global_tracking is deprecated; use track_interface/script/file on the sync group");
                    g.global_tracking = true;
                }
                "sync_group_tracking_weight" => g.sync_group_tracking_weight = true,
                "notify_priority_changes" => g.notify_priority_changes = Some(self.flag(c, d)),
                _ => self.generic(c, d),
            }
        }
        if self.config.sync_groups.iter().any(|x| x.name == g.name) {
            d.error(
                E::General,
                g.loc,
                format!("vrrp sync group {} already defined", g.name),
            );
            return;
        }
        self.config.sync_groups.push(g);
    }

    fn garp_group(&mut self, n: Node, d: &mut Diagnostics) {
        let mut g = GarpGroup {
            garp_interval: None,
            gna_interval: None,
            interfaces: Vec::new(),
            loc: n.loc(),
        };
        for c in &n.children {
            match c.kw.name {
                "garp_interval" => g.garp_interval = self.timer(c, d),
                "gna_interval" => g.gna_interval = self.timer(c, d),
                "interface" => g.interfaces.extend(self.string(c, d)),
                "interfaces" => g.interfaces.extend(c.values.iter().flat_map(words)),
                _ => self.generic(c, d),
            }
        }
        if g.interfaces.is_empty() {
            d.error(E::General, g.loc, "garp_group has no interfaces - ignoring");
            return;
        }
        self.config.garp_groups.push(g);
    }

    fn bfd_instance(&mut self, n: Node, d: &mut Diagnostics) {
        let Some(name) = self.name_of(&n, d) else {
            return;
        };
        let mut b = BfdInstance {
            name,
            neighbor: None,
            source: None,
            min_rx: Micros(10_000),
            min_tx: Micros(10_000),
            idle_tx: Micros(1_000_000),
            multiplier: 5,
            passive: false,
            ttl: None,
            max_hops: None,
            weight: 0,
            loc: n.loc(),
        };
        for c in &n.children {
            match c.kw.name {
                "neighbor_ip" => b.neighbor = self.addr(c, d),
                "source_ip" => b.source = self.addr(c, d),
                // Milliseconds with up to 3 decimals: the "seconds" read by timer() are ms.
                "min_rx" => b.min_rx = self.timer(c, d).map_or(b.min_rx, |v| Micros(v.0 / 1000)),
                "min_tx" => b.min_tx = self.timer(c, d).map_or(b.min_tx, |v| Micros(v.0 / 1000)),
                "idle_tx" => b.idle_tx = self.timer(c, d).map_or(b.idle_tx, |v| Micros(v.0 / 1000)),
                "multiplier" => b.multiplier = self.uint(c, d).map_or(b.multiplier, |v| v as u32),
                "passive" => b.passive = true,
                "ttl" | "hoplimit" => b.ttl = self.uint(c, d).map(|v| v as u8),
                "max_hops" => b.max_hops = self.uint(c, d).map(|v| v as u8),
                "weight" => b.weight = self.int(c, d).map_or(0, |v| v as i32),
                _ => self.generic(c, d),
            }
        }
        if b.neighbor.is_none() {
            d.error(
                E::General,
                b.loc,
                format!("bfd_instance {} has no neighbor_ip - removing", b.name),
            );
            return;
        }
        self.config.bfd_instances.push(b);
    }

    // ===== vrrp_instance =====

    fn instance(&mut self, n: Node, d: &mut Diagnostics) {
        if n.argc() != 1 {
            d.error(E::General, n.loc(), "vrrp_instance must have a name");
            return;
        }
        let name = n.arg(1).unwrap_or("").to_string();
        if self.config.instances.iter().any(|i| i.name == name) {
            d.error(
                E::General,
                n.loc(),
                format!("vrrp instance {name} already defined"),
            );
            return;
        }
        let mut v = VrrpInstance::new(name, n.loc());
        v.garp = self.config.global.garp;
        let iname = v.name.clone();
        for c in &n.children {
            if self.tracking(c, d, &mut v.tracking) {
                continue;
            }
            if let Some(slot) = Self::notify_slot(&mut v.notify, c.kw.name) {
                *slot = self.command(c, d);
                continue;
            }
            match c.kw.name {
                "state" => {
                    let Some(s) = self.arg1(c, d) else { continue };
                    match s {
                        "MASTER" => {
                            v.state = InitialState::Master;
                            v.state_given = true;
                        }
                        "BACKUP" => {
                            v.state_given = true;
                            if v.state == InitialState::Master {
                                d.error(
                                    E::General,
                                    c.loc(),
                                    format!(
                                        "({iname}) state previously set as MASTER - ignoring BACKUP"
                                    ),
                                );
                            }
                        }
                        other => {
                            d.error(
                                E::General,
                                c.line.loc_of(1),
                                format!("({iname}) unknown state '{other}', defaulting to BACKUP"),
                            );
                            v.state = InitialState::Backup;
                        }
                    }
                }
                "interface" => {
                    let Some(s) = self.arg1(c, d) else { continue };
                    if s.len() >= 16 {
                        d.error(
                            E::General,
                            c.line.loc_of(1),
                            format!("Interface name '{s}' too long - ignoring"),
                        );
                        continue;
                    }
                    v.interface = Some((s.to_string(), c.line.loc_of(1)));
                }
                "virtual_router_id" => {
                    let Some(s) = self.arg1(c, d) else { continue };
                    match parse_uint(s) {
                        Some(x @ 1..=255) => v.vrid = Some(Vrid(x as u8)),
                        _ => d.error(
                            E::General,
                            c.line.loc_of(1),
                            format!("({iname}): VRID '{s}' not valid - must be between 1 & 255"),
                        ),
                    }
                }
                "priority" => {
                    let Some(s) = self.arg1(c, d) else { continue };
                    v.priority_given = true;
                    match parse_uint(s) {
                        Some(x @ 1..=255) => v.priority = Priority(x as u8),
                        _ => {
                            d.error(E::General, c.line.loc_of(1), format!("({iname}) Priority not valid! must be between 1 & 255. Using default 100"));
                            v.priority = Priority(100);
                        }
                    }
                }
                "advert_int" => {
                    let Some(s) = self.arg1(c, d) else { continue };
                    match parse_timer(s) {
                        Some(us) if (10_000..=255_000_000).contains(&us) => {
                            v.advert_int = Centis(((us + 5_000) / 10_000) as u32)
                        }
                        _ => d.error(
                            E::General,
                            c.line.loc_of(1),
                            format!(
                                "({iname}) Advert interval ({s}) not valid! Must be > 0 - ignoring"
                            ),
                        ),
                    }
                }
                "version" => {
                    let Some(s) = self.arg1(c, d) else { continue };
                    match s.parse::<u8>() {
                        Ok(x @ 2..=3) => {
                            if x == 2 && v.family == Family::Inet6 {
                                d.error(E::General, c.loc(), format!("({iname}) vrrp_version 2 conflicts with configured or deduced version 3; ignoring."));
                            } else {
                                v.version = Some(x);
                            }
                        }
                        _ => d.error(
                            E::General,
                            c.line.loc_of(1),
                            format!("({iname}): Version must be either 2 or 3"),
                        ),
                    }
                }
                "virtual_ipaddress" => {
                    for l in &c.values {
                        if let Some(a) = self.ip_address(l, d, &iname) {
                            let fam = if a.addr.is_ipv4() {
                                Family::Inet
                            } else {
                                Family::Inet6
                            };
                            if v.family == Family::Unspecified {
                                v.family = fam;
                            } else if v.family != fam {
                                d.error(
                                    E::General,
                                    l.loc,
                                    format!("({iname}): address family must match VRRP instance [{}] - ignoring", a.addr),
                                );
                                continue;
                            }
                            v.vips.push(a);
                        }
                    }
                }
                "virtual_ipaddress_excluded" => {
                    for l in &c.values {
                        if let Some(a) = self.ip_address(l, d, &iname) {
                            v.evips.push(a);
                        }
                    }
                }
                "no_virtual_ipaddress" => v.no_virtual_ipaddress = true,
                "virtual_routes" => v.virtual_routes.extend(c.values.iter().map(route)),
                "virtual_rules" => v.virtual_rules.extend(c.values.iter().map(|l| Rule {
                    words: words(l),
                    loc: l.loc,
                })),
                "unicast_src_ip" | "mcast_src_ip" => {
                    let Some(s) = self.arg1(c, d) else { continue };
                    match s.parse::<IpAddr>() {
                        Ok(a) => {
                            let fam = if a.is_ipv4() { Family::Inet } else { Family::Inet6 };
                            if v.family != Family::Unspecified && v.family != fam {
                                d.error(
                                    E::General,
                                    c.line.loc_of(1),
                                    format!("Configuration error: VRRP instance[{iname}] and src address[{s}] MUST be of the same family !!! Skipping..."),
                                );
                                continue;
                            }
                            v.family = fam;
                            if c.kw.name == "unicast_src_ip" {
                                v.unicast_src_ip = Some(a);
                            } else {
                                v.mcast_src_ip = Some(a);
                            }
                        }
                        Err(_) => d.error(
                            E::General,
                            c.line.loc_of(1),
                            format!("Configuration error: VRRP instance[{iname}] malformed src address[{s}]. Skipping..."),
                        ),
                    }
                }
                "mcast_dst_ip" => v.mcast_dst_ip = self.addr(c, d),
                "unicast_peer" => {
                    for l in &c.values {
                        let Some(s) = l.word(0) else { continue };
                        let Ok(addr) = s.parse::<IpAddr>() else {
                            d.error(
                                E::General,
                                l.loc,
                                format!("({iname}) VRRP parsed invalid IP {s}. skipping IP..."),
                            );
                            continue;
                        };
                        let mut p = UnicastPeer {
                            addr,
                            min_ttl: None,
                            max_ttl: None,
                            loc: l.loc,
                        };
                        let mut i = 1;
                        while let Some(k) = l.word(i) {
                            let val = l.word(i + 1).and_then(|x| x.parse::<u8>().ok());
                            match (k, val) {
                                ("min_ttl", Some(x)) => p.min_ttl = Some(x),
                                ("max_ttl", Some(x)) => p.max_ttl = Some(x),
                                _ => d.error(
                                    E::General,
                                    l.loc_of(i),
                                    format!("({iname}) unknown unicast_peer option '{k}'"),
                                ),
                            }
                            i += 2;
                        }
                        v.unicast_peers.push(p);
                    }
                }
                "unicast_ttl" => v.unicast_ttl = self.uint(c, d).map(|x| x as u8),
                "unicast_fault_no_peer" => v.unicast_fault_no_peer = true,
                "check_unicast_src" => v.check_unicast_src = true,
                "old_unicast_checksum" => {
                    v.old_unicast_checksum = match c.arg(1) {
                        None => UnicastChecksum::Old,
                        Some("never") => UnicastChecksum::Never,
                        Some(o) => {
                            d.error(E::General, c.line.loc_of(1), format!("({iname}) old_unicast_checksum '{o}' - expected nothing or 'never'"));
                            v.old_unicast_checksum
                        }
                    }
                }
                "track_src_ip" => v.track_src_ip = true,
                "native_ipv6" => v.native_ipv6 = true,
                "dont_track_primary" => v.dont_track_primary = true,
                "authentication" => v.authentication = Some(self.authentication(c, d, &iname)),
                "notify_priority_changes" => v.notify_priority_changes = Some(self.flag(c, d)),
                "smtp_alert" => v.smtp_alert = Some(self.flag(c, d)),
                "preempt" => {
                    d.warn(
                        E::Logged,
                        c.loc(),
                        format!("({iname}) \"preempt\" is the default; it has no effect"),
                    );
                    v.nopreempt = false;
                }
                "nopreempt" => v.nopreempt = true,
                "preempt_delay" => {
                    let Some(s) = self.arg1(c, d) else { continue };
                    match parse_timer(s) {
                        Some(us) if us <= 1000 * 1_000_000 => v.preempt_delay = Micros(us),
                        _ => d.error(
                            E::General,
                            c.line.loc_of(1),
                            format!("({iname}) Preempt_delay not valid! must be between 0-1000"),
                        ),
                    }
                }
                "accept" => v.accept = Some(true),
                "no_accept" => v.accept = Some(false),
                "strict_mode" => v.strict_mode = Some(self.flag(c, d)),
                "skip_check_adv_addr" => v.skip_check_adv_addr = self.flag(c, d),
                "promote_secondaries" => v.promote_secondaries = true,
                "garp_master_delay" => {
                    if let Some(x) = self.uint(c, d) {
                        v.garp.master_delay = Micros::secs(x);
                    }
                }
                "garp_master_repeat" => {
                    if let Some(x) = self.uint(c, d) {
                        v.garp.master_repeat = x as u32;
                    }
                }
                "garp_master_refresh" => {
                    if let Some(x) = self.uint(c, d) {
                        v.garp.master_refresh = Micros::secs(x);
                    }
                }
                "garp_master_refresh_repeat" => {
                    if let Some(x) = self.uint(c, d) {
                        v.garp.master_refresh_repeat = x as u32;
                    }
                }
                "garp_lower_prio_delay" => {
                    v.garp.lower_prio_delay = self.uint(c, d).map(Micros::secs)
                }
                "garp_lower_prio_repeat" => {
                    v.garp.lower_prio_repeat = self.uint(c, d).map(|x| x as u32)
                }
                "garp_extra_if" => v.garp_extra_if = Some(c.args()),
                "down_timer_adverts" => v.down_timer_adverts = self.uint(c, d).map(|x| x as u32),
                "lower_prio_no_advert" => v.lower_prio_no_advert = Some(self.flag(c, d)),
                "higher_prio_send_advert" => v.higher_prio_send_advert = Some(self.flag(c, d)),
                "owner_ignore_adverts" => v.owner_ignore_adverts = true,
                "v3_checksum_as_v2" => v.v3_checksum_as_v2 = Some(self.flag(c, d)),
                "timer_expired_backup" | "thread_timer_expired" => {
                    v.timer_expired_backup =
                        Some(c.arg(1).and_then(|p| p.parse().ok()).unwrap_or(0));
                }
                "lvs_sync_daemon_interface" => {
                    d.error(
                        E::Deprecated,
                        c.loc(),
                        format!("({iname}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated. Please use global lvs_sync_daemon"),
                    );
                    v.lvs_sync_daemon_interface = self.string(c, d);
                }
                _ => self.generic(c, d),
            }
        }
        self.config.instances.push(v);
    }

    fn authentication(&mut self, n: &Node, d: &mut Diagnostics, iname: &str) -> Authentication {
        let mut a = Authentication {
            auth_type: None,
            auth_pass: None,
            loc: n.loc(),
        };
        for c in &n.children {
            match c.kw.name {
                "auth_type" => {
                    let Some(s) = self.arg1(c, d) else { continue };
                    match s {
                        "PASS" => a.auth_type = Some(AuthType::Pass),
                        "AH" => a.auth_type = Some(AuthType::Ah),
                        o => d.error(
                            E::General,
                            c.line.loc_of(1),
                            format!("({iname}) unknown authentication type '{o}'"),
                        ),
                    }
                    if c.argc() > 1 {
                        d.warn(
                            E::Logged,
                            c.line.loc_of(2),
                            format!(
                                "({iname}) '{}' after auth_type is ignored: keepalived reads one keyword per line (write auth_pass on its own line)",
                                c.args()[1..].join(" ")
                            ),
                        );
                    }
                }
                "auth_pass" => {
                    let Some(s) = self.arg1(c, d) else { continue };
                    let mut b = s.as_bytes().to_vec();
                    if b.len() > 8 {
                        d.error(
                            E::General,
                            c.line.loc_of(1),
                            "Truncating auth_pass to 8 characters",
                        );
                        b.truncate(8);
                    }
                    a.auth_pass = Some(b);
                }
                _ => self.generic(c, d),
            }
        }
        a
    }

    /// `ADDR[/M] [brd X] [dev IF] [scope S] [label L] [peer P] [flags...]`.
    fn ip_address(&self, l: &Line, d: &mut Diagnostics, owner: &str) -> Option<IpAddress> {
        let s = l.word(0)?;
        let Some((addr, prefix)) = parse_ip_prefix(s) else {
            d.error(
                E::General,
                l.loc,
                format!("({owner}) VRRP parsed invalid IP {s}. skipping IP..."),
            );
            return None;
        };
        let mut a = IpAddress {
            addr,
            prefix: prefix.unwrap_or(if addr.is_ipv4() { 32 } else { 128 }),
            broadcast: None,
            dev: None,
            scope: None,
            label: None,
            peer: None,
            peer_prefix: None,
            flags: Vec::new(),
            preferred_lft: None,
            loc: l.loc,
        };
        let mut i = 1;
        while let Some(w) = l.word(i) {
            let val = l.word(i + 1);
            let need = |d: &mut Diagnostics| {
                if val.is_none() {
                    d.error(
                        E::General,
                        l.loc_of(i),
                        format!("({owner}) VIP {s}: '{w}' needs a value"),
                    );
                }
            };
            match w {
                "brd" | "broadcast" => {
                    need(d);
                    a.broadcast = val.map(str::to_string);
                    i += 2;
                }
                "dev" => {
                    need(d);
                    a.dev = val.map(str::to_string);
                    i += 2;
                }
                "scope" => {
                    need(d);
                    if let Some(v) = val
                        && !["site", "link", "host", "nowhere", "global"].contains(&v)
                        && v.parse::<u8>().is_err()
                    {
                        d.error(
                            E::General,
                            l.loc_of(i + 1),
                            format!("({owner}) Invalid scope '{v}' for VIP {s}"),
                        );
                    }
                    a.scope = val.map(str::to_string);
                    i += 2;
                }
                "label" => {
                    need(d);
                    a.label = val.map(str::to_string);
                    i += 2;
                }
                "peer" => {
                    need(d);
                    match val.map(parse_ip_prefix) {
                        Some(Some((p, n))) => {
                            a.peer = Some(p);
                            a.peer_prefix = n;
                        }
                        Some(None) => d.error(
                            E::General,
                            l.loc_of(i + 1),
                            format!(
                                "({owner}) VIP {s}: invalid peer address '{}'",
                                val.unwrap_or("")
                            ),
                        ),
                        None => {}
                    }
                    i += 2;
                }
                "preferred_lft" => {
                    need(d);
                    a.preferred_lft = val.map(str::to_string);
                    i += 2;
                }
                "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin"
                | "no_track" | "track" => {
                    a.flags.push(w.to_string());
                    i += 1;
                }
                "use_vmac" | "use_ipvlan" => {
                    a.flags.push(w.to_string());
                    i += 1;
                }
                other => {
                    d.error(E::General, l.loc_of(i), format!("({owner}) Unknown configuration entry '{other}' for ip address - ignoring"));
                    i += 1;
                }
            }
        }
        Some(a)
    }

    // ===== LVS =====

    fn vs_group(&mut self, n: Node, d: &mut Diagnostics) {
        let Some(name) = self.name_of(&n, d) else {
            return;
        };
        let mut g = VsGroup {
            name,
            entries: Vec::new(),
            loc: n.loc(),
        };
        for l in &n.values {
            let Some(first) = l.word(0) else { continue };
            if first == "fwmark" {
                match l.word(1).and_then(parse_uint) {
                    Some(m) if m <= u64::from(u32::MAX) => {
                        let family = match l.word(2) {
                            Some("inet6") => Family::Inet6,
                            Some("inet") => Family::Inet,
                            _ => Family::Unspecified,
                        };
                        g.entries.push((
                            VsGroupEntry::Fwmark {
                                mark: m as u32,
                                family,
                            },
                            l.loc,
                        ));
                    }
                    _ => d.error(
                        E::General,
                        l.loc,
                        format!(
                            "virtual server group {}: invalid fwmark '{}'",
                            g.name,
                            l.word(1).unwrap_or("")
                        ),
                    ),
                }
                continue;
            }
            let port = match l.word(1) {
                Some(p) => match p.parse::<u16>() {
                    Ok(p) => p,
                    Err(_) => {
                        d.error(
                            E::General,
                            l.loc_of(1),
                            format!("virtual server group {}: invalid port '{p}'", g.name),
                        );
                        continue;
                    }
                },
                None => 0,
            };
            match parse_range(first) {
                Some((first, last)) => g
                    .entries
                    .push((VsGroupEntry::Range { first, last, port }, l.loc)),
                None => d.error(
                    E::General,
                    l.loc,
                    format!("Invalid virtual server group IP address {first} - skipping"),
                ),
            }
        }
        self.config.vs_groups.push(g);
    }

    /// `lvs_method` / `lb_kind` / `sorry_server_lvs_method` (check_parser.c
    /// `svr_forwarding_handler`). `prev` is the server's method before this line (a real
    /// server starts with its virtual server's, as keepalived's `alloc_rs` copies it) and
    /// `server` is "virtual", "real" or "sorry" for the messages. As keepalived does, `TUN`
    /// with an invalid tunnel option still switches the method to TUN but keeps the previous
    /// tunnel type, port and checksum (keepalived sets the method before it checks the options
    /// and returns at the first error).
    fn forwarding(
        &self,
        n: &Node,
        d: &mut Diagnostics,
        prev: &Forwarding,
        server: &str,
    ) -> Option<Forwarding> {
        let s = self.arg1(n, d)?;
        match s {
            "NAT" => return Some(Forwarding::Nat),
            "DR" => return Some(Forwarding::Dr),
            "TUN" => {}
            other => {
                d.error(
                    E::General,
                    n.line.loc_of(1),
                    format!("PARSER : unknown [{other}] routing method for {server} server."),
                );
                return None;
            }
        }
        let kept = match prev {
            Forwarding::Tun { .. } => prev.clone(),
            _ => Forwarding::Tun {
                kind: None,
                port: None,
                csum: None,
            },
        };
        let args = n.args();
        // What the line gives (the dump shows only that); validated with keepalived's
        // defaults (ipip, no port, nocsum) for the rest.
        let mut kind = None;
        let mut port: u32 = 0;
        let mut csum = None;
        let fail = |d: &mut Diagnostics, at: usize, msg: String| {
            d.error(E::General, n.line.loc_of(at), msg);
        };
        let mut i = 1;
        while i < args.len() {
            match args[i].as_str() {
                "type" => {
                    let Some(t) = args.get(i + 1) else {
                        fail(
                            d,
                            i + 1,
                            format!("Missing tunnel type for {server} server."),
                        );
                        return Some(kept);
                    };
                    kind = Some(match t.as_str() {
                        "ipip" => TunType::Ipip,
                        "gue" => TunType::Gue,
                        "gre" => TunType::Gre,
                        other => {
                            fail(
                                d,
                                i + 2,
                                format!("Unknown tunnel type {other} for {server} server."),
                            );
                            return Some(kept);
                        }
                    });
                    i += 1;
                }
                "port" => {
                    let Some(p) = args.get(i + 1) else {
                        fail(
                            d,
                            i + 1,
                            format!("Missing port for {server} server gue tunnel."),
                        );
                        return Some(kept);
                    };
                    match p.parse::<u32>() {
                        Ok(v) if (1..=65535).contains(&v) => port = v,
                        _ => {
                            fail(
                                d,
                                i + 2,
                                format!("Invalid gue tunnel port {p} for {server} server."),
                            );
                            return Some(kept);
                        }
                    }
                    i += 1;
                }
                "nocsum" => csum = Some(TunCsum::NoCsum),
                "csum" => csum = Some(TunCsum::Csum),
                "remcsum" => csum = Some(TunCsum::RemCsum),
                o => {
                    fail(
                        d,
                        i + 1,
                        format!("Invalid tunnel option {o} for {server} server."),
                    );
                    return Some(kept);
                }
            }
            i += 1;
        }
        let (k, c) = (
            kind.unwrap_or(TunType::Ipip),
            csum.unwrap_or(TunCsum::NoCsum),
        );
        let invalid = if (k == TunType::Gue) != (port != 0) {
            Some("gue tunnels require port, otherwise cannot have port.")
        } else if k == TunType::Ipip && c != TunCsum::NoCsum {
            Some("ipip tunnels do not support checksum option.")
        } else if k == TunType::Gre && c == TunCsum::RemCsum {
            Some("gre tunnels do not support remote checksum option.")
        } else {
            None
        };
        if let Some(msg) = invalid {
            fail(d, 1, msg.to_string());
            return Some(kept);
        }
        Some(Forwarding::Tun {
            kind,
            port: u16::try_from(port).ok().filter(|p| *p != 0),
            csum,
        })
    }

    fn timing(&self, c: &Node, d: &mut Diagnostics, t: &mut TimingOverrides) -> bool {
        debug_assert!(
            is_timing(c.kw.name) || !matches!(c.kw.name, "delay_loop" | "connect_timeout")
        );
        match c.kw.name {
            "delay_loop" => t.delay_loop = self.timer(c, d).or(t.delay_loop),
            "connect_timeout" => t.connect_timeout = self.timer(c, d).or(t.connect_timeout),
            "retry" | "nb_get_retry" => {
                if c.line.word(0) == Some("nb_get_retry") {
                    self.deprecated(c, d, "retry");
                }
                t.retry = self.uint(c, d).map(|v| v as u32).or(t.retry);
            }
            "delay_before_retry" => {
                t.delay_before_retry = self.timer(c, d).or(t.delay_before_retry)
            }
            "warmup" => t.warmup = self.timer(c, d).or(t.warmup),
            _ => return false,
        }
        true
    }

    fn virtual_server(&mut self, n: Node, d: &mut Diagnostics) {
        let loc = n.loc();
        let address = match (n.arg(1), n.arg(2)) {
            (Some("fwmark"), Some(m)) => match parse_uint(m) {
                Some(m) if m > 0 && m <= u64::from(u32::MAX) => VsAddress::Fwmark {
                    mark: m as u32,
                    family: Family::Unspecified,
                },
                _ => {
                    d.error(
                        E::General,
                        n.line.loc_of(2),
                        format!("virtual server fwmark '{m}' is invalid - skipping"),
                    );
                    return;
                }
            },
            (Some("group"), Some(g)) => VsAddress::Group(g.to_string()),
            (Some(ip), port) => {
                let Ok(addr) = ip.parse::<IpAddr>() else {
                    d.error(
                        E::General,
                        n.line.loc_of(1),
                        format!("Invalid virtual server IP address {ip} - skipping"),
                    );
                    return;
                };
                let port = match port.map(str::parse::<u16>) {
                    Some(Ok(p)) => p,
                    Some(Err(_)) => {
                        d.error(
                            E::General,
                            n.line.loc_of(2),
                            format!(
                                "Invalid virtual server port {} - skipping",
                                port.unwrap_or("")
                            ),
                        );
                        return;
                    }
                    None => 0,
                };
                VsAddress::Ip { addr, port }
            }
            (None, _) => {
                d.error(
                    E::General,
                    loc,
                    "virtual_server needs IP PORT, fwmark N or group NAME - skipping",
                );
                return;
            }
        };
        let mut vs = VirtualServer {
            address,
            ip_family: Family::Unspecified,
            protocol: Protocol::Tcp,
            protocol_given: false,
            scheduler_given: false,
            forwarding_given: false,
            scheduler: "wlc".into(),
            sched_flags: Vec::new(),
            forwarding: Forwarding::Nat,
            persistence_timeout: None,
            persistence_granularity: None,
            persistence_engine: None,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            alpha: false,
            omega: false,
            inhibit_on_failure: false,
            ha_suspend: false,
            virtualhost: None,
            sorry_server: None,
            sorry_server_inhibit: false,
            sorry_server_forwarding: None,
            default_weight: 1,
            smtp_alert: None,
            timing: TimingOverrides::default(),
            real_servers: Vec::new(),
            loc,
        };
        let mut rs_nodes = Vec::new();
        for c in &n.children {
            if self.timing(c, d, &mut vs.timing) {
                continue;
            }
            match c.kw.name {
                "real_server" => rs_nodes.push(c),
                "ip_family" => {
                    vs.ip_family = match self.check_enum(c, d) {
                        Some("inet") => Family::Inet,
                        Some("inet6") => Family::Inet6,
                        _ => vs.ip_family,
                    }
                }
                "lvs_sched" => {
                    if let Some(s) = self.arg1(c, d) {
                        // keepalived passes the name to the kernel unchecked; we warn on unknown ones.
                        if matches!(c.kw.kind, Kind::Enum(a) if a.contains(&s)) {
                            vs.scheduler = s.to_string();
                            vs.scheduler_given = true;
                        } else {
                            d.error(
                                E::General,
                                c.line.loc_of(1),
                                format!("Invalid lvs_scheduler '{s}' - ignoring (using wlc)"),
                            );
                        }
                    }
                }
                "lvs_method" => {
                    if let Some(f) = self.forwarding(c, d, &vs.forwarding.clone(), "virtual") {
                        vs.forwarding = f;
                        vs.forwarding_given = true;
                    }
                }
                "protocol" => {
                    vs.protocol_given = true;
                    match self.arg1(c, d) {
                        Some("TCP") => vs.protocol = Protocol::Tcp,
                        Some("UDP") => vs.protocol = Protocol::Udp,
                        Some("SCTP") => vs.protocol = Protocol::Sctp,
                        Some(o) => d.error(
                            E::General,
                            c.line.loc_of(1),
                            format!("Unknown protocol {o} - ignoring"),
                        ),
                        None => {}
                    }
                }
                "persistence_timeout" => match c.arg(1) {
                    None => vs.persistence_timeout = Some(360),
                    Some(s) => match s.parse::<u32>() {
                        Ok(t) if t >= 1 => vs.persistence_timeout = Some(t),
                        _ => d.error(
                            E::General,
                            c.line.loc_of(1),
                            format!("persistence_timeout invalid '{s}'"),
                        ),
                    },
                },
                "persistence_granularity" => {
                    if let Some(s) = self.arg1(c, d) {
                        let ok = s.parse::<std::net::Ipv4Addr>().is_ok()
                            || s.parse::<u8>().is_ok_and(|p| (1..=128).contains(&p));
                        if ok {
                            vs.persistence_granularity = Some(s.to_string());
                        } else {
                            d.error(
                                E::General,
                                c.line.loc_of(1),
                                format!(
                                    "Invalid virtual server persistence_granularity {s} - ignoring"
                                ),
                            );
                        }
                    }
                }
                "persistence_engine" => vs.persistence_engine = self.string(c, d),
                "hashed" | "ops" | "flag-1" | "flag-2" | "flag-3" => {
                    vs.sched_flags.push(c.kw.name.to_string())
                }
                // check_parser.c `lbflags_handler`: the scheduler is checked when the flag is
                // read, so `sh-port` before `lvs_sched sh` is refused; an mh flag under sh (or
                // an sh flag under mh) is dropped without a word.
                "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" => {
                    let name = c.kw.name;
                    match (vs.scheduler.as_str(), &name[..2]) {
                        ("sh", "sh") | ("mh", "mh") => vs.sched_flags.push(name.to_string()),
                        ("sh" | "mh", _) => {}
                        _ => d.error(
                            E::General,
                            c.loc(),
                            format!("{name} only applies to sh scheduler - ignoring"),
                        ),
                    }
                }
                "quorum" => vs.quorum = self.uint(c, d).map_or(vs.quorum, |v| v as u32),
                "hysteresis" => vs.hysteresis = self.uint(c, d).map_or(vs.hysteresis, |v| v as u32),
                "quorum_up" => vs.quorum_up = self.command(c, d).map(Box::new),
                "quorum_down" => vs.quorum_down = self.command(c, d).map(Box::new),
                "alpha" => vs.alpha = true,
                "omega" => vs.omega = true,
                "inhibit_on_failure" => vs.inhibit_on_failure = self.flag(c, d),
                "ha_suspend" => vs.ha_suspend = true,
                "virtualhost" => vs.virtualhost = self.string(c, d),
                "sorry_server" => {
                    let (Some(ip), port) = (self.arg1(c, d), c.arg(2)) else {
                        continue;
                    };
                    match (ip.parse::<IpAddr>(), port.map_or(Ok(0), str::parse::<u16>)) {
                        (Ok(a), Ok(p)) => vs.sorry_server = Some((a, p)),
                        _ => d.error(
                            E::General,
                            c.loc(),
                            format!("Invalid sorry_server {ip} {}", port.unwrap_or("")),
                        ),
                    }
                }
                "sorry_server_inhibit" => vs.sorry_server_inhibit = self.flag(c, d),
                "sorry_server_lvs_method" => {
                    let prev = vs
                        .sorry_server_forwarding
                        .clone()
                        .unwrap_or_else(|| vs.forwarding.clone());
                    if let Some(f) = self.forwarding(c, d, &prev, "sorry") {
                        vs.sorry_server_forwarding = Some(f);
                    }
                }
                "weight" => vs.default_weight = self.int(c, d).map_or(1, |v| v as i32),
                "smtp_alert" => vs.smtp_alert = Some(self.flag(c, d)),
                _ => self.generic(c, d),
            }
        }
        vs.real_servers.reserve_exact(rs_nodes.len());
        for c in rs_nodes {
            if let Some(rs) = self.real_server(c, d, &vs) {
                vs.real_servers.push(rs);
            }
        }
        // Large configurations hold 100k real servers: no spare capacity.
        vs.real_servers.shrink_to_fit();
        self.config.virtual_servers.push(vs);
    }

    fn real_server(
        &mut self,
        n: &Node,
        d: &mut Diagnostics,
        vs: &VirtualServer,
    ) -> Option<RealServer> {
        let ip = self.arg1(n, d)?;
        let Ok(addr) = ip.parse::<IpAddr>() else {
            d.error(
                E::General,
                n.line.loc_of(1),
                format!("Invalid real server ip address/port {ip} - skipping"),
            );
            return None;
        };
        let port = match n.arg(2) {
            Some(p) => match p.parse::<u16>() {
                Ok(p) => p,
                Err(_) => {
                    d.error(
                        E::General,
                        n.line.loc_of(2),
                        format!("Invalid real server ip address/port {ip} {p} - skipping"),
                    );
                    return None;
                }
            },
            None => match vs.address {
                VsAddress::Ip { port, .. } => port,
                _ => 0,
            },
        };
        let mut rs = RealServer {
            addr,
            port,
            weight: vs.default_weight,
            forwarding: None,
            uthreshold: None,
            lthreshold: None,
            inhibit_on_failure: None,
            notify_up: None,
            notify_down: None,
            alpha: None,
            virtualhost: None,
            smtp_alert: None,
            timing: None,
            checkers: Box::default(),
            loc: n.loc(),
        };
        let mut checker_nodes = Vec::new();
        for c in &n.children {
            if is_timing(c.kw.name) {
                self.timing(c, d, rs.timing.get_or_insert_default());
                continue;
            }
            match c.kw.name {
                "weight" => {
                    if let Some(w) = self.int(c, d) {
                        if w < 0 {
                            d.error(
                                E::General,
                                c.line.loc_of(1),
                                format!("Real server weight {w} is outside range 0-2147483647"),
                            );
                        } else {
                            rs.weight = w as i32;
                        }
                    }
                }
                "lvs_method" => {
                    let prev = rs
                        .forwarding
                        .clone()
                        .unwrap_or_else(|| vs.forwarding.clone());
                    if let Some(f) = self.forwarding(c, d, &prev, "real") {
                        rs.forwarding = Some(f);
                    }
                }
                "uthreshold" => rs.uthreshold = self.uint(c, d).map(|v| v as u32),
                "lthreshold" => rs.lthreshold = self.uint(c, d).map(|v| v as u32),
                "inhibit_on_failure" => rs.inhibit_on_failure = Some(self.flag(c, d)),
                "notify_up" => rs.notify_up = self.command(c, d).map(Box::new),
                "notify_down" => rs.notify_down = self.command(c, d).map(Box::new),
                "alpha" => rs.alpha = Some(self.flag(c, d)),
                "smtp_alert" => rs.smtp_alert = Some(self.flag(c, d)),
                "virtualhost" => rs.virtualhost = self.string(c, d),
                _ if matches!(c.kw.kind, Kind::Block(_)) => checker_nodes.push(c),
                _ => self.generic(c, d),
            }
        }
        let mut checkers = Vec::with_capacity(checker_nodes.len());
        for c in checker_nodes {
            if let Some(ck) = self.checker(c, d, vs, &rs) {
                checkers.push(ck);
            }
        }
        rs.checkers = checkers.into_boxed_slice();
        Some(rs)
    }

    fn checker(
        &mut self,
        n: &Node,
        d: &mut Diagnostics,
        vs: &VirtualServer,
        rs: &RealServer,
    ) -> Option<Checker> {
        let mut kind = match n.kw.name {
            "HTTP_GET" => CheckerKind::Http(Box::default()),
            "SSL_GET" => CheckerKind::Ssl(Box::default()),
            "TCP_CHECK" => CheckerKind::Tcp,
            "MISC_CHECK" => CheckerKind::Misc(Box::default()),
            "SMTP_CHECK" => CheckerKind::Smtp(Box::default()),
            "DNS_CHECK" => CheckerKind::Dns(Box::default()),
            "UDP_CHECK" => CheckerKind::Udp(Box::default()),
            "PING_CHECK" => CheckerKind::Ping,
            "FILE_CHECK" => CheckerKind::File(Box::default()),
            "BFD_CHECK" => CheckerKind::Bfd(Box::default()),
            _ => return None,
        };
        let mut overrides = TimingOverrides::default();
        let mut ck = Checker {
            kind: CheckerKind::Tcp,
            connect_ip: None,
            connect_port: None,
            bind: None,
            alpha: None,
            log_all_failures: None,

            timing: CheckTiming {
                delay_loop: Micros::secs(60),
                connect_timeout: Micros::secs(5),
                retry: 1,
                delay_before_retry: Micros::secs(1),
                warmup: None,
            },
            loc: n.loc(),
        };
        for c in &n.children {
            if self.timing(c, d, &mut overrides) {
                continue;
            }
            if matches!(c.kw.block, Block::CheckerCommon | Block::CheckerConnect) {
                match c.kw.name {
                    "connect_ip" => ck.connect_ip = self.addr(c, d),
                    "connect_port" => ck.connect_port = self.uint(c, d).map(|v| v as u16),
                    "bindto" => ck.bind.get_or_insert_default().bindto = self.addr(c, d),
                    "bind_port" => {
                        ck.bind.get_or_insert_default().bind_port =
                            self.uint(c, d).map(|v| v as u16)
                    }
                    "bind_if" => ck.bind.get_or_insert_default().bind_if = self.string(c, d),
                    "fwmark" => {
                        ck.bind.get_or_insert_default().fwmark = self.uint(c, d).map(|v| v as u32)
                    }
                    "alpha" => ck.alpha = Some(self.flag(c, d)),
                    "log_all_failures" => ck.log_all_failures = Some(self.flag(c, d)),
                    _ => self.generic(c, d),
                }
                continue;
            }
            match &mut kind {
                CheckerKind::Http(h) | CheckerKind::Ssl(h) => match c.kw.name {
                    "url" => h.urls.push(self.url(c, d)),
                    "virtualhost" => h.virtualhost = self.string(c, d),
                    "http_protocol" => h.http_protocol = self.check_enum(c, d).map(str::to_string),
                    "fast_recovery" => h.fast_recovery = self.flag(c, d),
                    "enable_sni" => h.enable_sni = self.flag(c, d),
                    "sni_name" => h.sni_name = self.string(c, d),
                    "tls_compliant" => h.tls_compliant = self.flag(c, d),
                    _ => self.generic(c, d),
                },
                CheckerKind::Misc(m) => match c.kw.name {
                    "misc_path" => m.path = self.command(c, d),
                    "misc_timeout" => m.timeout = self.timer(c, d),
                    "misc_dynamic" => m.dynamic = true,
                    "user" => {
                        m.user = self
                            .arg1(c, d)
                            .map(|u| (u.to_string(), c.arg(2).map(str::to_string)))
                    }
                    _ => self.generic(c, d),
                },
                CheckerKind::Smtp(s) => match c.kw.name {
                    "helo_name" => s.helo_name = self.string(c, d),
                    "host" => {
                        let mut h = SmtpHost {
                            loc: c.loc(),
                            ..SmtpHost::default()
                        };
                        for hc in &c.children {
                            match hc.kw.name {
                                "connect_ip" => h.connect_ip = self.addr(hc, d),
                                "connect_port" => {
                                    h.connect_port = self.uint(hc, d).map(|v| v as u16)
                                }
                                "bindto" => h.bindto = self.addr(hc, d),
                                "bind_port" => h.bind_port = self.uint(hc, d).map(|v| v as u16),
                                "bind_if" => h.bind_if = self.string(hc, d),
                                "fwmark" => h.fwmark = self.uint(hc, d).map(|v| v as u32),
                                "connect_timeout" => h.connect_timeout = self.timer(hc, d),
                                _ => self.generic(hc, d),
                            }
                        }
                        s.hosts.push(h);
                    }
                    _ => self.generic(c, d),
                },
                CheckerKind::Dns(x) => match c.kw.name {
                    "type" => x.qtype = self.check_enum(c, d).map(str::to_string),
                    "name" => x.name = self.string(c, d),
                    _ => self.generic(c, d),
                },
                CheckerKind::Udp(u) => match c.kw.name {
                    "payload" => {
                        // keepalived joins the words: blanks may separate octets.
                        if self.arg1(c, d).is_some() {
                            let s = c.args().join(" ");
                            match parse_hex(&s) {
                                Some(b) => u.payload = Some(b),
                                None => d.error(
                                    E::General,
                                    c.line.loc_of(1),
                                    format!("Invalid hex string for UDP payload '{s}'"),
                                ),
                            }
                        }
                    }
                    "require_reply" => u.require_reply = Some(c.args().join(" ")),
                    "min_reply_length" => u.min_reply_length = self.uint(c, d).map(|v| v as u32),
                    "max_reply_length" => u.max_reply_length = self.uint(c, d).map(|v| v as u32),
                    _ => self.generic(c, d),
                },
                CheckerKind::File(f) => match c.kw.name {
                    "track_file" => f.track_file = self.string(c, d),
                    "weight" => {
                        if let Some((w, r)) = self.weight_args(c, d, -254, 254) {
                            f.weight = Some(w);
                            f.reverse = r;
                        }
                    }
                    _ => self.generic(c, d),
                },
                CheckerKind::Bfd(b) => match c.kw.name {
                    "name" => b.name = self.string(c, d),
                    "alpha" => ck.alpha = Some(self.flag(c, d)),
                    _ => self.generic(c, d),
                },
                CheckerKind::Tcp | CheckerKind::Ping => self.generic(c, d),
            }
        }
        // Checker-specific completion, as keepalived's close handlers do.
        match &kind {
            CheckerKind::Http(h) | CheckerKind::Ssl(h) if h.urls.is_empty() => {
                d.error(
                    E::General,
                    n.loc(),
                    format!("{} has no url - checker removed", n.kw.name),
                );
                return None;
            }
            CheckerKind::Misc(m) if m.path.is_none() => {
                d.error(
                    E::General,
                    n.loc(),
                    "No misc_path set for MISC_CHECK - removing",
                );
                return None;
            }
            CheckerKind::File(f) if f.track_file.is_none() => {
                d.error(
                    E::General,
                    n.loc(),
                    "FILE_CHECK has no track_file - removing",
                );
                return None;
            }
            _ => {}
        }
        // Inheritance: checker ← real_server ← virtual_server ← default.
        let o = [
            overrides,
            rs.timing.as_deref().copied().unwrap_or_default(),
            vs.timing,
        ];
        let pick = |f: fn(&TimingOverrides) -> Option<Micros>| o.iter().find_map(f);
        let (default_retry, default_dbr) = match kind {
            CheckerKind::Misc(_) => (0, Micros::secs(1)),
            CheckerKind::Http(_) | CheckerKind::Ssl(_) => (1, Micros::secs(3)),
            CheckerKind::Dns(_) => (3, Micros(0)),
            _ => (1, Micros::secs(1)),
        };
        let delay_loop = pick(|t| t.delay_loop).unwrap_or(Micros::secs(60));
        ck.timing = CheckTiming {
            delay_loop,
            connect_timeout: pick(|t| t.connect_timeout).unwrap_or(Micros::secs(5)),
            retry: o.iter().find_map(|t| t.retry).unwrap_or(default_retry),
            delay_before_retry: pick(|t| t.delay_before_retry).unwrap_or(
                if matches!(kind, CheckerKind::Dns(_)) {
                    delay_loop
                } else {
                    default_dbr
                },
            ),
            warmup: pick(|t| t.warmup),
        };
        ck.kind = kind;
        Some(ck)
    }

    fn url(&mut self, n: &Node, d: &mut Diagnostics) -> Url {
        let mut u = Url {
            loc: n.loc(),
            ..Url::default()
        };
        for c in &n.children {
            match c.kw.name {
                "path" => u.path = self.string(c, d),
                "digest" => {
                    if let Some(s) = self.arg1(c, d) {
                        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                            d.error(
                                E::General,
                                c.line.loc_of(1),
                                format!("digest '{s}' is not an MD5 hex digest"),
                            );
                        }
                        u.digest = Some(s.to_ascii_lowercase());
                    }
                }
                "status_code" => {
                    for (i, s) in c.args().iter().enumerate() {
                        match parse_status_range(s) {
                            Some(r) => u.status_codes.push(r),
                            None => d.error(
                                E::General,
                                c.line.loc_of(i + 1),
                                format!("Invalid HTTP_GET status code range '{s}'"),
                            ),
                        }
                    }
                }
                "virtualhost" => u.virtualhost = self.string(c, d),
                "regex" => u.regex = self.string(c, d),
                "regex_no_match" => u.regex_no_match = true,
                _ => self.generic(c, d),
            }
        }
        if u.path.is_none() {
            d.error(E::General, u.loc, "Missing path for url - url removed");
        }
        u
    }
}

/// The checker timers that a virtual server, real server or checker may set.
fn is_timing(name: &str) -> bool {
    matches!(
        name,
        "delay_loop"
            | "connect_timeout"
            | "retry"
            | "nb_get_retry"
            | "delay_before_retry"
            | "warmup"
    )
}

fn words(l: &Line) -> Vec<String> {
    l.texts().map(str::to_string).collect()
}

fn route(l: &Line) -> Route {
    let w = words(l);
    let mut dest = None;
    let mut dev = None;
    let mut i = 0;
    while i < w.len() {
        match w[i].as_str() {
            "dev" | "oif" => {
                dev = w.get(i + 1).cloned();
                i += 2;
            }
            "src" | "via" | "gw" | "or" | "table" | "metric" | "scope" | "proto" | "realms"
            | "mtu" | "advmss" | "nexthop" | "weight" | "onlink" | "type" | "preference" => {
                i += if matches!(w[i].as_str(), "nexthop" | "onlink") {
                    1
                } else {
                    2
                };
            }
            "to" | "blackhole" | "unreachable" | "prohibit" | "throw" => i += 1,
            s if dest.is_none()
                && (s.contains('/') || s.parse::<IpAddr>().is_ok() || s == "default") =>
            {
                dest = Some(s.to_string());
                i += 1;
            }
            _ => i += 1,
        }
    }
    Route {
        words: w,
        dest,
        dev,
        loc: l.loc,
    }
}

/// `a.b.c.d`, `a.b.c.d-e` (last octet range), IPv6 `x::y-z` (last hextet), or `addr/nn`.
fn parse_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    if let Some((a, p)) = s.split_once('/') {
        let addr: IpAddr = a.parse().ok()?;
        let bits: u32 = p.parse().ok()?;
        return match addr {
            IpAddr::V4(v) if bits <= 32 => {
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                let base = u32::from(v) & mask;
                Some((IpAddr::V4(base.into()), IpAddr::V4((base | !mask).into())))
            }
            IpAddr::V6(v) if bits <= 128 => {
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                let base = u128::from(v) & mask;
                Some((IpAddr::V6(base.into()), IpAddr::V6((base | !mask).into())))
            }
            _ => None,
        };
    }
    if let Some((a, end)) = s.rsplit_once('-') {
        let addr: IpAddr = a.parse().ok()?;
        return match addr {
            IpAddr::V4(v) => {
                let e: u8 = end.parse().ok()?;
                let o = v.octets();
                if e < o[3] {
                    return None;
                }
                Some((addr, IpAddr::from([o[0], o[1], o[2], e])))
            }
            IpAddr::V6(v) => {
                let e = u16::from_str_radix(end, 16).ok()?;
                let mut seg = v.segments();
                if e < seg[7] {
                    return None;
                }
                seg[7] = e;
                Some((addr, IpAddr::from(seg)))
            }
        };
    }
    let a: IpAddr = s.parse().ok()?;
    Some((a, a))
}

fn parse_status_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
    ((100..=599).contains(&a) && (100..=599).contains(&b) && a <= b).then_some((a, b))
}

/// keepalived's `read_hex_str()` without wildcards: pairs of hex digits, blanks allowed between
/// octets, a lone digit before a blank (or the end) is one octet.
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().strip_prefix("0x").unwrap_or(s.trim());
    let mut out = Vec::new();
    for group in s.split([' ', '\t']).filter(|g| !g.is_empty()) {
        let b = group.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let end = (i + 2).min(b.len());
            out.push(u8::from_str_radix(group.get(i..end)?, 16).ok()?);
            i = end;
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers() {
        assert_eq!(parse_timer("1"), Some(1_000_000));
        assert_eq!(parse_timer("0.5"), Some(500_000));
        assert_eq!(parse_timer("1.000001"), Some(1_000_001));
        assert_eq!(parse_timer("1.0000001"), None);
        assert_eq!(parse_timer("-1"), None);
        assert_eq!(parse_timer("x"), None);
    }

    #[test]
    fn commands_split_like_a_shell() {
        assert_eq!(
            split_command(r#" "/bin/sh -c 'exit 0'" root"#).unwrap(),
            ["/bin/sh -c 'exit 0'", "root"]
        );
        assert_eq!(split_command(r"/a\ b c").unwrap(), ["/a b", "c"]);
        assert!(split_command("'open").is_err());
    }

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("198.51.100.1-10"),
            Some((
                "198.51.100.1".parse().unwrap(),
                "198.51.100.10".parse().unwrap()
            ))
        );
        assert_eq!(
            parse_range("198.51.100.0/30").map(|r| r.1),
            Some("198.51.100.3".parse().unwrap())
        );
        assert!(parse_range("198.51.100.9-1").is_none());
        assert_eq!(parse_status_range("200-299"), Some((200, 299)));
        assert_eq!(parse_status_range("99"), None);
    }
}

#[cfg(test)]
mod hex_tests {
    use super::parse_hex;

    #[test]
    fn hex_strings_as_keepalived_reads_them() {
        assert_eq!(parse_hex("0102ff"), Some(vec![1, 2, 0xff]));
        assert_eq!(parse_hex("01 2 ff"), Some(vec![1, 2, 0xff]));
        assert_eq!(parse_hex("abc"), Some(vec![0xab, 0xc]));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(""), None);
    }
}
