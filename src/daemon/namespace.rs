//! `-s NAME` (`--namespace`) and `net_namespace NAME`: run inside the network namespace that
//! `ip netns add NAME` created, as keepalived does (core/namespaces.c `set_namespaces`:
//! open `/var/run/netns/NAME`, `setns(CLONE_NEWNET)`).
//!
//! `setns(2)` moves only the calling thread, and a thread inherits the namespace of the
//! thread that created it. So [`enter`] must run on the main thread before any socket is
//! opened and before the runtime's threads start: the command line calls it before it reads
//! the configuration (so that `-t` checks the namespace's interfaces too).
//!
//! keepalived also enters a private mount namespace and bind-mounts
//! `/run/keepalived/NAME` on `/run/keepalived`, so that its pid files appear as
//! `/run/keepalived/NAME/*.pid` outside; keepalived-rs writes them at those paths directly
//! (see [`super::run`]) and leaves the mount namespace alone.
//!
//! This module must not open any socket.

use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;

/// Where `ip netns` keeps its namespaces (`/var/run/netns` is the same directory).
pub const NETNS_DIR: &str = "/run/netns";

/// Why the namespace could not be entered.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("invalid network namespace name {0:?}")]
    Name(String),
    #[error("Failed to open {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("setns() failed: {0}")]
    Setns(nix::Error),
}

/// The file `ip netns` made for `name`.
pub fn path(name: &str) -> Result<PathBuf, NamespaceError> {
    // One path component: `ip netns` refuses anything else, and it must not lead elsewhere.
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(NamespaceError::Name(name.to_string()));
    }
    Ok(Path::new(NETNS_DIR).join(name))
}

/// Moves the calling thread into network namespace `name`.
pub fn enter(name: &str) -> Result<(), NamespaceError> {
    let path = path(name)?;
    let file = std::fs::File::open(&path).map_err(|source| NamespaceError::Open {
        path: path.clone(),
        source,
    })?;
    nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(NamespaceError::Setns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_path_component() {
        assert_eq!(path("blue").expect("name"), Path::new("/run/netns/blue"));
        for bad in ["", ".", "..", "a/b", "../etc"] {
            assert!(matches!(path(bad), Err(NamespaceError::Name(_))), "{bad}");
        }
    }

    #[test]
    fn a_missing_namespace_is_an_error() {
        let e = enter("keepalived-rs-no-such-namespace").expect_err("missing");
        assert!(matches!(e, NamespaceError::Open { .. }), "{e}");
    }
}
