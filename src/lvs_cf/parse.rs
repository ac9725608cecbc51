//! Reading an lvs.cf: lines → tokens (pest, `grammar/lvs_cf.pest`) → sections and settings,
//! each value checked against the key table ([`super::KEYS`]) the way piranha's
//! `lvsconfig.c` checks it.
//!
//! piranha stops at the first error; here every error is reported (file:line:col, caret) and
//! reading goes on with the next line, so one run lists everything to fix. This module never
//! decides what a setting *means* for keepalived: that is [`super::plan`].

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs as _};

use pest::Parser as _;
use pest_derive::Parser;

use super::{Arg, KEYS, KeySpec, Scope};
use crate::config::diag::{Diagnostics, ErrorClass as E, Loc};

#[derive(Parser)]
#[grammar = "../grammar/lvs_cf.pest"]
struct LineParser;

/// Limits that keep hostile input bounded (piranha itself reads the file into a stack buffer).
const MAX_FILE_SIZE: u64 = 64 << 20;
const MAX_LINE_LEN: usize = 64 << 10;
/// piranha's `LVS_MAX_TOKENS`: at most 99 tokens on a line.
const MAX_TOKENS: usize = 99;

/// One token of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    /// `"` or `'` if the token was quoted (piranha keeps the quote type for send/expect).
    pub quote: Option<char>,
    pub loc: Loc,
}

/// A typed value, as lvsconfig.c converts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    Str(String),
    /// An IPv4 address (inet_aton forms) or a resolved host name; the text as written.
    Host(Ipv4Addr, String),
    /// `IP DEV` (`address`, `nat_router`).
    HostDev(Ipv4Addr, String),
    /// A dotted address that may not be a host name (netmasks, `sorry_server`).
    Addr(Ipv4Addr),
    Port(u16),
    Word(&'static str),
    List(Vec<String>),
}

/// One `key = value...` line.
#[derive(Debug, Clone)]
pub struct Setting {
    pub spec: &'static KeySpec,
    pub loc: Loc,
    /// The value tokens (after the `=`).
    pub args: Vec<Token>,
    pub value: Value,
    /// The line as written (for the converter's comments), without its indentation.
    pub text: String,
}

impl Setting {
    pub fn key(&self) -> &'static str {
        self.spec.name
    }
    pub fn int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }
    pub fn bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            Value::Word(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    Virtual,
    Failover,
}

/// A `server NAME { }` block.
#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    pub loc: Loc,
    pub settings: Vec<Setting>,
    /// The virtual's `port` when this block was read (piranha's default real port).
    pub inherited_port: u16,
}

/// A `virtual NAME { }` or `failover NAME { }` block.
#[derive(Debug, Clone)]
pub struct Section {
    pub kind: SectionKind,
    pub name: String,
    pub loc: Loc,
    pub settings: Vec<Setting>,
    pub servers: Vec<Server>,
}

/// A whole lvs.cf: the global settings and the sections, in file order.
#[derive(Debug, Clone, Default)]
pub struct LvsCf {
    pub path: String,
    pub file: u32,
    pub globals: Vec<Setting>,
    pub sections: Vec<Section>,
}

/// The last occurrence of `key` (piranha overwrites earlier ones).
pub fn get<'a>(settings: &'a [Setting], key: &str) -> Option<&'a Setting> {
    settings.iter().rev().find(|s| s.spec.name == key)
}

impl LvsCf {
    pub fn global(&self, key: &str) -> Option<&Setting> {
        get(&self.globals, key)
    }
}

/// Read and parse the file at `path`. `Err` only when it cannot be read at all.
pub fn read_file(path: &str, diags: &mut Diagnostics) -> Result<LvsCf, std::io::Error> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes)?;
    let id = diags.add_file(path);
    if bytes.len() as u64 > MAX_FILE_SIZE {
        diags.report(
            E::Fatal,
            Some(Loc {
                file: id,
                line: 1,
                col: 1,
            }),
            format!("{path}: larger than {} MiB - not read", MAX_FILE_SIZE >> 20),
        );
        return Ok(LvsCf {
            path: path.to_string(),
            file: id,
            ..LvsCf::default()
        });
    }
    Ok(parse_bytes(path, id, &bytes, diags))
}

/// Parse lvs.cf text already read; `file` is its index in `diags`.
pub fn parse_bytes(path: &str, file: u32, bytes: &[u8], diags: &mut Diagnostics) -> LvsCf {
    let text = String::from_utf8_lossy(bytes);
    let mut cf = LvsCf {
        path: path.to_string(),
        file,
        ..LvsCf::default()
    };
    if text.trim().is_empty() {
        // lvsconfig.c: LVS_ERROR_STAT for an empty file.
        diags.error(
            E::General,
            Loc {
                file,
                line: 1,
                col: 1,
            },
            "Empty configuration",
        );
        return cf;
    }
    let mut p = Parser {
        file,
        diags,
        lines: split_lines(&text),
        next: 0,
    };
    p.top(&mut cf);
    cf
}

/// Lines at "\n", "\r\n" or a lone "\r" (piranha's own line splitting misreads files that mix
/// them), numbered from 1.
fn split_lines(text: &str) -> Vec<(u32, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = text.as_bytes();
    let mut i = 0;
    let mut n = 1u32;
    while i < b.len() {
        if b[i] == b'\n' || b[i] == b'\r' {
            out.push((n, &text[start..i]));
            if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            n = n.saturating_add(1);
            start = i + 1;
        }
        i += 1;
    }
    if start < b.len() {
        out.push((n, &text[start..]));
    }
    out
}

/// The tokens of one line (`None` for a blank or comment line), or the column of a quotation
/// mismatch.
pub fn tokenize(line: &str) -> Result<Vec<(usize, String, Option<char>)>, usize> {
    let Ok(mut pairs) = LineParser::parse(Rule::line, line) else {
        // The grammar accepts every line; a failure is a grammar bug. Report it as bad quoting
        // at the start rather than panicking.
        return Err(0);
    };
    let mut out = Vec::new();
    let Some(top) = pairs.next() else {
        return Ok(out);
    };
    for p in top.into_inner() {
        let start = p.as_span().start();
        match p.as_rule() {
            Rule::bare => out.push((start, p.as_str().to_string(), None)),
            Rule::dq | Rule::sq => {
                let q = if p.as_rule() == Rule::dq { '"' } else { '\'' };
                let text = p.into_inner().next().map_or("", |i| i.as_str());
                out.push((start, text.to_string(), Some(q)));
            }
            Rule::bad_quote => return Err(start),
            _ => {}
        }
    }
    Ok(out)
}

struct Parser<'a, 'd> {
    file: u32,
    diags: &'d mut Diagnostics,
    lines: Vec<(u32, &'a str)>,
    next: usize,
}

/// A line as tokens, with its text.
struct TokLine {
    toks: Vec<Token>,
    text: String,
    loc: Loc,
}

impl TokLine {
    fn word(&self, i: usize) -> Option<&str> {
        self.toks.get(i).map(|t| t.text.as_str())
    }
    fn loc_of(&self, i: usize) -> Loc {
        self.toks.get(i).map_or(self.loc, |t| t.loc)
    }
    /// An unquoted `{` or `}`.
    fn is(&self, i: usize, s: &str) -> bool {
        self.toks
            .get(i)
            .is_some_and(|t| t.quote.is_none() && t.text == s)
    }
}

impl Parser<'_, '_> {
    fn loc(&self, line: u32, col: usize) -> Loc {
        Loc {
            file: self.file,
            line,
            col: u32::try_from(col + 1).unwrap_or(u32::MAX),
        }
    }

    /// The next line with tokens; errors on the way are reported.
    fn next_line(&mut self) -> Option<TokLine> {
        while let Some(&(n, raw)) = self.lines.get(self.next) {
            self.next += 1;
            let line_loc = self.loc(n, 0);
            if raw.len() > MAX_LINE_LEN {
                self.diags.error(
                    E::General,
                    line_loc,
                    format!("line longer than {MAX_LINE_LEN} bytes - skipped"),
                );
                continue;
            }
            let toks = match tokenize(raw) {
                Ok(t) => t,
                Err(col) => {
                    let loc = self.loc(n, col);
                    self.diags
                        .error(E::UnmatchedQuote, loc, "quotation mismatch");
                    continue;
                }
            };
            if toks.is_empty() {
                continue;
            }
            if toks.len() > MAX_TOKENS {
                let loc = self.loc(n, toks[MAX_TOKENS].0);
                self.diags.error(
                    E::General,
                    loc,
                    format!("more than {MAX_TOKENS} words on a line - skipped"),
                );
                continue;
            }
            let toks = toks
                .into_iter()
                .map(|(col, text, quote)| Token {
                    text,
                    quote,
                    loc: self.loc(n, col),
                })
                .collect::<Vec<_>>();
            let first = toks[0].loc.col as usize - 1;
            return Some(TokLine {
                text: raw.get(first..).unwrap_or(raw).trim_end().to_string(),
                loc: toks[0].loc,
                toks,
            });
        }
        None
    }

    fn top(&mut self, cf: &mut LvsCf) {
        while let Some(l) = self.next_line() {
            let first = l.word(0).unwrap_or("");
            if matches!(first, "virtual" | "failover") && l.toks[0].quote.is_none() {
                let kind = if first == "virtual" {
                    SectionKind::Virtual
                } else {
                    SectionKind::Failover
                };
                if let Some(name) = self.block_head(&l, first) {
                    let s = self.section(kind, name, l.loc);
                    cf.sections.push(s);
                }
                continue;
            }
            if l.is(0, "}") {
                self.diags
                    .error(E::UnexpectedBlockEnd, l.loc, "'}' with no block open");
                continue;
            }
            if let Some(s) = self.setting(&l, Scope::Global, 0) {
                cf.globals.push(s);
            }
        }
    }

    /// `virtual NAME {`: the name, or `None` after reporting what is wrong.
    fn block_head(&mut self, l: &TokLine, what: &str) -> Option<String> {
        match (l.word(1), l.is(2, "{"), l.toks.len()) {
            (Some(name), true, 3) => Some(name.to_string()),
            (Some(_), true, _) => {
                self.diags.error(
                    E::General,
                    l.loc_of(3),
                    format!("unexpected arguments after '{what} NAME {{'"),
                );
                // Read the block anyway: what follows is its content.
                l.word(1).map(str::to_string)
            }
            _ => {
                self.diags.error(
                    E::MissingBlockStart,
                    l.loc_of(1.min(l.toks.len())),
                    format!("missing arguments: expected '{what} NAME {{' on one line"),
                );
                None
            }
        }
    }

    fn section(&mut self, kind: SectionKind, name: String, loc: Loc) -> Section {
        let mut s = Section {
            kind,
            name,
            loc,
            settings: Vec::new(),
            servers: Vec::new(),
        };
        // The virtual's port as read so far (lvsInitVirtualServer: 80).
        let mut port: u16 = 80;
        loop {
            let Some(l) = self.next_line() else {
                self.diags.error(
                    E::MissingBlockEnd,
                    loc,
                    format!("unexpected end of file: '{}' has no closing '}}'", s.name),
                );
                return s;
            };
            if l.is(0, "}") {
                if l.toks.len() > 1 {
                    self.diags
                        .error(E::General, l.loc_of(1), "unexpected arguments after '}'");
                }
                return s;
            }
            if l.word(0) == Some("server") && l.toks[0].quote.is_none() {
                if let Some(name) = self.block_head(&l, "server") {
                    let srv = self.server(name, l.loc, port);
                    s.servers.push(srv);
                }
                continue;
            }
            if matches!(l.word(0), Some("virtual" | "failover")) && l.is(2, "{") {
                // A section inside a section: most likely a missing '}' above.
                self.diags.error(
                    E::MissingBlockEnd,
                    l.loc,
                    format!(
                        "'{}' inside '{}': missing '}}' before this line?",
                        l.word(0).unwrap_or(""),
                        s.name
                    ),
                );
                self.next -= 1;
                return s;
            }
            if let Some(st) = self.setting(&l, Scope::Service, port) {
                if let Value::Port(p) = st.value
                    && st.spec.name == "port"
                {
                    port = p;
                }
                s.settings.push(st);
            }
        }
    }

    fn server(&mut self, name: String, loc: Loc, port: u16) -> Server {
        let mut s = Server {
            name,
            loc,
            settings: Vec::new(),
            inherited_port: port,
        };
        loop {
            let Some(l) = self.next_line() else {
                self.diags.error(
                    E::MissingBlockEnd,
                    loc,
                    format!(
                        "unexpected end of file: server '{}' has no closing '}}'",
                        s.name
                    ),
                );
                return s;
            };
            if l.is(0, "}") {
                if l.toks.len() > 1 {
                    self.diags
                        .error(E::General, l.loc_of(1), "unexpected arguments after '}'");
                }
                return s;
            }
            if (l.is(2, "{") && l.toks.len() == 3) || l.word(0) == Some("server") {
                self.diags.error(
                    E::MissingBlockEnd,
                    l.loc,
                    format!(
                        "block inside server '{}': missing '}}' before this line?",
                        s.name
                    ),
                );
                self.next -= 1;
                return s;
            }
            if let Some(st) = self.setting(&l, Scope::Server, port) {
                s.settings.push(st);
            }
        }
    }

    /// `key = value...` checked against the table for `scope`.
    fn setting(&mut self, l: &TokLine, scope: Scope, _port: u16) -> Option<Setting> {
        let key = l.word(0).unwrap_or("");
        let Some(spec) = KEYS.iter().find(|k| k.scope == scope && k.name == key) else {
            let hint = KEYS
                .iter()
                .find(|k| k.name == key)
                .map(|k| format!(" (valid in {})", k.scope.describe()))
                .unwrap_or_default();
            self.diags.error(
                E::General,
                l.loc,
                format!("unknown command '{key}' in {}{hint}", scope.describe()),
            );
            return None;
        };
        if !l.is(1, "=") {
            self.diags.error(
                E::General,
                l.loc_of(1),
                format!("equal (=) expected after '{key}'"),
            );
            return None;
        }
        let args: Vec<Token> = l.toks[2..].to_vec();
        let want = spec.arg.arity();
        if let Some(n) = want {
            if args.len() < n {
                self.diags.error(
                    E::MissingParameter,
                    l.loc_of(l.toks.len()),
                    format!("missing arguments: '{key}' takes {n} value(s)"),
                );
                return None;
            }
            if args.len() > n {
                self.diags.error(
                    E::General,
                    args[n].loc,
                    format!("unexpected arguments: '{key}' takes {n} value(s)"),
                );
                return None;
            }
        }
        let value = self.value(spec, &args, l)?;
        Some(Setting {
            spec,
            loc: l.loc,
            args,
            value,
            text: l.text.clone(),
        })
    }

    fn value(&mut self, spec: &'static KeySpec, args: &[Token], l: &TokLine) -> Option<Value> {
        let key = spec.name;
        let first = args.first();
        let loc = first.map_or(l.loc, |t| t.loc);
        let text = first.map_or("", |t| t.text.as_str());
        let bad = |d: &mut Diagnostics, what: &str| {
            d.error(
                E::InvalidNumber,
                loc,
                format!("{what} for '{key}': '{text}'"),
            );
        };
        Some(match spec.arg {
            Arg::Int => match strtol(text) {
                Some(i) => Value::Int(i),
                None => {
                    bad(self.diags, "integer expected");
                    return None;
                }
            },
            Arg::Bool => match strtol(text) {
                Some(0) => Value::Bool(false),
                Some(1) => Value::Bool(true),
                _ => {
                    bad(self.diags, "boolean (0 or 1) expected");
                    return None;
                }
            },
            Arg::Str => Value::Str(text.to_string()),
            Arg::Port => match strtol(text) {
                Some(p) => match u16::try_from(p) {
                    Ok(p) => Value::Port(p),
                    Err(_) => {
                        bad(self.diags, "port number out of range (0-65535)");
                        return None;
                    }
                },
                None => match service_port(text) {
                    Some(p) => Value::Port(p),
                    None => {
                        bad(
                            self.diags,
                            "invalid argument: not a port number or /etc/services tcp name",
                        );
                        return None;
                    }
                },
            },
            Arg::Host => match resolve(text) {
                Some(a) => Value::Host(a, text.to_string()),
                None => {
                    bad(self.diags, "invalid host name or ip address");
                    return None;
                }
            },
            Arg::HostDev => {
                let dev = args.get(1).map_or("", |t| t.text.as_str());
                match resolve(text) {
                    Some(a) if !dev.is_empty() => Value::HostDev(a, dev.to_string()),
                    Some(_) => {
                        self.diags.error(
                            E::General,
                            args.get(1).map_or(loc, |t| t.loc),
                            format!("'{key}' needs a device name after the address"),
                        );
                        return None;
                    }
                    None => {
                        bad(self.diags, "invalid host name or ip address");
                        return None;
                    }
                }
            }
            Arg::Addr => match inet_aton(text) {
                Some(a) => Value::Addr(a),
                None => {
                    bad(self.diags, "invalid address or netmask");
                    return None;
                }
            },
            Arg::Enum(words) => match words.iter().find(|w| **w == text) {
                Some(w) => Value::Word(w),
                None => {
                    self.diags.error(
                        E::General,
                        loc,
                        format!(
                            "invalid argument for '{key}': '{text}' (one of: {})",
                            words.join(", ")
                        ),
                    );
                    return None;
                }
            },
            Arg::List => {
                // `dirs = [ a b ]`
                let words: Vec<&str> = args.iter().map(|t| t.text.as_str()).collect();
                match (words.first(), words.last()) {
                    (Some(&"["), Some(&"]")) if words.len() >= 2 => Value::List(
                        words[1..words.len() - 1]
                            .iter()
                            .map(|s| s.to_string())
                            .collect(),
                    ),
                    _ => {
                        self.diags.error(
                            E::General,
                            loc,
                            format!("list expected for '{key}': '[ item ... ]'"),
                        );
                        return None;
                    }
                }
            }
        })
    }
}

/// C's `strtol(tok, &end, 0)` with the whole token consumed (lvsconfig.c `getNum`): optional
/// blanks and sign, `0x` hex, leading-`0` octal, decimal; the empty token is 0, as in C.
/// Values outside the C `int` range are refused rather than truncated.
pub fn strtol(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if t.is_empty() {
        return if s.is_empty() { Some(0) } else { None };
    }
    let (neg, t) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    let v = if neg { -v } else { v };
    (i64::from(i32::MIN)..=i64::from(i32::MAX))
        .contains(&v)
        .then_some(v)
}

/// glibc `inet_aton`: 1 to 4 parts, each decimal, octal (`0`) or hex (`0x`); the last part
/// fills the remaining bytes (`10.1` = 10.0.0.1).
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    // inet_aton stops at the first blank; lvs.cf tokens have none.
    if s.is_empty() || s.ends_with('.') {
        return None;
    }
    let mut parts = Vec::new();
    for p in s.split('.') {
        let (radix, d) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            (16, h)
        } else if p.len() > 1 && p.starts_with('0') {
            (8, &p[1..])
        } else {
            (10, p)
        };
        if p.is_empty() || (radix != 16 && d.is_empty() && p != "0") {
            return None;
        }
        let v = if d.is_empty() {
            0
        } else {
            u64::from_str_radix(d, radix).ok()?
        };
        if v > u64::from(u32::MAX) {
            return None;
        }
        parts.push(v as u32);
    }
    let n = parts.len();
    if n > 4 {
        return None;
    }
    let mut addr: u32 = 0;
    for (i, &p) in parts.iter().enumerate() {
        if i + 1 < n {
            if p > 0xff {
                return None;
            }
            addr |= p << (8 * (3 - i));
        } else {
            let bits = 8 * (4 - i as u32);
            if bits < 32 && u64::from(p) >= 1u64 << bits {
                return None;
            }
            addr |= p;
        }
    }
    Some(Ipv4Addr::from(addr))
}

/// lvsconfig.c `getHostname`: inet_aton, then a host name lookup (IPv4 only).
pub fn resolve(s: &str) -> Option<Ipv4Addr> {
    if let Some(a) = inet_aton(s) {
        return Some(a);
    }
    // Only something that can be a host name goes to the resolver.
    let plausible = !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    // An all-numeric name is a mistyped address, not a host name (RFC 1123 §2.1).
    if !plausible || s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    (s, 0).to_socket_addrs().ok()?.find_map(|a| match a.ip() {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    })
}

/// A tcp service name from /etc/services (lvsconfig.c `getPort`: `getservbyname(tok, "tcp")`).
pub fn service_port(name: &str) -> Option<u16> {
    let text = std::fs::read_to_string("/etc/services").ok()?;
    services_lookup(&text, name)
}

/// Look `name` up in services(5) text: `name port/proto [aliases...] [# comment]`.
pub fn services_lookup(text: &str, name: &str) -> Option<u16> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut w = line.split_whitespace();
        let (svc, pp) = (w.next()?, w.next()?);
        let (port, proto) = pp.split_once('/')?;
        (proto == "tcp" && (svc == name || w.any(|a| a == name)))
            .then(|| port.parse().ok())
            .flatten()
    })
}

/// piranha's send/expect escapes as nanny translates them (`\n \r \t \\ \'`, and `\"`); any
/// other backslash stays as written.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(line: &str) -> Vec<String> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .map(|(_, t, q)| match q {
                Some(q) => format!("{q}{t}{q}"),
                None => t,
            })
            .collect()
    }

    #[test]
    fn tokens_split_at_blanks_only() {
        assert_eq!(toks("  a = b c  "), ["a", "=", "b", "c"]);
        assert_eq!(toks("virtual x {"), ["virtual", "x", "{"]);
        assert_eq!(toks("a=b"), ["a=b"]);
        assert!(toks("   ").is_empty());
        assert!(toks("  # comment").is_empty());
        // '#' later on a line is an ordinary character.
        assert_eq!(toks("a = b #c"), ["a", "=", "b", "#c"]);
    }

    #[test]
    fn quotes_follow_piranha() {
        assert_eq!(
            toks(r#"send = "GET / HTTP/1.0\r\n\r\n""#),
            ["send", "=", r#""GET / HTTP/1.0\r\n\r\n""#]
        );
        assert_eq!(toks(r#"expect = "HTTP""#), ["expect", "=", "\"HTTP\""]);
        assert_eq!(toks("expect = 'a b'"), ["expect", "=", "'a b'"]);
        // No blank inside: the quote at the line end closes (inner quotes are content).
        assert_eq!(toks(r#"x = "a"b""#), ["x", "=", r#""a"b""#]);
        // After a blank, the next quote closes and the next token starts right after it.
        assert_eq!(toks(r#"x = "a"b c"d"#), ["x", "=", r#""a"b c""#, "d"]);
        assert_eq!(toks(r#"x = "HTTP"   "#), ["x", "=", "\"HTTP\""]);
        assert!(tokenize(r#"x = "open"#).is_err());
        assert!(tokenize(r#"x = "ab"c"#).is_err());
        assert_eq!(tokenize(r#"x = "a b"#), Err(4));
    }

    #[test]
    fn numbers_like_strtol() {
        assert_eq!(strtol("10"), Some(10));
        assert_eq!(strtol("0x1f"), Some(31));
        assert_eq!(strtol("010"), Some(8));
        assert_eq!(strtol("-3"), Some(-3));
        assert_eq!(strtol(""), Some(0));
        assert_eq!(strtol("08"), None);
        assert_eq!(strtol("1a"), None);
        assert_eq!(strtol("99999999999"), None);
    }

    #[test]
    fn addresses_like_inet_aton() {
        assert_eq!(
            inet_aton("203.0.113.5"),
            Some(Ipv4Addr::new(203, 0, 113, 5))
        );
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(
            inet_aton("0xcb.0.113.5"),
            Some(Ipv4Addr::new(203, 0, 113, 5))
        );
        assert_eq!(inet_aton("255.255.255.255"), Some(Ipv4Addr::BROADCAST));
        assert_eq!(inet_aton("256.0.0.1"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
        assert_eq!(inet_aton("1..2"), None);
        assert_eq!(inet_aton("x"), None);
    }

    #[test]
    fn services_names() {
        let t = "ftp\t\t21/tcp\nhttp\t\t80/tcp\t\twww\t# web\nntp 123/udp\n";
        assert_eq!(services_lookup(t, "http"), Some(80));
        assert_eq!(services_lookup(t, "www"), Some(80));
        assert_eq!(services_lookup(t, "ntp"), None);
    }

    #[test]
    fn escapes_like_nanny() {
        assert_eq!(
            unescape(r"GET / HTTP/1.0\r\n\r\n"),
            "GET / HTTP/1.0\r\n\r\n"
        );
        assert_eq!(unescape(r"a\\b\'c\x"), "a\\b'c\\x");
    }
}
