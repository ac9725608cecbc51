//! Running an lvs.cf directly and running its conversion give the same effective
//! configuration: for each role, `config::load` of the lvs.cf (recognised by content, read by
//! the lvs.cf front end) and `config::load` of the converted keepalived.conf with
//! `-i primary|backup` produce the same `-d` dump (`config::dump::dump`).
//!
//! Also: our keepalived.conf front end accepts every conversion of an error-free lvs.cf with
//! `-t` exit status 0. Interfaces are not checked here (no namespace needed); the
//! differential test (tests/lvs_cf_differential.rs) runs the real keepalived with them.

use std::path::{Path, PathBuf};

use keepalived_rs::config::{self, LoadOptions, Severity};
use keepalived_rs::lvs_cf;

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

fn opts(path: &Path, role: &str) -> LoadOptions {
    let mut o = LoadOptions::new(path);
    o.config_id = Some(role.to_string());
    o.check_interfaces = false;
    o
}

#[test]
fn direct_and_converted_dumps_are_equal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    let mut failures = Vec::new();
    for input in inputs() {
        let (text, diags) = lvs_cf::convert_file(&input).expect("readable");
        let clean = !diags.items.iter().any(|d| d.severity == Severity::Error);
        let conv = dir
            .path()
            .join(input.file_name().expect("name"))
            .with_extension("conf");
        std::fs::write(&conv, &text).expect("write");
        assert!(
            !lvs_cf::looks_like(&conv),
            "{}: conversion looks like lvs.cf",
            input.display()
        );
        assert!(
            lvs_cf::looks_like(&input),
            "{}: not recognised",
            input.display()
        );

        let two_routers = text.contains("\n@backup");
        let roles: &[&str] = if two_routers {
            &["primary", "backup"]
        } else {
            &["primary"]
        };
        for role in roles {
            let direct = config::load(&opts(&input, role));
            let converted = config::load(&opts(&conv, role));
            let (a, b) = (
                config::dump::dump(&direct.config),
                config::dump::dump(&converted.config),
            );
            if a != b {
                let line = a
                    .lines()
                    .zip(b.lines())
                    .enumerate()
                    .find(|(_, (x, y))| x != y)
                    .map(|(i, (x, y))| format!("dump line {}: direct `{x}` converted `{y}`", i + 1))
                    .unwrap_or_else(|| "dumps differ in length".into());
                failures.push(format!("{} -i {role}: {line}", input.display()));
            }
            if clean && converted.test_exit_code() != 0 {
                failures.push(format!(
                    "{} -i {role}: our front end rejects the conversion (exit {}):\n{}",
                    input.display(),
                    converted.test_exit_code(),
                    converted.diagnostics.render()
                ));
            }
            if clean && direct.test_exit_code() != 0 {
                failures.push(format!(
                    "{} -i {role}: -t on the lvs.cf exits {}:\n{}",
                    input.display(),
                    direct.test_exit_code(),
                    direct.diagnostics.render()
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 15, "only {checked} comparisons");
}

/// The backup role of a single-router lvs.cf has nothing to run, as pulse exits there.
#[test]
fn single_router_backup_is_fatal() {
    let l = config::load(&opts(
        Path::new("samples/lvs.cf/nat-one-router.cf"),
        "backup",
    ));
    assert_eq!(l.test_exit_code(), 4);
    assert!(l.diagnostics.render().contains("no active backup"));
}

/// The mapping decisions, read back from the model.
#[test]
fn vrrp_mapping() {
    use keepalived_rs::config::model::*;
    let l = config::load(&opts(
        Path::new("samples/lvs.cf/nat-with-backup.cf"),
        "backup",
    ));
    let c = &l.config;
    assert_eq!(c.sync_groups.len(), 1);
    assert_eq!(c.instances.len(), 2);
    let (pubi, nat) = (&c.instances[0], &c.instances[1]);
    // VRID = last byte of primary (203.0.113.2), then +1.
    assert_eq!(pubi.vrid, Some(Vrid(2)));
    assert_eq!(nat.vrid, Some(Vrid(3)));
    assert_eq!(pubi.priority, Priority(100));
    assert_eq!(pubi.state, InitialState::Backup);
    // keepalive 6 → advert_int 6 s; deadtime 18 → 3 adverts.
    assert_eq!(pubi.advert_int, Centis(600));
    assert_eq!(pubi.down_timer_adverts, Some(3));
    assert_eq!(nat.interface.as_ref().map(|i| i.0.as_str()), Some("eth1"));
    assert_eq!(nat.vips[0].label.as_deref(), Some("eth1:1"));
    assert_eq!(nat.vips[0].prefix, 24);
    let vs = &c.virtual_servers[0];
    assert!(vs.alpha);
    assert_eq!(vs.real_servers.len(), 2, "inactive web3 is not configured");
    let ck = &vs.real_servers[0].checkers[0];
    assert_eq!(ck.timing.retry, 0);
    assert_eq!(ck.timing.delay_loop, Micros::secs(10));
    assert!(matches!(&ck.kind, CheckerKind::Http(h) if h.urls[0].status_codes == [(200, 200)]));
    assert_eq!(vs.real_servers[0].inhibit_on_failure, Some(true));

    let l = config::load(&opts(
        Path::new("samples/lvs.cf/nat-with-backup.cf"),
        "primary",
    ));
    assert_eq!(l.config.instances[0].priority, Priority(150));
    assert_eq!(l.config.instances[0].state, InitialState::Master);
}
