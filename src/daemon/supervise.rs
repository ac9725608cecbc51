//! Supervision of the daemon's subsystems: keepalived's parent process respawning a child
//! that died (core/main.c, vrrp/vrrp_daemon.c `vrrp_respawn_thread`, check/check_daemon.c
//! `check_respawn_thread`), for the tasks keepalived-rs runs instead of child processes.
//!
//! keepalived-rs is one process: the VRRP engine, the health checkers and the IPVS
//! programmer are tasks of one tokio runtime. A task that panics (or returns without having
//! been asked to) is a dead child:
//!
//! - the VRRP engine's VIPs, routes and rules are removed at once (they are recorded in the
//!   [`super::host::Ledger`], outside the engine), so that no VIP stays on an interface with
//!   nobody sending adverts for it; this happens even with `-V`, which is about an ordered
//!   exit;
//! - the death is logged as keepalived logs it (`VRRP child process(PID) died: Respawning`;
//!   our PID is the daemon's own), with the panic message;
//! - the task is started again with the running configuration (the last one a reload
//!   accepted) after keepalived's back-off ([`Backoff`]: at once, then 1, 2, 4 ... 60 s while
//!   it keeps dying within a minute of its start);
//! - with `-R` (`--dont-respawn`) nothing is restarted: the daemon shuts down as on SIGTERM
//!   (`VRRP child process(PID) died: Exiting`), releasing the IPVS table unless `-I`.
//!
//! A dead health checker task leaves the IPVS table as it last was; its successor starts
//! its checkers afresh. A dead IPVS task is followed by one that re-reads the kernel's table
//! (a full verify), adopts what is already right and applies the rest, and gets the sync
//! daemon roles the VRRP instances last asked for.
//!
//! This module must not know what a subsystem does: it starts, watches and restarts tasks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{error, info};

/// One run of a subsystem's task.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The supervised subsystems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsystem {
    Vrrp,
    Checkers,
    Ipvs,
}

impl Subsystem {
    /// The name keepalived's messages use (`Healthcheck` is its checker child).
    pub fn name(self) -> &'static str {
        match self {
            Subsystem::Vrrp => "VRRP",
            Subsystem::Checkers => "Healthcheck",
            Subsystem::Ipvs => "IPVS",
        }
    }
}

/// A run at least this long resets the back-off (keepalived: a minute).
pub const STABLE_RUN: Duration = Duration::from_secs(60);
/// The longest delay before a restart (keepalived: a minute).
pub const MAX_DELAY_SECS: u64 = 60;

/// keepalived's respawn rate limit (lib/scheduler.c `calc_restart_delay`): a task that ran
/// for a minute or more is restarted at once, and so is the first one to die; each further
/// death within a minute of its start doubles the delay: 1, 2, 4, 8, 16, 32, then 60 s.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next_secs: u64,
}

impl Backoff {
    /// The delay before restarting a task that died after running `ran_for`.
    pub fn after_death(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= STABLE_RUN {
            self.next_secs = 0;
            return Duration::ZERO;
        }
        let delay = self.next_secs;
        self.next_secs = match delay {
            0 => 1,
            d if d > MAX_DELAY_SECS / 2 => MAX_DELAY_SECS,
            d => d * 2,
        };
        Duration::from_secs(delay)
    }
}

/// What the supervisors share with the signal loop.
#[derive(Clone)]
pub struct Lifecycle {
    /// Set before an ordered shutdown is requested from any task: a task that ends after
    /// this was asked to.
    stopping: Arc<AtomicBool>,
    /// Wakes the signal loop for a shutdown the daemon decided itself (`-R`).
    shutdown: Arc<Notify>,
    /// True once the signal loop has finished (ends a back-off wait).
    stopped: watch::Receiver<bool>,
    dont_respawn: bool,
    #[cfg(feature = "fault-injection")]
    faults: Arc<super::fault::Faults>,
}

impl Lifecycle {
    pub fn new(dont_respawn: bool, stopped: watch::Receiver<bool>) -> Lifecycle {
        Lifecycle {
            stopping: Arc::new(AtomicBool::new(false)),
            shutdown: Arc::new(Notify::new()),
            stopped,
            dont_respawn,
            #[cfg(feature = "fault-injection")]
            faults: Arc::new(super::fault::Faults::from_env()),
        }
    }

    /// Marks the shutdown as ordered; call before asking any task to stop.
    pub fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Resolves when a supervisor asks the daemon to shut down (`-R` after a death).
    pub async fn shutdown_requested(&self) {
        self.shutdown.notified().await;
    }

    fn request_shutdown(&self) {
        self.begin_shutdown();
        self.shutdown.notify_one();
    }

    #[cfg(feature = "fault-injection")]
    fn inject(&self, sub: Subsystem, generation: u32, task: Task) -> Task {
        let after = self.faults.panic_after(sub, generation);
        Box::pin(super::fault::wrap(sub, after, task))
    }

    #[cfg(not(feature = "fault-injection"))]
    fn inject(&self, _: Subsystem, _: u32, task: Task) -> Task {
        task
    }
}

/// The text of a panic payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// How a supervised subsystem ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its task returned after having been asked to.
    Ordered,
    /// Its last task died and was not restarted (`-R`, or the daemon is stopping).
    GaveUp,
}

/// Runs `sub` until it ends: `start(n)` builds run number `n` (from 0); `ordered()` says
/// whether a task that returned had been asked to; `on_death()` cleans up after a task that
/// died, before anything else happens.
pub async fn supervise(
    sub: Subsystem,
    life: Lifecycle,
    mut start: impl FnMut(u32) -> Task,
    ordered: impl Fn() -> bool,
    mut on_death: impl FnMut(),
) -> Outcome {
    let name = sub.name();
    let pid = std::process::id();
    let mut backoff = Backoff::default();
    let mut stopped = life.stopped.clone();
    let mut generation = 0u32;
    loop {
        let started = Instant::now();
        let task = life.inject(sub, generation, start(generation));
        let why = match tokio::spawn(task).await {
            Ok(()) if ordered() => return Outcome::Ordered,
            Ok(()) => "ended without being asked to".to_string(),
            Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic())),
            Err(e) => e.to_string(),
        };
        on_death();
        if life.stopping() {
            error!("{name} child process({pid}) died during shutdown: {why}");
            return Outcome::GaveUp;
        }
        if life.dont_respawn {
            error!("{name} child process({pid}) died: Exiting");
            error!("  the {name} task {why}");
            life.request_shutdown();
            return Outcome::GaveUp;
        }
        error!("{name} child process({pid}) died: Respawning");
        error!("  the {name} task {why}");
        let delay = backoff.after_death(started.elapsed());
        if !delay.is_zero() {
            info!(
                "Restart of {name} process delayed {} seconds to limit respawn rate",
                delay.as_secs()
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stopped.wait_for(|s| *s) => return Outcome::GaveUp,
            }
        }
        if life.stopping() {
            return Outcome::GaveUp;
        }
        generation = generation.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_keepalived_calc_restart_delay() {
        let mut b = Backoff::default();
        let quick = Duration::from_secs(5);
        let delays: Vec<u64> = (0..10).map(|_| b.after_death(quick).as_secs()).collect();
        assert_eq!(delays, [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // A minute of good running resets it.
        assert_eq!(b.after_death(STABLE_RUN), Duration::ZERO);
        assert_eq!(b.after_death(quick), Duration::ZERO);
        assert_eq!(b.after_death(quick), Duration::from_secs(1));
    }

    fn life(dont_respawn: bool) -> (Lifecycle, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        (Lifecycle::new(dont_respawn, rx), tx)
    }

    #[tokio::test]
    async fn a_panicking_task_is_cleaned_up_and_restarted() {
        let (life, _stopped) = life(false);
        let deaths = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let d = deaths.clone();
        let l = life.clone();
        let outcome = supervise(
            Subsystem::Vrrp,
            life.clone(),
            move |n| {
                let l = l.clone();
                Box::pin(async move {
                    if n == 0 {
                        panic!("first run fails");
                    }
                    // The second run is the last: the daemon is stopping.
                    l.begin_shutdown();
                })
            },
            || life.stopping(),
            move || {
                d.fetch_add(1, Ordering::SeqCst);
            },
        )
        .await;
        assert_eq!(outcome, Outcome::Ordered);
        assert_eq!(deaths.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn dont_respawn_asks_for_a_shutdown() {
        let (life, _stopped) = life(true);
        let l = life.clone();
        let outcome = supervise(
            Subsystem::Checkers,
            life.clone(),
            |_| Box::pin(async {}),
            || false,
            || {},
        )
        .await;
        assert_eq!(outcome, Outcome::GaveUp);
        assert!(l.stopping());
        tokio::time::timeout(Duration::from_secs(1), l.shutdown_requested())
            .await
            .expect("shutdown requested");
    }
}
