//! Daemon mode: what `keepalived [-P] [-n] [-l] -f CONF` does after the configuration is read.
//!
//! keepalived runs a parent and one child per subsystem; keepalived-rs runs one process that
//! plays both parts, so the parent's pid file and the VRRP child's pid file hold the same pid
//! (keepalived's default paths: `/run/keepalived.pid` and `/run/vrrp.pid`, or `-p`/`-r`).
//!
//! - `-n`: stay in the foreground; otherwise detach (`daemon(3)`) before any thread starts.
//! - Signals: TERM/INT shut down gracefully (masters send priority-0 adverts and release
//!   their VIPs, STOP is notified); HUP re-reads the configuration and hands it to the engine,
//!   which keeps the state and the VIPs of the instances it still has (a configuration with
//!   errors is refused: [`reload`]); USR1/USR2/STATS_CLEAR/JSON write keepalived's dumps
//!   ([`dump`]). See [`signals`].
//! - Pid files are locked for the daemon's life ([`pidfile`]); systemd hears READY/RELOADING/
//!   STOPPING ([`notify_systemd`]); startup/shutdown scripts run around it all ([`scripts`]).
//! - Health checkers (default mode, or `-C`) run through [`crate::check::run_desired`] and
//!   follow reloads; every IPVS table they publish is applied by [`crate::ipvs::Ipvs`] as a
//!   diff (nothing is flushed on reload).
//! - Logging: see [`log`].
//!
//! This module must not implement protocol behaviour: it wires the configuration, the host
//! (rtnetlink, packet sockets) and the signals to [`crate::vrrp::engine::Engine`].

pub mod dump;
pub mod log;
pub mod notify_systemd;
pub mod pidfile;
pub mod reload;
pub mod scripts;
mod signals;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::cli::Options;
use crate::config::Loaded;
use crate::config::model::{Config, IpAddress, Route, Rule};
use crate::ipvs::desired::DesiredTable;
use crate::netlink::route::{Added, RouteSpec};
use crate::netlink::rule::RuleSpec;
use crate::netlink::{AddressManager, AddressSpec, RouteManager};
use crate::vrrp::engine::{AnnounceOps, Control, Engine, EngineOptions, Host, RouteOps, VipOps};
use crate::vrrp::garp::GarpSender;

/// keepalived's default pid files (include/pidfile.h).
pub const DEFAULT_PID_FILE: &str = "/run/keepalived.pid";
pub const DEFAULT_VRRP_PID_FILE: &str = "/run/vrrp.pid";

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

/// Routes and rules through rtnetlink; only what the kernel created for us is removed. An
/// entry that was already there (`EEXIST`) is an error for the engine, so that it does not
/// count it as installed.
struct NetlinkRoutes(RouteManager);

impl NetlinkRoutes {
    fn route(r: &Route) -> Result<RouteSpec, String> {
        RouteSpec::parse(&r.words).map_err(|e| format!("route {:?}: {e}", r.words.join(" ")))
    }

    fn rule(r: &Rule) -> Result<RuleSpec, String> {
        RuleSpec::parse(&r.words).map_err(|e| format!("rule {:?}: {e}", r.words.join(" ")))
    }
}

impl RouteOps for NetlinkRoutes {
    fn add_route(&mut self, route: &Route) -> Result<(), String> {
        let spec = Self::route(route)?;
        match self.0.add_route(&spec).map_err(|e| e.to_string())? {
            Added::Added => Ok(()),
            Added::Existed => Err(format!("route {spec} already exists - not ours")),
        }
    }

    fn remove_route(&mut self, route: &Route) -> Result<(), String> {
        let spec = Self::route(route)?;
        self.0
            .remove_route(&spec)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn add_rule(&mut self, rule: &Rule) -> Result<(), String> {
        let spec = Self::rule(rule)?;
        match self.0.add_rule(&spec).map_err(|e| e.to_string())? {
            Added::Added => Ok(()),
            Added::Existed => Err(format!("rule {spec} already exists - not ours")),
        }
    }

    fn remove_rule(&mut self, rule: &Rule) -> Result<(), String> {
        let spec = Self::rule(rule)?;
        self.0
            .remove_rule(&spec)
            .map(|_| ())
            .map_err(|e| e.to_string())
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

impl RouteOps for Unavailable {
    fn add_route(&mut self, _: &Route) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn remove_route(&mut self, _: &Route) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn add_rule(&mut self, _: &Rule) -> Result<(), String> {
        Err(self.0.clone())
    }
    fn remove_rule(&mut self, _: &Rule) -> Result<(), String> {
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
    let routes: Box<dyn RouteOps> = match RouteManager::new() {
        Ok(m) => Box::new(NetlinkRoutes(m)),
        Err(e) => Box::new(Unavailable(e.to_string())),
    };
    Host {
        vips,
        announce,
        routes,
    }
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
    let run_vrrp = opts.run_vrrp && (!cfg.instances.is_empty() || opts.run_all_children);
    // Locked before detaching (the child inherits the locks): a second start is refused on
    // the terminal it was typed on. keepalived exits 0 in that case, and so do we.
    let (main_pid, vrrp_pid) = pid_paths(opts, &cfg);
    let mut pid_files = Vec::new();
    let mut pid_errors = Vec::new();
    for path in std::iter::once(main_pid).chain(run_vrrp.then_some(vrrp_pid)) {
        match pidfile::PidFile::acquire(&path) {
            Ok(f) => pid_files.push(f),
            Err(e @ pidfile::PidFileError::Running { .. }) => {
                eprintln!("keepalived: {e}");
                log::init(opts, "Keepalived");
                info!("{e}");
                return ExitCode::SUCCESS;
            }
            Err(e) => pid_errors.push(e),
        }
    }
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
    for e in pid_errors {
        warn!("{e}");
    }
    for f in &mut pid_files {
        if let Err(e) = f.write_pid() {
            warn!(
                "pidfile_write : Cannot write {} pidfile: {e}",
                f.path().display()
            );
        }
    }
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
    let dont_release_ipvs = opts.dont_release_ipvs;
    runtime.block_on(async move {
        let (ctl_tx, ctl_rx) = mpsc::channel(8);
        // Checkers follow reloads through this channel and stop when `stop` fires.
        let (cfg_tx, cfg_rx) = watch::channel(Arc::new(cfg.clone()));
        let (stop_tx, stop_rx) = watch::channel(false);
        scripts::startup(&cfg).await;
        let ipvs_settings = crate::ipvs::Settings::from_config(&cfg, dont_release_ipvs);
        // VRRP state changes, for the IPVS sync daemon (`lvs_sync_daemon IF INSTANCE`).
        let (transitions_tx, transitions_rx) = mpsc::unbounded_channel();
        let checkers = run_checkers.then(|| {
            let (table_tx, table_rx) = watch::channel(DesiredTable::default());
            let mut stop = stop_rx.clone();
            let run = crate::check::run_desired(cfg_rx, table_tx, async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            let apply = program_ipvs(ipvs_settings, table_rx, transitions_rx);
            async move {
                tokio::join!(run, apply);
            }
        });
        let engine = if run_vrrp {
            let engine =
                Engine::new(cfg, real_host(), engine_opts).report_transitions(transitions_tx);
            Some(tokio::spawn(engine.run(ctl_rx)))
        } else {
            info!("No VRRP instances configured; VRRP not started");
            None
        };
        // The signal loop is a task on the worker threads, not part of this `block_on` (which
        // runs on the main thread): the worker that reads the signal off the driver then runs
        // the loop and, right after, the engine it wakes. From the main thread each of those
        // wake-ups was a cross-thread hand-off, which cost milliseconds of a SIGTERM handover
        // on a busy host (the priority-0 advert went out 3-9 ms after the signal).
        let (engine_running, checkers_running) = (engine.is_some(), checkers.is_some());
        let signal_task = tokio::spawn(async move {
            let targets = signals::Targets {
                engine: engine_running.then_some(&ctl_tx),
                config: &cfg_tx,
                checkers_running,
            };
            if let Err(e) = signals::signal_loop(&targets, &load_opts, ignore_sigint).await {
                warn!("signal handling failed: {e}");
                let _ = ctl_tx.send(Control::Shutdown).await;
            }
            let _ = stop_tx.send(true);
            Arc::clone(&cfg_tx.borrow())
        });
        notify_systemd::notify_status(notify_systemd::READY, "Running");
        let signals = async {
            let last = signal_task.await.ok();
            if let Some(engine) = engine {
                let _ = engine.await;
            }
            last
        };
        let last = match checkers {
            Some(c) => tokio::join!(signals, c).0,
            None => signals.await,
        };
        if let Some(cfg) = last {
            scripts::shutdown(&cfg).await;
        }
        info!("Stopped Keepalived v{}", crate::cli::KEEPALIVED_VERSION);
    });
    ExitCode::SUCCESS
}

/// Programs the kernel's IPVS table with every table the checkers publish (adopting what is
/// already right at the first one, then applying only what changed), switches the sync
/// daemon's role when the VRRP instance `lvs_sync_daemon` names changes state, and removes
/// what it programmed when the checkers stop (unless `-I`). IPVS calls block: they run on the
/// blocking pool, one at a time.
async fn program_ipvs(
    settings: crate::ipvs::Settings,
    mut tables: watch::Receiver<DesiredTable>,
    mut transitions: mpsc::UnboundedReceiver<crate::vrrp::engine::InstanceTransition>,
) {
    use crate::ipvs::{Ipvs, Verify};
    use crate::vrrp::fsm::State;
    let started = tokio::task::spawn_blocking(move || Ipvs::start(settings)).await;
    let mut ipvs = match started {
        Ok(Ok(i)) => Some(i),
        Ok(Err(e)) => {
            tracing::error!("IPVS: {e} - virtual servers are not programmed");
            None
        }
        Err(e) => {
            tracing::error!("IPVS: start failed ({e}) - virtual servers are not programmed");
            None
        }
    };
    let mut verify = Verify::Full;
    let mut transitions_open = true;
    loop {
        // One unit of work: a table to apply, or a sync daemon role to switch.
        enum Work {
            Table(DesiredTable),
            Sync(String, bool),
        }
        let work = tokio::select! {
            changed = tables.changed() => match changed {
                Ok(()) => Work::Table(tables.borrow_and_update().clone()),
                Err(_) => break,
            },
            t = transitions.recv(), if transitions_open => match t {
                // keepalived: becoming MASTER starts the master sync daemon
                // (`ipvs_syncd_master`); leaving it, or starting as BACKUP, the backup one.
                Some(t) => match t.to {
                    State::Master => Work::Sync(t.instance, true),
                    State::Backup | State::Fault
                        if t.from == State::Master || t.from == State::Init =>
                    {
                        Work::Sync(t.instance, false)
                    }
                    _ => continue,
                },
                None => {
                    transitions_open = false;
                    continue;
                }
            },
        };
        let Some(mut i) = ipvs.take() else { continue };
        match work {
            Work::Sync(instance, master) => {
                let done = tokio::task::spawn_blocking(move || {
                    let r = i.vrrp_transition(&instance, master);
                    (i, r)
                })
                .await;
                match done {
                    Ok((i, r)) => {
                        if let Err(e) = r {
                            warn!("IPVS: sync daemon: {e}");
                        }
                        ipvs = Some(i);
                    }
                    Err(e) => {
                        warn!("IPVS: sync daemon task failed ({e}); IPVS is no longer programmed")
                    }
                }
            }
            Work::Table(table) => {
                let v = verify;
                let done = tokio::task::spawn_blocking(move || {
                    let r = i.apply(&table, v);
                    (i, r)
                })
                .await;
                match done {
                    Ok((i, Ok(report))) => {
                        for e in &report.failed {
                            warn!("IPVS: {e}");
                        }
                        info!(
                            "IPVS: {} command(s), {} service(s) unchanged, {:?}",
                            report.commands, report.unchanged, report.elapsed
                        );
                        verify = Verify::Changed;
                        ipvs = Some(i);
                    }
                    Ok((i, Err(e))) => {
                        // Read the whole table again next time: the kernel may hold anything now.
                        warn!("IPVS: {e}");
                        verify = Verify::Full;
                        ipvs = Some(i);
                    }
                    Err(e) => {
                        warn!("IPVS: apply task failed ({e}); IPVS is no longer programmed")
                    }
                }
            }
        }
    }
    if let Some(i) = ipvs {
        match tokio::task::spawn_blocking(move || i.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("IPVS: at exit: {e}"),
            Err(e) => warn!("IPVS: exit task failed ({e})"),
        }
    }
}
