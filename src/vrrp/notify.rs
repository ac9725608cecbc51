//! Notify scripts, `vrrp_script` runs and notify FIFOs, as keepalived runs them
//! (lib/notify.c, vrrp/vrrp_notify.c).
//!
//! - Every script is spawned in its own process group with the user and group keepalived would
//!   pick: the script's own `user [group]`, else `script_user`, else `keepalived_script` when
//!   that user exists, else ours. With `enable_script_security`, a script that would run as
//!   root (or is set-uid/gid root) is disabled when any part of its path is writable by a
//!   non-root user ("Unsafe permissions found for script ... - disabling"); without it, the
//!   same condition is only logged.
//! - `notify` (the generic script) gets `INSTANCE|GROUP NAME STATE PRIORITY` appended
//!   (priority 0 for groups); the FIFOs get `INSTANCE "NAME" STATE PRIORITY` lines.
//!
//! This module must not block the VRRP engine: [`spawn_notify`] returns at once and the
//! child is reaped by a detached task; only the STOP notifications at shutdown are awaited,
//! for at most a second as keepalived does.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command as Process;
use tokio::task::JoinHandle;

use super::fsm::State;
use crate::config::model::{Command, Config, Notify};

/// keepalived's default script user, used when it exists.
const DEFAULT_SCRIPT_USER: &str = "keepalived_script";
/// How long the STOP notifications may run at shutdown (keepalived: `TIMER_HZ`).
pub const STOP_SCRIPT_WAIT: Duration = Duration::from_secs(1);

/// A script ready to run: its words, the credentials it runs with, and how to start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub args: Vec<String>,
    pub uid: u32,
    pub gid: u32,
    /// The first word is an executable file (run directly, as keepalived's `execve`);
    /// otherwise the words go through `/bin/sh -c`, as keepalived's `system()`.
    pub direct: bool,
}

impl Script {
    /// The command line as keepalived logs it.
    pub fn display(&self) -> String {
        self.args.join(" ")
    }
}

/// Who runs scripts, and whether script security is enforced.
#[derive(Debug, Clone)]
pub struct ScriptEnv {
    pub security: bool,
    /// `None`: the default user could not be set (keepalived then ignores scripts without
    /// their own user).
    pub default: Option<(u32, u32)>,
    our: (u32, u32),
}

/// The uid and gid of `name` (its primary group, or `group`); `None` if either is unknown.
pub(crate) fn lookup_user(name: &str, group: Option<&str>) -> Option<(u32, u32)> {
    let user = nix::unistd::User::from_name(name).ok().flatten()?;
    let gid = match group {
        Some(g) => nix::unistd::Group::from_name(g)
            .ok()
            .flatten()?
            .gid
            .as_raw(),
        None => user.gid.as_raw(),
    };
    Some((user.uid.as_raw(), gid))
}

impl ScriptEnv {
    /// keepalived `get_default_script_user` / `set_default_script_user`.
    pub fn new(cfg: &Config) -> ScriptEnv {
        let our = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        let security = cfg.global.enable_script_security;
        let default = match &cfg.global.script_user {
            Some((user, group)) => {
                let r = lookup_user(user, group.as_deref());
                if r.is_none() {
                    tracing::warn!("Unable to set default user {user} for scripts");
                }
                r
            }
            None => match lookup_user(DEFAULT_SCRIPT_USER, None) {
                Some(r) => Some(r),
                None if security => {
                    tracing::warn!("Unable to set default user {DEFAULT_SCRIPT_USER} for script");
                    None
                }
                None => Some(our),
            },
        };
        ScriptEnv {
            security,
            default,
            our,
        }
    }

    /// Resolves and checks `cmd` (keepalived `notify_script_init` + `check_script_secure`);
    /// `None` (with a log line) when it must not run. `kind` names it in logs.
    pub fn prepare(&self, cmd: &Command, kind: &str) -> Option<Script> {
        let first = cmd.args.first()?;
        let (uid, gid) = match &cmd.user {
            Some(user) => match lookup_user(user, cmd.group.as_deref()) {
                Some(ids) => ids,
                None => {
                    tracing::warn!("Invalid user/group for {kind} script {first} - ignoring");
                    return None;
                }
            },
            None => match self.default {
                Some(ids) => ids,
                None => {
                    tracing::warn!(
                        "Failed to set default user for {kind} script {first} - ignoring"
                    );
                    return None;
                }
            },
        };
        // lib/notify.c `check_script_secure`: a `</file` redirection test goes to the shell
        // as it is (nothing to check); a bare name must be found in PATH.
        let redirect = first
            .strip_prefix('<')
            .is_some_and(|r| r.trim_start_matches([' ', '\t']).starts_with('/'));
        let path = if redirect { None } else { resolve(first) };
        if path.is_none() && !redirect {
            tracing::warn!("Cannot find script {first} in path - disabling");
            return None;
        }
        let mut direct = false;
        if let Some(path) = &path {
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_file() => {
                    direct = is_executable_by(&meta, uid, gid);
                    if !direct {
                        tracing::warn!(
                            "WARNING - script '{}' is not executable for uid:gid {uid}:{gid} - disabling.",
                            path.display()
                        );
                        return None;
                    }
                    let setid_root = (meta.uid() == 0 && meta.mode() & 0o4100 == 0o4100)
                        || (meta.gid() == 0 && meta.mode() & 0o2010 == 0o2010);
                    if (uid == 0 || gid == 0 || setid_root) && path_is_secure(path).is_err() {
                        tracing::warn!(
                            "Unsafe permissions found for script '{}'{}.",
                            path.display(),
                            if self.security { " - disabling" } else { "" }
                        );
                        if self.security {
                            return None;
                        }
                    }
                }
                _ => {
                    tracing::warn!("Unable to access script `{first}` - disabling");
                    return None;
                }
            }
        }
        let mut args = cmd.args.clone();
        if direct && let Some(p) = &path {
            args[0] = p.display().to_string();
        }
        Some(Script {
            args,
            uid,
            gid,
            direct,
        })
    }

    /// The child process for `script` (own process group, null stdio, its credentials).
    pub fn command(&self, script: &Script, extra: &[String]) -> Process {
        let mut p = if script.direct {
            let mut p = Process::new(&script.args[0]);
            p.args(&script.args[1..]).args(extra);
            p
        } else {
            let mut line = script.args.clone();
            line.extend(extra.iter().cloned());
            let mut p = Process::new("/bin/sh");
            p.arg("-c").arg(line.join(" "));
            p
        };
        p.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(false);
        if script.gid != self.our.1 {
            p.gid(script.gid);
        }
        if script.uid != self.our.0 {
            p.uid(script.uid);
        }
        p
    }
}

/// A bare name is searched in `PATH` (keepalived `find_path`); `None` when it is not there
/// (the script is then disabled, as keepalived does, unless it is a `</file` test).
fn resolve(first: &str) -> Option<PathBuf> {
    if first.contains('/') {
        return Some(PathBuf::from(first));
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(first))
        .find(|p| p.is_file())
}

fn is_executable_by(meta: &std::fs::Metadata, uid: u32, gid: u32) -> bool {
    let mode = meta.permissions().mode();
    if uid == 0 {
        return mode & 0o111 != 0;
    }
    if meta.uid() == uid {
        mode & 0o100 != 0
    } else if meta.gid() == gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// keepalived `check_security`: every component of the path is owned by root, and neither a
/// file nor a directory without the sticky bit is group-writable (non-root group) or
/// world-writable. `Err` names the offending component.
fn path_is_secure(path: &Path) -> Result<(), PathBuf> {
    let mut cur = PathBuf::new();
    for comp in path.components() {
        cur.push(comp);
        let Ok(meta) = std::fs::symlink_metadata(&cur) else {
            return Err(cur);
        };
        let mode = meta.mode();
        let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
        let writable = (meta.gid() != 0 && mode & 0o020 != 0) || mode & 0o002 != 0;
        if meta.uid() != 0 || (!sticky_dir && !meta.file_type().is_symlink() && writable) {
            return Err(cur);
        }
    }
    Ok(())
}

/// Spawns `script` with `extra` arguments; the child is reaped in the background. Returns the
/// reaper's handle (awaited only for STOP notifications at shutdown).
pub fn spawn_notify(env: &ScriptEnv, script: &Script, extra: &[String]) -> Option<JoinHandle<()>> {
    match env.command(script, extra).spawn() {
        Ok(mut child) => Some(tokio::spawn(async move {
            let _ = child.wait().await;
        })),
        Err(e) => {
            tracing::warn!("Error exec-ing command '{}': {e}", script.display());
            None
        }
    }
}

/// Runs a `vrrp_script` once: `true` when it exited 0 within `timeout`. A script that times
/// out is killed (its whole process group) and counts as a failure.
pub async fn run_check(env: &ScriptEnv, script: &Script, timeout: Duration) -> bool {
    let mut child = match env.command(script, &[]).spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("Error exec-ing command '{}': {e}", script.display());
            return false;
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => status.success(),
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::info!("Script `{}` timed out", script.display());
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                // The script leads its own process group: kill everything it started.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait().await;
            false
        }
    }
}

/// The notify scripts of one instance or group, resolved once.
#[derive(Debug, Clone, Default)]
pub struct NotifyScripts {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    pub deleted: Option<Script>,
    pub generic: Option<Script>,
    pub master_rx_lower_pri: Option<Script>,
}

impl NotifyScripts {
    pub fn prepare(env: &ScriptEnv, n: &Notify) -> NotifyScripts {
        let p = |c: &Option<Command>, kind| c.as_ref().and_then(|c| env.prepare(c, kind));
        NotifyScripts {
            master: p(&n.master, "notify_master"),
            backup: p(&n.backup, "notify_backup"),
            fault: p(&n.fault, "notify_fault"),
            stop: p(&n.stop, "notify_stop"),
            deleted: p(&n.deleted, "notify_deleted"),
            generic: p(&n.generic, "notify"),
            master_rx_lower_pri: p(&n.master_rx_lower_pri, "notify_master_rx_lower_pri"),
        }
    }

    fn for_state(&self, state: State) -> Option<&Script> {
        match state {
            State::Master => self.master.as_ref(),
            State::Backup => self.backup.as_ref(),
            State::Fault => self.fault.as_ref(),
            State::Stop => self.stop.as_ref(),
            State::Init => None,
        }
    }
}

/// A notify FIFO (`notify_fifo`, `vrrp_notify_fifo`), with the script that reads it.
#[derive(Debug)]
struct Fifo {
    path: PathBuf,
    file: std::fs::File,
    created: bool,
    reader: Option<tokio::process::Child>,
}

/// Whether a notification is about an instance or a sync group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Instance,
    Group,
}

impl Subject {
    fn word(self) -> &'static str {
        match self {
            Subject::Instance => "INSTANCE",
            Subject::Group => "GROUP",
        }
    }
}

/// Sends notifications: scripts and FIFO lines.
#[derive(Debug)]
pub struct Notifier {
    pub env: ScriptEnv,
    fifos: Vec<Fifo>,
    /// STOP notifications still running (awaited at shutdown).
    stopping: Vec<JoinHandle<()>>,
}

impl Notifier {
    /// Opens the FIFOs of `cfg` (creating them if needed) and starts their scripts.
    pub fn new(cfg: &Config) -> Notifier {
        let env = ScriptEnv::new(cfg);
        let mut fifos = Vec::new();
        let g = &cfg.global;
        for (kind, fifo) in [("", &g.notify_fifo), ("vrrp ", &g.vrrp_notify_fifo)] {
            let Some((name, script)) = fifo else { continue };
            if let Some(f) = open_fifo(&env, kind, name, script.as_ref()) {
                fifos.push(f);
            }
        }
        Notifier {
            env,
            fifos,
            stopping: Vec::new(),
        }
    }

    /// keepalived `send_instance_notifies` / `send_group_notifies` for `state`.
    pub fn state(
        &mut self,
        subject: Subject,
        name: &str,
        state: State,
        priority: u8,
        scripts: &NotifyScripts,
    ) {
        let mut handles = Vec::new();
        if let Some(s) = scripts.for_state(state) {
            handles.extend(spawn_notify(&self.env, s, &[]));
        }
        if let Some(s) = &scripts.generic {
            let extra = [
                subject.word().to_string(),
                name.to_string(),
                state.to_string(),
                priority.to_string(),
            ];
            handles.extend(spawn_notify(&self.env, s, &extra));
        }
        if state == State::Stop {
            self.stopping.extend(handles);
        }
        self.fifo_line(subject, name, &state.to_string(), priority);
    }

    /// The FIFO line alone (keepalived `notify_instance_fifo` / `notify_group_fifo`, for
    /// `fifo_write_vrrp_states_on_reload`).
    pub fn fifo_state(&mut self, subject: Subject, name: &str, state: State, priority: u8) {
        self.fifo_line(subject, name, &state.to_string(), priority);
    }

    /// A FIFO-only event (`MASTER_RX_LOWER_PRI`, `MASTER_PRIORITY`, `BACKUP_PRIORITY`),
    /// with its script when there is one.
    pub fn event(&mut self, name: &str, event: &str, priority: u8, script: Option<&Script>) {
        if let Some(s) = script {
            spawn_notify(&self.env, s, &[]);
        }
        self.fifo_line(Subject::Instance, name, event, priority);
    }

    fn fifo_line(&mut self, subject: Subject, name: &str, state: &str, priority: u8) {
        if self.fifos.is_empty() {
            return;
        }
        let line = format!("{} \"{name}\" {state} {priority}\n", subject.word());
        for f in &mut self.fifos {
            // Non-blocking: a reader that does not keep up loses lines, as with keepalived.
            let _ = f.file.write_all(line.as_bytes());
        }
    }

    /// Waits (at most [`STOP_SCRIPT_WAIT`]) for the STOP notifications, then stops the FIFO
    /// readers and removes the FIFOs this process created.
    pub async fn shutdown(&mut self) {
        let stopping = std::mem::take(&mut self.stopping);
        let _ = tokio::time::timeout(STOP_SCRIPT_WAIT, async {
            for h in stopping {
                let _ = h.await;
            }
        })
        .await;
        for mut f in self.fifos.drain(..) {
            if let Some(child) = &mut f.reader {
                if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
                let _ = tokio::time::timeout(Duration::from_millis(500), child.wait()).await;
            }
            if f.created {
                let _ = std::fs::remove_file(&f.path);
            }
        }
    }
}

/// keepalived `fifo_open`: create the FIFO (0644) unless it exists, start its script with the
/// FIFO name as argument, then open it read-write and non-blocking.
fn open_fifo(env: &ScriptEnv, kind: &str, name: &str, script: Option<&Command>) -> Option<Fifo> {
    let path = PathBuf::from(name);
    let created = match nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644))
    {
        Ok(()) => true,
        Err(nix::errno::Errno::EEXIST) => false,
        Err(e) => {
            tracing::warn!("Unable to create {kind}notify fifo {name}: {e}");
            return None;
        }
    };
    let reader = script
        .and_then(|c| env.prepare(c, "notify_fifo"))
        .and_then(|s| env.command(&s, &[name.to_string()]).spawn().ok());
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path);
    match file {
        Ok(file) => Some(Fifo {
            path,
            file,
            created,
            reader,
        }),
        Err(e) => {
            tracing::warn!("Unable to open {kind}notify fifo {name} - {e}");
            if created {
                let _ = std::fs::remove_file(&path);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_missing_from_path_is_disabled_but_a_file_test_is_not() {
        let env = ScriptEnv::new(&Config::default());
        let cmd = |w: &str| Command {
            args: vec![w.to_string()],
            user: None,
            group: None,
            loc: Default::default(),
        };
        assert!(
            env.prepare(&cmd("keepalived-rs-no-such-script"), "test")
                .is_none()
        );
        let file_test = env
            .prepare(&cmd("</etc/hostname"), "test")
            .expect("file test");
        assert!(!file_test.direct, "goes through /bin/sh");
        assert!(env.prepare(&cmd("true"), "test").is_some_and(|s| s.direct));
    }

    #[test]
    fn root_owned_system_paths_are_secure() {
        assert!(path_is_secure(Path::new("/bin/sh")).is_ok());
    }

    #[test]
    fn world_writable_tmp_file_is_not_secure() {
        let dir = std::env::temp_dir().join(format!("ka-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let f = dir.join("s.sh");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        let r = path_is_secure(&f);
        std::fs::remove_dir_all(&dir).unwrap();
        // Either the directory is not root-owned (non-root test run) or it is world-writable.
        assert!(r.is_err());
    }
}
