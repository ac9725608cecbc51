//! Golden tests of `keepalived --convert-lvs-cf`.
//!
//! Every `tests/golden-lvs/NAME.cf` and every `samples/lvs.cf/NAME.cf` is converted; the
//! keepalived.conf text must equal `NAME.conf` and the rendered diagnostics (warnings for what
//! is kept only as a comment, errors with file:line:col and caret) must equal `NAME.err`
//! (samples: under `tests/golden-lvs/samples/`). `KA_UPDATE_GOLDEN=1` rewrites the expected
//! files instead of comparing.
//!
//! Paths are given relative to the crate root (cargo runs tests there), so the `# source:`
//! line and the diagnostics do not depend on where the tree lives.

use std::path::{Path, PathBuf};

use keepalived_rs::lvs_cf;

fn cases() -> Vec<(PathBuf, PathBuf)> {
    let mut v = Vec::new();
    for (dir, out) in [
        ("tests/golden-lvs", "tests/golden-lvs"),
        ("samples/lvs.cf", "tests/golden-lvs/samples"),
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(Result::ok)
            .map(|e| Path::new(dir).join(e.file_name()))
            .filter(|p| p.extension().is_some_and(|x| x == "cf"))
            .collect();
        files.sort();
        for f in files {
            let stem = f.file_stem().unwrap_or_default().to_owned();
            v.push((f, Path::new(out).join(stem)));
        }
    }
    v
}

#[test]
fn conversions_match_golden_files() {
    let update = std::env::var("KA_UPDATE_GOLDEN").as_deref() == Ok("1");
    let mut failures = Vec::new();
    let all = cases();
    assert!(
        all.len() >= 10,
        "expected the golden and sample files, found {all:?}"
    );
    for (input, expected) in all {
        let (text, diags) =
            lvs_cf::convert_file(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let err = diags.render();
        for (ext, got) in [("conf", &text), ("err", &err)] {
            let path = expected.with_extension(ext);
            if update {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).expect("create golden dir");
                }
                std::fs::write(&path, got).expect("write golden file");
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if &want != got {
                failures.push(format!(
                    "{} differs from {} (KA_UPDATE_GOLDEN=1 to regenerate):\n{}",
                    input.display(),
                    path.display(),
                    first_difference(&want, got)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn first_difference(want: &str, got: &str) -> String {
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("  line {}:\n  - {w}\n  + {g}", i + 1);
        }
    }
    format!(
        "  lengths differ: {} vs {} lines",
        want.lines().count(),
        got.lines().count()
    )
}

/// Every lvs.cf line appears in the output (as a comment), so nothing is dropped silently;
/// every line kept only as a comment has a warning naming its line.
#[test]
fn every_setting_is_echoed_and_unmapped_ones_warned() {
    for (input, _) in cases() {
        let (text, diags) = lvs_cf::convert_file(&input).expect("readable");
        let src = std::fs::read_to_string(&input).expect("readable");
        for (n, line) in src.lines().enumerate() {
            let t = line.trim().trim_end_matches('\r');
            if t.is_empty() || t.starts_with('#') || t == "}" || t.ends_with('{') {
                continue;
            }
            let tag = format!("[line {}] {t}", n + 1);
            let has_error = diags.items.iter().any(|d| {
                d.loc.is_some_and(|l| l.line as usize == n + 1)
                    && d.severity == keepalived_rs::config::Severity::Error
            });
            assert!(
                text.contains(&tag) || has_error,
                "{}:{}: `{t}` is neither in the output nor reported",
                input.display(),
                n + 1
            );
            if text.contains(&format!("{tag}  =>  NOT MAPPED")) {
                assert!(
                    diags
                        .items
                        .iter()
                        .any(|d| d.loc.is_some_and(|l| l.line as usize == n + 1)),
                    "{}:{}: `{t}` is not mapped but has no warning",
                    input.display(),
                    n + 1
                );
            }
        }
    }
}

#[test]
fn unreadable_file_is_the_only_failure() {
    assert!(lvs_cf::convert_file(Path::new("tests/golden-lvs/does-not-exist.cf")).is_err());
    // A file full of errors still converts (exit 0 from the command line).
    assert!(lvs_cf::convert_file(Path::new("tests/golden-lvs/errors.cf")).is_ok());
}

#[test]
fn command_line_converts_and_warns() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keepalived"))
        .arg("--convert-lvs-cf=samples/lvs.cf/nat-with-backup.cf")
        .output()
        .expect("run keepalived");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = std::fs::read_to_string("tests/golden-lvs/samples/nat-with-backup.conf")
        .unwrap_or_default();
    assert_eq!(stdout, want);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nat-with-backup.cf:18:1: warning: lvs.cf 'rsh_command'"));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keepalived"))
        .arg("--convert-lvs-cf=/nonexistent/lvs.cf")
        .output()
        .expect("run keepalived");
    assert_eq!(out.status.code(), Some(6));
    assert!(out.stdout.is_empty());
}

/// man/lvs.cf.5 documents every key the parser accepts.
#[test]
fn man_page_documents_every_key() {
    let man = std::fs::read_to_string("man/lvs.cf.5").expect("man/lvs.cf.5");
    for k in lvs_cf::KEYS {
        let name = k.name;
        assert!(
            man.contains(&format!(".B {name}\n")) || man.contains(&format!(".BR {name} ")),
            "man/lvs.cf.5 does not document '{}'",
            k.name
        );
    }
}
