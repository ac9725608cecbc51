//! The `keepalived` binary's command line, compared with Debian's keepalived 2.2.7 where it
//! is installed. The reference binary is only run with arguments that make it print and exit
//! (`-v`, `-h`, `--signum`, bad options, `-t` on a missing file), never as a daemon.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const OURS: &str = env!("CARGO_BIN_EXE_keepalived");
const REFERENCE: &str = "/usr/sbin/keepalived";

fn run_bin(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("POSIXLY_CORRECT")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"))
}

fn run(args: &[&str]) -> Output {
    run_bin(OURS, args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The reference keepalived, if installed. With `KEEPALIVED_RS_PRIVILEGED=1` it must be.
fn reference() -> Option<&'static str> {
    if Path::new(REFERENCE).exists() {
        return Some(REFERENCE);
    }
    if std::env::var("KEEPALIVED_RS_PRIVILEGED").as_deref() == Ok("1") {
        panic!("KEEPALIVED_RS_PRIVILEGED=1 but {REFERENCE} is not installed");
    }
    eprintln!("skipping comparison: {REFERENCE} is not installed");
    None
}

/// A configuration path that does not exist.
fn missing_conf(dir: &tempfile::TempDir) -> String {
    dir.path().join("nx/none.conf").display().to_string()
}

fn empty_conf(dir: &tempfile::TempDir) -> PathBuf {
    let p = dir.path().join("empty.conf");
    std::fs::write(&p, "").expect("write empty.conf");
    p
}

/// Every flag of keepalived 2.2 and 2.4, in each spelling, with an argument where it takes one.
fn all_flag_forms(dir: &Path) -> Vec<Vec<String>> {
    let f = |name: &str| dir.join(name).display().to_string();
    let forms: Vec<Vec<String>> = vec![
        vec!["-f".into(), f("a.conf")],
        vec![format!("-f{}", f("a.conf"))],
        vec!["--use-file".into(), f("a.conf")],
        vec![format!("--use-file={}", f("a.conf"))],
        vec!["-P".into()],
        vec!["--vrrp".into()],
        vec!["-C".into()],
        vec!["--check".into()],
        vec!["-B".into()],
        vec!["--no_bfd".into()],
        vec!["--all".into()],
        vec!["-l".into()],
        vec!["--log-console".into()],
        vec!["-D".into()],
        vec!["--log-detail".into()],
        vec!["-S".into(), "local3".into()],
        vec!["-Sdaemon".into()],
        vec!["--log-facility=user".into()],
        vec!["--log-facility".into(), "5".into()],
        vec!["-g".into()],
        vec![format!("-g{}", f("k.log"))],
        vec!["--log-file".into()],
        vec![format!("--log-file={}", f("k.log"))],
        vec!["--flush-log-file".into()],
        vec!["-G".into()],
        vec!["--no-syslog".into()],
        vec!["-X".into()],
        vec!["--release-vips".into()],
        vec!["-V".into()],
        vec!["--dont-release-vrrp".into()],
        vec!["-I".into()],
        vec!["--dont-release-ipvs".into()],
        vec!["-R".into()],
        vec!["--dont-respawn".into()],
        vec!["-n".into()],
        vec!["--dont-fork".into()],
        vec!["-d".into()],
        vec!["--dump-conf".into()],
        vec!["-p".into(), f("k.pid")],
        vec![format!("--pid={}", f("k.pid"))],
        vec!["-r".into(), f("v.pid")],
        vec![format!("--vrrp_pid={}", f("v.pid"))],
        vec!["-c".into(), f("c.pid")],
        vec!["--checkers_pid".into(), f("c.pid")],
        vec!["-b".into(), f("b.pid")],
        vec![format!("--bfd_pid={}", f("b.pid"))],
        vec!["-a".into()],
        vec!["--address-monitoring".into()],
        vec!["-s".into(), "ns1".into()],
        vec!["--namespace=ns1".into()],
        vec!["-e".into()],
        vec!["--all-config".into()],
        vec!["-i".into(), "lb1".into()],
        vec!["-ilb1".into()],
        vec!["--config-id=lb1".into()],
        vec!["--config-id".into(), "lb1".into()],
        vec!["-x".into()],
        vec!["--snmp".into()],
        vec!["-A".into(), f("agentx")],
        vec![format!("--snmp-agent-socket={}", f("agentx"))],
        vec!["-u".into(), "022".into()],
        vec!["--umask=077".into()],
        vec!["-m".into()],
        vec!["--core-dump".into()],
        vec!["-M".into()],
        vec!["-Mcore.%p".into()],
        vec!["--core-dump-pattern".into()],
        vec!["--core-dump-pattern=core".into()],
        vec!["-t".into()],
        vec![format!("-t{}", f("test.log"))],
        vec!["--config-test".into()],
        vec![format!("--config-test={}", f("test.log"))],
        vec!["--perf".into()],
        vec!["--perf=all".into()],
        vec!["--debug".into()],
        vec!["--debug=TpMEvcp".into()],
        vec!["--no-mem-check".into()],
        vec!["-L".into()],
        vec!["--mem-check-log".into()],
        vec!["-O".into()],
        vec!["--openssl-mem-check".into()],
        vec!["--ignore-sigint".into()],
        vec!["--config-fd=3".into()],
        vec!["--config-fd".into(), "3".into()],
        vec!["-DlnP".into()],
        vec!["-DDlnC".into()],
    ];
    forms
}

/// Whether keepalived-rs implements the flag a form starts with (see the man page).
fn is_supported(first: &str) -> bool {
    match first.strip_prefix("--") {
        Some(long) => [
            "use-file",
            "vrrp",
            "check",
            "log-console",
            "log-detail",
            "dont-fork",
            "dump-conf",
            "all-config",
            "config-id",
            "config-test",
            "pid",
            "vrrp_pid",
            "no-syslog",
            "log-facility",
            "dont-release-vrrp",
            "dont-release-ipvs",
            "ignore-sigint",
            "dont-respawn",
            "checkers_pid",
            "namespace",
            "umask",
            "core-dump",
        ]
        .contains(&long.split('=').next().unwrap_or_default()),
        // Short forms: the option letter (combined forms below use supported letters only).
        None => first
            .chars()
            .nth(1)
            .is_some_and(|c| "fPClDndeitprGSVIRcsum".contains(c)),
    }
}

fn assert_no_parse_error(args: &[String], o: &Output) {
    let err = stderr(o);
    assert!(
        !err.contains("Unknown option") && !err.contains("Missing parameter"),
        "{args:?} rejected:\n{err}"
    );
}

#[test]
fn every_flag_is_accepted_before_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    for form in all_flag_forms(dir.path()) {
        let mut args = form.clone();
        args.push("-v".into());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&argv);
        assert_no_parse_error(&args, &o);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("Keepalived v2.2.7 (keepalived-rs "),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn every_flag_is_accepted_by_config_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = empty_conf(&dir);
    let conf = conf.display().to_string();
    for form in all_flag_forms(dir.path()) {
        // -t first, the real file last: whatever the form, this is a config test of `conf`.
        let mut args = vec!["-t".to_string()];
        args.extend(form.iter().cloned());
        args.extend(["-f".to_string(), conf.clone()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&argv);
        assert_no_parse_error(&args, &o);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
        let log_file = dir.path().join("test.log");
        let err = if form[0].starts_with("-t") || form[0].starts_with("--config-test") {
            // -t LOG_FILE sends the messages to LOG_FILE.
            let text = std::fs::read_to_string(&log_file).unwrap_or_default();
            let _ = std::fs::remove_file(&log_file);
            text + &stderr(&o)
        } else {
            stderr(&o)
        };
        assert_eq!(
            !is_supported(&form[0]),
            err.contains("is not supported yet, ignored"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn unsupported_flag_is_reported_with_its_long_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = empty_conf(&dir);
    let o = run(&["-t", "-x", "-f", &conf.display().to_string()]);
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).contains("keepalived: option --snmp is not supported yet, ignored"));
}

#[test]
fn signum_numbers() {
    let rtmin = libc::SIGRTMIN();
    let rtmax = libc::SIGRTMAX();
    for (name, expect) in [
        ("STOP", 15),
        ("RELOAD", 1),
        ("DATA", 10),
        ("STATS", 12),
        ("STATS_CLEAR", rtmax - 1),
        ("JSON", rtmin + 2),
    ] {
        let o = run(&[&format!("--signum={name}")]);
        assert_eq!(code(&o), 0, "{name}");
        assert_eq!(stdout(&o), format!("{expect}\n"), "{name}");
        assert_eq!(stderr(&o), "", "{name}");
        let o = run(&["--signum", name]);
        assert_eq!(stdout(&o), format!("{expect}\n"), "{name}");
    }
    for name in ["TDUMP", "FOO", "stop"] {
        let o = run(&[&format!("--signum={name}")]);
        assert_eq!(code(&o), 1);
        assert_eq!(stdout(&o), "");
        assert_eq!(stderr(&o), format!("Unknown sigfunc {name}\n"));
    }
}

#[test]
fn signum_matches_reference() {
    let Some(reference) = reference() else {
        return;
    };
    for name in [
        "STOP",
        "RELOAD",
        "DATA",
        "STATS",
        "STATS_CLEAR",
        "JSON",
        "TDUMP",
        "FOO",
        "stop",
        "",
    ] {
        let arg = format!("--signum={name}");
        let ours = run(&[&arg]);
        let theirs = run_bin(reference, &[&arg]);
        assert_eq!(stdout(&ours), stdout(&theirs), "{arg}");
        assert_eq!(stderr(&ours), stderr(&theirs), "{arg}");
        assert_eq!(code(&ours), code(&theirs), "{arg}");
    }
}

#[test]
fn version_banner_shape() {
    for flag in ["-v", "--version", "--vers"] {
        let o = run(&[flag]);
        assert_eq!(code(&o), 0);
        assert_eq!(stdout(&o), "", "keepalived prints the version on stderr");
        let err = stderr(&o);
        let first = err.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!(
                "Keepalived v2.2.7 (keepalived-rs {})",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(err.contains("\nRunning on "), "{err}");
    }
    if let Some(reference) = reference() {
        let theirs = run_bin(reference, &["-v"]);
        assert_eq!(code(&theirs), 0);
        assert!(stderr(&theirs).starts_with("Keepalived v2.2.7 "));
        assert_eq!(stdout(&theirs), "");
    }
}

#[test]
fn help_shape() {
    let o = run(&["-h"]);
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o), "", "keepalived prints help on stderr");
    let ours = stderr(&o);
    assert_eq!(
        ours.lines().next(),
        Some(format!("Usage: {OURS} [OPTION...]").as_str())
    );
    assert!(ours.contains("\n      --convert-lvs-cf=FILE    "));
    assert_eq!(stderr(&run(&["--help"])), ours);
    let Some(reference) = reference() else {
        return;
    };
    let theirs = run_bin(reference, &["-h"]);
    assert_eq!(code(&theirs), 0);
    // Every line of keepalived's help is in ours, in the same order; ours adds the options
    // Debian's build leaves out and --convert-lvs-cf.
    let mut ours_lines = ours.lines().skip(1);
    for line in stderr(&theirs).lines().skip(1) {
        assert!(
            ours_lines.any(|l| l == line),
            "help line missing or out of order: {line:?}\n{ours}"
        );
    }
}

#[test]
fn unknown_flags_fail_like_keepalived() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nx = missing_conf(&dir);
    let cases: &[&[&str]] = &[
        &["--bogus"],
        &["-Z"],
        &["-lZn"],
        &["--help=x"],
        &["--vrrp=1"],
        &["--con"],
        &["--bogus", "-Z", "--c"],
        &["-f"],
        &["--use-file="],
        &["--signum="],
    ];
    for case in cases {
        // `-t -f missing` first, so that the reference could never start as a daemon.
        let mut args = vec!["-t", "-f", &nx];
        args.extend_from_slice(case);
        let ours = run(&args);
        assert_eq!(code(&ours), 1, "{case:?}: {}", stderr(&ours));
        assert!(
            stderr(&ours).contains("Unknown option") || stderr(&ours).contains("Missing parameter"),
            "{case:?}: {}",
            stderr(&ours)
        );
        if let Some(reference) = reference() {
            let theirs = run_bin(reference, &args);
            assert_eq!(code(&ours), code(&theirs), "{case:?}");
            assert_eq!(stderr(&ours), stderr(&theirs), "{case:?}");
            assert_eq!(stdout(&ours), stdout(&theirs), "{case:?}");
        }
    }
    let o = run(&["--bogus"]);
    assert_eq!(stderr(&o), "Unknown option --bogus\n");
    // A bad option does not stop a later -v.
    let o = run(&["--bogus", "-v"]);
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).starts_with("Unknown option --bogus\nKeepalived v2.2.7"));
}

#[test]
fn unexpected_arguments_go_to_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nx = missing_conf(&dir);
    let args = ["-t", "-f", &nx, "foo", "--", "-v"];
    let ours = run(&args);
    assert_eq!(stdout(&ours), "Unexpected argument(s): foo -v \n");
    assert_eq!(code(&ours), 0);
    if let Some(reference) = reference() {
        let theirs = run_bin(reference, &args);
        assert_eq!(stdout(&ours), stdout(&theirs));
        assert_eq!(code(&ours), code(&theirs));
    }
}

#[test]
fn config_test_on_missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nx = missing_conf(&dir);
    for (args, expect) in [
        (vec!["-t", "-f", nx.as_str()], 0),
        (vec!["--config-test", "--use-file", nx.as_str()], 0),
        (vec!["-e", "-t", "-f", nx.as_str()], 4),
    ] {
        let ours = run(&args);
        assert_eq!(code(&ours), expect, "{args:?}: {}", stderr(&ours));
        assert!(
            stderr(&ours).contains(&format!("Config files missing '{nx}'")),
            "{args:?}: {}",
            stderr(&ours)
        );
        if let Some(reference) = reference() {
            assert_eq!(
                code(&run_bin(reference, &args)),
                expect,
                "reference {args:?}"
            );
        }
    }
}

#[test]
fn config_test_log_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nx = missing_conf(&dir);
    let log = dir.path().join("test.log");
    let arg = format!("--config-test={}", log.display());
    let o = run(&["-f", &nx, &arg]);
    assert_eq!(code(&o), 0);
    assert_eq!(stderr(&o), "");
    let text = std::fs::read_to_string(&log).expect("log file written");
    assert!(text.contains("Config files missing"), "{text}");

    let bad = format!("-t{}", dir.path().join("no/such/dir.log").display());
    let o = run(&["-f", &nx, &bad]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).starts_with("Unable to open config-test log file "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dump_conf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = empty_conf(&dir);
    let o = run(&["-d", "-f", &conf.display().to_string()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&["--dump-conf", "-f", &missing_conf(&dir)]);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
}

#[test]
fn daemon_mode_writes_pid_files_and_stops_on_sigterm() {
    // An empty configuration: nothing to run, but the daemon stays up (as keepalived's parent
    // does) with its pid files until SIGTERM, then removes them and exits 0.
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = empty_conf(&dir);
    let pid = dir.path().join("k.pid");
    let vpid = dir.path().join("v.pid");
    // Never in the host's network namespace: `unshare -n` execs the daemon in a fresh, empty
    // one (same pid), which needs root.
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var("KEEPALIVED_RS_PRIVILEGED").as_deref() != Ok("1"),
            "daemon test needs root (a private network namespace) but KEEPALIVED_RS_PRIVILEGED=1"
        );
        eprintln!("skipped: the daemon test needs root for a private network namespace");
        return;
    }
    let mut child = Command::new("unshare")
        .args(["-n", "--", OURS])
        .args(["-n", "-G", "-f", &conf.display().to_string()])
        .arg("-p")
        .arg(&pid)
        .arg("-r")
        .arg(&vpid)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn daemon");
    let start = std::time::Instant::now();
    while !pid.exists() && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let written = std::fs::read_to_string(&pid).unwrap_or_default();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let mut status = None;
    while start.elapsed() < std::time::Duration::from_secs(20) {
        if let Ok(Some(s)) = child.try_wait() {
            status = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if status.is_none() {
        let _ = child.kill();
    }
    let _ = child.wait();
    assert_eq!(written.trim(), child.id().to_string(), "pid file content");
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "exit status after SIGTERM"
    );
    assert!(!pid.exists(), "pid file left behind");
    assert!(!vpid.exists(), "no VRRP configured: no VRRP pid file");

    let o = run(&["-n", "-f", &missing_conf(&dir)]);
    assert_eq!(code(&o), 6, "missing configuration: keepalived's exit code");
}

#[test]
fn convert_lvs_cf_fails_only_on_an_unreadable_file() {
    // The conversion itself is tested in tests/lvs_cf_golden.rs.
    let o = run(&["--convert-lvs-cf=/nonexistent/sysconfig/ha/lvs.cf"]);
    assert_eq!(code(&o), 6);
    assert!(stderr(&o).contains("--convert-lvs-cf=/nonexistent/sysconfig/ha/lvs.cf"));
    assert_eq!(stdout(&o), "");
}

#[test]
fn genhash_is_not_supported_yet() {
    for args in [&["-T"][..], &["--genhash", "-s", "127.0.0.1"]] {
        let o = run(args);
        assert_eq!(code(&o), 1);
        assert!(stderr(&o).contains("genhash mode (-T, --genhash) is not supported yet"));
    }
}
