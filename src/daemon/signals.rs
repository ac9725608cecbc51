//! The daemon's signal loop (keepalived core/main.c `signal_init`, vrrp_daemon.c
//! `vrrp_signal_init`):
//!
//! - TERM, INT (unless `--ignore-sigint`): orderly shutdown; systemd is told `STOPPING=1`;
//! - HUP: the configuration is read and judged ([`super::reload`]); a good one goes to the
//!   engine and the checkers, a bad one is logged and nothing changes; systemd sees
//!   `RELOADING=1` then `READY=1` either way;
//! - USR1 / USR2 / STATS_CLEAR (SIGRTMAX-1) / JSON (SIGRTMIN+2): the dumps of
//!   [`super::dump`], from a snapshot the VRRP engine hands over; with the checkers running
//!   USR1 also writes `keepalived_check.data` from the checkers' snapshot and the kernel's
//!   IPVS counters.
//!
//! This module must not change the running configuration itself, nor write a file other
//! than through [`super::dump::write_safely`].

use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use super::dump::{self, Kind};
use super::notify_systemd::{self as sd, READY, RELOADING, STOPPING};
use super::reload::{self, Verdict};
use super::supervise::Lifecycle;
use crate::check::engine::SnapshotRequest;
use crate::check::snapshot::HealthSnapshot;
use crate::config::LoadOptions;
use crate::config::model::Config;
use crate::vrrp::engine::Control;
use crate::vrrp::snapshot::InstanceSnapshot;

/// How long a dump waits for the engine's snapshot.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);

/// How long the check dump waits for each netlink answer when it reads the IPVS counters.
const COUNTERS_WAIT: Duration = Duration::from_secs(2);

/// What the signal loop drives.
pub struct Targets<'a> {
    /// The VRRP engine's control channel, when VRRP runs (the supervisor replaces it each
    /// time it starts the engine again).
    pub engine: Option<&'a watch::Receiver<mpsc::Sender<Control>>>,
    /// The running configuration: read by the dumps, followed by the checkers.
    pub config: &'a watch::Sender<Arc<Config>>,
    /// The checkers' snapshot channel, when they run (replaced at each restart).
    pub checkers: Option<&'a watch::Receiver<mpsc::Sender<SnapshotRequest>>>,
    /// Marks the shutdown as ordered; asks for one after a death with `-R`.
    pub life: &'a Lifecycle,
}

impl Targets<'_> {
    /// The running engine's control channel.
    fn engine(&self) -> Option<mpsc::Sender<Control>> {
        self.engine.map(|e| e.borrow().clone())
    }
}

/// Waits for signals until TERM/INT (or a shutdown asked for by a supervisor, see
/// [`super::supervise`]); returns after [`Control::Shutdown`] has been sent.
pub async fn signal_loop(
    t: &Targets<'_>,
    load: &LoadOptions,
    ignore_sigint: bool,
) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let rt = |name| {
        let n = crate::cli::signum(name).unwrap_or(0);
        signal(SignalKind::from_raw(n))
    };
    let mut stats_clear = rt("STATS_CLEAR")?;
    let mut json = rt("JSON")?;
    loop {
        tokio::select! {
            // Shutdown is sent before anything is logged: the priority-0 advert waits for it.
            _ = term.recv() => break,
            () = t.life.shutdown_requested() => break,
            _ = int.recv() => {
                if !ignore_sigint {
                    break;
                }
            }
            _ = hup.recv() => on_reload(t, load).await,
            _ = usr1.recv() => {
                let insts = snapshot(t, false).await;
                let cfg = t.config.borrow().clone();
                if t.engine.is_some() {
                    write(&dump::path_for(&cfg, Kind::Data), &dump::data(&cfg, &insts));
                }
                if let Some(checkers) = t.checkers {
                    check_dump(&cfg, checkers).await;
                }
            }
            _ = usr2.recv() => stats(t, false).await,
            _ = stats_clear.recv() => stats(t, true).await,
            _ = json.recv() => {
                let insts = snapshot(t, false).await;
                // keepalived writes no JSON file without VRRP instances.
                if !insts.is_empty() {
                    let cfg = t.config.borrow().clone();
                    write(&dump::path_for(&cfg, Kind::Json), &dump::json(&cfg, &insts));
                }
            }
        }
    }
    t.life.begin_shutdown();
    if let Some(engine) = t.engine() {
        let _ = engine.send(Control::Shutdown).await;
    }
    sd::notify_status(STOPPING, "Stopping");
    info!("Stopping");
    Ok(())
}

async fn on_reload(t: &Targets<'_>, load: &LoadOptions) {
    info!("Reloading ...");
    sd::notify_status(RELOADING, "Reloading");
    match reload::read(load).await {
        Verdict::Apply(mut cfg) => {
            // keepalived cannot change these at a reload ("please restart"): they name the
            // namespace the daemon runs in and its pid files.
            {
                let running = t.config.borrow();
                for (name, old, new) in [
                    (
                        "network namespace",
                        &running.global.net_namespace,
                        &mut cfg.global.net_namespace,
                    ),
                    (
                        "instance",
                        &running.global.instance,
                        &mut cfg.global.instance,
                    ),
                ] {
                    if old != new {
                        info!("Cannot change {name} at a reload - please restart keepalived");
                        new.clone_from(old);
                    }
                }
            }
            t.config.send_replace(Arc::new((*cfg).clone()));
            if let Some(engine) = t.engine() {
                let _ = engine.send(Control::Reload(cfg)).await;
            }
            sd::notify_status(READY, "Running");
        }
        Verdict::Refuse(why) => {
            warn!("New config failed validation ({why}): keeping the running configuration");
            sd::notify_status(READY, "Running; last reload refused");
        }
    }
}

async fn stats(t: &Targets<'_>, clear: bool) {
    if t.engine.is_none() {
        return;
    }
    let insts = snapshot(t, clear).await;
    let cfg = t.config.borrow().clone();
    write(&dump::path_for(&cfg, Kind::Stats), &dump::stats(&insts));
}

/// The engine's instances (none without an engine, or if it does not answer in time).
async fn snapshot(t: &Targets<'_>, clear: bool) -> Vec<InstanceSnapshot> {
    let Some(engine) = t.engine() else {
        return Vec::new();
    };
    let (reply, rx) = oneshot::channel();
    let asked = async {
        engine.send(Control::Snapshot { clear, reply }).await.ok()?;
        rx.await.ok()
    };
    match tokio::time::timeout(SNAPSHOT_WAIT, asked).await {
        Ok(Some(v)) => v,
        _ => {
            warn!("VRRP state not available for the dump");
            Vec::new()
        }
    }
}

/// `keepalived_check.data`: the checkers' live state and the kernel's IPVS counters.
async fn check_dump(cfg: &Config, checkers: &watch::Receiver<mpsc::Sender<SnapshotRequest>>) {
    let tx = checkers.borrow().clone();
    let (reply, rx) = oneshot::channel();
    let asked = async {
        tx.send(reply).await.ok()?;
        rx.await.ok()
    };
    let health: Option<HealthSnapshot> = match tokio::time::timeout(SNAPSHOT_WAIT, asked).await {
        Ok(Some(h)) => Some(h),
        _ => {
            warn!("checker state not available for the dump");
            None
        }
    };
    // On a socket of its own, on the blocking pool; each netlink answer is waited for at
    // most COUNTERS_WAIT, and the whole read at most SNAPSHOT_WAIT here.
    let read = tokio::task::spawn_blocking(|| crate::ipvs::read_counters(COUNTERS_WAIT));
    let counters = match tokio::time::timeout(SNAPSHOT_WAIT, read).await {
        Ok(Ok(Ok(kt))) => Ok(kt),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(format!("the read failed ({e})")),
        Err(_) => Err(format!("no answer within {SNAPSHOT_WAIT:?}")),
    };
    let text = dump::check_data(
        cfg,
        health.as_ref(),
        counters.as_ref().map_err(String::as_str),
    );
    let cfg_for_path = health.as_ref().map_or(cfg, |h| &h.config);
    write(&dump::path_for(cfg_for_path, Kind::CheckData), &text);
}

fn write(path: &std::path::Path, text: &str) {
    if let Err(e) = dump::write_safely(path, text.as_bytes()) {
        info!("Can't open dump file {} ({e})", path.display());
    }
}
