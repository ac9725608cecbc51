//! Every converted lvs.cf passes Debian's keepalived 2.2.7 `keepalived -t` with exit 0.
//!
//! Needs root, `ip` and /usr/sbin/keepalived; without them the test prints `skipped: ...` and
//! passes, unless `KEEPALIVED_RS_PRIVILEGED=1` (then it fails). Each conversion of
//! `samples/lvs.cf/*.cf` and of the error-free `tests/golden-lvs/*.cf` is run as
//! `keepalived -t -f CONV -i primary` (and `-i backup` for two-router files) inside a fresh
//! network namespace holding veth `eth0` and `eth1`, the interfaces the files name. Ours is run
//! the same way on the conversion and on the lvs.cf itself (`-t -f lvs.cf`), and must exit 0
//! too. Nothing is configured in the host namespace.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use keepalived_rs::config::Severity;
use keepalived_rs::lvs_cf;
use support::netns::{self, KEEPALIVED, Need, NetNs};
use support::process::{Outcome, run_with_timeout};

const OURS: &str = env!("CARGO_BIN_EXE_keepalived");
const TIMEOUT: Duration = Duration::from_secs(60);

fn inputs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["samples/lvs.cf", "tests/golden-lvs"] {
        for e in std::fs::read_dir(dir).expect("dir").flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "cf") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

#[test]
fn converted_files_pass_keepalived_config_test() {
    if !netns::gate(
        "converted_files_pass_keepalived_config_test",
        &[Need::Root, Need::Ip, Need::Keepalived, Need::NetnsWorks],
    ) {
        return;
    }
    let ns = NetNs::new("lvscf", &["eth0", "eth1"]).expect("network namespace");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::env::current_dir().expect("cwd");
    let mut failures = Vec::new();
    let mut runs = 0;
    for input in inputs() {
        let (text, diags) = lvs_cf::convert_file(&input).expect("readable");
        if diags.items.iter().any(|d| d.severity == Severity::Error) {
            // tests/golden-lvs/errors.cf: piranha refuses it; only its golden output is checked.
            continue;
        }
        let conv = dir
            .path()
            .join(input.file_name().expect("name"))
            .with_extension("conf");
        std::fs::write(&conv, &text).expect("write");
        let roles: &[&str] = if text.contains("\n@backup") {
            &["primary", "backup"]
        } else {
            &["primary"]
        };
        for role in roles {
            let lvs = root.join(&input);
            for (who, bin, file) in [
                ("keepalived", KEEPALIVED, &conv),
                ("ours", OURS, &conv),
                ("ours on the lvs.cf", OURS, &lvs),
            ] {
                let mut cmd = ns.command(bin);
                cmd.args(["-t", "-f"]).arg(file).args(["-i", role]);
                let r = run_with_timeout(&mut cmd, TIMEOUT);
                runs += 1;
                if r.outcome != Outcome::Exited(0) {
                    failures.push(format!(
                        "{} -i {role}: {who} -t gave {:?}\n{}",
                        input.display(),
                        r.outcome,
                        support::excerpt(&r.output(), 20, 160, "    ")
                    ));
                }
            }
        }
    }
    assert!(runs >= 30, "only {runs} runs");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
