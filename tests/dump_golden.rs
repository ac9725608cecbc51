//! `keepalived -d` golden files: every `tests/golden/NAME.conf` is loaded with the library (config
//! id `golden`, no interface check, so no network namespace is needed) and its dump compared with
//! `tests/golden/NAME.dump`. With `UPDATE_GOLDEN=1` the `.dump` files are written instead.
//!
//! Files included by the inputs live in `tests/golden/inc/` (not inputs themselves).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use keepalived_rs::config::{self, LoadOptions};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn inputs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    v.sort();
    v
}

fn dump_of(conf: &Path) -> String {
    let mut opts = LoadOptions::new(conf);
    opts.config_id = Some("golden".into());
    opts.check_interfaces = false;
    let loaded = config::load(&opts);
    config::dump::dump(&loaded.config)
}

/// A small unified-style diff: the region between the common prefix and the common suffix of
/// `want` and `got` (at most 20 lines of each side), with 3 lines of context.
fn diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let prefix = w.iter().zip(&g).take_while(|(a, b)| a == b).count();
    let max_suffix = w.len().min(g.len()) - prefix;
    let suffix = w
        .iter()
        .rev()
        .zip(g.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let (w_end, g_end) = (w.len() - suffix, g.len() - suffix);
    let mut out = String::new();
    if prefix == w.len() && prefix == g.len() {
        out.push_str("(the texts differ only in line endings)\n");
        return out;
    }
    let _ = writeln!(
        out,
        "@@ -{},{} +{},{} @@",
        prefix + 1,
        w_end - prefix,
        prefix + 1,
        g_end - prefix
    );
    for l in &w[prefix.saturating_sub(3)..prefix] {
        let _ = writeln!(out, " {l}");
    }
    for (side, lines) in [('-', &w[prefix..w_end]), ('+', &g[prefix..g_end])] {
        for l in lines.iter().take(20) {
            let _ = writeln!(out, "{side}{l}");
        }
        if lines.len() > 20 {
            let _ = writeln!(out, "{side}... ({} more lines)", lines.len() - 20);
        }
    }
    for l in w.iter().skip(w_end).take(3) {
        let _ = writeln!(out, " {l}");
    }
    out
}

#[test]
fn dumps_match_golden_files() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let inputs = inputs();
    assert!(
        inputs.len() >= 8,
        "expected at least 8 golden inputs in tests/golden, found {}",
        inputs.len()
    );
    let mut failures = String::new();
    for conf in &inputs {
        let got = dump_of(conf);
        let expected_path = conf.with_extension("dump");
        if update {
            std::fs::write(&expected_path, &got)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", expected_path.display()));
            continue;
        }
        let want = match std::fs::read_to_string(&expected_path) {
            Ok(w) => w,
            Err(e) => {
                let _ = writeln!(
                    failures,
                    "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                    expected_path.display()
                );
                continue;
            }
        };
        if want != got {
            let _ = writeln!(
                failures,
                "{} differs from {}:",
                conf.display(),
                expected_path.display()
            );
            failures.push_str(&diff(&want, &got));
        }
    }
    assert!(
        failures.is_empty(),
        "golden dump mismatch (UPDATE_GOLDEN=1 rewrites the files):\n{failures}"
    );
}

#[test]
fn dump_is_deterministic_and_starts_with_header() {
    for conf in inputs() {
        let a = dump_of(&conf);
        assert!(
            a.starts_with(config::dump::HEADER),
            "{}: no header",
            conf.display()
        );
        assert_eq!(a, dump_of(&conf), "{}: two dumps differ", conf.display());
        assert!(
            !a.contains(&*golden_dir().to_string_lossy()),
            "{}: the dump names a file",
            conf.display()
        );
    }
}

#[test]
fn binary_dash_d_prints_the_same_dump() {
    let conf = golden_dir().join("01-vrrp-defaults.conf");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keepalived"))
        .args(["-d", "-i", "golden", "-f"])
        .arg(&conf)
        .env_remove("RUST_LOG")
        .output()
        .expect("run keepalived -d");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(config::dump::HEADER),
        "keepalived -d stdout:\n{stdout}"
    );
}
