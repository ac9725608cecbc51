//! The lvs.cf front end never panics and reports what it refuses with a position.
//!
//! Fuzz-style: the sample files mutated at random (bytes flipped, lines duplicated, dropped,
//! swapped, truncated, tokens replaced by awkward values) and random byte soup go through
//! parse → plan → lower (both roles) → convert. For every input without lvs.cf errors, the
//! conversion must read back through the keepalived.conf front end with `-t` exit 0 and the same
//! `-d` dump as the direct run. A fixed seed keeps failures reproducible
//! (`LVS_CF_FUZZ_SEED`, `LVS_CF_FUZZ_ITERS` override).

use std::path::Path;

use keepalived_rs::config::{self, Diagnostics, LoadOptions, Severity};
use keepalived_rs::lvs_cf::{self, Role, convert, lower, parse, plan};

/// xorshift64*: enough randomness for mutation, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const AWKWARD: &[&str] = &[
    "\"",
    "'",
    "{",
    "}",
    "=",
    "",
    "0",
    "-1",
    "0x",
    "08",
    "99999999999",
    "255.255.255.255",
    "0.0.0.0",
    "1.2.3",
    "eth0:1",
    "a b",
    "\"x y\"",
    "'\\'",
    "\\",
    "#",
    "virtual",
    "server",
    "failover",
    "%h",
    "%p",
    "\u{0}",
    "\u{7f}",
    "é",
    "[",
    "]",
    "\r",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = base.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    for _ in 0..1 + rng.below(6) {
        let n = lines.len().max(1);
        match rng.below(7) {
            0 => {
                let i = rng.below(n);
                if i < lines.len() {
                    lines.remove(i);
                }
            }
            1 => {
                let i = rng.below(n);
                if let Some(l) = lines.get(i).cloned() {
                    lines.insert(rng.below(n), l);
                }
            }
            2 => {
                let (a, b) = (rng.below(n), rng.below(n));
                if a < lines.len() && b < lines.len() {
                    lines.swap(a, b);
                }
            }
            3 => {
                // Replace a token of a line by an awkward value.
                let i = rng.below(n);
                if let Some(l) = lines.get_mut(i) {
                    let text = String::from_utf8_lossy(l).into_owned();
                    let mut w: Vec<String> = text.split(' ').map(str::to_string).collect();
                    let k = rng.below(w.len());
                    w[k] = AWKWARD[rng.below(AWKWARD.len())].to_string();
                    *l = w.join(" ").into_bytes();
                }
            }
            4 => {
                let i = rng.below(n);
                if let Some(l) = lines.get_mut(i)
                    && !l.is_empty()
                {
                    let j = rng.below(l.len());
                    l[j] = rng.next() as u8;
                }
            }
            5 => {
                let i = rng.below(n);
                if let Some(l) = lines.get_mut(i) {
                    l.truncate(rng.below(l.len() + 1));
                }
            }
            _ => lines.truncate(rng.below(n + 1)),
        }
    }
    lines.join(&b'\n')
}

fn opts(path: &Path, role: &str) -> LoadOptions {
    let mut o = LoadOptions::new(path);
    o.config_id = Some(role.to_string());
    o.check_interfaces = false;
    o
}

/// One input through everything; `Err` describes a broken property.
fn exercise(bytes: &[u8], dir: &Path, n: usize) -> Result<(), String> {
    let mut diags = Diagnostics::default();
    let id = diags.add_file("fuzz.cf");
    let cf = parse::parse_bytes("fuzz.cf", id, bytes, &mut diags);
    // Every error has a position.
    for d in &diags.items {
        if d.severity == Severity::Error && d.loc.is_none() {
            return Err(format!("error without a position: {}", d.message));
        }
    }
    let p = plan::plan(&cf, &mut diags);
    for role in [Role::Primary, Role::Backup] {
        let _ = lower::lower(&p, role, &mut Diagnostics::default());
    }
    let text = convert::convert(&cf, &p);
    // Clean: no lvs.cf error, and no virtual whose servers all weigh 0 (keepalived reports
    // those; the plan warns about them).
    let clean = !diags.items.iter().any(|d| {
        d.severity == Severity::Error || d.message.contains("every active server has weight 0")
    });
    // Our keepalived.conf front end reads every conversion without panicking; a clean lvs.cf
    // must give a clean keepalived.conf with the same effective configuration.
    let input = dir.join(format!("in{n}.cf"));
    let conv = dir.join(format!("in{n}.conf"));
    std::fs::write(&input, bytes).map_err(|e| e.to_string())?;
    std::fs::write(&conv, &text).map_err(|e| e.to_string())?;
    let roles: &[&str] = if text.contains("\n@backup") {
        &["primary", "backup"]
    } else {
        &["primary"]
    };
    for role in roles {
        let converted = config::load(&opts(&conv, role));
        if !clean || p.instances.is_empty() {
            continue;
        }
        if converted.test_exit_code() != 0 {
            return Err(format!(
                "-i {role}: conversion of a clean lvs.cf fails -t ({}):\n{}\n--- conversion:\n{text}",
                converted.test_exit_code(),
                converted.diagnostics.render()
            ));
        }
        if lvs_cf::looks_like(&input) {
            let direct = config::load(&opts(&input, role));
            if config::dump::dump(&direct.config) != config::dump::dump(&converted.config) {
                return Err(format!("-i {role}: direct and converted dumps differ"));
            }
        }
    }
    Ok(())
}

#[test]
fn mutated_and_random_inputs_never_panic() {
    let seed = std::env::var("LVS_CF_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_u64);
    let iters: usize = std::env::var("LVS_CF_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let mut rng = Rng(seed | 1);
    let mut bases = Vec::new();
    for dir in ["samples/lvs.cf", "tests/golden-lvs"] {
        for e in std::fs::read_dir(dir).expect("dir").flatten() {
            if e.path().extension().is_some_and(|x| x == "cf") {
                bases.push(std::fs::read(e.path()).expect("read"));
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for n in 0..iters {
        let input = if n % 10 == 9 {
            (0..rng.below(400)).map(|_| rng.next() as u8).collect()
        } else {
            let base = &bases[rng.below(bases.len())];
            mutate(&mut rng, base)
        };
        if let Err(e) = exercise(&input, dir.path(), n) {
            failures.push(format!(
                "input {n}:\n{}\n=> {e}",
                String::from_utf8_lossy(&input)
            ));
            if failures.len() >= 3 {
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn hostile_shapes_are_bounded() {
    let many_servers: String = std::iter::once(
        "primary = 203.0.113.1\nvirtual v {\nactive = 1\naddress = 203.0.113.2 eth0:1\n"
            .to_string(),
    )
    .chain((0..20_000).map(|i| {
        format!(
            "server s{i} {{\naddress = 198.51.100.{}\nactive = 1\n}}\n",
            i % 250 + 1
        )
    }))
    .chain(std::iter::once("}\n".to_string()))
    .collect();
    let unclosed = "virtual a {\n".repeat(5000);
    let long_line = format!("send = \"{}\"\n", "x ".repeat(200_000));
    let many_tokens = format!("primary = {}\n", "a ".repeat(500));
    for (name, text) in [
        ("many servers", many_servers.as_str()),
        ("unclosed blocks", unclosed.as_str()),
        ("long line", long_line.as_str()),
        ("many tokens", many_tokens.as_str()),
        ("empty", ""),
        ("only comments", "# x\n#y\n"),
        ("lone quote", "\"\n'\n"),
        ("braces", "}\n{\n}}}\n"),
    ] {
        let start = std::time::Instant::now();
        let mut diags = Diagnostics::default();
        let id = diags.add_file(name);
        let cf = parse::parse_bytes(name, id, text.as_bytes(), &mut diags);
        let p = plan::plan(&cf, &mut diags);
        let _ = lower::lower(&p, Role::Primary, &mut diags);
        let _ = convert::convert(&cf, &p);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{name}: too slow"
        );
    }
}

#[test]
fn diagnostics_point_at_the_offending_token() {
    let mut diags = Diagnostics::default();
    let id = diags.add_file("t.cf");
    let text = "primary = 203.0.113.1\nkeepalive = ten\nvirtual v {\n  port = 99999\n  bogus = 1\n  send = \"open\n}\n";
    let _ = parse::parse_bytes("t.cf", id, text.as_bytes(), &mut diags);
    let got: Vec<(u32, u32)> = diags
        .items
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter_map(|d| d.loc.map(|l| (l.line, l.col)))
        .collect();
    // keepalive value, port value, unknown key, the opening quote.
    assert_eq!(
        got,
        [(2, 13), (4, 10), (5, 3), (6, 10)],
        "{:?}",
        diags.items
    );
}
