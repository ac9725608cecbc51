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
