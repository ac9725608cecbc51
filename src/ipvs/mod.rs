//! IPVS: the kernel's IP Virtual Server table, programmed over the generic-netlink family
//! "IPVS" (no ipvsadm subprocess).
//!
//! - [`desired`] — the table we want: [`desired::from_config`] builds it for "every real server
//!   up"; the health-check layer derives the live one from it.
//! - [`plan`] — the pure planner: desired vs kernel → the fewest NEW/SET/DEL commands.
//! - [`genl`] — the wire layer: family resolution, encoding, pipelined execution, dumps.
//! - [`Ipvs`] — the manager the daemon holds: start (modprobe, `lvs_flush`, `lvs_timeouts`,
//!   the sync daemon), [`Ipvs::apply`] (adopt what is already right, change only the
//!   difference), counters, and [`Ipvs::shutdown`] (remove what we manage unless `-I`,
//!   `lvs_flush_on_stop`, restore the timeouts).
//!
//! Every call is blocking and bounded: each netlink receive waits at most
//! [`Settings::timeout`]. Under tokio, call it from `spawn_blocking` or a dedicated thread.

pub mod desired;
pub mod genl;
pub mod plan;

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::model::Config;

pub use desired::DesiredTable;
use desired::ServiceKey;
use genl::GenlSocket;
pub use genl::{DaemonState, KernelTable, Stats, SyncDaemon, SyncRole, Timeouts, WireCounters};
use plan::{Command, Table};

/// Errors of the IPVS layer; each names the service, destination or operation concerned.
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    #[error("IPVS is not available: {0}")]
    Unavailable(String),
    #[error("the kernel has no generic netlink family IPVS")]
    NoFamily,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what}: no answer from the kernel within {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("{what}: {}", explain(*errno))]
    Kernel { what: String, errno: i32 },
    #[error("{what}: cannot decode the kernel's reply: {detail}")]
    Decode { what: String, detail: String },
}

impl IpvsError {
    /// The errno of a kernel refusal.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IpvsError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// The kernel's errno with what it means for IPVS (as `ipvs_strerror` does in keepalived).
fn explain(errno: i32) -> String {
    let os = io::Error::from_raw_os_error(errno);
    let hint = match errno {
        libc::ESRCH => " (no such service)",
        libc::EEXIST => " (already exists)",
        libc::ENOENT => " (no such destination, or scheduler / persistence engine not found)",
        libc::EPERM => " (needs CAP_NET_ADMIN)",
        libc::EAFNOSUPPORT => " (address family not supported: mixed families need TUN)",
        _ => "",
    };
    format!("{os}{hint}")
}

/// `lvs_flush_on_stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushOnStop {
    /// Remove our destinations, then our services.
    #[default]
    No,
    /// `lvs_flush_on_stop VS`: remove our services (their destinations go with them).
    Vs,
    /// `lvs_flush_on_stop`: flush the whole IPVS table.
    Full,
}

/// The sync daemon as configured by `lvs_sync_daemon`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemonConfig {
    pub daemon: SyncDaemon,
    /// The VRRP instance whose transitions switch the role; `None`: run master and backup
    /// from start to exit.
    pub instance: Option<String>,
}

/// How the manager runs (from the configuration and the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bound on every netlink receive.
    pub timeout: Duration,
    /// `lvs_flush`: flush the table at a cold start.
    pub flush_at_start: bool,
    pub flush_on_stop: FlushOnStop,
    /// `false` with `-I` / `--dont-release-ipvs`.
    pub release_on_exit: bool,
    /// `lvs_timeouts` (seconds; `None` keeps the kernel's value).
    pub timeouts: (Option<u32>, Option<u32>, Option<u32>),
    pub sync_daemon: Option<SyncDaemonConfig>,
    /// Load `ip_vs` with modprobe when the family is missing (as keepalived does).
    pub modprobe: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(5),
            flush_at_start: false,
            flush_on_stop: FlushOnStop::No,
            release_on_exit: true,
            timeouts: (None, None, None),
            sync_daemon: None,
            modprobe: true,
        }
    }
}

impl Settings {
    /// The settings `cfg` asks for; `dont_release_ipvs` is `-I`.
    pub fn from_config(cfg: &Config, dont_release_ipvs: bool) -> Self {
        let g = &cfg.global;
        Settings {
            flush_at_start: g.lvs_flush,
            flush_on_stop: match g.lvs_flush_on_stop.as_deref() {
                None => FlushOnStop::No,
                Some("VS") => FlushOnStop::Vs,
                Some(_) => FlushOnStop::Full,
            },
            release_on_exit: !dont_release_ipvs,
            timeouts: (
                g.lvs_timeouts.tcp,
                g.lvs_timeouts.tcpfin,
                g.lvs_timeouts.udp,
            ),
            sync_daemon: g
                .lvs_sync_daemon
                .as_ref()
                .map(|s| sync_daemon_config(cfg, s)),
            ..Settings::default()
        }
    }
}

/// `lvs_sync_daemon IF [[inst] VI] [id N] [maxlen L] [port P] [ttl T] [group IP]`; the sync id
/// defaults to the named instance's VRID, else 0 (keepalived's `vrrp.c`).
fn sync_daemon_config(cfg: &Config, s: &crate::config::model::LvsSyncDaemon) -> SyncDaemonConfig {
    let mut instance = None;
    let mut d = SyncDaemon {
        interface: s.interface.clone(),
        sync_id: 0,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
    };
    let mut id = None;
    let a = &s.args;
    let mut i = 0;
    while i < a.len() {
        let val = a.get(i + 1).map(String::as_str);
        match a[i].as_str() {
            "inst" => instance = val.map(str::to_string),
            "id" => id = val.and_then(|v| v.parse::<u32>().ok()),
            "maxlen" => d.maxlen = val.and_then(|v| v.parse().ok()),
            "port" => d.port = val.and_then(|v| v.parse().ok()),
            "ttl" => d.ttl = val.and_then(|v| v.parse().ok()),
            "group" => d.group = val.and_then(|v| v.parse::<IpAddr>().ok()),
            name if i == 0 => {
                instance = Some(name.to_string());
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    let instance = instance.or_else(|| s.instance.clone());
    d.sync_id = id.or(s.id).unwrap_or_else(|| {
        instance
            .as_ref()
            .and_then(|n| cfg.instances.iter().find(|v| &v.name == n))
            .and_then(|v| v.vrid)
            .map_or(0, |v| u32::from(v.0))
    });
    SyncDaemonConfig {
        daemon: d,
        instance,
    }
}

/// What an [`Ipvs::apply`] did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Commands sent (the plan's length).
    pub commands: usize,
    /// Desired services that were already right in the kernel.
    pub unchanged: usize,
    /// Commands the kernel refused, each naming its service / destination.
    pub failed: Vec<IpvsError>,
    pub elapsed: Duration,
}

/// How much of the kernel's table [`Ipvs::apply`] reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Dump every service and the destinations of every desired one (start, adoption).
    Full,
    /// Read back only services whose desired state differs from what we last applied (reload).
    Changed,
}

/// The IPVS manager.
pub struct Ipvs {
    sock: GenlSocket,
    settings: Settings,
    /// Services we program (the last desired table's keys, plus any we failed to remove).
    managed: BTreeSet<ServiceKey>,
    /// What we believe the kernel holds for the managed services.
    record: Table,
    original_timeouts: Option<Timeouts>,
    sync_running: Vec<SyncRole>,
}

impl Ipvs {
    /// Connect to IPVS (loading `ip_vs` if needed), flush at a cold start with `lvs_flush`,
    /// set `lvs_timeouts`, and start the sync daemon when it follows no VRRP instance.
    pub fn start(settings: Settings) -> Result<Self, IpvsError> {
        let sock = open(&settings)?;
        let mut ipvs = Ipvs {
            sock,
            settings,
            managed: BTreeSet::new(),
            record: Table::default(),
            original_timeouts: None,
            sync_running: Vec::new(),
        };
        if ipvs.settings.flush_at_start {
            ipvs.sock.flush()?;
        }
        let (tcp, fin, udp) = ipvs.settings.timeouts;
        if tcp.is_some() || fin.is_some() || udp.is_some() {
            let orig = ipvs.sock.get_timeouts()?;
            ipvs.original_timeouts = Some(orig);
            ipvs.sock.set_timeouts(Timeouts {
                tcp: tcp.unwrap_or(orig.tcp),
                tcp_fin: fin.unwrap_or(orig.tcp_fin),
                udp: udp.unwrap_or(orig.udp),
            })?;
        }
        if let Some(s) = &ipvs.settings.sync_daemon {
            // Stop leftovers of an abnormal exit, then (without an instance) run both roles.
            let _ = ipvs.sock.del_daemon(SyncRole::Master);
            let _ = ipvs.sock.del_daemon(SyncRole::Backup);
            if s.instance.is_none() {
                ipvs.sync_daemon_start(SyncRole::Master)?;
                ipvs.sync_daemon_start(SyncRole::Backup)?;
            }
        }
        Ok(ipvs)
    }

    /// Make the kernel hold `desired` (see [`plan`] for the rules). Services we managed before
    /// and that are no longer desired are removed; services we never managed are not touched.
    /// Refused commands are reported, not fatal: every other command still runs.
    pub fn apply(
        &mut self,
        desired: &DesiredTable,
        verify: Verify,
    ) -> Result<ApplyReport, IpvsError> {
        let t0 = Instant::now();
        // The services this apply looks at, as desired and as the kernel has them.
        let subset: Table;
        let mut changed = BTreeSet::new();
        let (want, kernel, mut unchanged) = match verify {
            Verify::Full => (desired, self.read_full(desired)?, 0),
            Verify::Changed => {
                changed = self.changed(desired);
                subset = Table {
                    services: changed
                        .iter()
                        .filter_map(|k| desired.services.get(k).map(|s| (*k, s.clone())))
                        .collect(),
                };
                let kernel = self.read_services(&changed)?;
                let trusted = desired.services.len() - subset.services.len();
                (&subset, kernel, trusted)
            }
        };
        let cmds = plan::plan(want, &kernel, &self.managed);
        unchanged += want
            .services
            .iter()
            .filter(|(k, s)| kernel.services.get(k).is_some_and(|h| same_service(h, s)))
            .count();
        let failures = self.sock.execute(&cmds)?;
        let failed_idx: BTreeSet<usize> = failures.iter().map(|(i, _)| *i).collect();
        let ok: Vec<Command> = cmds
            .iter()
            .enumerate()
            .filter(|(i, _)| !failed_idx.contains(i))
            .map(|(_, c)| c.clone())
            .collect();
        // A service we failed to delete stays ours.
        let undeleted: BTreeSet<ServiceKey> = cmds
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c {
                Command::DelService { key } if failed_idx.contains(&i) => Some(*key),
                _ => None,
            })
            .collect();
        let mut view = kernel;
        plan::simulate(&mut view, &ok);
        let ours = |k: &ServiceKey| desired.services.contains_key(k) || undeleted.contains(k);
        match verify {
            Verify::Full => {
                view.services.retain(|k, _| ours(k));
                self.managed = view.services.keys().copied().collect();
                self.managed.extend(desired.services.keys().copied());
                self.managed.extend(undeleted.iter().copied());
                self.record = view;
            }
            Verify::Changed => {
                // Only the services looked at change in the record.
                for k in changed {
                    self.record.services.remove(&k);
                    self.managed.remove(&k);
                    if ours(&k) {
                        self.managed.insert(k);
                        if let Some(s) = view.services.remove(&k) {
                            self.record.services.insert(k, s);
                        }
                    }
                }
            }
        }
        Ok(ApplyReport {
            commands: cmds.len(),
            unchanged,
            failed: failures.into_iter().map(|(_, e)| e).collect(),
            elapsed: t0.elapsed(),
        })
    }

    /// Every service in the kernel, with the destinations of those we want.
    fn read_full(&mut self, desired: &DesiredTable) -> Result<Table, IpvsError> {
        let mut k = self.sock.read_table(false)?;
        let keys: Vec<ServiceKey> = k
            .table
            .services
            .keys()
            .filter(|key| desired.services.contains_key(key))
            .copied()
            .collect();
        for key in keys {
            self.sock.read_dests(&key, &mut k)?;
        }
        Ok(k.table)
    }

    /// The services whose desired state differs from what we last applied, or that we managed
    /// and no longer want.
    fn changed(&self, desired: &DesiredTable) -> BTreeSet<ServiceKey> {
        let mut changed: BTreeSet<ServiceKey> = desired
            .services
            .iter()
            .filter(|(k, s)| {
                !self
                    .record
                    .services
                    .get(k)
                    .is_some_and(|r| same_service(r, s))
            })
            .map(|(k, _)| *k)
            .collect();
        changed.extend(
            self.managed
                .iter()
                .filter(|k| !desired.services.contains_key(k)),
        );
        changed
    }

    /// These services (those that exist) and their destinations, read from the kernel.
    fn read_services(&mut self, keys: &BTreeSet<ServiceKey>) -> Result<Table, IpvsError> {
        let mut kt = KernelTable::default();
        for key in keys {
            let what = format!("get service {key}");
            let msgs = match self.sock.get(
                genl::cmd::GET_SERVICE,
                vec![genl::service_attr(key, None)],
                false,
                &what,
            ) {
                Ok(m) => m,
                Err(e) if matches!(e.errno(), Some(libc::ESRCH) | Some(libc::ENOENT)) => continue,
                Err(e) => return Err(e),
            };
            let Some(m) = msgs.first() else { continue };
            let (k, svc, _) = genl::decode_service(m).map_err(|detail| IpvsError::Decode {
                what: what.clone(),
                detail,
            })?;
            kt.table.services.insert(k, svc);
            self.sock.read_dests(&k, &mut kt)?;
        }
        Ok(kt.table)
    }

    /// The kernel's whole table with counters (connections, packets, bytes from STATS64), for
    /// the status dumps.
    pub fn read(&mut self) -> Result<KernelTable, IpvsError> {
        self.sock.read_table(true)
    }

    /// The kernel's IPVS version code (`0x010201` is 1.2.1) and connection table size.
    pub fn info(&mut self) -> Result<(u32, u32), IpvsError> {
        self.sock.info()
    }

    /// The services we manage.
    pub fn managed(&self) -> &BTreeSet<ServiceKey> {
        &self.managed
    }

    /// How many commands go out per `send` (default [`genl::BATCH`]; 1 disables pipelining).
    pub fn set_batch(&mut self, n: usize) {
        self.sock.batch = n.max(1);
    }

    /// What went over the wire so far.
    pub fn counters(&self) -> WireCounters {
        self.sock.counters
    }

    /// Start the sync daemon in `role` (the configured `lvs_sync_daemon`).
    pub fn sync_daemon_start(&mut self, role: SyncRole) -> Result<(), IpvsError> {
        let Some(cfg) = &self.settings.sync_daemon else {
            return Ok(());
        };
        let d = cfg.daemon.clone();
        self.sock.new_daemon(role, &d)?;
        if !self.sync_running.contains(&role) {
            self.sync_running.push(role);
        }
        Ok(())
    }

    pub fn sync_daemon_stop(&mut self, role: SyncRole) -> Result<(), IpvsError> {
        self.sync_running.retain(|r| *r != role);
        self.sock.del_daemon(role)
    }

    /// The hook for the VRRP engine: the instance `instance` became MASTER (`master`) or left
    /// it. When it is the instance `lvs_sync_daemon` names, stop the opposite role and start
    /// this one (keepalived's `ipvs_syncd_master` / `ipvs_syncd_backup`).
    pub fn vrrp_transition(&mut self, instance: &str, master: bool) -> Result<(), IpvsError> {
        let named = self
            .settings
            .sync_daemon
            .as_ref()
            .and_then(|s| s.instance.as_deref());
        if named != Some(instance) {
            return Ok(());
        }
        let (stop, start) = if master {
            (SyncRole::Backup, SyncRole::Master)
        } else {
            (SyncRole::Master, SyncRole::Backup)
        };
        if self.sync_running.contains(&stop) {
            self.sync_daemon_stop(stop)?;
        }
        self.sync_daemon_start(start)
    }

    /// The running sync daemons as the kernel reports them.
    pub fn sync_daemons(&mut self) -> Result<Vec<DaemonState>, IpvsError> {
        self.sock.daemons()
    }

    /// Leave: remove what we manage (unless `-I`), or flush per `lvs_flush_on_stop`; stop the
    /// sync daemons; restore the original timeouts. Every step runs; the first error is
    /// returned.
    pub fn shutdown(mut self) -> Result<(), IpvsError> {
        let mut first: Option<IpvsError> = None;
        let mut keep = |r: Result<(), IpvsError>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        if self.settings.release_on_exit {
            match self.settings.flush_on_stop {
                FlushOnStop::Full => keep(self.sock.flush()),
                mode => {
                    let mut cmds = Vec::new();
                    for key in &self.managed {
                        if mode == FlushOnStop::No
                            && let Some(s) = self.record.services.get(key)
                        {
                            cmds.extend(s.destinations.keys().map(|d| Command::DelDest {
                                service: *key,
                                dest: *d,
                            }));
                        }
                        cmds.push(Command::DelService { key: *key });
                    }
                    match self.sock.execute(&cmds) {
                        Ok(f) => {
                            if let Some((_, e)) = f.into_iter().next() {
                                keep(Err(e));
                            }
                        }
                        Err(e) => keep(Err(e)),
                    }
                }
            }
        }
        for role in std::mem::take(&mut self.sync_running) {
            keep(self.sock.del_daemon(role));
        }
        if let Some(t) = self.original_timeouts {
            keep(self.sock.set_timeouts(t));
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn same_service(kernel: &desired::Service, want: &desired::Service) -> bool {
    plan::ServiceParams::of(kernel) == plan::ServiceParams::of(want)
        && kernel.destinations == want.destinations
}

/// Open the socket; without the family, load `ip_vs` as keepalived does and try again.
fn open(settings: &Settings) -> Result<GenlSocket, IpvsError> {
    match GenlSocket::open(settings.timeout) {
        Err(IpvsError::NoFamily) if settings.modprobe => {
            let probe = modprobe("ip_vs");
            match GenlSocket::open(settings.timeout) {
                Err(IpvsError::NoFamily) => Err(IpvsError::Unavailable(format!(
                    "the kernel has no generic netlink family IPVS and loading ip_vs failed ({})",
                    probe.err().unwrap_or_else(|| "modprobe succeeded".into())
                ))),
                other => other,
            }
        }
        Err(IpvsError::NoFamily) => Err(IpvsError::Unavailable(
            "the kernel has no generic netlink family IPVS (ip_vs not loaded)".into(),
        )),
        other => other,
    }
}

/// The kernel's whole IPVS table with its counters (connections, packets, bytes, rates; from
/// STATS64 when the kernel has it), read on a generic netlink socket of its own: for the
/// status dumps, which then never wait behind the programming task and never load a module
/// (without `ip_vs` this is `IpvsError::Unavailable`). Blocking; each receive waits at most
/// `timeout`.
pub fn read_counters(timeout: Duration) -> Result<KernelTable, IpvsError> {
    match GenlSocket::open(timeout) {
        Ok(mut sock) => sock.read_table(true),
        Err(IpvsError::NoFamily) => Err(IpvsError::Unavailable(
            "the kernel has no generic netlink family IPVS (ip_vs not loaded)".into(),
        )),
        Err(e) => Err(e),
    }
}

/// `modprobe -s -- NAME`, then without `-s` (some modprobes lack it), with the program named by
/// `/proc/sys/kernel/modprobe` (keepalived's `keepalived_modprobe`). Bounded to 10 s.
pub fn modprobe(name: &str) -> Result<(), String> {
    let prog = std::fs::read_to_string("/proc/sys/kernel/modprobe")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/sbin/modprobe".into());
    let run = |args: &[&str]| -> Result<(), String> {
        let mut child = std::process::Command::new(&prog)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{prog}: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(st)) if st.success() => return Ok(()),
                Ok(Some(st)) => return Err(format!("{prog} {}: {st}", args.join(" "))),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{prog} {}: timed out", args.join(" ")));
                }
                Err(e) => return Err(format!("{prog}: {e}")),
            }
        }
    };
    run(&["-s", "--", name]).or_else(|_| run(&[name]))
}
