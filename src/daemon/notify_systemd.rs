//! systemd's readiness protocol (`sd_notify(3)`), for `Type=notify` units: one datagram of
//! `KEY=VALUE` lines to the `AF_UNIX` socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name written with a leading `@`).
//!
//! Without `$NOTIFY_SOCKET` (not started by systemd) every call does nothing. Failures are
//! returned, never fatal: the daemon runs the same with or without systemd listening.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixDatagram;

/// `READY=1`: the daemon is up (after start, and after a reload).
pub const READY: &str = "READY=1";
/// `RELOADING=1`: a SIGHUP is being handled.
pub const RELOADING: &str = "RELOADING=1";
/// `STOPPING=1`: shutdown has begun.
pub const STOPPING: &str = "STOPPING=1";

/// Sends `state` (newline-separated assignments) to `$NOTIFY_SOCKET`. `Ok(false)` when the
/// variable is not set.
pub fn notify(state: &str) -> std::io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) if !socket.is_empty() => send(&socket, state).map(|()| true),
        _ => Ok(false),
    }
}

/// [`notify`] with a `STATUS=` line, logging a failure at debug level.
pub fn notify_status(state: &str, status: &str) {
    let msg = if status.is_empty() {
        state.to_string()
    } else {
        format!("{state}\nSTATUS={status}")
    };
    if let Err(e) = notify(&msg) {
        tracing::debug!("sd_notify({state}) failed: {e}");
    }
}

fn send(socket: &OsString, msg: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let bytes = socket.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt as _;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(msg.as_bytes(), &addr)?;
    } else {
        sock.send_to(msg.as_bytes(), std::path::Path::new(socket))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_one_datagram_to_a_path_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).expect("bind");
        send(&path.clone().into_os_string(), "READY=1\nSTATUS=ok").expect("send");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=ok");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("keepalived-rs-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract name");
        let rx = UnixDatagram::bind_addr(&addr).expect("bind");
        send(&OsString::from(format!("@{name}")), STOPPING).expect("send");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], STOPPING.as_bytes());
    }
}
