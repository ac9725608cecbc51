//! A bridged LAN of network namespaces for VRRP tests: routers running keepalived-rs or the
//! real keepalived, and a client that pings the VIPs.
//!
//! ```text
//!   <tag>-r0: eth0 198.51.100.1/24 2001:db8::1/64  [eth1 203.0.113.1/24]
//!   <tag>-r1: eth0 198.51.100.2/24 2001:db8::2/64  [eth1 203.0.113.2/24]
//!   client:   eth0 198.51.100.100/24 2001:db8::100/64 [eth1 203.0.113.100/24]
//!        each ethN is a veth whose peer is enslaved to brN in the "lan" namespace
//! ```
//!
//! Everything lives in namespaces created here ([`NetNs`] guards delete them, also on panic);
//! daemons are killed by [`Daemon`]'s guard (their whole process group). Every wait is
//! bounded. The client probes use `setns(2)` in a throw-away thread, so no `ping` binary is
//! needed.

use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::netns::{KEEPALIVED, NetNs};

/// Our binary.
pub const OURS: &str = env!("CARGO_BIN_EXE_keepalived");

/// The LAN prefixes of `eth0` and `eth1`.
pub const LAN4: [&str; 2] = ["198.51.100", "203.0.113"];

pub struct Lab {
    pub lan: NetNs,
    pub routers: Vec<NetNs>,
    pub client: NetNs,
    pub dir: tempfile::TempDir,
}

fn sh(ns: &NetNs, script: &str) -> Result<(), String> {
    let out = ns
        .command("/bin/sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{script}` in {}: {}",
            ns.name(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// No duplicate address detection: addresses (link-local included) are usable at once.
const NO_DAD: &str = "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; \
                      echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad";

impl Lab {
    /// `routers` routers and a client, each with `lans` interfaces (eth0, eth1).
    pub fn new(tag: &str, routers: usize, lans: usize) -> Result<Lab, String> {
        let lan = NetNs::new(&format!("{tag}lan"), &[])?;
        for b in 0..lans {
            lan.ip(&["link", "add", &format!("br{b}"), "type", "bridge"])?;
            lan.ip(&["link", "set", &format!("br{b}"), "up"])?;
        }
        let mut nss = Vec::new();
        for r in 0..=routers {
            let ns = NetNs::new(
                &format!(
                    "{tag}{}",
                    if r == routers {
                        "c".to_string()
                    } else {
                        format!("r{r}")
                    }
                ),
                &[],
            )?;
            sh(&ns, NO_DAD)?;
            let host = if r == routers { 100 } else { r + 1 };
            for (b, prefix) in LAN4.iter().enumerate().take(lans) {
                let peer = format!("p{r}b{b}");
                let eth = format!("eth{b}");
                lan.ip(&[
                    "link",
                    "add",
                    &peer,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &eth,
                    "netns",
                    ns.name(),
                ])?;
                lan.ip(&["link", "set", &peer, "master", &format!("br{b}"), "up"])?;
                ns.ip(&["link", "set", &eth, "up"])?;
                ns.ip(&["addr", "add", &format!("{prefix}.{host}/24"), "dev", &eth])?;
                if b == 0 {
                    ns.ip(&[
                        "addr",
                        "add",
                        &format!("2001:db8::{host}/64"),
                        "dev",
                        &eth,
                        "nodad",
                    ])?;
                }
            }
            nss.push(ns);
        }
        let client = nss.pop().expect("client namespace");
        let lab = Lab {
            lan,
            routers: nss,
            client,
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
        };
        // Wait until every router has its IPv6 link-local address.
        for r in &lab.routers {
            wait_until(Duration::from_secs(5), || addrs(r).contains("fe80::"));
        }
        Ok(lab)
    }

    pub fn router(&self, r: usize) -> &NetNs {
        &self.routers[r]
    }

    /// Does router `r` have `vip` configured (any interface)?
    pub fn holds(&self, r: usize, vip: &str) -> bool {
        holds(&self.routers[r], vip)
    }

    /// Which routers hold `vip` now.
    pub fn holders(&self, vip: &str) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&r| self.holds(r, vip))
            .collect()
    }

    fn write_conf(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(format!("{name}.conf"));
        std::fs::write(&p, text).expect("write config");
        p
    }

    /// Starts keepalived-rs on router `r`.
    pub fn start_ours(&self, r: usize, conf: &str) -> Daemon {
        self.start(Kind::Ours, r, conf)
    }

    /// Starts Debian's keepalived on router `r`.
    pub fn start_keepalived(&self, r: usize, conf: &str) -> Daemon {
        self.start(Kind::Keepalived, r, conf)
    }

    pub fn start(&self, kind: Kind, r: usize, conf: &str) -> Daemon {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("r{r}-{}-{n}", kind.label());
        let conf = self.write_conf(&name, conf);
        let pid = self.dir.path().join(format!("{name}.pid"));
        let vpid = self.dir.path().join(format!("{name}.vrrp.pid"));
        let log = self.dir.path().join(format!("{name}.log"));
        let bin = match kind {
            Kind::Ours => OURS,
            Kind::Keepalived => KEEPALIVED,
        };
        let logf = File::create(&log).expect("log file");
        let mut cmd = self.routers[r].command(bin);
        cmd.args(["-n", "-l", "-D", "-P", "-f"])
            .arg(&conf)
            .arg("-p")
            .arg(&pid)
            .arg("-r")
            .arg(&vpid)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("log fd"))
            .stderr(logf);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("spawn daemon");
        let d = Daemon {
            kind,
            child,
            pid,
            vpid,
            log,
            name,
        };
        // Both daemons write their pid files once running.
        wait_until(Duration::from_secs(10), || d.vrrp_pid().is_some());
        d
    }

    /// ICMP echo from the client to `dst`: `true` on a reply within `timeout`.
    pub fn ping(&self, dst: IpAddr, timeout: Duration) -> bool {
        ping_from(self.client.name(), dst, timeout)
    }

    /// Runs `f` inside the client namespace (in a fresh thread).
    pub fn in_client<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_netns(self.client.name(), f)
    }
}

pub fn addrs(ns: &NetNs) -> String {
    let ip = super::netns::ip_path().unwrap_or_else(|| PathBuf::from("ip"));
    Command::new(ip)
        .args(["-n", ns.name(), "-o", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

pub fn holds(ns: &NetNs, vip: &str) -> bool {
    addrs(ns).lines().any(|l| {
        l.split_whitespace()
            .any(|w| w.split('/').next() == Some(vip))
    })
}

/// Polls `cond` every 20 ms for at most `limit`; returns whether it became true.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that `cond` holds at every sample (every 100 ms) for `span`.
pub fn holds_for(
    span: Duration,
    mut cond: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < span {
        cond().map_err(|e| format!("after {:.1}s: {e}", start.elapsed().as_secs_f64()))?;
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Keepalived,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Keepalived => "keepalived",
        }
    }
}

/// A running daemon; dropped = its process group SIGKILLed and reaped.
pub struct Daemon {
    pub kind: Kind,
    child: Child,
    pid: PathBuf,
    vpid: PathBuf,
    pub log: PathBuf,
    pub name: String,
}

fn read_pid(p: &Path) -> Option<i32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

impl Daemon {
    pub fn vrrp_pid(&self) -> Option<i32> {
        read_pid(&self.vpid)
    }

    pub fn main_pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` to the process doing VRRP (keepalived's VRRP child; ours: the daemon).
    pub fn signal_vrrp(&self, sig: Signal) {
        if let Some(p) = self.vrrp_pid() {
            let _ = signal::kill(Pid::from_raw(p), sig);
        }
    }

    /// SIGKILL without any chance to say goodbye: keepalived's VRRP child first (so that the
    /// parent cannot pass a TERM on), then the parent.
    pub fn sigkill(&mut self) {
        self.signal_vrrp(Signal::SIGKILL);
        let _ = signal::kill(Pid::from_raw(self.main_pid()), Signal::SIGKILL);
        let _ = signal::killpg(Pid::from_raw(self.main_pid()), Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM to the main process; waits (at most 10 s) for it to exit.
    pub fn sigterm(&mut self) -> bool {
        let _ = signal::kill(Pid::from_raw(self.main_pid()), Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = signal::killpg(Pid::from_raw(self.main_pid()), Signal::SIGKILL);
            let _ = self.child.wait();
        }
        // keepalived's children are in the same process group; make sure.
        if let Some(p) = self.vrrp_pid() {
            let _ = signal::kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}

/// Runs `f` in a new thread that has entered network namespace `ns`.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread")
}

fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One ICMP (v4 or v6) echo from namespace `ns` to `dst`.
pub fn ping_from(ns: &str, dst: IpAddr, timeout: Duration) -> bool {
    in_netns(ns, move || icmp_echo(dst, timeout).unwrap_or(false))
}

fn icmp_echo(dst: IpAddr, timeout: Duration) -> std::io::Result<bool> {
    static SEQ: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(1);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = (std::process::id() & 0xffff) as u16;
    let (sock, ty) = match dst {
        IpAddr::V4(_) => (
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?,
            8u8,
        ),
        IpAddr::V6(_) => (
            Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?,
            128u8,
        ),
    };
    let mut msg = vec![ty, 0, 0, 0];
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(b"karsping");
    if dst.is_ipv4() {
        let c = inet_checksum(&msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
    }
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    sock.send_to(&msg, &SockAddr::from(SocketAddr::new(dst, 0)))?;
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    while start.elapsed() < timeout {
        let n = match (&sock).read(&mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        let icmp = match dst {
            IpAddr::V4(d) => {
                let ihl = usize::from(buf[0] & 0x0f) * 4;
                if n < ihl + 8 || Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]) != d {
                    continue;
                }
                &buf[ihl..n]
            }
            IpAddr::V6(_) => &buf[..n],
        };
        let reply = if dst.is_ipv4() { 0 } else { 129 };
        if icmp.len() >= 8
            && icmp[0] == reply
            && icmp[4..6] == id.to_be_bytes()
            && icmp[6..8] == seq.to_be_bytes()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Sends raw IPv4 datagrams (header included) out of `ifname` in namespace `ns`.
pub fn send_raw_v4(ns: &str, ifname: &str, dst: Ipv4Addr, datagrams: Vec<Vec<u8>>) {
    let ifname = ifname.to_string();
    in_netns(ns, move || {
        let sock =
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255))).expect("raw socket");
        sock.set_header_included_v4(true).expect("IP_HDRINCL");
        sock.bind_device(Some(ifname.as_bytes()))
            .expect("SO_BINDTODEVICE");
        for d in datagrams {
            sock.send_to(&d, &SockAddr::from(SocketAddr::new(IpAddr::V4(dst), 0)))
                .expect("send raw datagram");
        }
    })
}
