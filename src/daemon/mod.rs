//! Daemon mode: what `keepalived [-P] [-n] [-l] -f CONF` does after the configuration is read.
//!
//! keepalived runs a parent and one child per subsystem; keepalived-rs runs one process that
//! plays both parts, so the parent's pid file and the VRRP child's pid file hold the same pid
//! (keepalived's default paths: `/run/keepalived.pid` and `/run/vrrp.pid`, or `-p`/`-r`).
//!
//! - `-n`: stay in the foreground; otherwise detach (`daemon(3)`) before any thread starts.
//! - Signals: TERM/INT shut down gracefully (masters send priority-0 adverts and release
//!   their VIPs, STOP is notified); HUP re-reads the configuration and hands it to the engine,
//!   which keeps the state and the VIPs of the instances it still has; USR1 writes
//!   `/tmp/keepalived.data`, USR2 `/tmp/keepalived.stats`.
//! - Health checkers (default mode, or `-C`) run through [`crate::check::run_desired`] and
//!   follow reloads; the IPVS table they produce is not programmed yet (only logged).
//! - Logging: see [`log`].
//!
//! This module must not implement protocol behaviour: it wires the configuration, the host
//! (rtnetlink, packet sockets) and the signals to [`crate::vrrp::engine::Engine`].

pub mod log;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::cli::Options;
use crate::config::model::{Config, IpAddress};
use crate::config::{self, Loaded};
use crate::ipvs::desired::DesiredTable;
use crate::netlink::{AddressManager, AddressSpec};
use crate::vrrp::engine::{AnnounceOps, Control, Engine, EngineOptions, Host, VipOps};
use crate::vrrp::garp::GarpSender;

/// keepalived's default pid files (include/pidfile.h).
pub const DEFAULT_PID_FILE: &str = "/run/keepalived.pid";
pub const DEFAULT_VRRP_PID_FILE: &str = "/run/vrrp.pid";
/// Where USR1/USR2 write (keepalived without `--with-tmp-dir`).
pub const DATA_FILE: &str = "/tmp/keepalived.data";
pub const STATS_FILE: &str = "/tmp/keepalived.stats";

/// VIPs through rtnetlink; only what was added is removed.
struct NetlinkVips(AddressManager);

impl VipOps for NetlinkVips {
    fn add(&mut self, ifname: &str, addr: &IpAddress) -> Result<(), String> {
        let spec = AddressSpec::from_config(addr, ifname).map_err(|e| e.to_string())?;
        self.0.add(&spec).map(|_| ()).map_err(|e| e.to_string())
    }

    fn remove(&mut self, ifname: &str, addr: &IpAddress) -> Result<(), String> {
        let spec = AddressSpec::from_config(addr, ifname).map_err(|e| e.to_string())?;
        self.0.remove(&spec).map(|_| ()).map_err(|e| e.to_string())
    }
}

/// Gratuitous ARP / unsolicited NA through a packet socket.
struct PacketAnnounce(GarpSender);

impl AnnounceOps for PacketAnnounce {
    fn announce(&mut self, ifname: &str, addr: IpAddr) -> Result<(), String> {
        let r = match addr {
            IpAddr::V4(a) => self.0.send_arp(ifname, a),
            IpAddr::V6(a) => self.0.send_na(ifname, a),
        };
        r.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// A host whose operations fail: used when a socket cannot be opened, so that the engine
/// still runs (and logs each failure) instead of the daemon dying.
struct Unavailable(String);

impl VipOps for Unavailable {
    fn add(&mut self, _: &str, _: &IpAddress) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn remove(&mut self, _: &str, _: &IpAddress) -> Result<(), String> {
        Err(self.0.clone())
    }
}

impl AnnounceOps for Unavailable {
    fn announce(&mut self, _: &str, _: IpAddr) -> Result<(), String> {
        Err(self.0.clone())
    }
}

fn real_host() -> Host {
    let vips: Box<dyn VipOps> = match AddressManager::new() {
        Ok(m) => Box::new(NetlinkVips(m)),
        Err(e) => {
            warn!("Cannot open rtnetlink socket: {e}");
            Box::new(Unavailable(e.to_string()))
        }
    };
    let announce: Box<dyn AnnounceOps> = match GarpSender::new() {
        Ok(s) => Box::new(PacketAnnounce(s)),
        Err(e) => {
            warn!("Cannot open gratuitous ARP socket: {e}");
            Box::new(Unavailable(e.to_string()))
        }
    };
    Host { vips, announce }
}

/// A pid file written at start and removed at exit (keepalived `pidfile_write`/`pidfile_rm`).
struct PidFile(PathBuf);

impl PidFile {
    fn write(path: PathBuf) -> Result<PidFile, String> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(&path, format!("{}\n", std::process::id())).map_err(|e| {
            format!(
                "pidfile_write : Cannot open {} pidfile: {e}",
                path.display()
            )
        })?;
        Ok(PidFile(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// keepalived `process_running`: the pid file names a live process other than us.
fn already_running(path: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(path).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    if pid <= 0 || pid == std::process::id() as i32 {
        return None;
    }
    // /proc/PID exists: the process is alive (signal 0 without libc).
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// The pid file paths for `opts` and `cfg` (`use_pid_dir` puts them under /run/keepalived).
fn pid_paths(opts: &Options, cfg: &Config) -> (PathBuf, PathBuf) {
    let dir = if cfg.global.use_pid_dir {
        PathBuf::from("/run/keepalived")
    } else {
        PathBuf::from("/run")
    };
    let main = opts
        .pid_file
        .clone()
        .unwrap_or_else(|| dir.join(Path::new(DEFAULT_PID_FILE).file_name().unwrap_or_default()));
    let vrrp = opts.vrrp_pid_file.clone().unwrap_or_else(|| {
        dir.join(
            Path::new(DEFAULT_VRRP_PID_FILE)
                .file_name()
                .unwrap_or_default(),
        )
    });
    (main, vrrp)
}

/// Runs the daemon for the configuration already read. Returns the process exit code.
pub fn run(opts: &Options, loaded: Loaded) -> ExitCode {
    let cfg = loaded.config;
    if !opts.dont_fork
        && let Err(e) = nix::unistd::daemon(false, false)
    {
        eprintln!("keepalived: cannot detach: {e}");
        return ExitCode::from(crate::cli::EXIT_FATAL);
    }
    log::init(opts, "Keepalived_vrrp");
    info!(
        "Starting Keepalived v{} (keepalived-rs {})",
        crate::cli::KEEPALIVED_VERSION,
        env!("CARGO_PKG_VERSION")
    );

    let (main_pid, vrrp_pid) = pid_paths(opts, &cfg);
    if let Some(pid) = already_running(&main_pid) {
        info!("daemon is already running (pid {pid})");
        return ExitCode::SUCCESS;
    }
    let run_vrrp = opts.run_vrrp && (!cfg.instances.is_empty() || opts.run_all_children);
    let _pid_files = {
        let mut files = Vec::new();
        match PidFile::write(main_pid) {
            Ok(f) => files.push(f),
            Err(e) => warn!("{e}"),
        }
        if run_vrrp {
            match PidFile::write(vrrp_pid) {
                Ok(f) => files.push(f),
                Err(e) => warn!("{e}"),
            }
        }
        files
    };
    let run_checkers =
        opts.run_checkers && (!cfg.virtual_servers.is_empty() || opts.run_all_children);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            warn!("cannot start the runtime: {e}");
            return ExitCode::from(crate::cli::EXIT_FATAL);
        }
    };
    let load_opts = opts.load_options();
    let engine_opts = EngineOptions {
        dont_release_vrrp: opts.dont_release_vrrp,
    };
    let ignore_sigint = opts.ignore_sigint;
    runtime.block_on(async move {
        let (ctl_tx, ctl_rx) = mpsc::channel(8);
        // Checkers follow reloads through this channel and stop when `stop` fires.
        let (cfg_tx, cfg_rx) = watch::channel(Arc::new(cfg.clone()));
        let (stop_tx, stop_rx) = watch::channel(false);
        let checkers = run_checkers.then(|| {
            warn!(
                "Health checkers run, but IPVS programming is not wired into the daemon yet: \
                 the resulting IPVS table is only logged"
            );
            let (table_tx, mut table_rx) = watch::channel(DesiredTable::default());
            let mut stop = stop_rx.clone();
            let run = crate::check::run_desired(cfg_rx, table_tx, async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            let log = async move {
                while table_rx.changed().await.is_ok() {
                    let n: usize = table_rx
                        .borrow_and_update()
                        .services
                        .values()
                        .map(|s| s.destinations.len())
                        .sum();
                    info!("Checkers: {n} live real server(s)");
                }
            };
            async move {
                tokio::join!(run, log);
            }
        });
        let engine = if run_vrrp {
            let engine = Engine::new(cfg, real_host(), engine_opts);
            Some(tokio::spawn(engine.run(ctl_rx)))
        } else {
            info!("No VRRP instances configured; VRRP not started");
            None
        };
        let signals = async {
            if let Err(e) = signal_loop(&ctl_tx, &cfg_tx, &load_opts, ignore_sigint).await {
                warn!("signal handling failed: {e}");
            }
            let _ = ctl_tx.send(Control::Shutdown).await;
            let _ = stop_tx.send(true);
            if let Some(engine) = engine {
                let _ = engine.await;
            }
        };
        match checkers {
            Some(c) => {
                tokio::join!(signals, c);
            }
            None => signals.await,
        }
        info!("Stopped Keepalived v{}", crate::cli::KEEPALIVED_VERSION);
    });
    ExitCode::SUCCESS
}

/// Waits for signals until TERM/INT; HUP reloads, USR1/USR2 dump.
async fn signal_loop(
    ctl: &mpsc::Sender<Control>,
    checkers: &watch::Sender<Arc<Config>>,
    load: &config::LoadOptions,
    ignore_sigint: bool,
) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    loop {
        tokio::select! {
            _ = term.recv() => {
                info!("Stopping");
                return Ok(());
            }
            _ = int.recv() => {
                if !ignore_sigint {
                    info!("Stopping");
                    return Ok(());
                }
            }
            _ = hup.recv() => {
                info!("Reloading ...");
                let load = load.clone();
                let loaded = tokio::task::spawn_blocking(move || config::load(&load)).await;
                match loaded {
                    Ok(loaded) => {
                        for line in loaded.diagnostics.render().lines() {
                            warn!("{line}");
                        }
                        checkers.send_replace(Arc::new(loaded.config.clone()));
                        let _ = ctl.send(Control::Reload(Box::new(loaded.config))).await;
                    }
                    Err(e) => warn!("reload failed: {e}"),
                }
            }
            _ = usr1.recv() => {
                let _ = ctl.send(Control::Dump(PathBuf::from(DATA_FILE))).await;
            }
            _ = usr2.recv() => {
                let _ = ctl.send(Control::Dump(PathBuf::from(STATS_FILE))).await;
            }
        }
    }
}
