//! MISC_CHECK scripts: run in their own process group, killed on timeout (SIGTERM, then
//! SIGKILL 2 s later, as check_misc.c), always reaped, with no descriptor of ours inherited
//! (the standard streams are /dev/null; everything else is close-on-exec).

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::time::timeout;

use crate::check::proto::misc::ScriptEnd;
pub use crate::vrrp::notify::{Script, ScriptEnv};

/// Why a script could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("empty command")]
    Empty,
    #[error("disabled (script security or unknown user)")]
    Disabled,
    #[error("cannot run {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("cannot wait for {0}: {1}")]
    Wait(String, std::io::Error),
}

/// Kills the script's whole process group if the run is abandoned (the probe task is
/// cancelled), so no grandchild outlives it.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// How long a script gets after SIGTERM before SIGKILL (check_misc.c).
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// A MISC_CHECK script ready to run: resolved and checked once at start-up by
/// [`ScriptEnv::prepare`] (the VRRP notify scripts' rules, which are keepalived's).
#[derive(Debug)]
pub struct Prepared {
    pub env: ScriptEnv,
    pub script: Script,
}

/// Run `p` for at most `limit`, with the user and group it was prepared with.
pub async fn run(p: &Prepared, limit: Duration) -> Result<ScriptEnd, ScriptError> {
    let prog = p.script.args.first().ok_or(ScriptError::Empty)?;
    let mut cmd = p.env.command(&p.script, &[]);
    cmd.kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| ScriptError::Spawn(prog.clone(), e))?;
    let mut guard = GroupGuard(child.id().map(|p| p as i32));
    let status = match timeout(limit, child.wait()).await {
        Ok(r) => r.map_err(|e| ScriptError::Wait(prog.clone(), e))?,
        Err(_) => {
            let pgid = guard.0.map(Pid::from_raw);
            if let Some(p) = pgid {
                let _ = killpg(p, Signal::SIGTERM);
            }
            let status = match timeout(TERM_GRACE, child.wait()).await {
                Ok(r) => r.map_err(|e| ScriptError::Wait(prog.clone(), e))?,
                Err(_) => {
                    if let Some(p) = pgid {
                        let _ = killpg(p, Signal::SIGKILL);
                    }
                    child
                        .wait()
                        .await
                        .map_err(|e| ScriptError::Wait(prog.clone(), e))?
                }
            };
            // Whatever the script started dies with it.
            if let Some(p) = guard.0.take() {
                let _ = killpg(Pid::from_raw(p), Signal::SIGKILL);
            }
            return Ok(ScriptEnd::Signaled {
                signal: status.signal().unwrap_or(libc::SIGKILL),
                timed_out: true,
            });
        }
    };
    guard.0 = None;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => ScriptEnd::Exited(c),
        (None, Some(s)) => ScriptEnd::Signaled {
            signal: s,
            timed_out: false,
        },
        (None, None) => ScriptEnd::Exited(-1),
    })
}
