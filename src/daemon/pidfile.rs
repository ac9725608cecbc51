//! Pid files: written at start, locked while the daemon runs, removed at exit
//! (keepalived `pidfile_write`/`pidfile_rm`/`keepalived_running`).
//!
//! keepalived decides that it is "already running" when its pid file names a live process.
//! keepalived-rs also holds an exclusive `flock` on the file for its whole life, so two
//! daemons on one pid file cannot both start, even when they race; the pid check remains
//! for a C keepalived, which does not lock. The lock is taken before the daemon detaches
//! (the forked child inherits the locked descriptor), so `keepalived` run a second time
//! reports the running one on its own terminal.
//!
//! This module must not follow symlinks at the pid file path, nor remove a pid file that it
//! did not lock.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Why a pid file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// Another daemon holds the file (its pid, when the file names one).
    #[error("daemon is already running{} (pid file {})", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default(), .path.display())]
    Running { path: PathBuf, pid: Option<i32> },
    #[error("pidfile_write : Cannot open {} pidfile: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A locked pid file; dropping it removes the file and releases the lock.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: Flock<File>,
}

impl PidFile {
    /// Opens and locks `path` (creating its directory), without writing it yet.
    pub fn acquire(path: &Path) -> Result<PidFile, PidFileError> {
        let io = |source| PidFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(super::file_mode())
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(io)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => f,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                return Err(PidFileError::Running {
                    path: path.to_path_buf(),
                    pid: read_pid(&mut file),
                });
            }
            Err((_, e)) => return Err(io(e.into())),
        };
        // Unlocked but naming a live keepalived: a C keepalived (which does not lock).
        if let Some(pid) = read_pid(&mut file)
            && pid != std::process::id() as i32
            && is_keepalived(pid)
        {
            return Err(PidFileError::Running {
                path: path.to_path_buf(),
                pid: Some(pid),
            });
        }
        // A stale pid must not be read by anyone before ours is written.
        file.set_len(0).map_err(io)?;
        Ok(PidFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes our pid (call after detaching: the pid changes).
    pub fn write_pid(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file
            .write_all(format!("{}\n", std::process::id()).as_bytes())?;
        self.file.flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Removed while still locked: a daemon starting meanwhile finds either our locked
        // file or none.
        let _ = std::fs::remove_file(&self.path);
    }
}

fn read_pid(file: &mut File) -> Option<i32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok().filter(|&p| p > 0)
}

/// `pid` is alive and runs a program named keepalived (the C one or ours).
fn is_keepalived(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.trim_end().starts_with("keepalived"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_on_a_locked_file_reports_the_running_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run/keepalived.pid");
        let mut first = PidFile::acquire(&path).expect("first acquire");
        first.write_pid().expect("write");
        match PidFile::acquire(&path) {
            Err(PidFileError::Running { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id() as i32))
            }
            other => panic!("expected Running, got {other:?}"),
        }
        drop(first);
        assert!(!path.exists(), "pid file removed on drop");
        let again = PidFile::acquire(&path).expect("free again");
        drop(again);
    }

    #[test]
    fn a_stale_pid_file_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keepalived.pid");
        // No process has this pid (above the kernel's pid_max limit of 2^22).
        std::fs::write(&path, "4194305\n").expect("plant");
        let mut f = PidFile::acquire(&path).expect("stale file taken over");
        f.write_pid().expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, format!("{}\n", std::process::id()));
    }

    #[test]
    fn a_symlink_at_the_pid_path_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, "precious\n").expect("target");
        let path = dir.path().join("keepalived.pid");
        std::os::unix::fs::symlink(&target, &path).expect("symlink");
        assert!(matches!(
            PidFile::acquire(&path),
            Err(PidFileError::Io { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&target).expect("read"),
            "precious\n"
        );
    }
}
