//! Daemon mode: what `keepalived [-P] [-n] [-l] -f CONF` does after the configuration is read.
//!
//! keepalived runs a parent and one child per subsystem; keepalived-rs runs one process that
//! plays every part, so the parent's, the VRRP child's and the checker child's pid files
//! hold the same pid (keepalived's paths: `/run/keepalived.pid`, `/run/vrrp.pid`,
//! `/run/checkers.pid`, or `-p`/`-r`/`-c`; see `pid_paths` for `use_pid_dir`, `instance`
//! and namespaces). The subsystems are tasks that the daemon supervises as keepalived's
//! parent supervises its children: one that dies is cleaned up after and restarted, or with
//! `-R` the daemon stops ([`supervise`]; the VRRP engine's VIPs are recorded outside it in
//! [`host::Ledger`]).
//!
//! - `-s NAME`: the command line has already entered the network namespace ([`namespace`]).
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
#[cfg(feature = "fault-injection")]
mod fault;
pub mod host;
pub mod log;
pub mod namespace;
pub mod notify_systemd;
pub mod pidfile;
pub mod reload;
pub mod scripts;
mod signals;
pub mod supervise;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::check::engine::SnapshotRequest;
use crate::cli::Options;
use crate::config::Loaded;
use crate::config::model::Config;
use crate::ipvs::desired::DesiredTable;
use crate::vrrp::engine::{Control, Engine, EngineOptions, InstanceTransition};
use supervise::{Lifecycle, Outcome, Subsystem, Task};

/// keepalived's default pid files (include/pidfile.h).
pub const DEFAULT_PID_FILE: &str = "/run/keepalived.pid";
pub const DEFAULT_VRRP_PID_FILE: &str = "/run/vrrp.pid";
pub const DEFAULT_CHECKERS_PID_FILE: &str = "/run/checkers.pid";

/// The file creation mask: keepalived's default (`S_IXUSR|S_IWGRP|S_IXGRP|S_IWOTH|S_IXOTH`,
/// files 0644) or `-u`/`--umask`.
static UMASK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0o133);

/// The mode of the files the daemon creates (dumps, pid files): 0666 less the umask.
pub fn file_mode() -> u32 {
    0o666 & !UMASK.load(std::sync::atomic::Ordering::Relaxed)
}

/// `-u MASK` and `-m` (keepalived core/main.c: `umask(umask_val)` at start; `--core-dump`
/// lifts RLIMIT_CORE so that an abnormal end leaves a core).
fn process_settings(opts: &Options) {
    if let Some(m) = opts.umask {
        UMASK.store(m & 0o777, std::sync::atomic::Ordering::Relaxed);
    }
    let mask = UMASK.load(std::sync::atomic::Ordering::Relaxed);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        mask as libc::mode_t,
    ));
    if opts.core_dump {
        use nix::sys::resource::{RLIM_INFINITY, Resource, setrlimit};
        if let Err(e) = setrlimit(Resource::RLIMIT_CORE, RLIM_INFINITY, RLIM_INFINITY) {
            eprintln!("keepalived: cannot lift the core size limit: {e}");
        }
    }
}

/// keepalived's pid directory, for `use_pid_dir`, `instance` and network namespaces.
pub const PID_DIR: &str = "/run/keepalived";

/// Where the pid files go (keepalived core/main.c, include/pidfile.h).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PidPaths {
    main: PathBuf,
    vrrp: PathBuf,
    checkers: PathBuf,
    /// Directories to create first (and to remove at exit if we created them).
    dirs: Vec<PathBuf>,
}

/// The pid files for `opts` and `cfg`, as keepalived names them: `-p`, `-r`, `-c` when given;
/// otherwise `/run/keepalived.pid`, `/run/vrrp.pid`, `/run/checkers.pid`, or the same names
/// under `/run/keepalived/` with `use_pid_dir`, an `instance` or a network namespace, with
/// `_INSTANCE` before `.pid` for an `instance`. In a network namespace NAME, keepalived
/// bind-mounts `/run/keepalived/NAME` on `/run/keepalived` inside a mount namespace of its
/// own, so that its files appear as `/run/keepalived/NAME/keepalived.pid` to everyone else;
/// keepalived-rs writes them there directly, without a mount namespace.
fn pid_paths(opts: &Options, cfg: &Config, namespace: Option<&str>) -> PidPaths {
    let instance = cfg.global.instance.as_deref();
    let (dir, dirs) = match namespace {
        Some(ns) => {
            let d = Path::new(PID_DIR).join(ns);
            (d.clone(), vec![PathBuf::from(PID_DIR), d])
        }
        None if cfg.global.use_pid_dir || instance.is_some() => {
            (PathBuf::from(PID_DIR), vec![PathBuf::from(PID_DIR)])
        }
        None => (PathBuf::from("/run"), Vec::new()),
    };
    let name = |base: &str| match instance {
        Some(i) => dir.join(format!("{base}_{i}.pid")),
        None => dir.join(format!("{base}.pid")),
    };
    PidPaths {
        main: opts.pid_file.clone().unwrap_or_else(|| name("keepalived")),
        vrrp: opts.vrrp_pid_file.clone().unwrap_or_else(|| name("vrrp")),
        checkers: opts
            .checkers_pid_file
            .clone()
            .unwrap_or_else(|| name("checkers")),
        dirs,
    }
}

impl PidPaths {
    /// Creates the pid directories (mode 0755, as keepalived's `create_pid_dir`); returns
    /// those that did not exist.
    fn create_dirs(&self) -> Vec<PathBuf> {
        use std::os::unix::fs::DirBuilderExt as _;
        let mut created = Vec::new();
        for d in &self.dirs {
            if std::fs::DirBuilder::new().mode(0o755).create(d).is_ok() {
                created.push(d.clone());
            }
        }
        created
    }
}

/// Removes the pid directories [`PidPaths::create_dirs`] created, if they are empty
/// (keepalived's `remove_pid_dir`).
fn remove_dirs(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}

/// keepalived's syslog ident: `Keepalived_vrrp`, followed by `_NAMESPACE` and `_INSTANCE`
/// when set (core/main.c `make_syslog_ident`).
fn syslog_ident(base: &str, namespace: Option<&str>, instance: Option<&str>) -> String {
    let mut ident = base.to_string();
    for part in [namespace, instance].into_iter().flatten() {
        ident.push('_');
        ident.push_str(part);
    }
    ident
}

/// Runs the daemon for the configuration already read (already inside the network namespace
/// of `-s`/`net_namespace`, see [`namespace`]). Returns the process exit code.
pub fn run(opts: &Options, loaded: Loaded) -> ExitCode {
    process_settings(opts);
    let mut cfg = loaded.config;
    // `-s` overrides `net_namespace` (keepalived logs the override); the dumps show it.
    if let Some(ns) = &opts.namespace {
        cfg.global.net_namespace = Some(ns.clone());
    }
    let run_vrrp = opts.run_vrrp && (!cfg.instances.is_empty() || opts.run_all_children);
    let run_checkers =
        opts.run_checkers && (!cfg.virtual_servers.is_empty() || opts.run_all_children);
    let namespace = cfg.global.net_namespace.clone();
    let namespace = namespace.as_deref();
    // Locked before detaching (the child inherits the locks): a second start is refused on
    // the terminal it was typed on. keepalived exits 0 in that case, and so do we.
    let paths = pid_paths(opts, &cfg, namespace);
    let created_dirs = paths.create_dirs();
    let mut pid_files = Vec::new();
    let mut pid_errors = Vec::new();
    let wanted = std::iter::once(&paths.main)
        .chain(run_vrrp.then_some(&paths.vrrp))
        .chain(run_checkers.then_some(&paths.checkers));
    for path in wanted {
        match pidfile::PidFile::acquire(path) {
            Ok(f) => pid_files.push(f),
            Err(e @ pidfile::PidFileError::Running { .. }) => {
                eprintln!("keepalived: {e}");
                log::init(opts, "Keepalived");
                info!("{e}");
                drop(pid_files);
                remove_dirs(&created_dirs);
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
    let instance = cfg.global.instance.as_deref();
    log::init(opts, &syslog_ident("Keepalived_vrrp", namespace, instance));
    info!(
        "Starting Keepalived v{} (keepalived-rs {})",
        crate::cli::KEEPALIVED_VERSION,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(ns) = namespace {
        info!("Running in network namespace {ns}");
    }
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
    let dont_respawn = opts.dont_respawn;
    runtime.block_on(async move {
        // Checkers follow reloads through this channel and stop when `stop` fires; a
        // respawned engine starts with its latest value.
        let (cfg_tx, cfg_rx) = watch::channel(Arc::new(cfg.clone()));
        let (stop_tx, stop_rx) = watch::channel(false);
        let life = Lifecycle::new(dont_respawn, stop_rx.clone());
        scripts::startup(&cfg).await;
        let ipvs_settings = crate::ipvs::Settings::from_config(&cfg, dont_release_ipvs);
        // VRRP state changes, for the IPVS sync daemon (`lvs_sync_daemon IF INSTANCE`).
        let (transitions_tx, transitions_rx) = mpsc::unbounded_channel();
        // Each subsystem runs under a supervisor ([`supervise`]) that restarts it if it dies.
        let mut children = tokio::task::JoinSet::new();
        // The checkers' snapshot channel; the supervisor publishes a new one for each run.
        let (snap_tx, snap_rx) = mpsc::channel(SNAPSHOT_DEPTH);
        let (checkers_tx, checkers_rx) = watch::channel(snap_tx);
        if run_checkers {
            let (table_tx, table_rx) = watch::channel(DesiredTable::default());
            children.spawn(checkers_child(
                life.clone(),
                cfg_rx.clone(),
                table_tx,
                stop_rx.clone(),
                checkers_tx,
                snap_rx,
            ));
            children.spawn(ipvs_child(
                life.clone(),
                ipvs_settings,
                table_rx,
                transitions_rx,
            ));
        }
        // The engine's control channel; the supervisor publishes a new one for each run.
        let (ctl_tx, ctl_rx) = mpsc::channel(CONTROL_DEPTH);
        let (engine_tx, engine_rx) = watch::channel(ctl_tx);
        if run_vrrp {
            children.spawn(vrrp_child(
                life.clone(),
                cfg_rx.clone(),
                engine_tx,
                ctl_rx,
                engine_opts,
                transitions_tx,
            ));
        } else {
            info!("No VRRP instances configured; VRRP not started");
        }
        // The signal loop is a task on the worker threads, not part of this `block_on` (which
        // runs on the main thread): the worker that reads the signal off the driver then runs
        // the loop and, right after, the engine it wakes. From the main thread each of those
        // wake-ups was a cross-thread hand-off, which cost milliseconds of a SIGTERM handover
        // on a busy host (the priority-0 advert went out 3-9 ms after the signal).
        let signal_life = life.clone();
        let signal_engine = engine_rx.clone();
        let signal_task = tokio::spawn(async move {
            let targets = signals::Targets {
                engine: run_vrrp.then_some(&signal_engine),
                config: &cfg_tx,
                checkers: run_checkers.then_some(&checkers_rx),
                life: &signal_life,
            };
            if let Err(e) = signals::signal_loop(&targets, &load_opts, ignore_sigint).await {
                warn!("signal handling failed: {e}");
                signal_life.begin_shutdown();
                let engine = signal_engine.borrow().clone();
                let _ = engine.send(Control::Shutdown).await;
            }
            let _ = stop_tx.send(true);
        });
        notify_systemd::notify_status(notify_systemd::READY, "Running");
        if let Err(e) = signal_task.await {
            // Its `stop` sender is gone with it, which stops the checkers.
            error!("the signal task failed ({e}): shutting down");
            life.begin_shutdown();
            let engine = engine_rx.borrow().clone();
            let _ = engine.send(Control::Shutdown).await;
        }
        while children.join_next().await.is_some() {}
        let last = Arc::clone(&cfg_rx.borrow());
        scripts::shutdown(&last).await;
        info!("Stopped Keepalived v{}", crate::cli::KEEPALIVED_VERSION);
    });
    drop(pid_files);
    remove_dirs(&created_dirs);
    ExitCode::SUCCESS
}

/// Depth of the engine's control channel.
const CONTROL_DEPTH: usize = 8;

/// Depth of the checkers' snapshot request channel (one USR1 dump asks once).
const SNAPSHOT_DEPTH: usize = 4;

/// The VRRP engine, supervised. Each run gets a fresh control channel (published for the
/// signal loop), the running configuration, and host operations recorded in a ledger that
/// outlives it ([`host::Ledger`]): whatever a run that died left installed is removed before
/// anything else happens.
async fn vrrp_child(
    life: Lifecycle,
    cfg: watch::Receiver<Arc<Config>>,
    control: watch::Sender<mpsc::Sender<Control>>,
    first: mpsc::Receiver<Control>,
    opts: EngineOptions,
    transitions: mpsc::UnboundedSender<InstanceTransition>,
) {
    let ledger = host::Ledger::open();
    let release = ledger.clone();
    let mut first = Some(first);
    let l = life.clone();
    let start = move |_| -> Task {
        let rx = first.take().unwrap_or_else(|| {
            let (tx, rx) = mpsc::channel(CONTROL_DEPTH);
            control.send_replace(tx);
            rx
        });
        // A shutdown that began before this channel was published has missed it.
        if l.stopping() {
            return Box::pin(async {});
        }
        let cfg = (**cfg.borrow()).clone();
        let engine = Engine::new(cfg, ledger.host(), opts).report_transitions(transitions.clone());
        Box::pin(engine.run(rx))
    };
    let on_death = move || {
        let r = release.release();
        warn!(
            "Removed what the VRRP task had installed: {} virtual address(es), {} route(s), \
             {} rule(s)",
            r.vips, r.routes, r.rules
        );
    };
    let ordered = || life.stopping();
    supervise::supervise(Subsystem::Vrrp, life.clone(), start, ordered, on_death).await;
}

/// The health checkers, supervised. A run that dies leaves the IPVS table as it last
/// published it; the next run starts its checkers afresh.
/// Each run answers the USR1 dump's snapshot requests on a fresh channel, published on
/// `requests` for the signal loop (as the VRRP engine's control channel is).
async fn checkers_child(
    life: Lifecycle,
    cfg: watch::Receiver<Arc<Config>>,
    table: watch::Sender<DesiredTable>,
    stop: watch::Receiver<bool>,
    requests: watch::Sender<mpsc::Sender<SnapshotRequest>>,
    first: mpsc::Receiver<SnapshotRequest>,
) {
    let mut first = Some(first);
    let start = move |_| -> Task {
        let mut stop = stop.clone();
        let rx = first.take().unwrap_or_else(|| {
            let (tx, rx) = mpsc::channel(SNAPSHOT_DEPTH);
            requests.send_replace(tx);
            rx
        });
        Box::pin(crate::check::run_desired(
            cfg.clone(),
            table.clone(),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
            rx,
        ))
    };
    let ordered = || life.stopping();
    supervise::supervise(Subsystem::Checkers, life.clone(), start, ordered, || {}).await;
    // `table` is dropped with `start`: the IPVS task sees the end of the checkers.
}

/// The IPVS programmer ([`program_ipvs`]), supervised. It ends in order when the checkers
/// have stopped (the table channel is closed). A successor re-reads the kernel's table
/// (`Verify::Full`), and gets the last state of each VRRP instance again, since starting
/// IPVS stops any sync daemon left over. If it died and is not restarted (`-R`, or during
/// the shutdown), one last run adopts the kernel's table and then releases it as at any
/// exit.
async fn ipvs_child(
    life: Lifecycle,
    settings: crate::ipvs::Settings,
    tables: watch::Receiver<DesiredTable>,
    mut transitions: mpsc::UnboundedReceiver<InstanceTransition>,
) {
    type Route = (
        mpsc::UnboundedSender<InstanceTransition>,
        HashMap<String, InstanceTransition>,
    );
    let (first_tx, first_rx) = mpsc::unbounded_channel();
    let current: Arc<Mutex<Route>> = Arc::new(Mutex::new((first_tx, HashMap::new())));
    let forward_to = current.clone();
    let forward = tokio::spawn(async move {
        while let Some(t) = transitions.recv().await {
            let mut c = forward_to.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = c.0.send(t.clone());
            c.1.insert(t.instance.clone(), t);
        }
    });
    // A fresh channel for a successor, primed with each instance's last state.
    let next = move || {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut c = current.lock().unwrap_or_else(PoisonError::into_inner);
        for t in c.1.values() {
            let _ = tx.send(InstanceTransition {
                instance: t.instance.clone(),
                from: crate::vrrp::fsm::State::Init,
                to: t.to,
            });
        }
        c.0 = tx;
        rx
    };
    let closed = {
        let t = tables.clone();
        move || t.has_changed().is_err()
    };
    let mut first = Some(first_rx);
    let (s, t, successor) = (settings.clone(), tables.clone(), next.clone());
    let start = move |_| -> Task {
        let mut tables = t.clone();
        let rx = first.take().unwrap_or_else(|| {
            // Apply the current table at once.
            tables.mark_changed();
            successor()
        });
        Box::pin(program_ipvs(s.clone(), tables, rx))
    };
    let outcome = supervise::supervise(Subsystem::Ipvs, life.clone(), start, closed, || {}).await;
    if outcome == Outcome::GaveUp {
        info!("IPVS: reading the kernel's table again to release it at exit");
        let mut tables = tables;
        tables.mark_changed();
        program_ipvs(settings, tables, next()).await;
    }
    forward.abort();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(opts: &Options, cfg: &Config, ns: Option<&str>) -> [String; 3] {
        let p = pid_paths(opts, cfg, ns);
        [p.main, p.vrrp, p.checkers].map(|p| p.display().to_string())
    }

    #[test]
    fn pid_files_are_named_as_keepalived_names_them() {
        let opts = Options::default();
        let mut cfg = Config::default();
        assert_eq!(
            paths(&opts, &cfg, None),
            [
                DEFAULT_PID_FILE,
                DEFAULT_VRRP_PID_FILE,
                DEFAULT_CHECKERS_PID_FILE
            ]
        );
        cfg.global.use_pid_dir = true;
        assert_eq!(
            paths(&opts, &cfg, None),
            [
                "/run/keepalived/keepalived.pid",
                "/run/keepalived/vrrp.pid",
                "/run/keepalived/checkers.pid"
            ]
        );
        cfg.global.use_pid_dir = false;
        cfg.global.instance = Some("lb1".into());
        assert_eq!(
            paths(&opts, &cfg, None),
            [
                "/run/keepalived/keepalived_lb1.pid",
                "/run/keepalived/vrrp_lb1.pid",
                "/run/keepalived/checkers_lb1.pid"
            ]
        );
        let p = pid_paths(&opts, &cfg, Some("blue"));
        assert_eq!(p.main, Path::new("/run/keepalived/blue/keepalived_lb1.pid"));
        assert_eq!(
            p.dirs,
            [
                PathBuf::from("/run/keepalived"),
                PathBuf::from("/run/keepalived/blue")
            ]
        );
        // -p, -r, -c win.
        let opts = Options {
            pid_file: Some("/tmp/k.pid".into()),
            vrrp_pid_file: Some("/tmp/v.pid".into()),
            checkers_pid_file: Some("/tmp/c.pid".into()),
            ..Options::default()
        };
        assert_eq!(
            paths(&opts, &cfg, Some("blue")),
            ["/tmp/k.pid", "/tmp/v.pid", "/tmp/c.pid"]
        );
    }

    #[test]
    fn syslog_ident_carries_namespace_and_instance() {
        assert_eq!(
            syslog_ident("Keepalived_vrrp", None, None),
            "Keepalived_vrrp"
        );
        assert_eq!(
            syslog_ident("Keepalived_vrrp", Some("blue"), Some("lb1")),
            "Keepalived_vrrp_blue_lb1"
        );
        assert_eq!(
            syslog_ident("Keepalived_vrrp", None, Some("lb1")),
            "Keepalived_vrrp_lb1"
        );
    }
}
