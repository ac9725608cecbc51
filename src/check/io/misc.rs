//! MISC_CHECK scripts: run in their own process group, killed on timeout (SIGTERM, then
//! SIGKILL 2 s later, as check_misc.c), always reaped, with no descriptor of ours inherited
//! (the standard streams are /dev/null; everything else is close-on-exec).

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Group, Pid, User};
use tokio::process::Command;
use tokio::time::timeout;

use crate::check::proto::misc::ScriptEnd;
use crate::config::model::Command as ScriptCommand;

/// Why a script could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("empty command")]
    Empty,
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("unknown group {0}")]
    UnknownGroup(String),
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

fn resolve_user(user: &(String, Option<String>)) -> Result<(u32, u32), ScriptError> {
    let u = User::from_name(&user.0)
        .ok()
        .flatten()
        .ok_or_else(|| ScriptError::UnknownUser(user.0.clone()))?;
    let gid = match &user.1 {
        Some(g) => Group::from_name(g)
            .ok()
            .flatten()
            .ok_or_else(|| ScriptError::UnknownGroup(g.clone()))?
            .gid
            .as_raw(),
        None => u.gid.as_raw(),
    };
    Ok((u.uid.as_raw(), gid))
}

/// Run `command` (as `user`, if given) for at most `limit`.
pub async fn run(
    command: &ScriptCommand,
    limit: Duration,
    user: Option<&(String, Option<String>)>,
) -> Result<ScriptEnd, ScriptError> {
    let (prog, args) = command.args.split_first().ok_or(ScriptError::Empty)?;
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let cmd_user = command.user.clone().map(|u| (u, command.group.clone()));
    if let Some(u) = user.cloned().or(cmd_user) {
        let (uid, gid) = resolve_user(&u)?;
        cmd.uid(uid).gid(gid);
    }
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
