//! Throw-away network namespaces for `keepalived -t` runs, and the prerequisite gate.
//!
//! `keepalived -t` checks that the interfaces named in a config exist, so both the real
//! keepalived and ours are run inside a namespace that has exactly `lo` plus the veth
//! interfaces `eth0`..`eth3` (each with its peer `peer0`..`peer3` in the same namespace;
//! the `dummy` link type is not available on every kernel). Nothing is ever configured
//! in the host namespace: no addresses, no routes, no packets.
//!
//! ```ignore
//! mod support;
//! use support::netns::{self, NetNs};
//! if !netns::gate("my_test", &[netns::Need::Root, netns::Need::Ip]) { return; }
//! let ns = NetNs::with_default_interfaces("mytest").expect("netns");
//! let status = ns.command("/usr/sbin/keepalived").args(["-t", "-f", "x.conf"]).status();
//! // the namespace is deleted when `ns` is dropped, also on panic
//! ```

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The real keepalived the differential tests compare against (Debian's 2.2.7).
pub const KEEPALIVED: &str = "/usr/sbin/keepalived";

/// When set to `1`, a missing prerequisite FAILS the test instead of skipping it.
pub const PRIVILEGED_ENV: &str = "KEEPALIVED_RS_PRIVILEGED";

/// Interfaces every test namespace gets (besides `lo`).
pub const DEFAULT_INTERFACES: &[&str] = &["eth0", "eth1", "eth2", "eth3"];

/// Every namespace created here is named `PREFIX-<tag>-<pid>-<n>`.
const PREFIX: &str = "karst";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// effective uid 0 (network namespaces, veth creation)
    Root,
    /// the `ip` tool from iproute2
    Ip,
    /// the real keepalived at [`KEEPALIVED`]
    Keepalived,
    /// creating a namespace actually works (e.g. not blocked by a container)
    NetnsWorks,
}

/// Is the process running with effective uid 0? (Read from /proc, no libc call needed.)
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Path of the `ip` tool: searched in $PATH, then in the usual sbin directories.
pub fn ip_path() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join("ip"))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Human-readable list of the unmet prerequisites among `needs` (empty = all met).
pub fn missing(needs: &[Need]) -> Vec<String> {
    let mut out = Vec::new();
    let root = is_root();
    let ip = ip_path();
    for need in needs {
        match need {
            Need::Root if !root => out.push("not running as root".to_string()),
            Need::Ip if ip.is_none() => out.push("`ip` (iproute2) not found".to_string()),
            Need::Keepalived if !is_executable(Path::new(KEEPALIVED)) => {
                out.push(format!("{KEEPALIVED} not found"))
            }
            Need::NetnsWorks if root && ip.is_some() => {
                if let Err(e) = NetNs::new("probe", &[]) {
                    out.push(format!("cannot create a network namespace: {e}"));
                }
            }
            _ => {}
        }
    }
    out
}

/// The gate for privileged tests: `true` if every prerequisite is met. Otherwise, if
/// `KEEPALIVED_RS_PRIVILEGED=1`, panic (CI that is supposed to run these must not pass
/// silently); else print `skipped: <test>: <why>` and return `false`.
pub fn gate(test: &str, needs: &[Need]) -> bool {
    let missing = missing(needs);
    if missing.is_empty() {
        return true;
    }
    let why = missing.join("; ");
    if std::env::var(PRIVILEGED_ENV).as_deref() == Ok("1") {
        panic!("{test}: {PRIVILEGED_ENV}=1 but prerequisites are missing: {why}");
    }
    println!("skipped: {test}: {why} (set {PRIVILEGED_ENV}=1 to make this a failure)");
    false
}

/// A network namespace that is deleted (`ip netns del`) when dropped, including during
/// a panic unwind.
#[derive(Debug)]
pub struct NetNs {
    name: String,
    ip: PathBuf,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl NetNs {
    /// New namespace with `lo` up and [`DEFAULT_INTERFACES`] (veth, up).
    pub fn with_default_interfaces(tag: &str) -> Result<NetNs, String> {
        NetNs::new(tag, DEFAULT_INTERFACES)
    }

    /// New namespace `karst-<tag>-<pid>-<n>` with `lo` up and one veth pair per name in
    /// `interfaces` (`ifname` <-> `peer<i>`, both ends inside the namespace, both up).
    pub fn new(tag: &str, interfaces: &[&str]) -> Result<NetNs, String> {
        let ip = ip_path().ok_or("`ip` not found")?;
        cleanup_stale(&ip);
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(16)
            .collect();
        let name = format!(
            "{PREFIX}-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        run_ip(&ip, &["netns", "add", &name])?;
        // From here on the guard exists, so any failure below still deletes the namespace.
        let ns = NetNs { name, ip };
        ns.ip(&["link", "set", "lo", "up"])?;
        for (i, ifname) in interfaces.iter().enumerate() {
            let peer = format!("peer{i}");
            ns.ip(&["link", "add", ifname, "type", "veth", "peer", "name", &peer])?;
            ns.ip(&["link", "set", ifname, "up"])?;
            ns.ip(&["link", "set", &peer, "up"])?;
        }
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `ip -n <ns> <args>` (configuration inside the namespace only).
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run_ip(&self.ip, &full)
    }

    /// `ip netns exec <ns> <program>`: add arguments/env to the returned command.
    /// (`ip netns exec` execs the program in place, so the child's pid and exit status
    /// are the program's own.)
    pub fn command<S: AsRef<OsStr>>(&self, program: S) -> Command {
        let mut cmd = Command::new(&self.ip);
        cmd.args(["netns", "exec"]).arg(&self.name).arg(program);
        cmd
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run_ip(&self.ip, &["netns", "del", &self.name]) {
            eprintln!(
                "warning: could not delete network namespace {}: {e}",
                self.name
            );
        }
    }
}

fn run_ip(ip: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(ip)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} {}: {e}", ip.display(), args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Delete namespaces left behind by earlier test processes that were killed before their
/// guards ran: only names `karst-<tag>-<pid>-<n>` whose `<pid>` no longer exists.
fn cleanup_stale(ip: &Path) {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        let Ok(out) = Command::new(ip)
            .args(["netns", "list"])
            .stdin(Stdio::null())
            .output()
        else {
            return;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            let parts: Vec<&str> = name.split('-').collect();
            if parts.len() != 4 || parts[0] != PREFIX {
                continue;
            }
            let Ok(pid) = parts[2].parse::<u32>() else {
                continue;
            };
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = run_ip(ip, &["netns", "del", name]);
            }
        }
    });
}
