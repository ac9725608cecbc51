//! The operator's side, for real (privileged: root, `ip`, network namespaces): keepalived-rs
//! installed with `dist/install.sh` into a temporary prefix, then driven through the
//! installed init script inside a network namespace of its own:
//! start (VIP appears), status, a second start refused, the dumps (USR1/USR2/JSON, a
//! planted symlink not followed), reload with a good configuration (new VIP, old VIP never
//! gone), reload with a broken configuration (nothing changes), stop (VIPs and pid files
//! gone), uninstall.
//!
//! Addresses are from 198.51.100.0/24 and 203.0.113.0/24 only; the host namespace is never
//! touched; every wait is bounded.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::netns::{self, Need, NetNs};
use support::process::run_with_timeout;

const VIP1: &str = "203.0.113.10";
const VIP2: &str = "203.0.113.11";

fn config(vips: &[&str]) -> String {
    let vips: String = vips.iter().map(|v| format!("        {v}/24\n")).collect();
    format!(
        "global_defs {{\n    router_id lifecycle\n}}\n\
         vrrp_instance VI_1 {{\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    \
         priority 150\n    advert_int 1\n    virtual_ipaddress {{\n{vips}    }}\n}}\n"
    )
}

/// `until` becomes true within `limit` (checked every 50 ms).
fn wait_for(limit: Duration, mut until: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if until() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    until()
}

struct Lab {
    ns: NetNs,
    root: tempfile::TempDir,
}

impl Drop for Lab {
    /// A failed assertion must not leave the daemon running: TERM, then KILL.
    fn drop(&mut self) {
        let Ok(text) = std::fs::read_to_string(self.path("run/keepalived.pid")) else {
            return;
        };
        let Ok(pid) = text.trim().parse::<i32>() else {
            return;
        };
        let pid = Pid::from_raw(pid);
        let _ = kill(pid, Signal::SIGTERM);
        if !wait_for(Duration::from_secs(10), || kill(pid, None).is_err()) {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

impl Lab {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn init(&self, action: &str) -> (Option<i32>, String) {
        let mut cmd = self.ns.command("sh");
        cmd.arg(self.path("etc/init.d/keepalived"))
            .arg(action)
            .env("TMPDIR", self.path("tmp"));
        let r = run_with_timeout(&mut cmd, Duration::from_secs(60));
        let text = String::from_utf8_lossy(&r.output()).into_owned();
        (r.outcome.shell_code(), text)
    }

    fn addrs(&self) -> String {
        let out = self
            .ns
            .command("ip")
            .args(["-4", "addr", "show", "dev", "eth0"])
            .output()
            .expect("ip addr");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn has(&self, vip: &str) -> bool {
        self.addrs().contains(&format!("inet {vip}/24"))
    }

    fn pid(&self) -> i32 {
        std::fs::read_to_string(self.path("run/keepalived.pid"))
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    }

    fn signal(&self, sig: i32) {
        // kill(1): nix's `Signal` has no real-time signals.
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(st.success(), "kill -{sig}");
    }

    /// Sends `sig` and waits for `file` (under tmp/) to be rewritten; returns its text.
    fn dump(&self, sig: i32, file: &str) -> String {
        let path = self.path("tmp").join(file);
        let _ = std::fs::remove_file(&path);
        self.signal(sig);
        assert!(
            wait_for(Duration::from_secs(10), || path.is_file()),
            "{file} not written"
        );
        std::fs::read_to_string(&path).expect("dump")
    }
}

fn signum(name: &str) -> i32 {
    keepalived_rs::cli::signum(name).expect("signal name")
}

#[test]
fn init_script_start_reload_dump_stop_in_a_netns() {
    if !netns::gate(
        "init_script_start_reload_dump_stop_in_a_netns",
        &[Need::Root, Need::Ip, Need::NetnsWorks],
    ) {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let rbuf = root.path().to_path_buf();
    let r = rbuf.as_path();
    let bins = Path::new(env!("CARGO_BIN_EXE_keepalived"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let install = |action: &str| {
        let mut cmd = Command::new("sh");
        cmd.arg(support::manifest_dir().join("dist/install.sh"))
            .arg(action)
            .arg("--prefix")
            .arg(r.join("usr"))
            .arg("--sysconfdir")
            .arg(r.join("etc"))
            .arg("--runstatedir")
            .arg(r.join("run"))
            .arg("--unitdir")
            .arg(r.join("systemd"))
            .arg("--bin-dir")
            .arg(&bins);
        let res = run_with_timeout(&mut cmd, Duration::from_secs(60));
        assert_eq!(
            res.outcome.shell_code(),
            Some(0),
            "install.sh {action}: {}",
            String::from_utf8_lossy(&res.output())
        );
    };
    install("install");
    for f in [
        "usr/sbin/keepalived",
        "usr/bin/genhash",
        "usr/share/man/man8/keepalived.8",
        "usr/share/man/man5/keepalived.conf.5",
        "etc/init.d/keepalived",
        "etc/default/keepalived",
        "systemd/keepalived.service",
    ] {
        assert!(r.join(f).exists(), "{f} installed");
    }
    let unit = std::fs::read_to_string(r.join("systemd/keepalived.service")).expect("unit");
    assert!(unit.contains(&format!(
        "ExecStart={}/usr/sbin/keepalived --dont-fork",
        r.display()
    )));
    // The shipped default configuration is accepted by -t.
    let conf = r.join("etc/keepalived/keepalived.conf");
    let t = Command::new(env!("CARGO_BIN_EXE_keepalived"))
        .arg("-t")
        .arg("-f")
        .arg(&conf)
        .output()
        .expect("-t");
    assert!(t.status.success(), "default config: {t:?}");

    std::fs::create_dir_all(r.join("tmp")).expect("tmp");
    std::fs::write(&conf, config(&[VIP1])).expect("config");
    let ns = NetNs::new("lifecycle", &["eth0"]).expect("netns");
    ns.ip(&["addr", "add", "198.51.100.1/24", "dev", "eth0"])
        .expect("address");
    let lab = Lab { ns, root };

    // start: the daemon comes up and takes the VIP.
    let (code, out) = lab.init("start");
    assert_eq!(code, Some(0), "start: {out}");
    assert!(
        wait_for(Duration::from_secs(15), || lab.has(VIP1)),
        "VIP after start: {}",
        lab.addrs()
    );
    let pid = lab.pid();
    assert!(lab.path("run/vrrp.pid").exists());
    let (code, out) = lab.init("status");
    assert_eq!(code, Some(0), "status: {out}");
    assert!(out.contains(&format!("running (pid {pid})")), "{out}");

    // A second daemon on the same pid file is refused and leaves the first alone.
    let mut again = lab.ns.command(lab.path("usr/sbin/keepalived"));
    again
        .arg("-f")
        .arg(&conf)
        .arg(format!(
            "--pid={}",
            lab.path("run/keepalived.pid").display()
        ))
        .arg(format!("--vrrp_pid={}", lab.path("run/vrrp.pid").display()));
    let res = run_with_timeout(&mut again, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&res.output()).into_owned();
    assert!(text.contains("already running"), "second start: {text}");
    assert!(text.contains(&format!("pid {pid}")), "{text}");
    assert_eq!(lab.pid(), pid);
    let (code, _) = lab.init("start");
    assert_eq!(code, Some(0), "start while running is a no-op");
    assert_eq!(lab.pid(), pid);

    // Dumps, in keepalived's layout.
    let data = lab.dump(libc::SIGUSR1, "keepalived.data");
    for want in [
        "------< Global definitions >------",
        " Router ID = lifecycle",
        "------< VRRP Topology >------",
        " VRRP Instance = VI_1",
        "   State = MASTER",
        "   Virtual Router ID = 51",
        "   Priority = 150",
        "   Virtual IP (1):",
        "     203.0.113.10/24 dev eth0 scope global set",
        "------< Interfaces >------",
    ] {
        assert!(
            data.contains(want),
            "keepalived.data lacks {want:?}:\n{data}"
        );
    }
    let stats = lab.dump(libc::SIGUSR2, "keepalived.stats");
    for want in [
        "VRRP Instance: VI_1",
        "  Advertisements:",
        "  Became master: 1",
        "  Packet Errors:",
        "  Authentication Errors:",
        "  Priority Zero:",
    ] {
        assert!(
            stats.contains(want),
            "keepalived.stats lacks {want:?}:\n{stats}"
        );
    }
    let json = lab.dump(signum("JSON"), "keepalived.json");
    assert!(json.starts_with("[{\"data\":{\"iname\":\"VI_1\""), "{json}");
    assert!(json.contains("\"vips\":[\"203.0.113.10\\/24 dev eth0 scope global set\"]"));
    assert!(json.contains("\"stats\":{\"advert_rcvd\":"));
    let cleared = lab.dump(signum("STATS_CLEAR"), "keepalived.stats");
    assert!(cleared.contains("  Became master: 1"), "{cleared}");
    let after = lab.dump(libc::SIGUSR2, "keepalived.stats");
    assert!(
        after.contains("  Became master: 0"),
        "counters cleared:\n{after}"
    );

    // A symlink planted at the dump path is replaced, never followed.
    let victim = lab.path("victim");
    std::fs::write(&victim, "precious\n").expect("victim");
    let stats_path = lab.path("tmp/keepalived.stats");
    let _ = std::fs::remove_file(&stats_path);
    std::os::unix::fs::symlink(&victim, &stats_path).expect("symlink");
    lab.signal(libc::SIGUSR2);
    assert!(
        wait_for(Duration::from_secs(10), || std::fs::symlink_metadata(
            &stats_path
        )
        .is_ok_and(|m| m.is_file())),
        "stats not written"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious\n"
    );

    // reload with a good configuration: the new VIP appears, the old one never goes.
    std::fs::write(&conf, config(&[VIP1, VIP2])).expect("config");
    let (code, out) = lab.init("reload");
    assert_eq!(code, Some(0), "reload: {out}");
    let mut dropped = false;
    let added = wait_for(Duration::from_secs(10), || {
        let a = lab.addrs();
        dropped |= !a.contains(&format!("inet {VIP1}/24"));
        a.contains(&format!("inet {VIP2}/24"))
    });
    assert!(added, "second VIP after reload: {}", lab.addrs());
    assert!(!dropped, "the first VIP was dropped during reload");
    assert_eq!(lab.pid(), pid);

    // reload with a broken configuration: refused, nothing changes.
    std::fs::write(
        &conf,
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 300\n",
    )
    .expect("broken config");
    let (code, out) = lab.init("force-reload");
    assert_eq!(code, Some(0), "force-reload: {out}");
    let mut lost = false;
    wait_for(Duration::from_secs(3), || {
        lost |= !(lab.has(VIP1) && lab.has(VIP2));
        false
    });
    assert!(
        !lost,
        "a VIP went away after a refused reload: {}",
        lab.addrs()
    );
    let data = lab.dump(libc::SIGUSR1, "keepalived.data");
    assert!(data.contains("   State = MASTER"), "{data}");
    assert!(data.contains("   Virtual IP (2):"), "{data}");
    assert_eq!(lab.pid(), pid);

    // stop: VIPs and pid files go away.
    let (code, out) = lab.init("stop");
    assert_eq!(code, Some(0), "stop: {out}");
    assert!(
        !lab.has(VIP1) && !lab.has(VIP2),
        "VIPs after stop: {}",
        lab.addrs()
    );
    assert!(!lab.path("run/keepalived.pid").exists(), "pid file removed");
    assert!(!lab.path("run/vrrp.pid").exists(), "vrrp pid file removed");
    let (code, out) = lab.init("status");
    assert_eq!(code, Some(3), "status after stop: {out}");

    install("uninstall");
    assert!(!r.join("usr/sbin/keepalived").exists());
    assert!(!r.join("etc/init.d/keepalived").exists());
    assert!(conf.exists(), "uninstall keeps the configuration");
}

// ===== supervision, -c, -s =====

/// A daemon started directly (`-n`), its output in `log`; killed (process group) if the
/// test fails before it exits.
struct Daemon {
    child: std::process::Child,
    log: PathBuf,
}

impl Daemon {
    fn start(mut cmd: Command, log: PathBuf) -> Daemon {
        let f = std::fs::File::create(&log).expect("log file");
        cmd.stdin(std::process::Stdio::null())
            .stdout(f.try_clone().expect("log fd"))
            .stderr(f);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        Daemon {
            child: cmd.spawn().expect("spawn daemon"),
            log,
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) for the process to exit; its exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let mut status = None;
        wait_for(limit, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status.and_then(|s| s.code())
    }

    fn terminate(&mut self) -> Option<i32> {
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(15))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = nix::sys::signal::killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn has_vip(ns: &NetNs, vip: &str) -> bool {
    let out = ns
        .command("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .expect("ip addr");
    String::from_utf8_lossy(&out.stdout).contains(&format!("inet {vip}/24"))
}

/// VRRP adverts (IPv4, VRID 51, priority above 0, from 198.51.100.1) seen on any interface
/// of namespace `ns` during `window`: a packet socket, so these are frames on the wire (the
/// veth carries each one out of eth0 and into its peer: both are counted).
fn adverts(ns: &str, window: Duration) -> usize {
    use socket2::{Domain, Protocol, Socket, Type};
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("netns file");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let all = i32::from((libc::ETH_P_ALL as u16).to_be());
        let sock =
            Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(all))).expect("packet");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let end = Instant::now() + window;
        let mut buf = [0u8; 2048];
        let mut n = 0;
        while Instant::now() < end {
            let Ok(len) = std::io::Read::read(&mut &sock, &mut buf) else {
                continue;
            };
            let f = &buf[..len];
            // Ethernet, IPv4, protocol 112 from 198.51.100.1; VRRP: VRID, priority.
            if f.len() < 14 + 20 + 8 || f[12..14] != [0x08, 0x00] || f[14 + 9] != 112 {
                continue;
            }
            let ihl = usize::from(f[14] & 0x0f) * 4;
            if f[14 + 12..14 + 16] != [198, 51, 100, 1] || f.len() < 14 + ihl + 8 {
                continue;
            }
            let vrrp = &f[14 + ihl..];
            if vrrp[1] == 51 && vrrp[2] > 0 {
                n += 1;
            }
        }
        n
    })
    .join()
    .expect("capture thread")
}

/// A namespace with eth0 (198.51.100.1/24, its veth peer in the same namespace) and a
/// configuration for one MASTER instance holding VIP1.
fn vrrp_ns(tag: &str) -> (NetNs, tempfile::TempDir, PathBuf) {
    let ns = NetNs::new(tag, &["eth0"]).expect("netns");
    ns.ip(&["addr", "add", "198.51.100.1/24", "dev", "eth0"])
        .expect("address");
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(&conf, config(&[VIP1])).expect("config");
    (ns, dir, conf)
}

/// The test binary must carry the fault-injection hook (Cargo.toml's self dev-dependency).
fn assert_fault_injection_built_in() {
    let v = Command::new(env!("CARGO_BIN_EXE_keepalived"))
        .arg("-v")
        .output()
        .expect("-v");
    let text = String::from_utf8_lossy(&v.stderr);
    assert!(
        text.contains("fault injection enabled"),
        "the test build of keepalived lacks the fault-injection feature:\n{text}"
    );
}

/// Our daemon in `ns` on `conf` (`-n -l`, plus `flags`), its pid files and dumps in `dir`,
/// with `fault` injected (`KEEPALIVED_RS_FAULT`, test builds only).
fn faulty_command(ns: &NetNs, dir: &Path, conf: &Path, flags: &[&str], fault: &str) -> Command {
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_keepalived"));
    cmd.args(["-n", "-l"])
        .args(flags)
        .arg("-f")
        .arg(conf)
        .arg("-p")
        .arg(dir.join("keepalived.pid"))
        .arg("-r")
        .arg(dir.join("vrrp.pid"))
        .arg("-c")
        .arg(dir.join("checkers.pid"))
        .env("TMPDIR", dir)
        .env("KEEPALIVED_RS_FAULT", fault);
    cmd
}

#[test]
fn a_dead_vrrp_task_releases_its_vips_and_is_respawned() {
    if !netns::gate(
        "a_dead_vrrp_task_releases_its_vips_and_is_respawned",
        &[Need::Root, Need::Ip, Need::NetnsWorks],
    ) {
        return;
    }
    assert_fault_injection_built_in();
    let (ns, dir, conf) = vrrp_ns("respawn");
    let p = |f: &str| dir.path().join(f);
    // The checkers and IPVS tasks die early, the VRRP engine once it is MASTER.
    let cmd = faulty_command(
        &ns,
        dir.path(),
        &conf,
        &["-D", "--all"],
        "vrrp-panic-after-ms=8000,check-panic-after-ms=1000,ipvs-panic-after-ms=1500",
    );
    let started = Instant::now();
    let mut d = Daemon::start(cmd, p("daemon.log"));
    let pid = d.pid();

    // -c: the checkers' pid file names the daemon (one process plays every part).
    assert!(
        wait_for(Duration::from_secs(10), || {
            std::fs::read_to_string(p("checkers.pid")).is_ok_and(|t| t.trim() == pid.to_string())
        }),
        "checkers.pid: {:?}\n{}",
        std::fs::read_to_string(p("checkers.pid")),
        d.log_text()
    );

    assert!(
        wait_for(Duration::from_secs(7), || has_vip(&ns, VIP1)),
        "VIP before the fault:\n{}",
        d.log_text()
    );
    assert!(
        started.elapsed() < Duration::from_millis(7000),
        "MASTER too late to test the fault ({:?})",
        started.elapsed()
    );
    let before = adverts(ns.name(), Duration::from_millis(1200));
    assert!(before > 0, "no adverts while MASTER:\n{}", d.log_text());

    // The engine panics 8 s after the start: its VIP goes at once (no adverts, no VIP).
    assert!(
        wait_for(Duration::from_secs(12), || !has_vip(&ns, VIP1)),
        "VIP still held after the VRRP task died:\n{}",
        d.log_text()
    );
    let gone_after = started.elapsed();
    assert!(
        gone_after < Duration::from_millis(8000 + 2000),
        "VIP released {gone_after:?} after the start (the fault fires at 8 s)"
    );
    let log = d.log_text();
    assert!(
        log.contains(&format!("VRRP child process({pid}) died: Respawning")),
        "{log}"
    );
    assert!(log.contains("fault injection: VRRP task panics"), "{log}");

    // Respawned in the same process: MASTER again, VIP back, adverts on the wire.
    assert!(
        wait_for(Duration::from_secs(15), || has_vip(&ns, VIP1)),
        "VIP not taken again after the respawn:\n{}",
        d.log_text()
    );
    let after = adverts(ns.name(), Duration::from_millis(1200));
    assert!(after > 0, "no adverts after the respawn:\n{}", d.log_text());
    assert_eq!(d.child.try_wait().ok().flatten(), None, "daemon exited");

    // The checkers and IPVS tasks were respawned too.
    let log = d.log_text();
    for want in [
        format!("Healthcheck child process({pid}) died: Respawning"),
        format!("IPVS child process({pid}) died: Respawning"),
    ] {
        assert!(log.contains(&want), "{want:?} not logged:\n{log}");
    }

    // An ordinary stop after all that: VIP and pid files gone.
    assert_eq!(d.terminate(), Some(0), "exit:\n{}", d.log_text());
    assert!(!has_vip(&ns, VIP1), "VIP after stop");
    for f in ["keepalived.pid", "vrrp.pid", "checkers.pid"] {
        assert!(!p(f).exists(), "{f} not removed");
    }
}

#[test]
fn with_dont_respawn_a_dead_vrrp_task_stops_the_daemon_cleanly() {
    if !netns::gate(
        "with_dont_respawn_a_dead_vrrp_task_stops_the_daemon_cleanly",
        &[Need::Root, Need::Ip, Need::NetnsWorks],
    ) {
        return;
    }
    assert_fault_injection_built_in();
    let (ns, dir, conf) = vrrp_ns("norespawn");
    let p = |f: &str| dir.path().join(f);
    let cmd = faulty_command(
        &ns,
        dir.path(),
        &conf,
        &["-R", "-P"],
        "vrrp-panic-after-ms=7000",
    );
    let mut d = Daemon::start(cmd, p("daemon.log"));
    let pid = d.pid();
    assert!(
        wait_for(Duration::from_secs(6), || has_vip(&ns, VIP1)),
        "VIP before the fault:\n{}",
        d.log_text()
    );
    let code = d.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(0), "exit after the fault:\n{}", d.log_text());
    assert!(!has_vip(&ns, VIP1), "VIP left behind:\n{}", d.log_text());
    for f in ["keepalived.pid", "vrrp.pid"] {
        assert!(!p(f).exists(), "{f} not removed");
    }
    let log = d.log_text();
    assert!(
        log.contains(&format!("VRRP child process({pid}) died: Exiting")),
        "{log}"
    );
    assert!(!log.contains("Respawning"), "{log}");
    assert!(log.contains("Stopped Keepalived"), "{log}");
}

#[test]
fn namespace_flag_runs_the_daemon_in_the_named_netns() {
    if !netns::gate(
        "namespace_flag_runs_the_daemon_in_the_named_netns",
        &[Need::Root, Need::Ip, Need::NetnsWorks],
    ) {
        return;
    }
    run_in_named_netns("nsflag", false);
}

/// `net_namespace NAME` in global_defs does what `-s NAME` does.
#[test]
fn net_namespace_in_the_config_runs_the_daemon_in_the_named_netns() {
    if !netns::gate(
        "net_namespace_in_the_config_runs_the_daemon_in_the_named_netns",
        &[Need::Root, Need::Ip, Need::NetnsWorks],
    ) {
        return;
    }
    run_in_named_netns("nscfg", true);
}

/// Starts the daemon in a private empty netns, told to move into a named one by `-s`
/// (`via_config` false) or by `net_namespace` (true), and checks where it runs and writes.
fn run_in_named_netns(tag: &str, via_config: bool) {
    // Both tests use /run/keepalived and check that it is removed: one at a time.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let unshare = ["/usr/bin/unshare", "/bin/unshare"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("unshare (util-linux) is needed to start the daemon in an empty netns");
    let (ns, dir, conf) = vrrp_ns(tag);
    if via_config {
        let text = std::fs::read_to_string(&conf).expect("config");
        std::fs::write(
            &conf,
            text.replacen(
                "global_defs {",
                &format!("global_defs {{\n    net_namespace {}", ns.name()),
                1,
            ),
        )
        .expect("config");
    }
    // Default pid paths: keepalived's /run/keepalived/NAMESPACE/ (the name is unique).
    let piddir = Path::new("/run/keepalived").join(ns.name());
    let had_run_keepalived = Path::new("/run/keepalived").exists();
    // The daemon starts in a private, empty network namespace (never the host's) and must
    // move itself into the named one before it opens anything.
    let mut cmd = Command::new(unshare);
    cmd.arg("-n")
        .arg(env!("CARGO_BIN_EXE_keepalived"))
        .args(["-n", "-l", "--all"])
        .args(if via_config {
            vec![]
        } else {
            vec!["-s", ns.name()]
        })
        .arg("-f")
        .arg(&conf)
        .env("TMPDIR", dir.path());
    let mut d = Daemon::start(cmd, dir.path().join("daemon.log"));
    let pid = d.pid();
    assert!(
        wait_for(Duration::from_secs(10), || has_vip(&ns, VIP1)),
        "VIP in {}:\n{}",
        ns.name(),
        d.log_text()
    );
    use std::os::unix::fs::MetadataExt as _;
    let target = std::fs::metadata(format!("/run/netns/{}", ns.name()))
        .expect("netns file")
        .ino();
    let ours = std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .expect("daemon netns")
        .ino();
    assert_eq!(ours, target, "the daemon is not in {}", ns.name());
    for f in ["keepalived.pid", "vrrp.pid", "checkers.pid"] {
        let text = std::fs::read_to_string(piddir.join(f))
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", piddir.join(f).display(), d.log_text()));
        assert_eq!(text.trim(), pid.to_string(), "{f}");
    }
    assert!(
        !Path::new("/run/keepalived.pid").exists()
            || std::fs::read_to_string("/run/keepalived.pid")
                .is_ok_and(|t| t.trim() != pid.to_string()),
        "pid file written in /run"
    );
    assert_eq!(d.terminate(), Some(0), "exit:\n{}", d.log_text());
    assert!(!has_vip(&ns, VIP1), "VIP after stop");
    assert!(!piddir.exists(), "{} not removed", piddir.display());
    if !had_run_keepalived {
        assert!(
            !Path::new("/run/keepalived").exists(),
            "/run/keepalived not removed"
        );
    }
}

// ===== the systemd unit =====

/// The installed `keepalived.service` as systemd would run it. There is no systemd manager
/// to run it under here (no PID 1 systemd in the test environment), so the test plays the
/// manager's part: `systemd-analyze verify` accepts the installed unit; its `ExecStart`
/// (with `DAEMON_ARGS` from the installed defaults, and pid files moved into the test's
/// directory) runs in a network namespace with `$NOTIFY_SOCKET` set, and the daemon says
/// `READY=1` once running; `ExecReload` (SIGHUP) gives `RELOADING=1` then `READY=1` with the
/// VIP kept; SIGTERM (`KillMode=process`) gives `STOPPING=1`, exit 0, VIP removed.
#[test]
fn systemd_unit_verifies_and_the_daemon_speaks_its_notify_protocol() {
    if !netns::gate(
        "systemd_unit_verifies_and_the_daemon_speaks_its_notify_protocol",
        &[Need::Root, Need::Ip, Need::NetnsWorks],
    ) {
        return;
    }
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if analyze.is_none() && std::env::var("KEEPALIVED_RS_PRIVILEGED").as_deref() == Ok("1") {
        panic!("systemd-analyze is missing (apt-get install systemd)");
    }
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let bins = Path::new(env!("CARGO_BIN_EXE_keepalived"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let mut cmd = Command::new("sh");
    cmd.arg(support::manifest_dir().join("dist/install.sh"))
        .arg("install")
        .arg("--prefix")
        .arg(r.join("usr"))
        .arg("--sysconfdir")
        .arg(r.join("etc"))
        .arg("--runstatedir")
        .arg(r.join("run"))
        .arg("--unitdir")
        .arg(r.join("systemd"))
        .arg("--bin-dir")
        .arg(&bins);
    let res = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert_eq!(
        res.outcome.shell_code(),
        Some(0),
        "install.sh: {}",
        String::from_utf8_lossy(&res.output())
    );
    let unit_path = r.join("systemd/keepalived.service");
    let unit = std::fs::read_to_string(&unit_path).expect("unit");
    if let Some(analyze) = analyze {
        let out = Command::new(analyze)
            .arg("verify")
            .arg(&unit_path)
            .output()
            .expect("systemd-analyze");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "systemd-analyze verify: {text}");
        // Warnings about the unit itself (not about other units of this host) fail the test.
        assert!(
            !text.lines().any(|l| l.contains("keepalived.service")),
            "systemd-analyze verify: {text}"
        );
    }
    for want in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=process",
    ] {
        assert!(
            unit.lines().any(|l| l == want),
            "{want} in the unit:\n{unit}"
        );
    }
    let exec: Vec<String> = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart")
        .split_whitespace()
        .filter(|w| *w != "$DAEMON_ARGS")
        .map(str::to_string)
        .collect();
    let defaults = std::fs::read_to_string(r.join("etc/default/keepalived")).expect("defaults");
    let daemon_args: Vec<String> = defaults
        .lines()
        .find_map(|l| l.strip_prefix("DAEMON_ARGS="))
        .map(|v| {
            v.trim_matches('"')
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let conf = r.join("etc/keepalived/keepalived.conf");
    std::fs::write(&conf, config(&[VIP1])).expect("config");
    let ns = NetNs::new("sdunit", &["eth0"]).expect("netns");
    ns.ip(&["addr", "add", "198.51.100.1/24", "dev", "eth0"])
        .expect("address");

    // The manager's end of $NOTIFY_SOCKET.
    let sock_path = r.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).expect("notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut got: Vec<String> = Vec::new();
    let wait_msg = |want: &str, got: &mut Vec<String>, limit: Duration| -> bool {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = sock.recv(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                let hit = m.lines().any(|l| l == want);
                got.push(m);
                if hit {
                    return true;
                }
            }
        }
        false
    };

    let mut cmd = ns.command(&exec[0]);
    cmd.args(&exec[1..])
        .args(&daemon_args)
        .arg(format!("--pid={}", r.join("run/keepalived.pid").display()))
        .arg(format!("--vrrp_pid={}", r.join("run/vrrp.pid").display()))
        .arg(format!(
            "--checkers_pid={}",
            r.join("run/checkers.pid").display()
        ))
        .env("NOTIFY_SOCKET", &sock_path)
        .env("TMPDIR", r);
    let mut d = Daemon::start(cmd, r.join("daemon.log"));
    assert!(
        wait_msg("READY=1", &mut got, Duration::from_secs(15)),
        "no READY=1: {got:?}\n{}",
        d.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(15), || has_vip(&ns, VIP1)),
        "VIP: {}",
        d.log_text()
    );
    got.clear();
    // ExecReload.
    let _ = kill(Pid::from_raw(d.pid()), Signal::SIGHUP);
    assert!(
        wait_msg("RELOADING=1", &mut got, Duration::from_secs(10)),
        "no RELOADING=1: {got:?}\n{}",
        d.log_text()
    );
    assert!(
        wait_msg("READY=1", &mut got, Duration::from_secs(10)),
        "no READY=1 after the reload: {got:?}\n{}",
        d.log_text()
    );
    assert!(has_vip(&ns, VIP1), "VIP lost on reload");
    got.clear();
    let _ = kill(Pid::from_raw(d.pid()), Signal::SIGTERM);
    assert!(
        wait_msg("STOPPING=1", &mut got, Duration::from_secs(10)),
        "no STOPPING=1: {got:?}\n{}",
        d.log_text()
    );
    assert_eq!(
        d.wait_exit(Duration::from_secs(15)),
        Some(0),
        "{}",
        d.log_text()
    );
    assert!(!has_vip(&ns, VIP1), "VIP after stop");
    assert!(
        !r.join("run/keepalived.pid").exists(),
        "pid file after stop"
    );
}
