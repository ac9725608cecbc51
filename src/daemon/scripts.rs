//! `startup_script` and `shutdown_script` (global_defs), run as keepalived's parent runs
//! them (core/main.c): the startup script before any subsystem starts, the shutdown script
//! after they have all stopped; each is waited for, at most its `*_script_timeout` seconds
//! (default 10), after which its whole process group is killed. A failing script is logged
//! and does not stop the daemon.
//!
//! Scripts are checked and run as notify scripts are (script user, `enable_script_security`):
//! see [`crate::vrrp::notify`].

use std::time::Duration;

use tracing::info;

use crate::config::model::{Command, Config};
use crate::vrrp::notify::{ScriptEnv, run_check};

/// Runs `startup_script`, if any, and waits for it.
pub async fn startup(cfg: &Config) {
    let g = &cfg.global;
    run(
        cfg,
        g.startup_script.as_ref(),
        "startup",
        g.startup_script_timeout,
    )
    .await;
}

/// Runs `shutdown_script`, if any, and waits for it.
pub async fn shutdown(cfg: &Config) {
    let g = &cfg.global;
    run(
        cfg,
        g.shutdown_script.as_ref(),
        "shutdown",
        g.shutdown_script_timeout,
    )
    .await;
}

async fn run(cfg: &Config, cmd: Option<&Command>, kind: &str, timeout_secs: u32) {
    let Some(cmd) = cmd else { return };
    let env = ScriptEnv::new(cfg);
    let Some(script) = env.prepare(cmd, kind) else {
        return;
    };
    info!("Running {kind} script {}", script.display());
    let timeout = Duration::from_secs(u64::from(timeout_secs.max(1)));
    if !run_check(&env, &script, timeout).await {
        info!("{kind} script {} failed", script.display());
    }
}
